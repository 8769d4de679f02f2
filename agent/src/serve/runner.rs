//! Builds run in this process: the queue (QUEUED builds start in submission order while fewer
//! than `--concurrency` run and the project is under its `concurrentBuildLimit`; one queued
//! longer than its `queuedTimeoutInMinutes` ends TIMED_OUT), and one build's run, start to end,
//! on a thread of its own through the same [`crate::build::run`] as `runspec run`, with its log
//! in a file and its phases written as they change (to the store here; under the lease on a
//! fleet's worker, [`super::worker`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::BUILD_STACK;
use super::logs::StampedLines;
use super::request::{self};
use super::service::builds::{carry_over, provisioning};
use super::service::{Dispatch, Running, Service};
use super::store::{BuildRow, Store, StoreError, now_s};
use crate::build::{BuildRequest, HOST_IMAGE, Notices};
use crate::engine::events::{BuildEvent, EventSink};
use crate::engine::ledger::Ledger;
use crate::engine::{BuildPhase, BuildReport, Status};
use crate::exec::StopReason;
use crate::log::CodeBuildLog;
use crate::result::{self, BuildIdentity};
use crate::shapes::codebuild as cb;
use crate::source::FetchError;

/// Where a running build's progress and end are written: the store here; on a worker, the
/// store under the worker's lease (a write that is refused stops the build).
pub trait Recorder: Send + Sync {
    fn record(&self, id: &str, status: &str, build: &cb::Build);

    /// The lease the build runs under, when a worker holds it: past it the build stops.
    fn lease(&self) -> Option<Arc<crate::exec::LeaseClock>> {
        None
    }
}

/// Writes straight to the store (one machine: nobody else can hold the build).
pub struct StoreRecorder<'a>(pub &'a dyn Store);

impl Recorder for StoreRecorder<'_> {
    fn record(&self, id: &str, status: &str, build: &cb::Build) {
        if let Err(e) = self.0.update_build(id, status, build) {
            tracing::warn!("cannot record the progress of {id}: {e}");
        }
    }
}

/// Runs the queue until the process ends.
pub async fn dispatch(service: Arc<Service>) {
    loop {
        if let Err(e) = start_what_fits(&service) {
            tracing::error!("the queue: {e}");
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), service.wake.notified()).await;
    }
}

fn start_what_fits(service: &Arc<Service>) -> Result<(), StoreError> {
    let now = now_s();
    for row in service.store.unfinished()? {
        if service.is_running(&row.id) || row.build.current_phase.as_deref() != Some("QUEUED") {
            continue;
        }
        let project = service.store.project(&row.project)?.unwrap_or_default();
        let effective = request::effective_project(&project, &row.request.input);
        let queued_limit = effective.queued_timeout_in_minutes.unwrap_or(480) as f64;
        if now - row.submitted > super::queue_seconds(queued_limit) {
            service
                .end_queued(&row, Status::TimedOut, "BUILD_TIMED_OUT", "Build has timed out while queued")
                .map_err(|e| StoreError::Remote(format!("{e:?}")))?;
            continue;
        }
        if service.running_count() >= service.concurrency {
            break;
        }
        let limit = effective.concurrent_build_limit.filter(|l| *l > 0).map(|l| l as usize);
        let same = service.running().values().filter(|r| r.project == row.project).count();
        if limit.is_some_and(|l| same >= l) {
            continue;
        }
        start(service, row, effective)?;
    }
    Ok(())
}

fn start(service: &Arc<Service>, row: BuildRow, effective: cb::Project) -> Result<(), StoreError> {
    let (identity, build) = provisioning(&row);
    service.store.update_build(&row.id, "IN_PROGRESS", &build)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let runner = Arc::clone(service);
    let id = row.id.clone();
    let project = row.project.clone();
    // The entry exists before the thread can end and remove it.
    let mut running = service.running();
    let thread =
        std::thread::Builder::new().name(format!("build {id}")).stack_size(BUILD_STACK).spawn(move || {
            let recorder = StoreRecorder(&*runner.store);
            let final_build = execute(&runner, &row, &effective, identity, build, stop_rx, &recorder);
            let status = final_build.build_status.clone().unwrap_or_else(|| "FAULT".into());
            let recorded = runner.store.update_build(&row.id, &status, &final_build);
            if let Err(e) = &recorded {
                tracing::error!("cannot record the end of {}: {e}", row.id);
            }
            runner.running().remove(&row.id);
            if recorded.is_ok() {
                runner.auto_retry(&row, &final_build);
            }
            runner.wake();
        });
    match thread {
        Ok(t) => {
            running.insert(id, Running { project, stop: stop_tx, thread: Some(t) });
        }
        Err(e) => {
            drop(running);
            tracing::error!("cannot start a thread for {id}: {e}");
        }
    }
    Ok(())
}

/// Runs a build that left the queue, start to end, on this thread; its progress goes to
/// `recorder`, and its final `Build` record is returned (not written). A panic ends it FAULT.
pub fn execute(
    service: &Service,
    row: &BuildRow,
    effective: &cb::Project,
    identity: BuildIdentity,
    template: cb::Build,
    stop: watch::Receiver<bool>,
    recorder: &dyn Recorder,
) -> cb::Build {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_one(service, row, effective, identity.clone(), template.clone(), stop, recorder)
    }));
    match outcome {
        Ok(b) => b,
        Err(panic) => {
            let why = crate::engine::ledger::panic_message(&*panic);
            failed_build(
                &identity,
                &template,
                BuildPhase::Provisioning,
                Status::Fault,
                "CLIENT_ERROR",
                &format!("runspec failed unexpectedly: {why}"),
            )
        }
    }
}

/// A build that ended before the engine ran (its source could not be fetched, its image not
/// prepared): that phase failed with `code` and `message`.
fn failed_build(
    identity: &BuildIdentity,
    template: &cb::Build,
    phase: BuildPhase,
    status: Status,
    code: &str,
    message: &str,
) -> cb::Build {
    let now = SystemTime::now();
    failed_since(identity, template, (phase, identity.dispatched.unwrap_or(now)), status, code, message)
}

/// [`failed_build`] for a phase that began at `since`.
fn failed_since(
    identity: &BuildIdentity,
    template: &cb::Build,
    (phase, started): (BuildPhase, SystemTime),
    status: Status,
    code: &str,
    message: &str,
) -> cb::Build {
    let now = SystemTime::now();
    let report =
        BuildReport::ended_in(phase, status, (started, now), (code.to_string(), message.to_string()));
    let mut build = result::build_record(identity, &report);
    carry_over(&mut build, template);
    build
}

/// How a build that could not get its sources ends.
fn fetch_failed(
    identity: &BuildIdentity,
    template: &cb::Build,
    began: SystemTime,
    e: FetchError,
) -> cb::Build {
    let (status, code, message) = match e {
        FetchError::Failed(m) => (Status::Failed, "CLIENT_ERROR", m),
        FetchError::Stopped(StopReason::Stopped) => {
            (Status::Stopped, "BUILD_STOPPED", "Build was stopped".into())
        }
        FetchError::Stopped(StopReason::TimedOut) => {
            (Status::TimedOut, "BUILD_TIMED_OUT", "Build has timed out".into())
        }
    };
    failed_since(identity, template, (BuildPhase::DownloadSource, began), status, code, &message)
}

/// Warnings of a build before its log starts, written into that log.
struct LogNotices {
    log: Mutex<Option<StampedLines>>,
}

impl Notices for LogNotices {
    fn warning(&self, message: &str) {
        self.write(&format!("[runspec] warning: {message}\n"));
    }

    fn diagnostics(&self, rendered: &str) {
        self.write(rendered);
    }
}

impl LogNotices {
    fn write(&self, text: &str) {
        use std::io::Write;
        if let Some(log) = self.log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = log.write_all(text.as_bytes());
        }
    }
}

/// The build's log sink: the CodeBuild log into the file, and the phases into the store each
/// time one starts or ends.
struct Live<'a> {
    ledger: Ledger<CodeBuildLog<StampedLines>>,
    recorder: &'a dyn Recorder,
    identity: BuildIdentity,
    template: cb::Build,
    start: SystemTime,
}

impl EventSink for Live<'_> {
    fn event(&mut self, event: BuildEvent<'_>) {
        let changed = matches!(event, BuildEvent::PhaseEntered { .. } | BuildEvent::PhaseCompleted { .. });
        self.ledger.event(event);
        if changed {
            let mut build = result::build_record(&self.identity, &self.ledger.snapshot(self.start));
            carry_over(&mut build, &self.template);
            self.recorder.record(&self.identity.id, "IN_PROGRESS", &build);
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        self.ledger.output(bytes);
    }
}

/// Fields of an effective project that the service itself honours (sources, queueing,
/// retries, the role); runspec ignores nothing of them.
const SERVICE_FIELDS: &[&str] = &["secondarySources", "secondarySourceVersions"];

/// The image a build runs in (`None`: this machine's shell), as the operator allows: every
/// build on the shell with `--host`; the image `runspec/host` there only with
/// `--host-image-allowed`, so that a caller cannot choose the server's shell.
fn build_image(builds: &super::BuildOptions, image: Option<&str>) -> Result<Option<String>, String> {
    match image {
        _ if builds.host => Ok(None),
        Some(HOST_IMAGE) if builds.host_image_allowed => Ok(None),
        Some(HOST_IMAGE) => Err(format!(
            "the image {HOST_IMAGE} runs a build on the server's own shell, which this server does not allow (its operator can start it with --host-image-allowed)"
        )),
        Some(image) => Ok(Some(image.to_string())),
        None => Err("the project names no build image (environment.image)".to_string()),
    }
}

/// One build, start to end; returns its final `Build` record.
fn run_one(
    service: &Service,
    row: &BuildRow,
    effective: &cb::Project,
    identity: BuildIdentity,
    template: cb::Build,
    stop: watch::Receiver<bool>,
    recorder: &dyn Recorder,
) -> cb::Build {
    let uuid = result::uuid_of(&row.id).to_string();
    let log_path = super::logs::path(&service.logs_dir(), &uuid);
    let fail = |phase, code: &str, message: String| {
        failed_build(&identity, &template, phase, Status::Failed, code, &message)
    };
    let log = match StampedLines::create(&log_path) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                BuildPhase::Provisioning,
                "CLIENT_ERROR",
                format!("cannot write the build log: {e}"),
            );
        }
    };
    let notices = LogNotices { log: Mutex::new(StampedLines::create(&log_path).ok()) };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            return fail(
                BuildPhase::Provisioning,
                "CLIENT_ERROR",
                format!("cannot start the build's runtime: {e}"),
            );
        }
    };
    let project = match crate::project::from_api(effective) {
        Ok(p) => p,
        Err(e) => return fail(BuildPhase::Provisioning, "CLIENT_ERROR", format!("the project: {e}")),
    };
    let image = match build_image(&service.builds, project.image.as_deref()) {
        Ok(image) => image,
        Err(why) => return fail(BuildPhase::Provisioning, "CLIENT_ERROR", why),
    };
    // CodeBuild's timeout covers the whole build, DOWNLOAD_SOURCE included.
    let timeout = Some(Duration::from_secs(project.timeout_minutes.unwrap_or(60).saturating_mul(60)));
    // DOWNLOAD_SOURCE begins with the fetch (CodeBuild's does): the build shows it while a
    // clone runs, and the phase's start never changes once written.
    let began = crate::build::Began::now();
    let downloading = BuildReport::in_progress(began.wall, (BuildPhase::DownloadSource, began.wall));
    let mut live = result::build_record(&identity, &downloading);
    carry_over(&mut live, &template);
    recorder.record(&identity.id, "IN_PROGRESS", &live);
    let finish = |ran: Result<crate::build::Finished, crate::build::PrepareError>| match ran {
        Ok(mut finished) => {
            finished.identity.submitted = identity.submitted;
            finished.identity.dispatched = identity.dispatched;
            let mut build = result::build_record(&finished.identity, &finished.report);
            carry_over(&mut build, &template);
            (build, Some(finished))
        }
        Err(e) => {
            notices.warning(&e.0);
            (fail(BuildPhase::Provisioning, "CLIENT_ERROR", e.0), None)
        }
    };
    let live_sink = |log| Live {
        ledger: Ledger::new(CodeBuildLog::new(log), began.wall),
        recorder,
        identity: identity.clone(),
        template: template.clone(),
        start: began.wall,
    };
    if let Some(of) = &row.request.pipeline {
        // A pipeline action's build: its request was made by the execution (its inputs are the
        // execution's artifacts); what this server allows is applied again here.
        let Some(prepared) = service.pipeline_runs.take_prepared(&of.key) else {
            return fail(
                BuildPhase::Provisioning,
                "CLIENT_ERROR",
                format!(
                    "this build of the action {} of pipeline {} has no execution waiting for it (the server restarted, or the execution ended); it runs only inside its pipeline's execution",
                    of.action, of.pipeline
                ),
            );
        };
        let mut req = prepared.request;
        req.host_isolation =
            image.is_none().then(|| crate::build::HostIsolation { user: service.builds.build_user.clone() });
        req.image = image;
        req.docker = service.builds.docker;
        req.docker_sidecar_image = service.builds.docker_sidecar_image.clone();
        req.docker_host_allowed = service.builds.docker_host_allowed;
        req.own_network = true;
        req.no_limits = service.builds.no_limits;
        req.aws_credentials = service.builds.aws_credentials;
        req.timeout = timeout;
        req.started = Some(began);
        req.lease = recorder.lease();
        req.uuid = Some(uuid.clone());
        req.build_number = Some(row.number);
        req.project_name = row.project.clone();
        req.initiator = Some(identity.initiator.clone());
        let (build, finished) =
            finish(runtime.block_on(crate::build::run(req, live_sink(log), stop, &notices)));
        if let Some(f) = finished {
            let _ = prepared.done.send(f);
        }
        return build;
    }
    // Sources are fetched outside the state directory (which builds never reach), into a
    // directory of this build's own, removed when it ends.
    let fetched = match tempfile::Builder::new().prefix("runspec-src-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            return fail(
                BuildPhase::Provisioning,
                "CLIENT_ERROR",
                format!("cannot make the build's source directory: {e}"),
            );
        }
    };
    if service.builds.build_user.is_some() {
        // The build user reaches its source through it (and lists nothing).
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(fetched.path(), std::fs::Permissions::from_mode(0o711));
    }
    let sources = fetched.path().join("src");
    let secondary_dir = fetched.path().join("secondary");
    let prepared = runtime.block_on(async {
        let mut fetch_stop =
            crate::exec::Stop::since(began.clock, timeout, stop.clone()).with_lease(recorder.lease());
        let spec = request::source(effective).map_err(FetchError::Failed)?;
        let cache_dir = super::fetch::source_cache_dir(effective, &row.project);
        let mut notes = Vec::new();
        let primary = super::fetch::prepare(
            spec,
            &sources,
            &service.policy,
            cache_dir.as_deref(),
            &mut notes,
            &mut fetch_stop,
        )
        .await?;
        let secondary = super::fetch::prepare_secondary(
            effective,
            &secondary_dir,
            &service.policy,
            cache_dir.as_deref(),
            &mut notes,
            &mut fetch_stop,
        )
        .await?;
        Ok::<_, FetchError>((primary, secondary, notes))
    });
    let ((primary, mount), secondary, source_notes) = match prepared {
        Ok(p) => p,
        Err(e) => return fetch_failed(&identity, &template, began.wall, e),
    };
    for field in project.ignored.iter().filter(|f| !SERVICE_FIELDS.contains(&f.as_str())) {
        notices.warning(&format!("project field `{field}` is not supported by runspec yet and is ignored"));
    }
    let artifacts = match crate::build::artifact_settings(None, &project, &notices) {
        Ok(a) => a,
        Err(e) => return fail(BuildPhase::Provisioning, "CLIENT_ERROR", e.0),
    };
    let req = BuildRequest {
        primary,
        secondary,
        mount_source: mount,
        source_notes,
        project_name: row.project.clone(),
        timeout,
        started: Some(began),
        lease: recorder.lease(),
        image: image.clone(),
        host_isolation: image
            .is_none()
            .then(|| crate::build::HostIsolation { user: service.builds.build_user.clone() }),
        privileged: project.privileged,
        docker: service.builds.docker,
        docker_sidecar_image: service.builds.docker_sidecar_image.clone(),
        docker_host_allowed: service.builds.docker_host_allowed,
        own_network: true,
        no_limits: service.builds.no_limits,
        artifacts,
        project,
        uuid: Some(uuid.clone()),
        build_number: Some(row.number),
        aws_credentials: service.builds.aws_credentials,
        initiator: Some(identity.initiator.clone()),
        webhook: row.request.webhook.clone(),
        ..Default::default()
    };
    let ran = runtime.block_on(crate::build::run(req, live_sink(log), stop, &notices));
    drop(fetched);
    finish(ran).0
}
