//! The `--result` file: a CodeBuild `Build` object as `aws codebuild batch-get-builds` prints it
//! (camelCase, ISO-8601 times). Phases that did not run are absent.

use std::time::SystemTime;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

use crate::engine::{BuildPhase, BuildReport, Status};

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
    /// Plain-text environment variables as the project would show them (no secrets).
    pub environment_variables: Vec<(String, String)>,
    /// When the build was submitted and when it left the queue (a service's builds wait);
    /// `None`: at the start of the report.
    pub submitted: Option<SystemTime>,
    pub dispatched: Option<SystemTime>,
}

/// How timestamps are written: ISO-8601 as the AWS CLI prints them (the `--result` file), or
/// epoch seconds as the CodeBuild API sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    Iso,
    Epoch,
}

fn stamp(t: SystemTime, times: Times) -> Value {
    match times {
        Times::Iso => json!(iso(t)),
        Times::Epoch => {
            let ms = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            json!(ms as f64 / 1000.0)
        }
    }
}

/// `2026-11-22T01:02:03.123456+00:00`, as the AWS CLI prints timestamps.
pub fn iso(t: SystemTime) -> String {
    let dt = OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    dt.format(&format).unwrap_or_else(|_| dt.format(&Iso8601::DEFAULT).unwrap_or_default())
}

fn seconds(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn build_json(id: &BuildIdentity, report: &BuildReport) -> Value {
    build_json_with(id, report, Times::Iso)
}

/// The UUID of a build or batch id (`PROJECT:UUID`); the whole id when it has no project part.
pub fn uuid_of(id: &str) -> &str {
    id.rsplit_once(':').map_or(id, |(_, uuid)| uuid)
}

/// The build as CodeBuild shows it: SUBMITTED, QUEUED and PROVISIONING (with the service's queue
/// times), the phases that ran, then FINALIZING and COMPLETED once it ended; a running build
/// ends with the phase it is in (no status), as `batch-get-builds` shows one.
pub fn build_json_with(id: &BuildIdentity, report: &BuildReport, times: Times) -> Value {
    let t = |x: SystemTime| stamp(x, times);
    let submitted = id.submitted.unwrap_or(report.start);
    let done = |phase: &str, from: SystemTime, to: SystemTime| json!({"phaseType": phase, "phaseStatus": "SUCCEEDED", "startTime": t(from), "endTime": t(to), "durationInSeconds": seconds(from, to)});
    let running = report.status == Status::InProgress;
    let current = report.current.filter(|_| running);
    let mut phases = vec![];
    match (current, id.dispatched) {
        (Some((BuildPhase::Submitted, since)), _) => {
            phases.push(json!({"phaseType": "SUBMITTED", "startTime": t(since)}))
        }
        (Some((BuildPhase::Queued, since)), _) => {
            phases.push(done("SUBMITTED", submitted, since));
            phases.push(json!({"phaseType": "QUEUED", "startTime": t(since)}));
        }
        (Some((BuildPhase::Provisioning, since)), _) => {
            phases.push(done("SUBMITTED", submitted, submitted));
            phases.push(done("QUEUED", submitted, since));
            phases.push(json!({"phaseType": "PROVISIONING", "startTime": t(since)}));
        }
        // Ended before it left the queue (stopped, or the service went away).
        (None, None) if id.submitted.is_some() => {
            phases.push(done("SUBMITTED", submitted, submitted));
            phases.push(json!({"phaseType": "QUEUED", "phaseStatus": report.status.as_str(), "startTime": t(submitted), "endTime": t(report.end), "durationInSeconds": seconds(submitted, report.end)}));
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
        let contexts: Vec<Value> =
            p.contexts.iter().map(|(c, m)| json!({"statusCode": c, "message": m})).collect();
        phases.push(json!({
            "phaseType": p.phase.as_str(),
            "phaseStatus": p.status.as_str(),
            "startTime": t(p.start),
            "endTime": t(p.end),
            "durationInSeconds": seconds(p.start, p.end),
            "contexts": contexts,
        }));
    }
    match current {
        Some((phase, since)) if phase > BuildPhase::Provisioning => {
            phases.push(json!({"phaseType": phase.as_str(), "startTime": t(since)}));
        }
        Some(_) => {}
        None => {
            let never_left_the_queue = id.submitted.is_some() && id.dispatched.is_none();
            if !never_left_the_queue {
                phases.push(json!({"phaseType": "FINALIZING", "phaseStatus": "SUCCEEDED", "startTime": t(report.end), "endTime": t(report.end), "durationInSeconds": 0}));
            }
            phases.push(json!({"phaseType": "COMPLETED", "startTime": t(report.end)}));
        }
    }

    let artifact = |a: &crate::engine::upload::ArtifactRecord| {
        let mut v = json!({"location": a.location});
        if let Some(s) = &a.sha256 {
            v["sha256sum"] = json!(s);
        }
        if let Some(m) = &a.md5 {
            v["md5sum"] = json!(m);
        }
        if let Some(i) = &a.identifier {
            v["artifactIdentifier"] = json!(i);
        }
        v
    };
    let mut build = json!({
        "id": id.id,
        "arn": id.arn,
        "startTime": t(submitted),
        "currentPhase": report.current_phase().as_str(),
        "buildStatus": report.status.as_str(),
        "projectName": id.project,
        "phases": phases,
        "source": {"type": "NO_SOURCE"},
        "secondarySources": [],
        "artifacts": report.artifacts.as_ref().map(artifact).unwrap_or_else(|| json!({"location": ""})),
        "secondaryArtifacts": report.secondary_artifacts.iter().map(artifact).collect::<Vec<_>>(),
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": id.image,
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": id.environment_variables.iter()
                .map(|(n, v)| json!({"name": n, "value": v, "type": "PLAINTEXT"}))
                .collect::<Vec<_>>(),
            "privilegedMode": id.privileged,
            "imagePullCredentialsType": "CODEBUILD",
        },
        "logs": {"deepLink": "", "cloudWatchLogs": {"status": "DISABLED"}, "s3Logs": {"status": "DISABLED"}},
        "buildComplete": report.status != Status::InProgress,
        "initiator": id.initiator,
        "exportedEnvironmentVariables": report.exported.iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect::<Vec<_>>(),
    });
    if !running {
        build["endTime"] = t(report.end);
    }
    if let Some(n) = id.build_number {
        build["buildNumber"] = json!(n);
    }
    if let Some(m) = id.timeout_minutes {
        build["timeoutInMinutes"] = json!(m.ceil() as u64);
    }
    if let Some(v) = &id.source_version {
        build["resolvedSourceVersion"] = json!(v);
    }
    // runspec's one addition to CodeBuild's shape, present only when a build pushed images
    // (`runspec image push` in-process): what went where, pinned by digest.
    if !report.images.is_empty() {
        build["runspecPushedImages"] = json!(report.images);
    }
    build
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
