//! A StartBuild call against a stored project, resolved (pure): the project with the call's
//! overrides applied (the "effective project", which the build then reads like a
//! `--project` file), and where its source comes from.

use serde_json::{Value, json};

use crate::source::location::GitLocation;
use crate::source::revision::Revision;

/// Where a build's primary source comes from. Every value in it has been checked: a git
/// location and version can reach git's command line.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// NO_SOURCE: an empty directory; the buildspec must be inline.
    None,
    /// A directory on the server's machine (runspec's `LOCAL` source type), read only where
    /// the operator allows ([`crate::source::Policy`]).
    Local(String),
    /// GITHUB, GITLAB, BITBUCKET, CODECOMMIT, GITHUB_ENTERPRISE, GITLAB_SELF_MANAGED: cloned.
    Git { location: GitLocation, version: Option<Revision>, depth: Option<u64> },
    /// S3: `bucket/key` of a ZIP, at an object version when the build names one.
    S3 { bucket: String, key: String, version: Option<String> },
}

pub const GIT_TYPES: &[&str] =
    &["GITHUB", "GITLAB", "BITBUCKET", "CODECOMMIT", "GITHUB_ENTERPRISE", "GITLAB_SELF_MANAGED"];

/// `InvalidInputException` messages.
pub type Invalid = String;

/// The project with StartBuild's overrides in place.
pub fn effective_project(project: &Value, start: &Value) -> Result<Value, Invalid> {
    let mut p = project.clone();
    let get = |k: &str| start.get(k).filter(|v| !v.is_null());
    if !p["source"].is_object() {
        p["source"] = json!({"type": "NO_SOURCE"});
    }
    if let Some(t) = get("sourceTypeOverride") {
        p["source"]["type"] = t.clone();
    }
    if let Some(l) = get("sourceLocationOverride") {
        p["source"]["location"] = l.clone();
    }
    if let Some(b) = get("buildspecOverride") {
        p["source"]["buildspec"] = b.clone();
    }
    if let Some(d) = get("gitCloneDepthOverride") {
        p["source"]["gitCloneDepth"] = d.clone();
    }
    if !p["environment"].is_object() {
        p["environment"] = json!({});
    }
    for (from, to) in [
        ("imageOverride", "image"),
        ("privilegedModeOverride", "privilegedMode"),
        ("computeTypeOverride", "computeType"),
        ("environmentTypeOverride", "type"),
    ] {
        if let Some(v) = get(from) {
            p["environment"][to] = v.clone();
        }
    }
    if let Some(vars) = get("environmentVariablesOverride") {
        let vars = vars.as_array().ok_or("environmentVariablesOverride must be a list")?;
        let mut list: Vec<Value> =
            p["environment"]["environmentVariables"].as_array().cloned().unwrap_or_default();
        for v in vars {
            let name = v["name"].as_str().ok_or("environmentVariablesOverride: a variable has no name")?;
            list.retain(|old| old["name"].as_str() != Some(name));
            list.push(v.clone());
        }
        p["environment"]["environmentVariables"] = Value::Array(list);
    }
    if let Some(t) = get("timeoutInMinutesOverride") {
        let minutes = t.as_u64().filter(|m| (5..=2160).contains(m)).ok_or_else(|| {
            format!("1 validation error detected: Value '{t}' at 'timeoutInMinutesOverride' failed to satisfy constraint: Member must have value between 5 and 2160")
        })?;
        p["timeoutInMinutes"] = json!(minutes);
    }
    if let Some(t) = get("queuedTimeoutInMinutesOverride") {
        p["queuedTimeoutInMinutes"] = t.clone();
    }
    if let Some(n) = get("autoRetryLimitOverride") {
        p["autoRetryLimit"] = n.clone();
    }
    if let Some(a) = get("artifactsOverride") {
        p["artifacts"] = a.clone();
    }
    if let Some(a) = get("secondaryArtifactsOverride") {
        p["secondaryArtifacts"] = a.clone();
    }
    if let Some(c) = get("cacheOverride") {
        p["cache"] = c.clone();
    }
    if let Some(s) = get("secondarySourcesOverride") {
        p["secondarySources"] = s.clone();
    }
    if let Some(v) = get("secondarySourcesVersionOverride") {
        p["secondarySourceVersions"] = v.clone();
    }
    if let Some(v) = get("sourceVersion") {
        p["sourceVersion"] = v.clone();
    }
    Ok(p)
}

/// The primary source of an effective project.
pub fn source(effective: &Value) -> Result<SourceSpec, Invalid> {
    let src = &effective["source"];
    source_of(src, effective["sourceVersion"].as_str())
}

/// One source object (`source` or an element of `secondarySources`).
pub fn source_of(src: &Value, version: Option<&str>) -> Result<SourceSpec, Invalid> {
    let kind = src["type"].as_str().unwrap_or("NO_SOURCE");
    let location = src["location"].as_str().filter(|l| !l.is_empty());
    let buildspec = src["buildspec"].as_str().filter(|b| !b.is_empty());
    match kind {
        "NO_SOURCE" => {
            if buildspec.is_none_or(|b| !b.contains('\n')) {
                return Err(
                    "a NO_SOURCE project needs an inline buildspec (source.buildspec or buildspecOverride)"
                        .into(),
                );
            }
            Ok(SourceSpec::None)
        }
        "LOCAL" => Ok(SourceSpec::Local(
            location.ok_or("a LOCAL source needs a location (a directory)")?.to_string(),
        )),
        "S3" => {
            let l = location.ok_or("an S3 source needs a location (bucket/key.zip)")?;
            let l = l.strip_prefix("arn:aws:s3:::").unwrap_or(l);
            let version = version.or(src["sourceVersion"].as_str()).filter(|v| !v.is_empty());
            if let Some(v) = version
                && (v.len() > 1024 || v.chars().any(|c| c.is_control()))
            {
                return Err("an S3 source version is an object version id: at most 1024 characters, no control characters".into());
            }
            match l.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(SourceSpec::S3 {
                    bucket: bucket.into(),
                    key: key.into(),
                    version: version.map(str::to_string),
                }),
                _ => Err(format!("the S3 source location `{l}` is not bucket/key")),
            }
        }
        k if GIT_TYPES.contains(&k) => {
            let given = location.ok_or_else(|| format!("a {k} source needs a location (a clone URL)"))?;
            let version = version.or(src["sourceVersion"].as_str()).filter(|v| !v.is_empty());
            let depth = match &src["gitCloneDepth"] {
                Value::Null => None,
                d => Some(d.as_u64().ok_or_else(|| {
                    format!("1 validation error detected: Value '{d}' at 'gitCloneDepth' failed to satisfy constraint: Member must have value greater than or equal to 0")
                })?),
            };
            Ok(SourceSpec::Git {
                location: GitLocation::parse(given)?,
                version: version.map(Revision::parse).transpose()?,
                depth: depth.filter(|d| *d > 0),
            })
        }
        "CODEPIPELINE" => {
            Err("CODEPIPELINE sources come from CodePipeline; runspec serve cannot fetch them".into())
        }
        other => Err(format!(
            "unknown source type `{other}`; use NO_SOURCE, S3, LOCAL or a git type ({})",
            GIT_TYPES.join(", ")
        )),
    }
}

/// The secondary sources of an effective project with their identifiers, each at its version
/// (`secondarySourcesVersionOverride`, else its own `sourceVersion`), all checked.
pub fn secondary_sources(effective: &Value) -> Result<Vec<(String, SourceSpec)>, Invalid> {
    let mut out = Vec::new();
    for src in effective["secondarySources"].as_array().into_iter().flatten() {
        let id = src["sourceIdentifier"].as_str().ok_or("a secondary source has no sourceIdentifier")?;
        if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "the secondary source identifier `{}` must be letters, digits and `_` (at most 128)",
                id.escape_debug()
            ));
        }
        let version = effective["secondarySourceVersions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["sourceIdentifier"] == id)
            .and_then(|v| v["sourceVersion"].as_str())
            .or(src["sourceVersion"].as_str());
        let spec = match source_of(src, version) {
            // A secondary source with no source of its own is an empty directory.
            Err(_) if src["type"] == "NO_SOURCE" => SourceSpec::None,
            other => other.map_err(|e| format!("secondary source {id}: {e}"))?,
        };
        out.push((id.to_string(), spec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_land_in_the_project() {
        let project = json!({
            "name": "p",
            "source": {"type": "GITHUB", "location": "https://example.invalid/r.git"},
            "environment": {"image": "a", "environmentVariables": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        });
        let start = json!({
            "projectName": "p",
            "sourceVersion": "main",
            "imageOverride": "b",
            "buildspecOverride": "version: 0.2\nphases: {}\n",
            "environmentVariablesOverride": [{"name": "B", "value": "3"}, {"name": "C", "value": "4", "type": "PLAINTEXT"}],
            "timeoutInMinutesOverride": 10,
            "gitCloneDepthOverride": 1,
        });
        let e = effective_project(&project, &start).unwrap();
        assert_eq!(e["environment"]["image"], "b");
        let vars: Vec<(&str, &str)> = e["environment"]["environmentVariables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v["value"].as_str().unwrap()))
            .collect();
        assert_eq!(vars, [("A", "1"), ("B", "3"), ("C", "4")]);
        assert_eq!(e["timeoutInMinutes"], 10);
        assert_eq!(
            source(&e).unwrap(),
            SourceSpec::Git {
                location: GitLocation::Remote("https://example.invalid/r.git".into()),
                version: Some(Revision::Name("main".into())),
                depth: Some(1)
            }
        );
        assert!(
            effective_project(&project, &json!({"timeoutInMinutesOverride": 3}))
                .unwrap_err()
                .contains("between 5 and 2160")
        );
    }

    #[test]
    fn sources() {
        let table = [
            (json!({"type": "NO_SOURCE", "buildspec": "version: 0.2\n"}), Ok(SourceSpec::None)),
            (json!({"type": "NO_SOURCE"}), Err("inline buildspec")),
            (json!({"type": "NO_SOURCE", "buildspec": "ci/buildspec.yml"}), Err("inline buildspec")),
            (json!({"type": "LOCAL", "location": "/src"}), Ok(SourceSpec::Local("/src".into()))),
            (
                json!({"type": "S3", "location": "b/k/src.zip"}),
                Ok(SourceSpec::S3 { bucket: "b".into(), key: "k/src.zip".into(), version: None }),
            ),
            (
                json!({"type": "GITHUB", "location": "https://h/r", "sourceVersion": "--upload-pack=x"}),
                Err("starts with `-`"),
            ),
            (json!({"type": "GITHUB", "location": "ext::sh -c x"}), Err("space")),
            (json!({"type": "GITHUB", "location": "ext::sh"}), Err("transport helper")),
            (json!({"type": "GITHUB", "location": "-uhttps://h/r"}), Err("starts with `-`")),
            (
                json!({"type": "GITHUB", "location": "https://h/r", "gitCloneDepth": -1}),
                Err("greater than or equal to 0"),
            ),
            (
                json!({"type": "GITHUB", "location": "https://h/r", "gitCloneDepth": "1"}),
                Err("greater than or equal to 0"),
            ),
            (json!({"type": "S3", "location": "b"}), Err("not bucket/key")),
            (json!({"type": "CODECOMMIT"}), Err("clone URL")),
            (json!({"type": "SVN"}), Err("unknown source type `SVN`")),
        ];
        for (src, expected) in table {
            match (source_of(&src, None), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{src}: {got:?} vs {want:?}"),
            }
        }
    }
}
