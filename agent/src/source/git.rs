//! Cloning a git source at a source version. Only checked values reach git's command line
//! ([`GitLocation`], [`Revision`]), positional arguments follow `--`, transports are limited to
//! the remote ones CodeBuild uses (and `file` only for a local repository the policy allowed),
//! and every git process runs in a process group of its own that is killed when the build's
//! deadline passes or it is stopped, helpers (ssh, git-remote-https) included.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::cache::SourceCache;
use super::location::GitLocation;
use super::revision::Revision;
use super::{FetchError, Policy};
use crate::exec::Stop;

/// Transports a remote source may use (`GIT_ALLOW_PROTOCOL`: every other one, `ext` and `fd`
/// above all, is refused by git itself).
const REMOTE_PROTOCOLS: &str = "https:http:ssh:git";

/// How much of a git process's output is kept (a remote can print without end).
const OUTPUT_LIMIT: u64 = 64 << 10;

/// Runs `git -C dir ARGS` under `stop`, without a terminal to prompt on and with transports
/// limited to `protocols`: its trimmed stdout, or its stderr as the error.
pub async fn run(dir: &Path, args: &[&str], protocols: &str, stop: &mut Stop) -> Result<String, FetchError> {
    let mut child = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", protocols)
        .env("GCM_INTERACTIVE", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| FetchError::Failed(format!("cannot run git: {e}")))?;
    let pid = child.id();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let finished = async {
        let (out, err, status) = tokio::join!(bounded(stdout), bounded(stderr), child.wait());
        (out, err, status)
    };
    tokio::select! {
        (out, err, status) = finished => {
            let status = status.map_err(|e| FetchError::Failed(format!("git: {e}")))?;
            if status.success() {
                Ok(out.trim().to_string())
            } else {
                Err(FetchError::Failed(err.trim().to_string()))
            }
        }
        reason = stop.wait() => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            Err(FetchError::Stopped(reason))
        }
    }
}

/// Reads a pipe to its end, keeping the first [`OUTPUT_LIMIT`] bytes.
async fn bounded<R: AsyncRead + Unpin>(pipe: Option<R>) -> String {
    let Some(mut pipe) = pipe else { return String::new() };
    let mut kept = Vec::new();
    let _ = (&mut pipe).take(OUTPUT_LIMIT).read_to_end(&mut kept).await;
    let _ = tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&kept).into_owned()
}

/// Clones `location` into `dir` at `version` (the default branch when `None`), `depth` commits
/// deep when given, borrowing from `cache` (a full clone only: a shallow one fetches little
/// anyway). With a cache: a line for the build log on what was fetched.
pub async fn clone(
    location: &GitLocation,
    version: Option<&Revision>,
    depth: Option<u64>,
    dir: &Path,
    policy: &Policy,
    cache: Option<&SourceCache>,
    stop: &mut Stop,
) -> Result<Option<String>, FetchError> {
    let (url, protocols) = match location {
        GitLocation::Remote(url) => (url.clone(), REMOTE_PROTOCOLS.to_string()),
        GitLocation::Local(path) => {
            let dir = policy.local_dir(&path.to_string_lossy())?;
            (dir.to_string_lossy().into_owned(), format!("{REMOTE_PROTOCOLS}:file"))
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let failed = |what: &str, e: FetchError| match e {
        FetchError::Failed(m) => FetchError::Failed(format!("git {what} failed: {m}")),
        stopped => stopped,
    };
    run(dir, &["init", "-q"], &protocols, stop).await.map_err(|e| failed("init", e))?;
    let cache = cache.filter(|_| depth.is_none());
    if let Some(cache) = cache {
        cache.lend(dir)?;
    }
    run(dir, &["remote", "add", "--", "origin", &url], &protocols, stop)
        .await
        .map_err(|e| failed("remote add", e))?;
    let depth_arg = depth.map(|d| format!("--depth={d}"));
    let mut fetch = vec!["fetch", "-q"];
    fetch.extend(depth_arg.as_deref());
    fetch.extend(["origin", "--", version.map_or("HEAD", Revision::fetch_spec)]);
    let target = match run(dir, &fetch, &protocols, stop).await {
        Ok(_) => match version {
            Some(Revision::Pinned { commit, .. }) => commit.clone(),
            _ => "FETCH_HEAD".to_string(),
        },
        Err(stopped @ FetchError::Stopped(_)) => return Err(stopped),
        Err(FetchError::Failed(first)) => {
            // A server that does not hand out a commit (or a short id) on request: everything,
            // then the commit. A name that is not there is the first error.
            let Some(wanted) = version.map(Revision::fetch_spec) else {
                return Err(FetchError::Failed(format!("cannot fetch {url}: {first}")));
            };
            run(dir, &["fetch", "-q", "origin"], &protocols, stop)
                .await
                .map_err(|e| failed(&format!("fetch of {url}"), e))?;
            wanted.to_string()
        }
    };
    let wanted = format!("{target}^{{commit}}");
    let commit =
        run(dir, &["rev-parse", "--verify", "--quiet", "--end-of-options", &wanted], &protocols, stop)
            .await
            .map_err(|e| match e {
                FetchError::Failed(_) => FetchError::Failed(format!(
                    "the source version `{}` is not in {url}",
                    version.map_or("HEAD", |v| match v {
                        Revision::Pinned { commit, .. } => commit,
                        other => other.fetch_spec(),
                    })
                )),
                stopped => stopped,
            })?;
    run(dir, &["checkout", "-q", "--detach", &commit], &protocols, stop)
        .await
        .map_err(|e| failed("checkout", e))?;
    match cache {
        None => Ok(None),
        Some(cache) => match cache.settle(dir, version, &commit, stop).await {
            Ok(line) => Ok(Some(line)),
            // A cache problem is never the build's: the clone is complete either way.
            Err(FetchError::Failed(m)) => Ok(Some(format!("LOCAL_SOURCE_CACHE: not updated: {m}"))),
            Err(stopped) => Err(stopped),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) -> String {
        let out = std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn never() -> Stop {
        let (tx, rx) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        Stop::new(None, rx)
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn clones_branches_tags_commits_and_pinned_refs() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let first = sh(
            &repo,
            "git init -q -b main && git config user.email t@e && git config user.name t && echo 1 > f && git add f && git commit -qm one && git tag v1 && git rev-parse HEAD",
        );
        sh(
            &repo,
            "git checkout -qb dev && echo 2 > f && git commit -qam two && git checkout -q main && echo 3 > f && git commit -qam three",
        );
        let read = |dir: &Path| std::fs::read_to_string(dir.join("f")).unwrap();
        let location = GitLocation::parse(&repo.display().to_string()).unwrap();
        let policy = Policy::anywhere();
        let pinned = format!("refs/heads/main^{{{first}}}");
        for (n, (version, depth, expect)) in [
            (None, Some(1), "3\n"),
            (Some("dev"), None, "2\n"),
            (Some("v1"), Some(1), "1\n"),
            (Some(first.as_str()), None, "1\n"),
            (Some(&first[..8]), None, "1\n"),
            (Some(pinned.as_str()), None, "1\n"),
        ]
        .into_iter()
        .enumerate()
        {
            let dir = t.path().join(format!("c{n}"));
            let rev = version.map(|v| Revision::parse(v).unwrap());
            block(clone(&location, rev.as_ref(), depth, &dir, &policy, None, &mut never())).unwrap();
            assert_eq!(read(&dir), expect, "{version:?}");
        }
        let nope = Revision::parse("nope").unwrap();
        let e =
            block(clone(&location, Some(&nope), None, &t.path().join("bad"), &policy, None, &mut never()))
                .unwrap_err();
        assert!(e.to_string().contains("`nope` is not in"), "{e}");
        let missing = GitLocation::parse("/nonexistent/repo").unwrap();
        assert!(
            block(clone(&missing, None, None, &t.path().join("none"), &policy, None, &mut never())).is_err()
        );
        // A service without local roots reads no local repository.
        let service = Policy::service(&[], t.path()).unwrap();
        let e = block(clone(&location, None, None, &t.path().join("refused"), &service, None, &mut never()))
            .unwrap_err();
        assert!(e.to_string().contains("--local-sources"), "{e}");
    }

    #[test]
    fn a_source_cache_makes_the_next_clone_fetch_only_the_delta() {
        use super::super::cache::{SourceCache, Taken};
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        // 300 files of their own content: a first fetch of hundreds of objects.
        sh(
            &repo,
            "git init -q -b main && git config user.email t@e && git config user.name t && for i in $(seq 300); do echo $i-$i > f$i; done && git add . && git commit -qm one",
        );
        let location = GitLocation::parse(&repo.display().to_string()).unwrap();
        let project = t.path().join("project");
        let take = || match SourceCache::take(&project, &repo.display().to_string()).unwrap() {
            Taken::Held(c) => c,
            Taken::Busy => panic!("busy"),
        };
        let fetched = |line: &str| -> u64 {
            let n = line.split("fetched ").nth(1).and_then(|r| r.split(' ').next()).unwrap();
            n.parse().unwrap()
        };
        let policy = Policy::anywhere();
        let first =
            block(clone(&location, None, None, &t.path().join("c1"), &policy, Some(&take()), &mut never()))
                .unwrap()
                .unwrap();
        assert!(fetched(&first) > 300, "{first}");
        sh(&repo, "echo new > f1 && git commit -qam two");
        let dir = t.path().join("c2");
        let second =
            block(clone(&location, None, None, &dir, &policy, Some(&take()), &mut never())).unwrap().unwrap();
        assert!(fetched(&second) <= 3, "only the new commit, tree and blob: {second}");
        assert_eq!(std::fs::read_to_string(dir.join("f1")).unwrap(), "new\n");
        // The clone no longer borrows: it stands whole without the cache.
        assert!(!dir.join(".git/objects/info/alternates").exists());
        std::fs::remove_dir_all(&project).unwrap();
        sh(&dir, "git fsck --no-dangling --full 2>&1 && git log --oneline | wc -l | grep -qx 2");
        // A shallow clone does not use it.
        let shallow = block(clone(
            &location,
            None,
            Some(1),
            &t.path().join("c3"),
            &policy,
            Some(&take()),
            &mut never(),
        ))
        .unwrap();
        assert_eq!(shallow, None);
    }

    #[test]
    fn a_remote_that_never_answers_is_stopped_by_the_deadline() {
        // Accepts and never replies: git would wait for ever.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _held = std::thread::spawn(move || {
            let conns: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(std::time::Duration::from_secs(120));
            drop(conns);
        });
        let t = tempfile::tempdir().unwrap();
        let location = GitLocation::parse(&format!("http://127.0.0.1:{port}/repo.git")).unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let mut stop = Stop::new(Some(std::time::Duration::from_millis(500)), rx);
        let e =
            block(clone(&location, None, None, t.path(), &Policy::default(), None, &mut stop)).unwrap_err();
        assert_eq!(e, FetchError::Stopped(crate::exec::StopReason::TimedOut));
    }

    #[test]
    fn transports_outside_the_list_are_refused_by_git_itself() {
        // Even if a value got past the checks, git refuses ext:: and file:// for a remote.
        let t = tempfile::tempdir().unwrap();
        let marker = t.path().join("pwned");
        let script = format!("ext::sh -c touch% {}", marker.display());
        block(run(t.path(), &["init", "-q"], REMOTE_PROTOCOLS, &mut never())).unwrap();
        let e = block(run(t.path(), &["ls-remote", "--", &script], REMOTE_PROTOCOLS, &mut never()));
        assert!(e.is_err());
        assert!(!marker.exists(), "ext:: ran a command");
    }
}
