//! Batch builds (StartBuildBatch and friends): a coordinator thread per batch fetches the source
//! once to read the batchspec (DOWNLOAD_BATCHSPEC), plans the children
//! ([`crate::batch::plan`]), and submits each as an ordinary queued build when the scheduler
//! ([`crate::batch::schedule`]) lets it start, so children count against the concurrency limits
//! like any build, have logs, and answer BatchGetBuilds and StopBuild. The batch record is
//! rewritten as children start and end (R-BATCH-09).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Result, Service, ServiceError, invalid, name_of, now_s, page};
use crate::batch::plan::{self, Child};
use crate::batch::schedule::{Action, Schedule, State};
use crate::engine::Status;
use crate::exec::StopReason;
use crate::serve::request::{self, Started};
use crate::serve::store::BatchRow;
use crate::shapes::codebuild as cb;
use crate::source::FetchError;

/// The stop flags of running coordinators, by batch id.
pub type Stops = std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicBool>>>;

/// How long an idempotency token names the batch it started.
const TOKEN_WINDOW_S: f64 = 5.0 * 60.0;

fn stamp(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

fn text(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// A batch phase.
fn phase(
    kind: &str,
    start: f64,
    end: Option<f64>,
    status: Option<&str>,
    context: Option<(&str, &str)>,
) -> cb::BuildBatchPhase {
    cb::BuildBatchPhase {
        phase_type: text(kind),
        phase_status: status.map(str::to_string),
        start_time: Some(stamp(start)),
        end_time: end.map(stamp),
        duration_in_seconds: end.map(|e| (e - start).max(0.0) as i64),
        contexts: context.map(|(code, message)| {
            vec![cb::PhaseContext { status_code: text(code), message: text(message) }]
        }),
    }
}

/// The batch's record with these phases, status and groups (R-BATCH-09); `base` carries what
/// was set when it was submitted (source, environment, configuration, initiator).
fn record(
    row: &BatchRow,
    base: &cb::BuildBatch,
    phases: Vec<cb::BuildBatchPhase>,
    status: &str,
    complete: bool,
    groups: Vec<cb::BuildGroup>,
) -> cb::BuildBatch {
    cb::BuildBatch {
        id: Some(row.id.clone()),
        arn: Some(row.arn.clone()),
        start_time: Some(stamp(row.submitted)),
        end_time: complete.then(|| stamp(now_s())),
        current_phase: phases.last().and_then(|p| p.phase_type.clone()).or_else(|| text("SUBMITTED")),
        build_batch_status: text(status),
        project_name: Some(row.project.clone()),
        build_batch_number: Some(row.number as i64),
        phases: Some(phases),
        complete: Some(complete),
        build_groups: Some(groups),
        ..base.clone()
    }
}

/// A batch whose coordinator went away: its current phase ends FAULT with `code` and `message`.
pub fn ended_batch(batch: &cb::BuildBatch, code: &str, message: &str) -> cb::BuildBatch {
    let mut b = batch.clone();
    let now = stamp(now_s());
    let phases = b.phases.get_or_insert_with(Vec::new);
    if let Some(last) = phases.last_mut() {
        last.phase_status = text("FAULT");
        last.end_time = Some(now);
        last.contexts = Some(vec![cb::PhaseContext { status_code: text(code), message: text(message) }]);
    }
    phases.push(cb::BuildBatchPhase {
        phase_type: text("FAILED"),
        start_time: Some(now),
        ..Default::default()
    });
    b.build_batch_status = text("FAULT");
    b.current_phase = text("FAILED");
    b.complete = Some(true);
    b.end_time = Some(now);
    b
}

/// The id of a build an ARN names.
fn build_id_of(arn: &str) -> Option<String> {
    arn.rsplit_once(":build/").map(|(_, id)| id.to_string())
}

impl Service {
    /// A batch by id or ARN.
    pub fn batch(&self, given: &str) -> Result<BatchRow> {
        let id = name_of(given, "build-batch");
        self.store
            .batch(id)?
            .ok_or_else(|| ServiceError::NotFound(format!("Build batch {id} cannot be found")))
    }

    pub fn start_build_batch(
        self: &Arc<Self>,
        input: cb::StartBuildBatchInput,
        caller: &str,
    ) -> Result<cb::BuildBatch> {
        let name = name_of(&input.project_name, "project").to_string();
        let project = self.project(&name)?;
        let effective = request::effective_batch(&project, &input);
        self.check_project(&effective)?;
        let submitted = now_s();
        let (region, account) = (self.region.clone(), self.account.clone());
        let token = input.idempotency_token.clone();
        let (row, new) = self.store.insert_batch(&name, token.as_deref(), TOKEN_WINDOW_S, &mut |number| {
            let id = format!("{name}:{}", uuid::Uuid::new_v4());
            let arn = format!("arn:aws:codebuild:{region}:{account}:build-batch/{id}");
            let base = cb::BuildBatch {
                source: effective.source.clone(),
                source_version: effective.source_version.clone(),
                environment: effective.environment.clone(),
                build_batch_config: effective.build_batch_config.clone(),
                service_role: effective.service_role.clone(),
                initiator: Some(caller.to_string()),
                ..Default::default()
            };
            let mut row = BatchRow {
                id,
                arn,
                project: name.clone(),
                number,
                status: "IN_PROGRESS".into(),
                batch: cb::BuildBatch::default(),
                request: input.clone(),
                submitted,
            };
            row.batch = record(
                &row,
                &base,
                vec![phase("SUBMITTED", submitted, None, None, None)],
                "IN_PROGRESS",
                false,
                Vec::new(),
            );
            row
        })?;
        if new {
            spawn(self, row.clone(), None);
        } else if row.request != input {
            return Err(ServiceError::Mismatch(format!(
                "The idempotency token `{}` started batch {} with other parameters",
                token.unwrap_or_default(),
                row.id
            )));
        }
        Ok(row.batch)
    }

    pub fn batch_get_build_batches(&self, ids: &[String]) -> Result<cb::BatchGetBuildBatchesOutput> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for given in ids {
            match self.store.batch(name_of(given, "build-batch"))? {
                Some(row) => found.push(row.batch),
                None => missing.push(given.clone()),
            }
        }
        Ok(cb::BatchGetBuildBatchesOutput {
            build_batches: Some(found),
            build_batches_not_found: Some(missing),
        })
    }

    pub fn stop_build_batch(&self, given: &str) -> Result<cb::BuildBatch> {
        let row = self.batch(given)?;
        // Coordinated here, or (in a fleet) by another server, which reads the flag each second.
        let here = stop(self.batch_stops(), &row.id);
        let elsewhere = !here && self.fleet.as_ref().is_some_and(|f| f.stop_batch(&row.id));
        if here || elsewhere {
            let wait = if here { 2 } else { 4 };
            let deadline = std::time::Instant::now() + Duration::from_secs(wait);
            while std::time::Instant::now() < deadline && self.batch(&row.id)?.status == "IN_PROGRESS" {
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(self.batch(&row.id)?.batch)
    }

    pub fn retry_build_batch(self: &Arc<Self>, i: &cb::RetryBuildBatchInput) -> Result<cb::BuildBatch> {
        let row =
            self.batch(i.id.as_deref().ok_or_else(|| invalid("RetryBuildBatch needs the batch's id"))?)?;
        if row.status == "IN_PROGRESS" {
            return Err(invalid(format!("Build batch {} is still in progress", row.id)));
        }
        let failed_only = i.retry_type.as_deref() == Some("RETRY_FAILED_BUILDS");
        let old = row.batch.clone();
        let mut again = row.clone();
        again.status = "IN_PROGRESS".into();
        again.batch.build_batch_status = text("IN_PROGRESS");
        again.batch.complete = Some(false);
        self.store.update_batch(&row.id, "IN_PROGRESS", &again.batch)?;
        spawn(self, again.clone(), Some((old, failed_only)));
        Ok(again.batch)
    }

    pub fn list_build_batches(
        &self,
        project: Option<&str>,
        sort: Option<&str>,
        token: Option<&str>,
        max: Option<i64>,
    ) -> Result<(Vec<String>, Option<String>)> {
        if let Some(p) = project {
            self.project(p)?;
        }
        let ids = self.store.batch_ids(project.map(|p| name_of(p, "project")), sort == Some("ASCENDING"))?;
        page(ids, token, max.unwrap_or(100).clamp(1, 100) as usize)
    }

    pub fn delete_build_batch(&self, given: &str) -> Result<cb::DeleteBuildBatchOutput> {
        let row = self.batch(given)?;
        if row.status == "IN_PROGRESS" {
            return Err(invalid(format!("Build batch {} is still in progress; stop it first", row.id)));
        }
        let mut deleted = Vec::new();
        let mut kept = Vec::new();
        for g in row.batch.build_groups.iter().flatten() {
            let Some(id) =
                g.current_build_summary.as_ref().and_then(|s| s.arn.as_deref()).and_then(build_id_of)
            else {
                continue;
            };
            match self.store.build(&id)? {
                Some(b) if b.status != "IN_PROGRESS" => {
                    self.delete_build_and_log(&b)?;
                    deleted.push(id);
                }
                Some(_) => {
                    kept.push(cb::BuildNotDeleted { id: Some(id), status_code: text("BUILD_IN_PROGRESS") })
                }
                None => {}
            }
        }
        self.store.delete_batch(&row.id)?;
        Ok(cb::DeleteBuildBatchOutput {
            status_code: text("BATCH_DELETED"),
            builds_deleted: Some(deleted),
            builds_not_deleted: Some(kept),
        })
    }

    /// At start-up: batches whose coordinator went away with the server end FAULT (their
    /// running children were ended FAULT by [`Self::recover`]).
    pub fn recover_batches(&self) -> Result<usize> {
        let mut ended = 0;
        for row in self.store.unfinished_batches()? {
            let b = ended_batch(
                &row.batch,
                "CLIENT_ERROR",
                "The batch was running when runspec serve stopped; it did not finish",
            );
            self.store.update_batch(&row.id, "FAULT", &b)?;
            ended += 1;
        }
        Ok(ended)
    }

    /// Queues one child of a batch as an ordinary build; its id.
    fn submit_child(
        self: &Arc<Self>,
        batch: &BatchRow,
        child: &Child,
        project: &cb::Project,
    ) -> Result<String> {
        let caller = batch.batch.initiator.clone().unwrap_or_else(|| "runspec".into());
        let start = child_start(&batch.request, child, &batch.arn);
        Ok(self.submit(&batch.project, project, start, None, &caller)?.id)
    }

    /// The children of a batch nobody coordinates any more: running ones are asked to stop,
    /// queued ones end STOPPED.
    pub fn stop_children(&self, batch: &cb::BuildBatch) {
        for g in batch.build_groups.iter().flatten() {
            if let Some(id) =
                g.current_build_summary.as_ref().and_then(|s| s.arn.as_deref()).and_then(build_id_of)
            {
                self.stop_any(&id);
            }
        }
    }
}

/// The request of one child: the batch's StartBuildBatch input with the task's buildspec,
/// image, variables and identifier (R-BATCH-02, R-BATCH-04).
pub fn child_start(batch: &cb::StartBuildBatchInput, child: &Child, batch_arn: &str) -> Started {
    let mut start = request::batch_start(batch);
    let mut vars = start.environment_variables_override.take().unwrap_or_default();
    let mut set = |name: &str, value: &str| {
        vars.retain(|v| v.name != name);
        vars.push(cb::EnvironmentVariable {
            name: name.into(),
            value: value.into(),
            kind: text("PLAINTEXT"),
        });
    };
    for (k, v) in &child.settings.variables {
        set(k, v);
    }
    set("CODEBUILD_BATCH_BUILD_IDENTIFIER", &child.identifier);
    if let Some((i, n)) = child.shard {
        set("RUNSPEC_SHARD_INDEX", &i.to_string());
        set("RUNSPEC_SHARD_COUNT", &n.to_string());
    }
    start.environment_variables_override = Some(vars);
    if let Some(b) = &child.buildspec {
        start.buildspec_override = Some(b.trim_start_matches("./").to_string());
    }
    if let Some(i) = &child.settings.image {
        start.image_override = Some(i.clone());
    }
    if let Some(p) = child.settings.privileged_mode {
        start.privileged_mode_override = Some(p);
    }
    if let Some(c) = &child.settings.compute_type {
        start.compute_type_override = Some(c.clone());
    }
    Started { input: start, batch_arn: Some(batch_arn.to_string()), ..Default::default() }
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

/// Runs one batch to its end (on its own thread).
fn coordinate(
    service: Arc<Service>,
    row: BatchRow,
    stop: Arc<AtomicBool>,
    retry: Option<(cb::BuildBatch, bool)>,
) {
    let base = row.batch.clone();
    let started = now_s();
    let _hold =
        service.fleet.as_ref().map(|fleet| Hold::start(Arc::clone(fleet), &row.id, Arc::clone(&stop)));
    let write =
        |phases: Vec<cb::BuildBatchPhase>, status: &str, complete: bool, groups: Vec<cb::BuildGroup>| {
            let b = record(&row, &base, phases, status, complete, groups);
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
    let effective = request::effective_batch(&project, &row.request);
    let config = effective.build_batch_config.clone().unwrap_or_default();
    let timeout_minutes = config.timeout_in_mins.unwrap_or(480).max(0) as u64;
    let spec = match crate::serve::fetch::read_batchspec(
        &service.policy,
        &effective,
        Duration::from_secs(timeout_minutes * 60),
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
    let max =
        config.restrictions.as_ref().and_then(|r| r.maximum_builds_allowed).unwrap_or(100).max(0) as usize;
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
    let mut prior: Vec<Vec<cb::BuildSummary>> = vec![Vec::new(); children.len()];
    if let Some((old, failed_only)) = &retry {
        for (i, c) in children.iter().enumerate() {
            let Some(g) = old
                .build_groups
                .iter()
                .flatten()
                .find(|g| g.identifier.as_deref() == Some(c.identifier.as_str()))
            else {
                continue;
            };
            if let Some(summary) = &g.current_build_summary {
                let succeeded = summary.build_status.as_deref() == Some("SUCCEEDED");
                if *failed_only && succeeded {
                    ids[i] = summary.arn.as_deref().and_then(build_id_of);
                    schedule.states[i] = State::Ended(Status::Succeeded);
                } else {
                    prior[i].push(summary.clone());
                }
            }
            prior[i].extend(g.prior_build_summary_list.iter().flatten().cloned());
        }
    }
    let timeout = timeout_minutes as f64 * 60.0;
    let mut stopped = false;
    let mut timed_out = false;
    let groups = |ids: &[Option<String>], schedule: &Schedule| -> Vec<cb::BuildGroup> {
        let mut out = vec![cb::BuildGroup {
            identifier: text("DOWNLOAD_SOURCE"),
            ignore_failure: Some(false),
            current_build_summary: Some(cb::BuildSummary {
                requested_on: Some(stamp(started)),
                build_status: text("SUCCEEDED"),
                ..Default::default()
            }),
            ..Default::default()
        }];
        for (i, c) in children.iter().enumerate() {
            let summary = match &ids[i] {
                Some(id) => match service.store.build(id).ok().flatten() {
                    Some(b) => {
                        let location =
                            b.build.artifacts.as_ref().and_then(|a| a.location.clone()).unwrap_or_default();
                        cb::BuildSummary {
                            arn: b.build.arn.clone(),
                            requested_on: Some(stamp(b.submitted)),
                            build_status: Some(b.status.clone()),
                            // CodeBuild writes these types in lower case (R-BATCH-09).
                            primary_artifact: Some(cb::ResolvedArtifact {
                                kind: text(if location.is_empty() { "no_artifacts" } else { "s3" }),
                                location: Some(location).filter(|l| !l.is_empty()),
                                identifier: Some(c.identifier.clone()),
                            }),
                            secondary_artifacts: None,
                        }
                    }
                    None => cb::BuildSummary { build_status: text("FAULT"), ..Default::default() },
                },
                None if schedule.states[i] == State::Skipped => {
                    cb::BuildSummary { build_status: text("STOPPED"), ..Default::default() }
                }
                None => cb::BuildSummary { build_status: text("PENDING"), ..Default::default() },
            };
            out.push(cb::BuildGroup {
                identifier: Some(c.identifier.clone()),
                depends_on: Some(c.depends_on.clone()),
                ignore_failure: Some(c.settings.ignore_failure),
                current_build_summary: Some(summary),
                prior_build_summary_list: Some(prior[i].clone()).filter(|p| !p.is_empty()),
            });
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
                Action::Start(i) => match service.submit_child(&row, &children[i], &project) {
                    Ok(id) => ids[i] = Some(id),
                    Err(e) => {
                        tracing::warn!("batch {}: cannot start {}: {e:?}", row.id, children[i].identifier);
                    }
                },
                Action::Stop(i) => {
                    if let Some(id) = &ids[i] {
                        service.stop_any(id);
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
                let a = schedule.ended(i, parse_status(&b.status));
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

/// In a fleet, the coordinating server's hold on its batch, renewed every second on a thread of
/// its own for as long as the coordinator runs (DOWNLOAD_BATCHSPEC may clone for a while): a
/// reaper ends the batch when the hold runs out. StopBuildBatch sent through another server
/// comes back with the renewal and sets `stop`.
struct Hold {
    running: Arc<AtomicBool>,
}

impl Hold {
    fn start(fleet: Arc<crate::serve::fleet::Fleet>, id: &str, stop: Arc<AtomicBool>) -> Hold {
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

/// Starts the coordinator of a batch on a thread (with a build thread's stack: it parses the
/// buildspec).
fn spawn(service: &Arc<Service>, row: BatchRow, retry: Option<(cb::BuildBatch, bool)>) {
    use super::Dispatch;
    let flag = Arc::new(AtomicBool::new(false));
    service.batch_stops().lock().unwrap_or_else(|p| p.into_inner()).insert(row.id.clone(), Arc::clone(&flag));
    let service = Arc::clone(service);
    let id = row.id.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("batch {id}"))
        .stack_size(crate::serve::BUILD_STACK)
        .spawn(move || {
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
