//! Commands on the host: one `sh` (or `bash`) process per command, in its own process group.
//!
//! Output goes through one pipe for the whole build ([`super::output`]); stdout and stderr share
//! it, so they interleave exactly as written (R-SH-11).

use std::collections::HashMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, Uid, User, chown};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use super::debug::{self, Breakpoints, ShellAt, Terminal};
use super::output::{OutputPipe, Streamed};
use super::state::ShellState;
use super::wrapper::{self, AgentVars};
use super::{CommandOutcome, CommandSpec, ExecError, Session, Stop};
use crate::buildspec::Shell;
use crate::engine::events::EventSink;

/// How long a command gets between SIGTERM and SIGKILL when the build is stopped or times out.
const KILL_GRACE: Duration = Duration::from_secs(2);

pub struct HostSession {
    shell: Shell,
    /// Version 0.2 saves shell state between commands; 0.1 does not (R-SH-20).
    save_state: bool,
    src_dir: PathBuf,
    state_dir: PathBuf,
    state: ShellState,
    build_root: PathBuf,
    output: OutputPipe,
    writer: OwnedFd,
    last_exit: i32,
    users: HashMap<String, User>,
    /// Process groups started by this build, killed when it ends.
    groups: Vec<Pid>,
    breakpoints: Breakpoints,
    terminal: Option<Terminal>,
    /// A service's build: the user every command runs as, and the cgroup that holds them.
    isolation: Isolation,
}

/// How a service keeps a host build apart from the server and from other builds.
#[derive(Debug, Default)]
pub struct Isolation {
    /// Every command runs as this user (`serve --build-user`); `run-as` may name only it.
    pub user: Option<User>,
    /// Every process of the build, however detached, is in it and dies with the build.
    pub cgroup: Option<super::cgroup::BuildCgroup>,
}

impl HostSession {
    /// Writes the initial state (every variable as a literal, `PWD` = the source dir) and opens
    /// the output pipe. Must be called inside a tokio runtime.
    pub fn new(
        shell: Shell,
        save_state: bool,
        src_dir: &Path,
        state_dir: &Path,
        build_root: &Path,
        env: &[(String, String)],
    ) -> Result<Self, ExecError> {
        let state = ShellState::create(state_dir, env, &src_dir.to_string_lossy())?;
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(std::io::Error::from)?;
        // A larger pipe means fewer wake-ups for chatty commands. Best effort.
        let _ = fcntl(&read, FcntlArg::F_SETPIPE_SZ(1 << 20));
        let pipe_capacity = fcntl(&read, FcntlArg::F_GETPIPE_SZ).map_or(1 << 16, |n| n as usize);
        Ok(HostSession {
            shell,
            save_state,
            src_dir: src_dir.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            state,
            build_root: build_root.to_path_buf(),
            output: OutputPipe::new(pipe::Receiver::from_owned_fd(read)?, pipe_capacity),
            writer: write,
            last_exit: 0,
            users: HashMap::new(),
            groups: Vec::new(),
            breakpoints: Breakpoints::create(state_dir)?,
            terminal: None,
            isolation: Isolation::default(),
        })
    }

    /// A service's build: its commands as `isolation.user`, in `isolation.cgroup`.
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Breakpoints open a shell on this terminal (without one they are logged and skipped).
    pub fn with_terminal(mut self, terminal: Option<Terminal>) -> Self {
        self.terminal = terminal;
        self
    }

    fn user(&mut self, name: &str) -> Result<User, ExecError> {
        if let Some(u) = self.users.get(name) {
            return Ok(u.clone());
        }
        if let Some(only) = &self.isolation.user
            && only.name != name
        {
            return Err(ExecError::RunAsRefused(name.to_string(), only.name.clone()));
        }
        let euid = Uid::effective();
        let user = User::from_name(name)
            .map_err(std::io::Error::from)?
            .ok_or_else(|| ExecError::NoSuchUser(name.to_string()))?;
        if user.uid != euid {
            if !euid.is_root() {
                return Err(ExecError::NotRoot(euid.as_raw()));
            }
            if which("setpriv").is_none() {
                return Err(ExecError::NoSetpriv);
            }
            // The user must reach the source and the shell state: traverse only, like CodeBuild's
            // "read and run permissions" (R-SH-12).
            fs::set_permissions(&self.build_root, fs::Permissions::from_mode(0o711))?;
        }
        self.users.insert(name.to_string(), user.clone());
        Ok(user)
    }

    /// Builds the process for a script, as the agent or through `setpriv` as another user (the
    /// build's user when a service set one), entering the build's cgroup first when it has one.
    fn command(&self, script: &Path, user: Option<&User>) -> Result<Command, ExecError> {
        let user = user.or(self.isolation.user.as_ref());
        let mut cmd = match &self.isolation.cgroup {
            Some(cgroup) => {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", super::cgroup::ENTER, "runspec-cgroup"]).arg(cgroup.procs());
                c.args(as_user_argv(self.shell.program(), user));
                c
            }
            None => as_user(self.shell.program(), user),
        };
        let out = self.writer.try_clone()?;
        let err = self.writer.try_clone()?;
        cmd.arg(script)
            .env_clear()
            .current_dir(&self.src_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .kill_on_drop(false);
        Ok(cmd)
    }

    fn spawn(&mut self, mut cmd: Command) -> Result<Child, ExecError> {
        let program = self.shell.program().to_string();
        let child = cmd.spawn().map_err(|source| ExecError::Spawn { program, source })?;
        if let Some(pid) = child.id() {
            self.groups.push(Pid::from_raw(pid as i32));
        }
        Ok(child)
    }

    /// SIGTERM to the whole process group, SIGKILL after the grace period (§15).
    async fn kill_group(&mut self, child: &mut Child, sink: &mut dyn EventSink) {
        let Some(pid) = child.id() else { return };
        let pgid = Pid::from_raw(pid as i32);
        let _ = killpg(pgid, Signal::SIGTERM);
        let exited = tokio::time::timeout(KILL_GRACE, child.wait());
        if self.output.stream_while(exited, sink).await.is_err() {
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait().await;
        }
        let _ = killpg(pgid, Signal::SIGKILL);
        self.output.drain_after_exit(sink);
    }

    /// Runs a helper script and returns its stdout (stderr goes to the build log pipe).
    async fn capture(&mut self, script: String) -> Result<Vec<u8>, ExecError> {
        let path = self.state_dir.join("helper.sh");
        fs::write(&path, script)?;
        let mut cmd = self.command(&path, None)?;
        cmd.stdout(Stdio::piped());
        let program = self.shell.program().to_string();
        let out = cmd.output().await.map_err(|source| ExecError::Spawn { program, source })?;
        Ok(out.stdout)
    }
}

impl Session for HostSession {
    async fn check_user(&mut self, user: &str) -> Result<(), ExecError> {
        self.user(user).map(|_| ())
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
        let user = spec.run_as.map(|u| self.user(u)).transpose()?;
        let home = user.as_ref().map(|u| u.dir.clone());
        let agent = AgentVars {
            build_succeeding: spec.build_succeeding,
            last_exit: self.last_exit,
            run_as: user.as_ref().zip(home.as_deref()).map(|(u, h)| (u.name.as_str(), h)),
        };
        let script_path = self.state_dir.join("script.sh");
        fs::write(&script_path, wrapper::script(spec.text, &self.state_dir, &agent, self.save_state))?;
        let owner = user.as_ref().or(self.isolation.user.as_ref());
        if let Some(u) = owner.filter(|u| u.uid != Uid::effective()) {
            for path in [&self.state_dir, &script_path, &self.state.env_file()] {
                chown(path.as_path(), Some(u.uid), Some(u.gid)).map_err(std::io::Error::from)?;
            }
        }
        let cmd = self.command(&script_path, user.as_ref())?;
        let mut child = self.spawn(cmd)?;
        let waited = {
            let wait = child.wait();
            tokio::pin!(wait);
            loop {
                match self.output.stream_until(&mut wait, sink, stop, Some(&mut self.breakpoints)).await? {
                    Streamed::Done(status) => break Ok(status),
                    Streamed::Stopped(reason) => break Err(reason),
                    Streamed::Breakpoint(count) => {
                        debug::pause(self, self.terminal, &spec, sink).await;
                        self.breakpoints.resume(count)?;
                    }
                }
            }
        };
        let outcome = match waited {
            Ok(status) => exit_outcome(status?),
            Err(reason) => {
                self.kill_group(&mut child, sink).await;
                reason.into()
            }
        };
        self.last_exit = outcome.exit_code();
        self.state.commit(outcome, self.save_state)?;
        Ok(outcome)
    }

    async fn expand(&mut self, expr: &str) -> Result<String, ExecError> {
        let out = self.capture(wrapper::expand_script(expr, &self.state_dir)).await?;
        wrapper::parse_expansion(&out).map_err(ExecError::Expansion)
    }

    async fn read_vars(&mut self, names: &[&str]) -> Result<Vec<Option<String>>, ExecError> {
        let out = self.capture(wrapper::export_script(names, &self.state_dir)).await?;
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

    /// `sh` (bash when there is one) on runspec's own terminal, in runspec's process group so
    /// the terminal is its; Ctrl-C there is the shell's, not the build's. As the command's
    /// `run-as` user when it has one.
    async fn debug_shell(&mut self, at: ShellAt, run_as: Option<&str>) -> Result<(), ExecError> {
        let state = self.state_dir.to_string_lossy().into_owned();
        fs::write(self.state_dir.join(debug::RC_FILE), debug::rc_file(&state, at, debug::banner(at)))?;
        let user = run_as.map(|u| self.user(u)).transpose()?;
        let mut cmd = as_user("/bin/sh", user.as_ref());
        cmd.arg("-c").arg(debug::shell_command(&state)).env_clear().current_dir(&self.src_dir);
        for name in ["TERM", "PATH", "HOME", "LANG"] {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        let _open = debug::ShellOpen::mark();
        let status =
            cmd.status().await.map_err(|source| ExecError::Spawn { program: "/bin/sh".into(), source })?;
        tracing::debug!(?status, "debug shell ended");
        Ok(())
    }
}

impl Drop for HostSession {
    /// Background processes die with the build, as they would with CodeBuild's container.
    fn drop(&mut self) {
        for pgid in &self.groups {
            let _ = killpg(*pgid, Signal::SIGKILL);
        }
    }
}

/// `program`, as `user` through `setpriv` when that is not the agent's own user.
fn as_user(program: &str, user: Option<&User>) -> Command {
    let argv = as_user_argv(program, user);
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// `program`, or `setpriv … -- program` when `user` is not the agent's.
fn as_user_argv(program: &str, user: Option<&User>) -> Vec<String> {
    match user {
        Some(u) if u.uid != Uid::effective() => vec![
            "setpriv".into(),
            format!("--reuid={}", u.uid),
            format!("--regid={}", u.gid),
            "--init-groups".into(),
            "--".into(),
            program.into(),
        ],
        _ => vec![program.into()],
    }
}

fn exit_outcome(status: ExitStatus) -> CommandOutcome {
    match (status.code(), status.signal()) {
        (Some(code), _) => CommandOutcome::Exited(code),
        (None, Some(sig)) => CommandOutcome::Signaled(sig),
        (None, None) => CommandOutcome::Exited(1),
    }
}

/// The first `name` on the agent's PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
