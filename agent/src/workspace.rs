//! A build's private directory tree, removed when the build ends.
//!
//! ```text
//! <tmp>/runspec-XXXXXX/
//!   src/            the primary source: a copy, or the user's directory itself with --mount-source
//!   secSrc/<id>/    secondary sources (CodeBuild's local layout, aws-codebuild-docker-images#367)
//!   tmp/            the shell state (env.sh, script.sh), like /codebuild/output/tmp
//! ```

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::exec::ExecError;

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
    /// Creates the tree and copies the sources in (the primary one only when `mount_primary`
    /// is false).
    pub fn create(primary: &Path, secondary: &[Source], mount_primary: bool) -> Result<Self, ExecError> {
        let err = |path: &Path| {
            let path = path.display().to_string();
            move |source| ExecError::Workspace { path, source }
        };
        let root = tempfile::Builder::new().prefix("runspec-").tempdir().map_err(err(Path::new("$TMPDIR")))?;
        let state_dir = root.path().join("tmp");
        fs::create_dir(&state_dir).map_err(err(&state_dir))?;
        let mut skipped = Vec::new();
        let src_dir = if mount_primary {
            primary.canonicalize().map_err(err(primary))?
        } else {
            let dest = root.path().join("src");
            copy_tree(primary, &dest, &mut skipped).map_err(err(primary))?;
            dest
        };
        let mut secondary_dirs = Vec::new();
        for s in secondary {
            let id = s.id.clone().unwrap_or_default();
            let dest = root.path().join("secSrc").join(&id);
            fs::create_dir_all(dest.parent().unwrap_or(root.path())).map_err(err(&dest))?;
            copy_tree(&s.dir, &dest, &mut skipped).map_err(err(&s.dir))?;
            secondary_dirs.push((id, dest));
        }
        Ok(Workspace { root, src_dir, secondary: secondary_dirs, state_dir, skipped })
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// Copies a directory tree, keeping symlinks as symlinks and file modes as they are.
fn copy_tree(from: &Path, to: &Path, skipped: &mut Vec<PathBuf>) -> io::Result<()> {
    fs::create_dir(to)?;
    for entry in walkdir::WalkDir::new(from).min_depth(1).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        let rel = entry.path().strip_prefix(from).map_err(io::Error::other)?;
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir(&dest)?;
            let mode = entry.metadata().map_err(io::Error::other)?.permissions();
            fs::set_permissions(&dest, mode)?;
        } else if ft.is_symlink() {
            symlink(fs::read_link(entry.path())?, &dest)?;
        } else if ft.is_file() {
            if fs::copy(entry.path(), &dest).is_err() {
                skipped.push(entry.path().to_path_buf());
            }
        } else {
            skipped.push(entry.path().to_path_buf());
        }
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
        let ws = Workspace::create(src.path(), &[], false).unwrap();
        let copied = ws.src_dir.join("d/run.sh");
        assert_eq!(fs::metadata(&copied).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::read_link(ws.src_dir.join("link")).unwrap(), Path::new("d/run.sh"));
        let root = ws.root().to_path_buf();
        drop(ws);
        assert!(!root.exists());
    }

    #[test]
    fn mount_source_uses_the_directory_in_place() {
        let src = tempfile::tempdir().unwrap();
        let ws = Workspace::create(src.path(), &[], true).unwrap();
        assert_eq!(ws.src_dir, src.path().canonicalize().unwrap());
        drop(ws);
        assert!(src.path().exists(), "a mounted source is never removed");
    }
}
