//! UPLOAD_ARTIFACTS: resolve names and base directories in the build's shell, select files,
//! package them, and log it CodeBuild's way (R-ART-05, R-ART-06, R-ART-09).

use std::path::{Path, PathBuf};

use super::events::{BuildEvent, EventSink};
use crate::artifacts::collect::{self, CollectedFile};
use crate::artifacts::package;
use crate::artifacts::pattern;
use crate::buildspec::{ArtifactSpec, Buildspec};
use crate::exec::Session;

/// Project packaging (R-ART-07). Local output defaults to ZIP, like the local agent (R-ART-08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Packaging {
    #[default]
    Zip,
    None,
}

/// Where and how artifacts are written, from `--artifacts` and the project.
#[derive(Debug, Clone, Default)]
pub struct ArtifactSettings {
    /// A local directory. `None`: files are selected and logged, nothing is written.
    pub output: Option<PathBuf>,
    pub packaging: Packaging,
    /// The primary artifact's name: the project's `artifacts.name`, else `artifacts`.
    pub primary_name: String,
    /// Project `overrideArtifactName`: use the buildspec's `name` (shell-evaluated).
    pub override_name: bool,
}

#[derive(Debug, Clone)]
pub struct ArtifactRecord {
    pub identifier: Option<String>,
    /// `file://` URL of the zip or folder; empty when nothing was written.
    pub location: String,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub files: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("no definition for primary artifacts in buildspec")]
    NoPrimary,
    #[error("no matching artifact paths found")]
    NoMatches,
    #[error("{0}")]
    Client(String),
}

impl UploadError {
    /// The phase context status code (R-LOG-03).
    pub fn code(&self) -> &'static str {
        "CLIENT_ERROR"
    }
}

/// Runs the UPLOAD_ARTIFACTS phase. Without an `artifacts` section it succeeds with nothing to do.
pub async fn run<S: Session>(
    session: &mut S,
    sink: &mut dyn EventSink,
    spec: &Buildspec,
    src_dir: &Path,
    settings: &ArtifactSettings,
) -> Result<(Option<ArtifactRecord>, Vec<ArtifactRecord>), UploadError> {
    let Some(artifacts) = &spec.artifacts else {
        return Ok((None, Vec::new()));
    };
    if artifacts.primary.files.is_empty() {
        return Err(UploadError::NoPrimary);
    }
    let name = match (&artifacts.primary.name, settings.override_name) {
        (Some(n), true) => expand(session, n).await?,
        _ => settings.primary_name.clone(),
    };
    let primary = one(
        session,
        sink,
        src_dir,
        &artifacts.primary,
        None,
        &name,
        settings,
    )
    .await?;
    if artifacts.secondary.is_empty() {
        sink.event(BuildEvent::Note(
            "No secondary artifacts defined in buildspec",
        ));
    } else {
        sink.event(BuildEvent::Note("Preparing to copy secondary artifacts"));
    }
    let mut secondary = Vec::new();
    for (id, s) in &artifacts.secondary {
        secondary.push(
            one(
                session,
                sink,
                src_dir,
                s,
                Some(id.value.clone()),
                &id.value,
                settings,
            )
            .await?,
        );
    }
    Ok((Some(primary), secondary))
}

/// Expands `$VAR` and `$(…)` in the build's shell, only when the text has any.
async fn expand<S: Session>(session: &mut S, text: &str) -> Result<String, UploadError> {
    if !text.contains(['$', '`']) {
        return Ok(text.to_string());
    }
    session
        .expand(text)
        .await
        .map_err(|e| UploadError::Client(format!("cannot expand `{text}`: {e}")))
}

async fn one<S: Session>(
    session: &mut S,
    sink: &mut dyn EventSink,
    src_dir: &Path,
    spec: &ArtifactSpec,
    identifier: Option<String>,
    name: &str,
    settings: &ArtifactSettings,
) -> Result<ArtifactRecord, UploadError> {
    let base_text = match &spec.base_directory {
        Some(b) => expand(session, b).await?,
        None => ".".to_string(),
    };
    // `base-directory: $CODEBUILD_SRC_DIR_x` expands to an absolute path inside the workspace.
    let base_rel = match Path::new(&base_text).strip_prefix(src_dir) {
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) if base_text.starts_with('/') => {
            return Err(UploadError::Client(format!(
                "base directory `{base_text}` is outside the source directory"
            )));
        }
        Err(_) => base_text.clone(),
    };
    let mut files_patterns = Vec::new();
    for f in &spec.files {
        files_patterns.push(expand(session, f).await?);
    }
    let exclude: Vec<String> = spec.exclude_paths.iter().map(|p| p.value.clone()).collect();

    sink.event(BuildEvent::Note(&format!(
        "Expanding base directory path: {base_text}"
    )));
    sink.event(BuildEvent::Note("Assembling file list"));
    sink.event(BuildEvent::Note(&format!("Expanding {base_text}")));
    let bases = if base_rel.contains(['*', '?', '[']) {
        pattern::expand_base(&collect::list_dirs(src_dir), &base_rel)
            .map_err(|e| UploadError::Client(e.to_string()))?
    } else {
        vec![pattern::normalize(&base_rel).replace("**/*", "")]
    };
    let mut files: Vec<CollectedFile> = Vec::new();
    for base in &bases {
        let shown = if base.is_empty() { "." } else { base.as_str() };
        sink.event(BuildEvent::Note(&format!(
            "Expanding file paths for base directory {shown}"
        )));
        sink.event(BuildEvent::Note("Assembling file list"));
        let collected = collect::collect(
            src_dir,
            base,
            &files_patterns,
            &exclude,
            spec.discard_paths,
            spec.enable_symlinks,
        )
        .map_err(|e| UploadError::Client(e.to_string()))?;
        for (p, count) in &collected.selection.per_pattern {
            sink.event(BuildEvent::Note(&format!("Expanding {p}")));
            if *count == 0 {
                sink.event(BuildEvent::Note(&format!("Skipping invalid file path {p}")));
            }
        }
        for why in &collected.refused {
            sink.event(BuildEvent::Warning(&format!("Skipping {why}")));
        }
        for d in &collected.selection.bare_dirs {
            sink.event(BuildEvent::Warning(&format!(
                "`{d}` names a directory: runspec takes everything under it; write `{d}/**/*` to be explicit"
            )));
        }
        for clash in &collected.selection.name_clashes {
            sink.event(BuildEvent::Warning(&format!(
                "Skipping {}: discard-paths gives it the name `{}`, already taken",
                clash.path, clash.dest
            )));
        }
        sink.event(BuildEvent::Note(&format!(
            "Found {} file(s)",
            collected.files.len()
        )));
        files.extend(collected.files);
    }
    if files.is_empty() {
        return Err(UploadError::NoMatches);
    }
    let count = files.len();
    let Some(out_dir) = &settings.output else {
        return Ok(ArtifactRecord {
            identifier,
            location: String::new(),
            sha256: None,
            md5: None,
            files: count,
        });
    };
    let name = safe_name(name)?;
    let write_err =
        |e: std::io::Error| UploadError::Client(format!("cannot write artifact `{name}`: {e}"));
    match settings.packaging {
        Packaging::Zip => {
            let dest = out_dir.join(format!("{name}.zip"));
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(write_err)?;
            }
            package::write_zip(&files, &dest).map_err(write_err)?;
            let sums = package::checksums(&dest).map_err(write_err)?;
            Ok(ArtifactRecord {
                identifier,
                location: file_url(&dest),
                sha256: Some(sums.sha256),
                md5: Some(sums.md5),
                files: count,
            })
        }
        Packaging::None => {
            let dest = out_dir.join(&name);
            package::write_folder(&files, &dest).map_err(write_err)?;
            Ok(ArtifactRecord {
                identifier,
                location: file_url(&dest),
                sha256: None,
                md5: None,
                files: count,
            })
        }
    }
}

/// Artifact names may hold `/` to make sub-paths (R-ART: `name`), but never `..` or an
/// absolute path.
fn safe_name(name: &str) -> Result<String, UploadError> {
    let trimmed = name.trim_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(|s| s == ".." || s == ".") {
        return Err(UploadError::Client(format!(
            "invalid artifact name `{name}`"
        )));
    }
    Ok(trimmed.to_string())
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}
