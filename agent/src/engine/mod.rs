//! The build lifecycle: plan the phases, run them through an [`crate::exec::Session`], emit
//! [`events::BuildEvent`]s. Transitions are one pure function in [`transitions`].

pub mod events;
pub mod ledger;
pub mod run;
pub mod transitions;
pub mod upload;

pub use run::{BuildInput, BuildReport, BuildspecFailure, Engine, PhaseRecord};
pub use transitions::{BuildPhase, Status};
