//! The queue: QUEUED builds start in submission order while fewer than `--concurrency` builds
//! run and the project is under its `concurrentBuildLimit`; a build queued longer than its
//! `queuedTimeoutInMinutes` ends TIMED_OUT. Each build runs on a thread of its own (the engine
//! is single-threaded async), through the same [`crate::build::run`] as `runspec run`, with its
//! log in a file and its phases written to the store as they change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use super::logs::{self, StampedLines};
use super::request::{self, SourceSpec};
use super::store::{BuildRow, Store};
use crate::build::{BuildRequest, Notices};
use crate::engine::events::{BuildEvent, EventSink};
use crate::engine::ledger::Ledger;
use crate::engine::{BuildPhase, BuildReport, PhaseRecord, Status};
use crate::exec::StopReason;
use crate::log::CodeBuildLog;
use crate::result::{self, BuildIdentity, Times};
use crate::source::FetchError;

/// How queued builds reach a machine and how a running one is reached. Here: threads of this
/// process ([`Service`]); a fleet ([`super::fleet`]) puts SQS and DynamoDB leases behind the
/// same calls.
pub trait Dispatch: Send + Sync {
    /// A build was queued: hand it to a machine.
    fn submitted(&self, id: &str);
    /// Something changed (a build ended): look at the queue.
    fn wake(&self);
    /// Whether the build is running (here, or on any worker of the fleet).
    fn is_running(&self, id: &str) -> bool;
    /// Asks a running build to stop (its commands' process groups are killed, it ends
    /// STOPPED); `false` when it is not running.
    fn stop(&self, id: &str) -> bool;
}

impl Dispatch for Service {
    fn submitted(&self, id: &str) {
        match &self.fleet {
            Some(fleet) => fleet.submitted(id),
            None => self.wake.notify_one(),
        }
    }

    fn wake(&self) {
        self.wake.notify_one();
    }

    fn is_running(&self, id: &str) -> bool {
        match &self.fleet {
            Some(fleet) => fleet.is_running(id),
            None => self.running().contains_key(id),
        }
    }

    fn stop(&self, id: &str) -> bool {
        if let Some(fleet) = &self.fleet {
            return fleet.stop(id);
        }
        match self.running().get(id) {
            Some(r) => {
                let _ = r.stop.send(true);
                true
            }
            None => false,
        }
    }
}

/// Where a running build's progress and end are written: the store here; on a worker, the
/// store under the worker's lease (a write that is refused stops the build).
pub trait Recorder: Send + Sync {
    fn record(&self, id: &str, status: &str, build: &Value);

    /// The lease the build runs under, when a worker holds it: past it the build stops.
    fn lease(&self) -> Option<Arc<crate::exec::LeaseClock>> {
        None
    }
}

/// Writes straight to the store (one machine: nobody else can hold the build).
pub struct StoreRecorder<'a>(pub &'a dyn Store);

impl Recorder for StoreRecorder<'_> {
    fn record(&self, id: &str, status: &str, build: &Value) {
        if let Err(e) = self.0.update_build(id, status, build) {
            tracing::warn!("cannot record the progress of {id}: {e}");
        }
    }
}

/// What the queue and the running builds share with the API.
pub struct Service {
    pub store: Arc<dyn Store>,
    pub state_dir: PathBuf,
    pub concurrency: usize,
    pub region: String,
    pub account: String,
    /// Run every build on this machine's shell, whatever image its project names.
    pub host: bool,
    /// Builds get the server's AWS credentials (masked in their logs).
    pub aws_credentials: bool,
    /// Many machines: the shared queue and leases (`None`: builds run in this process).
    pub fleet: Option<Arc<super::fleet::Fleet>>,
    /// Which directories of this machine sources may be read from.
    pub policy: crate::source::Policy,
    /// The user host builds run as (`--build-user`); `None`: the server's own.
    pub build_user: Option<String>,
    wake: Notify,
    running: Mutex<HashMap<String, Running>>,
    batch_stops: super::batches::Stops,
}

struct Running {
    project: String,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        state_dir: PathBuf,
        concurrency: usize,
        region: String,
        account: String,
        host: bool,
    ) -> Service {
        Service {
            store,
            state_dir,
            concurrency,
            region,
            account,
            host,
            aws_credentials: false,
            fleet: None,
            policy: crate::source::Policy::default(),
            build_user: None,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            batch_stops: Default::default(),
        }
    }

    /// The stop flags of the batches coordinated here.
    pub fn batch_stops(&self) -> &super::batches::Stops {
        &self.batch_stops
    }

    /// At start-up: batches whose coordinator went away with the server end FAULT (their
    /// running children were ended FAULT by [`Self::recover`]).
    pub fn recover_batches(&self) -> Result<usize, super::store::StoreError> {
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

    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    /// The log file of a build's stream, up to date: a fleet's logs are brought in from the
    /// shared store first, so any server reads any build's log while it runs.
    pub fn log_file(&self, stream: &str) -> Result<PathBuf, super::store::StoreError> {
        let path = logs::path(&self.logs_dir(), stream);
        if let Some(fleet) = &self.fleet {
            fleet.sync_log(&path, stream)?;
        }
        Ok(path)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn running_count(&self) -> usize {
        self.running().len()
    }

    /// Stops every running build and waits for each to record how it ended.
    pub fn stop_all(&self) {
        let threads: Vec<_> = {
            let mut running = self.running();
            running
                .values_mut()
                .filter_map(|r| {
                    let _ = r.stop.send(true);
                    r.thread.take()
                })
                .collect()
        };
        for t in threads {
            let _ = t.join();
        }
    }

    /// Runs the queue until the process ends.
    pub async fn dispatch(self: Arc<Self>) {
        loop {
            if let Err(e) = self.start_what_fits() {
                tracing::error!("the queue: {e}");
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
        }
    }

    fn start_what_fits(self: &Arc<Self>) -> Result<(), super::store::StoreError> {
        let now = super::store::now_s();
        for row in self.store.unfinished()? {
            if self.is_running(&row.id) || row.build["currentPhase"] != "QUEUED" {
                continue;
            }
            let project = self.store.project(&row.project)?.unwrap_or(Value::Null);
            let effective = request::effective_project(&project, &row.request).unwrap_or(project);
            let queued_limit = effective["queuedTimeoutInMinutes"].as_f64().unwrap_or(480.0);
            if now - row.submitted > super::queue_seconds(queued_limit) {
                self.end_queued(
                    &row,
                    Status::TimedOut,
                    "BUILD_TIMED_OUT",
                    "Build has timed out while queued",
                )?;
                continue;
            }
            if self.running_count() >= self.concurrency {
                break;
            }
            let limit = effective["concurrentBuildLimit"].as_u64().map(|l| l as usize);
            let same = self.running().values().filter(|r| r.project == row.project).count();
            if limit.is_some_and(|l| same >= l) {
                continue;
            }
            self.start(row, effective)?;
        }
        Ok(())
    }

    /// Ends a build that never left the queue (stopped, or timed out there); `None` when a
    /// worker of the fleet claimed it meanwhile.
    pub fn end_queued(
        &self,
        row: &BuildRow,
        status: Status,
        code: &str,
        message: &str,
    ) -> Result<Option<Value>, super::store::StoreError> {
        let submitted = from_s(row.submitted);
        let mut report = BuildReport::in_progress(submitted, (BuildPhase::Queued, submitted));
        report.status = status;
        report.current = None;
        report.end = SystemTime::now();
        let _ = (code, message);
        let mut identity = identity_of(row, &row.build);
        identity.submitted = Some(submitted);
        let mut build = result::build_json_with(&identity, &report, Times::Epoch);
        carry_over(&mut build, &row.build);
        if let Some(queued) = build["phases"].as_array_mut().and_then(|p| p.get_mut(1)) {
            queued["contexts"] = json!([{"statusCode": code, "message": message}]);
        }
        Ok(self.store.end_unclaimed(&row.id, status.as_str(), &build)?.then_some(build))
    }

    fn start(self: &Arc<Self>, row: BuildRow, effective: Value) -> Result<(), super::store::StoreError> {
        let (identity, build) = provisioning(&row);
        self.store.update_build(&row.id, "IN_PROGRESS", &build)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let service = Arc::clone(self);
        let id = row.id.clone();
        let project = row.project.clone();
        // The entry exists before the thread can end and remove it.
        let mut running = self.running();
        let thread = std::thread::Builder::new().name(format!("build {id}")).stack_size(BUILD_STACK).spawn(
            move || {
                let recorder = StoreRecorder(&*service.store);
                let final_build = execute(&service, &row, &effective, identity, build, stop_rx, &recorder);
                let status = final_build["buildStatus"].as_str().unwrap_or("FAULT").to_string();
                let recorded = service.store.update_build(&row.id, &status, &final_build);
                if let Err(e) = &recorded {
                    tracing::error!("cannot record the end of {}: {e}", row.id);
                }
                service.running().remove(&row.id);
                if recorded.is_ok() {
                    super::api::auto_retry(&service, &row, &final_build);
                }
                service.wake();
            },
        );
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

    /// At start-up: builds that were running when the server went away end FAULT (their
    /// process is gone); queued ones stay queued.
    pub fn recover(&self) -> Result<usize, super::store::StoreError> {
        let mut ended = 0;
        for row in self.store.unfinished()? {
            if row.build["currentPhase"] == "QUEUED" {
                continue;
            }
            let phase = row.build["currentPhase"].as_str().unwrap_or("PROVISIONING").to_string();
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
/// FAULT with `code` and `message`, and the build ends FAULT.
pub fn ended_in_flight(row: &BuildRow, code: &str, message: &str) -> Value {
    let mut build = row.build.clone();
    let now = super::store::now_s();
    if let Some(last) = build["phases"].as_array_mut().and_then(|p| p.last_mut()) {
        let start = last["startTime"].as_f64().unwrap_or(row.submitted);
        last["phaseStatus"] = json!("FAULT");
        last["endTime"] = json!(now);
        last["durationInSeconds"] = json!((now - start).max(0.0) as u64);
        last["contexts"] = json!([{"statusCode": code, "message": message}]);
    }
    if let Some(phases) = build["phases"].as_array_mut() {
        phases.push(json!({"phaseType": "COMPLETED", "startTime": now}));
    }
    build["buildStatus"] = json!("FAULT");
    build["currentPhase"] = json!("COMPLETED");
    build["buildComplete"] = json!(true);
    build["endTime"] = json!(now);
    build
}

/// A batch whose coordinator went away: its current phase ends FAULT with `code` and `message`.
pub fn ended_batch(batch: &Value, code: &str, message: &str) -> Value {
    let mut b = batch.clone();
    let now = json!(super::store::now_s());
    if let Some(phases) = b["phases"].as_array_mut() {
        if let Some(last) = phases.last_mut() {
            last["phaseStatus"] = json!("FAULT");
            last["endTime"] = now.clone();
            last["contexts"] = json!([{"statusCode": code, "message": message}]);
        }
        phases.push(json!({"phaseType": "FAILED", "startTime": now.clone()}));
    }
    b["buildBatchStatus"] = json!("FAULT");
    b["currentPhase"] = json!("FAILED");
    b["complete"] = json!(true);
    b["endTime"] = now;
    b
}

/// A build leaving the queue: its identity, and its object in PROVISIONING.
pub fn provisioning(row: &BuildRow) -> (BuildIdentity, Value) {
    let identity = BuildIdentity {
        submitted: Some(from_s(row.submitted)),
        dispatched: Some(SystemTime::now()),
        ..identity_of(row, &row.build)
    };
    let mut build = result::build_json_with(
        &identity,
        &BuildReport::in_progress(
            from_s(row.submitted),
            (BuildPhase::Provisioning, identity.dispatched.unwrap_or_else(SystemTime::now)),
        ),
        Times::Epoch,
    );
    carry_over(&mut build, &row.build);
    (identity, build)
}

/// Runs a build that left the queue, start to end, on this thread; its progress goes to
/// `recorder`, and its final `Build` object is returned (not written). A panic ends it FAULT.
pub fn execute(
    service: &Service,
    row: &BuildRow,
    effective: &Value,
    identity: BuildIdentity,
    template: Value,
    stop: watch::Receiver<bool>,
    recorder: &dyn Recorder,
) -> Value {
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

/// The image name that means "this machine's shell" (what `runspec run` records for a host build).
pub const HOST_IMAGE: &str = "runspec/host";

fn from_s(s: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0))
}

/// The identity the writer needs, from the stored build object.
fn identity_of(row: &BuildRow, build: &Value) -> BuildIdentity {
    BuildIdentity {
        id: row.id.clone(),
        arn: build["arn"].as_str().unwrap_or_default().to_string(),
        project: row.project.clone(),
        build_number: Some(row.number),
        initiator: build["initiator"].as_str().unwrap_or("runspec").to_string(),
        source_version: build["resolvedSourceVersion"].as_str().map(str::to_string),
        image: build["environment"]["image"].as_str().unwrap_or("runspec/host").to_string(),
        privileged: build["environment"]["privilegedMode"].as_bool().unwrap_or(false),
        timeout_minutes: build["timeoutInMinutes"].as_f64(),
        environment_variables: build["environment"]["environmentVariables"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                (
                    v["name"].as_str().unwrap_or_default().to_string(),
                    v["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        submitted: None,
        dispatched: None,
    }
}

/// Fields the service sets at submission that the writer does not know: the source, the
/// source version asked for, logs, queue timeout.
pub fn carry_over(build: &mut Value, from: &Value) {
    for key in [
        "source",
        "secondarySources",
        "sourceVersion",
        "logs",
        "queuedTimeoutInMinutes",
        "serviceRole",
        "buildBatchArn",
        "autoRetryConfig",
        "secondarySourceVersions",
        "cache",
    ] {
        if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
            build[key] = v.clone();
        }
    }
    if build.get("resolvedSourceVersion").is_none()
        && let Some(v) = from.get("resolvedSourceVersion")
    {
        build["resolvedSourceVersion"] = v.clone();
    }
    if let Some(env) = from.get("environment").filter(|e| e.is_object()) {
        for key in ["type", "computeType", "image", "environmentVariables", "privilegedMode"] {
            if let Some(v) = env.get(key) {
                build["environment"][key] = v.clone();
            }
        }
    }
}

/// A build that ended before the engine ran (its source could not be fetched, its image not
/// prepared): that phase failed with `code` and `message`.
fn failed_build(
    identity: &BuildIdentity,
    template: &Value,
    phase: BuildPhase,
    status: Status,
    code: &str,
    message: &str,
) -> Value {
    let now = SystemTime::now();
    let started = identity.dispatched.unwrap_or(now);
    let report = BuildReport {
        status,
        start: started,
        end: now,
        phases: vec![PhaseRecord {
            phase,
            status,
            start: started,
            end: now,
            contexts: vec![(code.to_string(), message.to_string())],
            continued: false,
        }],
        exported: Vec::new(),
        artifacts: None,
        secondary_artifacts: Vec::new(),
        images: Vec::new(),
        current: None,
    };
    let mut build = result::build_json_with(identity, &report, Times::Epoch);
    carry_over(&mut build, template);
    build
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
    template: Value,
    start: SystemTime,
}

impl EventSink for Live<'_> {
    fn event(&mut self, event: BuildEvent<'_>) {
        let changed = matches!(event, BuildEvent::PhaseEntered(_) | BuildEvent::PhaseCompleted { .. });
        self.ledger.event(event);
        if changed {
            let mut build =
                result::build_json_with(&self.identity, &self.ledger.snapshot(self.start), Times::Epoch);
            carry_over(&mut build, &self.template);
            self.recorder.record(&self.identity.id, "IN_PROGRESS", &build);
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        self.ledger.output(bytes);
    }
}

/// A build thread's stack. The buildspec parser bounds nesting (see
/// [`crate::buildspec::yaml`]), so no input needs more; this is the room the engine, the
/// Docker client and the AWS SDK need with a margin.
pub const BUILD_STACK: usize = 16 << 20;

/// How a build that could not get its sources ends.
fn fetch_failed(identity: &BuildIdentity, template: &Value, e: FetchError) -> Value {
    let (status, code, message) = match e {
        FetchError::Failed(m) => (Status::Failed, "CLIENT_ERROR", m),
        FetchError::Stopped(StopReason::Stopped) => {
            (Status::Stopped, "BUILD_STOPPED", "Build was stopped".into())
        }
        FetchError::Stopped(StopReason::TimedOut) => {
            (Status::TimedOut, "BUILD_TIMED_OUT", "Build has timed out".into())
        }
    };
    failed_build(identity, template, BuildPhase::DownloadSource, status, code, &message)
}

/// One build, start to end; returns its final `Build` object.
fn run_one(
    service: &Service,
    row: &BuildRow,
    effective: &Value,
    identity: BuildIdentity,
    template: Value,
    stop: watch::Receiver<bool>,
    recorder: &dyn Recorder,
) -> Value {
    let uuid = result::uuid_of(&row.id).to_string();
    let log_path = logs::path(&service.logs_dir(), &uuid);
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
    let project = match crate::project::parse(&effective.to_string()) {
        Ok(p) => p,
        Err(e) => return fail(BuildPhase::Provisioning, "CLIENT_ERROR", format!("the project: {e}")),
    };
    // CodeBuild's timeout covers the whole build, DOWNLOAD_SOURCE included.
    let timeout = Some(Duration::from_secs(project.timeout_minutes.unwrap_or(60).saturating_mul(60)));
    let started = tokio::time::Instant::now();
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
    if service.build_user.is_some() {
        // The build user reaches its source through it (and lists nothing).
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(fetched.path(), std::fs::Permissions::from_mode(0o711));
    }
    let sources = fetched.path().join("src");
    let secondary_dir = fetched.path().join("secondary");
    let cleanup = || {
        let _ = std::fs::remove_dir_all(fetched.path());
    };
    let prepared = runtime.block_on(async {
        let _guard = runtime.enter();
        let mut fetch_stop =
            crate::exec::Stop::since(started, timeout, stop.clone()).with_lease(recorder.lease());
        let spec = request::source(effective).map_err(FetchError::Failed)?;
        let primary = prepare(spec, &sources, &service.policy, &mut fetch_stop).await?;
        let secondary =
            prepare_secondary(effective, &secondary_dir, &service.policy, &mut fetch_stop).await?;
        Ok::<_, FetchError>((primary, secondary))
    });
    let ((primary, mount), secondary) = match prepared {
        Ok(p) => p,
        Err(e) => {
            cleanup();
            return fetch_failed(&identity, &template, e);
        }
    };
    // The compute type is recorded in the build, as CodeBuild does; it picks no machine here.
    for field in project.ignored.iter().filter(|f| *f != "environment.computeType") {
        notices.warning(&format!("project field `{field}` is not supported by runspec yet and is ignored"));
    }
    let artifacts = match crate::build::artifact_settings(None, &project, &notices) {
        Ok(a) => a,
        Err(e) => return fail(BuildPhase::Provisioning, "CLIENT_ERROR", e.0),
    };
    let image = project.image.clone().filter(|i| i != HOST_IMAGE && !service.host);
    let req = BuildRequest {
        primary,
        secondary,
        mount_source: mount,
        project_name: row.project.clone(),
        timeout,
        started: Some(started),
        lease: recorder.lease(),
        image: image.clone(),
        host_isolation: image
            .is_none()
            .then(|| crate::build::HostIsolation { user: service.build_user.clone() }),
        privileged: project.privileged,
        artifacts,
        project,
        uuid: Some(uuid.clone()),
        build_number: Some(row.number),
        aws_credentials: service.aws_credentials,
        initiator: Some(identity.initiator.clone()),
        ..Default::default()
    };
    let live = Live {
        ledger: Ledger::new(CodeBuildLog::new(log)),
        recorder,
        identity: identity.clone(),
        template: template.clone(),
        start: SystemTime::now(),
    };
    let ran = runtime.block_on(crate::build::run(req, live, stop, &notices));
    cleanup();
    match ran {
        Ok(mut finished) => {
            finished.identity.submitted = identity.submitted;
            finished.identity.dispatched = identity.dispatched;
            let mut build = result::build_json_with(&finished.identity, &finished.report, Times::Epoch);
            carry_over(&mut build, &template);
            build
        }
        Err(e) => {
            notices.warning(&e.0);
            fail(BuildPhase::Provisioning, "CLIENT_ERROR", e.0)
        }
    }
}

/// DOWNLOAD_BATCHSPEC: the buildspec of a batch, read from its source fetched once, under the
/// batch's deadline and `stop`.
pub fn read_batchspec(
    service: &Service,
    effective: &Value,
    timeout: Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<crate::buildspec::Buildspec, FetchError> {
    let scratch = tempfile::Builder::new()
        .prefix("runspec-batchspec-")
        .tempdir()
        .map_err(|e| FetchError::Failed(format!("cannot make a directory for the batch's source: {e}")))?;
    let dir = scratch.path().join("src");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Failed(e.to_string()))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let fetched = runtime.block_on(async {
        let mut deadline = crate::exec::Stop::new(Some(timeout), stop_rx);
        let fetch = async {
            let spec = request::source(effective).map_err(FetchError::Failed)?;
            prepare(spec, &dir, &service.policy, &mut deadline).await
        };
        // The coordinator's stop flag (StopBuildBatch), looked at as the build threads do.
        let watch_flag = async {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = stop_tx.send(true);
            std::future::pending::<Result<(PathBuf, bool), FetchError>>().await
        };
        tokio::select! {
            fetched = fetch => fetched,
            never = watch_flag => never,
        }
    });
    let read = fetched.and_then(|(src, _): (PathBuf, bool)| {
        let read = |path: &str| {
            crate::build::read_source_file(&src, path)
                .map_err(|e| FetchError::Failed(format!("cannot read the buildspec {path}: {e}")))
        };
        let given = effective["source"]["buildspec"].as_str().filter(|b| !b.is_empty());
        let (name, text) = match given {
            Some(inline) if inline.contains('\n') => ("buildspec".to_string(), inline.to_string()),
            Some(path) => (path.to_string(), read(path)?),
            None => ("buildspec.yml".to_string(), read("buildspec.yml")?),
        };
        let parsed = crate::buildspec::parse(&name, &text);
        parsed.buildspec.ok_or_else(|| {
            FetchError::Failed(
                parsed.diagnostics.codebuild_message().unwrap_or_else(|| "invalid buildspec".into()),
            )
        })
    });
    drop(scratch);
    read
}

/// A source on this machine: the directory and whether to build in it (a clone or download
/// made for this build is used in place; a LOCAL directory is copied).
async fn prepare(
    spec: SourceSpec,
    dir: &Path,
    policy: &crate::source::Policy,
    stop: &mut crate::exec::Stop,
) -> Result<(PathBuf, bool), FetchError> {
    match spec {
        SourceSpec::None => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot make the source directory: {e}"))?;
            Ok((dir.to_path_buf(), true))
        }
        SourceSpec::Local(path) => Ok((policy.local_dir(&path)?, false)),
        SourceSpec::Git { location, version, depth } => {
            crate::source::git::clone(&location, version.as_ref(), depth, dir, policy, stop).await?;
            Ok((dir.to_path_buf(), true))
        }
        SourceSpec::S3 { bucket, key, version } => {
            crate::source::s3::fetch(&bucket, &key, version.as_deref(), dir, stop).await?;
            Ok((dir.to_path_buf(), true))
        }
    }
}

/// The secondary sources of an effective project, fetched under `dir`, each at its version
/// (`secondarySourcesVersionOverride`, else its own `sourceVersion`).
async fn prepare_secondary(
    effective: &Value,
    dir: &Path,
    policy: &crate::source::Policy,
    stop: &mut crate::exec::Stop,
) -> Result<Vec<crate::workspace::Source>, FetchError> {
    let mut out = Vec::new();
    for (id, spec) in request::secondary_sources(effective)? {
        let (path, _) = Box::pin(prepare(spec, &dir.join(&id), policy, stop)).await.map_err(|e| match e {
            FetchError::Failed(m) => FetchError::Failed(format!("secondary source {id}: {m}")),
            stopped => stopped,
        })?;
        out.push(crate::workspace::Source { id: Some(id), dir: path });
    }
    Ok(out)
}
