//! What a build owns on a Docker engine (its containers, its network, its volumes), labelled so
//! that nothing outlives it: the session removes them when the build ends, and [`sweep`] removes
//! what a runspec process that is gone left behind (a `kill -9`, a lost machine's restart).
//!
//! Every object carries `runspec.build` (the build's id) and `runspec.owner`, the process that
//! made it as `<hostname>/<pid>/<start time>`: a pid alone could be reused. Objects whose owner
//! is another machine are never touched. Layer-cache volumes carry no owner: they outlive
//! builds on purpose.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};

pub const BUILD_LABEL: &str = "runspec.build";
pub const OWNER_LABEL: &str = "runspec.owner";

/// This process as an owner label: `<hostname>/<pid>/<start time in clock ticks>`.
pub fn owner() -> String {
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let pid = std::process::id();
    format!("{host}/{pid}/{}", start_time(pid).unwrap_or(0))
}

/// The labels of an object a build owns.
pub fn labels(build: &str) -> HashMap<String, String> {
    HashMap::from([(BUILD_LABEL.to_string(), build.to_string()), (OWNER_LABEL.to_string(), owner())])
}

/// A process's start time (field 22 of `/proc/<pid>/stat`), which tells it from a later
/// process given the same pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last `)`.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the owner an object names is gone: a process of this machine that no longer runs
/// (or whose pid now belongs to another process). Another machine's objects are never gone.
pub fn owner_is_gone(owner: &str) -> bool {
    let mut parts = owner.splitn(3, '/');
    let (Some(host), Some(pid), Some(started)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let this_host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    if host != this_host {
        return false;
    }
    let (Ok(pid), Ok(started)) = (pid.parse::<u32>(), started.parse::<u64>()) else { return false };
    start_time(pid) != Some(started)
}

/// Removes the containers, networks and volumes whose owner is gone; returns how many. Errors
/// are logged and skipped: a sweep never fails a build.
pub async fn sweep(docker: &Docker) -> usize {
    let filters = HashMap::from([("label".to_string(), vec![OWNER_LABEL.to_string()])]);
    let gone = |labels: Option<&HashMap<String, String>>| {
        labels.and_then(|l| l.get(OWNER_LABEL)).is_some_and(|o| owner_is_gone(o))
    };
    let mut removed = 0;
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    for c in docker.list_containers(Some(options)).await.unwrap_or_default() {
        if let (true, Some(id)) = (gone(c.labels.as_ref()), c.id.as_deref()) {
            let force = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            match docker.remove_container(id, Some(force)).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("cannot remove the stale build container {id}: {e}"),
            }
        }
    }
    let options = ListNetworksOptionsBuilder::default().filters(&filters).build();
    for n in docker.list_networks(Some(options)).await.unwrap_or_default() {
        if let (true, Some(id)) = (gone(n.labels.as_ref()), n.id.as_deref()) {
            match docker.remove_network(id).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("cannot remove the stale build network {id}: {e}"),
            }
        }
    }
    let options = ListVolumesOptionsBuilder::default().filters(&filters).build();
    let volumes = docker.list_volumes(Some(options)).await.ok().and_then(|v| v.volumes).unwrap_or_default();
    for v in volumes {
        if gone(Some(&v.labels)) {
            let force = RemoveVolumeOptionsBuilder::default().force(true).build();
            match docker.remove_volume(&v.name, Some(force)).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("cannot remove the stale build volume {}: {e}", v.name),
            }
        }
    }
    removed
}

/// A service's start (`runspec serve`, `runspec worker`): sweeps the engine in the background,
/// so what a killed server left goes at once rather than at the next image build. Nothing
/// happens when there is no engine.
pub fn sweep_at_start(who: &'static str) {
    let spawned = std::thread::Builder::new().name("docker-sweep".into()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            let Ok(docker) = super::connect() else { return };
            let deadline = std::time::Duration::from_secs(60);
            if tokio::time::timeout(deadline, docker.ping()).await.is_ok_and(|p| p.is_ok())
                && let Ok(swept) = tokio::time::timeout(deadline, sweep(&docker)).await
                && swept > 0
            {
                eprintln!(
                    "{who}: removed {swept} containers, networks and volumes of builds whose runspec is gone"
                );
            }
        });
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot sweep the Docker engine: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_or_a_dead_one_is_gone() {
        let me = owner();
        assert!(!owner_is_gone(&me), "{me}");
        let (host, rest) = me.split_once('/').unwrap();
        let pid = rest.split('/').next().unwrap();
        // Same pid, another start time: the pid was reused.
        assert!(owner_is_gone(&format!("{host}/{pid}/1")));
        // A pid that does not exist.
        assert!(owner_is_gone(&format!("{host}/4194304/1")));
        // Another machine's objects, and labels runspec did not write, are never swept.
        assert!(!owner_is_gone("another-host/1/1"));
        assert!(!owner_is_gone("garbage"));
    }
}
