//! runspec: a CodeBuild-compatible build agent.
//!
//! Data flows one way: `cli → settings → buildspec → engine → {exec, artifacts} → events → log`.
//! Start at [`engine`] for the phase lifecycle, [`buildspec`] for the model.

pub mod buildspec;
