//! An S3 source: a ZIP downloaded with the standard credential chain (the object version the
//! build asks for, when it names one) and unpacked, under the build's deadline and stop.

use std::path::Path;

use tokio::io::AsyncWriteExt;

use super::FetchError;
use crate::exec::Stop;

/// The object a source came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object {
    pub version_id: Option<String>,
    pub etag: Option<String>,
}

/// Downloads `s3://bucket/key` (at `version`, an object version id, when given) and unpacks it
/// into `dir`; entries that would land outside it are refused.
pub async fn fetch(
    bucket: &str,
    key: &str,
    version: Option<&str>,
    dir: &Path,
    stop: &mut Stop,
) -> Result<Object, FetchError> {
    tokio::select! {
        done = download(bucket, key, version, dir) => done.map_err(FetchError::Failed),
        reason = stop.wait() => {
            let _ = std::fs::remove_file(dir.with_extension("zip"));
            Err(FetchError::Stopped(reason))
        }
    }
}

async fn download(bucket: &str, key: &str, version: Option<&str>, dir: &Path) -> Result<Object, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let region = crate::aws::region_or_env(None);
    let config = crate::aws::sdk_config(&region, None).await;
    let client = crate::aws::s3_client(&config);
    let shown = match version {
        Some(v) => format!("s3://{bucket}/{key} (version {v})"),
        None => format!("s3://{bucket}/{key}"),
    };
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
        .map_err(|e| format!("cannot download {shown}: {}", crate::aws::error_text(&e)))?;
    let found = Object {
        version_id: object.version_id.clone(),
        etag: object.e_tag.as_deref().map(|e| e.trim_matches('"').to_string()),
    };
    let zip_path = dir.with_extension("zip");
    let mut file = tokio::fs::File::create(&zip_path)
        .await
        .map_err(|e| format!("cannot write {}: {e}", zip_path.display()))?;
    let mut body = object.body.into_async_read();
    tokio::io::copy(&mut body, &mut file).await.map_err(|e| format!("cannot download {shown}: {e}"))?;
    file.flush().await.map_err(|e| e.to_string())?;
    drop(file);
    let unpacked = std::fs::File::open(&zip_path)
        .map_err(|e| e.to_string())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| format!("{shown} is not a ZIP: {e}")))
        .and_then(|mut z| z.extract(dir).map_err(|e| format!("cannot unpack {shown}: {e}")));
    let _ = std::fs::remove_file(&zip_path);
    unpacked.map(|()| found)
}
