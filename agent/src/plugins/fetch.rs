//! Getting a plugin's bytes. Remote plugins are pinned by digest and checked while they
//! stream in; downloads are kept in the cache directory by digest, so a plugin is downloaded
//! once per machine.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::host::hex;
use super::reference::PluginRef;

/// The largest plugin runspec downloads or reads (interpreter-based components are ~20 MB).
pub const MAX_PLUGIN_BYTES: u64 = 256 << 20;
/// The largest OCI manifest accepted.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Layer media types of a wasm component in an OCI artifact.
const WASM_LAYER_TYPES: &[&str] = &["application/wasm", "application/vnd.wasm.content.layer.v1+wasm"];

/// The bytes of the plugin `r`; local paths are relative to `base_dir` (the source directory).
pub async fn fetch(r: &PluginRef, base_dir: &Path, cache_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    match r {
        PluginRef::Local(path) => read_local(&base_dir.join(path), path),
        PluginRef::Https { url, sha256 } => {
            if let Some(bytes) = cached(cache_dir, sha256) {
                return Ok(bytes);
            }
            let client = client()?;
            let bytes = download(client.get(url.as_str()), url, MAX_PLUGIN_BYTES).await?;
            verify(&bytes, sha256, url)?;
            keep(cache_dir, sha256, &bytes);
            Ok(bytes)
        }
        PluginRef::Oci { registry, repository, digest, .. } => {
            oci(registry, repository, digest, cache_dir).await.map_err(|e| format!("{r}: {e}"))
        }
    }
}

fn read_local(path: &Path, shown: &str) -> Result<Vec<u8>, String> {
    // Non-blocking: opening a FIFO would otherwise wait for a writer.
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path);
    let file = opened.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!(
                "plugin file `{shown}` not found (looked at {}); build it first or fix the path",
                path.display()
            )
        }
        _ => format!("cannot read plugin `{}`: {e}", path.display()),
    })?;
    // What was opened, not what the path named a moment before.
    let meta = file.metadata().map_err(|e| format!("cannot read plugin `{}`: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("plugin `{}` is not a file", path.display()));
    }
    read_capped(file, MAX_PLUGIN_BYTES).map_err(|e| format!("plugin `{}`: {e}", path.display()))
}

/// Reads at most `cap` bytes: the size `stat` gave is only what the file was when asked, and a
/// file can grow while it is read.
fn read_capped(file: impl std::io::Read, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("it is larger than the limit of {} MiB", cap >> 20));
    }
    Ok(bytes)
}

fn blob_path(cache_dir: &Path, sha256: &str) -> PathBuf {
    cache_dir.join("blobs").join(format!("sha256-{sha256}.wasm"))
}

/// A downloaded plugin from the cache, if it is there and still has its digest.
fn cached(cache_dir: Option<&Path>, sha256: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(blob_path(cache_dir?, sha256)).ok()?;
    (hex(&Sha256::digest(&bytes)) == sha256).then_some(bytes)
}

fn keep(cache_dir: Option<&Path>, sha256: &str, bytes: &[u8]) {
    let Some(dir) = cache_dir else { return };
    let path = blob_path(dir, sha256);
    if let Err(e) = super::host::write_cache_file(&path, bytes) {
        tracing::warn!("cannot keep the downloaded plugin at {}: {e}", path.display());
    }
}

fn verify(bytes: &[u8], want: &str, what: &str) -> Result<(), String> {
    let got = hex(&Sha256::digest(bytes));
    if got != want {
        return Err(format!(
            "{what}: digest mismatch: the reference pins sha256:{want} but the download is sha256:{got}; the file changed or the reference is wrong"
        ));
    }
    Ok(())
}

/// An HTTP client; `SSL_CERT_FILE` adds a PEM root certificate (a private CA or a proxy's).
fn client() -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("runspec/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(std::time::Duration::from_secs(600));
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        let pem =
            std::fs::read(&file).map_err(|e| format!("SSL_CERT_FILE {}: {e}", Path::new(&file).display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("SSL_CERT_FILE {}: {e}", Path::new(&file).display()))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| format!("cannot create an HTTP client: {e}"))
}

/// Sends `request` and reads the body, refusing more than `limit` bytes.
async fn download(request: reqwest::RequestBuilder, what: &str, limit: u64) -> Result<Vec<u8>, String> {
    let response = request.send().await.map_err(|e| format!("{what}: {}", error_chain(&e)))?;
    read_body(response, what, limit).await
}

/// Reads a successful response's body, refusing more than `limit` bytes.
async fn read_body(response: reqwest::Response, what: &str, limit: u64) -> Result<Vec<u8>, String> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{what}: the server answered {status}"));
    }
    if let Some(len) = response.content_length()
        && len > limit
    {
        return Err(format!("{what}: {} MiB is over the {} MiB limit", len >> 20, limit >> 20));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("{what}: {}", error_chain(&e)))?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(format!("{what}: more than the {} MiB limit", limit >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Loopback registries speak plain HTTP (as Docker assumes); everything else HTTPS.
fn registry_base(registry: &str) -> String {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    let plain = matches!(host, "localhost" | "[::1]") || host.starts_with("127.");
    format!("{}://{registry}", if plain { "http" } else { "https" })
}

/// Pulls a wasm component from an OCI registry: manifest by digest, then its wasm layer.
async fn oci(
    registry: &str,
    repository: &str,
    digest: &str,
    cache_dir: Option<&Path>,
) -> Result<Vec<u8>, String> {
    let client = client()?;
    let base = registry_base(registry);
    let manifest_url = format!("{base}/v2/{repository}/manifests/sha256:{digest}");
    let accept =
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    // Anonymous bearer-token flow (Docker registry token spec) when the registry asks for it.
    let mut token: Option<String> = None;
    let mut response =
        client.get(&manifest_url).header("Accept", accept).send().await.map_err(|e| error_chain(&e))?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        let challenge =
            response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let t = anonymous_token(&client, challenge).await?;
        response = client
            .get(&manifest_url)
            .header("Accept", accept)
            .bearer_auth(&t)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        token = Some(t);
    }
    let manifest = read_body(response, &manifest_url, MAX_MANIFEST_BYTES).await?;
    verify(&manifest, digest, "manifest")?;
    let doc: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let layers = doc["layers"].as_array().cloned().unwrap_or_default();
    let layer = layers
        .iter()
        .find(|l| l["mediaType"].as_str().is_some_and(|m| WASM_LAYER_TYPES.contains(&m)))
        .ok_or_else(|| {
            format!(
                "the artifact has no wasm layer (media type {}); push it with `wkg oci push` or as an OCI wasm artifact",
                WASM_LAYER_TYPES.join(" or ")
            )
        })?;
    let layer_digest = layer["digest"].as_str().unwrap_or_default();
    let Some(layer_hex) = layer_digest.strip_prefix("sha256:") else {
        return Err(format!("unsupported layer digest `{layer_digest}`"));
    };
    if let Some(bytes) = cached(cache_dir, layer_hex) {
        return Ok(bytes);
    }
    let blob_url = format!("{base}/v2/{repository}/blobs/{layer_digest}");
    let mut request = client.get(&blob_url);
    if let Some(t) = &token {
        request = request.bearer_auth(t);
    }
    let bytes = download(request, &blob_url, MAX_PLUGIN_BYTES).await?;
    verify(&bytes, layer_hex, "wasm layer")?;
    keep(cache_dir, layer_hex, &bytes);
    Ok(bytes)
}

/// `Bearer realm="…",service="…",scope="…"` → an anonymous token from the realm.
async fn anonymous_token(client: &reqwest::Client, challenge: &str) -> Result<String, String> {
    let Some(params) = challenge.strip_prefix("Bearer ") else {
        return Err(format!(
            "the registry asks for credentials (`{challenge}`); runspec pulls plugins anonymously"
        ));
    };
    let mut realm = None;
    let mut query = Vec::new();
    for part in params.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else { continue };
        let v = v.trim_matches('"').to_string();
        match k {
            "realm" => realm = Some(v),
            "service" | "scope" => query.push((k.to_string(), v)),
            _ => {}
        }
    }
    let realm = realm.ok_or("the registry's auth challenge has no realm")?;
    let body = download(client.get(&realm).query(&query), &realm, MAX_MANIFEST_BYTES).await?;
    let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("token answer: {e}"))?;
    doc["token"]
        .as_str()
        .or_else(|| doc["access_token"].as_str())
        .map(str::to_string)
        .ok_or_else(|| "the token answer has no token".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped_whatever_the_size_was() {
        // An endless reader stands for a file that grows while it is read.
        let endless = std::io::repeat(0);
        assert!(read_capped(endless, 1 << 20).unwrap_err().contains("larger than the limit of 1 MiB"));
        assert_eq!(read_capped(&b"\0asm"[..], 1 << 20).unwrap(), b"\0asm");
        assert_eq!(
            read_capped(std::io::Read::take(std::io::repeat(1), 1 << 20), 1 << 20).unwrap().len(),
            1 << 20
        );
    }

    #[test]
    fn loopback_registries_use_http() {
        assert_eq!(registry_base("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(registry_base("localhost:5000"), "http://localhost:5000");
        assert_eq!(registry_base("ghcr.io"), "https://ghcr.io");
        assert_eq!(
            registry_base("123.dkr.ecr.us-east-1.amazonaws.com"),
            "https://123.dkr.ecr.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn digests_are_checked() {
        let d = hex(&Sha256::digest(b"abc"));
        assert!(verify(b"abc", &d, "x").is_ok());
        assert!(verify(b"abd", &d, "x").unwrap_err().contains("digest mismatch"));
    }
}
