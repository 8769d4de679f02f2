//! Reading a build's buildspec: a path beneath the source (as CodeBuild resolves it), the
//! project's inline text, or the user's own file (`--buildspec`). Problems become the
//! DOWNLOAD_SOURCE failure CodeBuild logs (R-FILE-02, R-YAML-02).

use std::fs;
use std::path::Path;

use super::{BuildRequest, Notices};
use crate::buildspec::{self, Buildspec};
use crate::engine::BuildspecFailure;
use crate::project::Project;

/// The largest buildspec read from a file (a real one is a few kilobytes).
pub const MAX_BUILDSPEC_BYTES: u64 = 4 << 20;

/// Reads `rel` (a path relative to the source, as CodeBuild resolves a buildspec path: a
/// leading `/` is the source's root) beneath `src_dir` only: a `..` or a symbolic link that
/// leads out is refused, so no file of the machine outside the source is ever read or quoted.
pub fn read_source_file(src_dir: &Path, rel: &str) -> std::io::Result<String> {
    use std::io::Read;
    let root = src_dir.canonicalize()?;
    let rel = Path::new(rel.trim_start_matches('/'));
    let file = crate::artifacts::beneath::open(&root, rel)?;
    let mut text = String::new();
    file.take(MAX_BUILDSPEC_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BUILDSPEC_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB, which no buildspec is",
            MAX_BUILDSPEC_BYTES >> 20
        )));
    }
    Ok(text)
}

/// Where an inline or override buildspec is, as CodeBuild's log names it (R-FILE-02).
const READONLY_BUILDSPEC: &str = "/codebuild/readonly/buildspec.yml";

/// Reads and parses the buildspec; problems become a DOWNLOAD_SOURCE failure (R-FILE-02,
/// R-YAML-02), with the full diagnostics on stderr. A path is read beneath the source
/// ([`read_source_file`]); `src_in_build` is the source as the build sees it
/// (`CODEBUILD_SRC_DIR`), which the log's `YAML location is …` and the messages name.
pub(super) fn load_buildspec(
    file: Option<&Path>,
    project: &Project,
    (src_dir, given_src): (&Path, &Path),
    src_in_build: &str,
    notices: &dyn Notices,
) -> (Result<Buildspec, BuildspecFailure>, String) {
    let yaml_error = |message: String| BuildspecFailure { code: "YAML_FILE_ERROR".into(), message };
    let in_build = |rel: &str| format!("{src_in_build}/{}", rel.trim_start_matches('/'));
    let from_source = |rel: &str| -> Result<(String, String, String), (BuildspecFailure, String)> {
        let loc = in_build(rel);
        read_source_file(src_dir, rel)
            .map(|t| (t, loc.clone(), rel.to_string()))
            .map_err(|e| (yaml_error(format!("stat {loc}: {}", io_reason(&e))), loc))
    };
    let read = match (file, &project.buildspec) {
        (Some(path), _) => {
            // The user's own file (`--buildspec`): a relative path is looked up from the current
            // directory, then in the source. One inside the source (the directory given, or
            // the build's copy of it) is a buildspec path, read and named as a project's is;
            // one outside is an override text, as CodeBuild names those.
            let p = if path.is_absolute() || path.exists() { path.to_path_buf() } else { src_dir.join(path) };
            let abs =
                p.canonicalize().unwrap_or_else(|_| std::env::current_dir().unwrap_or_default().join(&p));
            let inside = [src_dir, given_src].into_iter().find_map(|root| {
                let root = root.canonicalize().ok()?;
                abs.strip_prefix(root).ok().map(|r| r.to_string_lossy().into_owned())
            });
            match inside {
                Some(rel) => from_source(&rel),
                None => match fs::read_to_string(&abs) {
                    Ok(t) => Ok((t, READONLY_BUILDSPEC.to_string(), abs.display().to_string())),
                    Err(e) => Err((
                        yaml_error(format!("stat {}: {}", abs.display(), io_reason(&e))),
                        READONLY_BUILDSPEC.to_string(),
                    )),
                },
            }
        }
        (None, Some(inline)) if inline.contains('\n') => {
            Ok((inline.clone(), READONLY_BUILDSPEC.to_string(), "buildspec (project inline)".to_string()))
        }
        (None, Some(rel)) => from_source(rel),
        (None, None) => from_source("buildspec.yml").map_err(|(failure, loc)| {
            match failure.message.ends_with(NOT_FOUND) {
                true => (yaml_error("YAML file does not exist".into()), loc),
                false => (failure, loc),
            }
        }),
    };
    let (text, location, shown) = match read {
        Ok(r) => r,
        Err((failure, loc)) => return (Err(failure), loc),
    };
    let parsed = buildspec::parse(shown, &text);
    if !parsed.diagnostics.issues.is_empty() {
        notices.diagnostics(&parsed.diagnostics.render(100));
    }
    match parsed.buildspec {
        Some(spec) => (Ok(spec), location),
        None => {
            let message =
                parsed.diagnostics.codebuild_message().unwrap_or_else(|| "invalid buildspec".into());
            (Err(yaml_error(message)), location)
        }
    }
}

const NOT_FOUND: &str = "no such file or directory";

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => NOT_FOUND.to_string(),
        _ => e.to_string(),
    }
}

/// The buildspec a request names, read from its source (for a batch, before any build runs).
pub fn read_buildspec(req: &BuildRequest, notices: &dyn Notices) -> Result<Buildspec, String> {
    let src = req.primary.display().to_string();
    load_buildspec(req.buildspec.as_deref(), &req.project, (&req.primary, &req.primary), &src, notices)
        .0
        .map_err(|f| f.message)
}
