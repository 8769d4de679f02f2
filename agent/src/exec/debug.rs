//! Stepping into a build from a terminal: `codebuild-breakpoint` (CodeBuild's Session Manager
//! pause) and `runspec run --debug` (stop at the first failing command).
//!
//! A breakpoint is a small executable on the build's `PATH` ([`breakpoint_script`]): it writes
//! the build's variables and directory as they are at that point, asks the agent through a FIFO
//! in the state directory, and waits on a second FIFO until the agent says to go on. The agent
//! (the executor's `run`, while it streams output) then opens an interactive shell in that state
//! on its terminal (inside the container for Docker builds) and resumes the command when the
//! shell ends (`exit` or `codebuild-resume`). Without a terminal the breakpoint is logged and the
//! command goes on at once. Both FIFOs are opened read-write by the agent, so neither side ever
//! blocks on an open and a stale reader or writer cannot wedge the build.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::unix::pipe;

use super::wrapper::sh_quote;
use super::{CommandOutcome, Session, Stop};
use crate::engine::events::{BuildEvent, EventSink};

/// runspec has a terminal a person can answer on (stdin and stderr); only then does a build
/// stop. `on_failure` is `--debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    pub on_failure: bool,
}

impl Terminal {
    /// The terminal, when runspec has one.
    pub fn detect(on_failure: bool) -> Option<Terminal> {
        use std::io::IsTerminal;
        (io::stdin().is_terminal() && io::stderr().is_terminal()).then_some(Terminal { on_failure })
    }
}

/// Whether a debug shell is open: Ctrl-C then belongs to that shell, not to the build.
static SHELL_OPEN: AtomicBool = AtomicBool::new(false);

pub fn shell_open() -> bool {
    SHELL_OPEN.load(Ordering::SeqCst)
}

/// Marks a debug shell open for as long as it lives.
pub struct ShellOpen(());

impl ShellOpen {
    pub fn mark() -> ShellOpen {
        SHELL_OPEN.store(true, Ordering::SeqCst);
        ShellOpen(())
    }
}

impl Drop for ShellOpen {
    fn drop(&mut self) {
        SHELL_OPEN.store(false, Ordering::SeqCst);
    }
}

/// Which state a debug shell opens in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellAt {
    /// The build's saved state (after the last command).
    Current,
    /// The state `codebuild-breakpoint` wrote, in the middle of a command.
    Breakpoint,
}

impl ShellAt {
    /// The file the shell restores, in the state directory.
    pub fn file(self) -> &'static str {
        match self {
            ShellAt::Current => "env.sh",
            ShellAt::Breakpoint => "break.env",
        }
    }
}

/// The FIFO `codebuild-breakpoint` writes to, and the one it waits on.
const REQUESTS: &str = "breakpoint";
const RESUME: &str = "resume";
/// The interactive shell's start-up file, in the state directory.
pub const RC_FILE: &str = "debug.rc";

/// The `codebuild-breakpoint` executable: `state` is the state directory as the build sees it.
pub fn breakpoint_script(state: &str) -> String {
    let s = sh_quote(state);
    format!(
        "#!/bin/sh\n\
         # codebuild-breakpoint (runspec): pauses the build here for a shell in its state.\n\
         S={s}\n\
         [ -p \"$S/{REQUESTS}\" ] || exit 0\n\
         umask 077\n\
         PWD=$(pwd); export PWD\n\
         export -p > \"$S/break.env\"\n\
         echo > \"$S/{REQUESTS}\"\n\
         read -r _ < \"$S/{RESUME}\"\n\
         exit 0\n"
    )
}

/// The start-up file of a debug shell: the build's variables and directory from `env_file`,
/// `codebuild-resume` to leave, and a prompt that says where you are. `state` is the state
/// directory as the shell sees it. Read by `bash --rcfile` and by `sh` through `ENV`.
pub fn rc_file(state: &str, at: ShellAt, banner: &str) -> String {
    let env_file = sh_quote(&format!("{state}/{}", at.file()));
    format!(
        "set -a\n. {env_file}\nset +a\ncd -- \"$PWD\" 2>/dev/null\n\
         alias codebuild-resume='exit 0'\n\
         PS1='(runspec debug) $ '\n\
         printf '%s\\n' {}\n",
        sh_quote(banner)
    )
}

/// The shell command a debug shell runs: bash with the start-up file when the build has bash,
/// else `sh` reading it through `ENV`.
pub fn shell_command(state: &str) -> String {
    let rc = sh_quote(&format!("{state}/{RC_FILE}"));
    format!(
        "if command -v bash >/dev/null 2>&1; then exec bash --noprofile --rcfile {rc} -i; else ENV={rc} exec sh -i; fi"
    )
}

/// The agent's ends of the two breakpoint FIFOs.
pub struct Breakpoints {
    requests: pipe::Receiver,
    resume: fs::File,
}

impl Breakpoints {
    /// Makes the FIFOs in `state_dir` (any build user may use them) and opens them.
    pub fn create(state_dir: &Path) -> io::Result<Breakpoints> {
        let make = |name: &str| -> io::Result<PathBuf> {
            let path = state_dir.join(name);
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o666))
                .map_err(io::Error::from)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o666))?;
            Ok(path)
        };
        let requests = pipe::OpenOptions::new().read_write(true).open_receiver(make(REQUESTS)?)?;
        let resume = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(make(RESUME)?)?;
        Ok(Breakpoints { requests, resume })
    }

    /// Resolves when a command reached `codebuild-breakpoint`; how many did (usually one).
    pub async fn requested(&mut self) -> io::Result<usize> {
        let mut buf = [0u8; 64];
        loop {
            self.requests.readable().await?;
            match self.requests.try_read(&mut buf) {
                Ok(n) => {
                    let count = buf[..n].iter().filter(|&&b| b == b'\n').count();
                    if count > 0 {
                        return Ok(count);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Lets `count` waiting breakpoints go on. A go-ahead nobody read (its command was killed)
    /// is taken back first, so it cannot let a later breakpoint through.
    pub fn resume(&mut self, count: usize) -> io::Result<()> {
        let mut stale = [0u8; 256];
        while matches!(self.resume.read(&mut stale), Ok(n) if n > 0) {}
        self.resume.write_all(&b"\n".repeat(count.max(1)))
    }
}

/// A command reached `codebuild-breakpoint`: a shell on the terminal until it is left, or,
/// without a terminal, a log line. The caller then lets the command go on.
pub async fn pause<S: Session>(
    session: &mut S,
    terminal: Option<Terminal>,
    command: &super::CommandSpec<'_>,
    sink: &mut dyn EventSink,
) {
    let (run_as, command) = (command.run_as, command.text);
    if terminal.is_none() {
        sink.event(BuildEvent::Note(&format!(
            "Breakpoint in command {command}: skipped, runspec has no terminal to open a shell on"
        )));
        return;
    }
    sink.event(BuildEvent::Note(&format!(
        "Breakpoint in command {command}: the build is paused; leave the shell (exit or codebuild-resume) to resume"
    )));
    if let Err(e) = session.debug_shell(ShellAt::Breakpoint, run_as).await {
        sink.event(BuildEvent::Warning(&format!("no shell at the breakpoint: {e}")));
    }
    sink.event(BuildEvent::Note("Resuming the build after the breakpoint"));
}

/// The banner a debug shell prints.
pub fn banner(at: ShellAt) -> &'static str {
    match at {
        ShellAt::Breakpoint => {
            "runspec: a shell at codebuild-breakpoint, in the build's directory and variables. `codebuild-resume` or `exit` resumes the build."
        }
        ShellAt::Current => {
            "runspec: a shell in the build's state after the failed command. `exit` goes back to the menu."
        }
    }
}

/// What to do about a failed command (`--debug`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Shell,
    Rerun,
    /// Go on as if it had passed.
    Pass,
    /// Go on with its failure, as without `--debug`.
    Fail,
    Abort,
}

impl Choice {
    /// An answer typed at the prompt; `None` asks again.
    pub fn parse(answer: &str) -> Option<Choice> {
        match answer.trim().to_ascii_lowercase().as_str() {
            "s" | "shell" => Some(Choice::Shell),
            "r" | "rerun" | "run" => Some(Choice::Rerun),
            "c" | "continue" | "pass" => Some(Choice::Pass),
            "f" | "fail" => Some(Choice::Fail),
            "a" | "abort" | "q" | "quit" => Some(Choice::Abort),
            _ => None,
        }
    }
}

const MENU: &str = "  s  open a shell in the build's state (leave it with `exit` to come back here)\n  \
                    r  run the command again\n  \
                    c  continue as if it had passed\n  \
                    f  continue with its failure (as without --debug)\n  \
                    a  abort the build\n";

/// Asks on the terminal what to do after `command` ended with `outcome`. The end of input is
/// "continue with the failure"; a stop (Ctrl-C, the timeout) while asking is "abort".
pub async fn ask(command: &str, outcome: &CommandOutcome, stop: &mut Stop) -> Choice {
    use tokio::io::AsyncBufReadExt;
    eprint!("\n[runspec --debug] the build is paused: `{command}` failed ({outcome}).\n{MENU}");
    let mut input = tokio::io::BufReader::new(tokio::io::stdin());
    loop {
        eprint!("what now? [s/r/c/f/a] ");
        let _ = io::stderr().flush();
        let mut line = String::new();
        let read = tokio::select! {
            r = input.read_line(&mut line) => r,
            _ = stop.wait() => return Choice::Abort,
        };
        match read {
            Ok(0) | Err(_) => return Choice::Fail,
            Ok(_) => {
                if let Some(choice) = Choice::parse(&line) {
                    return choice;
                }
                eprint!("{MENU}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_table() {
        let table = [
            ("s\n", Some(Choice::Shell)),
            (" R ", Some(Choice::Rerun)),
            ("continue", Some(Choice::Pass)),
            ("f", Some(Choice::Fail)),
            ("a", Some(Choice::Abort)),
            ("quit", Some(Choice::Abort)),
            ("", None),
            ("x", None),
        ];
        for (answer, want) in table {
            assert_eq!(Choice::parse(answer), want, "{answer:?}");
        }
    }

    /// The script really records the state and waits: run it with sh against real FIFOs.
    #[tokio::test]
    async fn a_breakpoint_records_the_state_and_waits_for_the_go_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap().to_string();
        let mut bp = Breakpoints::create(dir.path()).unwrap();
        let script = dir.path().join("codebuild-breakpoint");
        fs::write(&script, breakpoint_script(&state)).unwrap();
        let work = dir.path().join("it's here");
        fs::create_dir(&work).unwrap();
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "FOO='a b'; export FOO; cd {}; sh {}; echo after",
                sh_quote(work.to_str().unwrap()),
                sh_quote(script.to_str().unwrap())
            ))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let count =
            tokio::time::timeout(std::time::Duration::from_secs(10), bp.requested()).await.unwrap().unwrap();
        assert_eq!(count, 1);
        // Paused: the command has not gone on.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(child.try_wait().unwrap().is_none(), "the command waits for the go-ahead");
        let env = fs::read_to_string(dir.path().join("break.env")).unwrap();
        assert!(env.contains("FOO="), "{env}");
        bp.resume(1).unwrap();
        let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "after\n");
        // The recorded state, sourced by a shell, gives the variables and the directory back.
        let probe = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "set -a; . {}; cd -- \"$PWD\"; printf '%s|%s' \"$FOO\" \"$(pwd)\"",
                sh_quote(&format!("{state}/break.env"))
            ))
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&probe.stdout), format!("a b|{}", work.display()));
    }

    #[test]
    fn without_the_fifos_the_script_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("bp");
        fs::write(&script, breakpoint_script(dir.path().to_str().unwrap())).unwrap();
        let out = std::process::Command::new("sh").arg(&script).output().unwrap();
        assert!(out.status.success());
        assert!(!dir.path().join("break.env").exists());
    }

    #[test]
    fn a_stale_go_ahead_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        let mut bp = Breakpoints::create(dir.path()).unwrap();
        bp.resume(1).unwrap();
        bp.resume(1).unwrap();
        let mut r = fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(dir.path().join(RESUME))
            .unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 1, "one go-ahead waits, not two");
    }
}
