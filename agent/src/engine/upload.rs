//! UPLOAD_ARTIFACTS: resolve names and base directories in the build's shell, select files,
//! package them, and log it CodeBuild's way (R-ART-05, R-ART-06, R-ART-09).

use std::path::{Path, PathBuf};

use super::events::{BuildEvent, EventSink};
use crate::artifacts::collect::{self, CollectedFile};
use crate::artifacts::package;
use crate::artifacts::pattern;
use crate::artifacts::s3::{self, S3Uploader};
use crate::buildspec::{ArtifactSpec, Buildspec};
use crate::exec::Session;

/// Project packaging (R-ART-07). Local output defaults to ZIP, like the local agent (R-ART-08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Packaging {
    #[default]
    Zip,
    None,
}

/// Where an artifact goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Destination {
    /// Files are selected and logged; nothing is written (no `--artifacts`, NO_ARTIFACTS).
    #[default]
    Nowhere,
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket, with the project's `path` and `namespaceType` (R-ART-07).
    S3 { bucket: String, path: Option<String>, build_id_namespace: bool },
}

/// How one artifact (primary or secondary) is written.
#[derive(Debug, Clone, Default)]
pub struct ArtifactTarget {
    pub destination: Destination,
    pub packaging: Packaging,
    /// The project's artifact `name`; `None` uses the default (`artifacts`, or the identifier).
    pub name: Option<String>,
    /// Project `overrideArtifactName`: use the buildspec's `name` (shell-evaluated).
    pub override_name: bool,
    /// Keep the name exactly as given for S3 objects (a project's S3 artifact, as CodeBuild
    /// does); otherwise a ZIP gets `.zip` appended when its name has none.
    pub exact_name: bool,
}

/// Where and how artifacts are written, from `--artifacts` and the project.
#[derive(Clone, Default)]
pub struct ArtifactSettings {
    pub primary: ArtifactTarget,
    /// Secondary artifacts the project defines, by identifier.
    pub secondary: Vec<(String, ArtifactTarget)>,
    /// For identifiers the project does not define: `--artifacts` takes them all. `None`: such
    /// an identifier fails the upload, as CodeBuild requires it in the project.
    pub other_secondary: Option<ArtifactTarget>,
    /// For the BUILD_ID namespace.
    pub build_id: String,
    /// The source directory as the build's commands see it, when that is not the host path
    /// (Docker builds).
    pub src_in_build: Option<PathBuf>,
    /// The secondary sources: each directory as the build sees it (`CODEBUILD_SRC_DIR_<id>`)
    /// and on this machine. A `base-directory` beneath one collects from it (AWS's
    /// multi-input sample writes `base-directory: $CODEBUILD_SRC_DIR_source2`).
    pub secondary_sources: Vec<(PathBuf, PathBuf)>,
    pub s3: Option<S3Uploader>,
}

impl std::fmt::Debug for ArtifactSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactSettings")
            .field("primary", &self.primary)
            .field("secondary", &self.secondary)
            .field("other_secondary", &self.other_secondary)
            .finish_non_exhaustive()
    }
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
    /// CodeBuild's words for a `base-directory` that names nothing.
    #[error("no matching base directory path found for {0}")]
    NoBaseDirectory(String),
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
    from_plugins: &[String],
) -> Result<(Option<ArtifactRecord>, Vec<ArtifactRecord>), UploadError> {
    let Some(artifacts) = &spec.artifacts else {
        if !from_plugins.is_empty() {
            sink.event(BuildEvent::Warning(&format!(
                "plugins produced artifacts ({}) but the buildspec has no `artifacts` section; they are not uploaded",
                from_plugins.join(", ")
            )));
        }
        return Ok((None, Vec::new()));
    };
    // Files produced by plugins are enough for a primary artifact (a runspec extension).
    if artifacts.primary.files.is_empty() && from_plugins.is_empty() {
        // R-ART-06: only a build whose artifacts are wanted fails for it.
        if settings.primary.destination == Destination::Nowhere && artifacts.secondary.is_empty() {
            sink.event(BuildEvent::Note("No artifact files defined in buildspec; none are wanted"));
            return Ok((None, Vec::new()));
        }
        return Err(UploadError::NoPrimary);
    }
    let target = &settings.primary;
    let name = match (&artifacts.primary.name, target.override_name) {
        (Some(n), true) => expand(session, n).await?,
        _ => target.name.clone().unwrap_or_else(|| "artifacts".to_string()),
    };
    let job = Job { spec: &artifacts.primary, identifier: None, name: &name, target, extra: from_plugins };
    let primary = one(session, sink, src_dir, job, settings).await?;
    if artifacts.secondary.is_empty() {
        sink.event(BuildEvent::Note("No secondary artifacts defined in buildspec"));
    } else {
        sink.event(BuildEvent::Note("Preparing to copy secondary artifacts"));
    }
    let mut secondary = Vec::new();
    for (id, spec) in &artifacts.secondary {
        let target = settings
            .secondary
            .iter()
            .find(|(i, _)| i == &id.value)
            .map(|(_, t)| t)
            .or(settings.other_secondary.as_ref())
            .ok_or_else(|| {
                UploadError::Client(format!(
                    "secondary artifact `{}` is not defined in the project's secondaryArtifacts",
                    id.value
                ))
            })?;
        let name = match (&spec.name, target.override_name) {
            (Some(n), true) => expand(session, n).await?,
            _ => target.name.clone().unwrap_or_else(|| id.value.clone()),
        };
        let job = Job { spec, identifier: Some(id.value.clone()), name: &name, target, extra: &[] };
        secondary.push(one(session, sink, src_dir, job, settings).await?);
    }
    Ok((Some(primary), secondary))
}

/// The source directory (on this machine) an artifact's files come from, and its
/// `base-directory` relative to it.
fn locate_base(
    base: &str,
    (primary_seen, primary): (&Path, &Path),
    secondary: &[(PathBuf, PathBuf)],
) -> Result<(PathBuf, String), UploadError> {
    let path = Path::new(base);
    if !path.is_absolute() {
        return Ok((primary.to_path_buf(), base.to_string()));
    }
    let roots = std::iter::once((primary_seen, primary))
        .chain(std::iter::once((primary, primary)))
        .chain(secondary.iter().flat_map(|(seen, host)| [(seen.as_path(), host.as_path()), (host, host)]));
    for (seen, host) in roots {
        if let Ok(rel) = path.strip_prefix(seen) {
            return Ok((host.to_path_buf(), rel.to_string_lossy().into_owned()));
        }
    }
    Err(UploadError::Client(format!(
        "base directory `{base}` is outside the source directory and every secondary source directory"
    )))
}

async fn expand<S: Session>(session: &mut S, text: &str) -> Result<String, UploadError> {
    crate::exec::expand_if_needed(session, text)
        .await
        .map_err(|e| UploadError::Client(format!("cannot expand `{text}`: {e}")))
}

/// One artifact to produce: its buildspec section, identifier, resolved name and target.
struct Job<'a> {
    spec: &'a ArtifactSpec,
    identifier: Option<String>,
    name: &'a str,
    target: &'a ArtifactTarget,
    /// Files plugins produced (relative to the source directory), added as literal paths.
    extra: &'a [String],
}

async fn one<S: Session>(
    session: &mut S,
    sink: &mut dyn EventSink,
    src_dir: &Path,
    job: Job<'_>,
    settings: &ArtifactSettings,
) -> Result<ArtifactRecord, UploadError> {
    let Job { spec, identifier, name, target, extra } = job;
    let base_text = match &spec.base_directory {
        Some(b) => expand(session, b).await?,
        None => ".".to_string(),
    };
    // An absolute `base-directory` ($CODEBUILD_SRC_DIR/out, $CODEBUILD_SRC_DIR_x) is a path as
    // the build sees it (a container path under Docker): it names a directory of the primary
    // source or of a secondary one, and files are collected from that source.
    let as_seen = settings.src_in_build.as_deref().unwrap_or(src_dir);
    let (root, base_rel) = locate_base(&base_text, (as_seen, src_dir), &settings.secondary_sources)?;
    let src_dir = root.as_path();
    let mut files_patterns = Vec::new();
    for f in &spec.files {
        files_patterns.push(expand(session, f).await?);
    }
    for path in extra {
        let base = match base_rel.trim_start_matches("./") {
            "." | "" => Path::new(""),
            b => Path::new(b),
        };
        match Path::new(path).strip_prefix(base) {
            Ok(rel) => files_patterns.push(globset::escape(&rel.to_string_lossy())),
            Err(_) => sink.event(BuildEvent::Warning(&format!(
                "plugin artifact `{path}` is outside the base directory `{base_rel}`; it is not uploaded"
            ))),
        }
    }
    let exclude: Vec<String> = spec.exclude_paths.iter().map(|p| p.value.clone()).collect();

    sink.event(BuildEvent::Note(&format!("Expanding base directory path: {base_text}")));
    sink.event(BuildEvent::Note("Assembling file list"));
    sink.event(BuildEvent::Note(&format!("Expanding {base_text}")));
    let bases = if base_rel.contains(['*', '?', '[']) {
        pattern::expand_base(&collect::list_dirs(src_dir), &base_rel)
            .map_err(|e| UploadError::Client(e.to_string()))?
    } else {
        vec![pattern::normalize(&base_rel).replace("**/*", "")]
    };
    let missing = |b: &String| !src_dir.join(b).is_dir();
    if bases.is_empty() || bases.iter().all(missing) {
        return Err(UploadError::NoBaseDirectory(base_text.clone()));
    }
    let mut files: Vec<CollectedFile> = Vec::new();
    for base in &bases {
        let shown = if base.is_empty() { "." } else { base.as_str() };
        sink.event(BuildEvent::Note(&format!("Expanding file paths for base directory {shown}")));
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
        sink.event(BuildEvent::Note(&format!("Found {} file(s)", collected.files.len())));
        files.extend(collected.files);
    }
    if files.is_empty() {
        return Err(UploadError::NoMatches);
    }
    let count = files.len();
    let record = |location: String, sums: Option<package::Checksums>| ArtifactRecord {
        identifier: identifier.clone(),
        location,
        sha256: sums.as_ref().map(|s| s.sha256.clone()),
        md5: sums.map(|s| s.md5),
        files: count,
    };
    let name = safe_name(name)?;
    let zip_name =
        if name.ends_with(".zip") || target.exact_name { name.clone() } else { format!("{name}.zip") };
    match &target.destination {
        Destination::Nowhere => Ok(record(String::new(), None)),
        Destination::Local(out_dir) => {
            let write_err =
                |e: std::io::Error| UploadError::Client(format!("cannot write artifact `{name}`: {e}"));
            match target.packaging {
                Packaging::Zip => {
                    let dest = out_dir.join(&zip_name);
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent).map_err(write_err)?;
                    }
                    package::write_zip(&files, &dest).map_err(write_err)?;
                    let sums = package::checksums(&dest).map_err(write_err)?;
                    Ok(record(file_url(&dest), Some(sums)))
                }
                Packaging::None => {
                    let dest = out_dir.join(&name);
                    package::write_folder(&files, &dest).map_err(write_err)?;
                    Ok(record(file_url(&dest), None))
                }
            }
        }
        Destination::S3 { bucket, path, build_id_namespace } => {
            let uploader = settings.s3.as_ref().ok_or_else(|| UploadError::Client("no S3 client".into()))?;
            let build_id = build_id_namespace.then_some(settings.build_id.as_str());
            // `s3-prefix` replaces the path under the BUILD_ID namespace (buildspec reference).
            let path = match (&spec.s3_prefix, build_id) {
                (Some(prefix), Some(_)) => Some(prefix.value.as_str()),
                _ => path.as_deref(),
            };
            match target.packaging {
                Packaging::Zip => {
                    let key = s3::object_key(path, build_id, &zip_name);
                    sink.event(BuildEvent::Note(&format!(
                        "Uploading {count} file(s) as s3://{bucket}/{key}"
                    )));
                    let up = uploader
                        .upload_zip(files, bucket, &key)
                        .await
                        .map_err(|e| UploadError::Client(e.to_string()))?;
                    Ok(record(format!("arn:aws:s3:::{bucket}/{key}"), Some(up.checksums)))
                }
                Packaging::None => {
                    let prefix = s3::object_key(path, build_id, &name);
                    sink.event(BuildEvent::Note(&format!(
                        "Uploading {count} file(s) to s3://{bucket}/{prefix}"
                    )));
                    uploader
                        .upload_folder(files, bucket, &prefix)
                        .await
                        .map_err(|e| UploadError::Client(e.to_string()))?;
                    Ok(record(format!("arn:aws:s3:::{bucket}/{prefix}"), None))
                }
            }
        }
    }
}

/// Artifact names may hold `/` to make sub-paths (R-ART: `name`), but never `..` or an
/// absolute path.
fn safe_name(name: &str) -> Result<String, UploadError> {
    if name == "/" {
        // R-ART-07: the root of the path.
        return Ok("/".to_string());
    }
    let trimmed = name.trim_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(|s| s == ".." || s == ".") {
        return Err(UploadError::Client(format!("invalid artifact name `{name}`")));
    }
    Ok(trimmed.to_string())
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}
