//! Pipeline executions on `runspec serve`: each on a thread of its own through the engine of
//! `runspec pipeline run` ([`crate::pipeline::runner`]), with what only a service has:
//!
//! - its builds go on the service's build queue ([`QueueBuilds`]): they wait for room under
//!   `--concurrency` and their project's `concurrentBuildLimit`, show among the builds with their
//!   logs, and StopBuild stops them. The request waits here, under a key the build row names,
//!   until the queue starts it ([`crate::serve::runner`]);
//! - sources come from the repositories the operator named (`--pipeline-source REPO=URL|DIR`), at
//!   the action's branch or the `sourceRevisions` of StartPipelineExecution; nothing a caller
//!   sends becomes a location;
//! - manual approvals wait for PutApprovalResult with their token (for the action's
//!   `timeoutInMinutes`, else 7 days, as CodePipeline's do);
//! - executions of one pipeline share its stages as its `executionMode` says ([`Gate`]): one
//!   execution in a stage at a time, the others waiting in order (QUEUED) or only the newest
//!   waiting, the older ones Superseded (SUPERSEDED, the default); PARALLEL ones never wait;
//! - the execution's record is written as it runs ([`ExecutionRow`]): GetPipelineState,
//!   GetPipelineExecution and ListActionExecutions read it.
//!
//! The artifact store of an execution is a temporary directory outside the state directory
//! (builds never reach the server's state), removed when the execution ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::request::{PipelineOf, Started};
use super::service::{Result, Service, ServiceError};
use super::store::{ExecutionRow, PipelineRow, now_s};
use crate::build::{BuildRequest, Finished};
use crate::pipeline::execution::{ActionRun, action_detail};
use crate::pipeline::fetch::Input;
use crate::pipeline::runner::{Approve, Builds, Entry, Event, Observer, Options, StageGate};
use crate::shapes::codebuild as cb;
use crate::shapes::codepipeline as cp;

/// How long a manual approval waits for its answer when its action names no
/// `timeoutInMinutes` (CodePipeline: 7 days).
const APPROVAL_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// runspec's bounds on executions in progress (each is a thread here, most of them waiting):
/// per pipeline, and on the whole server. CodePipeline states no such quota.
const MAX_RUNNING_PER_PIPELINE: usize = 50;
const MAX_RUNNING: usize = 500;

/// How long a build that ended without its result may take to record its end.
const RECORD_WAIT: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn named(kind: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Named(kind, message.into())
}

/// A pipeline build's request, waiting for the queue to start it.
pub struct Prepared {
    pub request: BuildRequest,
    /// Where its end goes (the action's thread waits on it).
    pub done: mpsc::SyncSender<Finished>,
}

/// An approval's answer: approved, its summary, who gave it.
type Answer = (bool, String);

/// The executions running in this process, and the builds they wait for.
#[derive(Default)]
pub struct Runs {
    running: Mutex<HashMap<String, Running>>,
    prepared: Mutex<HashMap<String, Prepared>>,
    /// Each pipeline's stage locks.
    locks: Mutex<HashMap<String, Arc<Locks>>>,
}

/// The stages of one pipeline: who is in each, who waits for it (oldest first).
#[derive(Default)]
struct Locks {
    stages: Mutex<HashMap<String, StageQueue>>,
    changed: Condvar,
}

#[derive(Default)]
struct StageQueue {
    occupant: Option<String>,
    waiting: VecDeque<String>,
}

/// How a pipeline's executions share its stages (`executionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Queued,
    Superseded,
    Parallel,
}

/// One execution's way into its pipeline's stages.
struct Gate {
    locks: Arc<Locks>,
    execution: String,
    mode: Mode,
}

impl StageGate for Gate {
    fn enter(&self, stage: &str, stop: &watch::Receiver<bool>) -> Entry {
        if self.mode == Mode::Parallel {
            return Entry::Entered;
        }
        let me = &self.execution;
        let mut stages = lock(&self.locks.stages);
        stages.entry(stage.to_string()).or_default().waiting.push_back(me.clone());
        loop {
            let q = stages.entry(stage.to_string()).or_default();
            let leave = |q: &mut StageQueue| q.waiting.retain(|w| w != me);
            if *stop.borrow() {
                leave(q);
                self.locks.changed.notify_all();
                return Entry::Stopped;
            }
            if self.mode == Mode::Superseded && q.waiting.back() != Some(me) {
                leave(q);
                self.locks.changed.notify_all();
                return Entry::Superseded;
            }
            if q.occupant.is_none() && q.waiting.front() == Some(me) {
                q.waiting.pop_front();
                q.occupant = Some(me.clone());
                return Entry::Entered;
            }
            // A stop is seen within the timeout (it does not notify this condition).
            stages = self
                .locks
                .changed
                .wait_timeout(stages, Duration::from_millis(250))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn leave(&self, stage: &str) {
        let mut stages = lock(&self.locks.stages);
        if let Some(q) = stages.get_mut(stage)
            && q.occupant.as_ref() == Some(&self.execution)
        {
            q.occupant = None;
        }
        self.locks.changed.notify_all();
    }
}

impl Gate {
    /// Whatever the execution holds or waits for, once it ended (however it ended).
    fn release_all(&self) {
        let mut stages = lock(&self.locks.stages);
        for q in stages.values_mut() {
            if q.occupant.as_ref() == Some(&self.execution) {
                q.occupant = None;
            }
            q.waiting.retain(|w| *w != self.execution);
        }
        self.locks.changed.notify_all();
    }
}

struct Running {
    pipeline: String,
    stop: watch::Sender<bool>,
    approvals: Arc<Approvals>,
    /// Asked to stop, with StopPipelineExecution's reason.
    stopping: Option<String>,
}

/// The approvals of one execution that wait, by token.
#[derive(Default)]
struct Approvals {
    waiting: Mutex<HashMap<String, Option<Answer>>>,
    changed: Condvar,
}

impl Runs {
    /// The request of a pipeline build the queue starts (once).
    pub fn take_prepared(&self, key: &str) -> Option<Prepared> {
        lock(&self.prepared).remove(key)
    }

    pub fn is_running(&self, execution: &str) -> bool {
        lock(&self.running).contains_key(execution)
    }

    /// Asks a running execution to stop; `false` when it is not running here.
    pub fn stop(&self, execution: &str, reason: &str) -> bool {
        match lock(&self.running).get_mut(execution) {
            Some(r) => {
                r.stopping = Some(reason.to_string());
                let _ = r.stop.send(true);
                r.approvals.changed.notify_all();
                true
            }
            None => false,
        }
    }

    /// Why the execution was asked to stop, once it was.
    fn stopping(&self, execution: &str) -> Option<String> {
        lock(&self.running).get(execution).and_then(|r| r.stopping.clone())
    }

    /// Stops every execution of `pipeline`.
    pub fn stop_pipeline(&self, pipeline: &str) {
        for r in lock(&self.running).values().filter(|r| r.pipeline == pipeline) {
            let _ = r.stop.send(true);
            r.approvals.changed.notify_all();
        }
    }

    /// Gives an approval its answer; `false` when no approval of that token waits.
    pub fn answer(&self, execution: &str, token: &str, answer: Answer) -> bool {
        let running = lock(&self.running);
        let Some(r) = running.get(execution) else { return false };
        let mut waiting = lock(&r.approvals.waiting);
        match waiting.get_mut(token) {
            Some(slot @ None) => {
                *slot = Some(answer);
                r.approvals.changed.notify_all();
                true
            }
            _ => false,
        }
    }
}

/// StartPipelineExecution: checks what the execution needs, records it InProgress and starts it
/// on a thread of its own; its id.
pub fn start(
    service: &Arc<Service>,
    pipeline: PipelineRow,
    input: &cp::StartPipelineExecutionInput,
    caller: &str,
) -> Result<String> {
    if service.fleet.is_some() {
        return Err(named(
            "ValidationException",
            "pipeline executions run on a server without --store/--queue (a fleet's servers do not run them yet)",
        ));
    }
    let declaration = pipeline.declaration;
    {
        let running = lock(&service.pipeline_runs.running);
        let of_this = running.values().filter(|r| r.pipeline == declaration.name).count();
        if of_this >= MAX_RUNNING_PER_PIPELINE || running.len() >= MAX_RUNNING {
            return Err(named(
                "LimitExceededException",
                format!(
                    "too many executions in progress ({of_this} of this pipeline, {} on the server; runspec runs at most {MAX_RUNNING_PER_PIPELINE} a pipeline and {MAX_RUNNING} in all): stop one or wait for one to end",
                    running.len()
                ),
            ));
        }
    }
    let sources = sources(service, &declaration, input.source_revisions.as_deref().unwrap_or_default())?;
    let projects = projects(service, &declaration)?;
    let variables: Vec<(String, String)> =
        input.variables.iter().flatten().map(|v| (v.name.clone(), v.value.clone())).collect();
    // A variable without a default must be given (CodePipeline refuses the start).
    crate::pipeline::runner::pipeline_variables(&declaration, &variables)
        .map_err(|e| named("ValidationException", e.0.replace("--variable ", "variables ")))?;
    let mode = match declaration.execution_mode.as_deref() {
        Some("QUEUED") => Mode::Queued,
        Some("PARALLEL") => Mode::Parallel,
        _ => Mode::Superseded,
    };
    let locks = Arc::clone(lock(&service.pipeline_runs.locks).entry(declaration.name.clone()).or_default());
    let id = uuid::Uuid::new_v4().to_string();
    let gate = Arc::new(Gate { locks, execution: id.clone(), mode });
    let store = tempfile::Builder::new()
        .prefix("runspec-pipeline-")
        .tempdir()
        .map_err(|e| ServiceError::Failed(format!("cannot make the execution's artifact store: {e}")))?;
    let now = now_s();
    let trigger = ("StartPipelineExecution".to_string(), caller.to_string());
    let row = ExecutionRow {
        pipeline: declaration.name.clone(),
        id: id.clone(),
        status: "InProgress".into(),
        started: now,
        execution: cp::PipelineExecution {
            pipeline_name: Some(declaration.name.clone()),
            pipeline_version: declaration.version,
            pipeline_execution_id: Some(id.clone()),
            status: Some("InProgress".into()),
            trigger: Some(cp::ExecutionTrigger {
                trigger_type: Some(trigger.0.clone()),
                trigger_detail: Some(trigger.1.clone()),
            }),
            execution_mode: Some(declaration.execution_mode.clone().unwrap_or_else(|| "SUPERSEDED".into())),
            execution_type: Some("STANDARD".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    service.store.put_execution(&row)?;
    let mut template = BuildRequest { own_network: true, ..Default::default() };
    template.docker = service.builds.docker;
    template.no_limits = service.builds.no_limits;
    template.aws_credentials = service.builds.aws_credentials;
    let options = Options {
        sources,
        projects,
        codebuild_endpoint: None,
        variables,
        approve: Approve::Ask,
        deploy: service.builds.pipeline_deploy,
        task_definitions: BTreeMap::new(),
        store: store.path().to_path_buf(),
        from: None,
        to: None,
        here: store.path().to_path_buf(),
        template,
        host: service.builds.host,
        execution_id: Some(id.clone()),
        trigger,
        builds: Some(Arc::new(QueueBuilds {
            service: Arc::clone(service),
            pipeline: declaration.name.clone(),
            execution: id.clone(),
        })),
        gate: Some(Arc::clone(&gate) as Arc<dyn StageGate>),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let approvals = Arc::new(Approvals::default());
    lock(&service.pipeline_runs.running).insert(
        id.clone(),
        Running {
            pipeline: declaration.name.clone(),
            stop: stop_tx,
            approvals: Arc::clone(&approvals),
            stopping: None,
        },
    );
    let runner = Arc::clone(service);
    let thread_id = id.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("pipeline {id}"))
        .stack_size(super::BUILD_STACK)
        .spawn(move || {
            let live = Live {
                service: &runner,
                declaration: &declaration,
                row: Mutex::new(row),
                approvals,
                stop: stop_rx.clone(),
            };
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::pipeline::runner::run(&declaration, &options, &live, stop_rx)
            }));
            gate.release_all();
            live.finish(ran);
            lock(&runner.pipeline_runs.running).remove(&thread_id);
            drop(store);
        });
    if let Err(e) = spawned {
        lock(&service.pipeline_runs.running).remove(&id);
        return Err(ServiceError::Failed(format!("cannot start the execution's thread: {e}")));
    }
    Ok(id)
}

/// Each git source action's repository as the operator named it, at its branch or the revision
/// StartPipelineExecution gives.
fn sources(
    service: &Service,
    declaration: &cp::PipelineDeclaration,
    revisions: &[cp::SourceRevisionOverride],
) -> Result<BTreeMap<String, Input>> {
    let mut out = BTreeMap::new();
    let actions: Vec<&cp::ActionDeclaration> = declaration.stages.iter().flat_map(|s| &s.actions).collect();
    for r in revisions {
        let Some(action) = actions.iter().find(|a| a.name == r.action_name) else {
            return Err(named(
                "ValidationException",
                format!("sourceRevisions: the pipeline has no action {}", r.action_name),
            ));
        };
        if action.action_type_id.category != "Source" {
            return Err(named(
                "ValidationException",
                format!("sourceRevisions: {} is not a source action", r.action_name),
            ));
        }
        if r.revision_type != "COMMIT_ID" {
            return Err(named(
                "ValidationException",
                format!("sourceRevisions: runspec serve takes COMMIT_ID revisions (not {})", r.revision_type),
            ));
        }
        crate::source::revision::Revision::parse(&r.revision_value).map_err(|e| {
            named("ValidationException", format!("sourceRevisions: `{}`: {e}", r.revision_value))
        })?;
    }
    for action in actions.iter().filter(|a| a.action_type_id.category == "Source") {
        let config = action.configuration.clone().unwrap_or_default();
        let repository = match action.action_type_id.provider.as_str() {
            "CodeCommit" => config.get("RepositoryName"),
            "CodeStarSourceConnection" => config.get("FullRepositoryId"),
            // S3 and ECR sources are read from AWS with the server's credentials.
            _ if service.builds.aws_credentials => continue,
            other => {
                return Err(named(
                    "ValidationException",
                    format!(
                        "the source action {} ({other}) reads AWS with the server's credentials, which this server keeps to itself (its operator can start it with --aws-credentials)",
                        action.name
                    ),
                ));
            }
        };
        let Some(repository) = repository else { continue };
        let Some(location) = service.builds.pipeline_sources.get(repository) else {
            return Err(named(
                "ValidationException",
                format!(
                    "the source action {} reads the repository {repository}, which this server does not know (its operator names it with --pipeline-source {repository}=GIT_URL|DIR)",
                    action.name
                ),
            ));
        };
        let revision = revisions
            .iter()
            .find(|r| r.action_name == action.name)
            .map(|r| r.revision_value.clone())
            .or_else(|| config.get("BranchName").cloned());
        if let Some(rev) = &revision {
            crate::source::revision::Revision::parse(rev).map_err(|e| {
                named("ValidationException", format!("the branch of {}: `{rev}`: {e}", action.name))
            })?;
        }
        out.insert(action.name.clone(), Input::Git { url: location.clone(), revision });
    }
    Ok(out)
}

/// The projects of the pipeline's CodeBuild actions, from the store: each must exist.
fn projects(
    service: &Service,
    declaration: &cp::PipelineDeclaration,
) -> Result<BTreeMap<String, crate::project::Project>> {
    let mut out = BTreeMap::new();
    for action in declaration.stages.iter().flat_map(|s| &s.actions) {
        if action.action_type_id.provider != "CodeBuild" {
            continue;
        }
        let Some(name) = action.configuration.as_ref().and_then(|c| c.get("ProjectName")) else { continue };
        let project = service.store.project(name)?.ok_or_else(|| {
            named(
                "ValidationException",
                format!(
                    "the action {} builds the project {name}, which does not exist: create it first",
                    action.name
                ),
            )
        })?;
        let parsed = crate::project::from_api(&project)
            .map_err(|e| named("ValidationException", format!("the project {name}: {e}")))?;
        out.insert(name.clone(), parsed);
    }
    Ok(out)
}

/// A pipeline's builds, through the service's queue.
struct QueueBuilds {
    service: Arc<Service>,
    pipeline: String,
    execution: String,
}

impl Builds for QueueBuilds {
    fn build(
        &self,
        action: &str,
        req: BuildRequest,
        stop: watch::Receiver<bool>,
    ) -> std::result::Result<Finished, String> {
        let service = &self.service;
        let name = req.project_name.clone();
        let mut input = cb::StartBuildInput {
            project_name: name.clone(),
            source_version: req.source_version.clone(),
            ..Default::default()
        };
        let project: cb::Project = match service.store.project(&name) {
            Ok(Some(p)) => p,
            // A Commands or ECRBuildAndPublish action's build has no project of its own (on AWS
            // it runs on CodePipeline's compute): the server's shell, as `runspec/host` builds
            // run here (only where the operator allows them).
            Ok(None) => {
                input.image_override =
                    Some(req.image.clone().unwrap_or_else(|| crate::build::HOST_IMAGE.into()));
                input.privileged_mode_override = Some(req.privileged);
                cb::Project {
                    name: Some(name.clone()),
                    source: Some(cb::ProjectSource { kind: "CODEPIPELINE".into(), ..Default::default() }),
                    ..Default::default()
                }
            }
            Err(e) => return Err(e.to_string()),
        };
        let key = uuid::Uuid::new_v4().to_string();
        let (done, ended) = mpsc::sync_channel(1);
        let start = Started {
            input,
            pipeline: Some(PipelineOf {
                pipeline: self.pipeline.clone(),
                execution: self.execution.clone(),
                action: action.to_string(),
                key: key.clone(),
            }),
            ..Default::default()
        };
        lock(&service.pipeline_runs.prepared).insert(key.clone(), Prepared { request: req, done });
        let initiator = format!("codepipeline/{}", self.pipeline);
        let row = match service.submit(&name, &project, start, None, &initiator) {
            Ok(row) => row,
            Err(e) => {
                service.pipeline_runs.take_prepared(&key);
                return Err(format!("{e:?}"));
            }
        };
        let id = row.id.clone();
        let mut stopped = false;
        let mut gone: Option<Instant> = None;
        loop {
            match gone {
                None => match ended.recv_timeout(Duration::from_millis(500)) {
                    Ok(finished) => return Ok(finished),
                    Err(mpsc::RecvTimeoutError::Disconnected) => gone = Some(Instant::now()),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                },
                Some(at) => {
                    if at.elapsed() > RECORD_WAIT {
                        return Err(format!("build {id} ended without recording how"));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            if *stop.borrow() && !stopped {
                stopped = true;
                let _ = service.stop_build(&id);
            }
            // Ended without running (stopped or timed out in the queue, or failed to start).
            if let Ok(Some(now)) = service.store.build(&id)
                && now.status != "IN_PROGRESS"
            {
                service.pipeline_runs.take_prepared(&key);
                if let Ok(finished) = ended.try_recv() {
                    return Ok(finished);
                }
                let why = now
                    .build
                    .phases
                    .iter()
                    .flatten()
                    .flat_map(|p| p.contexts.iter().flatten())
                    .filter_map(|c| c.message.clone())
                    .find(|m| !m.is_empty())
                    .unwrap_or_default();
                return Err(format!("build {id} {}: {why}", now.status));
            }
        }
    }

    fn no_batches(&self) -> Option<String> {
        Some(
            "BatchEnabled CodeBuild actions run with `runspec pipeline run`; runspec serve does not run a batch inside a pipeline yet"
                .into(),
        )
    }
}

/// An execution's observer: its record, written as it runs; its approvals.
struct Live<'a> {
    service: &'a Service,
    declaration: &'a cp::PipelineDeclaration,
    row: Mutex<ExecutionRow>,
    approvals: Arc<Approvals>,
    stop: watch::Receiver<bool>,
}

impl Live<'_> {
    /// Writes the record; while a stop is asked for, it says Stopping, with the reason.
    fn write(&self, row: &ExecutionRow) {
        let mut stopping;
        let row = match self.service.pipeline_runs.stopping(&row.id) {
            Some(reason) if row.status == "InProgress" => {
                stopping = row.clone();
                stopping.status = "Stopping".into();
                stopping.execution.status = Some("Stopping".into());
                stopping.stop_reason = Some(reason);
                &stopping
            }
            _ => row,
        };
        if let Err(e) = self.service.store.put_execution(row) {
            tracing::warn!("cannot record the execution {}: {e}", row.id);
        }
    }

    fn action(&self, stage: &str, action: &str) -> Option<&cp::ActionDeclaration> {
        self.declaration.stages.iter().find(|s| s.name == stage)?.actions.iter().find(|a| a.name == action)
    }

    /// The execution's end (or the runner's failure to start it, or its panic).
    fn finish(
        &self,
        ran: std::thread::Result<
            std::result::Result<crate::pipeline::execution::Execution, crate::pipeline::runner::NotStarted>,
        >,
    ) {
        let mut row = lock(&self.row).clone();
        let (status, summary) = match ran {
            Ok(Ok(execution)) => {
                let json = execution.to_json();
                if let Ok(e) =
                    serde_json::from_value::<cp::PipelineExecution>(json["pipelineExecution"].clone())
                {
                    row.execution = e;
                }
                row.actions = execution
                    .actions
                    .iter()
                    .map(|a| action_detail(&execution.id, execution.version, a))
                    .collect();
                (execution.status.clone(), execution.summary.clone())
            }
            Ok(Err(not_started)) => ("Failed".to_string(), Some(not_started.0)),
            Err(panic) => (
                "Failed".to_string(),
                Some(format!(
                    "runspec failed unexpectedly: {}",
                    crate::engine::ledger::panic_message(&*panic)
                )),
            ),
        };
        row.status = status.clone();
        row.execution.status = Some(status);
        row.execution.status_summary = summary.or(row.execution.status_summary.take());
        for (_, s) in row.stages.iter_mut().filter(|(_, s)| s == "InProgress") {
            *s = "Stopped".into();
        }
        for a in row.actions.iter_mut().filter(|a| a.status.as_deref() == Some("InProgress")) {
            a.status = Some("Abandoned".into());
        }
        row.approvals.clear();
        row.stop_reason = self.service.pipeline_runs.stopping(&row.id);
        self.write(&row);
    }
}

impl Observer for Live<'_> {
    fn event(&self, event: Event<'_>) {
        let mut row = lock(&self.row);
        match event {
            Event::Started { .. } | Event::Line { .. } | Event::ActionEnded { .. } => return,
            Event::StageStarted { stage } => {
                row.stages.retain(|(s, _)| s != stage);
                row.stages.push((stage.to_string(), "InProgress".into()));
            }
            Event::StageEnded { stage, status } => {
                for (_, s) in row.stages.iter_mut().filter(|(s, _)| s == stage) {
                    *s = status.to_string();
                }
            }
            Event::ActionStarted { stage, action, .. } => {
                let declared = self.action(stage, action);
                let now = now_s();
                let detail = cp::ActionExecutionDetail {
                    pipeline_execution_id: Some(row.id.clone()),
                    action_execution_id: Some(uuid::Uuid::new_v4().to_string()),
                    pipeline_version: self.declaration.version,
                    stage_name: Some(stage.to_string()),
                    action_name: Some(action.to_string()),
                    start_time: Some(now),
                    last_update_time: Some(now),
                    status: Some("InProgress".into()),
                    input: declared.map(|d| cp::ActionExecutionInput {
                        action_type_id: Some(d.action_type_id.clone()),
                        configuration: d.configuration.clone(),
                        namespace: d.namespace.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                row.actions.push(detail);
            }
            Event::Recorded { run } => {
                let detail = recorded(&row, self.declaration.version.unwrap_or(1), run);
                let at = row.actions.iter().rposition(|a| {
                    a.stage_name.as_deref() == Some(run.stage.as_str())
                        && a.action_name.as_deref() == Some(run.action.as_str())
                        && a.status.as_deref() == Some("InProgress")
                });
                match at {
                    Some(i) => row.actions[i] = detail,
                    None => row.actions.push(detail),
                }
            }
        }
        self.write(&row);
    }

    fn ask(
        &self,
        stage: &str,
        action: &str,
        _configuration: &BTreeMap<String, String>,
    ) -> Option<(bool, String)> {
        let token = uuid::Uuid::new_v4().to_string();
        lock(&self.approvals.waiting).insert(token.clone(), None);
        {
            let mut row = lock(&self.row);
            row.approvals.push((stage.to_string(), action.to_string(), token.clone()));
            self.write(&row);
        }
        // The action's own timeout (5 minutes to 60 days), else CodePipeline's 7 days.
        let wait = self
            .action(stage, action)
            .and_then(|a| a.timeout_in_minutes)
            .map_or(APPROVAL_WAIT, |m| Duration::from_secs(m.clamp(5, 86_400) as u64 * 60));
        let deadline = Instant::now() + wait;
        let mut waiting = lock(&self.approvals.waiting);
        let answer = loop {
            if let Some(Some(answer)) = waiting.get(&token) {
                break answer.clone();
            }
            if *self.stop.borrow() {
                break (false, "the execution was stopped".to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break (false, format!("no answer within {} minutes", wait.as_secs() / 60));
            }
            waiting = self
                .approvals
                .changed
                .wait_timeout(waiting, left.min(Duration::from_secs(1)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        waiting.remove(&token);
        drop(waiting);
        let mut row = lock(&self.row);
        row.approvals.retain(|(_, _, t)| *t != token);
        self.write(&row);
        Some(answer)
    }
}

/// An ended action's detail, with the id its start was given.
fn recorded(row: &ExecutionRow, version: i64, run: &ActionRun) -> cp::ActionExecutionDetail {
    let mut detail = action_detail(&row.id, version, run);
    let started = row.actions.iter().rev().find(|a| {
        a.stage_name.as_deref() == Some(run.stage.as_str())
            && a.action_name.as_deref() == Some(run.action.as_str())
    });
    if let Some(id) = started.and_then(|a| a.action_execution_id.clone()) {
        detail.action_execution_id = Some(id);
    }
    detail
}

/// Executions recorded InProgress that no thread runs (the server stopped during them) end
/// Failed, saying so.
pub fn end_orphans(service: &Service) -> std::result::Result<(), super::store::StoreError> {
    for name in service.store.pipeline_names()? {
        for mut row in service.store.executions(&name)? {
            if !matches!(row.status.as_str(), "InProgress" | "Stopping")
                || service.pipeline_runs.is_running(&row.id)
            {
                continue;
            }
            row.status = "Failed".into();
            row.execution.status = Some("Failed".into());
            row.execution.status_summary = Some("the server stopped during the execution".into());
            row.approvals.clear();
            for a in row.actions.iter_mut().filter(|a| a.status.as_deref() == Some("InProgress")) {
                a.status = Some("Abandoned".into());
            }
            service.store.put_execution(&row)?;
        }
    }
    Ok(())
}
