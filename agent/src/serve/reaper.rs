//! The reaper of a fleet, run by every server and worker: builds whose worker stopped renewing
//! its lease end FAULT (`WORKER_LOST`) and are auto-retried; batches whose coordinating server
//! stopped renewing its hold end FAULT (`SERVER_LOST`) and their children are stopped; queued
//! builds past `queuedTimeoutInMinutes` end TIMED_OUT; queued builds left unclaimed get their
//! message again. Every write is conditional, so any number of reapers may run.

use std::sync::Arc;

use super::dynamo::Lease;
use super::fleet::{Fleet, RESEND_AFTER_S};
use super::service::Service;
use super::service::batches::ended_batch;
use super::service::builds::ended_in_flight;
use super::store::{BuildRow, StoreError, now_s};
use crate::engine::Status;
use crate::shapes::codebuild as cb;

/// One pass; how many builds and batches it ended.
pub fn reap(service: &Arc<Service>, fleet: &Fleet) -> Result<usize, StoreError> {
    let mut ended = 0;
    for (row, lease) in fleet.store.expired()? {
        let build = lost(&row, &lease);
        if fleet.store.reap(&row.id, lease.attempt, &build)? {
            tracing::warn!("{}: its worker {} stopped renewing its lease; ended FAULT", row.id, lease.owner);
            service.auto_retry(&row, &build);
            ended += 1;
        }
    }
    for (batch, until, owner) in fleet.store.expired_batches()? {
        let mut lost_batch = ended_batch(
            &batch.batch,
            "SERVER_LOST",
            &format!(
                "The server coordinating the batch ({owner}) stopped renewing its hold; the batch did not finish"
            ),
        );
        // Its running children are stopped below: the record says so at once.
        for group in lost_batch.build_groups.iter_mut().flatten() {
            if let Some(summary) = group.current_build_summary.as_mut()
                && summary.build_status.as_deref() == Some("IN_PROGRESS")
            {
                summary.build_status = Some("STOPPED".into());
            }
        }
        if fleet.store.reap_batch(&batch.id, until, &lost_batch)? {
            tracing::warn!("batch {}: its server {owner} was lost; ended FAULT", batch.id);
            service.stop_children(&batch.batch);
            ended += 1;
        }
    }
    let now = now_s();
    for row in fleet.store.unclaimed()? {
        if row.build.current_phase.as_deref() != Some("QUEUED") {
            continue;
        }
        let queued_limit = row.build.queued_timeout_in_minutes.unwrap_or(480) as f64;
        if now - row.submitted > super::queue_seconds(queued_limit) {
            let timed_out = service
                .end_queued(&row, Status::TimedOut, "BUILD_TIMED_OUT", "Build has timed out while queued")
                .map_err(|e| StoreError::Remote(format!("{e:?}")))?;
            ended += usize::from(timed_out.is_some());
            continue;
        }
        let mut resent = fleet.resent.lock().unwrap_or_else(|p| p.into_inner());
        let last = resent.get(&row.id).copied().unwrap_or(row.submitted);
        if now - last > RESEND_AFTER_S {
            fleet.queue.send(&row.id)?;
            resent.insert(row.id.clone(), now);
        }
    }
    Ok(ended)
}

/// The build a lost worker leaves: its current phase ends FAULT with `WORKER_LOST`.
fn lost(row: &BuildRow, lease: &Lease) -> cb::Build {
    let phase = row.build.current_phase.clone().unwrap_or_else(|| "PROVISIONING".into());
    let ago = (now_s() - lease.until).max(0.0);
    ended_in_flight(
        row,
        "WORKER_LOST",
        &format!(
            "The worker {} running the build stopped renewing its lease in {phase} ({ago:.0} s past it); the build did not finish",
            lease.owner
        ),
    )
}
