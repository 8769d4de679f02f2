//! Who may call the API: every request carries an AWS Signature Version 4 for a key pair the
//! server knows (an AWS shared-credentials file), checked the way AWS checks it: the canonical
//! request rebuilt from what arrived, the signing key derived from the secret (aws-sigv4's own
//! derivation), the signatures compared in constant time, and `X-Amz-Date` within 15 minutes.
//! Failures answer as AWS does, so SDKs and the AWS CLI print the usual errors.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Key pairs by access key id, with the profile each was under (the build's `initiator`).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    secrets: BTreeMap<String, (String, String)>,
}

/// Why a request is refused: the HTTP status, the error's `__type` and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

fn refused(status: u16, kind: &'static str, message: impl Into<String>) -> Refused {
    Refused { status, kind, message: message.into() }
}

const SKEW: Duration = Duration::from_secs(15 * 60);

impl Keys {
    /// Reads an AWS shared-credentials file: `[profile]` sections with `aws_access_key_id` and
    /// `aws_secret_access_key`.
    pub fn parse(text: &str) -> Result<Keys, String> {
        let mut keys = Keys::default();
        let mut section: Option<String> = None;
        let mut id: Option<String> = None;
        let mut secret: Option<String> = None;
        let mut finish =
            |section: &Option<String>, id: &mut Option<String>, secret: &mut Option<String>| match (
                id.take(),
                secret.take(),
            ) {
                (Some(i), Some(s)) => {
                    keys.secrets.insert(i, (s, section.clone().unwrap_or_else(|| "default".into())));
                    Ok(())
                }
                (None, None) => Ok(()),
                _ => Err(format!(
                    "profile [{}] needs both aws_access_key_id and aws_secret_access_key",
                    section.as_deref().unwrap_or("")
                )),
            };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                finish(&section, &mut id, &mut secret)?;
                section = Some(name.trim().to_string());
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(format!("line {}: expected `key = value`", n + 1));
            };
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
        finish(&section, &mut id, &mut secret)?;
        if keys.secrets.is_empty() {
            return Err("no key pair in it".into());
        }
        Ok(keys)
    }

    pub fn read(path: &Path) -> Result<Keys, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Keys::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A new key pair in a credentials file (mode 0600), for a server started without one.
    pub fn create(path: &Path) -> Result<Keys, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let id = format!("AKRS{}", &hex::encode(rand_bytes(8)).to_ascii_uppercase());
        let secret = base64_secret(&rand_bytes(30));
        let text = format!(
            "# runspec serve: the key pair this server accepts. Use it as an AWS profile:\n\
             #   AWS_SHARED_CREDENTIALS_FILE={} aws --profile runspec --endpoint-url http://… codebuild list-projects\n\
             [runspec]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n",
            path.display()
        );
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        f.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Keys::parse(&text)
    }

    /// Checks a request's signature; the caller's profile name when it is good. `headers` are
    /// (lowercase name, value) as received. [`Self::precheck`] then [`Signed::verify`].
    #[allow(clippy::too_many_arguments, reason = "one request's parts, as they arrived")]
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: SystemTime,
        scope: &Scope<'_>,
    ) -> Result<String, Refused> {
        self.precheck(method, path, query, headers, now, scope)?.verify(body)
    }

    /// Everything about a request's signature that can be checked before its body is read: a
    /// well-formed `Authorization` for a key this server knows, a fresh `X-Amz-Date`, a
    /// credential scope for this server's region and the target's service, the headers that
    /// must be signed, and a body that is signed (never `UNSIGNED-PAYLOAD`). A request that
    /// fails here is answered without reading its body.
    pub fn precheck(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        now: SystemTime,
        scope: &Scope<'_>,
    ) -> Result<Signed, Refused> {
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let Some(auth) = header("authorization") else {
            return Err(refused(403, "MissingAuthenticationTokenException", "Missing Authentication Token"));
        };
        let malformed = || {
            refused(
                400,
                "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
            )
        };
        let fields = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
            refused(400, "IncompleteSignatureException", "Only AWS4-HMAC-SHA256 signatures are accepted")
        })?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in fields.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
            return Err(malformed());
        };
        let parts: Vec<&str> = credential.split('/').collect();
        if parts.len() != 5 || parts[4] != "aws4_request" {
            return Err(malformed());
        }
        let (key_id, date, region, service) = (parts[0], parts[1], parts[2], parts[3]);
        let Some((secret, profile)) = self.secrets.get(key_id) else {
            return Err(refused(
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };
        if region != scope.region {
            return Err(refused(
                400,
                "InvalidSignatureException",
                format!(
                    "Credential should be scoped to a valid region. The request is signed for `{region}`; this server is `{}` (its --region)",
                    scope.region
                ),
            ));
        }
        if service != scope.service {
            return Err(refused(
                400,
                "InvalidSignatureException",
                format!("Credential should be scoped to correct service: '{}'.", scope.service),
            ));
        }
        let Some(amz_date) = header("x-amz-date") else {
            return Err(refused(400, "IncompleteSignatureException", "The request has no X-Amz-Date header"));
        };
        let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
            refused(400, "IncompleteSignatureException", format!("X-Amz-Date `{amz_date}` is not a date"))
        })?;
        let skew = now.duration_since(signed_at).or_else(|e| Ok::<_, ()>(e.duration())).unwrap_or_default();
        if skew > SKEW {
            return Err(refused(
                400,
                "InvalidSignatureException",
                format!("Signature expired: {amz_date} is more than 15 minutes away from the server's time"),
            ));
        }
        if !amz_date.starts_with(date) {
            return Err(refused(
                400,
                "InvalidSignatureException",
                "The credential scope's date is not X-Amz-Date's",
            ));
        }
        let names: Vec<&str> = signed.split(';').collect();
        for required in REQUIRED_SIGNED {
            if !names.contains(required) {
                return Err(refused(
                    400,
                    "InvalidSignatureException",
                    format!("The signature must cover the {required} header"),
                ));
            }
        }
        if header("x-amz-content-sha256").is_some_and(|v| !is_sha256_hex(v)) {
            return Err(refused(
                400,
                "InvalidSignatureException",
                "X-Amz-Content-SHA256 must be the body's SHA-256: this server does not take unsigned payloads",
            ));
        }
        let mut canonical_headers = String::new();
        for name in &names {
            let values: Vec<String> =
                headers.iter().filter(|(k, _)| k == name).map(|(_, v)| collapse(v)).collect();
            canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        Ok(Signed {
            head: format!(
                "{method}\n{}\n{}\n{canonical_headers}\n{signed}\n",
                canonical_path(path),
                canonical_query(query)
            ),
            string_prefix: format!("AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n"),
            key: aws_sigv4::sign::v4::generate_signing_key(secret, signed_at, region, service)
                .as_ref()
                .to_vec(),
            signature: signature.to_string(),
            declared_sha256: header("x-amz-content-sha256").map(str::to_ascii_lowercase),
            profile: profile.clone(),
        })
    }
}

/// What a request's credential scope must name: this server's region and the service its
/// `X-Amz-Target` belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// Headers every request must sign: the operation, how its body is read, and where it went.
const REQUIRED_SIGNED: &[&str] = &["host", "x-amz-target", "content-type"];

fn is_sha256_hex(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A request whose headers passed [`Keys::precheck`]; its body decides.
pub struct Signed {
    /// The canonical request up to the payload hash.
    head: String,
    string_prefix: String,
    key: Vec<u8>,
    signature: String,
    declared_sha256: Option<String>,
    profile: String,
}

impl Signed {
    /// Checks the signature over `body`; the caller's profile name when it is good.
    pub fn verify(self, body: &[u8]) -> Result<String, Refused> {
        let payload = hex::encode(Sha256::digest(body));
        let mismatch = || {
            refused(
                400,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            )
        };
        if self.declared_sha256.as_ref().is_some_and(|d| *d != payload) {
            return Err(mismatch());
        }
        let canonical = format!("{}{payload}", self.head);
        let string_to_sign =
            format!("{}{}", self.string_prefix, hex::encode(Sha256::digest(canonical.as_bytes())));
        let expected = aws_sigv4::sign::v4::calculate_signature(self.key, string_to_sign.as_bytes());
        if !constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
            return Err(mismatch());
        }
        Ok(self.profile)
    }
}

/// The credentials file as it is now: read again whenever it changes on disk (its size, time or
/// inode), so a key added or removed takes effect on the next request, without a restart. A
/// file that cannot be read or parsed refuses every key (and says so on stderr) until fixed.
pub struct KeyFile {
    path: std::path::PathBuf,
    current: std::sync::Mutex<(Option<Stamp>, std::sync::Arc<Keys>)>,
}

type Stamp = (u64, u64, i64, i64);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

impl KeyFile {
    /// The file must read now.
    pub fn open(path: &Path) -> Result<KeyFile, String> {
        let at = stamp(path);
        let keys = Keys::read(path)?;
        Ok(KeyFile {
            path: path.to_path_buf(),
            current: std::sync::Mutex::new((at, std::sync::Arc::new(keys))),
        })
    }

    pub fn keys(&self) -> std::sync::Arc<Keys> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamp(&self.path);
        if now != current.0 {
            let keys = match Keys::read(&self.path) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!(
                        "runspec serve: the credentials file changed and no key is accepted until it reads again: {e}"
                    );
                    Keys::default()
                }
            };
            *current = (now, std::sync::Arc::new(keys));
        }
        std::sync::Arc::clone(&current.1)
    }
}

fn collapse(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each path segment URI-encoded (as received it is already encoded once; re-encoding `%`
/// would double it, so only characters outside the unreserved set and `%` are encoded).
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    path.split('/').map(|seg| encode(seg, true)).collect::<Vec<_>>().join("/")
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), false), encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

fn encode(s: &str, keep_percent: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'%' if keep_percent => out.push('%'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `20261202T031600Z`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let dt = time::PrimitiveDateTime::parse(s, &format).ok()?.assume_utc();
    Some(SystemTime::from(dt))
}

fn rand_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

fn base64_secret(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes).replace(['+', '/'], "A")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    const FILE: &str = "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n\n[other]\naws_access_key_id=AKID2\naws_secret_access_key=s2\n";

    /// Signs like an SDK (aws-sigv4's signer), returning the headers as they would arrive.
    fn signed(secret: &str, key: &str, body: &str, at: SystemTime) -> Vec<(String, String)> {
        sign_as(secret, key, body, at, ("us-east-1", "codebuild"), SigningSettings::default(), false)
    }

    fn sign_as(
        secret: &str,
        key: &str,
        body: &str,
        at: SystemTime,
        (region, service): (&str, &str),
        settings: SigningSettings,
        unsigned_payload: bool,
    ) -> Vec<(String, String)> {
        let identity = aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let headers = [
            ("host", "127.0.0.1:9000"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "CodeBuild_20161006.ListProjects"),
        ];
        let req = SignableRequest::new(
            "POST",
            "http://127.0.0.1:9000/",
            headers.iter().copied(),
            if unsigned_payload {
                SignableBody::UnsignedPayload
            } else {
                SignableBody::Bytes(body.as_bytes())
            },
        )
        .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut out: Vec<(String, String)> =
            headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for (k, v) in instructions.headers() {
            out.push((k.to_ascii_lowercase(), v.to_string()));
        }
        out
    }

    const HERE: Scope<'static> = Scope { region: "us-east-1", service: "codebuild" };

    #[test]
    fn accepts_what_an_sdk_signs_and_refuses_the_rest() {
        let keys = Keys::parse(FILE).unwrap();
        let now = SystemTime::now();
        let body = r#"{"sortBy":"NAME"}"#;
        let good = signed("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AKIDEXAMPLE", body, now);
        assert_eq!(keys.verify("POST", "/", "", &good, body.as_bytes(), now, &HERE), Ok("default".into()));
        assert_eq!(
            keys.verify("POST", "/", "", &signed("s2", "AKID2", body, now), body.as_bytes(), now, &HERE)
                .unwrap(),
            "other"
        );
        // Another body, a wrong secret, an unknown key, no signature, an old one.
        let kind = |r: Result<String, Refused>| r.unwrap_err().kind;
        assert_eq!(kind(keys.verify("POST", "/", "", &good, b"{}", now, &HERE)), "InvalidSignatureException");
        assert_eq!(
            kind(keys.verify(
                "POST",
                "/",
                "",
                &signed("wrong", "AKIDEXAMPLE", body, now),
                body.as_bytes(),
                now,
                &HERE
            )),
            "InvalidSignatureException"
        );
        assert_eq!(
            kind(keys.verify(
                "POST",
                "/",
                "",
                &signed("x", "AKIDNOPE", body, now),
                body.as_bytes(),
                now,
                &HERE
            )),
            "UnrecognizedClientException"
        );
        let unsigned: Vec<(String, String)> =
            good.iter().filter(|(k, _)| k != "authorization").cloned().collect();
        let r = keys.verify("POST", "/", "", &unsigned, body.as_bytes(), now, &HERE).unwrap_err();
        assert_eq!((r.status, r.kind), (403, "MissingAuthenticationTokenException"));
        let old = now - Duration::from_secs(20 * 60);
        let stale = signed("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AKIDEXAMPLE", body, old);
        let r = keys.verify("POST", "/", "", &stale, body.as_bytes(), now, &HERE).unwrap_err();
        assert!(r.message.starts_with("Signature expired"), "{r:?}");
        // A changed signed header.
        let mut other_target = good.clone();
        for (k, v) in &mut other_target {
            if k == "x-amz-target" {
                *v = "CodeBuild_20161006.DeleteProject".into();
            }
        }
        assert_eq!(
            kind(keys.verify("POST", "/", "", &other_target, body.as_bytes(), now, &HERE)),
            "InvalidSignatureException"
        );
    }

    #[test]
    fn the_scope_the_signed_headers_and_the_payload_are_checked() {
        let keys = Keys::parse(FILE).unwrap();
        let now = SystemTime::now();
        let body = "{}";
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let check = |headers: &[(String, String)]| {
            keys.verify("POST", "/", "", headers, body.as_bytes(), now, &HERE).map_err(|r| r.message)
        };
        let default = || SigningSettings::default();
        let other_region =
            sign_as(secret, "AKIDEXAMPLE", body, now, ("eu-west-1", "codebuild"), default(), false);
        assert!(check(&other_region).unwrap_err().contains("scoped to a valid region"));
        let other_service =
            sign_as(secret, "AKIDEXAMPLE", body, now, ("us-east-1", "logs"), default(), false);
        assert!(check(&other_service).unwrap_err().contains("correct service: 'codebuild'"));
        for header in ["content-type", "x-amz-target"] {
            let mut settings = default();
            settings.excluded_headers = Some(vec![header.into()]);
            let h = sign_as(secret, "AKIDEXAMPLE", body, now, ("us-east-1", "codebuild"), settings, false);
            assert!(check(&h).unwrap_err().contains(&format!("cover the {header} header")), "{header}");
        }
        let mut settings = default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let unsigned =
            sign_as(secret, "AKIDEXAMPLE", body, now, ("us-east-1", "codebuild"), settings.clone(), true);
        assert!(unsigned.iter().any(|(k, v)| k == "x-amz-content-sha256" && v == "UNSIGNED-PAYLOAD"));
        assert!(check(&unsigned).unwrap_err().contains("unsigned payloads"));
        // A declared hash is fine when it is the body's.
        let declared = sign_as(secret, "AKIDEXAMPLE", body, now, ("us-east-1", "codebuild"), settings, false);
        assert_eq!(check(&declared), Ok("default".into()));
    }

    #[test]
    fn a_key_removed_from_the_file_stops_working_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, FILE).unwrap();
        let file = KeyFile::open(&path).unwrap();
        assert!(file.keys().secrets.contains_key("AKID2"));
        std::fs::write(&path, "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n")
            .unwrap();
        assert!(!file.keys().secrets.contains_key("AKID2"));
        assert!(file.keys().secrets.contains_key("AKIDEXAMPLE"));
        std::fs::write(&path, "not a credentials file").unwrap();
        assert!(file.keys().secrets.is_empty(), "a broken file accepts nobody");
        std::fs::remove_file(&path).unwrap();
        assert!(file.keys().secrets.is_empty());
    }

    #[test]
    fn credentials_files() {
        assert!(Keys::parse("[a]\naws_access_key_id = x\n").unwrap_err().contains("needs both"));
        assert!(Keys::parse("# nothing\n").unwrap_err().contains("no key pair"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let created = Keys::create(&path).unwrap();
        assert_eq!(created.secrets.len(), 1);
        assert_eq!(Keys::read(&path).unwrap().secrets, created.secrets);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(Keys::create(&path).is_err(), "never overwritten");
    }
}
