//! What a build request says beyond its source: where its artifacts go and where its cache
//! lives.

use std::fs;
use std::path::PathBuf;

use super::{Notices, PrepareError, prepare};
use crate::engine::upload::{ArtifactSettings, ArtifactTarget, Destination};
use crate::project::{self, ArtifactsType, Project};

/// Artifact targets from `--artifacts` (a directory or `s3://bucket/prefix`, overriding where the
/// project's artifacts go, as the local agent's `-a` does) and the project's `artifacts` and
/// `secondaryArtifacts` (names, packaging, identifiers, and S3 locations).
pub fn artifact_settings(
    overridden: Option<&str>,
    project: &Project,
    notices: &dyn Notices,
) -> Result<ArtifactSettings, PrepareError> {
    let from_project =
        |a: &project::ProjectArtifacts, destination: Destination, exact_name: bool| ArtifactTarget {
            destination,
            packaging: a.packaging,
            name: a.name.clone(),
            override_name: a.override_artifact_name,
            exact_name,
        };
    let project_destination = |a: &project::ProjectArtifacts| -> Result<Destination, PrepareError> {
        Ok(match a.kind {
            ArtifactsType::S3 => Destination::S3 {
                bucket: a.location.clone().filter(|l| !l.is_empty()).ok_or_else(|| {
                    prepare("the project's S3 artifacts have no `location` (bucket); pass --artifacts")
                })?,
                path: a.path.clone(),
                build_id_namespace: a.namespace_build_id,
            },
            ArtifactsType::CodePipeline => {
                notices.warning(
                    "CODEPIPELINE artifacts are handed to CodePipeline; runspec only lists them (pass --artifacts to keep them)",
                );
                Destination::Nowhere
            }
            ArtifactsType::NoArtifacts => Destination::Nowhere,
        })
    };
    let Some(overridden) = overridden else {
        let primary = match &project.artifacts {
            Some(a) => from_project(a, project_destination(a)?, true),
            None => ArtifactTarget::default(),
        };
        let mut secondary = Vec::new();
        for a in &project.secondary_artifacts {
            if let Some(id) = &a.identifier {
                secondary.push((id.clone(), from_project(a, project_destination(a)?, true)));
            }
        }
        let other_secondary = (project.artifacts.is_none()).then(ArtifactTarget::default);
        return Ok(ArtifactSettings { primary, secondary, other_secondary, ..Default::default() });
    };
    let destination = match overridden.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(prepare(format!("--artifacts {overridden}: no bucket name")));
            }
            let path = Some(prefix.trim_matches('/').to_string()).filter(|p| !p.is_empty());
            Destination::S3 { bucket: bucket.to_string(), path, build_id_namespace: false }
        }
        None => {
            let dir = PathBuf::from(overridden);
            fs::create_dir_all(&dir).map_err(|e| prepare(format!("--artifacts {}: {e}", dir.display())))?;
            Destination::Local(dir.canonicalize().unwrap_or(dir))
        }
    };
    let primary = match &project.artifacts {
        Some(a) => from_project(a, destination.clone(), false),
        None => ArtifactTarget { destination: destination.clone(), ..Default::default() },
    };
    let secondary = project
        .secondary_artifacts
        .iter()
        .filter_map(|a| Some((a.identifier.clone()?, from_project(a, destination.clone(), false))))
        .collect();
    let other_secondary = Some(ArtifactTarget { destination, ..Default::default() });
    Ok(ArtifactSettings { primary, secondary, other_secondary, ..Default::default() })
}

/// Where the cache lives.
pub(super) enum CacheLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

/// `--cache`, else the project's cache: S3 (`bucket/prefix`) or, when its modes list
/// LOCAL_CUSTOM_CACHE, LOCAL (a directory on this machine per project, under
/// `$XDG_CACHE_HOME/runspec` or `~/.cache/runspec`; `RUNSPEC_CACHE_DIR` overrides). `Err`: why
/// the buildspec's cache paths are not cached (its `Skip cache due to:` line).
pub(super) fn cache_location(
    flag: Option<&str>,
    project: &Project,
    name: &str,
) -> Result<Result<CacheLocation, &'static str>, PrepareError> {
    let s3 = |location: &str| {
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        CacheLocation::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() }
    };
    if let Some(c) = flag {
        return Ok(Ok(match c.strip_prefix("s3://") {
            Some("") => return Err(prepare(format!("--cache {c}: no bucket name"))),
            Some(location) => s3(location),
            None => CacheLocation::Local(PathBuf::from(c)),
        }));
    }
    Ok(match &project.cache {
        None => Err("the project has no cache configured (NO_CACHE)"),
        Some(project::ProjectCache::S3 { location }) => Ok(s3(location)),
        Some(project::ProjectCache::Local { modes }) if !modes.iter().any(|m| m == "LOCAL_CUSTOM_CACHE") => {
            Err("the project's LOCAL cache does not list LOCAL_CUSTOM_CACHE")
        }
        Some(project::ProjectCache::Local { .. }) => Ok(CacheLocation::Local(project_cache_dir(name)?)),
    })
}

/// The project's directory of this machine's cache (LOCAL caches).
pub(super) fn project_cache_dir(name: &str) -> Result<PathBuf, PrepareError> {
    crate::dirs::project_cache(name)
        .ok_or_else(|| prepare("cannot find a cache directory: set RUNSPEC_CACHE_DIR"))
}

/// Whether any artifact goes to S3, so an S3 client is needed.
pub(super) fn uses_s3(a: &ArtifactSettings) -> bool {
    let s3 = |t: &ArtifactTarget| matches!(t.destination, Destination::S3 { .. });
    s3(&a.primary) || a.secondary.iter().any(|(_, t)| s3(t)) || a.other_secondary.as_ref().is_some_and(s3)
}

/// A byte counter with throughput on stderr when it is a terminal; nothing otherwise (CI logs
/// stay clean).
pub(super) fn upload_progress() -> Option<crate::artifacts::s3::Progress> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} uploading artifacts: {bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    Some(std::sync::Arc::new(move |n| bar.inc(n)))
}
