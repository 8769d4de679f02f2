//! The build cache (R-CACHE-01..04): `cache/paths` packed into one archive per key, kept in a
//! local directory or in S3 — the same definition behaves the same in both.
//!
//! - `key` (shell-expanded, so `npm-$(codebuild-hash-files package-lock.json)` works) names the
//!   archive; without a key the project's one archive is `default`. The key is expanded once,
//!   before INSTALL, and that one key names both the restore and the save: a build that rewrites
//!   the hashed lock file still saves under the key the next build with the same lock file asks
//!   for (CodeBuild stores the cache "under the context of this cache key").
//! - Restore, before INSTALL: the exact key, else each of `fallback-keys` as a prefix, in order,
//!   newest match first.
//! - Save, at the end of a build that reached POST_BUILD: a keyed archive is stored once and never
//!   updated; the unkeyed one is replaced each time.
//! - `action: restore` / `save` does only that half.
//!
//! A cache problem is a warning, never a build failure: the build just runs without it.
//!
//! Archives are gzip'd tar files. Relative paths are stored under `src/` and restored into the
//! source directory; absolute ones (`/root/.m2/**/*`) under `abs/` and restored in place.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Component, Path, PathBuf};

use crate::artifacts::collect::{self, FileKind};
use crate::artifacts::s3::S3Uploader;
use crate::buildspec::{self, CacheAction};
use crate::engine::events::{BuildEvent, EventSink};
use crate::exec::Session;

/// Where archives live.
#[derive(Clone)]
pub enum Store {
    /// A directory on this machine (project cache type LOCAL, or `--cache DIR`).
    Local(PathBuf),
    /// `s3://bucket/prefix` (project cache type S3, or `--cache s3://…`).
    S3 { client: aws_sdk_s3::Client, uploader: S3Uploader, bucket: String, prefix: String },
}

impl Store {
    fn describe(&self) -> String {
        match self {
            Store::Local(dir) => dir.display().to_string(),
            Store::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    fn object(prefix: &str, name: &str) -> String {
        crate::artifacts::s3::object_key(Some(prefix), None, &format!("{name}.tar.gz"))
    }

    async fn exists(&self, name: &str) -> Result<bool, String> {
        match self {
            Store::Local(dir) => Ok(dir.join(format!("{name}.tar.gz")).exists()),
            Store::S3 { client, bucket, prefix, .. } => {
                match client.head_object().bucket(bucket).key(Store::object(prefix, name)).send().await {
                    Ok(_) => Ok(true),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
                    Err(e) => Err(format!("{e}")),
                }
            }
        }
    }

    /// The newest archive whose key starts with `prefix`.
    async fn newest_with_prefix(&self, key_prefix: &str) -> Result<Option<String>, String> {
        match self {
            Store::Local(dir) => {
                let mut best: Option<(std::time::SystemTime, String)> = None;
                let Ok(entries) = fs::read_dir(dir) else { return Ok(None) };
                for e in entries.flatten() {
                    let file = e.file_name().to_string_lossy().into_owned();
                    let Some(name) = file.strip_suffix(".tar.gz") else { continue };
                    if !name.starts_with(key_prefix) {
                        continue;
                    }
                    let t = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                    if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                        best = Some((t, name.to_string()));
                    }
                }
                Ok(best.map(|(_, n)| n))
            }
            Store::S3 { client, bucket, prefix, .. } => {
                let list_prefix = crate::artifacts::s3::object_key(Some(prefix), None, key_prefix);
                let list_prefix = if key_prefix.is_empty() { format!("{list_prefix}/") } else { list_prefix };
                let out = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(list_prefix)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let base =
                    if prefix.is_empty() { String::new() } else { format!("{}/", prefix.trim_matches('/')) };
                Ok(out
                    .contents()
                    .iter()
                    .filter_map(|o| Some((o.last_modified().copied(), o.key()?.to_string())))
                    .filter_map(|(t, k)| {
                        Some((t, k.strip_prefix(&base)?.strip_suffix(".tar.gz")?.to_string()))
                    })
                    .max_by(|a, b| a.0.map(|t| t.secs()).cmp(&b.0.map(|t| t.secs())))
                    .map(|(_, name)| name))
            }
        }
    }

    async fn fetch(&self, name: &str, dest: &Path) -> Result<(), String> {
        match self {
            Store::Local(dir) => {
                fs::copy(dir.join(format!("{name}.tar.gz")), dest).map(|_| ()).map_err(|e| e.to_string())
            }
            Store::S3 { client, bucket, prefix, .. } => {
                use tokio::io::AsyncWriteExt;
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(Store::object(prefix, name))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let mut body = out.body;
                let mut file = tokio::fs::File::create(dest).await.map_err(|e| e.to_string())?;
                while let Some(chunk) = body.try_next().await.map_err(|e| e.to_string())? {
                    file.write_all(&chunk).await.map_err(|e| e.to_string())?;
                }
                file.flush().await.map_err(|e| e.to_string())
            }
        }
    }

    async fn put(&self, name: &str, archive: &Path) -> Result<(), String> {
        match self {
            Store::Local(dir) => {
                fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                // Copy then rename, so a reader never sees half an archive.
                let tmp = dir.join(format!(".{name}.tar.gz.{}", std::process::id()));
                fs::copy(archive, &tmp).map_err(|e| e.to_string())?;
                fs::rename(&tmp, dir.join(format!("{name}.tar.gz"))).map_err(|e| e.to_string())
            }
            Store::S3 { uploader, bucket, prefix, .. } => uploader
                .upload_file(archive, bucket, &Store::object(prefix, name))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

/// The cache of one build.
#[derive(Clone)]
pub struct Cache {
    pub store: Store,
    /// A scratch directory for archives (inside the build's workspace).
    pub scratch: PathBuf,
}

/// A cache key must make a file name: no `/` trickery.
fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 512 && !key.contains('/') && !key.starts_with('.') && !key.contains('\0')
}

async fn expand<S: Session>(session: &mut S, text: &str) -> Result<String, String> {
    crate::exec::expand_if_needed(session, text)
        .await
        .map(|s| s.trim().to_string())
        .map_err(|e| e.to_string())
}

/// The archive a cache definition names: its shell-expanded `key`, else the project's one
/// unkeyed archive, `default`. Expanded once per build, before INSTALL.
async fn archive_key<S: Session>(spec: &buildspec::Cache, session: &mut S) -> Result<String, String> {
    match &spec.key {
        Some(k) => expand(session, k).await,
        None => Ok("default".to_string()),
    }
}

impl Cache {
    /// Before INSTALL: expands the key (the one the save uses too) and restores the archive it
    /// names, unless the action is `save`. Returns the key, or `None` when it cannot be expanded
    /// (a warning: the build runs without a cache and saves none).
    pub async fn restore<S: Session>(
        &self,
        spec: &buildspec::Cache,
        session: &mut S,
        sink: &mut dyn EventSink,
        src_dir: &Path,
    ) -> Option<String> {
        let key = match archive_key(spec, session).await {
            Ok(key) => key,
            Err(e) => {
                sink.event(BuildEvent::Warning(&format!(
                    "the cache key cannot be expanded, building without a cache: {e}"
                )));
                return None;
            }
        };
        if spec.action == Some(CacheAction::Save) {
            sink.event(BuildEvent::Note("Skip cache restore due to: cache action is save"));
            return Some(key);
        }
        match self.try_restore(spec, &key, session, sink, src_dir).await {
            Ok(()) => {}
            Err(e) => {
                sink.event(BuildEvent::Warning(&format!("cache restore failed, building without it: {e}")))
            }
        }
        Some(key)
    }

    async fn try_restore<S: Session>(
        &self,
        spec: &buildspec::Cache,
        key: &str,
        session: &mut S,
        sink: &mut dyn EventSink,
        src_dir: &Path,
    ) -> Result<(), String> {
        let mut found = None;
        if valid_key(key) && self.store.exists(key).await? {
            found = Some(key.to_string());
        } else if spec.key.is_some() {
            for fallback in &spec.fallback_keys {
                let prefix = expand(session, fallback).await?;
                if let Some(name) = self.store.newest_with_prefix(&prefix).await? {
                    found = Some(name);
                    break;
                }
            }
        }
        let Some(name) = found else {
            sink.event(BuildEvent::Note(&format!(
                "Cache not found for key {key} in {}",
                self.store.describe()
            )));
            return Ok(());
        };
        sink.event(BuildEvent::Note(&format!("Restoring cache {name} from {}", self.store.describe())));
        let archive = self.scratch.join("cache-restore.tar.gz");
        self.store.fetch(&name, &archive).await?;
        let staging = self.scratch.join("cache-abs");
        let abs_base = session.absolute_paths_staging(&staging);
        let count = unpack(&archive, src_dir, &abs_base).map_err(|e| e.to_string())?;
        let _ = fs::remove_file(&archive);
        if abs_base != Path::new("/") {
            let placed = session.absolute_paths_in(&abs_base).await;
            let _ = fs::remove_dir_all(&abs_base);
            placed.map_err(|e| e.to_string())?;
        }
        sink.event(BuildEvent::Note(&format!("Restored {count} file(s) from cache {name}")));
        Ok(())
    }

    /// Saves at the end of the build, under the key [`Cache::restore`] expanded.
    pub async fn save<S: Session>(
        &self,
        spec: &buildspec::Cache,
        key: &str,
        session: &mut S,
        sink: &mut dyn EventSink,
        src_dir: &Path,
    ) {
        if spec.action == Some(CacheAction::Restore) {
            sink.event(BuildEvent::Note("Skip cache save due to: cache action is restore"));
            return;
        }
        if let Err(e) = self.try_save(spec, key, session, sink, src_dir).await {
            sink.event(BuildEvent::Warning(&format!("cache save failed: {e}")));
        }
    }

    async fn try_save<S: Session>(
        &self,
        spec: &buildspec::Cache,
        key: &str,
        session: &mut S,
        sink: &mut dyn EventSink,
        src_dir: &Path,
    ) -> Result<(), String> {
        if !valid_key(key) {
            return Err(format!("`{key}` cannot be a cache key (no `/`, not empty, not starting with `.`)"));
        }
        if spec.key.is_some() && self.store.exists(key).await? {
            // R-CACHE-03: a keyed cache is stored once and never updated afterwards.
            sink.event(BuildEvent::Note(&format!("Cache {key} already exists; not updating it")));
            return Ok(());
        }
        let patterns: Vec<String> = spec.paths.iter().map(|p| p.value.clone()).collect();
        let archive = self.scratch.join("cache-save.tar.gz");
        let roots: Vec<PathBuf> =
            patterns.iter().filter(|p| p.starts_with('/')).map(|p| split_absolute(p).0).collect();
        let staging = self.scratch.join("cache-abs");
        let abs_base = match roots.is_empty() {
            true => PathBuf::from("/"),
            false => session.absolute_paths_out(&roots, &staging).await.map_err(|e| e.to_string())?,
        };
        let packed = pack(&patterns, src_dir, &abs_base, &archive);
        if abs_base != Path::new("/") {
            let _ = fs::remove_dir_all(&abs_base);
        }
        let count = packed.map_err(|e| e.to_string())?;
        self.store.put(key, &archive).await?;
        let _ = fs::remove_file(&archive);
        sink.event(BuildEvent::Note(&format!(
            "Saved {count} file(s) to cache {key} in {}",
            self.store.describe()
        )));
        Ok(())
    }
}

/// Splits `/root/.m2/**/*` into the directory `/root/.m2` and the pattern `**/*`.
fn split_absolute(pattern: &str) -> (PathBuf, String) {
    let mut root = PathBuf::from("/");
    let mut rest = Vec::new();
    let mut globbing = false;
    for seg in pattern.trim_start_matches('/').split('/') {
        if globbing || seg.contains(['*', '?', '[', '{']) {
            globbing = true;
            rest.push(seg);
        } else {
            root.push(seg);
        }
    }
    if rest.is_empty() {
        // A plain directory: everything under it.
        return (root, "**/*".to_string());
    }
    (root, rest.join("/"))
}

/// Packs the files matching `patterns` into a gzip'd tar. Returns how many files went in.
/// Absolute patterns are read under `abs_base` (`/` for the host's own files, a staging copy
/// for a container's) and stored under their path in the build.
pub fn pack(patterns: &[String], src_dir: &Path, abs_base: &Path, dest: &Path) -> io::Result<usize> {
    let gz = flate2::write::GzEncoder::new(BufWriter::new(File::create(dest)?), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let mut count = 0;
    for pattern in patterns {
        let (root, pat, tag) = if pattern.starts_with('/') {
            let (root, pat) = split_absolute(pattern);
            let tag = format!("abs{}", root.display());
            (abs_base.join(root.strip_prefix("/").unwrap_or(&root)), pat, tag)
        } else {
            (src_dir.to_path_buf(), pattern.clone(), "src".to_string())
        };
        let Ok(found) = collect::collect(&root, "", std::slice::from_ref(&pat), &[], false, true) else {
            continue;
        };
        for f in &found.files {
            let name = Path::new(&tag).join(&f.dest);
            match &f.kind {
                FileKind::Symlink(target) => {
                    let mut header = tar::Header::new_gnu();
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    tar.append_link(&mut header, &name, target)?;
                }
                FileKind::Regular => tar.append_file(&name, &mut f.open()?)?,
            }
            count += 1;
        }
    }
    tar.into_inner()?.finish()?;
    Ok(count)
}

/// Unpacks an archive made by [`pack`]: `src/…` into `src_dir`, `abs/…` under `abs_base` (`/`:
/// in place). Entries that would leave their root (`..`) are refused.
pub fn unpack(archive: &Path, src_dir: &Path, abs_base: &Path) -> io::Result<usize> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(File::open(archive)?)));
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    let mut count = 0;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut parts = path.components();
        let dest = match parts.next() {
            Some(Component::Normal(t)) if t == "src" => src_dir.join(parts.as_path()),
            Some(Component::Normal(t)) if t == "abs" => abs_base.join(parts.as_path()),
            _ => continue,
        };
        if parts.clone().any(|c| !matches!(c, Component::Normal(_))) {
            continue;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        if entry.unpack(&dest).is_ok() {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_patterns_split_at_the_first_glob() {
        assert_eq!(split_absolute("/root/.m2/**/*"), (PathBuf::from("/root/.m2"), "**/*".to_string()));
        assert_eq!(split_absolute("/opt/cache"), (PathBuf::from("/opt/cache"), "**/*".to_string()));
        assert_eq!(split_absolute("/a/*/b"), (PathBuf::from("/a"), "*/b".to_string()));
    }

    #[test]
    fn pack_and_unpack_round_trip_relative_and_absolute_paths() {
        let src = tempfile::tempdir().unwrap();
        let abs = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("node_modules/pkg")).unwrap();
        fs::write(src.path().join("node_modules/pkg/index.js"), "x").unwrap();
        std::os::unix::fs::symlink("pkg/index.js", src.path().join("node_modules/link")).unwrap();
        fs::write(abs.path().join("dep.jar"), "jar").unwrap();
        let archive = src.path().join("c.tar.gz");
        let patterns = vec!["node_modules/**/*".to_string(), format!("{}/**/*", abs.path().display())];
        assert_eq!(pack(&patterns, src.path(), Path::new("/"), &archive).unwrap(), 3);
        fs::remove_dir_all(src.path().join("node_modules")).unwrap();
        fs::remove_file(abs.path().join("dep.jar")).unwrap();
        assert_eq!(unpack(&archive, src.path(), Path::new("/")).unwrap(), 3);
        assert_eq!(fs::read_to_string(src.path().join("node_modules/pkg/index.js")).unwrap(), "x");
        assert_eq!(fs::read_link(src.path().join("node_modules/link")).unwrap(), Path::new("pkg/index.js"));
        assert_eq!(fs::read_to_string(abs.path().join("dep.jar")).unwrap(), "jar");

        // A container's files: read from and written to a staging base, named as in the build.
        let staging = tempfile::tempdir().unwrap();
        fs::create_dir_all(staging.path().join("root/.m2")).unwrap();
        fs::write(staging.path().join("root/.m2/a.jar"), "a").unwrap();
        let archive2 = src.path().join("d.tar.gz");
        assert_eq!(pack(&["/root/.m2/**/*".to_string()], src.path(), staging.path(), &archive2).unwrap(), 1);
        let names: Vec<String> =
            tar::Archive::new(flate2::read::GzDecoder::new(File::open(&archive2).unwrap()))
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
        assert_eq!(names, ["abs/root/.m2/a.jar"]);
        let back = tempfile::tempdir().unwrap();
        assert_eq!(unpack(&archive2, src.path(), back.path()).unwrap(), 1);
        assert_eq!(fs::read_to_string(back.path().join("root/.m2/a.jar")).unwrap(), "a");
    }

    #[test]
    fn keys_must_be_file_names() {
        for bad in ["", "a/b", "../x", ".hidden"] {
            assert!(!valid_key(bad), "{bad}");
        }
        assert!(valid_key("npm-0123abcd"));
    }
}
