//! The executor a build runs on: a container of its image (through the Docker API), or this
//! machine's shell; and the engine run on it.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use super::environment::BuildEnvironment;
use super::{BuildRequest, PrepareError, prepare};
use crate::buildspec::Shell;
use crate::compute::Limits;
use crate::engine::Status;
use crate::engine::events::EventSink;
use crate::engine::{BuildInput, BuildReport, Engine};
use crate::exec::Stop;
use crate::exec::docker::daemon::{Daemon, DockerMode, LayerCache, Layers};
use crate::exec::docker::{DaemonError, DockerSession, ImageInfo};
use crate::exec::host::HostSession;
use crate::workspace::Workspace;

/// A build image, found or pulled, and where the workspace is in its container.
pub(super) struct Image {
    pub docker: bollard::Docker,
    pub info: ImageInfo,
    /// `/codebuild/output/src<digits>`.
    pub root: String,
}

/// The request's build image, ready to run (pulled from ECR when it is not local); `None` on
/// the host.
pub(super) async fn image(req: &BuildRequest, uuid: &str) -> Result<Option<Image>, PrepareError> {
    let Some(name) = &req.image else { return Ok(None) };
    let docker = crate::exec::docker::connect().map_err(|e| prepare(e.to_string()))?;
    let pull = match docker.inspect_image(name).await {
        Ok(_) => None,
        Err(_) => super::cloud::ecr_pull(name, req.profile.as_deref()).await?,
    };
    let info =
        crate::exec::docker::prepare_image(&docker, name, pull).await.map_err(|e| prepare(e.to_string()))?;
    Ok(Some(Image { docker, info, root: crate::exec::docker::container_root(uuid) }))
}

/// A running executor.
pub(super) enum Sessions {
    Host(HostSession),
    Docker(DockerSession),
}

/// What starting an executor needs besides the image and the environment.
pub(super) struct Start<'a> {
    pub workspace: &'a Workspace,
    pub shell: Shell,
    /// Whether the shell state is saved between commands (version 0.2).
    pub save_state: bool,
    /// The build's id, as the container's label.
    pub label: &'a str,
    pub uuid: &'a str,
    /// The runtimes `install/runtime-versions` names (an image's catalog is read only then).
    pub wanted_runtimes: bool,
}

/// A running executor, with what its start has to say in the build's log.
pub(super) struct Started {
    pub session: Sessions,
    pub runtimes: crate::runtimes::Source,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Why a build's executor is not running.
pub(super) enum NotStarted {
    /// Nothing ran: the build cannot start at all.
    Prepare(PrepareError),
    /// The build's machine did not come up (its Docker daemon): PROVISIONING ends with `status`.
    Provisioning(Provisioning),
}

/// How PROVISIONING ended for a build whose executor did not come up.
pub(super) struct Provisioning {
    pub status: Status,
    pub code: String,
    pub message: String,
    /// Lines for the build log (the end of the daemon's log), with a heading.
    pub log: Option<(String, Vec<String>)>,
}

impl From<PrepareError> for NotStarted {
    fn from(e: PrepareError) -> Self {
        NotStarted::Prepare(e)
    }
}

/// The sidecar's image unless `--docker-sidecar-image` names another: Docker's own.
pub const DEFAULT_SIDECAR_IMAGE: &str = "docker:dind";

/// The environment variable a project (or StartBuild's overrides) sets to choose how its
/// privileged builds get Docker: `in-image`, `sidecar` or `host`.
pub const DOCKER_MODE_VARIABLE: &str = "RUNSPEC_DOCKER";

/// The Docker mode a build uses: the overrides', else the project's `RUNSPEC_DOCKER`, else the
/// request's (`--docker`, or the server's default); and whether the project chose it.
fn docker_mode(req: &BuildRequest) -> Result<(DockerMode, bool), PrepareError> {
    let chosen =
        req.overrides.iter().rev().find(|(k, _)| k == DOCKER_MODE_VARIABLE).map(|(_, v)| v.clone()).or_else(
            || {
                req.project
                    .variables
                    .iter()
                    .rev()
                    .find(|v| v.name == DOCKER_MODE_VARIABLE)
                    .map(|v| v.value.clone())
            },
        );
    match chosen {
        None => Ok((req.docker, false)),
        Some(name) => DockerMode::from_name(&name).map(|m| (m, true)).ok_or_else(|| {
            prepare(format!(
                "{DOCKER_MODE_VARIABLE}={name}: the Docker mode is one of in-image, sidecar, host"
            ))
        }),
    }
}

/// What a build in an image gets for Docker: nothing unless privileged; then the mode's daemon,
/// on the project's layer cache when it has LOCAL_DOCKER_LAYER_CACHE and no other build of the
/// project holds it.
fn daemon_plan(req: &BuildRequest, notes: &mut Vec<String>) -> Result<Daemon, NotStarted> {
    if !req.privileged {
        return Ok(Daemon::None);
    }
    let (mode, by_project) = docker_mode(req)?;
    let mut layers = || -> Layers {
        let wanted = matches!(&req.project.cache, Some(crate::project::ProjectCache::Local { modes })
            if modes.iter().any(|m| m == "LOCAL_DOCKER_LAYER_CACHE"));
        let Some(dir) = crate::dirs::cache().filter(|_| wanted) else { return Layers::Fresh };
        match LayerCache::acquire(&req.project_name, &dir.join("docker-layers")) {
            Ok(Some(cache)) => {
                notes.push(format!(
                    "Docker: using the layer cache of project {} (volume {})",
                    req.project_name, cache.volume
                ));
                Layers::Cached(cache)
            }
            Ok(None) => {
                notes.push(format!(
                    "Docker: the layer cache of project {} is in use by another build; this build starts with an empty one",
                    req.project_name
                ));
                Layers::Fresh
            }
            Err(e) => {
                notes.push(format!(
                    "Docker: cannot lock the layer cache ({e}); this build starts with an empty one"
                ));
                Layers::Fresh
            }
        }
    };
    Ok(match mode {
        DockerMode::InImage => Daemon::InImage { layers: layers() },
        DockerMode::Sidecar => Daemon::Sidecar {
            image: req.docker_sidecar_image.clone().unwrap_or_else(|| DEFAULT_SIDECAR_IMAGE.to_string()),
            layers: layers(),
        },
        DockerMode::Host if by_project && !req.docker_host_allowed => {
            return Err(NotStarted::Provisioning(Provisioning {
                status: Status::Failed,
                code: "CLIENT_ERROR".into(),
                message: format!(
                    "{DOCKER_MODE_VARIABLE}=host asks for this machine's Docker engine, which this server does not hand to builds (it would need --docker-host-allowed)"
                ),
                log: None,
            }));
        }
        DockerMode::Host => Daemon::Host {
            socket: crate::exec::docker::engine_socket().ok_or_else(|| {
                prepare("--docker host needs the Docker engine on a local socket (DOCKER_HOST=unix://…)")
            })?,
        },
    })
}

/// The limits of the build's compute type (`computeType`, `computeTypeOverride`,
/// `--compute-type`), as this machine can give them; `None` without a compute type, with
/// `--no-limits`, or for a type runspec cannot size (a warning says so).
fn compute_limits(req: &BuildRequest, notes: &mut Vec<String>, warnings: &mut Vec<String>) -> Option<Limits> {
    let compute_type = req.project.compute_type.as_deref().filter(|_| !req.no_limits)?;
    let environment_type = req.project.environment_type.as_deref().unwrap_or_default();
    match crate::compute::limits(environment_type, compute_type, req.project.compute_configuration) {
        Ok(limits) => {
            let (cpus, memory) = crate::compute::machine();
            let (limits, short) = limits.on_machine(compute_type, cpus, memory);
            notes.push(format!("Compute: {compute_type}: {}", limits.describe()));
            warnings.extend(short);
            Some(limits)
        }
        Err(why) => {
            warnings.push(format!("compute type {compute_type}: {why}; the build runs without limits"));
            None
        }
    }
}

/// Starts the build's executor (and its Docker daemon), and finds the runtime catalog
/// `runtime-versions` selects from (R-PH-02): a file given explicitly, else the image's, else
/// this machine's.
pub(super) async fn start(
    req: &BuildRequest,
    image: Option<Image>,
    env: BuildEnvironment,
    how: Start<'_>,
    stop: &mut Stop,
) -> Result<Started, NotStarted> {
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let limits = compute_limits(req, &mut notes, &mut warnings);
    use crate::runtimes::{Origin, Source};
    let workspace = how.workspace;
    let mut runtimes = match (&req.runtimes, &image) {
        (Some((catalog, path)), _) => Source::Catalog(catalog.clone(), Origin::File(path.clone())),
        // The image's catalog is read from the container once it runs (below).
        (None, Some(_)) => Source::Unsupported,
        (None, None) if !how.wanted_runtimes => Source::Unsupported,
        // The whole of this machine's catalog, so an unknown runtime's error lists them all.
        (None, None) => {
            Source::Catalog(crate::runtimes::host::catalog(&|k| std::env::var(k).ok(), None), Origin::Host)
        }
    };
    let pairs = env.environment.pairs();
    let session = match image {
        Some(Image { docker, info, root }) => {
            // What a runspec that is gone left on the engine (kill -9) goes first.
            let swept = crate::exec::docker::owned::sweep(&docker).await;
            if swept > 0 {
                tracing::info!(
                    "removed {swept} containers, networks and volumes of builds whose runspec is gone"
                );
            }
            let daemon = daemon_plan(req, &mut notes)?;
            if let Daemon::Sidecar { image, .. } = &daemon {
                crate::exec::docker::prepare_image(&docker, image, None)
                    .await
                    .map_err(|e| prepare(format!("the Docker sidecar: {e}")))?;
            }
            let layout = crate::exec::docker::DockerLayout {
                workspace_root: workspace.root(),
                state_dir: &workspace.state_dir,
                container_root: &root,
                source: &workspace.src_dir,
                label: how.label,
                daemon,
                network: req.own_network.then(|| format!("runspec-{}", how.uuid)),
                limits,
            };
            let mut session = DockerSession::start(docker, &info, layout, how.shell, how.save_state, &pairs)
                .await
                .map_err(|e| prepare(e.to_string()))?
                .with_terminal(req.terminal);
            match session.daemon_ready(stop).await {
                Ok(note) => notes.extend(note),
                Err(e) => {
                    session.close().await;
                    return Err(match e {
                        DaemonError::Exec(e) => NotStarted::Prepare(prepare(e.to_string())),
                        DaemonError::Failed(f) => NotStarted::Provisioning(Provisioning {
                            status: Status::Failed,
                            code: "CLIENT_ERROR".into(),
                            message: f.message,
                            log: Some(("Docker: the daemon's log ends with:".to_string(), f.log_tail)),
                        }),
                        DaemonError::Stopped(reason) => NotStarted::Provisioning(match reason {
                            crate::exec::StopReason::TimedOut => Provisioning {
                                status: Status::TimedOut,
                                code: "BUILD_TIMED_OUT".into(),
                                message: "Build has timed out".into(),
                                log: None,
                            },
                            crate::exec::StopReason::Stopped => Provisioning {
                                status: Status::Stopped,
                                code: "BUILD_STOPPED".into(),
                                message: "Build was stopped".into(),
                                log: None,
                            },
                        }),
                    });
                }
            }
            if req.runtimes.is_none() && how.wanted_runtimes {
                runtimes = image_catalog(&mut session).await;
            }
            Sessions::Docker(session)
        }
        None => {
            let host = HostSession::new(
                how.shell,
                how.save_state,
                &workspace.src_dir,
                &workspace.state_dir,
                workspace.root(),
                &pairs,
            )
            .map_err(|e| prepare(e.to_string()))?
            .with_terminal(req.terminal);
            // A service's build is kept in a cgroup of its own; so is a build with limits.
            let host = match (&req.host_isolation, limits) {
                (None, None) => host,
                _ => {
                    let isolation = host_isolation(workspace, env.build_user, how.uuid)?;
                    if let Some(limits) = limits {
                        let applied = match &isolation.cgroup {
                            Some(cgroup) => cgroup.limit(limits),
                            None => Err("this machine gives the build no cgroup v2 of its own".into()),
                        };
                        if let Err(why) = applied {
                            warnings.push(format!(
                                "the compute type's limits are not applied on this machine's shell: {why}"
                            ));
                        }
                    }
                    host.with_isolation(isolation)
                }
            };
            Sessions::Host(host)
        }
    };
    Ok(Started { session, runtimes, notes, warnings })
}

/// The image's runtime catalog (`/codebuild/image/config/runtimes.yml`), if it has one.
async fn image_catalog(session: &mut DockerSession) -> crate::runtimes::Source {
    use crate::runtimes::{IMAGE_CATALOG, Origin, Source};
    match session.read_text_file(IMAGE_CATALOG, 1 << 20).await {
        Ok(None) => Source::Unsupported,
        Ok(Some(text)) => match crate::runtimes::catalog::parse(&text) {
            Ok(catalog) => Source::Catalog(catalog, Origin::Image),
            Err(e) => Source::Broken(format!("the image's {IMAGE_CATALOG} cannot be read: {e}")),
        },
        Err(e) => Source::Broken(e.to_string()),
    }
}

impl Sessions {
    /// Runs the engine on this executor, then removes the container. A panic inside the engine
    /// comes back as `Err`, so the build ends FAULT (with a result file), not runspec.
    pub(super) async fn run_engine(
        self,
        log: &mut dyn EventSink,
        stop: Stop,
        input: BuildInput,
    ) -> std::thread::Result<BuildReport> {
        match self {
            Sessions::Host(mut host) => {
                AssertUnwindSafe(Engine::new(&mut host, log, stop).run(input)).catch_unwind().await
            }
            Sessions::Docker(mut container) => {
                let ran =
                    AssertUnwindSafe(Engine::new(&mut container, log, stop).run(input)).catch_unwind().await;
                container.close().await;
                ran
            }
        }
    }
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
