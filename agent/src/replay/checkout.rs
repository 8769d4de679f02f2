//! A replay's sources on this machine: a commit checked out of the user's own clone (fetched
//! from its `origin` when the clone lacks it), or fetched as the build fetched it.

use std::path::{Path, PathBuf};

use super::plan::Fetch;
use crate::exec::Stop;
use crate::source::location::GitLocation;
use crate::source::revision::Revision;
use crate::source::{FetchError, Policy};

/// A source ready to build: its directory and whether to build in it (a checkout made for the
/// replay) or in a copy (the user's own directory).
#[derive(Debug)]
pub struct Ready {
    pub dir: PathBuf,
    pub build_in_place: bool,
    /// How it was obtained, for the user.
    pub how: String,
}

/// The user is at the terminal: a replay's git calls end when they press Ctrl-C.
fn no_deadline() -> Stop {
    Stop::new(None, tokio::sync::watch::channel(false).1)
}

/// `git -C dir ARGS` on the user's own clone (every transport the user's git allows).
async fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    const ANY: &str = "https:http:ssh:git:file";
    crate::source::git::run(dir, args, ANY, &mut no_deadline()).await.map_err(|e| e.to_string())
}

/// `version` of the clone at `repo`, checked out into `dest` (a clone that shares `repo`'s
/// objects; `repo` itself is not touched, except that a missing commit is fetched into it).
/// `location` is the build's source location, recorded as the checkout's `origin`.
pub async fn from_clone(
    repo: &Path,
    version: Option<&Revision>,
    location: Option<&GitLocation>,
    dest: &Path,
) -> Result<Ready, String> {
    if git(repo, &["rev-parse", "--git-dir"]).await.is_err() {
        return Err(format!(
            "{} is not a git repository: give --source a clone of the build's repository",
            repo.display()
        ));
    }
    let wanted = match version {
        Some(Revision::Pinned { commit, .. }) => commit.as_str(),
        Some(v) => v.fetch_spec(),
        None => "HEAD",
    };
    let probe = format!("{wanted}^{{commit}}");
    let verify = ["rev-parse", "--verify", "--quiet", "--end-of-options", probe.as_str()];
    let mut how = String::new();
    let commit = match git(repo, &verify).await {
        Ok(c) => c,
        Err(_) => {
            // Not here: ask the clone's origin for it, as `git fetch origin <sha>` would.
            let fetch_spec = version.map_or("HEAD", Revision::fetch_spec);
            let fetched = git(repo, &["fetch", "--quiet", "origin", "--", fetch_spec]).await;
            let found = match &fetched {
                Ok(_) => match git(repo, &verify).await {
                    Ok(c) => Ok(c),
                    Err(_) => {
                        git(
                            repo,
                            &["rev-parse", "--verify", "--quiet", "--end-of-options", "FETCH_HEAD^{commit}"],
                        )
                        .await
                    }
                },
                Err(e) => Err(e.clone()),
            };
            match found {
                Ok(c) => {
                    how = " (fetched from its origin)".into();
                    c
                }
                Err(_) => {
                    let why = match fetched {
                        Err(e) if !e.is_empty() => format!("`git fetch origin {fetch_spec}` failed: {e}"),
                        _ => format!("`git fetch origin {fetch_spec}` did not bring it"),
                    };
                    return Err(format!(
                        "the build's source version {wanted} is not in {} and {why}. Fetch it into that clone (git fetch <remote> {fetch_spec}), or give --source a clone that has it",
                        repo.display()
                    ));
                }
            }
        }
    };
    let dest_s = dest.to_string_lossy();
    let repo_s = repo.to_string_lossy();
    git(Path::new("."), &["clone", "--quiet", "--shared", "--no-checkout", "--", &repo_s, &dest_s])
        .await
        .map_err(|e| format!("cannot check out {commit} from {}: {e}", repo.display()))?;
    git(dest, &["checkout", "--quiet", "--detach", &commit])
        .await
        .map_err(|e| format!("cannot check out {commit}: {e}"))?;
    if let Some(url) = location.map(GitLocation::as_given) {
        let _ = git(dest, &["remote", "set-url", "--", "origin", &url]).await;
    }
    Ok(Ready {
        dir: dest.to_path_buf(),
        build_in_place: true,
        how: format!("commit {commit} of your clone {}{how}", repo.display()),
    })
}

/// A source with no directory given: fetched as the build fetched it (a git clone through the
/// project's source cache under `cache_dir`, when given).
pub async fn fetch(
    fetch: &Fetch,
    dest: &Path,
    what: &str,
    cache_dir: Option<&Path>,
) -> Result<Ready, String> {
    let ready = |how: String| Ready { dir: dest.to_path_buf(), build_in_place: true, how };
    let failed = |e: FetchError| e.to_string();
    match fetch {
        Fetch::Empty => {
            std::fs::create_dir_all(dest).map_err(|e| format!("cannot make {}: {e}", dest.display()))?;
            Ok(ready("no source (NO_SOURCE)".into()))
        }
        Fetch::Git { location, commit, depth } => {
            let (cache, why_not) = crate::source::cache::for_clone(cache_dir, location);
            let note = crate::source::git::clone(
                location,
                commit.as_ref(),
                *depth,
                dest,
                &Policy::anywhere(),
                cache.as_ref(),
                &mut no_deadline(),
            )
            .await
            .map_err(|e| format!("{}. Give --source{} a local clone instead", failed(e), id_hint(what)))?;
            let at = commit.as_ref().map_or("its default branch", Revision::fetch_spec);
            let cached = why_not.or(note).map(|n| format!(" ({n})")).unwrap_or_default();
            Ok(ready(format!("{} at {at}{cached}", location.as_given())))
        }
        Fetch::S3 { bucket, key, version } => {
            crate::source::s3::fetch(bucket, key, version.as_deref(), dest, &mut no_deadline())
                .await
                .map_err(failed)?;
            Ok(ready(match version {
                Some(v) => format!("s3://{bucket}/{key} (version {v})"),
                None => format!("s3://{bucket}/{key}"),
            }))
        }
        Fetch::Local(path) => {
            let p = PathBuf::from(path);
            if !p.is_dir() {
                return Err(format!(
                    "{what} was the directory {path} on the machine that ran the build, and it is not here: give --source{} DIR",
                    id_hint(what)
                ));
            }
            Ok(Ready { dir: p, build_in_place: false, how: format!("the directory {path} (copied)") })
        }
        Fetch::Unsupported(kind) => Err(format!(
            "{what} is of type {kind}, which runspec cannot fetch: give --source{} DIR with its files",
            id_hint(what)
        )),
    }
}

/// ` ID=` for a secondary source's flag (`secondary source ID` → ` ID=`), nothing for the primary.
fn id_hint(what: &str) -> String {
    match what.strip_prefix("secondary source ") {
        Some(id) => format!(" {id}="),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh(dir: &Path, script: &str) -> String {
        let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    const IDENT: &str = "git -c user.name=t -c user.email=t@t";

    #[test]
    fn a_commit_is_checked_out_of_the_clone_or_fetched_from_its_origin() {
        let dir = tempfile::tempdir().unwrap();
        let upstream = dir.path().join("upstream");
        std::fs::create_dir(&upstream).unwrap();
        let first = sh(
            &upstream,
            &format!(
                "git init -q . && echo one > f && git add f && {IDENT} commit -qm one && git rev-parse HEAD"
            ),
        );
        sh(dir.path(), "git clone -q upstream clone");
        let second = sh(&upstream, &format!("echo two > f && {IDENT} commit -qam two && git rev-parse HEAD"));
        let clone = dir.path().join("clone");

        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let rev = |s: &str| Revision::parse(s).unwrap();
        let from_clone = |repo: &Path, v: Option<&Revision>, url: Option<&GitLocation>, dest: &Path| {
            rt.block_on(from_clone(repo, v, url, dest))
        };
        // In the clone already.
        let url = GitLocation::parse("https://example.com/r.git").unwrap();
        let r = from_clone(&clone, Some(&rev(&first)), Some(&url), &dir.path().join("a")).unwrap();
        assert_eq!(std::fs::read_to_string(r.dir.join("f")).unwrap(), "one\n");
        assert_eq!(sh(&r.dir, "git remote get-url origin"), "https://example.com/r.git");
        // Only upstream has it: fetched.
        let r = from_clone(&clone, Some(&rev(&second)), None, &dir.path().join("b")).unwrap();
        assert_eq!(std::fs::read_to_string(r.dir.join("f")).unwrap(), "two\n");
        assert!(r.how.contains("fetched"), "{}", r.how);
        // Nowhere: says which commit and what to do.
        let missing = rev("0123456789abcdef0123456789abcdef01234567");
        let e = from_clone(&clone, Some(&missing), None, &dir.path().join("c")).unwrap_err();
        assert!(e.contains("0123456789abcdef0123456789abcdef01234567 is not in"), "{e}");
        assert!(e.contains("git fetch"), "{e}");
        // The user's clone is not checked out elsewhere.
        assert_eq!(sh(&clone, "git rev-parse HEAD"), first);
        let e = from_clone(dir.path(), None, None, &dir.path().join("d")).unwrap_err();
        assert!(e.contains("is not a git repository"), "{e}");
    }
}
