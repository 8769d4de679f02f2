//! Batch builds (R-BATCH-01..10): the `batch` section's children ([`plan`]), when each runs
//! ([`schedule`]), test sharding for build-fanout ([`shard`]), and running a batch on this
//! machine ([`local`]).

pub mod local;
pub mod plan;
pub mod schedule;
pub mod shard;
