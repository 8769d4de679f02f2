//! Where commands run. [`Session`] is the seam: the host shell ([`host`]) today, a Docker build
//! image later. The per-command script is built by [`wrapper`] and is the same everywhere.

pub mod cgroup;
pub mod debug;
pub mod docker;
pub mod host;
pub mod output;
pub mod state;
pub mod wrapper;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::events::EventSink;

/// One command to run.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec<'a> {
    pub text: &'a str,
    /// `run-as` user for this command (R-SH-12); `None` runs as the agent's user.
    pub run_as: Option<&'a str>,
    /// `CODEBUILD_BUILD_SUCCEEDING` for this command (R-TR-04).
    pub build_succeeding: bool,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    Exited(i32),
    /// Killed by a signal it did not handle.
    Signaled(i32),
    /// The build's timeout fired while it ran; its process group was killed.
    TimedOut,
    /// The build was stopped (Ctrl-C); its process group was killed.
    Stopped,
}

/// A command the build's timeout or a stop ended.
impl From<StopReason> for CommandOutcome {
    fn from(reason: StopReason) -> Self {
        match reason {
            StopReason::TimedOut => CommandOutcome::TimedOut,
            StopReason::Stopped => CommandOutcome::Stopped,
        }
    }
}

impl CommandOutcome {
    pub fn success(&self) -> bool {
        matches!(self, CommandOutcome::Exited(0))
    }

    /// The command ran to its end and did not succeed (not cut short by a timeout or a stop).
    pub fn failed(&self) -> bool {
        matches!(self, CommandOutcome::Exited(c) if *c != 0) || matches!(self, CommandOutcome::Signaled(_))
    }

    /// The exit code `CODEBUILD_LAST_EXIT` gets: 128+N for a signal, as shells report it.
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandOutcome::Exited(c) => *c,
            CommandOutcome::Signaled(s) => 128 + s,
            CommandOutcome::TimedOut | CommandOutcome::Stopped => 128 + 9,
        }
    }
}

/// The `Reason:` of a failure, worded as Go's `exec.ExitError` (R-PH-13).
impl fmt::Display for CommandOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandOutcome::Exited(c) => write!(f, "exit status {c}"),
            CommandOutcome::Signaled(s) => {
                let name = nix::sys::signal::Signal::try_from(*s)
                    .map(|sig| signal_word(sig).to_string())
                    .unwrap_or_else(|_| format!("signal {s}"));
                write!(f, "signal: {name}")
            }
            CommandOutcome::TimedOut => f.write_str("build timed out"),
            CommandOutcome::Stopped => f.write_str("build stopped"),
        }
    }
}

fn signal_word(sig: nix::sys::signal::Signal) -> &'static str {
    use nix::sys::signal::Signal::*;
    match sig {
        SIGKILL => "killed",
        SIGTERM => "terminated",
        SIGINT => "interrupt",
        SIGSEGV => "segmentation fault",
        SIGABRT => "aborted",
        SIGPIPE => "broken pipe",
        SIGHUP => "hangup",
        _ => sig.as_str(),
    }
}

/// Why a build is being cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    TimedOut,
    Stopped,
}

/// A lease on a build held by this process (a fleet worker's claim): its deadline on this
/// process's own monotonic clock, moved on by each heartbeat the store accepted. Once it has
/// passed, the holder must stop acting: another worker may already run the build. It never
/// comes back: a heartbeat that arrives after the deadline does not renew it.
#[derive(Debug)]
pub struct LeaseClock {
    base: std::time::Instant,
    /// Nanoseconds after `base`; `u64::MAX` once expired for good.
    deadline_ns: std::sync::atomic::AtomicU64,
}

impl LeaseClock {
    pub fn new(deadline: std::time::Instant) -> std::sync::Arc<LeaseClock> {
        let base = std::time::Instant::now();
        let clock = LeaseClock { base, deadline_ns: std::sync::atomic::AtomicU64::new(0) };
        clock.deadline_ns.store(clock.ns(deadline), std::sync::atomic::Ordering::SeqCst);
        std::sync::Arc::new(clock)
    }

    fn ns(&self, at: std::time::Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX - 1).max(1)
    }

    /// The deadline now, `None` once expired.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        match self.deadline_ns.load(std::sync::atomic::Ordering::SeqCst) {
            u64::MAX => None,
            ns => Some(self.base + Duration::from_nanos(ns)),
        }
    }

    /// Whether the deadline has passed (checked on this call, against the clock).
    pub fn expired(&self) -> bool {
        match self.deadline() {
            Some(d) if std::time::Instant::now() < d => false,
            _ => {
                self.deadline_ns.store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
                true
            }
        }
    }

    /// Moves the deadline on to `deadline`; `false` (and nothing changes) once expired.
    pub fn renew(&self, deadline: std::time::Instant) -> bool {
        if self.expired() {
            return false;
        }
        let ns = self.ns(deadline);
        let _ = self.deadline_ns.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |old| (old != u64::MAX).then_some(old.max(ns)),
        );
        !self.expired()
    }
}

/// The build's deadline and its stop button (Ctrl-C), shared by everything that waits; for a
/// fleet worker's build also its lease ([`LeaseClock`]), checked before each command, phase and
/// upload.
#[derive(Debug, Clone)]
pub struct Stop {
    deadline: Option<Instant>,
    stopped: watch::Receiver<bool>,
    lease: Option<std::sync::Arc<LeaseClock>>,
}

impl Stop {
    pub fn new(timeout: Option<Duration>, stopped: watch::Receiver<bool>) -> Self {
        Stop::since(Instant::now(), timeout, stopped)
    }

    /// A timeout whose clock started at `started` (a service fetches the source first, and the
    /// build's timeout covers that too).
    pub fn since(started: Instant, timeout: Option<Duration>, stopped: watch::Receiver<bool>) -> Self {
        Stop { deadline: timeout.map(|t| started + t), stopped, lease: None }
    }

    /// The same, ending also when `lease` runs out.
    pub fn with_lease(mut self, lease: Option<std::sync::Arc<LeaseClock>>) -> Self {
        self.lease = lease;
        self
    }

    /// Whether the build should stop now.
    pub fn check(&self) -> Option<StopReason> {
        if *self.stopped.borrow() || self.lease.as_ref().is_some_and(|l| l.expired()) {
            return Some(StopReason::Stopped);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Some(StopReason::TimedOut),
            _ => None,
        }
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Resolves when the build must stop.
    pub async fn wait(&mut self) -> StopReason {
        if let Some(r) = self.check() {
            return r;
        }
        let deadline = self.deadline;
        let timed_out = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let stopped = async {
            loop {
                if self.stopped.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                if *self.stopped.borrow() {
                    return;
                }
            }
        };
        let lease = self.lease.clone();
        let lease_lost = async move {
            let Some(lease) = lease else { return std::future::pending().await };
            while let Some(d) = lease.deadline() {
                tokio::time::sleep_until(Instant::from_std(d)).await;
                if lease.expired() {
                    break;
                }
            }
        };
        tokio::select! {
            () = timed_out => StopReason::TimedOut,
            () = stopped => StopReason::Stopped,
            () = lease_lost => StopReason::Stopped,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot prepare the workspace at `{path}`: {source}")]
    Workspace { path: String, source: std::io::Error },
    #[error("cannot start `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("run-as user `{0}` does not exist on this machine")]
    NoSuchUser(String),
    #[error("run-as needs runspec to run as root (it runs as uid {0})")]
    NotRoot(u32),
    #[error("run-as needs `setpriv` (from util-linux) on the PATH")]
    NoSetpriv,
    #[error(
        "run-as user `{0}`: this server runs host builds as `{1}` only (its --build-user); use an image for other users"
    )]
    RunAsRefused(String, String),
    #[error("{0}")]
    Docker(String),
    #[error("{0}")]
    Expansion(String),
    #[error("{0}")]
    Debug(String),
    #[error("i/o error while running a command: {0}")]
    Io(#[from] std::io::Error),
}

/// Expands `$VAR`, `` `…` `` and `$(…)` in the build's shell, only when the text has any; plain
/// text is returned as is without starting a process.
pub async fn expand_if_needed<S: Session>(session: &mut S, text: &str) -> Result<String, ExecError> {
    if !text.contains(['$', '`']) {
        return Ok(text.to_string());
    }
    session.expand(text).await
}

/// Completes on Ctrl-C or SIGTERM: how `runspec run` and `runspec serve` are asked to stop.
pub async fn stop_requested() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// A build's place to run commands: created once per build, closed at the end.
#[allow(async_fn_in_trait, reason = "used with concrete types only; no Send bound needed")]
pub trait Session {
    /// Checks up front that `user` can be used for `run-as`.
    async fn check_user(&mut self, user: &str) -> Result<(), ExecError>;

    /// Runs one command, streaming its output to `sink`, until it exits or `stop` fires.
    async fn run(
        &mut self,
        cmd: CommandSpec<'_>,
        sink: &mut dyn EventSink,
        stop: &mut Stop,
    ) -> Result<CommandOutcome, ExecError>;

    /// Expands a shell expression (`$VAR`, `$(…)`) in the build's current state.
    async fn expand(&mut self, expr: &str) -> Result<String, ExecError>;

    /// Reads variables from the build's current state; `None` for unset ones.
    async fn read_vars(&mut self, names: &[&str]) -> Result<Vec<Option<String>>, ExecError>;

    /// Adds variables to the build's state (fetched secrets, set before INSTALL).
    async fn add_vars(&mut self, vars: &[(String, String)]) -> Result<(), ExecError>;

    /// Remembers the current shell state in `slot`, so [`Session::restore_state`] can return to it.
    async fn save_state(&mut self, slot: state::Snapshot) -> Result<(), ExecError>;

    async fn restore_state(&mut self, slot: state::Snapshot) -> Result<(), ExecError>;

    /// For the cache: makes the build's files under the absolute directories `roots` readable
    /// on this machine and says where `/` of the build is here. The host's own files need
    /// nothing (`/`); a container's are copied into `staging` first.
    async fn absolute_paths_out(
        &mut self,
        _roots: &[PathBuf],
        _staging: &Path,
    ) -> Result<PathBuf, ExecError> {
        Ok(PathBuf::from("/"))
    }

    /// Opens an interactive shell on runspec's terminal in the build's state (`run --debug`,
    /// `codebuild-breakpoint`) and waits until it is left.
    /// `run_as` is the command's `run-as` user: the shell is that user's too.
    async fn debug_shell(&mut self, _at: debug::ShellAt, _run_as: Option<&str>) -> Result<(), ExecError> {
        Err(ExecError::Debug("this executor cannot open a shell".into()))
    }

    /// Where the cache should unpack absolute paths on this machine (`/` on the host).
    fn absolute_paths_staging(&self, _staging: &Path) -> PathBuf {
        PathBuf::from("/")
    }

    /// After the cache unpacked absolute paths into [`Session::absolute_paths_staging`]: puts
    /// them in place in the build (nothing to do on the host).
    async fn absolute_paths_in(&mut self, _staging: &Path) -> Result<(), ExecError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_ends_on_its_own_clock_and_never_comes_back() {
        let now = std::time::Instant::now();
        let clock = LeaseClock::new(now + Duration::from_millis(200));
        assert!(!clock.expired());
        assert!(clock.renew(now + Duration::from_secs(60)), "moved on");
        assert!(clock.renew(now + Duration::from_millis(1)), "never moved back");
        assert!(!clock.expired());
        let gone = LeaseClock::new(now);
        assert!(gone.expired());
        assert!(!gone.renew(now + Duration::from_secs(60)), "a late heartbeat does not bring it back");
        assert!(gone.expired());
    }

    #[test]
    fn a_build_stops_when_its_lease_runs_out() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (_tx, rx) = watch::channel(false);
        let clock = LeaseClock::new(std::time::Instant::now() + Duration::from_millis(100));
        let mut stop = Stop::new(Some(Duration::from_secs(600)), rx).with_lease(Some(clock.clone()));
        assert_eq!(stop.check(), None);
        assert_eq!(rt.block_on(stop.wait()), StopReason::Stopped);
        assert!(clock.expired());
        assert_eq!(stop.check(), Some(StopReason::Stopped));
    }
}
