//! Batch builds through the API (StartBuildBatch and friends): a coordinator thread per batch
//! fetches the source once to read the batchspec (DOWNLOAD_BATCHSPEC), plans the children
//! ([`crate::batch::plan`]), and submits each as an ordinary queued build when the scheduler
//! ([`crate::batch::schedule`]) lets it start, so children count against the concurrency limits
//! like any build, have logs, and answer BatchGetBuilds and StopBuild. The batch record is
//! rewritten as children start and end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::dispatch::{Dispatch, Service};
use super::store::{BatchRow, now_s};
use crate::batch::plan::{self, Child};
use crate::batch::schedule::{Action, Schedule, State};
use crate::engine::Status;
use crate::exec::StopReason;
use crate::source::FetchError;

/// The stop flags of running coordinators, by batch id.
pub type Stops = std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicBool>>>;

fn stamp(t: f64) -> Value {
    json!((t * 1000.0).round() / 1000.0)
}

/// The batch object as BatchGetBuildBatches returns it (R-BATCH-09).
pub fn batch_json(
    row: &BatchRow,
    phases: Vec<Value>,
    status: &str,
    complete: bool,
    groups: Vec<Value>,
    extra: &Value,
) -> Value {
    let mut b = json!({
        "id": row.id,
        "arn": row.arn,
        "startTime": stamp(row.submitted),
        "currentPhase": phases.last().and_then(|p| p["phaseType"].as_str()).unwrap_or("SUBMITTED"),
        "buildBatchStatus": status,
        "projectName": row.project,
        "buildBatchNumber": row.number,
        "phases": phases,
        "complete": complete,
        "buildGroups": groups,
    });
    for key in [
        "source",
        "sourceVersion",
        "environment",
        "logConfig",
        "buildBatchConfig",
        "initiator",
        "serviceRole",
    ] {
        if let Some(v) = extra.get(key).filter(|v| !v.is_null()) {
            b[key] = v.clone();
        }
    }
    if complete {
        b["endTime"] = stamp(now_s());
    }
    b
}

fn phase(
    kind: &str,
    start: f64,
    end: Option<f64>,
    status: Option<&str>,
    context: Option<(&str, &str)>,
) -> Value {
    let mut p = json!({"phaseType": kind, "startTime": stamp(start)});
    if let Some(e) = end {
        p["endTime"] = stamp(e);
        p["durationInSeconds"] = json!((e - start).max(0.0) as u64);
    }
    if let Some(s) = status {
        p["phaseStatus"] = json!(s);
    }
    if let Some((code, message)) = context {
        p["contexts"] = json!([{"statusCode": code, "message": message}]);
    }
    p
}

/// Runs one batch to its end (on its own thread).
pub fn coordinate(service: Arc<Service>, row: BatchRow, stop: Arc<AtomicBool>, retry: Option<(Value, bool)>) {
    let extra = row.batch.clone();
    let started = now_s();
    let _hold =
        service.fleet.as_ref().map(|fleet| Hold::start(Arc::clone(fleet), &row.id, Arc::clone(&stop)));
    let write = |phases: Vec<Value>, status: &str, complete: bool, groups: Vec<Value>| {
        let b = batch_json(&row, phases, status, complete, groups, &extra);
        if let Err(e) = service.store.update_batch(&row.id, status, &b) {
            tracing::error!("cannot record batch {}: {e}", row.id);
        }
    };
    let end_early = |status: &str, code: &str, message: &str| {
        let now = now_s();
        write(
            vec![
                phase("SUBMITTED", row.submitted, Some(started), Some("SUCCEEDED"), None),
                phase("DOWNLOAD_BATCHSPEC", started, Some(now), Some(status), Some((code, message))),
                phase(if status == "STOPPED" { "STOPPED" } else { "FAILED" }, now, None, None, None),
            ],
            status,
            true,
            Vec::new(),
        );
    };
    let fail = |message: String| end_early("FAILED", "CLIENT_ERROR", &message);
    write(
        vec![
            phase("SUBMITTED", row.submitted, Some(started), Some("SUCCEEDED"), None),
            phase("DOWNLOAD_BATCHSPEC", started, None, None, None),
        ],
        "IN_PROGRESS",
        false,
        Vec::new(),
    );
    // DOWNLOAD_BATCHSPEC: the source, once, for the buildspec's batch section.
    let project = match service.store.project(&row.project) {
        Ok(Some(p)) => p,
        _ => return fail(format!("Project cannot be found: {}", row.project)),
    };
    let effective = match super::request::effective_project(&project, &row.request) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let timeout = effective["buildBatchConfig"]["timeoutInMins"].as_u64().unwrap_or(480);
    let spec = match super::dispatch::read_batchspec(
        &service,
        &effective,
        Duration::from_secs(timeout.saturating_mul(60)),
        &stop,
    ) {
        Ok(s) => s,
        Err(FetchError::Failed(e)) => return fail(e),
        Err(FetchError::Stopped(StopReason::Stopped)) => {
            return end_early("STOPPED", "BUILD_STOPPED", "Build was stopped");
        }
        Err(FetchError::Stopped(StopReason::TimedOut)) => {
            return end_early("TIMED_OUT", "BUILD_TIMED_OUT", "Build has timed out");
        }
    };
    let Some(kind) = spec.batch.as_ref().and_then(|b| b.kind.as_ref()) else {
        return fail(
            "the buildspec has no `batch` section with build-list, build-graph, build-matrix or build-fanout"
                .into(),
        );
    };
    let fast_fail = spec.batch.as_ref().is_some_and(|b| b.fast_fail);
    let children = plan::plan(kind);
    let max = effective["buildBatchConfig"]["restrictions"]["maximumBuildsAllowed"].as_u64().unwrap_or(100)
        as usize;
    if children.len() > max {
        return fail(format!(
            "BATCH_SPEC_VALIDATION_ERROR: the batch makes {} builds; maximumBuildsAllowed is {max}",
            children.len()
        ));
    }
    let spec_done = now_s();
    let index = |id: &str| children.iter().position(|c| c.identifier == id);
    let deps: Vec<Vec<usize>> =
        children.iter().map(|c| c.depends_on.iter().filter_map(|d| index(d)).collect()).collect();
    let ignore: Vec<bool> = children.iter().map(|c| c.settings.ignore_failure).collect();
    let mut schedule = Schedule::new(deps, ignore, fast_fail, usize::MAX);
    // A retry keeps the builds that succeeded (RETRY_FAILED_BUILDS).
    let mut ids: Vec<Option<String>> = vec![None; children.len()];
    let mut prior: Vec<Vec<Value>> = vec![Vec::new(); children.len()];
    if let Some((old, failed_only)) = &retry {
        for (i, c) in children.iter().enumerate() {
            let Some(g) = old["buildGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|g| g["identifier"] == c.identifier.as_str())
            else {
                continue;
            };
            let summary = g["currentBuildSummary"].clone();
            let succeeded = summary["buildStatus"] == "SUCCEEDED";
            if *failed_only && succeeded {
                ids[i] = summary["arn"]
                    .as_str()
                    .and_then(|a| a.rsplit_once(":build/"))
                    .map(|(_, id)| id.to_string());
                schedule.states[i] = State::Ended(Status::Succeeded);
            } else if !summary.is_null() {
                prior[i].push(summary);
            }
            if let Some(list) = g["priorBuildSummaryList"].as_array() {
                prior[i].extend(list.iter().cloned());
            }
        }
    }
    let timeout = effective["buildBatchConfig"]["timeoutInMins"].as_f64().unwrap_or(480.0) * 60.0;
    let mut stopped = false;
    let mut timed_out = false;
    let groups = |ids: &[Option<String>], schedule: &Schedule| -> Vec<Value> {
        let mut out = vec![
            json!({"identifier": "DOWNLOAD_SOURCE", "ignoreFailure": false, "currentBuildSummary": {"requestedOn": stamp(started), "buildStatus": "SUCCEEDED"}}),
        ];
        for (i, c) in children.iter().enumerate() {
            let mut g = json!({
                "identifier": c.identifier,
                "dependsOn": c.depends_on,
                "ignoreFailure": c.settings.ignore_failure,
            });
            let summary = match &ids[i] {
                Some(id) => match service.store.build(id).ok().flatten() {
                    Some(b) => json!({
                        "arn": b.build["arn"],
                        "requestedOn": stamp(b.submitted),
                        "buildStatus": b.status,
                        "primaryArtifact": {"type": if b.build["artifacts"]["location"].as_str().unwrap_or("").is_empty() { "no_artifacts" } else { "s3" }, "location": b.build["artifacts"]["location"], "identifier": c.identifier},
                    }),
                    None => json!({"buildStatus": "FAULT"}),
                },
                None if schedule.states[i] == State::Skipped => json!({"buildStatus": "STOPPED"}),
                None => json!({"buildStatus": "PENDING"}),
            };
            g["currentBuildSummary"] = summary;
            if !prior[i].is_empty() {
                g["priorBuildSummaryList"] = json!(prior[i]);
            }
            out.push(g);
        }
        out
    };
    let running_phases = |at: f64| {
        vec![
            phase("SUBMITTED", row.submitted, Some(started), Some("SUCCEEDED"), None),
            phase("DOWNLOAD_BATCHSPEC", started, Some(spec_done), Some("SUCCEEDED"), None),
            phase("IN_PROGRESS", at, None, None, None),
        ]
    };
    let act = |actions: Vec<Action>, ids: &mut Vec<Option<String>>| {
        for a in actions {
            match a {
                Action::Start(i) => match super::api::submit_child(&service, &row, &children[i], &project) {
                    Ok(id) => ids[i] = Some(id),
                    Err(e) => {
                        tracing::warn!(
                            "batch {}: cannot start {}: {}",
                            row.id,
                            children[i].identifier,
                            e.message
                        );
                    }
                },
                Action::Stop(i) => {
                    if let Some(id) = &ids[i] {
                        super::api::stop_any(&service, id);
                    }
                }
            }
        }
    };
    let first = schedule.advance();
    act(first, &mut ids);
    write(running_phases(spec_done), "IN_PROGRESS", false, groups(&ids, &schedule));
    while !schedule.done() {
        std::thread::sleep(Duration::from_millis(100));
        if !stopped && stop.load(Ordering::SeqCst) {
            stopped = true;
            let a = schedule.stop();
            act(a, &mut ids);
        }
        if !stopped && now_s() - spec_done > timeout {
            stopped = true;
            timed_out = true;
            let a = schedule.stop();
            act(a, &mut ids);
        }
        let mut changed = false;
        for i in 0..children.len() {
            if schedule.states[i] != State::Running {
                continue;
            }
            let Some(id) = &ids[i] else {
                // It could not be submitted: it counts as a fault.
                let a = schedule.ended(i, Status::Fault);
                act(a, &mut ids);
                changed = true;
                continue;
            };
            if let Ok(Some(b)) = service.store.build(id)
                && b.status != "IN_PROGRESS"
            {
                let status = parse_status(&b.status);
                let a = schedule.ended(i, status);
                act(a, &mut ids);
                changed = true;
            }
        }
        if changed {
            let a = schedule.advance();
            act(a, &mut ids);
            write(running_phases(spec_done), "IN_PROGRESS", false, groups(&ids, &schedule));
        }
    }
    let status = match schedule.status() {
        Status::Stopped if timed_out => Status::TimedOut,
        s => s,
    };
    let end = now_s();
    let mut phases = running_phases(spec_done);
    let final_name = match status {
        Status::Succeeded => "SUCCEEDED",
        Status::Stopped => "STOPPED",
        Status::TimedOut => "TIMED_OUT",
        _ => "FAILED",
    };
    phases[2] = phase("IN_PROGRESS", spec_done, Some(end), Some(final_name), None);
    if status == Status::Succeeded {
        phases.push(phase("COMBINE_ARTIFACTS", end, Some(end), Some("SUCCEEDED"), None));
    }
    phases.push(phase(final_name, end, None, None, None));
    write(phases, status.as_str(), true, groups(&ids, &schedule));
}

fn parse_status(s: &str) -> Status {
    match s {
        "SUCCEEDED" => Status::Succeeded,
        "FAILED" => Status::Failed,
        "STOPPED" => Status::Stopped,
        "TIMED_OUT" => Status::TimedOut,
        _ => Status::Fault,
    }
}

/// The request of one child: the batch's StartBuildBatch input with the task's buildspec,
/// image, variables and identifier (R-BATCH-02, R-BATCH-04).
pub fn child_start(batch_request: &Value, child: &Child, batch_arn: &str) -> Value {
    let mut start = batch_request.clone();
    if let Some(o) = start.as_object_mut() {
        for k in ["buildBatchConfigOverride", "idempotencyToken"] {
            o.remove(k);
        }
    }
    let mut vars: Vec<Value> = start["environmentVariablesOverride"].as_array().cloned().unwrap_or_default();
    let mut set = |name: &str, value: &str| {
        vars.retain(|v| v["name"] != name);
        vars.push(json!({"name": name, "value": value, "type": "PLAINTEXT"}));
    };
    for (k, v) in &child.settings.variables {
        set(k, v);
    }
    set("CODEBUILD_BATCH_BUILD_IDENTIFIER", &child.identifier);
    if let Some((i, n)) = child.shard {
        set("RUNSPEC_SHARD_INDEX", &i.to_string());
        set("RUNSPEC_SHARD_COUNT", &n.to_string());
    }
    start["environmentVariablesOverride"] = json!(vars);
    if let Some(b) = &child.buildspec {
        start["buildspecOverride"] = json!(b.trim_start_matches("./"));
    }
    if let Some(i) = &child.settings.image {
        start["imageOverride"] = json!(i);
    }
    if let Some(p) = child.settings.privileged_mode {
        start["privilegedModeOverride"] = json!(p);
    }
    if let Some(c) = &child.settings.compute_type {
        start["computeTypeOverride"] = json!(c);
    }
    start["buildBatchArn"] = json!(batch_arn);
    start
}

/// In a fleet, the coordinating server's hold on its batch, renewed every second on a thread of
/// its own for as long as the coordinator runs (DOWNLOAD_BATCHSPEC may clone for a while): a
/// reaper ends the batch when the hold runs out. StopBuildBatch sent through another server
/// comes back with the renewal and sets `stop`.
struct Hold {
    running: Arc<AtomicBool>,
}

impl Hold {
    fn start(fleet: Arc<super::fleet::Fleet>, id: &str, stop: Arc<AtomicBool>) -> Hold {
        let running = Arc::new(AtomicBool::new(true));
        let (id, still) = (id.to_string(), Arc::clone(&running));
        let spawned = std::thread::Builder::new().name(format!("hold {id}")).spawn(move || {
            while still.load(Ordering::SeqCst) {
                if fleet.hold_batch(&id) != Some(false) {
                    stop.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot hold batch: {e}");
        }
        Hold { running }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
    }
}

/// Asks a running batch to stop; `false` when it is not running here.
pub fn stop(stops: &Stops, id: &str) -> bool {
    match stops.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
        Some(flag) => {
            flag.store(true, Ordering::SeqCst);
            true
        }
        None => false,
    }
}

/// Starts the coordinator of a batch on a thread.
pub fn spawn(service: &Arc<Service>, row: BatchRow, retry: Option<(Value, bool)>) {
    let flag = Arc::new(AtomicBool::new(false));
    service.batch_stops().lock().unwrap_or_else(|p| p.into_inner()).insert(row.id.clone(), Arc::clone(&flag));
    let service = Arc::clone(service);
    let id = row.id.clone();
    let spawned = std::thread::Builder::new().name(format!("batch {id}")).spawn(move || {
        let id = row.id.clone();
        let s = Arc::clone(&service);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| coordinate(s, row, flag, retry)));
        if outcome.is_err() {
            tracing::error!("the coordinator of batch {id} panicked");
        }
        service.batch_stops().lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        service.wake();
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start batch {id}: {e}");
    }
}
