//! Builds: StartBuild, BatchGetBuilds, StopBuild, RetryBuild, ListBuilds(ForProject),
//! BatchDeleteBuilds; CodeBuild's automatic retries; and how a build is recorded when it ends
//! without a machine recording it (stopped or timed out in the queue, or lost with its machine).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Dispatch, Result, Service, ServiceError, invalid, name_of, now_s, page};
use crate::engine::{BuildPhase, BuildReport, Status};
use crate::result::{self, BuildIdentity};
use crate::serve::request::{self, AutoRetryOf, Started};
use crate::serve::store::BuildRow;
use crate::shapes::codebuild as cb;

/// How long an idempotency token names the build it started (CodeBuild: 5 minutes).
const TOKEN_WINDOW_S: f64 = 5.0 * 60.0;

pub fn from_s(s: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0))
}

fn text(s: &str) -> Option<String> {
    Some(s.to_string())
}

impl Service {
    /// A build by id or ARN.
    pub fn build(&self, given: &str) -> Result<BuildRow> {
        let id = name_of(given, "build");
        self.store.build(id)?.ok_or_else(|| ServiceError::NotFound(format!("Build {id} cannot be found")))
    }

    pub fn start_build(self: &Arc<Self>, input: cb::StartBuildInput, caller: &str) -> Result<cb::Build> {
        let name = name_of(&input.project_name, "project").to_string();
        let project = self.project(&name)?;
        let token = input.idempotency_token.clone();
        Ok(self.submit(&name, &project, Started::new(input), token.as_deref(), caller)?.build)
    }

    /// Queues a build of `project` for `start`. A token seen within its window gives back the
    /// build it started, when the parameters are the same.
    pub fn submit(
        self: &Arc<Self>,
        name: &str,
        project: &cb::Project,
        start: Started,
        token: Option<&str>,
        caller: &str,
    ) -> Result<BuildRow> {
        self.submit_within(name, project, start, token.map(|t| (t, TOKEN_WINDOW_S)), caller)
    }

    /// [`Service::submit`] with a token that names its build for `window` seconds (a webhook
    /// delivery's id: for as long as the forge may deliver it again).
    pub fn submit_within(
        self: &Arc<Self>,
        name: &str,
        project: &cb::Project,
        start: Started,
        token: Option<(&str, f64)>,
        caller: &str,
    ) -> Result<BuildRow> {
        let (token, window) = (token.map(|t| t.0), token.map_or(TOKEN_WINDOW_S, |t| t.1));
        let effective = request::effective_project(project, &start.input);
        self.check_project(&effective)?;
        let in_pipeline =
            effective.source.as_ref().is_some_and(|s| s.kind.eq_ignore_ascii_case("CODEPIPELINE"));
        if in_pipeline && start.pipeline.is_none() {
            return Err(invalid(format!(
                "the project {name} takes its source from CodePipeline (source type CODEPIPELINE): its builds start from a pipeline's execution; override the source (sourceTypeOverride) to start one here"
            )));
        }
        let submitted = SystemTime::now();
        let (region, account) = (self.region.clone(), self.account.clone());
        let (row, new) = self.store.insert_build(name, token, window, &mut |number| {
            let uuid = uuid::Uuid::new_v4().to_string();
            let id = format!("{name}:{uuid}");
            let env = effective.environment.clone().unwrap_or_default();
            let identity = BuildIdentity {
                id: id.clone(),
                arn: format!("arn:aws:codebuild:{region}:{account}:build/{id}"),
                project: name.to_string(),
                build_number: Some(number),
                initiator: caller.to_string(),
                source_version: None,
                image: if env.image.is_empty() { crate::build::HOST_IMAGE.into() } else { env.image.clone() },
                privileged: env.privileged_mode.unwrap_or(false),
                timeout_minutes: Some(effective.timeout_in_minutes.unwrap_or(60) as f64),
                environment_variables: Vec::new(),
                source: effective.source.clone(),
                secondary_sources: effective.secondary_sources.clone().unwrap_or_default(),
                submitted: Some(submitted),
                dispatched: None,
            };
            let mut build = result::build_record(
                &identity,
                &BuildReport::in_progress(submitted, (BuildPhase::Queued, submitted)),
            );
            build.source.clone_from(&effective.source);
            build.secondary_sources.clone_from(&effective.secondary_sources);
            build.source_version.clone_from(&effective.source_version);
            // What a replay of this build needs to run it the same way.
            build.secondary_source_versions.clone_from(&effective.secondary_source_versions);
            build.cache.clone_from(&effective.cache);
            build.environment = Some(cb::ProjectEnvironment {
                kind: if env.kind.is_empty() { "LINUX_CONTAINER".into() } else { env.kind.clone() },
                image: identity.image.clone(),
                compute_type: if env.compute_type.is_empty() {
                    "BUILD_GENERAL1_SMALL".into()
                } else {
                    env.compute_type.clone()
                },
                environment_variables: Some(env.environment_variables.clone().unwrap_or_default()),
                privileged_mode: Some(identity.privileged),
                image_pull_credentials_type: text("CODEBUILD"),
                ..Default::default()
            });
            build.queued_timeout_in_minutes = Some(effective.queued_timeout_in_minutes.unwrap_or(480));
            let group = format!("/aws/codebuild/{name}");
            build.logs = Some(cb::LogsLocation {
                group_name: Some(group.clone()),
                stream_name: Some(uuid.clone()),
                deep_link: text(""),
                cloud_watch_logs: Some(cb::CloudWatchLogsConfig {
                    status: "ENABLED".into(),
                    group_name: Some(group),
                    stream_name: Some(uuid.clone()),
                }),
                s3_logs: Some(cb::S3LogsConfig { status: "DISABLED".into(), ..Default::default() }),
                ..Default::default()
            });
            build.service_role.clone_from(&effective.service_role);
            build.build_batch_arn.clone_from(&start.batch_arn);
            let limit = effective.auto_retry_limit.unwrap_or(0);
            let retry_number = start.auto_retry.as_ref().map_or(0, |r| r.number);
            if limit > 0 || retry_number > 0 {
                build.auto_retry_config = Some(cb::AutoRetryConfig {
                    auto_retry_limit: Some(limit),
                    auto_retry_number: Some(retry_number),
                    previous_auto_retry: start.auto_retry.as_ref().map(|r| r.previous.clone()),
                    next_auto_retry: None,
                });
            }
            BuildRow {
                id,
                project: name.to_string(),
                number,
                status: "IN_PROGRESS".into(),
                build,
                request: start.clone(),
                submitted: result::epoch(submitted),
            }
        })?;
        if new {
            self.submitted(&row.id);
        } else if row.request.input != start.input {
            return Err(ServiceError::Mismatch(format!(
                "The idempotency token `{}` started build {} with other parameters",
                token.unwrap_or_default(),
                row.id
            )));
        }
        Ok(row)
    }

    pub fn batch_get_builds(&self, ids: &[String]) -> Result<cb::BatchGetBuildsOutput> {
        let mut builds = Vec::new();
        let mut missing = Vec::new();
        for given in ids {
            match self.store.build(name_of(given, "build"))? {
                Some(row) => builds.push(row.build),
                None => missing.push(given.clone()),
            }
        }
        Ok(cb::BatchGetBuildsOutput { builds: Some(builds), builds_not_found: Some(missing) })
    }

    pub fn stop_build(self: &Arc<Self>, given: &str) -> Result<cb::Build> {
        let row = self.build(given)?;
        let id = row.id.as_str();
        if row.status != "IN_PROGRESS" {
            return Ok(row.build);
        }
        if self.stop(id) {
            // The build records STOPPED itself once its commands are gone; wait a little so
            // the answer usually says so.
            let deadline = std::time::Instant::now() + Duration::from_millis(800);
            while self.is_running(id) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(self.build(id)?.build);
        }
        if row.build.current_phase.as_deref() == Some("QUEUED") {
            return match self.end_queued(&row, Status::Stopped, "BUILD_STOPPED", "Build was stopped")? {
                Some(build) => Ok(build),
                // A worker took it meanwhile: it stops at its next heartbeat.
                None => {
                    self.stop(id);
                    Ok(self.build(id)?.build)
                }
            };
        }
        Ok(row.build)
    }

    /// RetryBuild: a finished build again, with the same input (CodeBuild refuses a build
    /// still in progress).
    pub fn retry_build(self: &Arc<Self>, i: &cb::RetryBuildInput, caller: &str) -> Result<cb::Build> {
        let old = self.build(i.id.as_deref().unwrap_or_default())?;
        if old.status == "IN_PROGRESS" {
            return Err(invalid(format!(
                "Build {} is still in progress; only a finished build can be retried",
                old.id
            )));
        }
        let project = self.project(&old.project)?;
        let again = Started { auto_retry: None, ..old.request.clone() };
        Ok(self.submit(&old.project, &project, again, i.idempotency_token.as_deref(), caller)?.build)
    }

    pub fn list_builds(
        &self,
        project: Option<&str>,
        sort: Option<&str>,
        token: Option<&str>,
    ) -> Result<cb::ListBuildsOutput> {
        if let Some(p) = project {
            self.project(p)?;
        }
        let ids = self.store.build_ids(project.map(|p| name_of(p, "project")), sort == Some("ASCENDING"))?;
        let (ids, next_token) = page(ids, token, 100)?;
        Ok(cb::ListBuildsOutput { ids: Some(ids), next_token })
    }

    pub fn batch_delete_builds(&self, ids: &[String]) -> Result<cb::BatchDeleteBuildsOutput> {
        let mut deleted = Vec::new();
        let mut not_deleted = Vec::new();
        for given in ids {
            let id = name_of(given, "build");
            let not = |code: &str| cb::BuildNotDeleted { id: Some(given.clone()), status_code: text(code) };
            match self.store.build(id)? {
                None => not_deleted.push(not("BUILD_NOT_FOUND")),
                Some(row) if row.status == "IN_PROGRESS" => not_deleted.push(not("BUILD_IN_PROGRESS")),
                Some(row) => {
                    self.delete_build_and_log(&row)?;
                    deleted.push(given.clone());
                }
            }
        }
        Ok(cb::BatchDeleteBuildsOutput {
            builds_deleted: Some(deleted),
            builds_not_deleted: Some(not_deleted),
        })
    }

    pub(super) fn delete_build_and_log(&self, row: &BuildRow) -> Result<()> {
        self.store.delete_build(&row.id)?;
        if let Some(stream) = row.build.logs.as_ref().and_then(|l| l.stream_name.as_deref()) {
            let _ = std::fs::remove_file(crate::serve::logs::path(&self.logs_dir(), stream));
        }
        Ok(())
    }

    /// CodeBuild's auto-retry: a build that ended FAILED, FAULT or TIMED_OUT with retries left
    /// (`autoRetryLimit`) is retried as a new build, as RetryBuild would; the two are linked by
    /// `autoRetryConfig.nextAutoRetry` / `previousAutoRetry`. Called once per build, by whoever
    /// recorded its end.
    pub fn auto_retry(self: &Arc<Self>, row: &BuildRow, ended: &cb::Build) {
        let status = ended.build_status.as_deref().unwrap_or_default();
        let Some(config) = &ended.auto_retry_config else { return };
        let number = config.auto_retry_number.unwrap_or(0);
        if !matches!(status, "FAILED" | "FAULT" | "TIMED_OUT")
            || number >= config.auto_retry_limit.unwrap_or(0)
        {
            return;
        }
        let project = match self.store.project(&row.project) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("cannot auto-retry {}: {e}", row.id);
                return;
            }
        };
        let mut start = row.request.clone();
        start.auto_retry = Some(AutoRetryOf { number: number + 1, previous: row.id.clone() });
        let caller = ended.initiator.clone().unwrap_or_else(|| "runspec".into());
        match self.submit(&row.project, &project, start, None, &caller) {
            Ok(next) => {
                let mut linked = ended.clone();
                if let Some(c) = linked.auto_retry_config.as_mut() {
                    c.next_auto_retry = Some(next.id.clone());
                }
                if let Err(e) = self.store.update_build(&row.id, status, &linked) {
                    tracing::warn!("cannot link {} to its retry {}: {e}", row.id, next.id);
                }
            }
            Err(e) => tracing::warn!("cannot auto-retry {}: {e:?}", row.id),
        }
    }

    /// Stops a build wherever it is: running here, or still queued.
    pub fn stop_any(&self, id: &str) {
        if self.stop(id) {
            return;
        }
        if let Ok(Some(row)) = self.store.build(id)
            && row.status == "IN_PROGRESS"
            && row.build.current_phase.as_deref() == Some("QUEUED")
            && let Ok(None) = self.end_queued(&row, Status::Stopped, "BUILD_STOPPED", "Build was stopped")
        {
            self.stop(id);
        }
    }

    /// Ends a build that never left the queue (stopped, or timed out there); `None` when a
    /// worker of the fleet claimed it meanwhile.
    pub fn end_queued(
        &self,
        row: &BuildRow,
        status: Status,
        code: &str,
        message: &str,
    ) -> Result<Option<cb::Build>> {
        let submitted = from_s(row.submitted);
        let mut report = BuildReport::in_progress(submitted, (BuildPhase::Queued, submitted));
        report.status = status;
        report.current = None;
        report.end = SystemTime::now();
        let mut identity = identity_of(row);
        identity.submitted = Some(submitted);
        let mut build = result::build_record(&identity, &report);
        carry_over(&mut build, &row.build);
        if let Some(queued) = build.phases.as_mut().and_then(|p| p.get_mut(1)) {
            queued.contexts =
                Some(vec![cb::PhaseContext { status_code: text(code), message: text(message) }]);
        }
        Ok(self.store.end_unclaimed(&row.id, status.as_str(), &build)?.then_some(build))
    }

    /// At start-up: builds that were running when the server went away end FAULT (their
    /// process is gone); queued ones stay queued.
    pub fn recover(&self) -> Result<usize> {
        let mut ended = 0;
        for row in self.store.unfinished()? {
            let phase = row.build.current_phase.clone().unwrap_or_else(|| "PROVISIONING".into());
            if phase == "QUEUED" {
                continue;
            }
            let build = ended_in_flight(
                &row,
                "CLIENT_ERROR",
                &format!("The build was running in {phase} when runspec serve stopped; it did not finish"),
            );
            self.store.update_build(&row.id, "FAULT", &build)?;
            ended += 1;
        }
        Ok(ended)
    }
}

/// A running build that will not finish (its machine went away): its current phase ends
/// FAULT with `code` and `message`, and the build ends FAULT. Earlier phases keep their times.
pub fn ended_in_flight(row: &BuildRow, code: &str, message: &str) -> cb::Build {
    let mut build = row.build.clone();
    let now = now_s();
    let phases = build.phases.get_or_insert_with(Vec::new);
    if let Some(last) = phases.last_mut() {
        let start = last.start_time.unwrap_or(row.submitted);
        last.phase_status = text("FAULT");
        last.end_time = Some(now);
        last.duration_in_seconds = Some((now - start).max(0.0) as i64);
        last.contexts = Some(vec![cb::PhaseContext { status_code: text(code), message: text(message) }]);
    }
    phases.push(cb::BuildPhase {
        phase_type: text("COMPLETED"),
        start_time: Some(now),
        ..Default::default()
    });
    build.build_status = text("FAULT");
    build.current_phase = text("COMPLETED");
    build.build_complete = Some(true);
    build.end_time = Some(now);
    build
}

/// A build leaving the queue: its identity, and its record in PROVISIONING.
pub fn provisioning(row: &BuildRow) -> (BuildIdentity, cb::Build) {
    let identity = BuildIdentity {
        submitted: Some(from_s(row.submitted)),
        dispatched: Some(SystemTime::now()),
        ..identity_of(row)
    };
    let mut build = result::build_record(
        &identity,
        &BuildReport::in_progress(
            from_s(row.submitted),
            (BuildPhase::Provisioning, identity.dispatched.unwrap_or_else(SystemTime::now)),
        ),
    );
    carry_over(&mut build, &row.build);
    (identity, build)
}

/// The identity the writer needs, from the stored build.
pub fn identity_of(row: &BuildRow) -> BuildIdentity {
    let b = &row.build;
    let env = b.environment.clone().unwrap_or_default();
    BuildIdentity {
        id: row.id.clone(),
        arn: b.arn.clone().unwrap_or_default(),
        project: row.project.clone(),
        build_number: Some(row.number),
        initiator: b.initiator.clone().unwrap_or_else(|| "runspec".into()),
        source_version: b.resolved_source_version.clone(),
        image: if env.image.is_empty() { crate::build::HOST_IMAGE.into() } else { env.image },
        privileged: env.privileged_mode.unwrap_or(false),
        timeout_minutes: b.timeout_in_minutes.map(|m| m as f64),
        environment_variables: env
            .environment_variables
            .unwrap_or_default()
            .into_iter()
            .map(|v| result::Variable {
                name: v.name,
                value: v.value,
                kind: v.kind.unwrap_or_else(|| "PLAINTEXT".into()),
            })
            .collect(),
        source: b.source.clone(),
        secondary_sources: b.secondary_sources.clone().unwrap_or_default(),
        submitted: None,
        dispatched: None,
    }
}

/// What the service set at submission that the engine's record does not know: the sources and
/// their versions asked for, logs, queue timeout, role, batch, retries, cache, environment.
pub fn carry_over(build: &mut cb::Build, from: &cb::Build) {
    fn keep<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
        if from.is_some() {
            into.clone_from(from);
        }
    }
    keep(&mut build.source, &from.source);
    keep(&mut build.secondary_sources, &from.secondary_sources);
    keep(&mut build.source_version, &from.source_version);
    keep(&mut build.logs, &from.logs);
    keep(&mut build.queued_timeout_in_minutes, &from.queued_timeout_in_minutes);
    keep(&mut build.service_role, &from.service_role);
    keep(&mut build.build_batch_arn, &from.build_batch_arn);
    keep(&mut build.auto_retry_config, &from.auto_retry_config);
    keep(&mut build.secondary_source_versions, &from.secondary_source_versions);
    keep(&mut build.cache, &from.cache);
    if build.resolved_source_version.is_none() {
        build.resolved_source_version.clone_from(&from.resolved_source_version);
    }
    if let (Some(env), Some(was)) = (build.environment.as_mut(), from.environment.as_ref()) {
        env.kind.clone_from(&was.kind);
        env.compute_type.clone_from(&was.compute_type);
        env.image.clone_from(&was.image);
        keep(&mut env.environment_variables, &was.environment_variables);
        keep(&mut env.privileged_mode, &was.privileged_mode);
    }
}
