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

use super::actions::{Ctx, Outcome, commands_action, run_action};
use super::execution::{ActionRun, Execution, Left, Revision, Status};
use super::fetch::Input;
use super::plan::{self, Variables};
use crate::build::BuildRequest;
use crate::project::Project;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Deploy {
    /// ECS services run on the local Docker engine; nothing reaches AWS.
    Local,
    /// Deploy through the AWS APIs (`AWS_ENDPOINT_URL` honoured).
    Aws,
    /// Check what would be deployed, and deploy nothing.
    #[default]
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
    /// The execution's id (`None`: a new one). `runspec serve` answers StartPipelineExecution
    /// with it before the execution runs.
    pub execution_id: Option<String>,
    /// What started the execution (`triggerType`, `triggerDetail`).
    pub trigger: (String, String),
    /// Where the builds of CodeBuild, Commands and ECRBuildAndPublish actions run (`None`: in
    /// this process, as `runspec pipeline run` runs them).
    pub builds: Option<std::sync::Arc<dyn Builds>>,
    /// Who may enter a stage when other executions of the pipeline run beside this one
    /// (`runspec serve`: the pipeline's `executionMode`); `None`: every stage at once.
    pub gate: Option<std::sync::Arc<dyn StageGate>>,
}

/// Whether an execution may enter a stage, as its pipeline's `executionMode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Entered,
    /// A newer execution waits for the stage too (SUPERSEDED): this one ends Superseded.
    Superseded,
    /// The execution was asked to stop while it waited.
    Stopped,
}

/// The stage locks of a pipeline's executions: one execution in a stage at a time (QUEUED and
/// SUPERSEDED), or none (PARALLEL).
pub trait StageGate: Send + Sync {
    /// Waits until this execution may enter `stage`.
    fn enter(&self, stage: &str, stop: &watch::Receiver<bool>) -> Entry;
    /// The execution left `stage`.
    fn leave(&self, stage: &str);
}

/// Runs a pipeline's builds elsewhere than in this process: `runspec serve` puts them on its
/// build queue, so they count against its limits and show among its builds.
pub trait Builds: Send + Sync {
    /// Runs `req`, the build of `action` (`Stage/Action`), to its end (this thread waits);
    /// `stop` stops it. `Err` when it could not run at all.
    fn build(
        &self,
        action: &str,
        req: BuildRequest,
        stop: watch::Receiver<bool>,
    ) -> Result<crate::build::Finished, String>;

    /// Why a `BatchEnabled` CodeBuild action cannot run here (`None`: it can).
    fn no_batches(&self) -> Option<String> {
        None
    }
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
    /// An action's record, once it ended (after [`Event::ActionEnded`]).
    Recorded {
        run: &'a ActionRun,
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
pub(super) struct State {
    artifacts: BTreeMap<String, (PathBuf, Option<String>)>,
    variables: Variables,
    revisions: Vec<Revision>,
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

/// Runs one execution of `pipeline`.
pub fn run(
    pipeline: &PipelineDeclaration,
    options: &Options,
    observer: &dyn Observer,
    stop: watch::Receiver<bool>,
) -> Result<Execution, NotStarted> {
    let execution_id = options.execution_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
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
        if let Some(gate) = &options.gate {
            match gate.enter(&stage.name, &run.stop) {
                Entry::Entered => {}
                Entry::Superseded => {
                    status = "Superseded";
                    run.fail(format!("a newer execution superseded this one before stage {}", stage.name));
                    break;
                }
                Entry::Stopped => {
                    status = "Stopped";
                    break;
                }
            }
        }
        observer.event(Event::StageStarted { stage: &stage.name });
        let stage_status = run.stage(stage);
        if let Some(gate) = &options.gate {
            gate.leave(&stage.name);
        }
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
        trigger: options.trigger.clone(),
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
    /// An action's context: its configuration resolved and its inputs found; `Err` is the
    /// action's failure (a variable that is not set, an input no action made).
    fn context<'s>(&'s self, stage: &'s str, action: &'s ActionDeclaration) -> Result<Ctx<'s>, Failure> {
        let state = &self.state;
        let mut config = BTreeMap::new();
        for (k, v) in action.configuration.iter().flatten() {
            let resolved = plan::resolve(v, &state.variables)
                .map_err(|e| failure("ConfigurationError", format!("configuration {k}: {e}")))?;
            config.insert(k.clone(), resolved);
        }
        let mut environment = Vec::new();
        for v in action.environment_variables.iter().flatten() {
            let value = plan::resolve(&v.value, &state.variables).map_err(|e| {
                failure("ConfigurationError", format!("environment variable {}: {e}", v.name))
            })?;
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
            pipeline: self.pipeline,
            stage,
            action,
            config,
            environment,
            inputs,
            out_dir: self.exec_dir.clone(),
            options: self.options,
            observer: self.observer,
            stop: self.stop.clone(),
            git_sources: self.git_sources,
        })
    }

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
                    let ctx = self
                        .context(&stage.name, &action)
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
                let ctx = match self.context(&stage.name, action) {
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
        if let Some(run) = self.runs.last() {
            self.observer.event(Event::Recorded { run });
        }
        outcome.status
    }
}

/// The pipeline's variables: each declared one with `--variable NAME=VALUE` or its default;
/// one with neither cannot start (CodePipeline refuses StartPipelineExecution).
pub fn pipeline_variables(
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
