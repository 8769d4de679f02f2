//! `runspec pipeline`: CodePipeline pipelines on this machine.

use std::io::IsTerminal;
use std::path::PathBuf;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use super::{Format, UsageError, exit, usage};
use crate::exec::docker::daemon::DockerMode;
use crate::pipeline::execution::Status;
use crate::pipeline::runner::{Approve, Deploy, Event, Observer, Options};

#[derive(Debug, clap::Subcommand)]
pub enum PipelineCommand {
    /// Validate a pipeline definition without running anything: what `aws codepipeline
    /// get-pipeline` prints, the bare pipeline object, or a `create-pipeline --cli-input-json`
    /// file. Reports every problem at once with file:line:col: the CodePipeline API's own bounds
    /// (from botocore's model), an input artifact no earlier action produces, an artifact
    /// produced twice, a `#{ns.var}` no earlier action declares, V2-only features in a V1
    /// pipeline, a provider's missing configuration, stage and runOrder rules. Exit status 0
    /// when valid, 1 with problems, 2 when the file is not a pipeline.
    Check(PipelineCheckArgs),
    /// Run a pipeline on this machine, as CodePipeline runs it: stages in order, in a stage
    /// the actions of one runOrder at once; source actions from --source (or the current git
    /// repository for the one git source), CodeBuild and Commands actions as runspec builds
    /// with CODEPIPELINE semantics (CODEBUILD_SRC_DIR_<artifact>, exported variables into the
    /// action's namespace, #{ns.var} resolved), manual approvals per --approve, ECS deploys per
    /// --deploy. Each action's log lines are prefixed with [Stage/Action]. Exit status 0 when
    /// the execution succeeded, 1 when it failed or was stopped, 2 when it could not start.
    Run(Box<PipelineRunArgs>),
}

#[derive(Debug, clap::Args)]
pub struct PipelineRunArgs {
    /// The pipeline definition (JSON), as `pipeline check` reads it.
    #[arg(value_name = "PIPELINE.json")]
    pub pipeline: PathBuf,

    /// A source action's files, by action or output artifact name: a directory (a git work
    /// tree is taken at HEAD, as committed; any other directory as it is) or a git URL with an
    /// optional @REVISION. Default for a pipeline's one git source: the current repository.
    #[arg(long = "source", value_name = "NAME=DIR|GIT_URL[@REV]")]
    pub sources: Vec<String>,

    /// A CodeBuild project by name: a `batch-get-projects` element or a `create-project
    /// --cli-input-json` file. A project without one runs a default project (this machine's
    /// shell or --image, the buildspec of the primary input).
    #[arg(long = "project", value_name = "NAME=PROJECT.json")]
    pub projects: Vec<String>,

    /// Read the projects not given with --project from this CodeBuild endpoint
    /// (BatchGetProjects, signed with the standard credential chain): `runspec serve`, or
    /// CodeBuild itself (https://codebuild.REGION.amazonaws.com).
    #[arg(long, value_name = "URL")]
    pub codebuild_endpoint: Option<String>,

    /// A pipeline variable (V2), or NAMESPACE.NAME=VALUE for a namespace's variable no action
    /// here sets (the outputs of a CloudFormation action that is not deployed).
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    pub variables: Vec<String>,

    /// Manual approvals: all approves them, none rejects them, ask asks on the terminal.
    #[arg(long, value_enum, default_value_t = Approve::Ask, value_name = "WHO")]
    pub approve: Approve,

    /// Deploy actions. skip: check imagedefinitions.json (against --task-definition when
    /// given) and deploy nothing. local: run the ECS service's task definition on the local
    /// Docker engine with the new images, replacing its previous local deployment (ports on
    /// 127.0.0.1). aws: a new task definition revision and the service updated, through the
    /// ECS API (AWS_ENDPOINT_URL honoured).
    #[arg(long, value_enum, default_value_t = Deploy::Skip, value_name = "MODE")]
    pub deploy: Deploy,

    /// An ECS service's task definition for --deploy local and skip: what `aws ecs
    /// describe-task-definition` prints, or the register-task-definition input.
    #[arg(long = "task-definition", value_name = "SERVICE=FILE")]
    pub task_definitions: Vec<String>,

    /// Keep the artifact store here: each execution's artifacts under <execution id>/<name>/
    /// with its record (execution.json). Default: a temporary directory, removed at the end.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,

    /// Write the execution as `get-pipeline-execution` and `list-action-executions` show it:
    /// {"pipelineExecution": …, "actionExecutionDetails": […]}.
    #[arg(long, value_name = "EXECUTION.json")]
    pub result: Option<PathBuf>,

    /// Start at this stage, with the artifacts and variables of the earlier stages from the
    /// newest execution in --artifacts that ran them.
    #[arg(long, value_name = "STAGE")]
    pub from: Option<String>,

    /// Stop after this stage.
    #[arg(long, value_name = "STAGE")]
    pub to: Option<String>,

    /// Run every build in this image (default: each project's image, else this machine's shell).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Run every build on this machine's shell, whatever image its project names.
    #[arg(long, conflicts_with = "image")]
    pub host: bool,

    /// How privileged builds get Docker (see `runspec run --help`).
    #[arg(long, value_enum, default_value_t = DockerMode::InImage, value_name = "MODE")]
    pub docker: DockerMode,

    /// The image of the --docker sidecar daemon (it must have dockerd).
    #[arg(long, value_name = "IMAGE", default_value = "docker:dind")]
    pub docker_sidecar_image: String,

    /// Lift the compute types' limits.
    #[arg(long)]
    pub no_limits: bool,

    /// Pass the host's AWS credentials and region into the builds (masked in the log).
    #[arg(short = 'c', long)]
    pub aws_credentials: bool,
}

#[derive(Debug, clap::Args)]
pub struct PipelineCheckArgs {
    /// The pipeline definition (JSON).
    #[arg(value_name = "PIPELINE.json")]
    pub pipeline: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn main(cmd: PipelineCommand) -> Result<u8, UsageError> {
    match cmd {
        PipelineCommand::Check(args) => check(&args),
        PipelineCommand::Run(args) => run(&args),
    }
}

fn check(args: &PipelineCheckArgs) -> Result<u8, UsageError> {
    let path = &args.pipeline;
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
    let diags = crate::pipeline::check::check(&path.display().to_string(), &text)
        .map_err(|e| usage(format!("{}: {}", path.display(), e.0)))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&diags.to_json()).unwrap_or_default()),
        Format::Human => {
            let width = if std::io::stdout().is_terminal() { super::check::terminal_width() } else { 100 };
            if diags.issues.is_empty() {
                println!("{}: valid", diags.file);
            } else {
                print!("{}", diags.render(width));
            }
        }
    }
    Ok(if diags.has_errors() { exit::FAILED } else { exit::OK })
}

/// `NAME=VALUE` of a flag.
fn pair<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str), UsageError> {
    text.split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| usage(format!("{flag} {text}: expected NAME=VALUE")))
}

fn run(args: &PipelineRunArgs) -> Result<u8, UsageError> {
    let path = &args.pipeline;
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
    let shown = path.display().to_string();
    let diags =
        crate::pipeline::check::check(&shown, &text).map_err(|e| usage(format!("{shown}: {}", e.0)))?;
    if diags.has_errors() {
        eprint!("{}", diags.render(100));
        return Err(usage(format!("{shown} has problems (above): fix them and run again")));
    }
    let definition = crate::pipeline::definition::Definition::read(&text).map_err(|e| usage(e.0))?;
    let pipeline = definition.pipeline.ok_or_else(|| usage(format!("{shown} is not a pipeline")))?;
    let mut sources = BTreeMap::new();
    for s in &args.sources {
        let (name, value) = pair("--source", s)?;
        let input =
            crate::pipeline::fetch::Input::parse(value).map_err(|e| usage(format!("--source {s}: {e}")))?;
        sources.insert(name.to_string(), input);
    }
    let mut projects = BTreeMap::new();
    for p in &args.projects {
        let (name, file) = pair("--project", p)?;
        let text = std::fs::read_to_string(file)
            .map_err(|e| usage(format!("--project {p}: cannot read `{file}`: {e}")))?;
        let mut project = crate::project::parse(&text).map_err(|e| usage(format!("--project {p}: {e}")))?;
        for field in &project.ignored {
            eprintln!(
                "warning: {file}: project field `{field}` is not supported by runspec yet and is ignored"
            );
        }
        project.name = Some(name.to_string());
        projects.insert(name.to_string(), project);
    }
    let mut variables = Vec::new();
    for v in &args.variables {
        let (name, value) = pair("--variable", v)?;
        variables.push((name.to_string(), value.to_string()));
    }
    let mut task_definitions = BTreeMap::new();
    for t in &args.task_definitions {
        let (service, file) = pair("--task-definition", t)?;
        task_definitions.insert(service.to_string(), PathBuf::from(file));
    }
    let temporary = match &args.artifacts {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("runspec-pipeline-")
                .tempdir()
                .map_err(|e| usage(format!("cannot make a temporary directory: {e}")))?,
        ),
    };
    let store = match (&args.artifacts, &temporary) {
        (Some(dir), _) => {
            std::fs::create_dir_all(dir).map_err(|e| usage(format!("--artifacts {}: {e}", dir.display())))?;
            dir.canonicalize().map_err(|e| usage(format!("--artifacts {}: {e}", dir.display())))?
        }
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => unreachable!("a temporary store is made when --artifacts is not given"),
    };
    if args.from.is_some() && args.artifacts.is_none() {
        return Err(usage(
            "--from reads the artifacts of an earlier execution: pass the --artifacts DIR it kept them in",
        ));
    }
    let template = crate::build::BuildRequest {
        image: args.image.clone(),
        docker: args.docker,
        docker_sidecar_image: Some(args.docker_sidecar_image.clone()),
        docker_host_allowed: true,
        no_limits: args.no_limits,
        aws_credentials: args.aws_credentials,
        ..Default::default()
    };
    let options = Options {
        sources,
        projects,
        codebuild_endpoint: args.codebuild_endpoint.clone(),
        variables,
        approve: args.approve,
        deploy: args.deploy,
        task_definitions,
        store,
        from: args.from.clone(),
        to: args.to.clone(),
        here: std::env::current_dir()
            .map_err(|e| usage(format!("cannot read the current directory: {e}")))?,
        template,
        host: args.host,
        execution_id: None,
        trigger: ("StartPipelineExecution".into(), "runspec pipeline run".into()),
        builds: None,
        gate: None,
    };
    // The signal handlers need a runtime; the actions run on runtimes of their own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    let stop = runtime.block_on(async { super::run::stop_signal() });
    let printer = Printer::new();
    let execution =
        crate::pipeline::runner::run(&pipeline, &options, &printer, stop).map_err(|e| usage(e.0))?;
    printer.finish();
    if let Some(result) = &args.result {
        let text = serde_json::to_string_pretty(&execution.to_json()).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(result, text) {
            eprintln!("error: cannot write the result to `{}`: {e}", result.display());
        }
    }
    let took = execution.end.duration_since(execution.start).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    eprintln!(
        "Pipeline {} {} in {took:.1} s (execution {})",
        execution.pipeline, execution.status, execution.id
    );
    for line in execution.summary_lines() {
        eprintln!("{line}");
    }
    if let Some(why) = &execution.summary {
        eprintln!("  {why}");
    }
    Ok(if execution.status == "Succeeded" { exit::OK } else { exit::FAILED })
}

/// Prints an execution: every line on stdout, prefixed with `[Stage/Action] `; on a terminal, a
/// status line per action below them.
struct Printer {
    out: Mutex<Box<dyn Write + Send>>,
    bars: Option<(indicatif::MultiProgress, Mutex<BTreeMap<String, indicatif::ProgressBar>>)>,
}

impl Printer {
    fn new() -> Printer {
        let live = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        match live {
            true => {
                let mp = indicatif::MultiProgress::new();
                Printer {
                    out: Mutex::new(Box::new(super::run::AboveBars(mp.clone()))),
                    bars: Some((mp, Mutex::new(BTreeMap::new()))),
                }
            }
            false => Printer { out: Mutex::new(Box::new(std::io::stdout())), bars: None },
        }
    }

    fn print(&self, text: String) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all((text + "\n").as_bytes());
        let _ = out.flush();
    }

    fn finish(&self) {
        if let Some((mp, _)) = &self.bars {
            let _ = mp.clear();
        }
    }
}

impl Observer for Printer {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { pipeline, execution_id, store } => self.print(format!(
                "Pipeline {pipeline}: execution {execution_id} (artifacts in {})",
                store.display()
            )),
            Event::StageStarted { stage } => self.print(format!("[{stage}] Entering stage {stage}")),
            Event::ActionStarted { stage, action, provider } => {
                self.print(format!("[{stage}/{action}] Action {action} started ({provider})"));
                if let Some((mp, bars)) = &self.bars {
                    let bar = mp.add(indicatif::ProgressBar::new_spinner());
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} {elapsed}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(format!("{stage}/{action}"));
                    bar.set_message("InProgress");
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    bars.lock().unwrap_or_else(|p| p.into_inner()).insert(format!("{stage}/{action}"), bar);
                }
            }
            Event::Line { stage, action, line } => {
                self.print(format!("[{stage}/{action}] {}", String::from_utf8_lossy(line)));
            }
            Event::ActionEnded { stage, action, status, summary } => {
                self.print(format!("[{stage}/{action}] Action {action} {}: {summary}", status.as_str()));
                if let Some((_, bars)) = &self.bars
                    && let Some(bar) =
                        bars.lock().unwrap_or_else(|p| p.into_inner()).get(&format!("{stage}/{action}"))
                {
                    bar.finish_with_message(match status {
                        Status::Succeeded => "Succeeded".to_string(),
                        other => format!("{}: {summary}", other.as_str()),
                    });
                }
            }
            Event::StageEnded { stage, status } => self.print(format!("[{stage}] Stage {stage} {status}")),
            Event::Recorded { .. } => {}
        }
    }

    fn ask(
        &self,
        stage: &str,
        action: &str,
        configuration: &BTreeMap<String, String>,
    ) -> Option<(bool, String)> {
        use std::io::BufRead;
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        let ask = || {
            eprintln!("\n[{stage}/{action}] Manual approval");
            for key in ["CustomData", "ExternalEntityLink"] {
                if let Some(v) = configuration.get(key) {
                    eprintln!("  {key}: {v}");
                }
            }
            eprint!("Approve? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer).ok()?;
            let approved = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
            eprint!("Comment (optional): ");
            let mut comment = String::new();
            std::io::stdin().lock().read_line(&mut comment).ok()?;
            let who = std::env::var("USER").unwrap_or_else(|_| "you".into());
            let comment = match comment.trim() {
                "" => format!("by {who} on the terminal"),
                c => format!("by {who}: {c}"),
            };
            Some((approved, comment))
        };
        match &self.bars {
            Some((mp, _)) => mp.suspend(ask),
            None => ask(),
        }
    }
}
