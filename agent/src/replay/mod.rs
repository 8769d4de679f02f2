//! `runspec replay`: a CodeBuild build run again on this machine from its record. The record and
//! its project are read through the CodeBuild API ([`client`]), turned into the same settings
//! (`plan`), the sources checked out at the build's versions ([`checkout`]), and after the run
//! the two builds are set side by side phase by phase ([`compare`]). Printing is the CLI's.

pub mod checkout;
pub mod client;
pub mod compare;
pub mod plan;
