//! The shell state files of a build (R-SH-02), on the host side of the state directory:
//! `env.sh` (what the next command restores), `env.next` (what the last command saved) and
//! `env.saved` (the snapshot a RETRY returns to). Shared by every executor; the paths the
//! commands themselves see are the wrapper's business ([`super::wrapper`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::CommandOutcome;
use super::wrapper;

#[derive(Debug, Clone)]
pub struct ShellState {
    dir: PathBuf,
}

impl ShellState {
    /// Writes the initial state: every variable as a literal, and `PWD` = the source directory
    /// as the build sees it.
    pub fn create(dir: &Path, env: &[(String, String)], pwd: &str) -> io::Result<Self> {
        let mut vars: Vec<(&str, &str)> = env
            .iter()
            .filter(|(k, _)| k != "PWD" && crate::buildspec::parse::is_identifier(k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        vars.push(("PWD", pwd));
        fs::write(dir.join("env.sh"), wrapper::initial_state(vars))?;
        Ok(ShellState { dir: dir.to_path_buf() })
    }

    pub fn env_file(&self) -> PathBuf {
        self.dir.join("env.sh")
    }

    /// After a command: its saved state replaces the current one only when its epilogue ran
    /// (it did not `exit`, R-SH-05), it ended normally, and state carries over (0.2, R-SH-20).
    pub fn commit(&self, outcome: CommandOutcome, carry_over: bool) -> io::Result<()> {
        let next = self.dir.join("env.next");
        if next.exists() {
            if carry_over && matches!(outcome, CommandOutcome::Exited(_)) {
                fs::rename(&next, self.env_file())?;
            } else {
                fs::remove_file(&next)?;
            }
        }
        Ok(())
    }

    /// Adds variables (fetched secrets) after the ones already there, so they win.
    pub fn append(&self, vars: &[(String, String)]) -> io::Result<()> {
        let pairs = vars.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let mut f = fs::OpenOptions::new().append(true).open(self.env_file())?;
        f.write_all(wrapper::initial_state(pairs).as_bytes())
    }

    pub fn save(&self, slot: Snapshot) -> io::Result<()> {
        fs::copy(self.env_file(), self.dir.join(slot.file())).map(|_| ())
    }

    pub fn restore(&self, slot: Snapshot) -> io::Result<()> {
        fs::copy(self.dir.join(slot.file()), self.env_file()).map(|_| ())
    }
}

/// Where a copy of the shell state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    /// Before a phase with a RETRY `on-failure`: each attempt starts from it.
    Phase,
    /// Before a command under `--debug`: a re-run starts from it.
    Command,
}

impl Snapshot {
    fn file(self) -> &'static str {
        match self {
            Snapshot::Phase => "env.saved",
            Snapshot::Command => "env.before",
        }
    }
}
