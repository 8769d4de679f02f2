//! One execution of a pipeline on this machine, as CodePipeline runs it: stages in order; in a
//! stage, the actions of one `runOrder` at once (each on a thread of its own), lowest first; a
//! failed action fails its stage and the execution. Each action's configuration has its
//! `#{namespace.variable}` references resolved from what ran before ([`super::plan`]); its
//! output artifacts are directories of a local artifact store (`<store>/<execution id>/<name>/`)
//! and its output variables become its namespace's.
//!
//! - Source actions ([`super::fetch`]): a git repository or a directory per `--source`, or
//!   the current repository for the one git source; the provider's variables.
//! - CodeBuild and Commands actions: builds through [`crate::build::run`] with CodePipeline's
//!   semantics ([`super::codebuild`], [`super::commands`]).
//! - Manual approvals: `--approve`.
//! - ECS deploys ([`super::deploy`]); CloudFormation actions are checked and not deployed.
//! - Any other provider is named as not run here, and the execution stops (Failed).
//!
//! The runner emits [`Event`]s; printing them is the caller's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::watch;

use super::execution::{ActionRun, Execution, Left, Revision, Status};
use super::fetch::{self, Input};
use super::plan::{self, Variables};
use super::source::{self, Commit};
use crate::build::{BuildRequest, Notices};
use crate::engine::upload::{ArtifactSettings, ArtifactTarget, Destination};
use crate::project::{Project, ProjectVariable, VariableType};
use crate::shapes::codepipeline::{ActionDeclaration, Condition, PipelineDeclaration, StageDeclaration};

/// `--approve`: what a manual approval gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Approve {
    /// Every approval is given.
    All,
    /// Each is asked on the terminal (refused when there is none).
    Ask,
    /// Every approval is refused.
    None,
}

/// `--deploy`: what deploy actions do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Deploy {
    /// ECS services run on the local Docker engine; nothing reaches AWS.
    Local,
    /// Deploy through the AWS APIs (`AWS_ENDPOINT_URL` honoured).
    Aws,
    /// Check what would be deployed, and deploy nothing.
    Skip,
}

/// How an execution runs.
pub struct Options {
    /// `--source NAME=…`: by source action name or output artifact name.
    pub sources: BTreeMap<String, Input>,
    /// `--project NAME=FILE`, by project name.
    pub projects: BTreeMap<String, Project>,
    /// `--codebuild-endpoint URL`: where projects not given with `--project` are read
    /// (BatchGetProjects against `runspec serve` or CodeBuild itself).
    pub codebuild_endpoint: Option<String>,
    /// `--variable NAME=VALUE` (a pipeline variable) and `--variable NS.NAME=VALUE` (a
    /// namespace's variable no action here sets, such as a CloudFormation output).
    pub variables: Vec<(String, String)>,
    pub approve: Approve,
    pub deploy: Deploy,
    /// `--task-definition SERVICE=FILE`: a service's task definition for `--deploy local|skip`.
    pub task_definitions: BTreeMap<String, PathBuf>,
    /// The local artifact store (`--artifacts DIR`, else a temporary directory).
    pub store: PathBuf,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The directory `runspec pipeline run` was started in: the repository of the one git source
    /// when no `--source` names it.
    pub here: PathBuf,
    /// What every build of the pipeline shares (image, Docker mode, limits, credentials).
    pub template: BuildRequest,
    /// Every build on this machine's shell, whatever image its project names (`--host`).
    pub host: bool,
}

/// What happens during an execution, in order (an action's lines between its start and end).
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        pipeline: &'a str,
        execution_id: &'a str,
        store: &'a Path,
    },
    StageStarted {
        stage: &'a str,
    },
    ActionStarted {
        stage: &'a str,
        action: &'a str,
        provider: &'a str,
    },
    /// A line of an action's log (a build's CodeBuild log, a source's notes).
    Line {
        stage: &'a str,
        action: &'a str,
        line: &'a [u8],
    },
    ActionEnded {
        stage: &'a str,
        action: &'a str,
        status: Status,
        summary: &'a str,
    },
    StageEnded {
        stage: &'a str,
        status: &'a str,
    },
}

/// Where events go, and who answers `--approve ask`.
pub trait Observer: Sync {
    fn event(&self, event: Event<'_>);
    /// A manual approval to give or refuse: `(approved, comment)`; `None` when nobody can be
    /// asked (no terminal).
    fn ask(
        &self,
        stage: &str,
        action: &str,
        configuration: &BTreeMap<String, String>,
    ) -> Option<(bool, String)>;
}

/// Why an execution could not start (nothing ran).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotStarted(pub String);

/// What the actions so far left: artifacts (name → directory, and the commit they come from)
/// and namespaces' variables.
#[derive(Default)]
struct State {
    artifacts: BTreeMap<String, (PathBuf, Option<String>)>,
    variables: Variables,
    revisions: Vec<Revision>,
}

/// How one action ended.
struct Outcome {
    status: Status,
    summary: String,
    external_id: Option<String>,
    variables: BTreeMap<String, String>,
    /// Output artifact name → the commit it comes from.
    outputs: Vec<(String, Option<String>)>,
    error: Option<(String, String)>,
    revision: Option<Revision>,
}

impl Outcome {
    fn failed(code: &str, message: impl Into<String>) -> Outcome {
        let message = message.into();
        Outcome {
            status: Status::Failed,
            summary: message.clone(),
            external_id: None,
            variables: BTreeMap::new(),
            outputs: Vec::new(),
            error: Some((code.to_string(), message)),
            revision: None,
        }
    }

    fn succeeded(summary: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Succeeded,
            summary: summary.into(),
            external_id: None,
            variables: BTreeMap::new(),
            outputs: Vec::new(),
            error: None,
            revision: None,
        }
    }
}

/// An action that ended: its place in its stage, when it ran, how it ended, its configuration
/// as resolved.
struct Ended {
    index: usize,
    began: SystemTime,
    end: SystemTime,
    outcome: Outcome,
    resolved: BTreeMap<String, String>,
}

/// Why an action could not start (its `ErrorDetails`).
struct Failure {
    code: &'static str,
    message: String,
}

fn failure(code: &'static str, message: String) -> Failure {
    Failure { code, message }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Everything one action needs.
struct Ctx<'a> {
    pipeline: &'a PipelineDeclaration,
    stage: &'a str,
    action: &'a ActionDeclaration,
    config: BTreeMap<String, String>,
    /// A V2 action's `environmentVariables`, their values resolved.
    environment: Vec<crate::shapes::codepipeline::EnvironmentVariable>,
    /// Input artifact name → (directory, commit).
    inputs: Vec<(String, PathBuf, Option<String>)>,
    out_dir: PathBuf,
    options: &'a Options,
    observer: &'a dyn Observer,
    stop: watch::Receiver<bool>,
    /// How many git source actions the pipeline has (the default `--source` is for one).
    git_sources: usize,
}

impl Ctx<'_> {
    fn line(&self, text: &str) {
        self.observer.event(Event::Line {
            stage: self.stage,
            action: &self.action.name,
            line: text.as_bytes(),
        });
    }

    fn outputs(&self) -> Vec<String> {
        self.action.output_artifacts.iter().flatten().map(|a| a.name.clone()).collect()
    }
}

/// Runs one execution of `pipeline`.
pub fn run(
    pipeline: &PipelineDeclaration,
    options: &Options,
    observer: &dyn Observer,
    stop: watch::Receiver<bool>,
) -> Result<Execution, NotStarted> {
    let execution_id = uuid::Uuid::new_v4().to_string();
    let stages: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    let index = |name: &Option<String>, flag: &str| -> Result<Option<usize>, NotStarted> {
        name.as_ref()
            .map(|n| {
                stages.iter().position(|s| s == n).ok_or_else(|| {
                    NotStarted(format!(
                        "{flag} {n}: the pipeline has no such stage (it has {})",
                        stages.join(", ")
                    ))
                })
            })
            .transpose()
    };
    let first = index(&options.from, "--from")?.unwrap_or(0);
    let last = index(&options.to, "--to")?.unwrap_or(stages.len().saturating_sub(1));
    if first > last {
        return Err(NotStarted("--from names a stage after --to".into()));
    }
    let mut state = State::default();
    let pipeline_variables = pipeline_variables(pipeline, &options.variables)?;
    seed_variables(&mut state, &execution_id, &pipeline_variables, &options.variables);
    if first > 0 {
        let earlier: Vec<(&str, &str)> = pipeline.stages[..first]
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s.name.as_str(), a.name.as_str())))
            .collect();
        let (_, dir, left) = newest_execution(&options.store, None, &earlier).ok_or_else(|| {
            NotStarted(format!(
                "--from: no execution in the artifact store {} ran every action before that stage; run them first with --artifacts {}",
                options.store.display(),
                options.store.display()
            ))
        })?;
        take_over(&mut state, &dir, left);
    }
    let git_sources = pipeline
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .filter(|a| matches!(a.action_type_id.provider.as_str(), "CodeCommit" | "CodeStarSourceConnection"))
        .count();
    let exec_dir = options.store.join(&execution_id);
    std::fs::create_dir_all(&exec_dir)
        .map_err(|e| NotStarted(format!("cannot make the artifact store {}: {e}", exec_dir.display())))?;
    observer.event(Event::Started {
        pipeline: &pipeline.name,
        execution_id: &execution_id,
        store: &options.store,
    });
    let start = SystemTime::now();
    let mut run = Execute {
        pipeline,
        options,
        observer,
        stop,
        execution_id,
        exec_dir,
        git_sources,
        state,
        runs: Vec::new(),
        summary: None,
    };
    let mut status = "Succeeded";
    for stage in &pipeline.stages[first..=last] {
        observer.event(Event::StageStarted { stage: &stage.name });
        let stage_status = run.stage(stage);
        observer.event(Event::StageEnded { stage: &stage.name, status: stage_status });
        if !matches!(stage_status, "Succeeded" | "Skipped") {
            status = stage_status;
            break;
        }
    }
    let Execute { execution_id, exec_dir, state, runs, summary, .. } = run;
    let execution = Execution {
        pipeline: pipeline.name.clone(),
        version: pipeline.version.unwrap_or(1),
        mode: pipeline.execution_mode.clone().unwrap_or_else(|| "SUPERSEDED".into()),
        id: execution_id,
        status: status.to_string(),
        summary,
        start,
        end: SystemTime::now(),
        variables: pipeline_variables,
        revisions: state.revisions,
        actions: runs,
    };
    // The store keeps each execution's record: `--from` and rollbacks read what it left.
    let record = serde_json::to_string_pretty(&execution.to_json()).unwrap_or_default();
    let _ = std::fs::write(exec_dir.join("execution.json"), record + "\n");
    Ok(execution)
}

/// CodePipeline's own variables, the pipeline's, and `--variable NS.NAME=VALUE`.
fn seed_variables(
    state: &mut State,
    execution_id: &str,
    pipeline: &[(String, String)],
    given: &[(String, String)],
) {
    state
        .variables
        .entry("codepipeline".into())
        .or_default()
        .insert("PipelineExecutionId".into(), execution_id.into());
    state.variables.insert("variables".into(), pipeline.iter().cloned().collect());
    for (name, value) in given {
        if let Some((ns, var)) = name.split_once('.') {
            state.variables.entry(ns.to_string()).or_default().insert(var.to_string(), value.clone());
        }
    }
}

/// One execution under way.
struct Execute<'a> {
    pipeline: &'a PipelineDeclaration,
    options: &'a Options,
    observer: &'a dyn Observer,
    stop: watch::Receiver<bool>,
    execution_id: String,
    exec_dir: PathBuf,
    git_sources: usize,
    state: State,
    runs: Vec<ActionRun>,
    /// Why the execution did not succeed (the first failure).
    summary: Option<String>,
}

impl Execute<'_> {
    /// A line of the stage's log, under `[Stage/part]`.
    fn line(&self, stage: &str, part: &str, text: &str) {
        self.observer.event(Event::Line { stage, action: part, line: text.as_bytes() });
    }

    fn fail(&mut self, why: String) {
        self.summary.get_or_insert(why);
    }

    /// A stage with its conditions: its status (Succeeded, Skipped, Failed, Stopped).
    fn stage(&mut self, stage: &StageDeclaration) -> &'static str {
        use super::conditions::Result as When;
        let name = stage.name.as_str();
        for condition in stage.before_entry.iter().flat_map(|b| &b.conditions) {
            match self.rules_pass(stage, "beforeEntry", condition) {
                Ok(true) => {}
                Ok(false) => match super::conditions::result_of(condition, When::Fail) {
                    Ok(When::Skip) => {
                        self.line(
                            name,
                            "beforeEntry",
                            "the entry condition failed: the stage is skipped (SKIP)",
                        );
                        return "Skipped";
                    }
                    Ok(_) => {
                        self.fail(format!("{name}: the entry condition failed"));
                        return "Failed";
                    }
                    Err(e) => {
                        self.fail(format!("{name}: {e}"));
                        return "Failed";
                    }
                },
                Err(e) => {
                    self.fail(format!("{name}: beforeEntry: {e}"));
                    return "Failed";
                }
            }
        }
        let all: Vec<usize> = (0..stage.actions.len()).collect();
        let (mut status, failed) = self.actions(stage, &all);
        if status == "Failed"
            && let Some(on_failure) = &stage.on_failure
        {
            match self.on_failure(stage, on_failure, &failed) {
                Ok(Some((retried, _))) => status = retried,
                Ok(None) => {}
                Err(e) => self.line(name, "onFailure", &e),
            }
        }
        if status == "Succeeded" {
            for condition in stage.on_success.iter().flat_map(|s| &s.conditions) {
                let passed = self.rules_pass(stage, "onSuccess", condition).unwrap_or_else(|e| {
                    self.line(name, "onSuccess", &e);
                    false
                });
                if passed {
                    continue;
                }
                self.fail(format!("{name}: the onSuccess condition failed"));
                if super::conditions::result_of(condition, When::Fail) == Ok(When::Rollback) {
                    self.rollback(stage, "onSuccess");
                }
                return "Failed";
            }
        }
        status
    }

    /// `onFailure`: a retry (`Some` with the retried stage's status and failed actions) or a
    /// rollback (`None`; the stage stays failed).
    fn on_failure(
        &mut self,
        stage: &StageDeclaration,
        on_failure: &crate::shapes::codepipeline::FailureConditions,
        failed: &[usize],
    ) -> Result<Option<(&'static str, Vec<usize>)>, String> {
        use super::conditions::Result as When;
        for condition in on_failure.conditions.iter().flatten() {
            if !self.rules_pass(stage, "onFailure", condition)? {
                self.line(&stage.name, "onFailure", "a condition's rules failed: the result does not apply");
                return Ok(None);
            }
        }
        let result = on_failure.result.as_deref().map(When::parse).transpose()?.unwrap_or(When::Fail);
        match result {
            When::Retry => {
                let mode = on_failure.retry_configuration.as_ref().and_then(|r| r.retry_mode.as_deref());
                let which: Vec<usize> = match super::conditions::retry_failed_only(mode)? {
                    true => failed.to_vec(),
                    false => (0..stage.actions.len()).collect(),
                };
                self.line(
                    &stage.name,
                    "onFailure",
                    &format!("RETRY: running {} action(s) again", which.len()),
                );
                self.summary = None;
                Ok(Some(self.actions(stage, &which)))
            }
            When::Rollback => {
                self.rollback(stage, "onFailure");
                Ok(None)
            }
            When::Fail | When::Skip => Ok(None),
        }
    }

    /// ROLLBACK: the stage runs again with what the newest execution in the store in which it
    /// succeeded gave it (its input artifacts and variables).
    fn rollback(&mut self, stage: &StageDeclaration, when: &str) {
        let name = stage.name.as_str();
        let index = self.pipeline.stages.iter().position(|s| s.name == stage.name).unwrap_or(0);
        let needed: Vec<(&str, &str)> = self.pipeline.stages[..=index]
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s.name.as_str(), a.name.as_str())))
            .collect();
        let Some((target, dir, left)) =
            newest_execution(&self.options.store, Some(&self.execution_id), &needed)
        else {
            let note = "ROLLBACK: no earlier execution in the artifact store succeeded in this stage (keep one with --artifacts DIR)";
            self.line(name, when, note);
            self.fail(format!("{name}: {note}"));
            return;
        };
        self.line(name, when, &format!("ROLLBACK to execution {target}"));
        let current = std::mem::take(&mut self.state);
        self.state.variables = current.variables.clone();
        let before: Vec<Left> = left.into_iter().filter(|l| l.stage != stage.name).collect();
        take_over(&mut self.state, &dir, before);
        let all: Vec<usize> = (0..stage.actions.len()).collect();
        let (status, _) = self.actions(stage, &all);
        let outcome = format!("rolled back to execution {target}: the stage {status}");
        self.line(name, when, &outcome);
        self.summary = Some(match self.summary.take() {
            Some(first) => format!("{first}; {outcome}"),
            None => outcome,
        });
        self.state.revisions = current.revisions;
    }

    /// Whether every rule of `condition` passes.
    fn rules_pass(
        &mut self,
        stage: &StageDeclaration,
        when: &str,
        condition: &Condition,
    ) -> Result<bool, String> {
        for rule in condition.rules.iter().flatten() {
            let mut config = BTreeMap::new();
            for (k, v) in rule.configuration.iter().flatten() {
                config.insert(
                    k.clone(),
                    plan::resolve(v, &self.state.variables)
                        .map_err(|e| format!("rule {}: {e}", rule.name))?,
                );
            }
            let passed = match super::conditions::kind(rule) {
                super::conditions::Rule::Variable => {
                    let (passed, how) = super::conditions::variable_check(&config)
                        .map_err(|e| format!("rule {}: {e}", rule.name))?;
                    self.line(&stage.name, when, &format!("rule {}: {how}", rule.name));
                    passed
                }
                super::conditions::Rule::Commands(commands) => {
                    let action = ActionDeclaration {
                        name: rule.name.clone(),
                        action_type_id: crate::shapes::codepipeline::ActionTypeId {
                            category: "Compute".into(),
                            owner: "AWS".into(),
                            provider: "Commands".into(),
                            version: "1".into(),
                        },
                        commands: Some(commands.to_vec()),
                        input_artifacts: rule.input_artifacts.clone(),
                        ..Default::default()
                    };
                    let pieces = (
                        self.pipeline,
                        self.execution_id.as_str(),
                        stage.name.as_str(),
                        &self.state,
                        self.options,
                        self.observer,
                    );
                    let ctx = prepare(pieces, &action, &self.stop, self.git_sources)
                        .map_err(|f| format!("rule {}: {}", rule.name, f.message))?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
                    let outcome = runtime.block_on(commands_action(&ctx));
                    self.line(&stage.name, when, &format!("rule {}: {}", rule.name, outcome.summary));
                    outcome.status == Status::Succeeded
                }
                super::conditions::Rule::NotHere(provider) => {
                    return Err(format!(
                        "rule {}: {provider} rules need AWS and are not evaluated by runspec",
                        rule.name
                    ));
                }
            };
            if !passed {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs the actions `which` of `stage` by `runOrder`, those of one at once; the stage's
    /// status and the actions that failed.
    fn actions(&mut self, stage: &StageDeclaration, which: &[usize]) -> (&'static str, Vec<usize>) {
        let mut failed = Vec::new();
        for group in plan::groups(&stage.actions) {
            let indexes: Vec<usize> = group.actions.iter().copied().filter(|i| which.contains(i)).collect();
            if indexes.is_empty() {
                continue;
            }
            if *self.stop.borrow() {
                return ("Stopped", failed);
            }
            let mut status = "Succeeded";
            for ended in self.group(stage, &indexes) {
                let i = ended.index;
                match self.record(stage, ended) {
                    Status::Succeeded => {}
                    Status::Abandoned => status = "Stopped",
                    _ => {
                        failed.push(i);
                        if status == "Succeeded" {
                            status = "Failed";
                        }
                    }
                }
            }
            if status != "Succeeded" {
                return (status, failed);
            }
        }
        ("Succeeded", failed)
    }

    /// Runs `indexes` of `stage` at once, each on a thread of its own.
    fn group(&self, stage: &StageDeclaration, indexes: &[usize]) -> Vec<Ended> {
        let ended = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for &i in indexes {
                let action = &stage.actions[i];
                self.observer.event(Event::ActionStarted {
                    stage: &stage.name,
                    action: &action.name,
                    provider: &action.action_type_id.provider,
                });
                let began = SystemTime::now();
                let pieces = (
                    self.pipeline,
                    self.execution_id.as_str(),
                    stage.name.as_str(),
                    &self.state,
                    self.options,
                    self.observer,
                );
                let ctx = match prepare(pieces, action, &self.stop, self.git_sources) {
                    Ok(ctx) => ctx,
                    Err(failure) => {
                        let outcome = Outcome::failed(failure.code, failure.message);
                        lock(&ended).push(Ended {
                            index: i,
                            began,
                            end: SystemTime::now(),
                            outcome,
                            resolved: BTreeMap::new(),
                        });
                        continue;
                    }
                };
                let ended = &ended;
                let spawned =
                    std::thread::Builder::new().stack_size(16 << 20).spawn_scoped(scope, move || {
                        let resolved = ctx.config.clone();
                        let outcome =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_action(&ctx)))
                                .unwrap_or_else(|p| {
                                    let why = crate::engine::ledger::panic_message(&*p);
                                    Outcome::failed(
                                        "JobFailed",
                                        format!("runspec failed unexpectedly: {why}"),
                                    )
                                });
                        lock(ended).push(Ended {
                            index: i,
                            began,
                            end: SystemTime::now(),
                            outcome,
                            resolved,
                        });
                    });
                if let Err(e) = spawned {
                    let outcome = Outcome::failed("JobFailed", format!("cannot start a thread: {e}"));
                    lock(ended).push(Ended {
                        index: i,
                        began,
                        end: SystemTime::now(),
                        outcome,
                        resolved: BTreeMap::new(),
                    });
                }
            }
        });
        let mut ended = ended.into_inner().unwrap_or_else(|p| p.into_inner());
        ended.sort_by_key(|e| e.index);
        ended
    }

    /// Takes what an action left into the execution, and records it.
    fn record(&mut self, stage: &StageDeclaration, ended: Ended) -> Status {
        let Ended { index, began, end, outcome, resolved } = ended;
        let action = &stage.actions[index];
        self.observer.event(Event::ActionEnded {
            stage: &stage.name,
            action: &action.name,
            status: outcome.status,
            summary: &outcome.summary,
        });
        if outcome.status == Status::Succeeded {
            if let Some(ns) = &action.namespace {
                // What `--variable NS.NAME` gave stays unless the action sets it itself.
                self.state.variables.entry(ns.clone()).or_default().extend(outcome.variables.clone());
            }
            for (name, commit) in &outcome.outputs {
                self.state.artifacts.insert(name.clone(), (self.exec_dir.join(name), commit.clone()));
            }
            self.state.revisions.extend(outcome.revision.clone());
        } else {
            self.fail(format!("{}/{}: {}", stage.name, action.name, outcome.summary));
        }
        self.runs.push(ActionRun {
            id: uuid::Uuid::new_v4().to_string(),
            stage: stage.name.clone(),
            action: action.name.clone(),
            action_type: action.action_type_id.clone(),
            namespace: action.namespace.clone(),
            start: began,
            end,
            status: outcome.status,
            summary: outcome.summary,
            external_id: outcome.external_id,
            configuration: action.configuration.clone().unwrap_or_default(),
            resolved,
            inputs: action.input_artifacts.iter().flatten().map(|a| a.name.clone()).collect(),
            outputs: outcome.outputs.into_iter().map(|(n, _)| n).collect(),
            variables: outcome.variables,
            error: outcome.error,
        });
        outcome.status
    }
}

/// The pipeline's variables: each declared one with `--variable NAME=VALUE` or its default;
/// one with neither cannot start (CodePipeline refuses StartPipelineExecution).
fn pipeline_variables(
    pipeline: &PipelineDeclaration,
    given: &[(String, String)],
) -> Result<Vec<(String, String)>, NotStarted> {
    let declared = pipeline.variables.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for d in declared {
        let value = given
            .iter()
            .rev()
            .find(|(n, _)| *n == d.name)
            .map(|(_, v)| v.clone())
            .or_else(|| d.default_value.clone());
        match value {
            Some(v) => out.push((d.name.clone(), v)),
            None => {
                return Err(NotStarted(format!(
                    "the pipeline variable `{}` has no default value: pass --variable {}=VALUE",
                    d.name, d.name
                )));
            }
        }
    }
    for (name, _) in given.iter().filter(|(n, _)| !n.contains('.')) {
        if !declared.iter().any(|d| d.name == *name) {
            return Err(NotStarted(format!(
                "--variable {name}: the pipeline declares no variable `{name}` (a namespace's variable is NAMESPACE.NAME)"
            )));
        }
    }
    Ok(out)
}

/// The newest execution in the store (not `except`) in which every one of `actions` (stage,
/// action) succeeded: its id, directory and what its actions left.
fn newest_execution(
    store: &Path,
    except: Option<&str>,
    actions: &[(&str, &str)],
) -> Option<(String, PathBuf, Vec<Left>)> {
    let mut records: Vec<(SystemTime, PathBuf, serde_json::Value)> = std::fs::read_dir(store)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| except.is_none_or(|id| e.file_name() != id))
        .filter_map(|e| {
            let file = e.path().join("execution.json");
            let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok()?;
            let value = serde_json::from_str(&std::fs::read_to_string(&file).ok()?).ok()?;
            Some((modified, e.path(), value))
        })
        .collect();
    records.sort_by_key(|r| std::cmp::Reverse(r.0));
    records.into_iter().find_map(|(_, dir, record)| {
        let left = super::execution::succeeded_actions(&record);
        let all = actions
            .iter()
            .all(|(stage, action)| left.iter().any(|l| l.stage == *stage && l.action == *action));
        let id = record["pipelineExecution"]["pipelineExecutionId"].as_str()?.to_string();
        all.then_some((id, dir, left))
    })
}

/// What an earlier execution's actions left (in `dir`), as this execution's.
fn take_over(state: &mut State, dir: &Path, left: Vec<Left>) {
    for l in left {
        for o in l.outputs {
            state.artifacts.insert(o.clone(), (dir.join(&o), None));
        }
        if let Some(ns) = l.namespace {
            state.variables.insert(ns, l.variables);
        }
    }
}

/// The execution's parts an action's context is made of.
type Pieces<'a> = (&'a PipelineDeclaration, &'a str, &'a str, &'a State, &'a Options, &'a dyn Observer);

/// An action's context: its configuration resolved and its inputs found; `Err` is the action's
/// failure (a variable that is not set, an input no action made).
fn prepare<'a>(
    (pipeline, execution_id, stage, state, options, observer): Pieces<'a>,
    action: &'a ActionDeclaration,
    stop: &watch::Receiver<bool>,
    git_sources: usize,
) -> Result<Ctx<'a>, Failure> {
    let mut config = BTreeMap::new();
    for (k, v) in action.configuration.iter().flatten() {
        let resolved = plan::resolve(v, &state.variables)
            .map_err(|e| failure("ConfigurationError", format!("configuration {k}: {e}")))?;
        config.insert(k.clone(), resolved);
    }
    let mut environment = Vec::new();
    for v in action.environment_variables.iter().flatten() {
        let value = plan::resolve(&v.value, &state.variables)
            .map_err(|e| failure("ConfigurationError", format!("environment variable {}: {e}", v.name)))?;
        environment.push(crate::shapes::codepipeline::EnvironmentVariable { value, ..v.clone() });
    }
    let mut inputs = Vec::new();
    for a in action.input_artifacts.iter().flatten() {
        let (dir, commit) = state.artifacts.get(&a.name).cloned().ok_or_else(|| {
            failure(
                "InputArtifactMissing",
                format!("the input artifact {} was not made by an action of this execution", a.name),
            )
        })?;
        inputs.push((a.name.clone(), dir, commit));
    }
    Ok(Ctx {
        pipeline,
        stage,
        action,
        config,
        environment,
        inputs,
        out_dir: options.store.join(execution_id),
        options,
        observer,
        stop: stop.clone(),
        git_sources,
    })
}

fn run_action(ctx: &Ctx) -> Outcome {
    let t = &ctx.action.action_type_id;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return Outcome::failed("JobFailed", format!("cannot start the async runtime: {e}")),
    };
    match (t.category.as_str(), t.provider.as_str()) {
        ("Source", "CodeCommit" | "CodeStarSourceConnection" | "S3" | "ECR") => {
            runtime.block_on(source_action(ctx))
        }
        ("Build" | "Test", "CodeBuild") => runtime.block_on(codebuild_action(ctx)),
        (_, "Commands") => runtime.block_on(commands_action(ctx)),
        ("Build", "ECRBuildAndPublish") => runtime.block_on(ecr_build_action(ctx)),
        ("Approval", "Manual") => approval(ctx),
        ("Deploy", provider @ ("ECS" | "S3" | "CodeDeployToECS")) => {
            let line = |text: &str| ctx.line(text);
            let deploy = super::deploy::Request {
                config: &ctx.config,
                inputs: &ctx.inputs,
                mode: ctx.options.deploy,
                task_definitions: &ctx.options.task_definitions,
                store: &ctx.out_dir,
                line: &line,
            };
            let deployed = match provider {
                "ECS" => runtime.block_on(super::deploy::ecs(&deploy)),
                "CodeDeployToECS" => runtime.block_on(super::deploy::blue_green(&deploy)),
                _ => runtime.block_on(super::deploy::s3(&deploy)),
            };
            match deployed {
                Ok(summary) => Outcome::succeeded(summary),
                Err(e) => Outcome::failed("JobFailed", e),
            }
        }
        ("Deploy", "CloudFormation") => {
            let line = |text: &str| ctx.line(text);
            let deploy = super::deploy::Request {
                config: &ctx.config,
                inputs: &ctx.inputs,
                mode: ctx.options.deploy,
                task_definitions: &ctx.options.task_definitions,
                store: &ctx.out_dir,
                line: &line,
            };
            let outputs = ctx.outputs();
            match runtime
                .block_on(super::deploy::cloudformation(&deploy, outputs.first().map(String::as_str)))
            {
                Ok(d) if outputs.iter().any(|o| std::fs::create_dir_all(ctx.out_dir.join(o)).is_err()) => {
                    Outcome::failed("JobFailed", format!("{}; cannot make its output artifact", d.summary))
                }
                Ok(d) => Outcome {
                    variables: d.variables,
                    outputs: outputs.into_iter().map(|o| (o, None)).collect(),
                    ..Outcome::succeeded(d.summary)
                },
                Err(e) => Outcome::failed("JobFailed", e),
            }
        }
        (category, provider) => Outcome::failed(
            "ActionNotRun",
            format!(
                "{category} actions of the provider {provider} ({}) are not run by runspec; the execution stops here",
                t.owner
            ),
        ),
    }
}

/// A source action: its output artifact made from `--source` (by action or artifact name), or
/// the current repository for the one git source.
async fn source_action(ctx: &Ctx<'_>) -> Outcome {
    let provider = ctx.action.action_type_id.provider.as_str();
    let Some(output) = ctx.outputs().into_iter().next() else {
        return Outcome::failed("ConfigurationError", "a source action needs one output artifact");
    };
    let given = ctx.options.sources.get(&ctx.action.name).or_else(|| ctx.options.sources.get(&output));
    let input = match (given, provider) {
        (Some(i), _) => i.clone(),
        (None, "CodeCommit" | "CodeStarSourceConnection") if ctx.git_sources == 1 => {
            match toplevel(&ctx.options.here) {
                Some(dir) => Input::Dir(dir),
                None => {
                    return Outcome::failed(
                        "ConfigurationError",
                        format!(
                            "{} is not in a git repository: pass --source {}=DIR|GIT_URL[@REV]",
                            ctx.options.here.display(),
                            ctx.action.name
                        ),
                    );
                }
            }
        }
        (None, "S3") => return s3_source(ctx, &output).await,
        (None, "ECR") => return ecr_source(ctx, &output).await,
        (None, _) => {
            return Outcome::failed(
                "ConfigurationError",
                format!(
                    "no --source for the source action {}: pass --source {}=DIR|GIT_URL[@REV]",
                    ctx.action.name, ctx.action.name
                ),
            );
        }
    };
    let format = match source::format(&ctx.config) {
        Ok(f) => f,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    let dest = ctx.out_dir.join(&output);
    let mut stop = crate::exec::Stop::new(None, ctx.stop.clone());
    let fetched = match fetch::fetch(&input, format, &dest, &mut stop).await {
        Ok(f) => f,
        Err(e) => return Outcome::failed("JobFailed", e.to_string()),
    };
    for note in &fetched.notes {
        ctx.line(note);
    }
    let commit = fetched.commit.clone().unwrap_or(Commit {
        id: String::new(),
        message: String::new(),
        author_date: String::new(),
        committer_date: String::new(),
    });
    let variables = match provider {
        "S3" => BTreeMap::new(),
        _ => match source::variables(provider, &ctx.config, &commit) {
            Ok(v) => v,
            Err(e) => return Outcome::failed("ConfigurationError", e),
        },
    };
    let id = fetched.commit.as_ref().map(|c| c.id.clone());
    let summary = match &fetched.commit {
        Some(c) => {
            format!("{} {}", &c.id[..c.id.len().min(12)], c.message.lines().next().unwrap_or_default())
        }
        None => "files copied".to_string(),
    };
    Outcome {
        variables,
        outputs: vec![(output.clone(), id.clone())],
        revision: id.map(|id| Revision {
            action: ctx.action.name.clone(),
            artifact: output,
            id,
            summary: commit.message.lines().next().unwrap_or_default().to_string(),
        }),
        ..Outcome::succeeded(summary)
    }
}

/// An S3 source without `--source`: the ZIP at `S3Bucket`/`S3ObjectKey` (through the standard
/// credential chain; `AWS_ENDPOINT_URL` honoured), unpacked; its `VersionId` and `ETag` as the
/// action's variables, as the S3 source action sets them.
async fn s3_source(ctx: &Ctx<'_>, output: &str) -> Outcome {
    let setting = |k: &str| ctx.config.get(k).cloned().unwrap_or_default();
    let (bucket, key) = (setting("S3Bucket"), setting("S3ObjectKey"));
    let dest = ctx.out_dir.join(output);
    let mut stop = crate::exec::Stop::new(None, ctx.stop.clone());
    let object = match crate::source::s3::fetch(&bucket, &key, None, &dest, &mut stop).await {
        Ok(o) => o,
        Err(e) => {
            return Outcome::failed(
                "JobFailed",
                format!("{e} (or give the files with --source {}=DIR)", ctx.action.name),
            );
        }
    };
    ctx.line(&format!("s3://{bucket}/{key} unpacked"));
    let mut variables = BTreeMap::new();
    variables.extend(object.version_id.clone().map(|v| ("VersionId".to_string(), v)));
    variables.extend(object.etag.clone().map(|e| ("ETag".to_string(), e)));
    let revision = object.version_id.clone().or(object.etag.clone()).unwrap_or_default();
    Outcome {
        variables,
        outputs: vec![(output.to_string(), None)],
        revision: Some(Revision {
            action: ctx.action.name.clone(),
            artifact: output.to_string(),
            id: revision.clone(),
            summary: format!("s3://{bucket}/{key}"),
        }),
        ..Outcome::succeeded(format!("s3://{bucket}/{key} {revision}"))
    }
}

/// An ECR source: the image `RepositoryName`:`ImageTag` (default `latest`) as the ECR API
/// describes it (`AWS_ENDPOINT_URL` honoured), handed on as `imageDetail.json`, with the
/// variables the ECR source action sets (RegistryId, RepositoryName, ImageTag, ImageDigest,
/// ImageURI).
async fn ecr_source(ctx: &Ctx<'_>, output: &str) -> Outcome {
    let repository = ctx.config.get("RepositoryName").cloned().unwrap_or_default();
    let tag =
        ctx.config.get("ImageTag").cloned().filter(|t| !t.is_empty()).unwrap_or_else(|| "latest".into());
    let region = ctx
        .action
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string());
    let config = crate::aws::sdk_config(&region, None).await;
    let client = crate::image::ecr::client(&config, &region);
    let described = client
        .describe_images()
        .repository_name(&repository)
        .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(&tag).build())
        .send()
        .await;
    let image = match described {
        Ok(d) => match d.image_details().first() {
            Some(i) => i.clone(),
            None => {
                return Outcome::failed(
                    "JobFailed",
                    format!("the repository {repository} has no image {tag}"),
                );
            }
        },
        Err(e) => {
            return Outcome::failed(
                "JobFailed",
                format!(
                    "cannot describe {repository}:{tag}: {} (or give the files with --source {}=DIR)",
                    crate::aws::error_text(&e),
                    ctx.action.name
                ),
            );
        }
    };
    let registry = image.registry_id().unwrap_or_default().to_string();
    let digest = image.image_digest().unwrap_or_default().to_string();
    let uri = format!("{registry}.dkr.ecr.{region}.amazonaws.com/{repository}@{digest}");
    let detail = serde_json::json!({
        "ImageSizeInBytes": image.image_size_in_bytes().map(|n| n.to_string()).unwrap_or_default(),
        "ImageDigest": digest,
        "Version": "1.0",
        "ImagePushedAt": image.image_pushed_at().map(|t| t.to_string()).unwrap_or_default(),
        "RegistryId": registry,
        "RepositoryName": repository,
        "ImageURI": uri,
        "ImageTags": image.image_tags(),
    });
    let dest = ctx.out_dir.join(output);
    let written = std::fs::create_dir_all(&dest).and_then(|()| {
        std::fs::write(
            dest.join("imageDetail.json"),
            serde_json::to_string_pretty(&detail).unwrap_or_default(),
        )
    });
    if let Err(e) = written {
        return Outcome::failed("JobFailed", format!("cannot write imageDetail.json: {e}"));
    }
    ctx.line(&format!("{repository}:{tag} is {digest}"));
    let variables = BTreeMap::from([
        ("RegistryId".to_string(), registry),
        ("RepositoryName".to_string(), repository.clone()),
        ("ImageTag".to_string(), tag.clone()),
        ("ImageDigest".to_string(), digest.clone()),
        ("ImageURI".to_string(), uri),
    ]);
    Outcome {
        variables,
        outputs: vec![(output.to_string(), None)],
        revision: Some(Revision {
            action: ctx.action.name.clone(),
            artifact: output.to_string(),
            id: digest.clone(),
            summary: format!("{repository}:{tag}"),
        }),
        ..Outcome::succeeded(format!("{repository}:{tag} {digest}"))
    }
}

/// The top of the git work tree `dir` is in.
fn toplevel(dir: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A build's warnings, as lines of its action's log.
struct ActionNotices<'a, 'b>(&'a Ctx<'b>);

impl Notices for ActionNotices<'_, '_> {
    fn warning(&self, message: &str) {
        self.0.line(&format!("warning: {message}"));
    }

    fn diagnostics(&self, rendered: &str) {
        for line in rendered.lines() {
            self.0.line(line);
        }
    }
}

/// The request every build action starts from: the pipeline's template with the action's
/// inputs, CodePipeline's initiator and the primary input's source revision.
fn build_request(ctx: &Ctx, project: Project, project_name: &str, primary: usize) -> BuildRequest {
    let (_, primary_dir, commit) = &ctx.inputs[primary];
    let secondary = ctx
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != primary)
        .map(|(_, (name, dir, _))| crate::workspace::Source { id: Some(name.clone()), dir: dir.clone() })
        .collect();
    let mut req = ctx.options.template.clone();
    if req.image.is_none() && !ctx.options.host {
        req.image = project.image.clone().filter(|i| i != crate::build::HOST_IMAGE);
    }
    req.privileged = req.privileged || project.privileged;
    req.timeout = project.timeout_minutes.map(|m| std::time::Duration::from_secs(m * 60)).or(req.timeout);
    req.primary = primary_dir.clone();
    req.secondary = secondary;
    req.project = project;
    req.project_name = project_name.to_string();
    req.initiator = Some(format!("codepipeline/{}", ctx.pipeline.name));
    req.source_version = commit.clone().filter(|c| !c.is_empty());
    req.build_number = crate::build::next_build_number(project_name);
    req
}

/// Where a build action's output variables come from.
enum OutputVariables {
    /// The buildspec's `exported-variables` (CodeBuild and Commands actions).
    Exported,
    /// The image the build pushed (ECRBuildAndPublish): `ECRImageDigestId`, `ECRRepositoryName`.
    Pushed { repository: String },
}

/// Runs a build request with the action's log, and turns its end into the action's.
async fn build(ctx: &Ctx<'_>, req: BuildRequest, outputs: &[String], wanted: OutputVariables) -> Outcome {
    let observer = ctx.observer;
    let (stage, action) = (ctx.stage, ctx.action.name.as_str());
    let lines =
        crate::log::lines::Lines::new(move |line: &[u8]| observer.event(Event::Line { stage, action, line }));
    let commit = req.source_version.clone();
    let finished = match crate::build::run(
        req,
        crate::log::CodeBuildLog::new(lines),
        ctx.stop.clone(),
        &ActionNotices(ctx),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return Outcome::failed("JobFailed", format!("the build could not start: {}", e.0)),
    };
    let build_id = finished.identity.id.clone();
    let report = &finished.report;
    let variables: BTreeMap<String, String> = match wanted {
        OutputVariables::Exported => report.exported.iter().cloned().collect(),
        OutputVariables::Pushed { repository } => match report.images.first() {
            Some(pushed) => BTreeMap::from([
                ("ECRImageDigestId".to_string(), pushed.digest.clone()),
                ("ECRRepositoryName".to_string(), repository),
            ]),
            None => BTreeMap::new(),
        },
    };
    let mut outcome = match report.status {
        crate::engine::Status::Succeeded => Outcome::succeeded(format!("build {build_id} SUCCEEDED")),
        crate::engine::Status::Stopped => Outcome {
            status: Status::Abandoned,
            ..Outcome::failed("JobFailed", format!("build {build_id} was stopped"))
        },
        _ => Outcome::failed("JobFailed", format!("build {build_id}: {}", crate::result::summary(report))),
    };
    outcome.external_id = Some(build_id);
    if outcome.status == Status::Succeeded {
        if let Err(why) = settle_outputs(&ctx.out_dir, &ctx.action.name, outputs) {
            return Outcome { external_id: outcome.external_id, ..Outcome::failed("JobFailed", why) };
        }
        outcome.outputs = outputs.iter().map(|n| (n.clone(), commit.clone())).collect();
        outcome.variables = variables;
    }
    outcome
}

/// The name the primary artifact is written under until it is known which output it is.
fn primary_name(action: &str) -> String {
    format!(".primary-{}", action.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
}

/// Where a build's artifacts go. Each output artifact named like one of the buildspec's
/// secondary artifacts is that artifact (AWS's multi-output sample); the primary artifact is the
/// one output that is left (with one output artifact, the primary is it). Any other secondary
/// artifact is collected and not kept.
pub(super) fn artifact_settings(out_dir: &Path, action: &str, outputs: &[String]) -> ArtifactSettings {
    let to = |name: &str| ArtifactTarget {
        destination: Destination::Local(out_dir.to_path_buf()),
        packaging: crate::engine::upload::Packaging::None,
        name: Some(name.to_string()),
        override_name: false,
        exact_name: true,
    };
    let primary = match outputs {
        [] => ArtifactTarget::default(),
        _ => to(&primary_name(action)),
    };
    ArtifactSettings {
        primary,
        secondary: outputs.iter().map(|n| (n.clone(), to(n))).collect(),
        other_secondary: Some(ArtifactTarget::default()),
        ..Default::default()
    }
}

/// After the build: the primary artifact becomes the one output no secondary artifact made.
/// `Err` names what is missing.
pub(super) fn settle_outputs(out_dir: &Path, action: &str, outputs: &[String]) -> Result<(), String> {
    let primary = out_dir.join(primary_name(action));
    let missing: Vec<&String> = outputs.iter().filter(|n| !out_dir.join(n).is_dir()).collect();
    let result = match (missing.as_slice(), primary.is_dir()) {
        ([], _) => Ok(()),
        ([one], true) => std::fs::rename(&primary, out_dir.join(one))
            .map_err(|e| format!("cannot keep the output artifact {one}: {e}")),
        ([one], false) => Err(format!("no output artifact {one}: the buildspec's artifacts made no files")),
        (many, _) => Err(format!(
            "no output artifacts {}: with several output artifacts, each but one is the buildspec's secondary artifact of that identifier, and the primary artifact is the one left",
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )),
    };
    let _ = std::fs::remove_dir_all(&primary);
    result
}

async fn codebuild_action(ctx: &Ctx<'_>) -> Outcome {
    let inputs: Vec<String> = ctx.inputs.iter().map(|(n, ..)| n.clone()).collect();
    let outputs = ctx.outputs();
    let a = match super::codebuild::action(&ctx.config, &inputs, &outputs) {
        Ok(a) => a,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    let mut project = match (ctx.options.projects.get(&a.project), &ctx.options.codebuild_endpoint) {
        (Some(p), _) => p.clone(),
        (None, Some(url)) => match remote_project(url, &a.project).await {
            Ok(p) => {
                ctx.line(&format!("the project {}: read from {url}", a.project));
                p
            }
            Err(e) => return Outcome::failed("ConfigurationError", e),
        },
        (None, None) => {
            ctx.line(&format!(
                "warning: no --project {}=FILE: the build runs a default project (this machine's shell, or --image; the buildspec of the primary input)",
                a.project
            ));
            Project { name: Some(a.project.clone()), ..Default::default() }
        }
    };
    // The action's variables go on top of the project's, replacing those of the same name.
    for v in &a.variables {
        let kind = match v.kind.as_str() {
            "PARAMETER_STORE" => VariableType::ParameterStore,
            "SECRETS_MANAGER" => VariableType::SecretsManager,
            _ => VariableType::Plaintext,
        };
        project.variables.retain(|p| p.name != v.name);
        project.variables.push(ProjectVariable { name: v.name.clone(), value: v.value.clone(), kind });
    }
    let primary = inputs.iter().position(|n| *n == a.primary).unwrap_or(0);
    if a.batch {
        let req = build_request(ctx, project, &a.project, primary);
        return batch_action(ctx, req, &outputs, a.combine_artifacts);
    }
    let mut req = build_request(ctx, project, &a.project, primary);
    req.artifacts = artifact_settings(&ctx.out_dir, &ctx.action.name, &outputs);
    build(ctx, req, &outputs, OutputVariables::Exported).await
}

/// A `BatchEnabled` CodeBuild action: the buildspec's batch, its builds at most two at once on
/// this machine. With `CombineArtifacts` the one output artifact holds each build's primary
/// artifact in a directory named by its identifier, as CodeBuild combines them; without, each
/// output artifact is the primary artifact of the build of that identifier.
fn batch_action(ctx: &Ctx, mut req: BuildRequest, outputs: &[String], combine: bool) -> Outcome {
    let spec = match crate::build::read_buildspec(&req, &ActionNotices(ctx)) {
        Ok(s) => s,
        Err(e) => return Outcome::failed("JobFailed", format!("DOWNLOAD_BATCHSPEC: {e}")),
    };
    let Some(batch) = spec.batch else {
        return Outcome::failed(
            "ConfigurationError",
            "BatchEnabled is true and the buildspec has no `batch` section",
        );
    };
    if combine && outputs.len() > 1 {
        return Outcome::failed(
            "ConfigurationError",
            "with CombineArtifacts the action has one output artifact",
        );
    }
    let builds = ctx.out_dir.join(format!(".batch-{}", primary_name(&ctx.action.name)));
    req.artifacts = ArtifactSettings {
        primary: ArtifactTarget {
            destination: Destination::Local(builds.clone()),
            packaging: crate::engine::upload::Packaging::None,
            name: Some("artifact".into()),
            override_name: false,
            exact_name: true,
        },
        other_secondary: Some(ArtifactTarget::default()),
        ..Default::default()
    };
    let options = crate::batch::local::Options {
        jobs: 2,
        combine_artifacts: false,
        status_lines: None,
        host: ctx.options.host,
    };
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    struct Send(std::sync::mpsc::Sender<Vec<u8>>);
    impl std::io::Write for Send {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out: crate::batch::local::Output = std::sync::Arc::new(Mutex::new(Send(tx)));
    let ran = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut lines = crate::log::lines::Lines::new(|line: &[u8]| {
                ctx.observer.event(Event::Line { stage: ctx.stage, action: &ctx.action.name, line })
            });
            for chunk in rx {
                let _ = std::io::Write::write_all(&mut lines, &chunk);
            }
        });
        crate::batch::local::run(&req, &batch, &options, ctx.stop.clone(), out, &ActionNotices(ctx))
    });
    let outcome = match ran {
        Err(e) => return Outcome::failed("JobFailed", e),
        Ok(o) => o,
    };
    let batch_id = outcome.json["buildBatch"]["id"].as_str().unwrap_or_default().to_string();
    if outcome.status != crate::engine::Status::Succeeded {
        let failed = Outcome::failed("JobFailed", format!("batch {batch_id} {}", outcome.status));
        return Outcome { external_id: Some(batch_id), ..failed };
    }
    let identifiers: Vec<String> = outcome.json["buildBatch"]["buildGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["identifier"].as_str().map(str::to_string))
        .filter(|i| builds.join(i).join("artifact").is_dir())
        .collect();
    let placed = match (combine, outputs) {
        (_, []) => Ok(()),
        (true, [one]) => identifiers.iter().try_for_each(|i| {
            super::fetch::copy_dir(&builds.join(i).join("artifact"), &ctx.out_dir.join(one).join(i))
        }),
        (_, many) => many.iter().try_for_each(|name| match identifiers.contains(name) {
            true => std::fs::rename(builds.join(name).join("artifact"), ctx.out_dir.join(name))
                .map_err(|e| format!("cannot keep the output artifact {name}: {e}")),
            false => Err(format!(
                "no output artifact {name}: without CombineArtifacts each output artifact is the artifact of the batch's build of that identifier ({})",
                identifiers.join(", ")
            )),
        }),
    };
    let _ = std::fs::remove_dir_all(&builds);
    match placed {
        Ok(()) => Outcome {
            external_id: Some(batch_id.clone()),
            outputs: outputs.iter().map(|n| (n.clone(), req.source_version.clone())).collect(),
            ..Outcome::succeeded(format!("batch {batch_id} SUCCEEDED: {}", identifiers.join(", ")))
        },
        Err(e) => Outcome { external_id: Some(batch_id), ..Outcome::failed("JobFailed", e) },
    }
}

/// A project read with BatchGetProjects from `url`.
async fn remote_project(url: &str, name: &str) -> Result<Project, String> {
    let client = crate::replay::client::CodeBuild::connect(None, None).await?.with_endpoint(url);
    let found =
        client.project(name).await.map_err(|e| format!("cannot read the project {name} from {url}: {e}"))?;
    let found = found.ok_or_else(|| format!("{url} has no project {name}"))?;
    crate::project::parse(&found.to_string()).map_err(|e| format!("the project {name} from {url}: {e}"))
}

async fn commands_action(ctx: &Ctx<'_>) -> Outcome {
    let buildspec = match super::commands::buildspec(ctx.action) {
        Ok(b) => b,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    if ctx.inputs.is_empty() {
        return Outcome::failed("ConfigurationError", "a Commands action needs an input artifact");
    }
    let name = format!("{}-{}", ctx.pipeline.name, ctx.action.name);
    let mut project = Project { name: Some(name.clone()), buildspec: Some(buildspec), ..Default::default() };
    for v in &ctx.environment {
        let kind = match v.kind.as_deref() {
            Some("SECRETS_MANAGER") => VariableType::SecretsManager,
            _ => VariableType::Plaintext,
        };
        project.variables.push(ProjectVariable { name: v.name.clone(), value: v.value.clone(), kind });
    }
    let outputs = ctx.outputs();
    let mut req = build_request(ctx, project, &name, 0);
    req.artifacts = artifact_settings(&ctx.out_dir, &ctx.action.name, &outputs);
    build(ctx, req, &outputs, OutputVariables::Exported).await
}

/// An ECRBuildAndPublish action: a privileged build of the input's Dockerfile, pushed with the
/// ECR login to every tag.
async fn ecr_build_action(ctx: &Ctx<'_>) -> Outcome {
    let region = ctx
        .action
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string());
    let plan = match super::ecr_build::action(&ctx.config, &ctx.pipeline.role_arn, &region) {
        Ok(p) => p,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    if ctx.inputs.len() != 1 {
        return Outcome::failed("ConfigurationError", "an ECRBuildAndPublish action has one input artifact");
    }
    for tag in &plan.tags {
        ctx.line(&format!("pushing {}:{tag}", plan.uri));
    }
    let name = format!("{}-{}", ctx.pipeline.name, ctx.action.name);
    let project = Project {
        name: Some(name.clone()),
        buildspec: Some(super::commands::inline(&plan.commands(), &[], &[])),
        privileged: true,
        ..Default::default()
    };
    let mut req = build_request(ctx, project, &name, 0);
    req.ecr_login = crate::build::EcrLogin::Always;
    let wanted = OutputVariables::Pushed { repository: plan.repository.clone() };
    let outcome = build(ctx, req, &[], wanted).await;
    if outcome.status == Status::Succeeded && !outcome.variables.contains_key("ECRImageDigestId") {
        return Outcome {
            external_id: outcome.external_id,
            ..Outcome::failed("JobFailed", "the build pushed no image")
        };
    }
    outcome
}

/// A manual approval, as `--approve` says.
fn approval(ctx: &Ctx) -> Outcome {
    let asked = match ctx.options.approve {
        Approve::All => Some((true, "approved by --approve all".to_string())),
        Approve::None => Some((false, "rejected by --approve none".to_string())),
        Approve::Ask => ctx.observer.ask(ctx.stage, &ctx.action.name, &ctx.config),
    };
    match asked {
        Some((true, comment)) => Outcome::succeeded(format!("Approved: {comment}")),
        Some((false, comment)) => Outcome::failed("ApprovalRejected", format!("Rejected: {comment}")),
        None => Outcome::failed(
            "ApprovalRejected",
            "the approval needs an answer and there is no terminal to ask on: pass --approve all or --approve none",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_artifact_is_the_output_no_secondary_artifact_made() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        /// Outputs, secondary artifacts the build made, whether it made a primary one, and what
        /// the error says.
        type Case<'a> = (&'a [&'a str], &'a [&'a str], bool, Result<(), &'a str>);
        let table: &[Case] = &[
            (&["Out"], &[], true, Ok(())),
            (&["Out"], &[], false, Err("no output artifact Out: the buildspec's artifacts made no files")),
            (&["artifact1", "artifact2"], &["artifact1", "artifact2"], true, Ok(())),
            (&["Site", "deploy"], &["deploy"], true, Ok(())),
            (&["a", "b", "c"], &["a"], true, Err("no output artifacts b, c")),
            (&[], &[], true, Ok(())),
        ];
        for (outputs, made, primary, expected) in table {
            let dir = tempfile::tempdir().unwrap();
            for m in *made {
                std::fs::create_dir_all(dir.path().join(m)).unwrap();
            }
            if *primary {
                std::fs::create_dir_all(dir.path().join(primary_name("Build")).join("x")).unwrap();
            }
            let got = settle_outputs(dir.path(), "Build", &names(outputs));
            match (got, expected) {
                (Ok(()), Ok(())) => {
                    for o in *outputs {
                        assert!(dir.path().join(o).is_dir(), "{outputs:?}: {o}");
                    }
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{e}"),
                (got, want) => panic!("{outputs:?}: {got:?}, expected {want:?}"),
            }
            assert!(!dir.path().join(primary_name("Build")).exists(), "the primary's place is gone");
        }
    }
}
