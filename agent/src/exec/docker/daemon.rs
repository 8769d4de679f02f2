//! The Docker daemon of a privileged build (`--docker MODE`).
//!
//! On CodeBuild, privileged mode "enables running the Docker daemon inside a Docker container":
//! the daemon runs in the build container itself, so `$PWD`, `.:/app`, `/tmp/x` and ports
//! published to `localhost` all mean the build's own. runspec does the same by default, and
//! offers two other ways for what CodeBuild does not do:
//!
//! - [`DockerMode::InImage`]: the build container is privileged, with `/var/lib/docker` on a
//!   volume (nested overlay2 needs one). If the image has `dockerd`, it is started before
//!   INSTALL with the curated images' flags, and the build waits for it (60 s at most). An image
//!   without `dockerd` gets no daemon, as on CodeBuild. A buildspec that starts its own `dockerd`
//!   (AWS's custom-image recipe) still works: the default pidfile makes the second one exit.
//! - [`DockerMode::Sidecar`]: a Docker-in-Docker container per build, sharing the build's network
//!   namespace (`localhost` is the same), with the workspace at the same path and a shared
//!   `/tmp`; the build reaches it at `tcp://127.0.0.1:2375`. For images with only the client.
//! - [`DockerMode::Host`]: the agent's own engine through its socket. Paths in bind mounts and
//!   `localhost` are then the host's, and the build can do anything the engine can.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// How a privileged build gets Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DockerMode {
    /// A daemon of the build's own, in its container (the image's `dockerd`), as on CodeBuild.
    #[default]
    InImage,
    /// A Docker-in-Docker container beside the build's, sharing its network and workspace.
    Sidecar,
    /// The agent's own Docker engine (bind mounts and `localhost` are the host's).
    Host,
}

impl DockerMode {
    /// The mode's name, as `--docker` and `RUNSPEC_DOCKER` spell it.
    pub fn name(self) -> &'static str {
        match self {
            DockerMode::InImage => "in-image",
            DockerMode::Sidecar => "sidecar",
            DockerMode::Host => "host",
        }
    }

    pub fn from_name(name: &str) -> Option<DockerMode> {
        [DockerMode::InImage, DockerMode::Sidecar, DockerMode::Host].into_iter().find(|m| m.name() == name)
    }
}

/// What a build's container gets for Docker.
pub enum Daemon {
    /// Not privileged: no daemon and no socket, as on CodeBuild.
    None,
    InImage {
        layers: Layers,
    },
    Sidecar {
        image: String,
        layers: Layers,
    },
    /// The engine's socket on this machine.
    Host {
        socket: String,
    },
}

/// Where a build's daemon keeps its images and layers (`/var/lib/docker`).
pub enum Layers {
    /// A volume of the build's own, removed with it.
    Fresh,
    /// The project's layer cache (LOCAL_DOCKER_LAYER_CACHE), held by this build alone.
    Cached(LayerCache),
}

/// The flags CodeBuild's curated images start `dockerd` with.
pub const DAEMON_FLAGS: [&str; 3] =
    ["--host=unix:///var/run/docker.sock", "--host=tcp://127.0.0.1:2375", "--storage-driver=overlay2"];
/// Where the daemon's output goes, as in the curated images.
pub const DAEMON_LOG: &str = "/var/log/docker.log";
/// How long a build waits for its daemon (the curated images wait 60 × 1 s).
pub const DAEMON_WAIT: Duration = Duration::from_secs(60);
/// Where a sidecar's daemon is reached from the build (the network namespace is shared).
pub const SIDECAR_HOST: &str = "tcp://127.0.0.1:2375";

/// A daemon that did not become ready: why, and the end of its log.
#[derive(Debug)]
pub struct DaemonFailure {
    pub message: String,
    pub log_tail: Vec<String>,
}

/// A project's Docker layer cache: a volume named for the project, locked on this machine while
/// a build uses it (two daemons on one `/var/lib/docker` would corrupt it).
pub struct LayerCache {
    pub volume: String,
    pub project: String,
    _lock: nix::fcntl::Flock<File>,
}

/// The label that marks a layer-cache volume (with the project's name): `docker volume ls
/// --filter label=runspec.layers` lists them.
pub const LAYERS_LABEL: &str = "runspec.layers";

impl LayerCache {
    /// The project's layer volume, if no other build holds it (`Ok(None)`: busy). The lock is a
    /// file under `lock_dir`, released when this value is dropped, also when runspec dies.
    pub fn acquire(project: &str, lock_dir: &Path) -> std::io::Result<Option<LayerCache>> {
        use nix::fcntl::{Flock, FlockArg};
        let volume = layer_volume_name(project);
        std::fs::create_dir_all(lock_dir)?;
        let file = File::create(lock_dir.join(format!("{volume}.lock")))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(LayerCache { volume, project: project.to_string(), _lock: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(e.into()),
        }
    }
}

/// `runspec-layers-<project>-<hash>`: readable, and unique whatever the project's name.
pub fn layer_volume_name(project: &str) -> String {
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(project.as_bytes())[..4]);
    let readable: String =
        project.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).take(40).collect();
    format!("runspec-layers-{readable}-{hash}")
}

/// Where the daemon runspec starts keeps its pid.
pub const PIDFILE: &str = "/var/run/runspec-dockerd.pid";

/// The script that starts the image's daemon in the background, or says it has none: prints
/// `started`, or `none` when the image has no `dockerd`.
pub fn start_script() -> String {
    let flags = DAEMON_FLAGS.join(" ");
    let nesting = cgroup_nesting_script("/sys/fs/cgroup");
    format!(
        "d=/usr/local/bin/dockerd; [ -x \"$d\" ] || d=$(command -v dockerd) || {{ echo none; exit 0; }}; \
         {nesting}; mkdir -p /var/log /var/run; \"$d\" {flags} > {DAEMON_LOG} 2>&1 < /dev/null & echo $! > {PIDFILE}; echo started"
    )
}

/// A container's part of running a daemon that runs containers on a cgroup v2 machine (what
/// moby's `dind` script does; nothing on cgroup v1, where `cgroup.controllers` does not exist).
/// cgroup v2 lets a cgroup hand its controllers to children only while it has no processes of
/// its own, so every process of the container's root cgroup (`root`, its namespace's view)
/// moves into `init`, and the root then enables its controllers for the daemon's containers.
/// Later `docker exec`s into the build container land in `init` too (runc joins the cgroup of
/// the container's first process when the root refuses them). Failures are left to the
/// daemon's own error, which the build log shows.
pub fn cgroup_nesting_script(root: &str) -> String {
    format!(
        "if [ -f {root}/cgroup.controllers ]; then mkdir -p {root}/init 2>/dev/null; \
         for try in 1 2 3 4 5; do \
         while read -r p; do echo \"$p\" >> {root}/init/cgroup.procs; done < {root}/cgroup.procs 2>/dev/null; \
         ok=1; for c in $(cat {root}/cgroup.controllers); do echo \"+$c\" >> {root}/cgroup.subtree_control 2>/dev/null || ok=; done; \
         [ -n \"$ok\" ] && break; done; fi"
    )
}

/// The script that waits for a daemon (every 0.1 s, up to [`DAEMON_WAIT`]): exits 0 when
/// `docker info` answers, 2 when the daemon process is gone, 1 at the deadline. `host` is
/// where the client reaches it; `pidfile` the daemon's pid, if it was started by a script.
pub fn wait_script(host: &str, pidfile: Option<&str>) -> String {
    let tries = DAEMON_WAIT.as_millis() / 100;
    let alive = match pidfile {
        Some(p) => {
            format!("p=$(cat {p} 2>/dev/null); [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null || exit 2; ")
        }
        None => String::new(),
    };
    format!(
        "i=0; while [ $i -lt {tries} ]; do \
         if command -v docker >/dev/null; then docker -H {host} info >/dev/null 2>&1 && exit 0; \
         else [ -S /var/run/docker.sock ] && exit 0; fi; \
         {alive}sleep 0.1; i=$((i+1)); done; exit 1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_by_name() {
        for m in [DockerMode::InImage, DockerMode::Sidecar, DockerMode::Host] {
            assert_eq!(DockerMode::from_name(m.name()), Some(m));
        }
        assert_eq!(DockerMode::from_name("dind"), None);
    }

    #[test]
    fn layer_volumes_are_valid_docker_names_and_distinct() {
        let a = layer_volume_name("app");
        assert!(a.starts_with("runspec-layers-app-"), "{a}");
        assert_ne!(a, layer_volume_name("App"));
        let long = layer_volume_name(&"x".repeat(255));
        assert!(long.len() < 80);
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    }

    #[test]
    fn one_build_at_a_time_holds_a_layer_cache() {
        let dir = tempfile::tempdir().unwrap();
        let first = LayerCache::acquire("app", dir.path()).unwrap().expect("free");
        assert!(LayerCache::acquire("app", dir.path()).unwrap().is_none(), "busy while held");
        assert!(LayerCache::acquire("other", dir.path()).unwrap().is_some(), "per project");
        drop(first);
        assert!(LayerCache::acquire("app", dir.path()).unwrap().is_some(), "free again");
    }

    #[test]
    fn cgroup_v2_nesting_moves_the_processes_out_and_enables_the_controllers() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().display().to_string();
        let run = || {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cgroup_nesting_script(&root))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        // cgroup v1 (no cgroup.controllers): nothing is touched.
        run();
        assert!(!t.path().join("init").exists());
        // A cgroup v2 root as a container sees it (plain files standing in for cgroupfs).
        std::fs::write(t.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(t.path().join("cgroup.procs"), "1\n27\n").unwrap();
        run();
        assert_eq!(std::fs::read_to_string(t.path().join("init/cgroup.procs")).unwrap(), "1\n27\n");
        assert_eq!(
            std::fs::read_to_string(t.path().join("cgroup.subtree_control")).unwrap(),
            "+cpu\n+memory\n+pids\n"
        );
        assert!(start_script().contains("/sys/fs/cgroup/init"));
    }

    #[test]
    fn the_start_script_uses_the_curated_flags() {
        let s = start_script();
        assert!(s.contains(
            "--host=unix:///var/run/docker.sock --host=tcp://127.0.0.1:2375 --storage-driver=overlay2"
        ));
        assert!(s.contains("/usr/local/bin/dockerd") && s.contains(DAEMON_LOG));
        assert!(wait_script("unix:///var/run/docker.sock", Some("/run/p")).contains("i -lt 600"));
    }
}
