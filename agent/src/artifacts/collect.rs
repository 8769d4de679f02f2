//! Reads a base directory from disk and applies [`super::pattern`] to it, refusing anything that
//! would reach outside the source directory (`..`, symlinks pointing out).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::pattern::{self, Entry, PatternError, Selection};

/// What a selected file is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    /// Kept as a link inside the artifact (`enable-symlinks`); the target stays inside the source.
    Symlink(PathBuf),
}

#[derive(Debug, Clone)]
pub struct CollectedFile {
    /// The canonical directory the file was listed under; reading never leaves it.
    pub root: Arc<Path>,
    pub source: PathBuf,
    /// The path inside the artifact, `/`-separated.
    pub dest: String,
    pub kind: FileKind,
}

impl CollectedFile {
    /// Opens the file for reading without leaving [`CollectedFile::root`], whatever the path is
    /// now ([`super::beneath`]): listing and reading are two moments.
    pub fn open(&self) -> io::Result<fs::File> {
        let rel = self.source.strip_prefix(&*self.root).map_err(|_| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("`{}` is outside the source", self.source.display()),
            )
        })?;
        super::beneath::open(&self.root, rel)
    }
}

#[derive(Debug, Default)]
pub struct Collected {
    pub files: Vec<CollectedFile>,
    pub selection: Selection,
    /// Paths left out for safety, with the reason, for the build log.
    pub refused: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("base directory `{0}` is outside the source directory")]
    BaseOutside(String),
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: io::Error },
}

/// Lists the directories under `root` (relative, `/`-separated) for base-directory globs.
pub fn list_dirs(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .filter_map(|e| rel_string(root, e.path()))
        .collect()
}

fn rel_string(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Selects files under `root/base` with the given patterns.
pub fn collect(
    root: &Path,
    base: &str,
    files: &[String],
    exclude: &[String],
    discard_paths: bool,
    enable_symlinks: bool,
) -> Result<Collected, CollectError> {
    let root = root
        .canonicalize()
        .map_err(|source| CollectError::Read { path: root.display().to_string(), source })?;
    let base_dir = root.join(base);
    let mut out = Collected::default();
    let canonical_base = match base_dir.canonicalize() {
        Ok(p) => p,
        // A missing base directory matches nothing (every entry is then skipped as invalid).
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            out.selection = pattern::select(&[], files, exclude, discard_paths)?;
            return Ok(out);
        }
        Err(source) => {
            return Err(CollectError::Read { path: base_dir.display().to_string(), source });
        }
    };
    if !canonical_base.starts_with(&root) {
        return Err(CollectError::BaseOutside(base.to_string()));
    }

    let mut entries = Vec::new();
    let mut links = std::collections::HashMap::new();
    for entry in walkdir::WalkDir::new(&canonical_base).min_depth(1).follow_links(false) {
        let entry = entry.map_err(|e| CollectError::Read {
            path: e.path().map(|p| p.display().to_string()).unwrap_or_default(),
            source: e.into_io_error().unwrap_or_else(|| io::Error::other("walk failed")),
        })?;
        let Some(rel) = rel_string(&canonical_base, entry.path()) else {
            out.refused.push(format!("{}: the name is not valid UTF-8", entry.path().display()));
            continue;
        };
        let ft = entry.file_type();
        if ft.is_symlink() {
            // A link is a file entry; where it points decides whether it can be used at all.
            match fs::canonicalize(entry.path()) {
                Ok(target) if target.starts_with(&root) => {
                    let is_dir = target.is_dir();
                    if is_dir && !enable_symlinks {
                        out.refused.push(format!("{rel}: a symbolic link to a directory is not followed"));
                        continue;
                    }
                    links.insert(rel.clone(), ());
                    entries.push(Entry::file(&rel));
                }
                Ok(_) => {
                    out.refused.push(format!("{rel}: symbolic link points outside the source directory"))
                }
                Err(_) => out.refused.push(format!("{rel}: broken symbolic link")),
            }
        } else if ft.is_dir() {
            entries.push(Entry::dir(&rel));
        } else if ft.is_file() {
            entries.push(Entry::file(&rel));
        }
    }

    out.selection = pattern::select(&entries, files, exclude, discard_paths)?;
    let root: Arc<Path> = Arc::from(root.as_path());
    for picked in &out.selection.files {
        let source = canonical_base.join(&picked.path);
        let kind = if links.contains_key(&picked.path) && enable_symlinks {
            let target = fs::read_link(&source)
                .map_err(|e| CollectError::Read { path: source.display().to_string(), source: e })?;
            FileKind::Symlink(target)
        } else {
            FileKind::Regular
        };
        out.files.push(CollectedFile { root: root.clone(), source, dest: picked.dest.clone(), kind });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_out_of_the_source_never_leak() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("ok.txt"), "x").unwrap();
        symlink(outside.path().join("secret"), src.path().join("abs-link")).unwrap();
        symlink(
            "../../../../../../../..".to_string() + &outside.path().join("secret").display().to_string(),
            src.path().join("rel-link"),
        )
        .unwrap();
        symlink(outside.path(), src.path().join("dir-link")).unwrap();
        symlink("ok.txt", src.path().join("inside-link")).unwrap();
        for enable in [false, true] {
            let c = collect(src.path(), "", &["**/*".into()], &[], false, enable).unwrap();
            let mut dests: Vec<_> = c.files.iter().map(|f| f.dest.as_str()).collect();
            dests.sort();
            assert_eq!(dests, ["inside-link", "ok.txt"], "enable-symlinks: {enable}");
            assert_eq!(c.refused.len(), 3, "{:?}", c.refused);
        }
    }

    #[test]
    fn base_directory_through_a_symlink_out_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        symlink(outside.path(), src.path().join("out")).unwrap();
        assert!(matches!(
            collect(src.path(), "out", &["**/*".into()], &[], false, false),
            Err(CollectError::BaseOutside(_))
        ));
    }

    #[test]
    fn a_missing_base_directory_matches_nothing() {
        let src = tempfile::tempdir().unwrap();
        let c = collect(src.path(), "nope", &["**/*".into()], &[], false, false).unwrap();
        assert_eq!(c.selection.per_pattern, [("**/*".to_string(), 0)]);
    }
}
