//! A build's sources fetched onto this machine, for `runspec serve`, `runspec worker` and
//! `runspec replay`: a git clone at a source version ([`git`]), an S3 ZIP ([`s3`]), or a
//! directory already here. Every value a caller gave is checked before it reaches a command
//! line ([`revision`], [`location`]); every fetch runs under the build's deadline and stops
//! with it ([`crate::exec::Stop`]); a directory on this machine is read only beneath the roots
//! the operator allowed, and never from the server's own state ([`Policy`]).

pub mod cache;
pub mod git;
pub mod location;
pub mod revision;
pub mod s3;

use std::path::{Path, PathBuf};

use crate::exec::StopReason;

/// Why a source is not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// It cannot be fetched: the message says why and how to fix it.
    Failed(String),
    /// The build's timeout fired, or it was stopped, while it was being fetched.
    Stopped(StopReason),
}

impl From<String> for FetchError {
    fn from(message: String) -> Self {
        FetchError::Failed(message)
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Failed(m) => f.write_str(m),
            FetchError::Stopped(StopReason::Stopped) => f.write_str("the build was stopped"),
            FetchError::Stopped(StopReason::TimedOut) => f.write_str("the build timed out"),
        }
    }
}

/// Which directories of this machine a source may be read from.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// LOCAL sources and local git repositories must be beneath one of these (canonical
    /// paths). Empty: none may be read (CodeBuild itself only knows remote sources).
    pub local_roots: Vec<PathBuf>,
    /// A source may not be one of these, lie inside one, or contain one (the server's state
    /// directory: its keys, database and other builds' logs and workspaces).
    pub forbidden: Vec<PathBuf>,
}

impl Policy {
    /// The user's own machine (`runspec run`, `runspec replay`): any directory.
    pub fn anywhere() -> Policy {
        Policy { local_roots: vec![PathBuf::from("/")], forbidden: Vec::new() }
    }

    /// A service's policy: directories under `roots` (made canonical; a root that does not
    /// exist is an error), never `state_dir`.
    pub fn service(roots: &[PathBuf], state_dir: &Path) -> Result<Policy, String> {
        let canonical =
            |p: &Path| p.canonicalize().map_err(|e| format!("the local source root {}: {e}", p.display()));
        let local_roots = roots.iter().map(|r| canonical(r)).collect::<Result<Vec<_>, _>>()?;
        let state = state_dir.canonicalize().unwrap_or_else(|_| location::normalise(state_dir));
        Ok(Policy { local_roots, forbidden: vec![state] })
    }

    /// Checks, without looking at the disk, that `given` could be read (an API request is
    /// refused up front; [`Self::local_dir`] decides when the source is fetched, links
    /// resolved).
    pub fn allows(&self, given: &str) -> Result<(), String> {
        if self.local_roots.is_empty() {
            return Err(format!(
                "this server reads no directory of its own machine as a source (`{given}`): give a remote URL, or start the server with --local-sources DIR"
            ));
        }
        let path = Path::new(given);
        if !path.is_absolute() {
            return Err(format!("the local source `{given}` is not an absolute path"));
        }
        self.placed(given, &location::normalise(path))
    }

    /// Where a (normalised or canonical) path lies: beneath a root, clear of the state.
    fn placed(&self, given: &str, path: &Path) -> Result<(), String> {
        for f in &self.forbidden {
            if path.starts_with(f) || f.starts_with(path) {
                return Err(format!(
                    "the local source `{given}` is, holds or lies inside the server's state directory; it cannot be a source"
                ));
            }
        }
        if !self.local_roots.iter().any(|r| path.starts_with(r)) {
            let roots: Vec<String> = self.local_roots.iter().map(|r| r.display().to_string()).collect();
            return Err(format!(
                "the local source `{given}` is not beneath a directory this server reads sources from ({})",
                roots.join(", ")
            ));
        }
        Ok(())
    }

    /// Checks a directory of this machine that a source names: its canonical path when it may
    /// be read.
    pub fn local_dir(&self, given: &str) -> Result<PathBuf, String> {
        self.allows(given)?;
        let canonical = Path::new(given)
            .canonicalize()
            .map_err(|e| format!("the local source `{given}` cannot be read on the build server: {e}"))?;
        if !canonical.is_dir() {
            return Err(format!("the local source `{given}` is not a directory on the build server"));
        }
        self.placed(given, &canonical)?;
        Ok(canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_directories_only_beneath_the_roots_and_never_the_state() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let roots = base.join("roots");
        let state = roots.join("state");
        for d in [roots.join("app"), state.join("logs"), base.join("elsewhere")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(base.join("elsewhere"), roots.join("link-out")).unwrap();
        std::fs::write(roots.join("file"), "").unwrap();
        let policy = Policy::service(std::slice::from_ref(&roots), &state).unwrap();
        let s = |p: PathBuf| p.display().to_string();
        assert_eq!(policy.local_dir(&s(roots.join("app"))), Ok(roots.join("app")));
        assert_eq!(policy.local_dir(&s(roots.join("app/../app/."))), Ok(roots.join("app")));
        for (given, why) in [
            (s(state.clone()), "state directory"),
            (s(state.join("logs")), "state directory"),
            (s(roots.clone()), "state directory"),
            (s(base.join("elsewhere")), "not beneath"),
            (s(roots.join("link-out")), "not beneath"),
            (s(roots.join("app/../../elsewhere")), "not beneath"),
            (s(roots.join("file")), "not a directory"),
            (s(roots.join("missing")), "cannot be read"),
            ("relative".to_string(), "not an absolute path"),
        ] {
            let e = policy.local_dir(&given).unwrap_err();
            assert!(e.contains(why), "{given}: {e}");
        }
        // Up front, without the disk: a missing directory may still appear; a link is
        // resolved when the source is fetched.
        assert_eq!(policy.allows(&s(roots.join("missing"))), Ok(()));
        assert_eq!(policy.allows(&s(roots.join("link-out"))), Ok(()));
        assert!(policy.allows(&s(roots.join("app/../state/x"))).unwrap_err().contains("state directory"));
        assert!(policy.allows(&s(base.join("elsewhere"))).unwrap_err().contains("not beneath"));
        let none = Policy::service(&[], &state).unwrap();
        assert!(none.local_dir(&s(roots.join("app"))).unwrap_err().contains("--local-sources"));
        assert!(Policy::anywhere().local_dir(&s(base.join("elsewhere"))).is_ok());
    }
}
