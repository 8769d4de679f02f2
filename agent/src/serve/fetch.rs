//! A service's build sources on this machine ([`crate::source`] does the fetching): the primary
//! and secondary sources of an effective project, and a batch's buildspec (DOWNLOAD_BATCHSPEC),
//! all under a deadline and a stop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::request::{self, SourceSpec};
use crate::exec::Stop;
use crate::shapes::codebuild as cb;
use crate::source::{FetchError, Policy};

/// Where a build's git sources are cloned from besides their remotes: the project's directory of
/// this machine's cache when its LOCAL cache lists LOCAL_SOURCE_CACHE.
pub fn source_cache_dir(effective: &cb::Project, project: &str) -> Option<PathBuf> {
    let cache = effective.cache.as_ref().filter(|c| c.kind == "LOCAL")?;
    cache
        .modes
        .as_ref()?
        .iter()
        .any(|m| m == "LOCAL_SOURCE_CACHE")
        .then(|| crate::dirs::project_cache(project))?
}

/// A source on this machine: the directory and whether to build in it (a clone or download
/// made for this build is used in place; a LOCAL directory is copied). A git clone uses the
/// source cache under `cache_dir` when given, and adds its line for the build log to `notes`.
pub async fn prepare(
    spec: SourceSpec,
    dir: &Path,
    policy: &Policy,
    cache_dir: Option<&Path>,
    notes: &mut Vec<String>,
    stop: &mut Stop,
) -> Result<(PathBuf, bool), FetchError> {
    match spec {
        SourceSpec::None => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot make the source directory: {e}"))?;
            Ok((dir.to_path_buf(), true))
        }
        SourceSpec::Local(path) => Ok((policy.local_dir(&path)?, false)),
        SourceSpec::Git { location, version, depth } => {
            let (cache, why_not) = crate::source::cache::for_clone(cache_dir, &location);
            notes.extend(why_not);
            let note = crate::source::git::clone(
                &location,
                version.as_ref(),
                depth,
                dir,
                policy,
                cache.as_ref(),
                stop,
            )
            .await?;
            notes.extend(note);
            Ok((dir.to_path_buf(), true))
        }
        SourceSpec::S3 { bucket, key, version } => {
            crate::source::s3::fetch(&bucket, &key, version.as_deref(), dir, stop).await?;
            Ok((dir.to_path_buf(), true))
        }
    }
}

/// The secondary sources of an effective project, fetched under `dir`, each at its version.
pub async fn prepare_secondary(
    effective: &cb::Project,
    dir: &Path,
    policy: &Policy,
    cache_dir: Option<&Path>,
    notes: &mut Vec<String>,
    stop: &mut Stop,
) -> Result<Vec<crate::workspace::Source>, FetchError> {
    let mut out = Vec::new();
    for (id, spec) in request::secondary_sources(effective)? {
        let target = dir.join(&id);
        let fetched = Box::pin(prepare(spec, &target, policy, cache_dir, notes, stop));
        let (path, _) = fetched.await.map_err(|e| match e {
            FetchError::Failed(m) => FetchError::Failed(format!("secondary source {id}: {m}")),
            stopped => stopped,
        })?;
        out.push(crate::workspace::Source { id: Some(id), dir: path });
    }
    Ok(out)
}

/// DOWNLOAD_BATCHSPEC: the buildspec of a batch, read from its source fetched once, within
/// `timeout` and until `stop` (StopBuildBatch) is set.
pub fn read_batchspec(
    policy: &Policy,
    effective: &cb::Project,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<crate::buildspec::Buildspec, FetchError> {
    let scratch = tempfile::Builder::new()
        .prefix("runspec-batchspec-")
        .tempdir()
        .map_err(|e| FetchError::Failed(format!("cannot make a directory for the batch's source: {e}")))?;
    let dir = scratch.path().join("src");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Failed(e.to_string()))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let fetched = runtime.block_on(async {
        let mut deadline = Stop::new(Some(timeout), stop_rx);
        let fetch = async {
            let spec = request::source(effective).map_err(FetchError::Failed)?;
            prepare(spec, &dir, policy, None, &mut Vec::new(), &mut deadline).await
        };
        // The coordinator's stop flag (StopBuildBatch), looked at as the build threads do.
        let watch_flag = async {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = stop_tx.send(true);
            std::future::pending::<Result<(PathBuf, bool), FetchError>>().await
        };
        tokio::select! {
            fetched = fetch => fetched,
            never = watch_flag => never,
        }
    });
    fetched.and_then(|(src, _)| {
        let read = |path: &str| {
            crate::build::read_source_file(&src, path)
                .map_err(|e| FetchError::Failed(format!("cannot read the buildspec {path}: {e}")))
        };
        let given = effective.source.as_ref().and_then(|s| s.buildspec.as_deref()).filter(|b| !b.is_empty());
        let (name, text) = match given {
            Some(inline) if inline.contains('\n') => ("buildspec".to_string(), inline.to_string()),
            Some(path) => (path.to_string(), read(path)?),
            None => ("buildspec.yml".to_string(), read("buildspec.yml")?),
        };
        let parsed = crate::buildspec::parse(&name, &text);
        parsed.buildspec.ok_or_else(|| {
            FetchError::Failed(
                parsed.diagnostics.codebuild_message().unwrap_or_else(|| "invalid buildspec".into()),
            )
        })
    })
}
