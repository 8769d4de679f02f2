//! The buildspec: YAML text → typed model with spans → validation issues. Pure: no I/O, no tokio.
//!
//! - [`yaml`] is the only module that names the YAML library.
//! - [`parse`] walks the tree into a [`Buildspec`] and collects every [`Issue`] at once.
//! - [`issue`] renders issues for people (miette) and machines (JSON).

pub mod issue;
pub mod model;
pub mod parse;
pub mod plugin_step;
pub mod yaml;

pub use issue::{Diagnostics, Issue, Severity};
pub use model::*;
pub use parse::{Parsed, parse};
