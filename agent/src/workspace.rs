//! A build's private directory tree, removed when the build ends.
//!
//! ```text
//! <tmp>/runspec-XXXXXX/
//!   src/            the primary source: a copy, or the user's directory itself with --mount-source
//!   secSrc/<id>/    secondary sources (CodeBuild's local layout, aws-codebuild-docker-images#367)
//!   tmp/            the shell state (env.sh, script.sh), like /codebuild/output/tmp
//! ```
//!
//! In a git work tree, files git ignores (`target/`, `node_modules/`) are not copied: CodeBuild
//! clones the repository and never sees them, and copying them would make the local build
//! differ from the real one. `.git` itself is copied, as a clone has it. `--mount-source`
//! builds in place with everything.
//!
//! The copy never descends into the workspace itself (a build started in the temporary
//! directory, or in a directory that holds it, would copy itself into itself), nor into
//! runspec's cache and state directories. Copies go through `copy_file_range`, which file systems
//! with reflinks (btrfs, XFS) turn into clones. When the build is over the tree is removed by a
//! process of its own ([`Workspace::remove_in_background`]), so a `node_modules` of 100,000
//! files does not hold the end of the build.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::exec::ExecError;

/// `chown -hR uid:gid path`, not following links.
pub fn chown_tree(path: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> io::Result<()> {
    use nix::fcntl::AtFlags;
    for entry in walkdir::WalkDir::new(path).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            entry.path(),
            Some(uid),
            Some(gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(io::Error::from)?;
    }
    Ok(())
}

/// A source to build from: the primary one has no identifier.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: Option<String>,
    pub dir: PathBuf,
}

#[derive(Debug)]
pub struct Workspace {
    root: tempfile::TempDir,
    pub src_dir: PathBuf,
    pub secondary: Vec<(String, PathBuf)>,
    pub state_dir: PathBuf,
    /// Files that could not be copied (sockets, fifos, unreadable files), for a warning.
    pub skipped: Vec<PathBuf>,
}

impl Workspace {
    /// Creates the tree in the temporary directory and copies the sources in (the primary one
    /// only when `mount_primary` is false), never copying what is under `skip` (runspec's own
    /// directories) or the new tree itself.
    pub fn create(
        primary: &Path,
        secondary: &[Source],
        mount_primary: bool,
        skip: &[PathBuf],
    ) -> Result<Self, ExecError> {
        Workspace::create_in(&std::env::temp_dir(), primary, secondary, mount_primary, skip)
    }

    fn create_in(
        parent: &Path,
        primary: &Path,
        secondary: &[Source],
        mount_primary: bool,
        skip: &[PathBuf],
    ) -> Result<Self, ExecError> {
        let err = |path: &Path| {
            let path = path.display().to_string();
            move |source| ExecError::Workspace { path, source }
        };
        let root = tempfile::Builder::new().prefix("runspec-").tempdir_in(parent).map_err(err(parent))?;
        // Compared with what the walk sees: canonical paths.
        let mut skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
        skip.push(root.path().canonicalize().map_err(err(root.path()))?);
        let state_dir = root.path().join("tmp");
        fs::create_dir(&state_dir).map_err(err(&state_dir))?;
        let mut skipped = Vec::new();
        let src_dir = if mount_primary {
            primary.canonicalize().map_err(err(primary))?
        } else {
            let dest = root.path().join("src");
            copy_tree(primary, &dest, &skip, &mut skipped).map_err(err(primary))?;
            dest
        };
        let mut secondary_dirs = Vec::new();
        for s in secondary {
            let id = s.id.clone().unwrap_or_default();
            let dest = root.path().join("secSrc").join(&id);
            fs::create_dir_all(dest.parent().unwrap_or(root.path())).map_err(err(&dest))?;
            copy_tree(&s.dir, &dest, &skip, &mut skipped).map_err(err(&s.dir))?;
            secondary_dirs.push((id, dest));
        }
        Ok(Workspace { root, src_dir, secondary: secondary_dirs, state_dir, skipped })
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Hands the whole tree (and the primary source, when it is built in place) to `uid:gid`,
    /// links themselves and never what they point at: a service's build user works in it.
    /// Both are theirs alone (0700).
    pub fn give_to(&self, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        chown_tree(self.root.path(), uid, gid)?;
        fs::set_permissions(self.root.path(), fs::Permissions::from_mode(0o700))?;
        if !self.src_dir.starts_with(self.root.path()) {
            chown_tree(&self.src_dir, uid, gid)?;
            fs::set_permissions(&self.src_dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// Removes the tree without waiting: a detached `rm` of its own, which stays on this file
    /// system (a mount a build made inside is left alone). Returns whether it was started; if
    /// not, the tree was removed here, in full, before returning.
    pub fn remove_in_background(self) -> bool {
        let rm = if Path::new("/bin/rm").exists() { "/bin/rm" } else { "rm" };
        let spawned = std::process::Command::new(rm)
            .args(["-rf", "--one-file-system", "--"])
            .arg(self.root.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group: a Ctrl-C after runspec ended does not stop the removal.
            .process_group(0)
            .spawn();
        match spawned {
            Ok(_) => {
                // Dropping the handle does not wait; the directory is no longer ours to remove.
                let _ = self.root.keep();
                true
            }
            Err(_) => false,
        }
    }
}

/// Copies a directory tree, keeping symlinks as symlinks and file modes as they are, leaving
/// out what git ignores when the tree is in a git work tree.
fn copy_tree(from: &Path, to: &Path, skip: &[PathBuf], skipped: &mut Vec<PathBuf>) -> io::Result<()> {
    fs::create_dir(to)?;
    let skip_owned: Vec<PathBuf> = skip.to_vec();
    let walk = ignore::WalkBuilder::new(from)
        .hidden(false)
        .parents(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .ignore(false)
        .require_git(true)
        .follow_links(false)
        // Never into another file system: a source of `/` must not copy /proc or /sys.
        .same_file_system(true)
        .filter_entry(move |e| e.file_name() != ".git" && !skip_owned.iter().any(|s| e.path() == s))
        .build();
    for entry in walk {
        let entry = entry.map_err(io::Error::other)?;
        if entry.depth() == 0 {
            continue;
        }
        copy_entry(from, to, entry.path(), entry.file_type(), skipped)?;
    }
    let git = from.join(".git");
    if git.symlink_metadata().is_ok() {
        let walk = walkdir::WalkDir::new(&git).follow_links(false).into_iter();
        for entry in walk.filter_entry(|e| !skip.iter().any(|s| e.path() == s)) {
            let entry = entry.map_err(io::Error::other)?;
            copy_entry(from, to, entry.path(), Some(entry.file_type()), skipped)?;
        }
    }
    Ok(())
}

fn copy_entry(
    from: &Path,
    to: &Path,
    path: &Path,
    file_type: Option<fs::FileType>,
    skipped: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let rel = path.strip_prefix(from).map_err(io::Error::other)?;
    let dest = to.join(rel);
    match file_type {
        Some(ft) if ft.is_dir() => {
            fs::create_dir(&dest)?;
            fs::set_permissions(&dest, fs::metadata(path)?.permissions())?;
        }
        Some(ft) if ft.is_symlink() => symlink(fs::read_link(path)?, &dest)?,
        Some(ft) if ft.is_file() => {
            if fs::copy(path, &dest).is_err() {
                skipped.push(path.to_path_buf());
            }
        }
        _ => skipped.push(path.to_path_buf()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn copies_files_modes_and_symlinks_and_removes_itself() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("d")).unwrap();
        fs::write(src.path().join("d/run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(src.path().join("d/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("d/run.sh", src.path().join("link")).unwrap();
        let ws = Workspace::create(src.path(), &[], false, &[]).unwrap();
        let copied = ws.src_dir.join("d/run.sh");
        assert_eq!(fs::metadata(&copied).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::read_link(ws.src_dir.join("link")).unwrap(), Path::new("d/run.sh"));
        let root = ws.root().to_path_buf();
        drop(ws);
        assert!(!root.exists());
    }

    #[test]
    fn git_ignored_files_are_not_copied_but_git_is() {
        let src = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("git").arg("init").arg("-q").arg(src.path()).status().unwrap();
        assert!(ok.success());
        fs::write(src.path().join(".gitignore"), "target/\n*.log\n").unwrap();
        fs::create_dir(src.path().join("target")).unwrap();
        fs::write(src.path().join("target/big.bin"), "x").unwrap();
        fs::write(src.path().join("debug.log"), "x").unwrap();
        fs::write(src.path().join("main.rs"), "x").unwrap();
        let ws = Workspace::create(src.path(), &[], false, &[]).unwrap();
        assert!(ws.src_dir.join("main.rs").exists());
        assert!(ws.src_dir.join(".gitignore").exists());
        assert!(ws.src_dir.join(".git/HEAD").exists());
        assert!(!ws.src_dir.join("target").exists());
        assert!(!ws.src_dir.join("debug.log").exists());
    }

    #[test]
    fn without_git_everything_is_copied() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join(".gitignore"), "*.log\n").unwrap();
        fs::write(src.path().join("debug.log"), "x").unwrap();
        let ws = Workspace::create(src.path(), &[], false, &[]).unwrap();
        assert!(ws.src_dir.join("debug.log").exists());
    }

    #[test]
    fn a_workspace_never_copies_itself_or_runspecs_directories() {
        // The build starts in a directory that holds the temporary directory (`runspec run` in
        // /tmp, or in $HOME with TMPDIR under it) and runspec's cache.
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("main.rs"), "x").unwrap();
        let tmp = src.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let cache = src.path().join(".cache/runspec");
        fs::create_dir_all(cache.join("plugins")).unwrap();
        fs::write(cache.join("plugins/big.cwasm"), "x").unwrap();
        let ws = Workspace::create_in(&tmp, src.path(), &[], false, std::slice::from_ref(&cache)).unwrap();
        assert!(ws.root().starts_with(&tmp));
        assert!(ws.src_dir.join("main.rs").exists());
        assert!(ws.src_dir.join("tmp").is_dir(), "other things in tmp are the user's");
        let copied: Vec<PathBuf> = walkdir::WalkDir::new(&ws.src_dir)
            .into_iter()
            .map(|e| e.unwrap().into_path().strip_prefix(&ws.src_dir).unwrap().to_path_buf())
            .collect();
        assert!(copied.len() < 10, "{copied:?}");
        assert!(!copied.iter().any(|p| p.to_string_lossy().contains("runspec-")), "{copied:?}");
        assert!(!ws.src_dir.join(".cache/runspec").exists());
    }

    #[test]
    fn removal_in_the_background_returns_at_once() {
        let src = tempfile::tempdir().unwrap();
        for i in 0..2000 {
            fs::write(src.path().join(format!("f{i}")), "x").unwrap();
        }
        let ws = Workspace::create(src.path(), &[], false, &[]).unwrap();
        let root = ws.root().to_path_buf();
        assert!(ws.remove_in_background());
        let t = std::time::Instant::now();
        while root.exists() && t.elapsed() < std::time::Duration::from_secs(30) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!root.exists(), "the background removal finished");
    }

    #[test]
    fn mount_source_uses_the_directory_in_place() {
        let src = tempfile::tempdir().unwrap();
        let ws = Workspace::create(src.path(), &[], true, &[]).unwrap();
        assert_eq!(ws.src_dir, src.path().canonicalize().unwrap());
        drop(ws);
        assert!(src.path().exists(), "a mounted source is never removed");
    }
}
