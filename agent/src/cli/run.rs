//! `runspec run`: resolve flags and the project into settings, prepare the workspace and the
//! environment, run the engine with the CodeBuild log on stdout, write the result.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{RunArgs, UsageError, exit, usage};
use crate::buildspec::{self, Buildspec, Version};
use crate::engine::ledger::Ledger;
use crate::engine::upload::{ArtifactSettings, ArtifactTarget, Destination};
use crate::engine::{BuildInput, BuildspecFailure, Engine, Status};
use crate::env::{self, BuildFacts};
use crate::exec::Stop;
use crate::exec::docker::DockerSession;
use crate::exec::host::HostSession;
use crate::log::CodeBuildLog;
use crate::log::mask::{Masker, MaskingSink};
use crate::project::{self, ArtifactsType, Project};
use crate::result::{self, BuildIdentity};
use crate::workspace::{Source, Workspace};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// Everything `run` decided from its flags, before anything is created.
struct Settings {
    primary: PathBuf,
    secondary: Vec<Source>,
    project: Project,
    project_name: String,
    overrides: Vec<(String, String)>,
    timeout: Option<Duration>,
    artifacts: ArtifactSettings,
    /// The build image (`--image`, else the project's unless `--host`); `None`: on the host.
    image: Option<String>,
    /// Privileged mode (`--privileged` or the project's `privilegedMode`).
    privileged: bool,
    /// `--runtimes FILE`, read.
    runtimes: Option<(crate::runtimes::Catalog, String)>,
}

pub fn run(args: RunArgs) -> Result<u8, UsageError> {
    let settings = resolve(&args)?;
    let runtime = super::runtime()?;
    let result_path = args.result.clone();
    // A panic inside the engine is already a FAULT build (the ledger); one before or after it
    // still gets a FAULT result and a message instead of a crash without a trace.
    match std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(build(args, settings)))) {
        Ok(code) => code,
        Err(panic) => {
            let why = crate::engine::ledger::panic_message(&*panic);
            eprintln!("error: runspec failed unexpectedly: {why}; please report this");
            if let Some(path) = result_path {
                let now = SystemTime::now();
                let report =
                    crate::engine::ledger::Ledger::new(crate::engine::events::RecordingSink::default())
                        .fault(now, &why);
                let json = serde_json::json!({
                    "buildStatus": report.status.as_str(),
                    "buildComplete": true,
                    "currentPhase": "COMPLETED",
                    "phases": report.phases.iter().map(|p| serde_json::json!({
                        "phaseType": p.phase.as_str(),
                        "phaseStatus": p.status.as_str(),
                        "contexts": p.contexts.iter().map(|(c, m)| serde_json::json!({"statusCode": c, "message": m})).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                });
                let _ = fs::write(&path, serde_json::to_string_pretty(&json).unwrap_or_default() + "\n");
            }
            Ok(exit::FAILED)
        }
    }
}

fn resolve(args: &RunArgs) -> Result<Settings, UsageError> {
    let (primary, secondary) = sources(&args.sources)?;
    let project = match &args.project {
        Some(path) => {
            let text = fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
            project::parse(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?
        }
        None => Project::default(),
    };
    for field in &project.ignored {
        warn(&format!("project field `{field}` is not supported by runspec yet and is ignored"));
    }
    // The project's image and privileged mode apply unless the flags say otherwise.
    let image = match (&args.image, args.host) {
        (Some(i), _) => Some(i.clone()),
        (None, true) => None,
        (None, false) => project.image.clone(),
    };
    let privileged = args.privileged || project.privileged;
    let mut overrides = Vec::new();
    if let Some(path) = &args.env_file {
        let text =
            fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
        overrides = env::parse_env_file(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    }
    for a in &args.env {
        overrides.push(env::parse_assignment(a).map_err(|e| usage(format!("--env {a}: {e}")))?);
    }
    let timeout = match &args.timeout {
        Some(t) => Some(parse_timeout(t).map_err(|e| usage(format!("--timeout {t}: {e}")))?),
        None => project.timeout_minutes.map(|m| Duration::from_secs(m * 60)),
    };
    let artifacts = artifact_settings(args, &project)?;
    let project_name = project.name.clone().unwrap_or_else(|| default_project_name(&primary));
    let runtimes = match &args.runtimes {
        Some(path) => Some((super::read_catalog(path)?, path.display().to_string())),
        None => None,
    };
    Ok(Settings {
        runtimes,
        primary,
        secondary,
        project,
        project_name,
        overrides,
        timeout,
        artifacts,
        image,
        privileged,
    })
}

/// For a build image in ECR that is not local: where to pull it from, with an ECR token.
async fn ecr_pull(
    image: &str,
    profile: Option<&str>,
) -> Result<Option<crate::exec::docker::PullFrom>, UsageError> {
    let Ok(ecr) = crate::image::uri::parse(image) else { return Ok(None) };
    let config = crate::aws::sdk_config(&ecr.region, profile).await;
    let client = crate::image::ecr::client(&config, &ecr.region);
    let login = crate::image::ecr::login(&client, Some(&ecr.registry))
        .await
        .map_err(|e| usage(format!("cannot pull the build image `{image}`: {e}")))?;
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
    args: &RunArgs,
    spec: Option<&crate::buildspec::Buildspec>,
    environment: &mut env::Environment,
    state_dir: &Path,
    in_container: bool,
    region: &str,
) -> Result<Vec<String>, UsageError> {
    use crate::buildspec::Step;
    use crate::image::docker_config;
    let wanted = match args.ecr_login {
        super::EcrLogin::Never => false,
        super::EcrLogin::Always => true,
        super::EcrLogin::Auto => {
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
    let config = crate::aws::sdk_config(region, args.profile.as_deref()).await;
    let client = crate::image::ecr::client(&config, config.region().map_or(region, |r| r.as_ref()));
    let login = match crate::image::ecr::login(&client, None).await {
        Ok(l) => l,
        Err(e) if args.ecr_login == super::EcrLogin::Auto => {
            warn(&format!("no ECR login for the build ({e}); pass --ecr-login never to skip it"));
            return Ok(Vec::new());
        }
        Err(e) => return Err(usage(e)),
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
        .map_err(|e| usage(format!("your Docker config: {e}")))?;
    let dir = state_dir.join("docker");
    fs::create_dir_all(&dir)
        .and_then(|()| fs::write(dir.join("config.json"), text))
        .map_err(|e| usage(format!("cannot write the build's Docker config in {}: {e}", dir.display())))?;
    let seen = match in_container {
        true => format!("{}/docker", crate::exec::docker::STATE_DIR),
        false => dir.display().to_string(),
    };
    environment.set("DOCKER_CONFIG", seen, env::Layer::Builtin);
    Ok(vec![login.basic_auth(), login.password])
}

fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// `--source DIR` (primary) and `--source ID=DIR` (secondary, R-LOC-02).
fn sources(values: &[String]) -> Result<(PathBuf, Vec<Source>), UsageError> {
    let mut primary: Option<PathBuf> = None;
    let mut secondary = Vec::new();
    for v in values {
        match v.split_once('=') {
            Some((id, dir)) if !id.contains('/') => {
                if id.is_empty()
                    || id.len() >= 128
                    || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(usage(format!(
                        "--source {v}: the source identifier `{id}` must be letters, digits and `_`, fewer than 128"
                    )));
                }
                secondary.push(Source { id: Some(id.to_string()), dir: existing_dir(dir)? });
            }
            _ if primary.is_none() => primary = Some(existing_dir(v)?),
            _ => {
                return Err(usage(format!(
                    "--source {v}: only one primary source; give secondary ones as ID=DIR"
                )));
            }
        }
    }
    let primary = match primary {
        Some(p) => p,
        None => existing_dir(".")?,
    };
    Ok((primary, secondary))
}

fn existing_dir(dir: &str) -> Result<PathBuf, UsageError> {
    let p = Path::new(dir);
    if !p.is_dir() {
        return Err(usage(format!("source directory `{dir}` does not exist")));
    }
    p.canonicalize().map_err(|e| usage(format!("source directory `{dir}`: {e}")))
}

/// `30` (minutes), `0.5`, `90s`, `2m`, `1h`.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    crate::buildspec::plugin_step::parse_duration(text, Some("m"))
}

/// Artifact targets from `--artifacts` (a directory or `s3://bucket/prefix`, overriding where the
/// project's artifacts go, as the local agent's `-a` does) and the project's `artifacts` and
/// `secondaryArtifacts` (names, packaging, identifiers, and S3 locations).
fn artifact_settings(args: &RunArgs, project: &Project) -> Result<ArtifactSettings, UsageError> {
    let from_project =
        |a: &project::ProjectArtifacts, destination: Destination, exact_name: bool| ArtifactTarget {
            destination,
            packaging: a.packaging,
            name: a.name.clone(),
            override_name: a.override_artifact_name,
            exact_name,
        };
    let project_destination = |a: &project::ProjectArtifacts| -> Result<Destination, UsageError> {
        Ok(match a.kind {
            ArtifactsType::S3 => Destination::S3 {
                bucket: a.location.clone().filter(|l| !l.is_empty()).ok_or_else(|| {
                    usage("the project's S3 artifacts have no `location` (bucket); pass --artifacts")
                })?,
                path: a.path.clone(),
                build_id_namespace: a.namespace_build_id,
            },
            ArtifactsType::CodePipeline => {
                warn(
                    "CODEPIPELINE artifacts are handed to CodePipeline; runspec only lists them (pass --artifacts to keep them)",
                );
                Destination::Nowhere
            }
            ArtifactsType::NoArtifacts => Destination::Nowhere,
        })
    };
    let Some(overridden) = &args.artifacts else {
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
                return Err(usage(format!("--artifacts {overridden}: no bucket name")));
            }
            let path = Some(prefix.trim_matches('/').to_string()).filter(|p| !p.is_empty());
            Destination::S3 { bucket: bucket.to_string(), path, build_id_namespace: false }
        }
        None => {
            let dir = PathBuf::from(overridden);
            fs::create_dir_all(&dir).map_err(|e| usage(format!("--artifacts {}: {e}", dir.display())))?;
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
    args: &RunArgs,
    project: &Project,
    name: &str,
) -> Result<Option<CacheLocation>, UsageError> {
    let s3 = |location: &str| {
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        CacheLocation::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() }
    };
    if let Some(c) = &args.cache {
        return Ok(Some(match c.strip_prefix("s3://") {
            Some("") => return Err(usage(format!("--cache {c}: no bucket name"))),
            Some(location) => s3(location),
            None => CacheLocation::Local(PathBuf::from(c)),
        }));
    }
    Ok(match &project.cache {
        None => None,
        Some(project::ProjectCache::S3 { location }) => Some(s3(location)),
        Some(project::ProjectCache::Local { modes }) => {
            for mode in modes.iter().filter(|m| *m != "LOCAL_CUSTOM_CACHE") {
                warn(&format!(
                    "cache mode {mode}: the host executor keeps no git or Docker layer cache; only the buildspec's cache paths are cached"
                ));
            }
            let base = crate::dirs::cache()
                .ok_or_else(|| usage("cannot find a cache directory: set RUNSPEC_CACHE_DIR"))?;
            Some(CacheLocation::Local(base.join(name)))
        }
    })
}

/// `codebuild-hash-files` for the build's PATH: a shim that calls this runspec.
fn helper_bin(root: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("bin");
    fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let script = format!(
        "#!/bin/sh\nexec {} hash-files \"$@\"\n",
        crate::exec::wrapper::sh_quote(&exe.to_string_lossy())
    );
    let path = dir.join("codebuild-hash-files");
    fs::write(&path, script)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Whether any artifact goes to S3, so an S3 client is needed.
fn uses_s3(a: &ArtifactSettings) -> bool {
    let s3 = |t: &ArtifactTarget| matches!(t.destination, Destination::S3 { .. });
    s3(&a.primary) || a.secondary.iter().any(|(_, t)| s3(t)) || a.other_secondary.as_ref().is_some_and(s3)
}

/// The project name when no project is given: the source directory's name, as CodeBuild
/// project names allow it.
fn default_project_name(primary: &Path) -> String {
    let base = primary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    if name.len() >= 2 { name } else { "local".to_string() }
}

/// Reads and parses the buildspec; problems become a DOWNLOAD_SOURCE failure (R-FILE-02,
/// R-YAML-02), with the full diagnostics on stderr.
fn load_buildspec(
    args: &RunArgs,
    project: &Project,
    src_dir: &Path,
) -> (Result<Buildspec, BuildspecFailure>, String) {
    let yaml_error = |message: String| BuildspecFailure { code: "YAML_FILE_ERROR".into(), message };
    let (text, location, shown) = match (&args.buildspec, &project.buildspec) {
        (Some(path), _) => {
            // A relative path is looked up from the current directory, then in the source.
            let p = if path.is_absolute() || path.exists() { path.clone() } else { src_dir.join(path) };
            let abs =
                p.canonicalize().unwrap_or_else(|_| std::env::current_dir().unwrap_or_default().join(&p));
            match fs::read_to_string(&abs) {
                Ok(t) => (t, abs.display().to_string(), abs.display().to_string()),
                Err(e) => {
                    let loc = abs.display().to_string();
                    return (Err(yaml_error(format!("stat {loc}: {}", io_reason(&e)))), loc);
                }
            }
        }
        (None, Some(inline)) if inline.contains('\n') => (
            inline.clone(),
            "/codebuild/readonly/buildspec.yml".to_string(),
            "buildspec (project inline)".to_string(),
        ),
        (None, Some(rel)) => {
            let p = src_dir.join(rel);
            match fs::read_to_string(&p) {
                Ok(t) => (t, p.display().to_string(), rel.clone()),
                Err(e) => {
                    let loc = p.display().to_string();
                    return (Err(yaml_error(format!("stat {loc}: {}", io_reason(&e)))), loc);
                }
            }
        }
        (None, None) => {
            let p = src_dir.join("buildspec.yml");
            match fs::read_to_string(&p) {
                Ok(t) => (t, p.display().to_string(), "buildspec.yml".to_string()),
                Err(_) => {
                    return (Err(yaml_error("YAML file does not exist".into())), p.display().to_string());
                }
            }
        }
    };
    let parsed = buildspec::parse(shown, &text);
    if !parsed.diagnostics.issues.is_empty() {
        eprint!("{}", parsed.diagnostics.render(100));
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

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
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

/// A per-project build counter under the user's state directory (CODEBUILD_BUILD_NUMBER).
fn next_build_number(project: &str) -> Option<u64> {
    let base = crate::dirs::state()?;
    let dir = base.join("build-numbers");
    fs::create_dir_all(&dir).ok()?;
    let file = dir.join(project);
    let n = fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0) + 1;
    fs::write(&file, n.to_string()).ok()?;
    Some(n)
}

async fn build(args: RunArgs, s: Settings) -> Result<u8, UsageError> {
    // Debug builds only: the tests check that a panic before the engine starts still leaves a
    // FAULT result (see `engine::run` for one inside it).
    #[cfg(debug_assertions)]
    if std::env::var("RUNSPEC_TEST_PANIC_AT").is_ok_and(|at| at == "(start)") {
        panic!("injected by RUNSPEC_TEST_PANIC_AT");
    }
    // runspec's own directories are never part of a copied source (a build run from $HOME).
    let own_dirs: Vec<PathBuf> = [crate::dirs::cache(), crate::dirs::state()].into_iter().flatten().collect();
    let workspace = Workspace::create(&s.primary, &s.secondary, args.mount_source, &own_dirs)
        .map_err(|e| usage(e.to_string()))?;
    for skipped in &workspace.skipped {
        warn(&format!(
            "`{}` was not copied into the workspace (not a regular file, or unreadable)",
            skipped.display()
        ));
    }
    let (spec, location) = load_buildspec(&args, &s.project, &workspace.src_dir);

    let start = SystemTime::now();
    let uuid = uuid::Uuid::new_v4().to_string();
    let region = s
        .project
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string());
    let account = s.project.account.clone().unwrap_or_else(|| "000000000000".to_string());
    let initiator = std::env::var("USER").unwrap_or_else(|_| "runspec".to_string());
    let (sha, repo_url) = git_facts(&s.primary);
    let build_number = next_build_number(&s.project_name);
    // Under Docker the build sees the workspace at a CodeBuild-like path.
    let docker = match &s.image {
        Some(name) => {
            let docker = crate::exec::docker::connect().map_err(|e| usage(e.to_string()))?;
            let pull = match docker.inspect_image(name).await {
                Ok(_) => None,
                Err(_) => ecr_pull(name, args.profile.as_deref()).await?,
            };
            let info = crate::exec::docker::prepare_image(&docker, name, pull)
                .await
                .map_err(|e| usage(e.to_string()))?;
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

    // R-ENV-03: the image's ENV is the lowest layer; on the host, the agent's own environment.
    let image: Vec<(String, String)> = match &docker {
        Some((_, info, _)) => info.env.clone(),
        None => std::env::vars().filter(|(k, _)| env::inherit_from_host(k)).collect(),
    };
    let overrides = match &args.aws_credentials.then_some(()) {
        Some(()) => {
            let mut o = host_credentials(&region, args.profile.as_deref()).await?;
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
    if docker.is_none() {
        // The helper shim runs this very runspec binary, which only exists on the host.
        let helpers = helper_bin(workspace.root())
            .map_err(|e| usage(format!("cannot prepare the build's helper commands: {e}")))?;
        environment.prepend_path(&helpers.to_string_lossy());
    }
    let mut artifacts = s.artifacts.clone();
    artifacts.build_id = facts.build_id();
    if s.image.is_some() {
        artifacts.src_in_build = Some(PathBuf::from(&src));
    }
    // One AWS configuration, loaded only when something needs it.
    let fetch_secrets = !requests.is_empty() && spec.is_ok();
    let cache_location = cache_location(&args, &s.project, &s.project_name)?;
    let s3_cache = matches!(cache_location, Some(CacheLocation::S3 { .. }));
    let config = match uses_s3(&artifacts) || fetch_secrets || s3_cache {
        true => Some(crate::aws::sdk_config(&region, args.profile.as_deref()).await),
        false => None,
    };
    if let Some(config) = config.as_ref().filter(|_| uses_s3(&artifacts)) {
        let uploader =
            crate::artifacts::s3::S3Uploader::new(crate::aws::s3_client(config), facts.build_arn());
        artifacts.s3 = Some(match upload_progress() {
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
    let ecr_secrets = ecr_login(
        &args,
        spec.as_ref().ok(),
        &mut environment,
        &workspace.state_dir,
        s.image.is_some(),
        &region,
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
        (None, None) => crate::runtimes::Source::Catalog(
            crate::runtimes::host::catalog(&|k| std::env::var(k).ok(), Some(&wanted)),
            crate::runtimes::Origin::Host,
        ),
    };
    let session = match docker {
        Some((docker, info, root)) => {
            let layout = crate::exec::docker::DockerLayout {
                workspace_root: workspace.root(),
                state_dir: &workspace.state_dir,
                container_root: &root,
                label: &facts.build_id(),
                privileged: s.privileged,
            };
            let mut session = DockerSession::start(docker, &info, layout, shell, save, &environment.pairs())
                .await
                .map_err(|e| usage(e.to_string()))?;
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
        None => Sessions::Host(
            HostSession::new(
                shell,
                save,
                &workspace.src_dir,
                &workspace.state_dir,
                workspace.root(),
                &environment.pairs(),
            )
            .map_err(|e| usage(e.to_string()))?,
        ),
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        let _ = stop_tx.send(true);
    });
    let stop = Stop::new(s.timeout, stop_rx);

    let stdout = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(fs::File::from)
        .map_err(|e| usage(format!("cannot write to stdout: {e}")))?;
    let mut log = Ledger::new(MaskingSink::new(CodeBuildLog::new(stdout), masker));
    let input = BuildInput {
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
            output: args.reports.clone(),
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
    protect_secrets(&mut report, log.inner().masker(), &requests);

    if let Some(path) = &args.result {
        let identity = BuildIdentity {
            id: facts.build_id(),
            arn: facts.build_arn(),
            project: s.project_name.clone(),
            build_number,
            initiator: initiator.clone(),
            source_version: sha.clone(),
            image: s.image.clone().unwrap_or_else(|| "runspec/host".to_string()),
            privileged: s.privileged,
            timeout_minutes: s.timeout.map(|t| t.as_secs_f64() / 60.0),
            environment_variables: s
                .project
                .variables
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .chain(s.overrides.clone())
                .collect(),
        };
        let json = result::build_json(&identity, &report);
        let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
        if let Err(e) = fs::write(path, text) {
            eprintln!("error: cannot write the result to `{}`: {e}", path.display());
        }
    }
    // The result is written; the workspace copy (a node_modules can be 100,000 files) goes
    // away on its own time.
    // (When no process can be started, it is removed here before returning.)
    workspace.remove_in_background();
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("{}", crate::result::summary(&report));
    }
    Ok(if report.status == Status::Succeeded { exit::OK } else { exit::FAILED })
}

/// R-ENV-09: secret-backed variables are never exported, and no secret value reaches the result
/// (exported values and phase context messages are masked like the log).
fn protect_secrets(
    report: &mut crate::engine::BuildReport,
    masker: &Masker,
    requests: &[env::secrets::SecretRequest],
) {
    report.exported.retain(|(name, _)| {
        let secret = requests.iter().any(|r| &r.var == name);
        if secret {
            warn(&format!("`{name}` comes from Parameter Store or Secrets Manager and is not exported"));
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
async fn host_credentials(region: &str, profile: Option<&str>) -> Result<Vec<(String, String)>, UsageError> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let config = crate::aws::sdk_config(region, profile).await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| usage("--aws-credentials: no AWS credentials provider is configured"))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| usage(format!("--aws-credentials: cannot get AWS credentials: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("5d").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn project_names_from_directories() {
        assert_eq!(default_project_name(Path::new("/home/me/my app")), "my-app");
        assert_eq!(default_project_name(Path::new("/")), "local");
    }
}
