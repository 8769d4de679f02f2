//! runspec: a CodeBuild-compatible build agent.
//!
//! Data flows one way: `cli → settings → buildspec → engine → {exec, artifacts} → events → log`.
//! Start at [`engine`] for the phase lifecycle, [`buildspec`] for the model.

pub mod artifacts;
pub mod aws;
pub mod batch;
pub mod build;
pub mod buildspec;
pub mod cache;
pub mod cli;
pub mod compute;
pub mod dirs;
pub mod engine;
pub mod env;
pub mod exec;
pub mod image;
pub mod json_api;
pub mod log;
pub mod pipeline;
pub mod plugin_model;
pub mod plugins;
pub mod project;
pub mod replay;
pub mod reports;
pub mod result;
pub mod runtimes;
pub mod serve;
pub mod shapes;
pub mod source;
pub mod webhook;
pub mod workspace;
