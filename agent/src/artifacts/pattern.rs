//! Which files an artifact (or report) pattern list selects (§10.2). Pure: it works on a list of
//! paths that the collector read from disk, and is table-tested below.
//!
//! - `*` stays within one path segment; `**` crosses directories (R-ART-02).
//! - `dir/*` is the files directly in `dir`; a directory matched by `*` is not walked into.
//! - Paths are relative to the base directory; `discard-paths` keeps only the file name (R-ART-03).
//! - A bare directory name selects everything under it ([OPEN] R-ART-04, decided here).
//! - `**/*` includes dotfiles and dot-directories ([OPEN] R-ART-04: Go's `filepath.Match`, which
//!   CodeBuild's agent is written with, treats a leading dot like any other character).
//! - With `discard-paths`, the first file to claim a name keeps it; later ones are reported
//!   ([OPEN] R-ART-04).

use globset::{Glob, GlobBuilder, GlobMatcher};

/// One thing under the base directory, with a `/`-separated relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub is_dir: bool,
}

impl Entry {
    pub fn file(path: &str) -> Self {
        Entry { path: path.to_string(), is_dir: false }
    }

    pub fn dir(path: &str) -> Self {
        Entry { path: path.to_string(), is_dir: true }
    }
}

/// A selected file: where it is (relative to the base directory) and its name in the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    pub path: String,
    pub dest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub files: Vec<Picked>,
    /// Each `files` entry and how many files it matched (0 → "Skipping invalid file path").
    pub per_pattern: Vec<(String, usize)>,
    /// Files dropped because `discard-paths` gave them a name already taken.
    pub name_clashes: Vec<Picked>,
    /// Bare directory names that were expanded to their contents.
    pub bare_dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path pattern `{pattern}`: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// Normalises a pattern the way a user means it: `./x` is `x`, `dir/` is `dir`, `.` is "all".
pub fn normalize(pattern: &str) -> String {
    let mut p = pattern.trim();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let p = p.trim_end_matches('/');
    if p.is_empty() || p == "." { "**/*".to_string() } else { p.to_string() }
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '[', '{'])
}

fn compile(pattern: &str) -> Result<GlobMatcher, PatternError> {
    let p = normalize(pattern);
    if p.starts_with('/') || p.split('/').any(|s| s == "..") {
        return Err(PatternError {
            pattern: pattern.into(),
            reason: "it must stay inside the base directory".into(),
        });
    }
    GlobBuilder::new(&p)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| PatternError { pattern: pattern.into(), reason: e.kind().to_string() })
}

/// Applies `files` and `exclude-paths` to the entries of one base directory.
pub fn select(
    entries: &[Entry],
    files: &[String],
    exclude: &[String],
    discard_paths: bool,
) -> Result<Selection, PatternError> {
    let excludes: Vec<GlobMatcher> = exclude.iter().map(|p| compile(p)).collect::<Result<_, _>>()?;
    let excluded = |path: &str| excludes.iter().any(|g| g.is_match(path));
    let mut sel = Selection::default();
    let mut taken_paths = std::collections::HashSet::new();
    let mut taken_names = std::collections::HashSet::new();
    for pattern in files {
        let matcher = compile(pattern)?;
        let norm = normalize(pattern);
        let bare_dir = !has_glob(&norm) && entries.iter().any(|e| e.is_dir && e.path == norm);
        if bare_dir {
            sel.bare_dirs.push(pattern.clone());
        }
        let prefix = format!("{norm}/");
        let mut matched: Vec<&Entry> = entries
            .iter()
            .filter(|e| !e.is_dir)
            .filter(|e| if bare_dir { e.path.starts_with(&prefix) } else { matcher.is_match(&e.path) })
            .filter(|e| !excluded(&e.path))
            .collect();
        matched.sort_by(|a, b| a.path.cmp(&b.path));
        sel.per_pattern.push((pattern.clone(), matched.len()));
        for e in matched {
            if !taken_paths.insert(e.path.clone()) {
                continue;
            }
            let dest = if discard_paths {
                e.path.rsplit('/').next().unwrap_or(&e.path).to_string()
            } else {
                e.path.clone()
            };
            let picked = Picked { path: e.path.clone(), dest: dest.clone() };
            if taken_names.insert(dest) {
                sel.files.push(picked);
            } else {
                sel.name_clashes.push(picked);
            }
        }
    }
    Ok(sel)
}

/// Expands a `base-directory` that may be a glob (R-ART-03 `'my-build*'`) against the
/// directories of the source root. A literal one is returned as is (it may not exist).
pub fn expand_base(dirs: &[String], base: &str) -> Result<Vec<String>, PatternError> {
    let norm = normalize(base);
    if norm == "**/*" {
        return Ok(vec![String::new()]);
    }
    if !has_glob(&norm) {
        compile(&norm)?;
        return Ok(vec![norm]);
    }
    let matcher = compile(&norm)?;
    let mut found: Vec<String> = dirs.iter().filter(|d| matcher.is_match(d)).cloned().collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<Entry> {
        let mut v = vec![
            Entry::file("a.txt"),
            Entry::file(".env"),
            Entry::file("app.jar"),
            Entry::dir("dist"),
            Entry::file("dist/index.html"),
            Entry::file("dist/app.js"),
            Entry::dir("dist/assets"),
            Entry::file("dist/assets/logo.png"),
            Entry::dir("dist/assets/img"),
            Entry::file("dist/assets/img/x.png"),
            Entry::dir("docs"),
            Entry::file("docs/a.txt"),
            Entry::dir("docs/private"),
            Entry::file("docs/private/secret.txt"),
            Entry::dir(".git"),
            Entry::file(".git/HEAD"),
        ];
        v.reverse();
        v
    }

    fn paths(files: &[&str], exclude: &[&str], discard: bool) -> Vec<String> {
        let files: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        select(&tree(), &files, &exclude, discard).unwrap().files.into_iter().map(|p| p.dest).collect()
    }

    #[test]
    #[expect(clippy::type_complexity, reason = "a test table")]
    fn pattern_table() {
        #[rustfmt::skip]
        let table: &[(&[&str], &[&str], bool, &[&str], &str)] = &[
            (&["app.jar"], &[], false, &["app.jar"], "R-ART-01 plain file"),
            (&["*.txt"], &[], false, &["a.txt"], "R-ART-02 * is one segment"),
            (&["dist/*"], &[], false, &["dist/app.js", "dist/index.html"], "R-ART-02 dir/* not recursive"),
            (&["dist/**/*"], &[], false, &["dist/app.js", "dist/assets/img/x.png", "dist/assets/logo.png", "dist/index.html"], "R-ART-01 dir/**/* recursive"),
            (&["*/a.txt"], &[], false, &["docs/a.txt"], "R-ART-02 */file"),
            (&["**/*"], &["docs/private/**/*", ".git/**/*"], false, &[".env", "a.txt", "app.jar", "dist/app.js", "dist/assets/img/x.png", "dist/assets/logo.png", "dist/index.html", "docs/a.txt"], "exclude-paths"),
            (&["dist/**/*"], &[], true, &["app.js", "x.png", "logo.png", "index.html"], "R-ART-03 discard-paths"),
            (&["./app.jar"], &[], false, &["app.jar"], "./ prefix"),
            (&["docs"], &[], false, &["docs/a.txt", "docs/private/secret.txt"], "[OPEN] bare directory"),
            (&["docs/"], &[], false, &["docs/a.txt", "docs/private/secret.txt"], "trailing slash"),
            (&["app.jar", "*.jar"], &[], false, &["app.jar"], "a file matched twice is included once"),
            (&["missing.bin"], &[], false, &[], "R-ART-05 no match"),
        ];
        for (files, exclude, discard, want, rule) in table {
            assert_eq!(paths(files, exclude, *discard), *want, "{files:?} ({rule})");
        }
    }

    #[test]
    fn dotfiles_are_included_by_star_star() {
        let all = paths(&["**/*"], &[], false);
        assert!(all.contains(&".env".to_string()) && all.contains(&".git/HEAD".to_string()));
    }

    #[test]
    fn per_pattern_counts_report_unmatched_entries() {
        let files = vec!["app.jar".to_string(), "nope/*".to_string()];
        let sel = select(&tree(), &files, &[], false).unwrap();
        assert_eq!(sel.per_pattern, [("app.jar".to_string(), 1), ("nope/*".to_string(), 0)]);
    }

    #[test]
    fn discard_paths_clash_keeps_the_first() {
        let files = vec!["**/a.txt".to_string()];
        let sel = select(&tree(), &files, &[], true).unwrap();
        assert_eq!(sel.files, [Picked { path: "a.txt".into(), dest: "a.txt".into() }]);
        assert_eq!(sel.name_clashes[0].path, "docs/a.txt");
    }

    #[test]
    fn escaping_patterns_are_errors() {
        for p in ["../x", "a/../../x", "/etc/passwd"] {
            assert!(select(&tree(), &[p.to_string()], &[], false).is_err(), "{p}");
        }
    }

    #[test]
    fn base_directory_globs() {
        let dirs: Vec<String> =
            ["my-build1", "my-build2", "my-build2/sub", "other"].map(String::from).to_vec();
        assert_eq!(expand_base(&dirs, "my-build*").unwrap(), ["my-build1", "my-build2"]);
        assert_eq!(expand_base(&dirs, ".").unwrap(), [""]);
        assert_eq!(expand_base(&dirs, "other/").unwrap(), ["other"]);
        assert!(expand_base(&dirs, "../x").is_err());
    }
}
