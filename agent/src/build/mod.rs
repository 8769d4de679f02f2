//! One path runs a build, whoever asked for it: `runspec run` (flags and a project file) and
//! `runspec serve` (StartBuild) both resolve into a [`BuildRequest`], and [`run`] prepares the
//! workspace, the environment and the executor, runs the engine with the caller's log sink, and
//! returns the report with the identity the result JSON needs. It prints nothing: warnings and
//! buildspec diagnostics go to the caller's [`Notices`].

use std::fs;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;

use crate::buildspec::{self, Buildspec, Version};
use crate::engine::events::EventSink;
use crate::engine::ledger::Ledger;
use crate::engine::upload::{ArtifactSettings, ArtifactTarget, Destination};
use crate::engine::{BuildInput, BuildReport, BuildspecFailure, Engine};
use crate::env::{self, BuildFacts};
use crate::exec::Stop;
use crate::exec::docker::DockerSession;
use crate::exec::host::HostSession;
use crate::log::mask::{Masker, MaskingSink};
use crate::project::{self, ArtifactsType, Project};
use crate::result::{self, BuildIdentity};
use crate::workspace::{Source, Workspace};

/// Everything one build needs, resolved from flags, a project and overrides.
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

#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The primary source directory.
    pub primary: PathBuf,
    pub secondary: Vec<Source>,
    /// Build in the source directory itself instead of a copy.
    pub mount_source: bool,
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

/// Artifact targets from `--artifacts` (a directory or `s3://bucket/prefix`, overriding where the
/// project's artifacts go, as the local agent's `-a` does) and the project's `artifacts` and
/// `secondaryArtifacts` (names, packaging, identifiers, and S3 locations).
pub fn artifact_settings(
    overridden: Option<&str>,
    project: &Project,
    notices: &dyn Notices,
) -> Result<ArtifactSettings, PrepareError> {
    let from_project =
        |a: &project::ProjectArtifacts, destination: Destination, exact_name: bool| ArtifactTarget {
            destination,
            packaging: a.packaging,
            name: a.name.clone(),
            override_name: a.override_artifact_name,
            exact_name,
        };
    let project_destination = |a: &project::ProjectArtifacts| -> Result<Destination, PrepareError> {
        Ok(match a.kind {
            ArtifactsType::S3 => Destination::S3 {
                bucket: a.location.clone().filter(|l| !l.is_empty()).ok_or_else(|| {
                    prepare("the project's S3 artifacts have no `location` (bucket); pass --artifacts")
                })?,
                path: a.path.clone(),
                build_id_namespace: a.namespace_build_id,
            },
            ArtifactsType::CodePipeline => {
                notices.warning(
                    "CODEPIPELINE artifacts are handed to CodePipeline; runspec only lists them (pass --artifacts to keep them)",
                );
                Destination::Nowhere
            }
            ArtifactsType::NoArtifacts => Destination::Nowhere,
        })
    };
    let Some(overridden) = overridden else {
        let primary = match &project.artifacts {
            Some(a) => from_project(a, project_destination(a)?, true),
            None => ArtifactTarget::default(),
        };
        let mut secondary = Vec::new();
        for a in &project.secondary_artifacts {
            if let Some(id) = &a.identifier {
                secondary.push((id.clone(), from_project(a, project_destination(a)?, true)));
            }
        }
        let other_secondary = (project.artifacts.is_none()).then(ArtifactTarget::default);
        return Ok(ArtifactSettings { primary, secondary, other_secondary, ..Default::default() });
    };
    let destination = match overridden.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(prepare(format!("--artifacts {overridden}: no bucket name")));
            }
            let path = Some(prefix.trim_matches('/').to_string()).filter(|p| !p.is_empty());
            Destination::S3 { bucket: bucket.to_string(), path, build_id_namespace: false }
        }
        None => {
            let dir = PathBuf::from(overridden);
            fs::create_dir_all(&dir).map_err(|e| prepare(format!("--artifacts {}: {e}", dir.display())))?;
            Destination::Local(dir.canonicalize().unwrap_or(dir))
        }
    };
    let primary = match &project.artifacts {
        Some(a) => from_project(a, destination.clone(), false),
        None => ArtifactTarget { destination: destination.clone(), ..Default::default() },
    };
    let secondary = project
        .secondary_artifacts
        .iter()
        .filter_map(|a| Some((a.identifier.clone()?, from_project(a, destination.clone(), false))))
        .collect();
    let other_secondary = Some(ArtifactTarget { destination, ..Default::default() });
    Ok(ArtifactSettings { primary, secondary, other_secondary, ..Default::default() })
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

/// For a build image in ECR that is not local: where to pull it from, with an ECR token.
async fn ecr_pull(
    image: &str,
    profile: Option<&str>,
) -> Result<Option<crate::exec::docker::PullFrom>, PrepareError> {
    let Ok(ecr) = crate::image::uri::parse(image) else { return Ok(None) };
    let config = crate::aws::sdk_config(&ecr.region, profile).await;
    let client = crate::image::ecr::client(&config, &ecr.region);
    let login = crate::image::ecr::login(&client, Some(&ecr.registry))
        .await
        .map_err(|e| prepare(format!("cannot pull the build image `{image}`: {e}")))?;
    Ok(Some(crate::exec::docker::PullFrom {
        from: format!("{}/{}:{}", login.server, ecr.repository, ecr.tag),
        credentials: login.docker_credentials(),
    }))
}

/// The build's Docker login for ECR (`--ecr-login`): a token from the ECR API written into a
/// Docker config in the state directory, named by `DOCKER_CONFIG` (a built-in: the buildspec
/// can still point elsewhere). On the host the user's own config is the base. Returns the
/// values to mask. In `auto`, a failure is a warning: the build may not need the login.
async fn ecr_login(
    req: &BuildRequest,
    spec: Option<&crate::buildspec::Buildspec>,
    environment: &mut env::Environment,
    state_dir: &Path,
    in_container: bool,
    region: &str,
    log_warnings: &mut Vec<String>,
) -> Result<Vec<String>, PrepareError> {
    use crate::buildspec::Step;
    use crate::image::docker_config;
    let wanted = match req.ecr_login {
        EcrLogin::Never => false,
        EcrLogin::Always => true,
        EcrLogin::Auto => {
            let commands =
                spec.into_iter().flat_map(|b| &b.phases).flat_map(|p| p.commands.iter().chain(&p.finally));
            let texts: Vec<&str> = commands
                .filter_map(|c| match c {
                    Step::Command(t) => Some(t.as_str()),
                    Step::Plugin(_) => None,
                })
                .collect();
            let pairs = environment.pairs();
            // A login only when something would use it: a registry client (`docker push`) and
            // an ECR registry named somewhere. A build that needs no AWS makes no AWS call.
            docker_config::runs_registry_client(texts.iter().copied())
                && docker_config::mentions_ecr(
                    texts.iter().copied().chain(pairs.iter().map(|(_, v)| v.as_str())),
                )
        }
    };
    if !wanted {
        return Ok(Vec::new());
    }
    let config = crate::aws::sdk_config(region, req.profile.as_deref()).await;
    let client = crate::image::ecr::client(&config, config.region().map_or(region, |r| r.as_ref()));
    let login = match crate::image::ecr::login(&client, None).await {
        Ok(l) => l,
        Err(e) if req.ecr_login == EcrLogin::Auto => {
            // In the build's log, where a failing `docker push` will send the reader.
            log_warnings.push(format!("no ECR login for the build ({e}); pass --ecr-login never to skip it"));
            return Ok(Vec::new());
        }
        Err(e) => return Err(prepare(e)),
    };
    let existing = match in_container {
        true => None,
        false => {
            let dir = std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
            dir.and_then(|d| fs::read_to_string(d.join("config.json")).ok())
        }
    };
    let text = docker_config::with_logins(existing.as_deref(), std::slice::from_ref(&login))
        .map_err(|e| prepare(format!("your Docker config: {e}")))?;
    let dir = state_dir.join("docker");
    fs::create_dir_all(&dir)
        .and_then(|()| fs::write(dir.join("config.json"), text))
        .map_err(|e| prepare(format!("cannot write the build's Docker config in {}: {e}", dir.display())))?;
    let seen = match in_container {
        true => format!("{}/docker", crate::exec::docker::STATE_DIR),
        false => dir.display().to_string(),
    };
    environment.set("DOCKER_CONFIG", seen, env::Layer::Builtin);
    Ok(vec![login.basic_auth(), login.password])
}

/// A byte counter with throughput on stderr when it is a terminal; nothing otherwise (CI logs
/// stay clean).
fn upload_progress() -> Option<crate::artifacts::s3::Progress> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} uploading artifacts: {bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    Some(std::sync::Arc::new(move |n| bar.inc(n)))
}

/// The executor a build runs on.
enum Sessions {
    Host(HostSession),
    Docker(DockerSession),
}

/// Where the cache lives.
enum CacheLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

/// `--cache`, else the project's cache: S3 (`bucket/prefix`) or LOCAL (a directory on this
/// machine per project, under `$XDG_CACHE_HOME/runspec` or `~/.cache/runspec`; `RUNSPEC_CACHE_DIR`
/// overrides).
fn cache_location(
    flag: Option<&str>,
    project: &Project,
    name: &str,
    notices: &dyn Notices,
) -> Result<Option<CacheLocation>, PrepareError> {
    let s3 = |location: &str| {
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        CacheLocation::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() }
    };
    if let Some(c) = flag {
        return Ok(Some(match c.strip_prefix("s3://") {
            Some("") => return Err(prepare(format!("--cache {c}: no bucket name"))),
            Some(location) => s3(location),
            None => CacheLocation::Local(PathBuf::from(c)),
        }));
    }
    Ok(match &project.cache {
        None => None,
        Some(project::ProjectCache::S3 { location }) => Some(s3(location)),
        Some(project::ProjectCache::Local { modes }) => {
            for mode in modes.iter().filter(|m| *m != "LOCAL_CUSTOM_CACHE") {
                notices.warning(&format!(
                    "cache mode {mode}: the host executor keeps no git or Docker layer cache; only the buildspec's cache paths are cached"
                ));
            }
            let base = crate::dirs::cache()
                .ok_or_else(|| prepare("cannot find a cache directory: set RUNSPEC_CACHE_DIR"))?;
            Some(CacheLocation::Local(base.join(name)))
        }
    })
}

/// CodeBuild's helper commands for the build's PATH (`codebuild-hash-files`,
/// `codebuild-tests-run`, `codebuild-glob-search`): shims that call this runspec.
fn helper_bin(root: &Path, on_host: bool, state_in_build: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("bin");
    fs::create_dir_all(&dir)?;
    let mut scripts =
        vec![("codebuild-breakpoint".to_string(), crate::exec::debug::breakpoint_script(state_in_build))];
    if on_host {
        let exe = std::env::current_exe()?;
        let exe = crate::exec::wrapper::sh_quote(&exe.to_string_lossy());
        for (name, sub) in [
            ("codebuild-hash-files", "hash-files"),
            ("codebuild-tests-run", "tests-run"),
            ("codebuild-glob-search", "glob-search"),
        ] {
            scripts.push((name.to_string(), format!("#!/bin/sh\nexec {exe} {sub} \"$@\"\n")));
        }
    }
    for (name, text) in scripts {
        let path = dir.join(name);
        fs::write(&path, text)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Whether any artifact goes to S3, so an S3 client is needed.
fn uses_s3(a: &ArtifactSettings) -> bool {
    let s3 = |t: &ArtifactTarget| matches!(t.destination, Destination::S3 { .. });
    s3(&a.primary) || a.secondary.iter().any(|(_, t)| s3(t)) || a.other_secondary.as_ref().is_some_and(s3)
}

/// The largest buildspec read from a file (a real one is a few kilobytes).
pub const MAX_BUILDSPEC_BYTES: u64 = 4 << 20;

/// Reads `rel` (a path relative to the source, as CodeBuild resolves a buildspec path: a
/// leading `/` is the source's root) beneath `src_dir` only: a `..` or a symbolic link that
/// leads out is refused, so no file of the machine outside the source is ever read or quoted.
pub fn read_source_file(src_dir: &Path, rel: &str) -> std::io::Result<String> {
    use std::io::Read;
    let root = src_dir.canonicalize()?;
    let rel = Path::new(rel.trim_start_matches('/'));
    let file = crate::artifacts::beneath::open(&root, rel)?;
    let mut text = String::new();
    file.take(MAX_BUILDSPEC_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BUILDSPEC_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB, which no buildspec is",
            MAX_BUILDSPEC_BYTES >> 20
        )));
    }
    Ok(text)
}

/// Where an inline or override buildspec is, as CodeBuild's log names it (R-FILE-02).
const READONLY_BUILDSPEC: &str = "/codebuild/readonly/buildspec.yml";

/// Reads and parses the buildspec; problems become a DOWNLOAD_SOURCE failure (R-FILE-02,
/// R-YAML-02), with the full diagnostics on stderr. A path is read beneath the source
/// ([`read_source_file`]); `src_in_build` is the source as the build sees it
/// (`CODEBUILD_SRC_DIR`), which the log's `YAML location is …` and the messages name.
fn load_buildspec(
    file: Option<&Path>,
    project: &Project,
    (src_dir, given_src): (&Path, &Path),
    src_in_build: &str,
    notices: &dyn Notices,
) -> (Result<Buildspec, BuildspecFailure>, String) {
    let yaml_error = |message: String| BuildspecFailure { code: "YAML_FILE_ERROR".into(), message };
    let in_build = |rel: &str| format!("{src_in_build}/{}", rel.trim_start_matches('/'));
    let from_source = |rel: &str| -> Result<(String, String, String), (BuildspecFailure, String)> {
        let loc = in_build(rel);
        read_source_file(src_dir, rel)
            .map(|t| (t, loc.clone(), rel.to_string()))
            .map_err(|e| (yaml_error(format!("stat {loc}: {}", io_reason(&e))), loc))
    };
    let read = match (file, &project.buildspec) {
        (Some(path), _) => {
            // The user's own file (`--buildspec`): a relative path is looked up from the current
            // directory, then in the source. One inside the source (the directory given, or
            // the build's copy of it) is a buildspec path, read and named as a project's is;
            // one outside is an override text, as CodeBuild names those.
            let p = if path.is_absolute() || path.exists() { path.to_path_buf() } else { src_dir.join(path) };
            let abs =
                p.canonicalize().unwrap_or_else(|_| std::env::current_dir().unwrap_or_default().join(&p));
            let inside = [src_dir, given_src].into_iter().find_map(|root| {
                let root = root.canonicalize().ok()?;
                abs.strip_prefix(root).ok().map(|r| r.to_string_lossy().into_owned())
            });
            match inside {
                Some(rel) => from_source(&rel),
                None => match fs::read_to_string(&abs) {
                    Ok(t) => Ok((t, READONLY_BUILDSPEC.to_string(), abs.display().to_string())),
                    Err(e) => Err((
                        yaml_error(format!("stat {}: {}", abs.display(), io_reason(&e))),
                        READONLY_BUILDSPEC.to_string(),
                    )),
                },
            }
        }
        (None, Some(inline)) if inline.contains('\n') => {
            Ok((inline.clone(), READONLY_BUILDSPEC.to_string(), "buildspec (project inline)".to_string()))
        }
        (None, Some(rel)) => from_source(rel),
        (None, None) => from_source("buildspec.yml").map_err(|(failure, loc)| {
            match failure.message.ends_with(NOT_FOUND) {
                true => (yaml_error("YAML file does not exist".into()), loc),
                false => (failure, loc),
            }
        }),
    };
    let (text, location, shown) = match read {
        Ok(r) => r,
        Err((failure, loc)) => return (Err(failure), loc),
    };
    let parsed = buildspec::parse(shown, &text);
    if !parsed.diagnostics.issues.is_empty() {
        notices.diagnostics(&parsed.diagnostics.render(100));
    }
    match parsed.buildspec {
        Some(spec) => (Ok(spec), location),
        None => {
            let message =
                parsed.diagnostics.codebuild_message().unwrap_or_else(|| "invalid buildspec".into());
            (Err(yaml_error(message)), location)
        }
    }
}

const NOT_FOUND: &str = "no such file or directory";

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => NOT_FOUND.to_string(),
        _ => e.to_string(),
    }
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

/// The buildspec a request names, read from its source (for a batch, before any build runs).
pub fn read_buildspec(req: &BuildRequest, notices: &dyn Notices) -> Result<Buildspec, String> {
    let src = req.primary.display().to_string();
    load_buildspec(req.buildspec.as_deref(), &req.project, (&req.primary, &req.primary), &src, notices)
        .0
        .map_err(|f| f.message)
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
    let s = &req;
    // Debug builds only: the tests check that a panic before the engine starts still leaves a
    // FAULT result (see `engine::run` for one inside it).
    #[cfg(debug_assertions)]
    if std::env::var("RUNSPEC_TEST_PANIC_AT").is_ok_and(|at| at == "(start)") {
        panic!("injected by RUNSPEC_TEST_PANIC_AT");
    }
    // runspec's own directories are never part of a copied source (a build run from $HOME).
    // DOWNLOAD_SOURCE: a service's fetch began it; the workspace copy is part of it.
    let began = req.started.unwrap_or_else(Began::now);
    let start = began.wall;
    let own_dirs: Vec<PathBuf> = [crate::dirs::cache(), crate::dirs::state()].into_iter().flatten().collect();
    let workspace = Workspace::create(&s.primary, &s.secondary, req.mount_source, &own_dirs)
        .map_err(|e| prepare(e.to_string()))?;
    for skipped in &workspace.skipped {
        notices.warning(&format!(
            "`{}` was not copied into the workspace (not a regular file, or unreadable)",
            skipped.display()
        ));
    }

    let uuid = req.uuid.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let region = s
        .project
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string());
    let account = s.project.account.clone().unwrap_or_else(|| "000000000000".to_string());
    let initiator = req
        .initiator
        .clone()
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "runspec".to_string()));
    let (sha, repo_url) = git_facts(&s.primary);
    let build_number = req.build_number;
    // Under Docker the build sees the workspace at a CodeBuild-like path.
    let docker = match &s.image {
        Some(name) => {
            let docker = crate::exec::docker::connect().map_err(|e| prepare(e.to_string()))?;
            let pull = match docker.inspect_image(name).await {
                Ok(_) => None,
                Err(_) => ecr_pull(name, req.profile.as_deref()).await?,
            };
            let info = crate::exec::docker::prepare_image(&docker, name, pull)
                .await
                .map_err(|e| prepare(e.to_string()))?;
            let root = crate::exec::docker::container_root(&uuid);
            Some((docker, info, root))
        }
        None => None,
    };
    let (src, secondary_dirs): (String, Vec<(String, String)>) = match &docker {
        Some((_, _, root)) => (
            format!("{root}/src"),
            workspace.secondary.iter().map(|(id, _)| (id.clone(), format!("{root}/secSrc/{id}"))).collect(),
        ),
        None => (
            workspace.src_dir.display().to_string(),
            workspace.secondary.iter().map(|(id, d)| (id.clone(), d.display().to_string())).collect(),
        ),
    };
    let (spec, location) =
        load_buildspec(req.buildspec.as_deref(), &s.project, (&workspace.src_dir, &s.primary), &src, notices);
    let facts = BuildFacts {
        project: &s.project_name,
        uuid: &uuid,
        region: &region,
        account: &account,
        build_number,
        start_time_ms: start.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
        initiator: &initiator,
        src_dir: &src,
        secondary_dirs: &secondary_dirs,
        image: s.image.as_deref(),
        resolved_source_version: sha.as_deref(),
        source_repo_url: repo_url.as_deref(),
    };

    // A service's build user, resolved before anything runs.
    let build_user = match s.host_isolation.as_ref().and_then(|i| i.user.as_deref()) {
        Some(name) if docker.is_none() => Some(
            nix::unistd::User::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| prepare(format!("the build user `{name}` does not exist on this machine")))?,
        ),
        _ => None,
    };
    // R-ENV-03: the image's ENV is the lowest layer; on the host, the agent's own environment
    // (a service's build gets a clean one instead).
    let image: Vec<(String, String)> = match (&docker, &s.host_isolation) {
        (Some((_, info, _)), _) => info.env.clone(),
        (None, Some(_)) => env::clean_host(
            build_user.as_ref().map(|u| (u.name.as_str(), u.dir.to_str().unwrap_or("/"))),
            &|k| std::env::var(k).ok(),
        ),
        (None, None) => std::env::vars().filter(|(k, _)| env::inherit_from_host(k)).collect(),
    };
    let overrides = match &req.aws_credentials.then_some(()) {
        Some(()) => {
            let mut o = host_credentials(&region, req.profile.as_deref()).await?;
            o.extend(s.overrides.iter().cloned());
            o
        }
        None => s.overrides.clone(),
    };
    let (mut environment, requests) = env::layered(&env::Sources {
        image,
        builtins: env::builtins(&facts),
        buildspec: spec.as_ref().ok().map(|b| &b.env),
        project: &s.project.variables,
        overrides: &overrides,
    });
    // CodeBuild's helper commands, first on the build's PATH. In a container only
    // `codebuild-breakpoint` (a shell script): the others run this very runspec binary, which
    // exists on the host only.
    let state_in_build = match &docker {
        Some(_) => crate::exec::docker::STATE_DIR.to_string(),
        None => workspace.state_dir.display().to_string(),
    };
    let helpers = helper_bin(workspace.root(), docker.is_none(), &state_in_build)
        .map_err(|e| prepare(format!("cannot prepare the build's helper commands: {e}")))?;
    match &docker {
        Some((_, _, root)) => environment.prepend_path(&format!("{root}/bin")),
        None => environment.prepend_path(&helpers.to_string_lossy()),
    }
    let mut artifacts = s.artifacts.clone();
    artifacts.build_id = facts.build_id();
    if s.image.is_some() {
        artifacts.src_in_build = Some(PathBuf::from(&src));
    }
    // One AWS configuration, loaded only when something needs it.
    let fetch_secrets = !requests.is_empty() && spec.is_ok();
    let cache_location = cache_location(req.cache.as_deref(), &s.project, &s.project_name, notices)?;
    let s3_cache = matches!(cache_location, Some(CacheLocation::S3 { .. }));
    let config = match uses_s3(&artifacts) || fetch_secrets || s3_cache {
        true => Some(crate::aws::sdk_config(&region, req.profile.as_deref()).await),
        false => None,
    };
    if let Some(config) = config.as_ref().filter(|_| uses_s3(&artifacts)) {
        let uploader =
            crate::artifacts::s3::S3Uploader::new(crate::aws::s3_client(config), facts.build_arn());
        artifacts.s3 = Some(match upload_progress().filter(|_| req.progress) {
            Some(p) => uploader.with_progress(p),
            None => uploader,
        });
    }
    let cache = cache_location.map(|location| crate::cache::Cache {
        store: match location {
            CacheLocation::Local(dir) => crate::cache::Store::Local(dir),
            CacheLocation::S3 { bucket, prefix } => {
                let client = crate::aws::s3_client(config.as_ref().expect("loaded for an S3 cache"));
                let uploader = crate::artifacts::s3::S3Uploader::new(client.clone(), facts.build_arn());
                crate::cache::Store::S3 { client, uploader, bucket, prefix }
            }
        },
        scratch: workspace.state_dir.clone(),
    });
    let secrets = match config.as_ref().filter(|_| fetch_secrets) {
        Some(config) => {
            let mut store = crate::aws::AwsSecretStore::new(config);
            Some(env::secrets::resolve(&mut store, &requests).await)
        }
        None => None,
    };
    let mut log_warnings = Vec::new();
    let ecr_secrets = ecr_login(
        &req,
        spec.as_ref().ok(),
        &mut environment,
        &workspace.state_dir,
        s.image.is_some(),
        &region,
        &mut log_warnings,
    )
    .await?;
    // R-ENV-08: AWS access keys handed to the build are hidden like secrets; so is the ECR token.
    let masker = Masker::new(
        overrides
            .iter()
            .filter(|(k, _)| {
                matches!(k.as_str(), "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN")
            })
            .map(|(_, v)| v.as_str())
            .chain(ecr_secrets.iter().map(String::as_str)),
    );

    let (shell, save) = match &spec {
        Ok(b) => (b.env.shell.as_ref().map(|s| s.value).unwrap_or_default(), b.version == Version::V0_2),
        Err(_) => (Default::default(), true),
    };
    let wanted: Vec<&str> = spec
        .as_ref()
        .ok()
        .and_then(|b| b.phase(crate::buildspec::PhaseName::Install))
        .map(|p| p.runtime_versions.iter().map(|(rt, _)| rt.value.as_str()).collect())
        .unwrap_or_default();
    let mut runtimes = match (&s.runtimes, &docker) {
        (Some((catalog, path)), _) => {
            crate::runtimes::Source::Catalog(catalog.clone(), crate::runtimes::Origin::File(path.clone()))
        }
        // The image's catalog is read from the container once it runs (below).
        (None, Some(_)) => crate::runtimes::Source::Unsupported,
        (None, None) if wanted.is_empty() => crate::runtimes::Source::Unsupported,
        // The whole of this machine's catalog, so an unknown runtime's error lists them all.
        (None, None) => crate::runtimes::Source::Catalog(
            crate::runtimes::host::catalog(&|k| std::env::var(k).ok(), None),
            crate::runtimes::Origin::Host,
        ),
    };
    let session = match docker {
        Some((docker, info, root)) => {
            let layout = crate::exec::docker::DockerLayout {
                workspace_root: workspace.root(),
                state_dir: &workspace.state_dir,
                container_root: &root,
                source: &workspace.src_dir,
                label: &facts.build_id(),
                privileged: s.privileged,
            };
            let mut session = DockerSession::start(docker, &info, layout, shell, save, &environment.pairs())
                .await
                .map_err(|e| prepare(e.to_string()))?
                .with_terminal(req.terminal);
            if s.runtimes.is_none() && !wanted.is_empty() {
                runtimes = match session.read_text_file(crate::runtimes::IMAGE_CATALOG, 1 << 20).await {
                    Ok(None) => crate::runtimes::Source::Unsupported,
                    Ok(Some(text)) => match crate::runtimes::catalog::parse(&text) {
                        Ok(catalog) => {
                            crate::runtimes::Source::Catalog(catalog, crate::runtimes::Origin::Image)
                        }
                        Err(e) => crate::runtimes::Source::Broken(format!(
                            "the image's {} cannot be read: {e}",
                            crate::runtimes::IMAGE_CATALOG
                        )),
                    },
                    Err(e) => crate::runtimes::Source::Broken(e.to_string()),
                };
            }
            Sessions::Docker(session)
        }
        None => {
            let host = HostSession::new(
                shell,
                save,
                &workspace.src_dir,
                &workspace.state_dir,
                workspace.root(),
                &environment.pairs(),
            )
            .map_err(|e| prepare(e.to_string()))?
            .with_terminal(req.terminal);
            let host = match &s.host_isolation {
                Some(_) => host.with_isolation(host_isolation(&workspace, build_user, &uuid)?),
                None => host,
            };
            Sessions::Host(host)
        }
    };

    let stop = Stop::since(began.clock, s.timeout, stopped).with_lease(s.lease.clone());

    let mut log = Ledger::new(MaskingSink::new(sink, masker), start);
    let input = BuildInput {
        started: start,
        warnings: log_warnings,
        buildspec: spec,
        buildspec_location: location,
        src_dir: workspace.src_dir.clone(),
        artifacts,
        runner: match &s.image {
            Some(image) => format!("Running on runspec {} (Docker image {image})", env!("CARGO_PKG_VERSION")),
            None => format!("Running on runspec {} (host shell)", env!("CARGO_PKG_VERSION")),
        },
        secrets,
        cache,
        reports: crate::reports::ReportSettings {
            output: req.reports.clone(),
            project: s.project_name.clone(),
        },
        plugins: Some(crate::plugins::runner::Runner::new(
            workspace.src_dir.clone(),
            crate::plugins::PluginHost::default_cache_dir(),
            crate::plugins::BuildMetadata {
                build_id: facts.build_id(),
                build_number: build_number.unwrap_or(1),
                project_name: s.project_name.clone(),
                source_version: sha.clone(),
                initiator: initiator.clone(),
                region: region.clone(),
            },
        )),
        images: Some(crate::image::Pusher::default()),
        runtimes,
        debug: req.terminal.filter(|t| t.on_failure),
    };
    // A panic inside the engine ends the build as FAULT (with a result file), not runspec.
    let ran = match session {
        Sessions::Host(mut host) => {
            AssertUnwindSafe(Engine::new(&mut host, &mut log, stop).run(input)).catch_unwind().await
        }
        Sessions::Docker(mut container) => {
            let ran =
                AssertUnwindSafe(Engine::new(&mut container, &mut log, stop).run(input)).catch_unwind().await;
            container.close().await;
            ran
        }
    };
    let mut report = match ran {
        Ok(report) => report,
        Err(panic) => log.fault(start, &crate::engine::ledger::panic_message(&*panic)),
    };
    protect_secrets(&mut report, log.inner().masker(), &requests, notices);

    let identity = BuildIdentity {
        // The directories the build was given (a service puts its project's sources back).
        source: Some(cb_source(&s.primary, s.project.buildspec.as_deref())),
        secondary_sources: s
            .secondary
            .iter()
            .map(|src| result::local_source(&src.dir, src.id.as_deref()))
            .collect(),
        id: facts.build_id(),
        arn: facts.build_arn(),
        project: s.project_name.clone(),
        build_number,
        initiator: initiator.clone(),
        source_version: sha.clone(),
        image: s.image.clone().unwrap_or_else(|| HOST_IMAGE.to_string()),
        privileged: s.privileged,
        timeout_minutes: s.timeout.map(|t| t.as_secs_f64() / 60.0),
        environment_variables: s
            .project
            .variables
            .iter()
            .map(|v| result::Variable {
                name: v.name.clone(),
                value: v.value.clone(),
                kind: v.kind.as_str().to_string(),
            })
            .chain(s.overrides.iter().map(|(name, value)| result::Variable {
                name: name.clone(),
                value: value.clone(),
                kind: "PLAINTEXT".to_string(),
            }))
            .collect(),
        submitted: None,
        dispatched: None,
    };
    // The workspace copy (a node_modules can be 100,000 files) goes away on its own time.
    workspace.remove_in_background();
    Ok(Finished { report, identity })
}

/// A service's host build: the workspace handed to the build user, and the build's cgroup.
fn host_isolation(
    workspace: &Workspace,
    user: Option<nix::unistd::User>,
    uuid: &str,
) -> Result<crate::exec::host::Isolation, PrepareError> {
    if let Some(u) = &user {
        workspace
            .give_to(u.uid, u.gid)
            .map_err(|e| prepare(format!("cannot hand the workspace to the build user {}: {e}", u.name)))?;
    }
    let cgroup = match crate::exec::cgroup::BuildCgroup::create(uuid) {
        Ok(c) => Some(c),
        Err(why) => {
            tracing::info!("no cgroup for build {uuid} ({why}): its process groups are killed at the end");
            None
        }
    };
    Ok(crate::exec::host::Isolation { user, cgroup })
}

/// R-ENV-09: secret-backed variables are never exported, and no secret value reaches the result
/// (exported values and phase context messages are masked like the log).
fn protect_secrets(
    report: &mut crate::engine::BuildReport,
    masker: &Masker,
    requests: &[env::secrets::SecretRequest],
    notices: &dyn Notices,
) {
    report.exported.retain(|(name, _)| {
        let secret = requests.iter().any(|r| &r.var == name);
        if secret {
            notices.warning(&format!(
                "`{name}` comes from Parameter Store or Secrets Manager and is not exported"
            ));
        }
        !secret
    });
    for (_, value) in &mut report.exported {
        *value = masker.mask_str(value).into_owned();
    }
    for phase in &mut report.phases {
        for (_, message) in &mut phase.contexts {
            *message = masker.mask_agent(message).into_owned();
        }
    }
}

/// `--aws-credentials`: the host's credentials and region, resolved through the standard chain
/// (so profiles and SSO work), as variables for the build (like `codebuild_build.sh -c`).
async fn host_credentials(
    region: &str,
    profile: Option<&str>,
) -> Result<Vec<(String, String)>, PrepareError> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let config = crate::aws::sdk_config(region, profile).await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| prepare("--aws-credentials: no AWS credentials provider is configured"))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| prepare(format!("--aws-credentials: cannot get AWS credentials: {e}")))?;
    let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| region.to_string());
    let mut vars = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), creds.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), creds.secret_access_key().to_string()),
        ("AWS_REGION".to_string(), region.clone()),
        ("AWS_DEFAULT_REGION".to_string(), region),
    ];
    if let Some(token) = creds.session_token() {
        vars.push(("AWS_SESSION_TOKEN".to_string(), token.to_string()));
    }
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        vars.push(("AWS_ENDPOINT_URL".to_string(), endpoint));
    }
    Ok(vars)
}
