//! Remote plugins: `https://…#sha256=…` from a local TLS server (a private CA trusted through
//! `SSL_CERT_FILE`) and `oci://…@sha256:…` from a real registry (Debian's docker-registry,
//! started by scripts/test.sh). Each test checks the digest pin, the download cache, and that
//! what goes wrong is said plainly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use sha2::{Digest, Sha256};

use super::plugins::plugins_dir;

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `runspec plugin run REF --with mode=ok` in `dir`, with its own download/compile cache.
fn plugin_run(dir: &Path, cache: &Path, reference: &str, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runspec"));
    cmd.args(["plugin", "run", reference, "--with", "mode=ok"])
        .current_dir(dir)
        .env("RUNSPEC_CACHE_DIR", cache)
        .env_remove("SSL_CERT_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A private CA and a certificate for 127.0.0.1 signed by it (rustls refuses a self-signed CA
/// certificate as a server certificate, so this is the shape a real private PKI has).
fn make_certificates(dir: &Path) {
    let script = "set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 1 -subj /CN=runspec-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
  -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 \
  -extfile ext.cnf 2>/dev/null";
    let status = Command::new("sh").args(["-c", script]).current_dir(dir).status().unwrap();
    assert!(status.success(), "openssl failed");
}

/// Serves `root` over HTTPS on a free loopback port. `/huge-declared` announces a body over the
/// size limit; `/huge-streamed` streams one without a length.
const SERVER: &str = r#"
import http.server, ssl, sys
root, cert, key = sys.argv[1:4]
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def __init__(self, *a, **k): super().__init__(*a, directory=root, **k)
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/huge-declared":
            self.send_response(200); self.send_header("Content-Length", str(300 << 20)); self.end_headers()
        elif self.path == "/huge-streamed":
            self.send_response(200); self.end_headers()
            chunk = b"\0" * (1 << 20)
            try:
                for _ in range(300): self.wfile.write(chunk)
            except OSError: pass
        else:
            super().do_GET()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(cert, key)
s.socket = c.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn https_server(root: &Path, certs: &Path) -> (Server, u16) {
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(root)
        .arg(certs.join("server.pem"))
        .arg(certs.join("server.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the HTTPS test server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| panic!("server did not start: {line:?}"));
    (Server(child), port)
}

#[test]
fn https_plugins_are_pinned_by_digest_and_downloaded_once() {
    let work = tempfile::tempdir().unwrap();
    let (root, certs, cache) =
        (work.path().join("www"), work.path().join("certs"), work.path().join("cache"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    make_certificates(&certs);
    let wasm = std::fs::read(plugins_dir().join("probe.wasm")).unwrap();
    std::fs::write(root.join("probe.wasm"), &wasm).unwrap();
    let digest = hex(&wasm);
    let (server, port) = https_server(&root, &certs);
    let url = format!("https://127.0.0.1:{port}/probe.wasm#sha256={digest}");
    let ca = certs.join("ca.pem");
    let trusted = [("SSL_CERT_FILE", ca.as_path())];

    // The private CA is not trusted by default: a TLS error, not a download.
    let out = plugin_run(work.path(), &cache, &url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));

    // Trusted through SSL_CERT_FILE: downloaded, checked, run.
    let out = plugin_run(work.path(), &cache, &url, &trusted);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("probe ok"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(cache.join(format!("plugins/blobs/sha256-{digest}.wasm")).is_file());

    // A pin that does not match what the server has: refused, with both digests.
    let wrong = "0".repeat(64);
    let out = plugin_run(
        work.path(),
        &cache,
        &format!("https://127.0.0.1:{port}/probe.wasm#sha256={wrong}"),
        &trusted,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "digest mismatch: the reference pins sha256:{wrong} but the download is sha256:{digest}"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!cache.join(format!("plugins/blobs/sha256-{wrong}.wasm")).exists());

    // Over the size limit, announced or streamed: refused without reading it all. (Another pin:
    // the probe's digest is in the cache now, and a cached digest is never downloaded again.)
    let digest = "2".repeat(64);
    for (path, says) in [
        ("huge-declared", "300 MiB is over the 256 MiB limit"),
        ("huge-streamed", "more than the 256 MiB limit"),
    ] {
        let out = plugin_run(
            work.path(),
            &cache,
            &format!("https://127.0.0.1:{port}/{path}#sha256={digest}"),
            &trusted,
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(says), "{path}: {}", stderr(&out));
    }

    // A missing file is the server's answer, named.
    let out = plugin_run(
        work.path(),
        &cache,
        &format!("https://127.0.0.1:{port}/nope.wasm#sha256={digest}"),
        &trusted,
    );
    assert!(stderr(&out).contains("the server answered 404 Not Found"), "{}", stderr(&out));

    // Downloaded once: with the server gone, the pinned plugin still runs from the cache.
    drop(server);
    let out = plugin_run(work.path(), &cache, &url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn registry() -> String {
    std::env::var("RUNSPEC_TEST_OCI_REGISTRY")
        .expect("RUNSPEC_TEST_OCI_REGISTRY is not set: run scripts/test.sh")
}

/// Pushes `blobs` and a manifest naming them to `repo:tag`; returns the manifest's digest.
fn push_artifact(repo: &str, tag: &str, config: &[u8], layer: (&str, &[u8])) -> String {
    let base = format!("http://{}/v2/{repo}", registry());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        for blob in [config, layer.1] {
            let start = client.post(format!("{base}/blobs/uploads/")).send().await.unwrap();
            assert_eq!(start.status(), 202, "{}", start.text().await.unwrap());
            let location = start.headers()["location"].to_str().unwrap().to_string();
            let location = if location.starts_with("http") {
                location
            } else {
                format!("http://{}{location}", registry())
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let put = client
                .put(format!("{location}{sep}digest=sha256:{}", hex(blob)))
                .header("Content-Type", "application/octet-stream")
                .body(blob.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/wasm",
            "config": {
                "mediaType": "application/vnd.wasm.config.v0+json",
                "digest": format!("sha256:{}", hex(config)),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": layer.0,
                "digest": format!("sha256:{}", hex(layer.1)),
                "size": layer.1.len(),
            }],
        });
        let body = serde_json::to_vec(&manifest).unwrap();
        let put = client
            .put(format!("{base}/manifests/{tag}"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
        hex(&body)
    })
}

#[test]
#[ignore = "needs an OCI registry: run scripts/test.sh"]
fn oci_plugins_are_pulled_from_a_registry_by_digest() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let wasm = std::fs::read(plugins_dir().join("probe.wasm")).unwrap();
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#;
    // A unique repository per run: the registry outlives the test.
    let repo = format!("plugins/probe-{}", std::process::id());
    let digest = push_artifact(&repo, "1.0", config, ("application/wasm", &wasm));
    let reference = format!("oci://{}/{repo}:1.0@sha256:{digest}", registry());

    // Through a buildspec: the plugin step pulls, checks and runs the artifact.
    let ctx = super::support::Ctx::new(&format!(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: {reference}
        with: {{ mode: ok }}
"
    ));
    let run = ctx.run();
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(run.stdout.contains(&format!("Running plugin {reference}")), "{}", run.stdout);
    assert!(run.stdout.contains("succeeded: probe ok"), "{}", run.stdout);

    // Standalone: pulled into its own cache, the layer kept by its digest.
    let out = plugin_run(work.path(), &cache, &reference, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(cache.join(format!("plugins/blobs/sha256-{}.wasm", hex(&wasm))).is_file());

    // A digest the registry does not have: the registry's answer, named.
    let missing = format!("oci://{}/{repo}:1.0@sha256:{}", registry(), "1".repeat(64));
    let out = plugin_run(work.path(), &cache, &missing, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the server answered 404 Not Found"), "{}", stderr(&out));

    // An artifact without a wasm layer (say, a container image pushed under the same name).
    let other =
        push_artifact(&repo, "image", config, ("application/vnd.oci.image.layer.v1.tar+gzip", b"not wasm"));
    let out =
        plugin_run(work.path(), &cache, &format!("oci://{}/{repo}:image@sha256:{other}", registry()), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the artifact has no wasm layer"), "{}", stderr(&out));
}
