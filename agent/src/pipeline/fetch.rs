//! A source action's output made on this machine: a git repository (a directory here, or a URL
//! with a revision) cloned at its commit, handed on as CodePipeline hands it on (`CODE_ZIP`: the
//! files without `.git`; `CODEBUILD_CLONE_REF`: the clone with its history), or a plain
//! directory copied. Every git call goes through [`crate::source::git`] (checked locations and
//! revisions, `--` before positionals, a deadline).

use std::path::{Path, PathBuf};

use super::source::{Commit, Format};
use crate::exec::Stop;
use crate::source::location::GitLocation;
use crate::source::revision::Revision;
use crate::source::{FetchError, Policy};

/// Where a source action's files come from (`--source NAME=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A directory here: a git work tree is cloned at HEAD (what was committed), any other
    /// directory is copied as it is.
    Dir(PathBuf),
    /// A git URL, at a revision (a branch, tag or commit) or its default branch.
    Git { url: String, revision: Option<String> },
}

impl Input {
    /// `DIR`, `GIT_URL` or `GIT_URL@REV` (a URL is anything with `://` or `git@`).
    pub fn parse(text: &str) -> Result<Input, String> {
        let is_url = text.contains("://") || text.starts_with("git@");
        if !is_url {
            let dir = Path::new(text);
            if !dir.is_dir() {
                return Err(format!("`{text}` is not a directory (or a git URL)"));
            }
            return dir.canonicalize().map(Input::Dir).map_err(|e| format!("`{text}`: {e}"));
        }
        // `@` after the last `/` separates a revision (an ssh URL's `git@host:` is not one).
        let last_slash = text.rfind('/').unwrap_or(0);
        match text[last_slash..].rfind('@').map(|i| last_slash + i) {
            Some(at) => {
                let revision = &text[at + 1..];
                Revision::parse(revision).map_err(|e| format!("`{revision}`: {e}"))?;
                Ok(Input::Git { url: text[..at].to_string(), revision: Some(revision.to_string()) })
            }
            None => Ok(Input::Git { url: text.to_string(), revision: None }),
        }
    }
}

/// What a fetched source is.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The commit, for a git source.
    pub commit: Option<Commit>,
    /// Lines for the action's log (what was taken, what was left out).
    pub notes: Vec<String>,
}

/// Makes the source's output in `dest` (which must not exist yet).
pub async fn fetch(
    input: &Input,
    format: Format,
    dest: &Path,
    stop: &mut Stop,
) -> Result<Fetched, FetchError> {
    let mut notes = Vec::new();
    let (location, revision) = match input {
        Input::Dir(dir) if !dir.join(".git").exists() => {
            copy_dir(dir, dest)?;
            notes
                .push(format!("{} is not a git work tree: its files were copied as they are", dir.display()));
            return Ok(Fetched { commit: None, notes });
        }
        Input::Dir(dir) => {
            let dirty = crate::source::git::run(dir, &["status", "--porcelain"], "file", stop).await?;
            if !dirty.is_empty() {
                notes.push(format!(
                    "{} has uncommitted changes: they are not part of the source (CodePipeline sees commits only)",
                    dir.display()
                ));
            }
            (GitLocation::Local(dir.clone()), None)
        }
        Input::Git { url, revision } => {
            let location = GitLocation::parse(url)?;
            let revision = revision.as_deref().map(Revision::parse).transpose()?;
            (location, revision)
        }
    };
    // A repository here handed on as CODE_ZIP needs no clone: its files at the revision (a
    // directory's HEAD) are what `git archive` writes (export-ignore honoured, as the forges'
    // archives honour it).
    let local_files = matches!(location, GitLocation::Local(_)) && format == Format::Zip;
    let at = match &revision {
        None => "HEAD",
        Some(Revision::Commit(c)) | Some(Revision::Pinned { commit: c, .. }) => c.as_str(),
        Some(Revision::Name(n)) => n.as_str(),
    };
    let from = match (&location, local_files) {
        (GitLocation::Local(dir), true) => dir.clone(),
        _ => {
            crate::source::git::clone(
                &location,
                revision.as_ref(),
                None,
                dest,
                &Policy::anywhere(),
                None,
                stop,
            )
            .await?;
            dest.to_path_buf()
        }
    };
    // A clone is checked out at its revision already.
    let commit = commit_of(&from, if local_files { at } else { "HEAD" }, stop).await?;
    notes.push(format!("{} at commit {}", location.as_given(), commit.id));
    if local_files {
        archive(&from, &commit.id, dest, stop).await?;
    } else if format == Format::Zip {
        std::fs::remove_dir_all(dest.join(".git"))
            .map_err(|e| FetchError::Failed(format!("cannot remove .git from the source artifact: {e}")))?;
    }
    Ok(Fetched { commit: Some(commit), notes })
}

/// The commit `at` (`HEAD`, or a checked revision: never an option) names in `repo`.
async fn commit_of(repo: &Path, at: &str, stop: &mut Stop) -> Result<Commit, FetchError> {
    let log = crate::source::git::run(
        repo,
        &["log", "-1", "--format=%H%n%aI%n%cI%n%B", "--end-of-options", at, "--"],
        "file",
        stop,
    )
    .await?;
    let mut lines = log.lines();
    let mut next = || lines.next().unwrap_or_default().to_string();
    let (id, author_date, committer_date) = (next(), next(), next());
    let message = log.lines().skip(3).collect::<Vec<_>>().join("\n").trim().to_string();
    Ok(Commit { id, message, author_date, committer_date })
}

/// The files of `commit` in `repo`, written into `dest` (`git archive | tar -x`).
async fn archive(repo: &Path, commit: &str, dest: &Path, stop: &mut Stop) -> Result<(), FetchError> {
    let failed = |what: &str, e: std::io::Error| FetchError::Failed(format!("cannot {what}: {e}"));
    std::fs::create_dir_all(dest).map_err(|e| failed("make the source artifact", e))?;
    let mut git = tokio::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "--end-of-options", commit])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("run git archive", e))?;
    let tar_input: std::process::Stdio = git
        .stdout
        .take()
        .ok_or_else(|| FetchError::Failed("git archive has no output".into()))?
        .try_into()
        .map_err(|e| failed("read git archive", e))?;
    let tar = tokio::process::Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .stdin(tar_input)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("run tar", e))?;
    let both = async { tokio::join!(git.wait_with_output(), tar.wait_with_output()) };
    tokio::select! {
        (git, tar) = both => {
            let git = git.map_err(|e| failed("run git archive", e))?;
            if !git.status.success() {
                return Err(FetchError::Failed(format!("git archive failed: {}", String::from_utf8_lossy(&git.stderr).trim())));
            }
            let tar = tar.map_err(|e| failed("run tar", e))?;
            if !tar.status.success() {
                return Err(FetchError::Failed(format!(
                    "tar -x failed writing {}: {}",
                    dest.display(),
                    String::from_utf8_lossy(&tar.stderr).trim()
                )));
            }
            Ok(())
        }
        reason = stop.wait() => Err(FetchError::Stopped(reason)),
    }
}

/// Copies a directory tree (files, directories, symbolic links as links).
pub fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let rel = entry.path().strip_prefix(from).map_err(|e| e.to_string())?;
        let target = to.join(rel);
        let kind = entry.file_type();
        let done = if kind.is_dir() {
            std::fs::create_dir_all(&target)
        } else if kind.is_symlink() {
            std::fs::read_link(entry.path()).and_then(|link| std::os::unix::fs::symlink(link, &target))
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map(|_| ())
        } else {
            Ok(())
        };
        done.map_err(|e| format!("cannot copy {} to {}: {e}", entry.path().display(), target.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(Input::parse(".").unwrap(), Input::Dir(here.canonicalize().unwrap()));
        assert_eq!(
            Input::parse("https://example.com/me/app.git@v1.2").unwrap(),
            Input::Git { url: "https://example.com/me/app.git".into(), revision: Some("v1.2".into()) }
        );
        assert_eq!(
            Input::parse("git@github.com:me/app.git").unwrap(),
            Input::Git { url: "git@github.com:me/app.git".into(), revision: None }
        );
        assert!(Input::parse("https://example.com/app@-x").is_err(), "a revision is checked");
        assert!(Input::parse("/no/such/dir").unwrap_err().contains("not a directory"));
    }
}
