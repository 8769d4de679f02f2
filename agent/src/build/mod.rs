//! One path runs a build, whoever asked for it: `runspec run` (flags and a project file) and
//! `runspec serve` (StartBuild) both resolve into a [`BuildRequest`], and [`run`] prepares the
//! workspace, the environment and the executor, runs the engine with the caller's log sink, and
//! returns the report with the identity the result JSON needs. It prints nothing: warnings and
//! buildspec diagnostics go to the caller's [`Notices`].

mod buildspec_file;
mod cloud;
mod environment;
mod executor;
mod finish;
mod settings;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use buildspec_file::{MAX_BUILDSPEC_BYTES, read_buildspec, read_source_file};
pub use cloud::ecr_pull;
pub use settings::artifact_settings;

use crate::buildspec::Version;
use crate::engine::events::EventSink;
use crate::engine::ledger::Ledger;
use crate::engine::upload::ArtifactSettings;
use crate::engine::{BuildInput, BuildReport};
use crate::env::BuildFacts;
use crate::exec::Stop;
use crate::log::mask::MaskingSink;
use crate::project::Project;
use crate::result::{self, BuildIdentity};
use crate::workspace::{Source, Workspace};

/// A moment on both clocks: the timeout counts from `clock`, phase records from `wall`.
#[derive(Debug, Clone, Copy)]
pub struct Began {
    pub clock: tokio::time::Instant,
    pub wall: SystemTime,
}

impl Began {
    pub fn now() -> Began {
        Began { clock: tokio::time::Instant::now(), wall: SystemTime::now() }
    }
}

/// Everything one build needs, resolved from flags, a project and overrides.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The primary source directory.
    pub primary: PathBuf,
    pub secondary: Vec<Source>,
    /// Build in the source directory itself instead of a copy.
    pub mount_source: bool,
    /// Lines for the build log from fetching the sources (a service's or replay's source cache).
    pub source_notes: Vec<String>,
    /// A buildspec file given explicitly (`--buildspec`); else the project's `source.buildspec`
    /// (inline YAML or a path in the source), else `buildspec.yml`.
    pub buildspec: Option<PathBuf>,
    pub project: Project,
    pub project_name: String,
    /// environmentVariablesOverride: the highest layer.
    pub overrides: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// When DOWNLOAD_SOURCE began, when before [`run`]: a service's source fetch is part of
    /// DOWNLOAD_SOURCE and counts against the build's timeout, as on CodeBuild.
    pub started: Option<Began>,
    /// A fleet worker's lease on the build: once it runs out the build stops (before the next
    /// command, phase or upload) and its worker writes nothing more.
    pub lease: Option<std::sync::Arc<crate::exec::LeaseClock>>,
    pub artifacts: ArtifactSettings,
    /// The build image; `None`: on the host.
    pub image: Option<String>,
    pub privileged: bool,
    /// How a privileged build gets Docker (`--docker`, or a server's default); a project's
    /// `RUNSPEC_DOCKER` variable chooses for its builds.
    pub docker: crate::exec::docker::daemon::DockerMode,
    /// The sidecar's image (`--docker-sidecar-image`); `docker:dind` when `None`.
    pub docker_sidecar_image: Option<String>,
    /// Whether a project may choose the agent's own engine (`RUNSPEC_DOCKER=host`): yes on
    /// one's own machine, only with `serve --docker-host-allowed` on a server.
    pub docker_host_allowed: bool,
    /// An image build gets a network of its own (a service's builds), removed with it.
    pub own_network: bool,
    /// Ignore the compute type's memory and CPU limits (`--no-limits`).
    pub no_limits: bool,
    /// A runtime catalog given explicitly, with where it came from.
    pub runtimes: Option<(crate::runtimes::Catalog, String)>,
    /// A cache location overriding the project's (a directory or `s3://bucket/prefix`).
    pub cache: Option<String>,
    /// Where test reports go as JSON.
    pub reports: Option<PathBuf>,
    /// Pass the agent's AWS credentials into the build.
    pub aws_credentials: bool,
    pub profile: Option<String>,
    pub ecr_login: EcrLogin,
    /// Assigned by a service; `runspec run` leaves them to [`run`] (a new uuid, `$USER`).
    pub uuid: Option<String>,
    pub build_number: Option<u64>,
    pub initiator: Option<String>,
    /// The source version a caller knows (a pipeline's source commit, which CodePipeline passes
    /// to CodeBuild): `CODEBUILD_SOURCE_VERSION` and `CODEBUILD_RESOLVED_SOURCE_VERSION`, in
    /// place of the primary source's git HEAD (a pipeline's ZIP artifact has no `.git`).
    pub source_version: Option<String>,
    /// A webhook build's `CODEBUILD_WEBHOOK_*` variables (set by the service that received the
    /// delivery).
    pub webhook: Vec<(String, String)>,
    /// A progress bar for S3 uploads (only on a terminal).
    pub progress: bool,
    /// runspec's terminal: breakpoints open a shell there, and with `on_failure` (`--debug`)
    /// the build stops at a failing command. `None`: breakpoints are logged and skipped.
    pub terminal: Option<crate::exec::debug::Terminal>,
    /// A service's build on its own shell: kept apart from the server and other builds.
    pub host_isolation: Option<HostIsolation>,
}

/// How a service (`runspec serve`, `runspec worker`) runs a build on its own shell: in a clean
/// environment (none of the server's variables), with every process in a cgroup of the build's
/// where the machine allows one (see [`crate::exec::cgroup`]), and as `user` when given.
#[derive(Debug, Clone, Default)]
pub struct HostIsolation {
    /// `serve --build-user`: every command runs as this user, and the workspace is theirs.
    pub user: Option<String>,
}

/// The image name that means "this machine's shell": what a host build records as its image,
/// and what a project names to build there.
pub const HOST_IMAGE: &str = "runspec/host";

/// When a build gets an ECR login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EcrLogin {
    #[default]
    Auto,
    Always,
    Never,
}

/// A build that ran (whatever its status).
pub struct Finished {
    pub report: BuildReport,
    pub identity: BuildIdentity,
}

impl Finished {
    /// The build as a CodeBuild `Build` object (the `--result` file, the API's answer).
    pub fn json(&self) -> serde_json::Value {
        result::build_json(&self.identity, &self.report)
    }
}

/// The primary source directory as the build record shows it: `LOCAL`, with the project's
/// `buildspec` when it names one.
pub fn cb_source(dir: &Path, buildspec: Option<&str>) -> crate::shapes::codebuild::ProjectSource {
    crate::shapes::codebuild::ProjectSource {
        buildspec: buildspec.map(str::to_string),
        ..result::local_source(dir, None)
    }
}

/// Why a build could not start: nothing ran.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PrepareError(pub String);

fn prepare(message: impl Into<String>) -> PrepareError {
    PrepareError(message.into())
}

/// Where a build's warnings and buildspec diagnostics go (stderr for `runspec run`).
pub trait Notices: Sync {
    fn warning(&self, message: &str);
    /// Rendered buildspec diagnostics (several lines).
    fn diagnostics(&self, rendered: &str);
}

/// The project name when no project is given: the source directory's name, as CodeBuild
/// project names allow it.
pub fn default_project_name(primary: &Path) -> String {
    let base = primary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    if name.len() >= 2 { name } else { "local".to_string() }
}

/// `git rev-parse HEAD` and the origin URL, when the primary source is a git checkout.
fn git_facts(dir: &Path) -> (Option<String>, Option<String>) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    if !dir.ancestors().any(|d| d.join(".git").exists()) {
        return (None, None);
    }
    (git(&["rev-parse", "HEAD"]), git(&["config", "--get", "remote.origin.url"]))
}

/// A per-project build counter under the user's state directory (CODEBUILD_BUILD_NUMBER).
pub fn next_build_number(project: &str) -> Option<u64> {
    let base = crate::dirs::state()?;
    let dir = base.join("build-numbers");
    fs::create_dir_all(&dir).ok()?;
    let file = dir.join(project);
    let n = fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0) + 1;
    fs::write(&file, n.to_string()).ok()?;
    Some(n)
}

/// Runs one build: the workspace, the environment, the executor, the engine with `sink`
/// receiving the (masked) log, until it ends or `stopped` turns true. `Err` when the build
/// cannot start at all (nothing ran).
pub async fn run<S: EventSink>(
    req: BuildRequest,
    sink: S,
    stopped: tokio::sync::watch::Receiver<bool>,
    notices: &dyn Notices,
) -> Result<Finished, PrepareError> {
    // Debug builds only: the tests check that a panic before the engine starts still leaves a
    // FAULT result (see `engine::run` for one inside it).
    #[cfg(debug_assertions)]
    if std::env::var("RUNSPEC_TEST_PANIC_AT").is_ok_and(|at| at == "(start)") {
        panic!("injected by RUNSPEC_TEST_PANIC_AT");
    }
    // DOWNLOAD_SOURCE: a service's fetch began it; the workspace copy is part of it.
    let began = req.started.unwrap_or_else(Began::now);
    let start = began.wall;
    let workspace = workspace(&req, notices)?;
    let uuid = req.uuid.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let region = req
        .project
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string());
    let account = req.project.account.clone().unwrap_or_else(|| "000000000000".to_string());
    let initiator = req
        .initiator
        .clone()
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "runspec".to_string()));
    let (head, repo_url) = git_facts(&req.primary);
    let sha = req.source_version.clone().or(head);

    // Under Docker the build sees the workspace at a CodeBuild-like path.
    let image = executor::image(&req, &uuid).await?;
    let (src, secondary_dirs): (String, Vec<(String, String)>) = match &image {
        Some(i) => (
            format!("{}/src", i.root),
            workspace
                .secondary
                .iter()
                .map(|(id, _)| (id.clone(), format!("{}/secSrc/{id}", i.root)))
                .collect(),
        ),
        None => (
            workspace.src_dir.display().to_string(),
            workspace.secondary.iter().map(|(id, d)| (id.clone(), d.display().to_string())).collect(),
        ),
    };
    let (spec, location) = buildspec_file::load_buildspec(
        req.buildspec.as_deref(),
        &req.project,
        (&workspace.src_dir, &req.primary),
        &src,
        notices,
    );
    let facts = BuildFacts {
        project: &req.project_name,
        uuid: &uuid,
        region: &region,
        account: &account,
        build_number: req.build_number,
        start_time_ms: start.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
        initiator: &initiator,
        src_dir: &src,
        secondary_dirs: &secondary_dirs,
        image: req.image.as_deref(),
        resolved_source_version: sha.as_deref(),
        source_repo_url: repo_url.as_deref(),
        webhook: &req.webhook,
    };
    let in_image = image.as_ref().map(|i| (i.info.env.as_slice(), i.root.as_str()));
    let mut env =
        environment::prepare_environment(&req, spec.as_ref().ok(), &facts, in_image, &workspace).await?;
    let mut log_warnings = Vec::new();
    let cloud = cloud::prepare_cloud(
        &req,
        spec.as_ref().ok(),
        &facts,
        &mut env,
        &workspace,
        image.as_ref().map(|_| src.as_str()),
        &mut log_warnings,
    )
    .await?;

    let (shell, save_state) = match &spec {
        Ok(b) => (b.env.shell.as_ref().map(|s| s.value).unwrap_or_default(), b.version == Version::V0_2),
        Err(_) => (Default::default(), true),
    };
    let wanted_runtimes = spec
        .as_ref()
        .ok()
        .and_then(|b| b.phase(crate::buildspec::PhaseName::Install))
        .is_some_and(|p| !p.runtime_versions.is_empty());
    let requests = env.requests.clone();
    let build_id = facts.build_id();
    let how = executor::Start {
        workspace: &workspace,
        shell,
        save_state,
        label: &build_id,
        uuid: &uuid,
        wanted_runtimes,
    };
    let mut stop = Stop::since(began.clock, req.timeout, stopped).with_lease(req.lease.clone());
    let started = match executor::start(&req, image, env, how, &mut stop).await {
        Ok(started) => started,
        Err(executor::NotStarted::Prepare(e)) => return Err(e),
        Err(executor::NotStarted::Provisioning(failed)) => {
            let mut sink = MaskingSink::new(sink, cloud.masker);
            let report = finish::provisioning_failed(&mut sink, &runner(&req), start, failed);
            workspace.remove_in_background();
            return Ok(Finished { report, identity: finish::identity(&req, &facts) });
        }
    };
    let mut log = Ledger::new(MaskingSink::new(sink, cloud.masker), start);
    let input = BuildInput {
        started: start,
        notes: req.source_notes.iter().cloned().chain(started.notes).collect(),
        warnings: log_warnings.into_iter().chain(started.warnings).collect(),
        buildspec: spec,
        buildspec_location: location,
        src_dir: workspace.src_dir.clone(),
        artifacts: cloud.artifacts,
        runner: runner(&req),
        secrets: cloud.secrets,
        cache: cloud.cache,
        reports: crate::reports::ReportSettings {
            output: req.reports.clone(),
            project: req.project_name.clone(),
        },
        plugins: Some(crate::plugins::runner::Runner::new(
            workspace.src_dir.clone(),
            crate::plugins::PluginHost::default_cache_dir(),
            crate::plugins::BuildMetadata {
                build_id: build_id.clone(),
                build_number: req.build_number.unwrap_or(1),
                project_name: req.project_name.clone(),
                source_version: sha.clone(),
                initiator: initiator.clone(),
                region: region.clone(),
            },
        )),
        images: Some(crate::image::Pusher::default()),
        runtimes: started.runtimes,
        debug: req.terminal.filter(|t| t.on_failure),
    };
    let mut report = match started.session.run_engine(&mut log, stop, input).await {
        Ok(report) => report,
        Err(panic) => log.fault(start, &crate::engine::ledger::panic_message(&*panic)),
    };
    finish::protect_secrets(&mut report, log.inner().masker(), &requests, notices);
    let identity = finish::identity(&req, &facts);
    // The workspace copy (a node_modules can be 100,000 files) goes away on its own time.
    workspace.remove_in_background();
    Ok(Finished { report, identity })
}

/// The log's first line: what runs the build.
fn runner(req: &BuildRequest) -> String {
    match &req.image {
        Some(image) => format!("Running on runspec {} (Docker image {image})", env!("CARGO_PKG_VERSION")),
        None => format!("Running on runspec {} (host shell)", env!("CARGO_PKG_VERSION")),
    }
}

/// The build's workspace: a copy of its sources (runspec's own directories are never part of
/// one, for a build run from `$HOME`), or the source itself with `--mount-source`.
fn workspace(req: &BuildRequest, notices: &dyn Notices) -> Result<Workspace, PrepareError> {
    let own_dirs: Vec<PathBuf> = [crate::dirs::cache(), crate::dirs::state()].into_iter().flatten().collect();
    let workspace = Workspace::create(&req.primary, &req.secondary, req.mount_source, &own_dirs)
        .map_err(|e| prepare(e.to_string()))?;
    for skipped in &workspace.skipped {
        notices.warning(&format!(
            "`{}` was not copied into the workspace (not a regular file, or unreadable)",
            skipped.display()
        ));
    }
    Ok(workspace)
}
