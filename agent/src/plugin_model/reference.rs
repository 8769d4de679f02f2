//! Where a plugin comes from: the `plugin:` value of a step, parsed without I/O.
//!
//! Three forms, each pinned so the same buildspec always runs the same code:
//! - a local path (`./plugins/x.wasm`), relative to the source directory;
//! - `https://host/path.wasm#sha256=<64 hex>`: the digest is mandatory;
//! - `oci://registry/repo[:tag]@sha256:<64 hex>`: the manifest digest is mandatory.

use std::fmt;

/// A parsed `plugin:` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginRef {
    Local(String),
    Https { url: String, sha256: String },
    Oci { registry: String, repository: String, tag: Option<String>, digest: String },
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginRef::Local(p) => f.write_str(p),
            PluginRef::Https { url, sha256 } => write!(f, "{url}#sha256={sha256}"),
            PluginRef::Oci { registry, repository, tag, digest } => {
                write!(f, "oci://{registry}/{repository}")?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                write!(f, "@sha256:{digest}")
            }
        }
    }
}

/// Parses a reference; the error says what is wrong and how to write it.
pub fn parse(text: &str) -> Result<PluginRef, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the plugin reference is empty; give a path to a .wasm file".into());
    }
    if let Some(rest) = text.strip_prefix("https://") {
        let Some((url, fragment)) = rest.split_once('#') else {
            return Err(format!(
                "`{text}` has no digest; an https plugin must be pinned: append `#sha256=<hex digest of the .wasm>`"
            ));
        };
        let Some(hex) = fragment.strip_prefix("sha256=") else {
            return Err(format!("`#{fragment}` is not a digest; write `#sha256=<64 hex digits>`"));
        };
        check_hex(hex)?;
        if url.is_empty() || url.starts_with('/') {
            return Err(format!("`{text}` has no host"));
        }
        return Ok(PluginRef::Https { url: format!("https://{url}"), sha256: hex.to_ascii_lowercase() });
    }
    if text.starts_with("http://") {
        return Err(format!("`{text}`: plugins are only downloaded over https"));
    }
    if let Some(rest) = text.strip_prefix("oci://") {
        let Some((name, digest)) = rest.split_once('@') else {
            return Err(format!(
                "`{text}` has no digest; an OCI plugin must be pinned: append `@sha256:<manifest digest>`"
            ));
        };
        let Some(hex) = digest.strip_prefix("sha256:") else {
            return Err(format!("`@{digest}` is not a digest; write `@sha256:<64 hex digits>`"));
        };
        check_hex(hex)?;
        let Some((registry, path)) = name.split_once('/') else {
            return Err(format!(
                "`{text}` needs a registry and a repository: oci://registry/repo:tag@sha256:…"
            ));
        };
        // A colon after the last `/` separates the tag; one before it is the registry's port.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (path, None),
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            });
        if registry.is_empty() || !valid_repo {
            return Err(format!(
                "`{text}`: `{repository}` is not a repository name (lowercase letters, digits, `._-`, `/`)"
            ));
        }
        return Ok(PluginRef::Oci {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest: hex.to_ascii_lowercase(),
        });
    }
    if let Some((scheme, _)) = text.split_once("://") {
        return Err(format!(
            "`{scheme}://` is not a plugin source; use a path, https://…#sha256=… or oci://…"
        ));
    }
    Ok(PluginRef::Local(text.to_string()))
}

fn check_hex(hex: &str) -> Result<(), String> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{hex}` is not a sha256 digest (64 hex digits)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references() {
        let ok: &[(&str, PluginRef)] = &[
            ("./plugins/x.wasm", PluginRef::Local("./plugins/x.wasm".into())),
            ("x.wasm", PluginRef::Local("x.wasm".into())),
            (
                &format!("https://example.com/p/x.wasm#sha256={}", D.to_uppercase()),
                PluginRef::Https { url: "https://example.com/p/x.wasm".into(), sha256: D.into() },
            ),
            (
                &format!("oci://127.0.0.1:5000/tools/sha256sum:1.0@sha256:{D}"),
                PluginRef::Oci {
                    registry: "127.0.0.1:5000".into(),
                    repository: "tools/sha256sum".into(),
                    tag: Some("1.0".into()),
                    digest: D.into(),
                },
            ),
            (
                &format!("oci://ghcr.io/a/b@sha256:{D}"),
                PluginRef::Oci {
                    registry: "ghcr.io".into(),
                    repository: "a/b".into(),
                    tag: None,
                    digest: D.into(),
                },
            ),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text).as_ref(), Ok(want), "{text}");
            // Display gives back a reference that parses to the same thing.
            assert_eq!(parse(&want.to_string()).as_ref(), Ok(want), "{text}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("https://example.com/x.wasm", "has no digest"),
            ("https://example.com/x.wasm#md5=abc", "not a digest"),
            ("https://example.com/x.wasm#sha256=abc", "not a sha256 digest"),
            ("http://example.com/x.wasm#sha256=00", "only downloaded over https"),
            ("oci://ghcr.io/a/b:1", "has no digest"),
            (&format!("oci://ghcr.io@sha256:{D}"), "needs a registry and a repository"),
            (&format!("oci://ghcr.io/A/B@sha256:{D}"), "not a repository name"),
            ("ftp://x/y.wasm", "not a plugin source"),
        ];
        for (text, want) in bad {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
