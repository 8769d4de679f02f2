//! A build as CodeBuild records it ([`crate::shapes::codebuild::Build`]): the record
//! `runspec serve` keeps and answers (epoch-second times), and the `--result` file, which is
//! the same object as `aws codebuild batch-get-builds` prints it (ISO-8601 times). Phases that
//! did not run are absent.

use std::time::SystemTime;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

use crate::engine::{BuildPhase, BuildReport, Status};
use crate::shapes::codebuild as cb;

/// An environment variable as a project or StartBuild names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// The value, or the parameter's name or the secret's id.
    pub value: String,
    /// `PLAINTEXT`, `PARAMETER_STORE` or `SECRETS_MANAGER`.
    pub kind: String,
}

/// What the result needs beyond the engine's report.
#[derive(Debug, Clone)]
pub struct BuildIdentity {
    pub id: String,
    pub arn: String,
    pub project: String,
    pub build_number: Option<u64>,
    pub initiator: String,
    pub source_version: Option<String>,
    pub image: String,
    pub privileged: bool,
    pub timeout_minutes: Option<f64>,
    /// The project's and the overrides' variables as the project shows them: a Parameter
    /// Store or Secrets Manager variable keeps its type and its reference, never a value.
    pub environment_variables: Vec<Variable>,
    /// The primary source (`None`: NO_SOURCE) and the secondary ones as the build saw them.
    pub source: Option<cb::ProjectSource>,
    pub secondary_sources: Vec<cb::ProjectSource>,
    /// When the build was submitted and when it left the queue (a service's builds wait);
    /// `None`: at the start of the report.
    pub submitted: Option<SystemTime>,
    pub dispatched: Option<SystemTime>,
}

/// A directory on this machine as a build's source (runspec's `LOCAL` source type).
pub fn local_source(dir: &std::path::Path, identifier: Option<&str>) -> cb::ProjectSource {
    cb::ProjectSource {
        kind: "LOCAL".into(),
        location: Some(dir.display().to_string()),
        source_identifier: identifier.map(str::to_string),
        ..Default::default()
    }
}

/// Epoch seconds, with millisecond precision, as the CodeBuild API sends times.
pub fn epoch(t: SystemTime) -> f64 {
    let ms = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    ms as f64 / 1000.0
}

/// `2026-11-22T01:02:03.123456+00:00`, as the AWS CLI prints timestamps.
pub fn iso(t: SystemTime) -> String {
    let dt = OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    dt.format(&format).unwrap_or_else(|_| dt.format(&Iso8601::DEFAULT).unwrap_or_default())
}

fn seconds(from: SystemTime, to: SystemTime) -> i64 {
    to.duration_since(from).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The `--result` file: the build as `aws codebuild batch-get-builds` prints it, with ISO-8601
/// times, plus `runspecPushedImages` when the build pushed images.
pub fn build_json(id: &BuildIdentity, report: &BuildReport) -> Value {
    let mut v = serde_json::to_value(build_record(id, report)).unwrap_or(Value::Null);
    with_iso_times(&mut v);
    // runspec's one addition to CodeBuild's shape, present only when a build pushed images
    // (`runspec image push` in-process): what went where, pinned by digest.
    if !report.images.is_empty() {
        v["runspecPushedImages"] = json!(report.images);
    }
    v
}

/// Times of a build object (epoch seconds) written as the AWS CLI prints them.
fn with_iso_times(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if matches!(k.as_str(), "startTime" | "endTime" | "requestedOn")
                    && let Some(s) = x.as_f64()
                {
                    *x = json!(iso(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(s.max(0.0))));
                } else {
                    with_iso_times(x);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(with_iso_times),
        _ => {}
    }
}

/// The UUID of a build or batch id (`PROJECT:UUID`); the whole id when it has no project part.
pub fn uuid_of(id: &str) -> &str {
    id.rsplit_once(':').map_or(id, |(_, uuid)| uuid)
}

fn phase(kind: &str, status: Option<&str>, from: SystemTime, to: Option<SystemTime>) -> cb::BuildPhase {
    cb::BuildPhase {
        phase_type: Some(kind.to_string()),
        phase_status: status.map(str::to_string),
        start_time: Some(epoch(from)),
        end_time: to.map(epoch),
        duration_in_seconds: to.map(|to| seconds(from, to)),
        contexts: None,
    }
}

/// The build as CodeBuild records it: SUBMITTED, QUEUED and PROVISIONING (with the service's queue
/// times), the phases that ran, then FINALIZING and COMPLETED once it ended; a running build
/// ends with the phase it is in (no status), as `batch-get-builds` shows one.
pub fn build_record(id: &BuildIdentity, report: &BuildReport) -> cb::Build {
    let submitted = id.submitted.unwrap_or(report.start);
    let done = |kind: &str, from, to| phase(kind, Some("SUCCEEDED"), from, Some(to));
    let running = report.status == Status::InProgress;
    let current = report.current.filter(|_| running);
    let mut phases = vec![];
    match (current, id.dispatched) {
        (Some((BuildPhase::Submitted, since)), _) => phases.push(phase("SUBMITTED", None, since, None)),
        (Some((BuildPhase::Queued, since)), _) => {
            phases.push(done("SUBMITTED", submitted, since));
            phases.push(phase("QUEUED", None, since, None));
        }
        (Some((BuildPhase::Provisioning, since)), _) => {
            phases.push(done("SUBMITTED", submitted, submitted));
            phases.push(done("QUEUED", submitted, since));
            phases.push(phase("PROVISIONING", None, since, None));
        }
        // Ended before it left the queue (stopped, or the service went away).
        (None, None) if id.submitted.is_some() => {
            phases.push(done("SUBMITTED", submitted, submitted));
            phases.push(phase("QUEUED", Some(report.status.as_str()), submitted, Some(report.end)));
        }
        (_, dispatched) => {
            let dispatched = dispatched.unwrap_or(submitted);
            phases.push(done("SUBMITTED", submitted, submitted));
            phases.push(done("QUEUED", submitted, dispatched));
            // A build that failed to provision carries its own PROVISIONING record.
            if !report.phases.iter().any(|p| p.phase == BuildPhase::Provisioning) {
                phases.push(done("PROVISIONING", dispatched, report.start.max(dispatched)));
            }
        }
    }
    for p in &report.phases {
        let mut record = phase(p.phase.as_str(), Some(p.status.as_str()), p.start, Some(p.end));
        record.contexts = Some(
            p.contexts
                .iter()
                .map(|(c, m)| cb::PhaseContext { status_code: Some(c.clone()), message: Some(m.clone()) })
                .collect(),
        );
        phases.push(record);
    }
    match current {
        Some((current, since)) if current > BuildPhase::Provisioning => {
            phases.push(phase(current.as_str(), None, since, None));
        }
        Some(_) => {}
        None => {
            let never_left_the_queue = id.submitted.is_some() && id.dispatched.is_none();
            if !never_left_the_queue {
                phases.push(done("FINALIZING", report.end, report.end));
            }
            phases.push(phase("COMPLETED", None, report.end, None));
        }
    }
    let artifact = |a: &crate::engine::upload::ArtifactRecord| cb::BuildArtifacts {
        location: Some(a.location.clone()),
        sha256sum: a.sha256.clone(),
        md5sum: a.md5.clone(),
        artifact_identifier: a.identifier.clone(),
        ..Default::default()
    };
    cb::Build {
        id: Some(id.id.clone()),
        arn: Some(id.arn.clone()),
        build_number: id.build_number.map(|n| n as i64),
        start_time: Some(epoch(submitted)),
        end_time: (!running).then(|| epoch(report.end)),
        current_phase: Some(report.current_phase().as_str().to_string()),
        build_status: Some(report.status.as_str().to_string()),
        resolved_source_version: id.source_version.clone(),
        project_name: Some(id.project.clone()),
        phases: Some(phases),
        source: Some(
            id.source
                .clone()
                .unwrap_or_else(|| cb::ProjectSource { kind: "NO_SOURCE".into(), ..Default::default() }),
        ),
        secondary_sources: Some(id.secondary_sources.clone()),
        artifacts: Some(
            report
                .artifacts
                .as_ref()
                .map(artifact)
                .unwrap_or(cb::BuildArtifacts { location: Some(String::new()), ..Default::default() }),
        ),
        secondary_artifacts: Some(report.secondary_artifacts.iter().map(artifact).collect()),
        environment: Some(cb::ProjectEnvironment {
            kind: "LINUX_CONTAINER".into(),
            image: id.image.clone(),
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            environment_variables: Some(
                id.environment_variables
                    .iter()
                    .map(|v| cb::EnvironmentVariable {
                        name: v.name.clone(),
                        value: v.value.clone(),
                        kind: Some(v.kind.clone()),
                    })
                    .collect(),
            ),
            privileged_mode: Some(id.privileged),
            image_pull_credentials_type: Some("CODEBUILD".into()),
            ..Default::default()
        }),
        logs: Some(cb::LogsLocation {
            deep_link: Some(String::new()),
            cloud_watch_logs: Some(cb::CloudWatchLogsConfig {
                status: "DISABLED".into(),
                ..Default::default()
            }),
            s3_logs: Some(cb::S3LogsConfig { status: "DISABLED".into(), ..Default::default() }),
            ..Default::default()
        }),
        timeout_in_minutes: id.timeout_minutes.map(|m| m.ceil() as i64),
        build_complete: Some(!running),
        initiator: Some(id.initiator.clone()),
        exported_environment_variables: Some(
            report
                .exported
                .iter()
                .map(|(n, v)| cb::ExportedEnvironmentVariable {
                    name: Some(n.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
        ),
        ..Default::default()
    }
}

/// One line saying how the build ended, for a terminal: status, duration, and for a build that
/// did not succeed the phase that decided it with its context.
pub fn summary(report: &BuildReport) -> String {
    let secs = report.end.duration_since(report.start).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut line = format!("Build {} in {secs:.1} s", report.status);
    if report.status != Status::Succeeded {
        let decided = report
            .phases
            .iter()
            .find(|p| p.status != Status::Succeeded && !p.continued)
            .or_else(|| report.phases.iter().find(|p| p.status != Status::Succeeded));
        if let Some(p) = decided {
            line.push_str(&format!(": {} {}", p.phase, p.status));
            if let Some((code, message)) = p.contexts.first().filter(|(c, m)| !c.is_empty() || !m.is_empty())
            {
                line.push_str(&format!(" ({code}): {message}"));
            }
        }
    }
    line
}
