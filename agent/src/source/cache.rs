//! LOCAL_SOURCE_CACHE: a project's git objects kept on this machine, so the next clone of the
//! same repository fetches only what is new.
//!
//! One bare repository per project and URL (`<project cache>/git/<sha256(url)>.git`). A clone
//! borrows its objects through `objects/info/alternates`: git then tells the remote it has
//! everything the cache's refs reach, and only the delta travels. Once checked out, the clone
//! copies what it borrowed (`git repack -a -d`, what `git clone --dissociate` does) and stops
//! borrowing, so a workspace never depends on the cache; then the cache fetches the new commit
//! from the clone, under one ref per source version (every commit id shares one). One build at a
//! time uses a cache (a lock file, released with the build's process); another build of the
//! project meanwhile clones without it and says so.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::location::GitLocation;
use super::revision::Revision;
use super::{FetchError, git};
use crate::exec::Stop;

/// A project's cache of one repository, held by this build alone.
pub struct SourceCache {
    repo: PathBuf,
    _lock: Flock<File>,
}

/// What taking a cache found.
pub enum Taken {
    Held(SourceCache),
    /// Another build of the project is using it.
    Busy,
}

impl SourceCache {
    /// The cache of `url` under `project_dir`, made if new.
    pub fn take(project_dir: &Path, url: &str) -> Result<Taken, String> {
        use sha2::Digest;
        let dir = project_dir.join("git");
        let name = hex::encode(&sha2::Sha256::digest(url.as_bytes())[..8]);
        let repo = dir.join(format!("{name}.git"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let file = File::create(dir.join(format!("{name}.lock")))
            .map_err(|e| format!("cannot lock the source cache {}: {e}", repo.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(Taken::Busy),
            Err((_, e)) => return Err(format!("cannot lock the source cache {}: {e}", repo.display())),
        };
        if !repo.join("objects").is_dir() {
            let made = std::process::Command::new("git")
                .args(["init", "-q", "--bare", "--"])
                .arg(&repo)
                .output()
                .map_err(|e| format!("cannot run git: {e}"))?;
            if !made.status.success() {
                return Err(format!(
                    "cannot make the source cache {}: {}",
                    repo.display(),
                    String::from_utf8_lossy(&made.stderr).trim()
                ));
            }
            // The cache keeps every object a ref once reached; git's own housekeeping would
            // prune the ones no ref reaches any more.
            let _ = std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["config", "gc.auto", "0"])
                .output();
        }
        Ok(Taken::Held(SourceCache { repo, _lock: lock }))
    }

    /// Lets the fresh repository in `clone` borrow the cache's objects (before its fetch).
    pub fn lend(&self, clone: &Path) -> Result<(), String> {
        let info = clone.join(".git/objects/info");
        std::fs::create_dir_all(&info).map_err(|e| format!("cannot make {}: {e}", info.display()))?;
        let objects = self.repo.join("objects");
        std::fs::write(info.join("alternates"), format!("{}\n", objects.display()))
            .map_err(|e| format!("cannot point {} at the source cache: {e}", clone.display()))
    }

    /// After the checkout: what the clone fetched itself (its own pack, before it copies the
    /// borrowed objects), the clone made independent of the cache, and `commit` kept in the
    /// cache for the next build. A line for the build log.
    pub async fn settle(
        &self,
        clone: &Path,
        version: Option<&Revision>,
        commit: &str,
        stop: &mut Stop,
    ) -> Result<String, FetchError> {
        let fetched = git::run(clone, &["count-objects", "-v"], "", stop).await.unwrap_or_default();
        let count = |key: &str| -> u64 {
            fetched
                .lines()
                .filter_map(|l| l.strip_prefix(key)?.strip_prefix(": ")?.trim().parse::<u64>().ok())
                .next()
                .unwrap_or(0)
        };
        let (objects, kib) = (count("count") + count("in-pack"), count("size") + count("size-pack"));
        git::run(clone, &["repack", "-a", "-d", "-q"], "", stop).await?;
        let alternates = clone.join(".git/objects/info/alternates");
        std::fs::remove_file(&alternates)
            .map_err(|e| format!("cannot remove {}: {e}", alternates.display()))?;
        let reference = cache_ref(version);
        let from = clone.to_string_lossy();
        git::run(
            &self.repo,
            &[
                "fetch",
                "-q",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
                &from,
                &format!("+{commit}:{reference}"),
            ],
            "file",
            stop,
        )
        .await?;
        Ok(format!(
            "LOCAL_SOURCE_CACHE: fetched {objects} objects ({kib} KiB) from the remote; the rest came from the project's source cache"
        ))
    }
}

/// The source cache a clone of `location` uses, when `project_dir` is given (the project's
/// LOCAL cache lists LOCAL_SOURCE_CACHE): the cache, or the log line that says why there is none.
pub fn for_clone(
    project_dir: Option<&Path>,
    location: &GitLocation,
) -> (Option<SourceCache>, Option<String>) {
    let Some(dir) = project_dir else { return (None, None) };
    match SourceCache::take(dir, &location.as_given()) {
        Ok(Taken::Held(cache)) => (Some(cache), None),
        Ok(Taken::Busy) => (
            None,
            Some("LOCAL_SOURCE_CACHE: another build of this project is using the source cache; cloning without it".into()),
        ),
        Err(e) => (None, Some(format!("LOCAL_SOURCE_CACHE: not used: {e}"))),
    }
}

/// The cache's ref for a source version: one per branch, tag or ref name (the default branch
/// is `HEAD`), one for all commit ids.
fn cache_ref(version: Option<&Revision>) -> String {
    use sha2::Digest;
    let name = match version {
        None => "HEAD",
        Some(Revision::Commit(_)) => return "refs/runspec/commit".into(),
        Some(Revision::Name(n)) => n,
        Some(Revision::Pinned { reference, .. }) => reference,
    };
    format!("refs/runspec/{}", hex::encode(&sha2::Sha256::digest(name.as_bytes())[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ref_per_name_and_one_for_commits() {
        let r = |v: &str| Revision::parse(v).unwrap();
        let c40 = "a".repeat(40);
        assert_eq!(cache_ref(Some(&r(&c40))), "refs/runspec/commit");
        assert_eq!(cache_ref(Some(&r(&"b".repeat(40)))), "refs/runspec/commit");
        assert_eq!(cache_ref(Some(&r("main"))), cache_ref(Some(&r(&format!("main^{{{c40}}}")))));
        assert_ne!(cache_ref(Some(&r("main"))), cache_ref(Some(&r("dev"))));
        assert_ne!(cache_ref(None), cache_ref(Some(&r("main"))));
        assert!(cache_ref(Some(&r("pr/7"))).starts_with("refs/runspec/"));
    }

    #[test]
    fn a_second_taker_finds_it_busy_until_the_first_is_done() {
        let t = tempfile::tempdir().unwrap();
        let first = match SourceCache::take(t.path(), "https://example.com/a.git").unwrap() {
            Taken::Held(c) => c,
            Taken::Busy => panic!("nobody held it"),
        };
        assert!(first.repo.join("objects").is_dir());
        assert!(matches!(SourceCache::take(t.path(), "https://example.com/a.git").unwrap(), Taken::Busy));
        assert!(matches!(SourceCache::take(t.path(), "https://example.com/b.git").unwrap(), Taken::Held(_)));
        drop(first);
        assert!(matches!(SourceCache::take(t.path(), "https://example.com/a.git").unwrap(), Taken::Held(_)));
    }
}
