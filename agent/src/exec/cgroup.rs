//! A host build's processes kept together in a cgroup (v2) of their own, so that everything a
//! build started dies with it: a `setsid` or double-forked daemon leaves its process group,
//! but never its cgroup. Used by services (`runspec serve`, `runspec worker`), where builds
//! share a machine with the server and with each other.
//!
//! The cgroup is made under the server's own (from `/proc/self/cgroup`, in the cgroup2 mount
//! found in `/proc/self/mountinfo`). A command enters it before any of its code runs: it is
//! started through a tiny `sh` that writes its own pid into `cgroup.procs`, as the server's
//! user, then execs the command (and `setpriv` drops to the build's user after that). At the
//! end `cgroup.kill` (Linux 5.14) kills every process in it at once; on older kernels each is
//! killed until none is left. Where no cgroup2 can be made (not root, no cgroup2 mount, a
//! cgroup that forbids children), [`BuildCgroup::create`] says why and the build falls back to
//! its process groups.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A build's cgroup; removed (its processes killed) when dropped.
#[derive(Debug)]
pub struct BuildCgroup {
    dir: PathBuf,
}

/// The program that moves itself into the cgroup named by `$1`, then runs the rest.
pub const ENTER: &str = "p=$1; shift; echo $$ > \"$p\" 2>/dev/null; exec \"$@\"";

/// Where the cgroup2 hierarchy is mounted.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // `id parent major:minor root mount-point options ... - fstype source super-options`
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// This process's cgroup2 path (`0::/path`).
fn own_cgroup(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The prefix of this process's build cgroups: `runspec-<pid>-`.
fn prefix_of(pid: u32) -> String {
    format!("runspec-{pid}-")
}

/// Build cgroups left by processes of this machine that are gone (a server or worker killed
/// with SIGKILL): their processes are killed and the cgroups removed.
fn sweep(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("runspec-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            tracing::info!("removing the cgroup {name} of a runspec that is gone");
            drop(BuildCgroup { dir: entry.path() });
        }
    }
}

impl BuildCgroup {
    /// Makes the cgroup of the build `name` (`runspec-<pid>-<name>`), and checks that a process
    /// can enter it. Cgroups of runspec processes that are gone are swept first.
    pub fn create(name: &str) -> Result<BuildCgroup, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        let mount = cgroup2_mount(&mountinfo).ok_or("no cgroup2 file system is mounted")?;
        let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let own = own_cgroup(&own).ok_or("this process has no cgroup2 path")?.trim_start_matches('/');
        let parent = mount.join(own);
        sweep(&parent);
        let dir = parent.join(format!("{}{name}", prefix_of(std::process::id())));
        fs::create_dir(&dir).map_err(|e| format!("cannot make the cgroup {}: {e}", dir.display()))?;
        let cgroup = BuildCgroup { dir };
        // A process must be able to enter it (a cgroup with controllers enabled below it, or a
        // delegation that stops at ours, would refuse).
        let probe = std::process::Command::new("/bin/sh")
            .args(["-c", "echo $$ > \"$1\"", "probe"])
            .arg(cgroup.procs())
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|e| format!("cannot start /bin/sh: {e}"))?;
        if !probe.status.success() {
            return Err(format!(
                "a process cannot enter {}: {}",
                cgroup.dir.display(),
                String::from_utf8_lossy(&probe.stderr).trim()
            ));
        }
        Ok(cgroup)
    }

    /// Caps the build's memory (no swap beyond it) and CPUs, as its compute type says. Needs
    /// the memory and cpu controllers enabled for the cgroup's parent.
    pub fn limit(&self, limits: crate::compute::Limits) -> Result<(), String> {
        let write = |file: &str, value: String| {
            fs::write(self.dir.join(file), &value)
                .map_err(|e| format!("cannot write {value} to {}: {e}", self.dir.join(file).display()))
        };
        write("memory.max", limits.memory_bytes.to_string())?;
        // Absent when the kernel has no swap accounting: then there is no swap to limit.
        if self.dir.join("memory.swap.max").exists() {
            write("memory.swap.max", "0".to_string())?;
        }
        if let Some(cpus) = limits.cpus {
            const PERIOD: u64 = 100_000;
            write("cpu.max", format!("{} {PERIOD}", u64::from(cpus) * PERIOD))?;
        }
        Ok(())
    }

    /// The file a process writes its pid into to enter.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The processes in it now.
    pub fn pids(&self) -> Vec<i32> {
        fs::read_to_string(self.procs())
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills every process in it and waits (a little) until none is left.
    pub fn kill(&self) {
        let killed_at_once = fs::write(self.dir.join("cgroup.kill"), "1").is_ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() > deadline {
                return;
            }
            if !killed_at_once {
                for pid in pids {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for BuildCgroup {
    fn drop(&mut self) {
        self.kill();
        // The kernel removes a cgroup only once its last process is gone.
        let deadline = Instant::now() + Duration::from_secs(2);
        while fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hierarchy_and_own_path_are_found() {
        let mountinfo = "24 30 0:22 / /sys rw - sysfs sysfs rw\n31 24 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(mountinfo), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(cgroup2_mount("24 30 0:22 / /sys rw - sysfs sysfs rw\n"), None);
        assert_eq!(
            own_cgroup("1:cpu:/\n0::/system.slice/runspec.service\n"),
            Some("/system.slice/runspec.service")
        );
    }

    #[test]
    fn a_detached_daemon_dies_with_its_cgroup() {
        let Ok(cgroup) = BuildCgroup::create("test") else {
            eprintln!("no writable cgroup2 here: nothing to test");
            return;
        };
        let pid_file = tempfile::NamedTempFile::new().unwrap();
        let status = std::process::Command::new("/bin/sh")
            .args(["-c", ENTER, "enter"])
            .arg(cgroup.procs())
            .args(["/bin/sh", "-c", "setsid sleep 300 > /dev/null 2>&1 & echo $! > \"$1\"", "daemon"])
            .arg(pid_file.path())
            .status()
            .unwrap();
        assert!(status.success());
        let pid: i32 = fs::read_to_string(pid_file.path()).unwrap().trim().parse().unwrap();
        assert!(cgroup.pids().contains(&pid), "the daemon is in the cgroup");
        let dir = cgroup.path().to_path_buf();
        drop(cgroup);
        // Reaped by init (or by no one): gone, or a zombie at most.
        let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.split_whitespace().nth(2) == Some("Z"), "{state}");
        assert!(!dir.exists(), "the cgroup is removed");
    }

    #[test]
    fn cgroups_of_a_runspec_that_is_gone_are_swept() {
        let Ok(mine) = BuildCgroup::create("sweeper") else {
            eprintln!("no writable cgroup2 here: nothing to test");
            return;
        };
        // A pid that was alive and is no more.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id();
        gone.wait().unwrap();
        let stale = mine.path().parent().unwrap().join(format!("runspec-{pid}-left"));
        fs::create_dir(&stale).unwrap();
        let next = BuildCgroup::create("next").unwrap();
        assert!(!stale.exists(), "swept");
        assert!(mine.path().exists(), "this process's own cgroups stay");
        drop(next);
    }
}
