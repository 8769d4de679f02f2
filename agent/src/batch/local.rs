//! `runspec run --batch`: a batch build on this machine. The children run at most `jobs` at a
//! time, each on a thread of its own through [`crate::build::run`], their output prefixed with
//! their identifier; the result is the batch shaped like one element of
//! `aws codebuild batch-get-build-batches` plus every child as a CodeBuild Build carrying
//! `buildBatchArn` (R-BATCH-09).

use std::io::Write;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::plan::{self, Child};
use super::schedule::{Action, Schedule, State};
use crate::build::{BuildRequest, Finished, Notices};
use crate::buildspec::Batch;
use crate::engine::Status;
use crate::engine::upload::Destination;
use crate::log::CodeBuildLog;
use crate::result::iso;

/// Where the children's output goes: one stream, each line whole and prefixed.
pub type Output = Arc<Mutex<dyn Write + Send>>;

/// A writer that prints each complete line to `out` with `prefix` before it.
fn prefixed(prefix: String, out: Output) -> crate::log::lines::Lines<impl FnMut(&[u8])> {
    crate::log::lines::Lines::new(move |line: &[u8]| {
        let mut text = Vec::with_capacity(prefix.len() + line.len() + 1);
        text.extend_from_slice(prefix.as_bytes());
        text.extend_from_slice(line);
        text.push(b'\n');
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(&text);
        let _ = out.flush();
    })
}

/// Warnings of one child, prefixed, on the caller's notices.
struct ChildNotices<'a> {
    prefix: String,
    inner: &'a (dyn Notices + Send + Sync),
}

impl Notices for ChildNotices<'_> {
    fn warning(&self, message: &str) {
        self.inner.warning(&format!("{}{message}", self.prefix));
    }

    fn diagnostics(&self, rendered: &str) {
        self.inner.diagnostics(rendered);
    }
}

/// How a batch runs.
pub struct Options {
    /// At most this many children at once.
    pub jobs: usize,
    /// Combine every child's primary artifact into one ZIP (also the project's
    /// `buildBatchConfig.combineArtifacts`).
    pub combine_artifacts: bool,
    /// One status line per child on this terminal, the output printed above them.
    pub status_lines: Option<indicatif::MultiProgress>,
    /// `--host`: every child on this machine's shell, whatever image its task names.
    pub host: bool,
}

/// How a batch ended.
pub struct BatchOutcome {
    pub status: Status,
    /// `{"buildBatch": …, "builds": [ … ]}`.
    pub json: Value,
}

/// The request one child runs: the batch's, with the task's buildspec, image, variables and
/// `CODEBUILD_BATCH_BUILD_IDENTIFIER` (R-BATCH-02, R-BATCH-04), and its artifacts in a place
/// of its own.
fn child_request(template: &BuildRequest, child: &Child, batch_arn: &str, host: bool) -> BuildRequest {
    let mut req = template.clone();
    let mut overrides: Vec<(String, String)> = child.settings.variables.clone();
    overrides.extend(template.overrides.iter().cloned());
    overrides.push(("CODEBUILD_BATCH_BUILD_IDENTIFIER".into(), child.identifier.clone()));
    overrides.push(("CODEBUILD_BATCH_BUILD_ARN".into(), batch_arn.to_string()));
    if let Some((index, count)) = child.shard {
        overrides.push(("RUNSPEC_SHARD_INDEX".into(), index.to_string()));
        overrides.push(("RUNSPEC_SHARD_COUNT".into(), count.to_string()));
    }
    req.overrides = overrides;
    if let Some(path) = &child.buildspec {
        req.buildspec = Some(template.primary.join(path.trim_start_matches("./")));
    }
    if let Some(image) = child.settings.image.as_ref().filter(|_| !host) {
        req.image = Some(image.clone());
    }
    if let Some(p) = child.settings.privileged_mode {
        req.privileged = p;
    }
    let own_place = |d: &mut Destination| match d {
        Destination::Local(dir) => *dir = dir.join(&child.identifier),
        Destination::S3 { path, .. } => {
            *path = Some(match path.as_deref() {
                Some(p) if !p.is_empty() => format!("{p}/{}", child.identifier),
                _ => child.identifier.clone(),
            })
        }
        Destination::Nowhere => {}
    };
    own_place(&mut req.artifacts.primary.destination);
    for (_, t) in &mut req.artifacts.secondary {
        own_place(&mut t.destination);
    }
    if let Some(t) = &mut req.artifacts.other_secondary {
        own_place(&mut t.destination);
    }
    req.uuid = None;
    req.build_number = crate::build::next_build_number(&template.project_name);
    req
}

/// A batch that ended in DOWNLOAD_BATCHSPEC (its buildspec is not valid): FAILED, with the
/// reason as the phase's context, as CodeBuild records one.
pub fn failed(template: &BuildRequest, message: &str) -> BatchOutcome {
    let now = SystemTime::now();
    let uuid = uuid::Uuid::new_v4().to_string();
    let region = template.project.region.clone().unwrap_or_else(|| "us-east-1".into());
    let account = template.project.account.clone().unwrap_or_else(|| "000000000000".into());
    let id = format!("{}:{uuid}", template.project_name);
    let batch = json!({
        "id": id,
        "arn": format!("arn:aws:codebuild:{region}:{account}:build-batch/{id}"),
        "startTime": iso(now),
        "endTime": iso(now),
        "currentPhase": "FAILED",
        "buildBatchStatus": "FAILED",
        "projectName": template.project_name,
        "phases": [
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": iso(now), "endTime": iso(now), "durationInSeconds": 0},
            {"phaseType": "DOWNLOAD_BATCHSPEC", "phaseStatus": "FAILED", "startTime": iso(now), "endTime": iso(now), "durationInSeconds": 0,
             "contexts": [{"statusCode": "CLIENT_ERROR", "message": message}]},
            {"phaseType": "FAILED", "startTime": iso(now)},
        ],
        "source": {"type": "NO_SOURCE"},
        "complete": true,
        "initiator": std::env::var("USER").unwrap_or_else(|_| "runspec".into()),
        "buildGroups": [],
    });
    BatchOutcome { status: Status::Failed, json: json!({"buildBatch": batch, "builds": []}) }
}

/// Runs the batch until every child ended or `stopped` turns true.
pub fn run(
    template: &BuildRequest,
    batch: &Batch,
    options: &Options,
    mut stopped: watch::Receiver<bool>,
    out: Output,
    notices: &(dyn Notices + Send + Sync),
) -> Result<BatchOutcome, String> {
    let kind = batch.kind.as_ref().ok_or(
        "the buildspec's `batch` names none of build-list, build-graph, build-matrix or build-fanout",
    )?;
    let children = plan::plan(kind);
    if children.is_empty() {
        return Err("the batch has no builds".into());
    }
    let config = &template.project.batch;
    if children.len() > config.maximum_builds as usize {
        return Err(format!(
            "the batch makes {} builds; the project allows {} (buildBatchConfig.restrictions.maximumBuildsAllowed)",
            children.len(),
            config.maximum_builds
        ));
    }
    let jobs = options.jobs;
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(config.timeout_minutes * 60.0);
    let mut timed_out = false;
    let bars: Vec<Option<indicatif::ProgressBar>> = children
        .iter()
        .map(|c| {
            options.status_lines.as_ref().map(|mp| {
                let bar = mp.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} {elapsed}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar.set_prefix(c.identifier.clone());
                bar.set_message("PENDING");
                bar
            })
        })
        .collect();
    let index = |id: &str| children.iter().position(|c| c.identifier == id);
    let deps: Vec<Vec<usize>> =
        children.iter().map(|c| c.depends_on.iter().filter_map(|d| index(d)).collect()).collect();
    let ignore: Vec<bool> = children.iter().map(|c| c.settings.ignore_failure).collect();
    let mut schedule = Schedule::new(deps, ignore, batch.fast_fail, jobs);
    let uuid = uuid::Uuid::new_v4().to_string();
    let region = template.project.region.clone().unwrap_or_else(|| "us-east-1".into());
    let account = template.project.account.clone().unwrap_or_else(|| "000000000000".into());
    let batch_id = format!("{}:{uuid}", template.project_name);
    let batch_arn = format!("arn:aws:codebuild:{region}:{account}:build-batch/{batch_id}");
    let submitted = SystemTime::now();

    let (ended_tx, ended_rx) = mpsc::channel::<(usize, Result<Finished, String>)>();
    let mut stops: Vec<Option<watch::Sender<bool>>> = (0..children.len()).map(|_| None).collect();
    let mut requested: Vec<Option<SystemTime>> = vec![None; children.len()];
    let mut finished: Vec<Option<Result<Finished, String>>> = (0..children.len()).map(|_| None).collect();
    let mut outside_stop = false;
    std::thread::scope(|scope| {
        let mut act = |actions: Vec<Action>, stops: &mut Vec<Option<watch::Sender<bool>>>| {
            for a in actions {
                match a {
                    Action::Start(i) => {
                        let (tx, rx) = watch::channel(false);
                        stops[i] = Some(tx);
                        requested[i] = Some(SystemTime::now());
                        let req = child_request(template, &children[i], &batch_arn, options.host);
                        let prefix = format!("[{}] ", children[i].identifier);
                        let out = Arc::clone(&out);
                        let ended = ended_tx.clone();
                        let bar = bars[i].clone();
                        if let Some(b) = &bar {
                            b.enable_steady_tick(Duration::from_millis(120));
                            b.set_message("PROVISIONING");
                        }
                        scope.spawn(move || {
                            let log = CodeBuildLog::new(prefixed(prefix.clone(), out));
                            let sink = ChildSink { log, bar };
                            let child_notices = ChildNotices { prefix, inner: notices };
                            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                tokio::runtime::Builder::new_current_thread()
                                    .enable_all()
                                    .build()
                                    .map_err(|e| e.to_string())
                                    .and_then(|rt| {
                                        rt.block_on(crate::build::run(req, sink, rx, &child_notices))
                                            .map_err(|e| e.0)
                                    })
                            }))
                            .unwrap_or_else(|p| {
                                Err(format!(
                                    "runspec failed unexpectedly: {}",
                                    crate::engine::ledger::panic_message(&*p)
                                ))
                            });
                            let _ = ended.send((i, ran));
                        });
                    }
                    Action::Stop(i) => {
                        if let Some(tx) = &stops[i] {
                            let _ = tx.send(true);
                        }
                    }
                }
            }
        };
        act(schedule.advance(), &mut stops);
        while !schedule.done() {
            if !outside_stop && *stopped.borrow_and_update() {
                outside_stop = true;
                act(schedule.stop(), &mut stops);
            }
            if !outside_stop && std::time::Instant::now() >= deadline {
                outside_stop = true;
                timed_out = true;
                notices.warning(&format!(
                    "the batch ran longer than its timeout ({} minutes); stopping it",
                    config.timeout_minutes
                ));
                act(schedule.stop(), &mut stops);
            }
            match ended_rx.recv_timeout(Duration::from_millis(50)) {
                Ok((i, ran)) => {
                    let status = match &ran {
                        Ok(f) => f.report.status,
                        Err(_) => Status::Failed,
                    };
                    if let Err(e) = &ran {
                        notices
                            .warning(&format!("[{}] the build could not start: {e}", children[i].identifier));
                    }
                    if let Some(b) = &bars[i] {
                        b.finish_with_message(status.as_str());
                    }
                    finished[i] = Some(ran);
                    let more = schedule.ended(i, status);
                    act(more, &mut stops);
                    act(schedule.advance(), &mut stops);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    for (i, b) in bars.iter().enumerate() {
        if let Some(b) = b.as_ref().filter(|b| !b.is_finished()) {
            b.finish_with_message(if schedule.states[i] == State::Skipped {
                "STOPPED (not run)"
            } else {
                "STOPPED"
            });
        }
    }
    let status = match schedule.status() {
        Status::Stopped if timed_out => Status::TimedOut,
        s => s,
    };
    let combine = status == Status::Succeeded && (options.combine_artifacts || config.combine_artifacts);
    let combined = if combine { combine_artifacts(template, &children, &finished)? } else { None };
    let end = SystemTime::now();
    let mut builds = Vec::new();
    let mut groups = vec![json!({
        "identifier": "DOWNLOAD_SOURCE",
        "ignoreFailure": false,
        "currentBuildSummary": {"requestedOn": iso(submitted), "buildStatus": "SUCCEEDED"},
    })];
    for (i, child) in children.iter().enumerate() {
        let mut summary = json!({"requestedOn": iso(requested[i].unwrap_or(submitted))});
        match (&finished[i], schedule.states[i]) {
            (Some(Ok(f)), _) => {
                let mut b = f.json();
                b["buildBatchArn"] = json!(batch_arn);
                // Recorded as CodeBuild records it; one machine runs them all.
                if let Some(c) = &child.settings.compute_type {
                    b["environment"]["computeType"] = json!(c);
                }
                summary["arn"] = b["arn"].clone();
                summary["buildStatus"] = b["buildStatus"].clone();
                let location = b["artifacts"]["location"].as_str().unwrap_or("");
                summary["primaryArtifact"] = if location.is_empty() {
                    json!({"type": "no_artifacts", "identifier": child.identifier})
                } else {
                    json!({"type": if location.starts_with("arn:aws:s3") { "s3" } else { "local" }, "location": location, "identifier": child.identifier})
                };
                builds.push(b);
            }
            // It could not start (its image, its workspace): a FAILED build of its own, with
            // the reason, as CodeBuild records a build that failed to provision.
            (Some(Err(reason)), _) => {
                let req = child_request(template, child, &batch_arn, options.host);
                let mut b = not_started(&req, requested[i].unwrap_or(submitted), reason);
                b["buildBatchArn"] = json!(batch_arn);
                summary["arn"] = b["arn"].clone();
                summary["buildStatus"] = b["buildStatus"].clone();
                builds.push(b);
            }
            (None, State::Skipped) | (None, _) => summary["buildStatus"] = json!("STOPPED"),
        }
        let deps: Vec<&str> = child.depends_on.iter().map(String::as_str).collect();
        groups.push(json!({
            "identifier": child.identifier,
            "dependsOn": deps,
            "ignoreFailure": child.settings.ignore_failure,
            "currentBuildSummary": summary,
        }));
    }
    let final_phase = match status {
        Status::Succeeded => "SUCCEEDED",
        Status::Stopped => "STOPPED",
        Status::TimedOut => "TIMED_OUT",
        _ => "FAILED",
    };
    let mut phases = vec![
        json!({"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": iso(submitted), "endTime": iso(submitted), "durationInSeconds": 0}),
        json!({"phaseType": "DOWNLOAD_BATCHSPEC", "phaseStatus": "SUCCEEDED", "startTime": iso(submitted), "endTime": iso(submitted), "durationInSeconds": 0}),
        json!({"phaseType": "IN_PROGRESS", "phaseStatus": final_phase, "startTime": iso(submitted), "endTime": iso(end), "durationInSeconds": end.duration_since(submitted).map(|d| d.as_secs()).unwrap_or(0)}),
    ];
    if status == Status::Succeeded {
        phases.push(json!({"phaseType": "COMBINE_ARTIFACTS", "phaseStatus": "SUCCEEDED", "startTime": iso(end), "endTime": iso(end), "durationInSeconds": 0}));
    }
    phases.push(json!({"phaseType": final_phase, "startTime": iso(end)}));
    let batch_json = json!({
        "id": batch_id,
        "arn": batch_arn,
        "startTime": iso(submitted),
        "endTime": iso(end),
        "currentPhase": final_phase,
        "buildBatchStatus": status.as_str(),
        "projectName": template.project_name,
        "phases": phases,
        "source": {"type": "NO_SOURCE"},
        "complete": true,
        "initiator": std::env::var("USER").unwrap_or_else(|_| "runspec".into()),
        "buildBatchConfig": {
            "combineArtifacts": options.combine_artifacts || config.combine_artifacts,
            "restrictions": {"maximumBuildsAllowed": config.maximum_builds},
            "timeoutInMins": config.timeout_minutes,
        },
        "buildGroups": groups,
    });
    let mut batch_json = batch_json;
    if let Some(location) = combined {
        batch_json["artifacts"] = json!({"location": location});
    }
    Ok(BatchOutcome { status, json: json!({"buildBatch": batch_json, "builds": builds}) })
}

/// The record of a child that could not start: PROVISIONING FAILED with the reason.
fn not_started(req: &BuildRequest, at: SystemTime, reason: &str) -> Value {
    use crate::engine::{BuildPhase, BuildReport};
    let region = req.project.region.clone().unwrap_or_else(|| "us-east-1".into());
    let account = req.project.account.clone().unwrap_or_else(|| "000000000000".into());
    let id = format!("{}:{}", req.project_name, uuid::Uuid::new_v4());
    let now = SystemTime::now();
    let identity = crate::result::BuildIdentity {
        arn: format!("arn:aws:codebuild:{region}:{account}:build/{id}"),
        id,
        project: req.project_name.clone(),
        build_number: req.build_number,
        initiator: std::env::var("USER").unwrap_or_else(|_| "runspec".into()),
        source_version: None,
        source: Some(crate::build::cb_source(&req.primary, req.project.buildspec.as_deref())),
        secondary_sources: req
            .secondary
            .iter()
            .map(|s| crate::result::local_source(&s.dir, s.id.as_deref()))
            .collect(),
        image: req.image.clone().unwrap_or_else(|| crate::build::HOST_IMAGE.into()),
        privileged: req.privileged,
        timeout_minutes: req.timeout.map(|t| t.as_secs_f64() / 60.0),
        environment_variables: req
            .project
            .variables
            .iter()
            .map(|v| crate::result::Variable {
                name: v.name.clone(),
                value: v.value.clone(),
                kind: v.kind.as_str().into(),
            })
            .chain(req.overrides.iter().map(|(name, value)| crate::result::Variable {
                name: name.clone(),
                value: value.clone(),
                kind: "PLAINTEXT".into(),
            }))
            .collect(),
        submitted: Some(at),
        dispatched: Some(at),
    };
    let report = BuildReport::ended_in(
        BuildPhase::Provisioning,
        Status::Failed,
        (at, now),
        ("CLIENT_ERROR".into(), reason.to_string()),
    );
    crate::result::build_json(&identity, &report)
}

/// A child's log sink: the CodeBuild log (prefixed) and, on a terminal, its status line.
struct ChildSink<W: Write> {
    log: CodeBuildLog<W>,
    bar: Option<indicatif::ProgressBar>,
}

impl<W: Write> crate::engine::events::EventSink for ChildSink<W> {
    fn event(&mut self, event: crate::engine::events::BuildEvent<'_>) {
        if let (Some(bar), crate::engine::events::BuildEvent::PhaseEntered { phase: p, .. }) =
            (&self.bar, &event)
        {
            bar.set_message(p.as_str());
        }
        self.log.event(event);
    }

    fn output(&mut self, bytes: &[u8]) {
        self.log.output(bytes);
    }
}

/// The children's primary artifacts (local ZIPs) in one ZIP, each under its identifier, next
/// to them: `<dir>/<name>.zip` of the batch. [OPEN] decided: that layout; S3 targets are not
/// combined yet.
fn combine_artifacts(
    template: &BuildRequest,
    children: &[Child],
    finished: &[Option<Result<Finished, String>>],
) -> Result<Option<String>, String> {
    let Destination::Local(dir) = &template.artifacts.primary.destination else {
        return Ok(None);
    };
    let name = template.artifacts.primary.name.clone().unwrap_or_else(|| "artifacts".into());
    let path = dir.join(format!("{}.zip", name.trim_end_matches(".zip")));
    let file = std::fs::File::create(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    for (child, f) in children.iter().zip(finished) {
        let Some(Ok(f)) = f else { continue };
        let Some(location) = f.report.artifacts.as_ref().map(|a| a.location.clone()) else { continue };
        let Some(local) = location.strip_prefix("file://") else { continue };
        let Ok(reader) = std::fs::File::open(local) else { continue };
        let Ok(mut archive) = zip::ZipArchive::new(reader) else { continue };
        for i in 0..archive.len() {
            let entry = archive.by_index_raw(i).map_err(|e| e.to_string())?;
            let inner = format!("{}/{}", child.identifier, entry.name().map_err(|e| e.to_string())?);
            zip.raw_copy_file_rename(entry, inner).map_err(|e| e.to_string())?;
        }
    }
    zip.finish().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(Some(format!("file://{}", path.display())))
}
