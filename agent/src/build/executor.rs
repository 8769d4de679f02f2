//! The executor a build runs on: a container of its image (through the Docker API), or this
//! machine's shell; and the engine run on it.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use super::environment::BuildEnvironment;
use super::{BuildRequest, PrepareError, prepare};
use crate::buildspec::Shell;
use crate::engine::events::EventSink;
use crate::engine::{BuildInput, BuildReport, Engine};
use crate::exec::Stop;
use crate::exec::docker::{DockerSession, ImageInfo};
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

/// Starts the build's executor, and finds the runtime catalog `runtime-versions` selects from
/// (R-PH-02): a file given explicitly, else the image's, else this machine's.
pub(super) async fn start(
    req: &BuildRequest,
    image: Option<Image>,
    env: BuildEnvironment,
    how: Start<'_>,
) -> Result<(Sessions, crate::runtimes::Source), PrepareError> {
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
            let layout = crate::exec::docker::DockerLayout {
                workspace_root: workspace.root(),
                state_dir: &workspace.state_dir,
                container_root: &root,
                source: &workspace.src_dir,
                label: how.label,
                privileged: req.privileged,
            };
            let mut session = DockerSession::start(docker, &info, layout, how.shell, how.save_state, &pairs)
                .await
                .map_err(|e| prepare(e.to_string()))?
                .with_terminal(req.terminal);
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
            let host = match &req.host_isolation {
                Some(_) => host.with_isolation(host_isolation(workspace, env.build_user, how.uuid)?),
                None => host,
            };
            Sessions::Host(host)
        }
    };
    Ok((session, runtimes))
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
