//! Commands inside a Docker build image, through the Docker API (bollard): one container per
//! build, one `exec` per command, the same wrapper script as on the host.
//!
//! The workspace is bind-mounted at a CodeBuild-like path (`/codebuild/output/src<digits>`, the
//! source at `…/src`, the shell state at `/codebuild/output/tmp`). Output does not go through the
//! exec's attach stream: each command writes into a FIFO in the mounted state directory that the
//! agent reads for the whole build ([`super::output`]), so a command is finished when its process
//! exits, background processes keep running and keep logging (R-SH-07), exactly as on the host.
//! The container runs as root unless `run-as` says otherwise (R-SH-12), whatever the image's
//! `USER`. A privileged build gets a Docker daemon ([`daemon`]). The container and everything
//! else the build made on the engine are removed when it ends, also after a timeout or Ctrl-C,
//! and swept after a `kill -9` ([`owned`]).

pub mod daemon;
pub mod owned;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::exec::StartExecResults;
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::net::unix::pipe;

use super::debug::{self, Breakpoints, ShellAt, Terminal};
use super::output::{OutputPipe, Streamed};
use super::state::ShellState;
use super::wrapper::{self, AgentVars};
use super::{CommandOutcome, CommandSpec, ExecError, Session, Stop};
use crate::buildspec::Shell;
use crate::engine::events::EventSink;

/// Where the state directory is mounted in the container (CodeBuild's `/codebuild/output/tmp`).
pub const STATE_DIR: &str = "/codebuild/output/tmp";

/// Where the workspace is mounted: `/codebuild/output/src<digits>`, the digits taken from the
/// build's UUID as CodeBuild's vary per build.
pub fn container_root(build_uuid: &str) -> String {
    let digits: String = build_uuid.chars().filter(char::is_ascii_digit).take(9).collect();
    format!("/codebuild/output/src{}", if digits.is_empty() { "0".to_string() } else { digits })
}

/// What the build needs to know about its image before it starts.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub name: String,
    /// The image's `ENV`, the lowest layer of the build's environment (R-ENV-03).
    pub env: Vec<(String, String)>,
}

/// Connects to the Docker engine (`DOCKER_HOST` or the default socket).
pub fn connect() -> Result<Docker, ExecError> {
    Docker::connect_with_local_defaults()
        .map_err(|e| ExecError::Docker(format!("cannot connect to the Docker engine: {e}")))
}

/// Where and how to pull an image that is not local: `from` (the registry name to pull, which
/// differs from the image's own name when `RUNSPEC_ECR_REGISTRY` redirects ECR) and the
/// registry credentials.
pub struct PullFrom {
    pub from: String,
    pub credentials: bollard::auth::DockerCredentials,
}

/// Finds the image locally, pulling it when it is missing (with `pull`'s credentials, if any).
pub async fn prepare_image(
    docker: &Docker,
    image: &str,
    pull: Option<PullFrom>,
) -> Result<ImageInfo, ExecError> {
    if docker.inspect_image(image).await.is_err() {
        let from = pull.as_ref().map_or(image, |p| p.from.as_str());
        let options = CreateImageOptionsBuilder::default().from_image(from).build();
        let credentials = pull.as_ref().map(|p| p.credentials.clone());
        let mut stream = docker.create_image(Some(options), None, credentials);
        while let Some(step) = stream.next().await {
            step.map_err(|e| {
                let hint = match &pull {
                    Some(p) => crate::image::push::registry_hint(
                        p.credentials.serveraddress.as_deref().unwrap_or_default(),
                        &e.to_string(),
                    ),
                    None => String::new(),
                };
                ExecError::Docker(format!("cannot pull image `{image}`: {e}{hint}"))
            })?;
        }
        if from != image {
            let (repo, tag) =
                image.rsplit_once(':').filter(|(_, t)| !t.contains('/')).unwrap_or((image, "latest"));
            let options =
                bollard::query_parameters::TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
            docker.tag_image(from, Some(options)).await.map_err(|e| {
                ExecError::Docker(format!("cannot tag the pulled `{from}` as `{image}`: {e}"))
            })?;
        }
    }
    let inspected = docker
        .inspect_image(image)
        .await
        .map_err(|e| ExecError::Docker(format!("image `{image}` is not available: {e}")))?;
    let env = inspected
        .config
        .and_then(|c| c.env)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    Ok(ImageInfo { name: image.to_string(), env })
}

pub struct DockerSession {
    docker: Docker,
    container: String,
    shell: Shell,
    save_state: bool,
    /// The state directory on the host (mounted at [`STATE_DIR`]).
    state_dir: PathBuf,
    state: ShellState,
    /// The source directory as the build sees it.
    src_in_container: String,
    output: OutputPipe,
    last_exit: i32,
    closed: bool,
    /// The workspace root on the host (made traversable for `run-as` users).
    workspace_root: PathBuf,
    /// What else the build made on the engine, removed with it.
    sidecar: Option<String>,
    volumes: Vec<String>,
    network: Option<String>,
    /// What the build gets for Docker; it holds the project's layer cache until the build ends.
    daemon: daemon::Daemon,
    /// `run-as` users, resolved in the container: name → (uid, gid).
    users: HashMap<String, (u32, u32)>,
    breakpoints: Breakpoints,
    terminal: Option<Terminal>,
}

/// How a Docker build session is laid out.
pub struct DockerLayout<'a> {
    pub workspace_root: &'a Path,
    pub state_dir: &'a Path,
    /// `/codebuild/output/src<digits>`.
    pub container_root: &'a str,
    /// The primary source on the host: `workspace_root/src`, or a directory built in place
    /// (`--mount-source`, a clone made for the build), which is then mounted at `…/src`.
    pub source: &'a Path,
    pub label: &'a str,
    /// What the build gets for Docker (CodeBuild's privileged mode).
    pub daemon: daemon::Daemon,
    /// A network of the build's own, made for it (a service's builds); else the engine's default.
    pub network: Option<String>,
    /// The compute type's memory and CPUs, for the build's containers.
    pub limits: Option<crate::compute::Limits>,
}

/// The Unix socket of the engine the agent talks to (`DOCKER_HOST=unix://…`, else the default
/// socket), or `None` when it is not a local socket: what `--docker host` hands the build.
pub fn engine_socket() -> Option<String> {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => h.strip_prefix("unix://").map(str::to_string),
        _ => Some("/var/run/docker.sock".to_string()),
    }
}

impl DockerSession {
    /// Writes the initial state, opens the output FIFO, creates and starts the container (and,
    /// in sidecar mode, the daemon's container first). The daemon itself is waited for by
    /// [`DockerSession::daemon_ready`].
    pub async fn start(
        docker: Docker,
        image: &ImageInfo,
        layout: DockerLayout<'_>,
        shell: Shell,
        save_state: bool,
        env: &[(String, String)],
    ) -> Result<Self, ExecError> {
        let src_in_container = format!("{}/src", layout.container_root);
        // A sidecar's daemon is the build's default engine; the build's own DOCKER_HOST wins.
        let mut env = env.to_vec();
        if matches!(layout.daemon, daemon::Daemon::Sidecar { .. })
            && !env.iter().any(|(k, _)| k == "DOCKER_HOST")
        {
            env.insert(0, ("DOCKER_HOST".to_string(), daemon::SIDECAR_HOST.to_string()));
        }
        let state = ShellState::create(layout.state_dir, &env, &src_in_container)?;
        let fifo = layout.state_dir.join("out");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666))
            .map_err(std::io::Error::from)?;
        // Any build user writes its output here (the umask took write access away).
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&fifo, fs::Permissions::from_mode(0o666))?;
        }
        // Opened read-write: the agent is always a writer too, so the FIFO never reads EOF.
        let reader = pipe::OpenOptions::new().read_write(true).open_receiver(&fifo)?;
        let output = OutputPipe::new(reader, 64 * 1024);

        let mut session = DockerSession {
            docker,
            container: String::new(),
            shell,
            save_state,
            state_dir: layout.state_dir.to_path_buf(),
            state,
            src_in_container,
            output,
            last_exit: 0,
            closed: false,
            workspace_root: layout.workspace_root.to_path_buf(),
            sidecar: None,
            volumes: Vec::new(),
            network: None,
            daemon: daemon::Daemon::None,
            users: HashMap::new(),
            breakpoints: Breakpoints::create(layout.state_dir)?,
            terminal: None,
        };
        if let Err(e) = session.create_containers(image, &layout).await {
            session.close().await;
            return Err(e);
        }
        session.daemon = layout.daemon;
        Ok(session)
    }

    /// The build's network, the sidecar (if any) and the build container, created and started.
    async fn create_containers(
        &mut self,
        image: &ImageInfo,
        layout: &DockerLayout<'_>,
    ) -> Result<(), ExecError> {
        use daemon::{Daemon, Layers};
        let labels = owned::labels(layout.label);
        if let Some(name) = &layout.network {
            let request = bollard::models::NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                labels: Some(labels.clone()),
                ..Default::default()
            };
            self.docker
                .create_network(request)
                .await
                .map_err(|e| ExecError::Docker(format!("cannot create the build's network {name}: {e}")))?;
            self.network = Some(name.clone());
        }
        let mut binds = vec![format!("{}:{}", layout.workspace_root.display(), layout.container_root)];
        if !layout.source.starts_with(layout.workspace_root) {
            binds.push(format!("{}:{}", layout.source.display(), self.src_in_container));
        }
        let workspace_binds = binds.clone();
        binds.push(format!("{}:{STATE_DIR}", layout.state_dir.display()));
        let volume = |target: &str, source: Option<&str>| Mount {
            target: Some(target.to_string()),
            source: source.map(str::to_string),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        };
        let layers_mount = |layers: &Layers| match layers {
            Layers::Fresh => volume("/var/lib/docker", None),
            Layers::Cached(cache) => Mount {
                // Labelled when the first build makes it; kept across builds (never swept).
                volume_options: Some(bollard::models::MountVolumeOptions {
                    labels: Some([(daemon::LAYERS_LABEL.to_string(), cache.project.clone())].into()),
                    ..Default::default()
                }),
                ..volume("/var/lib/docker", Some(&cache.volume))
            },
        };
        // The compute type's limits, for the build's container and its sidecar alike; no swap
        // beyond the memory, as on CodeBuild.
        let limited = |mut host: HostConfig| {
            if let Some(l) = layout.limits {
                let memory = i64::try_from(l.memory_bytes).unwrap_or(i64::MAX);
                host.memory = Some(memory);
                host.memory_swap = Some(memory);
                host.nano_cpus = l.cpus.map(|c| i64::from(c) * 1_000_000_000);
            }
            host
        };
        let mut host = limited(HostConfig {
            init: Some(true),
            network_mode: layout.network.clone(),
            ..Default::default()
        });
        match &layout.daemon {
            Daemon::None => {}
            Daemon::InImage { layers } => {
                host.privileged = Some(true);
                host.mounts = Some(vec![layers_mount(layers)]);
            }
            Daemon::Host { socket } => binds.push(format!("{socket}:/var/run/docker.sock")),
            Daemon::Sidecar { image: sidecar_image, layers } => {
                // A /tmp both containers share, so a file made in the build's /tmp can be
                // mounted into the containers the daemon runs.
                let tmp = format!("runspec-tmp-{}", uuid::Uuid::new_v4().simple());
                let request = bollard::models::VolumeCreateRequest {
                    name: Some(tmp.clone()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                };
                self.docker
                    .create_volume(request)
                    .await
                    .map_err(|e| ExecError::Docker(format!("cannot create the build's /tmp volume: {e}")))?;
                self.volumes.push(tmp.clone());
                let body = ContainerCreateBody {
                    image: Some(sidecar_image.clone()),
                    // On cgroup v2 the daemon's containers need the root cgroup emptied first.
                    entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
                    cmd: Some(vec![format!(
                        "{}; exec dockerd --host={} --host=unix:///var/run/docker.sock --storage-driver=overlay2",
                        daemon::cgroup_nesting_script("/sys/fs/cgroup"),
                        daemon::SIDECAR_HOST
                    )]),
                    labels: Some(labels.clone()),
                    host_config: Some(limited(HostConfig {
                        privileged: Some(true),
                        binds: Some(workspace_binds),
                        mounts: Some(vec![layers_mount(layers), volume("/tmp", Some(&tmp))]),
                        network_mode: layout.network.clone(),
                        ..Default::default()
                    })),
                    ..Default::default()
                };
                let options = CreateContainerOptionsBuilder::default().build();
                let created = self.docker.create_container(Some(options), body).await.map_err(|e| {
                    ExecError::Docker(format!("cannot create the Docker sidecar from `{sidecar_image}`: {e}"))
                })?;
                self.sidecar = Some(created.id.clone());
                self.docker
                    .start_container(&created.id, None)
                    .await
                    .map_err(|e| engine_error("the Docker sidecar", e))?;
                host.network_mode = Some(format!("container:{}", created.id));
                host.mounts = Some(vec![volume("/tmp", Some(&tmp))]);
            }
        }
        host.binds = Some(binds);
        let body = ContainerCreateBody {
            image: Some(image.name.clone()),
            // CodeBuild overrides the image's entrypoint: it never runs.
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec!["trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done".into()]),
            // The image's own user, as `docker run` and CodeBuild use it; naming `root` would
            // need an /etc/passwd that busybox-style and distroless images do not have.
            user: None,
            working_dir: Some(self.src_in_container.clone()),
            labels: Some(labels),
            host_config: Some(host),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().build();
        let created = self.docker.create_container(Some(options), body).await.map_err(|e| {
            ExecError::Docker(format!("cannot create the build container from `{}`: {e}", image.name))
        })?;
        self.container = created.id;
        self.docker
            .start_container(&self.container, None)
            .await
            .map_err(|e| engine_error("the build container", e))?;
        Ok(())
    }

    /// Waits for the build's daemon: the image's `dockerd`, started here in the container, or
    /// the sidecar's. `Ok(Some(note))` says what the build got, for its log; `Ok(None)`: it has
    /// no daemon and needs none.
    pub async fn daemon_ready(&mut self, stop: &mut Stop) -> Result<Option<String>, DaemonError> {
        use daemon::Daemon;
        let daemon = &self.daemon;
        let began = std::time::Instant::now();
        let sh = |script: String| vec!["/bin/sh".to_string(), "-c".to_string(), script];
        let (target, wait) = match daemon {
            Daemon::None => return Ok(None),
            Daemon::Host { .. } => {
                return Ok(Some(
                    "Docker: the build uses the host's Docker engine (--docker host): bind mounts name the host's paths and `localhost` is the host's, not the build's".into(),
                ));
            }
            Daemon::InImage { .. } => {
                let (_, out) = self.exec(sh(daemon::start_script()), None, true).await?;
                if String::from_utf8_lossy(&out).trim() == "none" {
                    return Ok(Some(
                        "Docker: privileged mode, but the image has no dockerd: no Docker daemon was started"
                            .into(),
                    ));
                }
                let wait = daemon::wait_script("unix:///var/run/docker.sock", Some(daemon::PIDFILE));
                (self.container.clone(), wait)
            }
            Daemon::Sidecar { .. } => {
                (self.sidecar.clone().unwrap_or_default(), daemon::wait_script(daemon::SIDECAR_HOST, None))
            }
        };
        let waiter =
            ExecTarget { docker: self.docker.clone(), container: target.clone(), workdir: "/".into() };
        let code = tokio::select! {
            waited = waiter.run(sh(wait), None, true) => waited?.0,
            reason = stop.wait() => return Err(DaemonError::Stopped(reason)),
        };
        if code == 0 {
            let place = match daemon {
                Daemon::Sidecar { .. } => "in its sidecar container",
                _ => "in the build container",
            };
            return Ok(Some(format!(
                "Docker: the daemon {place} is ready after {:.1} s",
                began.elapsed().as_secs_f64()
            )));
        }
        let why = match code {
            2 => "the Docker daemon exited while starting".to_string(),
            _ => format!(
                "the Docker daemon did not answer `docker info` within {} s",
                daemon::DAEMON_WAIT.as_secs()
            ),
        };
        Err(DaemonError::Failed(daemon::DaemonFailure {
            message: format!("{why}; the end of its log is in the build log"),
            log_tail: self.daemon_log_tail(daemon, &target).await,
        }))
    }

    /// The last lines of the daemon's log: `/var/log/docker.log` in the build container, or the
    /// sidecar's output.
    async fn daemon_log_tail(&self, daemon: &daemon::Daemon, target: &str) -> Vec<String> {
        const LINES: usize = 30;
        let text = match daemon {
            daemon::Daemon::Sidecar { .. } => {
                let options = bollard::query_parameters::LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .tail(&LINES.to_string())
                    .build();
                let mut logs = self.docker.logs(target, Some(options));
                let mut text = String::new();
                while let Some(Ok(chunk)) = logs.next().await {
                    text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                }
                text
            }
            _ => {
                let tail = format!("tail -n {LINES} {} 2>&1", daemon::DAEMON_LOG);
                let out = self.exec(vec!["/bin/sh".into(), "-c".into(), tail], None, true).await;
                out.map(|(_, o)| String::from_utf8_lossy(&o).into_owned()).unwrap_or_default()
            }
        };
        text.lines().map(str::to_string).collect()
    }

    /// Breakpoints open a shell in the container on this terminal (without one they are logged
    /// and skipped).
    pub fn with_terminal(mut self, terminal: Option<Terminal>) -> Self {
        self.terminal = terminal;
        self
    }

    /// A small text file of the build image (through the Docker archive API), following
    /// symbolic links; `None` when it does not exist. Longer than `cap` bytes is an error.
    pub async fn read_text_file(&mut self, path: &str, cap: usize) -> Result<Option<String>, ExecError> {
        use std::io::Read;
        let mut path = path.to_string();
        for _ in 0..8 {
            let options =
                bollard::query_parameters::DownloadFromContainerOptionsBuilder::new().path(&path).build();
            let mut stream = self.docker.download_from_container(&self.container, Some(options));
            let mut tar_bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => tar_bytes.extend_from_slice(&bytes),
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                        return Ok(None);
                    }
                    Err(e) => {
                        return Err(ExecError::Docker(format!(
                            "cannot read {path} from the build image: {e}"
                        )));
                    }
                }
                if tar_bytes.len() > cap + 64 * 1024 {
                    return Err(ExecError::Docker(format!(
                        "{path} in the build image is larger than {cap} bytes"
                    )));
                }
            }
            let mut archive = tar::Archive::new(&tar_bytes[..]);
            let mut entries = archive.entries()?;
            let Some(entry) = entries.next() else { return Ok(None) };
            let mut entry = entry?;
            match entry.header().entry_type() {
                tar::EntryType::Symlink => {
                    let Some(target) = entry.link_name()? else { return Ok(None) };
                    let target = target.to_string_lossy().into_owned();
                    path = if target.starts_with('/') {
                        target
                    } else {
                        let parent = Path::new(&path).parent().unwrap_or(Path::new("/"));
                        parent.join(target).to_string_lossy().into_owned()
                    };
                }
                tar::EntryType::Regular => {
                    let mut text = String::new();
                    entry.by_ref().take(cap as u64 + 1).read_to_string(&mut text).map_err(|e| {
                        ExecError::Docker(format!("{path} in the build image is not UTF-8 text: {e}"))
                    })?;
                    if text.len() > cap {
                        return Err(ExecError::Docker(format!(
                            "{path} in the build image is larger than {cap} bytes"
                        )));
                    }
                    return Ok(Some(text));
                }
                _ => return Ok(None),
            }
        }
        Err(ExecError::Docker(format!("{path} in the build image: too many symbolic links")))
    }

    /// The container's id, for tests and diagnostics.
    pub fn container_id(&self) -> &str {
        &self.container
    }

    /// Runs `argv` in the container and waits for it.
    async fn exec(
        &self,
        argv: Vec<String>,
        user: Option<&str>,
        capture: bool,
    ) -> Result<(i64, Vec<u8>), ExecError> {
        let target = ExecTarget {
            docker: self.docker.clone(),
            container: self.container.clone(),
            workdir: self.src_in_container.clone(),
        };
        target.run(argv, user.map(str::to_string), capture).await
    }

    /// Runs a helper script (expansions, exported variables) and returns its stdout.
    async fn capture(&mut self, script: String) -> Result<Vec<u8>, ExecError> {
        fs::write(self.state_dir.join("helper.sh"), script)?;
        let argv = vec![self.shell.program().to_string(), format!("{STATE_DIR}/helper.sh")];
        Ok(self.exec(argv, None, true).await?.1)
    }

    /// Removes the container (and with it every process of the build).
    pub async fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        for container in [Some(self.container.clone()), self.sidecar.take()].into_iter().flatten() {
            if !container.is_empty() {
                let _ = self.docker.remove_container(&container, Some(options.clone())).await;
            }
        }
        for volume in std::mem::take(&mut self.volumes) {
            let force = bollard::query_parameters::RemoveVolumeOptionsBuilder::default().force(true).build();
            let _ = self.docker.remove_volume(&volume, Some(force)).await;
        }
        if let Some(network) = self.network.take() {
            let _ = self.docker.remove_network(&network).await;
        }
        // The layer cache's lock goes with it.
        self.daemon = daemon::Daemon::None;
    }
}

impl Session for DockerSession {
    async fn check_user(&mut self, user: &str) -> Result<(), ExecError> {
        let script = format!("id -u {0} && id -g {0}", wrapper::sh_quote(user));
        let (code, out) = self.exec(vec!["/bin/sh".into(), "-c".into(), script], None, true).await?;
        let ids: Vec<u32> =
            String::from_utf8_lossy(&out).split_whitespace().filter_map(|s| s.parse().ok()).collect();
        match (code, ids.as_slice()) {
            (0, [uid, gid]) => {
                // The user reaches the source and the shell state: traverse only for the
                // workspace, like CodeBuild's "read and run permissions" (R-SH-12).
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&self.workspace_root, fs::Permissions::from_mode(0o711))?;
                self.users.insert(user.to_string(), (*uid, *gid));
                Ok(())
            }
            _ => Err(ExecError::NoSuchUser(user.to_string())),
        }
    }

    async fn run(
        &mut self,
        spec: CommandSpec<'_>,
        sink: &mut dyn EventSink,
        stop: &mut Stop,
    ) -> Result<CommandOutcome, ExecError> {
        if let Some(reason) = stop.check() {
            return Ok(reason.into());
        }
        let agent =
            AgentVars { build_succeeding: spec.build_succeeding, last_exit: self.last_exit, run_as: None };
        let script = wrapper::script(spec.text, Path::new(STATE_DIR), &agent, self.save_state);
        let script_path = self.state_dir.join("script.sh");
        fs::write(&script_path, script)?;
        if let Some(user) = spec.run_as {
            if !self.users.contains_key(user) {
                self.check_user(user).await?;
            }
            if let Some(&(uid, gid)) = self.users.get(user) {
                let ids = (Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)));
                for path in [&self.state_dir, &script_path, &self.state.env_file()] {
                    nix::unistd::chown(path.as_path(), ids.0, ids.1).map_err(std::io::Error::from)?;
                }
            }
        }
        let shell = self.shell.program();
        let argv = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!("exec > {STATE_DIR}/out 2>&1 < /dev/null; exec {shell} {STATE_DIR}/script.sh"),
        ];
        let target = ExecTarget {
            docker: self.docker.clone(),
            container: self.container.clone(),
            workdir: self.src_in_container.clone(),
        };
        let exec = target.run(argv, spec.run_as.map(str::to_string), false);
        tokio::pin!(exec);
        let waited = loop {
            match self.output.stream_until(&mut exec, sink, stop, Some(&mut self.breakpoints)).await? {
                Streamed::Done(result) => break Ok(result),
                Streamed::Stopped(reason) => break Err(reason),
                Streamed::Breakpoint(count) => {
                    debug::pause(self, self.terminal, &spec, sink).await;
                    self.breakpoints.resume(count)?;
                }
            }
        };
        let outcome = match waited {
            Ok(result) => {
                let (code, early_errors) = result?;
                sink.output(&early_errors);
                CommandOutcome::Exited(code as i32)
            }
            Err(reason) => {
                // The build ends here: removing the container kills the command and everything
                // it started.
                self.close().await;
                self.output.drain_after_exit(sink);
                reason.into()
            }
        };
        self.last_exit = outcome.exit_code();
        self.state.commit(outcome, self.save_state)?;
        Ok(outcome)
    }

    async fn expand(&mut self, expr: &str) -> Result<String, ExecError> {
        let out = self.capture(wrapper::expand_script(expr, Path::new(STATE_DIR))).await?;
        wrapper::parse_expansion(&out).map_err(ExecError::Expansion)
    }

    async fn read_vars(&mut self, names: &[&str]) -> Result<Vec<Option<String>>, ExecError> {
        let out = self.capture(wrapper::export_script(names, Path::new(STATE_DIR))).await?;
        Ok(wrapper::parse_exports(&out, names.len()))
    }

    async fn add_vars(&mut self, vars: &[(String, String)]) -> Result<(), ExecError> {
        Ok(self.state.append(vars)?)
    }

    async fn save_state(&mut self, slot: super::state::Snapshot) -> Result<(), ExecError> {
        Ok(self.state.save(slot)?)
    }

    async fn restore_state(&mut self, slot: super::state::Snapshot) -> Result<(), ExecError> {
        Ok(self.state.restore(slot)?)
    }

    /// Copies the container's `roots` into `staging` (through the Docker archive API, streamed
    /// to a file, never held in memory); a root that does not exist is skipped.
    async fn absolute_paths_out(&mut self, roots: &[PathBuf], staging: &Path) -> Result<PathBuf, ExecError> {
        use std::io::Write;
        fs::create_dir_all(staging)?;
        let download = staging.with_extension("download.tar");
        for root in roots {
            let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
                .path(&root.to_string_lossy())
                .build();
            let mut stream = self.docker.download_from_container(&self.container, Some(options));
            let mut file = std::io::BufWriter::new(fs::File::create(&download)?);
            let mut missing = false;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => file.write_all(&bytes)?,
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                        missing = true;
                        break;
                    }
                    Err(e) => {
                        return Err(ExecError::Docker(format!(
                            "cannot read {} from the build: {e}",
                            root.display()
                        )));
                    }
                }
            }
            file.flush()?;
            drop(file);
            if !missing {
                // Entries are named from the root's last component: unpack next to it.
                let parent = root.parent().unwrap_or(Path::new("/"));
                let dest = staging.join(parent.strip_prefix("/").unwrap_or(parent));
                fs::create_dir_all(&dest)?;
                let mut archive = tar::Archive::new(fs::File::open(&download)?);
                archive.set_preserve_permissions(true);
                archive.unpack(&dest)?;
            }
        }
        let _ = fs::remove_file(&download);
        Ok(staging.to_path_buf())
    }

    fn absolute_paths_staging(&self, staging: &Path) -> PathBuf {
        staging.to_path_buf()
    }

    /// `docker exec -it` into the build's container (the Docker CLI does the terminal's raw
    /// mode, resizing and signals), as the container's user or the command's `run-as` user, in
    /// the build's directory and variables.
    async fn debug_shell(&mut self, at: ShellAt, run_as: Option<&str>) -> Result<(), ExecError> {
        fs::write(self.state_dir.join(debug::RC_FILE), debug::rc_file(STATE_DIR, at, debug::banner(at)))?;
        let docker = super::host::which("docker").ok_or_else(|| {
            ExecError::Debug(
                "a shell in the build's container needs the Docker CLI (`docker`) on the PATH".into(),
            )
        })?;
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        let mut exec = tokio::process::Command::new(&docker);
        exec.args(["exec", "-it", "-e", &format!("TERM={term}"), "-w", &self.src_in_container]);
        if let Some((uid, gid)) = run_as.and_then(|u| self.users.get(u)) {
            exec.args(["-u", &format!("{uid}:{gid}")]);
        }
        let _open = debug::ShellOpen::mark();
        let status = exec
            .arg(&self.container)
            .args(["/bin/sh", "-c", &debug::shell_command(STATE_DIR)])
            .status()
            .await
            .map_err(|source| ExecError::Spawn { program: docker.display().to_string(), source })?;
        tracing::debug!(?status, "debug shell ended");
        Ok(())
    }

    /// Puts what the cache unpacked into `staging` in place in the container, as one tar
    /// uploaded at `/` and streamed from a file.
    async fn absolute_paths_in(&mut self, staging: &Path) -> Result<(), ExecError> {
        if !staging.is_dir() {
            return Ok(());
        }
        let upload = staging.with_extension("upload.tar");
        {
            let mut builder = tar::Builder::new(std::io::BufWriter::new(fs::File::create(&upload)?));
            builder.follow_symlinks(false);
            builder.append_dir_all(".", staging)?;
            builder.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        }
        let file = tokio::fs::File::open(&upload).await?;
        let chunks = futures_util::stream::unfold(file, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 64 * 1024];
            match f.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((bytes::Bytes::from(buf), f))
                }
            }
        });
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::new().path("/").build();
        let result = self
            .docker
            .upload_to_container(&self.container, Some(options), bollard::body_stream(chunks))
            .await;
        let _ = fs::remove_file(&upload);
        result.map_err(|e| ExecError::Docker(format!("cannot restore cached files into the build: {e}")))
    }
}

/// Why a build's daemon is not there.
#[derive(Debug)]
pub enum DaemonError {
    Failed(daemon::DaemonFailure),
    Stopped(super::StopReason),
    Exec(ExecError),
}

impl From<ExecError> for DaemonError {
    fn from(e: ExecError) -> Self {
        DaemonError::Exec(e)
    }
}

/// An engine's refusal to start a container, in one line; the capability error some machines
/// give for every privileged container is said plainly.
fn engine_error(what: &str, e: bollard::errors::Error) -> ExecError {
    let text = e.to_string();
    if text.contains("unable to apply caps") {
        return ExecError::Docker(format!(
            "cannot start {what}: this Docker engine cannot start privileged containers on this machine (runc: `unable to apply caps`: the capability bounding set lacks some capabilities); give the engine a runtime that drops them, or run without privileged mode"
        ));
    }
    ExecError::Docker(format!("cannot start {what}: {text}"))
}

/// Where an exec runs; owned, so a running exec does not borrow the session.
struct ExecTarget {
    docker: Docker,
    container: String,
    workdir: String,
}

impl ExecTarget {
    /// Runs `argv` and waits for it to exit; returns its exit code and, when `capture`, its
    /// stdout.
    async fn run(
        self,
        argv: Vec<String>,
        user: Option<String>,
        capture: bool,
    ) -> Result<(i64, Vec<u8>), ExecError> {
        let config = ExecConfig {
            cmd: Some(argv),
            // `None`: the container's user (the image's default).
            user,
            working_dir: Some(self.workdir),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let docker_err = |e: bollard::errors::Error| ExecError::Docker(e.to_string());
        let id = self.docker.create_exec(&self.container, config).await.map_err(docker_err)?.id;
        let mut captured = Vec::new();
        let mut errors = Vec::new();
        if let StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&id, None).await.map_err(docker_err)?
        {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bollard::container::LogOutput::StdOut { message }) if capture => {
                        captured.extend_from_slice(&message)
                    }
                    // Only what fails before the command's own output is redirected lands here.
                    Ok(bollard::container::LogOutput::StdErr { message }) => {
                        errors.extend_from_slice(&message)
                    }
                    _ => {}
                }
            }
        }
        let code = self.docker.inspect_exec(&id).await.map_err(docker_err)?.exit_code.unwrap_or(1);
        if code != 0 && !errors.is_empty() && !capture {
            captured = errors;
        }
        Ok((code, captured))
    }
}
