//! Choosing runtime versions from a [`Catalog`] the way CodeBuild reads `runtime-versions`
//! (pure; R-PH-02, R-PH-03):
//!
//! - `python: 3.12` — that version;
//! - `nodejs: 18.x`, `golang: 1.x`, `java: corretto17.x` — the newest version of that major;
//! - `latest` — the newest version;
//! - a version the catalog does not carry — the runtime's `default` entry, with `$VERSION` set
//!   to it (CodeBuild's custom runtime versions), else an error;
//! - `"$NODE_VERSION"` — expanded in the build's environment before it gets here.
//!
//! Every request is checked before anything runs; errors use CodeBuild's wording.

use std::cmp::Ordering;

use super::catalog::Catalog;

/// One runtime to set up, in buildspec order.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub runtime: String,
    /// The version chosen: a catalog key, or the requested version for `default`.
    pub version: String,
    pub commands: Vec<String>,
    /// `Some(v)` when the `default` entry installs `v`: `$VERSION` for its commands.
    pub install: Option<String>,
}

/// Why the selections cannot be made; the message is DOWNLOAD_SOURCE's context (YAML_FILE_ERROR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("Unknown runtime named '{runtime}'. This build image has the following runtimes: {known}")]
    UnknownRuntime { runtime: String, known: String },
    #[error(
        "Unknown runtime version named '{version}' of {runtime}. This build image has the following versions: {known}"
    )]
    UnknownVersion { runtime: String, version: String, known: String },
    #[error("runtime {runtime} {version} requires {needs} {allowed}, but {needs} {chosen} is selected")]
    Conflict { runtime: String, version: String, needs: String, allowed: String, chosen: String },
    #[error("runtime {0} is selected twice")]
    Twice(String),
}

/// Resolves every `(runtime, version)` request.
pub fn select(catalog: &Catalog, requests: &[(String, String)]) -> Result<Vec<Selection>, SelectError> {
    let mut out: Vec<Selection> = Vec::new();
    for (runtime, requested) in requests {
        if out.iter().any(|s| &s.runtime == runtime) {
            return Err(SelectError::Twice(runtime.clone()));
        }
        let Some(rt) = catalog.runtime(runtime) else {
            // Sorted, as CodeBuild lists them.
            let mut known: Vec<&str> = catalog.runtimes.iter().map(|r| r.name.as_str()).collect();
            known.sort_unstable();
            return Err(SelectError::UnknownRuntime { runtime: runtime.clone(), known: known.join(", ") });
        };
        let requested = requested.trim();
        let names: Vec<&str> = rt.versions.iter().map(|v| v.name.as_str()).collect();
        let chosen = if requested.eq_ignore_ascii_case("latest") {
            newest(broadest(names.iter().copied()))
        } else if let Some(major) = requested.strip_suffix(".x").or_else(|| requested.strip_suffix(".X")) {
            newest(broadest(
                names.iter().copied().filter(|n| *n == major || n.starts_with(&format!("{major}."))),
            ))
        } else {
            names.iter().copied().find(|n| *n == requested)
        };
        let selection = match (chosen, &rt.default) {
            (Some(name), _) => {
                let v = rt.versions.iter().find(|v| v.name == name).expect("chosen from these");
                Selection {
                    runtime: runtime.clone(),
                    version: name.to_string(),
                    commands: v.commands.clone(),
                    install: None,
                }
            }
            // A custom version: what the image does not carry, installed by `default`.
            (None, Some(commands)) if !requested.eq_ignore_ascii_case("latest") && !requested.is_empty() => {
                let version = custom_version(runtime, requested);
                Selection {
                    runtime: runtime.clone(),
                    version: requested.to_string(),
                    commands: commands.clone(),
                    install: Some(version),
                }
            }
            (None, _) => {
                return Err(SelectError::UnknownVersion {
                    runtime: runtime.clone(),
                    version: requested.to_string(),
                    known: names.join(", "),
                });
            }
        };
        out.push(selection);
    }
    // A version that requires another runtime's version: the selected one must be among them.
    for s in &out {
        let Some(v) =
            catalog.runtime(&s.runtime).and_then(|r| r.versions.iter().find(|v| v.name == s.version))
        else {
            continue;
        };
        for (needs, allowed) in &v.requires {
            if let Some(other) = out.iter().find(|o| &o.runtime == needs)
                && !allowed.contains(&other.version)
            {
                return Err(SelectError::Conflict {
                    runtime: s.runtime.clone(),
                    version: s.version.clone(),
                    needs: needs.clone(),
                    allowed: allowed.join(" or "),
                    chosen: other.version.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// A `default` entry's command with the version put in for `$VERSION` / `${VERSION}`, as
/// CodeBuild runs and logs it (`pyenv install 3.13.1`); `$VERSIONS` and the like are left alone.
pub fn with_version(command: &str, version: &str) -> String {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("${VERSION}") {
            out.push_str(version);
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("$VERSION")
            && !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            out.push_str(version);
            rest = tail;
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

/// `$VERSION` for a `default` entry. [OPEN] decided here: the requested version as written,
/// without a trailing `.x` (`18.x` installs 18, resolved by the version manager), and for
/// java without the `corretto` prefix (CodeBuild's own default installs
/// `java-$VERSION-amazon-corretto-jdk`).
fn custom_version(runtime: &str, requested: &str) -> String {
    let v = requested.strip_suffix(".x").or_else(|| requested.strip_suffix(".X")).unwrap_or(requested);
    if runtime == "java" {
        return v.strip_prefix("corretto").unwrap_or(v).to_string();
    }
    v.to_string()
}

/// Leaves out names that only refine another one (`3.12.4` when `3.12` is there): a catalog
/// with both names the same install twice, and CodeBuild's own keys are the short ones.
fn broadest<'a>(names: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    let all: Vec<&str> = names.collect();
    let keep: Vec<&str> = all
        .iter()
        .copied()
        .filter(|n| !all.iter().any(|s| s != n && n.starts_with(&format!("{s}."))))
        .collect();
    keep.into_iter()
}

/// The newest of some version names (`1.21` > `1.9`, `corretto21` > `corretto8`).
pub fn newest<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names.max_by(|a, b| compare_versions(a, b))
}

/// Compares version names part by part: runs of digits as numbers, other runs as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let o = match (x, y) {
            (Part::Num(x), Part::Num(y)) => x.cmp(y),
            (Part::Text(x), Part::Text(y)) => x.cmp(y),
            (Part::Num(_), Part::Text(_)) => Ordering::Greater,
            (Part::Text(_), Part::Num(_)) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Num(u128),
    Text(&'a str),
}

fn parts(s: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let digits = bytes[i].is_ascii_digit();
        while i < bytes.len() && bytes[i].is_ascii_digit() == digits && bytes[i] != b'.' {
            i += 1;
        }
        if i == start {
            i += 1; // a `.`
            continue;
        }
        let piece = &s[start..i];
        out.push(match piece.parse::<u128>() {
            Ok(n) if digits => Part::Num(n),
            _ => Part::Text(piece),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::catalog::{self, tests::STANDARD};
    use super::*;

    #[test]
    fn the_version_is_put_into_a_default_command() {
        assert_eq!(
            with_version("pyenv install $VERSION && pyenv global ${VERSION}", "3.13.1"),
            "pyenv install 3.13.1 && pyenv global 3.13.1"
        );
        assert_eq!(
            with_version("echo $VERSIONS $VERSION_X $$ $VERSION", "1"),
            "echo $VERSIONS $VERSION_X $$ 1"
        );
        assert_eq!(with_version("no dollar", "1"), "no dollar");
    }

    type Picked = Vec<(String, String, Option<String>)>;
    type Row = (&'static [(&'static str, &'static str)], Result<Picked, &'static str>);

    fn pick(requests: &[(&str, &str)]) -> Result<Picked, String> {
        let c = catalog::parse(STANDARD).unwrap();
        let r: Vec<(String, String)> = requests.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        select(&c, &r)
            .map(|s| s.into_iter().map(|s| (s.runtime, s.version, s.install)).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_of_runtime_versions() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string(), None);
        let table: &[Row] = &[
            (&[("golang", "1.20")], Ok(vec![s("golang", "1.20")])),
            (&[("golang", "1.x")], Ok(vec![s("golang", "1.21")])),
            (&[("golang", "latest")], Ok(vec![s("golang", "1.21")])),
            (&[("nodejs", "18")], Ok(vec![s("nodejs", "18")])),
            (&[("nodejs", "18.x")], Ok(vec![s("nodejs", "18")])),
            (&[("nodejs", "latest")], Ok(vec![s("nodejs", "20")])),
            (&[("java", "corretto17")], Ok(vec![s("java", "corretto17")])),
            (&[("java", "corretto17.x")], Ok(vec![s("java", "corretto17")])),
            (&[("java", "latest")], Ok(vec![s("java", "corretto21")])),
            (&[("golang", "1.22.3")], Ok(vec![("golang".into(), "1.22.3".into(), Some("1.22.3".into()))])),
            (&[("golang", "1.19.x")], Ok(vec![("golang".into(), "1.19.x".into(), Some("1.19".into()))])),
            (
                &[("nodejs", "18"), ("java", "corretto21")],
                Ok(vec![s("nodejs", "18"), s("java", "corretto21")]),
            ),
            (
                &[("android", "29"), ("java", "corretto17")],
                Ok(vec![s("android", "29"), s("java", "corretto17")]),
            ),
            (
                &[("docker", "20")],
                Err(
                    "Unknown runtime named 'docker'. This build image has the following runtimes: android, golang, java, nodejs",
                ),
            ),
            (
                &[("nodejs", "16")],
                Err(
                    "Unknown runtime version named '16' of nodejs. This build image has the following versions: 18, 20",
                ),
            ),
            (&[("nodejs", "16.x")], Err("Unknown runtime version named '16.x' of nodejs.")),
            (
                &[("android", "29"), ("java", "corretto21")],
                Err("requires java corretto17, but java corretto21 is selected"),
            ),
            (&[("nodejs", "18"), ("nodejs", "20")], Err("selected twice")),
        ];
        for (requests, want) in table {
            match (pick(requests), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{requests:?}"),
                (Err(got), Err(want)) => {
                    assert!(got.starts_with(want) || got.contains(want), "{requests:?}: {got}")
                }
                (got, want) => panic!("{requests:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn versions_order_by_number() {
        let table = [
            ("1.21", "1.9", Ordering::Greater),
            ("1.20", "1.2", Ordering::Greater),
            ("corretto21", "corretto8", Ordering::Greater),
            ("3.12.1", "3.12", Ordering::Greater),
            ("20", "18", Ordering::Greater),
            ("3.10", "3.10", Ordering::Equal),
        ];
        for (a, b, want) in table {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
        assert_eq!(custom_version("java", "corretto22"), "22");
        assert_eq!(custom_version("python", "3.13.1"), "3.13.1");
    }
}
