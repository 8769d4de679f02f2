//! A StartBuild call against a stored project, resolved (pure): the project with the call's
//! overrides applied (the "effective project", which the build then runs), and where its sources
//! come from, every value checked.

use serde::{Deserialize, Serialize};

use crate::shapes::codebuild as cb;
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

/// What started a build: its StartBuild input, and what only runspec itself sets (never read
/// from a request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Started {
    #[serde(flatten)]
    pub input: cb::StartBuildInput,
    /// The batch the build is a child of (set by the batch's coordinator).
    #[serde(rename = "buildBatchArn", default, skip_serializing_if = "Option::is_none")]
    pub batch_arn: Option<String>,
    /// An automatic retry: which one, and of which build.
    #[serde(rename = "runspec:autoRetry", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry: Option<AutoRetryOf>,
    /// A build of a pipeline execution's action: its request waits in this process under `key`
    /// ([`crate::serve::pipelines`]).
    #[serde(rename = "runspec:pipeline", default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineOf>,
    /// A build a webhook delivery started: its `CODEBUILD_WEBHOOK_*` variables.
    #[serde(rename = "runspec:webhook", default, skip_serializing_if = "Vec::is_empty")]
    pub webhook: Vec<(String, String)>,
}

/// Which pipeline execution a build belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineOf {
    pub pipeline: String,
    pub execution: String,
    pub action: String,
    pub key: String,
}

/// Which automatic retry a build is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutoRetryOf {
    pub number: i64,
    pub previous: String,
}

impl Started {
    pub fn new(input: cb::StartBuildInput) -> Started {
        Started { input, ..Default::default() }
    }
}

fn set<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
    if from.is_some() {
        into.clone_from(from);
    }
}

/// The project with StartBuild's overrides in place (CodeBuild's precedence: an override
/// replaces the project's setting; variables are merged by name, the override's winning).
pub fn effective_project(project: &cb::Project, start: &cb::StartBuildInput) -> cb::Project {
    let mut p = project.clone();
    let source =
        p.source.get_or_insert_with(|| cb::ProjectSource { kind: "NO_SOURCE".into(), ..Default::default() });
    if let Some(t) = &start.source_type_override {
        source.kind.clone_from(t);
    }
    set(&mut source.location, &start.source_location_override);
    set(&mut source.buildspec, &start.buildspec_override);
    set(&mut source.git_clone_depth, &start.git_clone_depth_override);
    set(&mut source.git_submodules_config, &start.git_submodules_config_override);
    set(&mut source.auth, &start.source_auth_override);
    set(&mut source.insecure_ssl, &start.insecure_ssl_override);
    set(&mut source.report_build_status, &start.report_build_status_override);
    set(&mut source.build_status_config, &start.build_status_config_override);
    let env = p.environment.get_or_insert_with(Default::default);
    if let Some(i) = &start.image_override {
        env.image.clone_from(i);
    }
    if let Some(t) = &start.environment_type_override {
        env.kind.clone_from(t);
    }
    if let Some(c) = &start.compute_type_override {
        env.compute_type.clone_from(c);
    }
    set(&mut env.privileged_mode, &start.privileged_mode_override);
    set(&mut env.certificate, &start.certificate_override);
    set(&mut env.registry_credential, &start.registry_credential_override);
    set(&mut env.image_pull_credentials_type, &start.image_pull_credentials_type_override);
    set(&mut env.fleet, &start.fleet_override);
    set(&mut env.host_kernel, &start.host_kernel_override);
    if let Some(vars) = &start.environment_variables_override {
        env.environment_variables =
            Some(merged(env.environment_variables.as_deref().unwrap_or_default(), vars));
    }
    set(&mut p.timeout_in_minutes, &start.timeout_in_minutes_override);
    set(&mut p.queued_timeout_in_minutes, &start.queued_timeout_in_minutes_override);
    set(&mut p.auto_retry_limit, &start.auto_retry_limit_override);
    set(&mut p.service_role, &start.service_role_override);
    set(&mut p.encryption_key, &start.encryption_key_override);
    set(&mut p.logs_config, &start.logs_config_override);
    if let Some(a) = &start.artifacts_override {
        p.artifacts = Some(a.clone());
    }
    set(&mut p.secondary_artifacts, &start.secondary_artifacts_override);
    if let Some(c) = &start.cache_override {
        p.cache = Some(c.clone());
    }
    set(&mut p.secondary_sources, &start.secondary_sources_override);
    set(&mut p.secondary_source_versions, &start.secondary_sources_version_override);
    set(&mut p.source_version, &start.source_version);
    p
}

/// Variables merged by name, in one pass: the project's in their order with overridden values,
/// then the new ones in theirs (a last duplicate wins, as the override list is read in order).
fn merged(
    base: &[cb::EnvironmentVariable],
    over: &[cb::EnvironmentVariable],
) -> Vec<cb::EnvironmentVariable> {
    use std::collections::HashMap;
    let last: HashMap<&str, usize> = over.iter().enumerate().map(|(i, v)| (v.name.as_str(), i)).collect();
    let mut out: Vec<cb::EnvironmentVariable> =
        base.iter().filter(|v| !last.contains_key(v.name.as_str())).cloned().collect();
    out.extend(
        over.iter().enumerate().filter(|(i, v)| last.get(v.name.as_str()) == Some(i)).map(|(_, v)| v.clone()),
    );
    out
}

/// The StartBuild input a batch's StartBuildBatch input stands for (its overrides, named for
/// builds): what each child starts from.
pub fn batch_start(batch: &cb::StartBuildBatchInput) -> cb::StartBuildInput {
    cb::StartBuildInput {
        project_name: batch.project_name.clone(),
        secondary_sources_override: batch.secondary_sources_override.clone(),
        secondary_sources_version_override: batch.secondary_sources_version_override.clone(),
        source_version: batch.source_version.clone(),
        artifacts_override: batch.artifacts_override.clone(),
        secondary_artifacts_override: batch.secondary_artifacts_override.clone(),
        environment_variables_override: batch.environment_variables_override.clone(),
        source_type_override: batch.source_type_override.clone(),
        source_location_override: batch.source_location_override.clone(),
        source_auth_override: batch.source_auth_override.clone(),
        git_clone_depth_override: batch.git_clone_depth_override,
        git_submodules_config_override: batch.git_submodules_config_override.clone(),
        buildspec_override: batch.buildspec_override.clone(),
        insecure_ssl_override: batch.insecure_ssl_override,
        environment_type_override: batch.environment_type_override.clone(),
        image_override: batch.image_override.clone(),
        compute_type_override: batch.compute_type_override.clone(),
        certificate_override: batch.certificate_override.clone(),
        cache_override: batch.cache_override.clone(),
        service_role_override: batch.service_role_override.clone(),
        privileged_mode_override: batch.privileged_mode_override,
        timeout_in_minutes_override: batch.build_timeout_in_minutes_override,
        queued_timeout_in_minutes_override: batch.queued_timeout_in_minutes_override,
        encryption_key_override: batch.encryption_key_override.clone(),
        logs_config_override: batch.logs_config_override.clone(),
        registry_credential_override: batch.registry_credential_override.clone(),
        image_pull_credentials_type_override: batch.image_pull_credentials_type_override.clone(),
        ..Default::default()
    }
}

/// The project a batch runs against: the project with the batch's overrides, and its
/// `buildBatchConfigOverride`.
pub fn effective_batch(project: &cb::Project, batch: &cb::StartBuildBatchInput) -> cb::Project {
    let mut p = effective_project(project, &batch_start(batch));
    if let Some(c) = &batch.build_batch_config_override {
        p.build_batch_config = Some(c.clone());
    }
    p
}

/// The primary source of an effective project.
pub fn source(effective: &cb::Project) -> Result<SourceSpec, Invalid> {
    let none = cb::ProjectSource { kind: "NO_SOURCE".into(), ..Default::default() };
    source_of(effective.source.as_ref().unwrap_or(&none), effective.source_version.as_deref())
}

/// One source object (`source` or an element of `secondarySources`) at `version`.
pub fn source_of(src: &cb::ProjectSource, version: Option<&str>) -> Result<SourceSpec, Invalid> {
    let location = src.location.as_deref().filter(|l| !l.is_empty());
    let buildspec = src.buildspec.as_deref().filter(|b| !b.is_empty());
    let version = version.filter(|v| !v.is_empty());
    match src.kind.as_str() {
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
            let depth = match src.git_clone_depth {
                Some(d) if d < 0 => {
                    return Err(format!(
                        "1 validation error detected: Value '{d}' at 'gitCloneDepth' failed to satisfy constraint: Member must have value greater than or equal to 0"
                    ));
                }
                d => d.map(|d| d as u64).filter(|d| *d > 0),
            };
            Ok(SourceSpec::Git {
                location: GitLocation::parse(given)?,
                version: version.map(Revision::parse).transpose()?,
                depth,
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
/// (`secondarySourcesVersionOverride`, else the project's `secondarySourceVersions`), all
/// checked.
pub fn secondary_sources(effective: &cb::Project) -> Result<Vec<(String, SourceSpec)>, Invalid> {
    let mut out = Vec::new();
    let versions = effective.secondary_source_versions.as_deref().unwrap_or_default();
    for src in effective.secondary_sources.as_deref().unwrap_or_default() {
        let id = src.source_identifier.as_deref().ok_or("a secondary source has no sourceIdentifier")?;
        if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "the secondary source identifier `{}` must be letters, digits and `_` (at most 128)",
                id.escape_debug()
            ));
        }
        let version = versions.iter().find(|v| v.source_identifier == id).map(|v| v.source_version.as_str());
        let spec = match source_of(src, version) {
            // A secondary source with no source of its own is an empty directory.
            Err(_) if src.kind == "NO_SOURCE" => SourceSpec::None,
            other => other.map_err(|e| format!("secondary source {id}: {e}"))?,
        };
        out.push((id.to_string(), spec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> cb::EnvironmentVariable {
        cb::EnvironmentVariable { name: name.into(), value: value.into(), kind: None }
    }

    #[test]
    fn overrides_land_in_the_project() {
        let project = cb::Project {
            name: Some("p".into()),
            source: Some(cb::ProjectSource {
                kind: "GITHUB".into(),
                location: Some("https://example.invalid/r.git".into()),
                ..Default::default()
            }),
            environment: Some(cb::ProjectEnvironment {
                image: "a".into(),
                environment_variables: Some(vec![var("A", "1"), var("B", "2")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let start = cb::StartBuildInput {
            project_name: "p".into(),
            source_version: Some("main".into()),
            image_override: Some("b".into()),
            buildspec_override: Some("version: 0.2\nphases: {}\n".into()),
            environment_variables_override: Some(vec![var("B", "3"), var("C", "4"), var("B", "5")]),
            timeout_in_minutes_override: Some(10),
            git_clone_depth_override: Some(1),
            ..Default::default()
        };
        let e = effective_project(&project, &start);
        let env = e.environment.as_ref().unwrap();
        assert_eq!(env.image, "b");
        let vars: Vec<(&str, &str)> = env
            .environment_variables
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(vars, [("A", "1"), ("C", "4"), ("B", "5")]);
        assert_eq!(e.timeout_in_minutes, Some(10));
        assert_eq!(
            source(&e).unwrap(),
            SourceSpec::Git {
                location: GitLocation::Remote("https://example.invalid/r.git".into()),
                version: Some(Revision::Name("main".into())),
                depth: Some(1)
            }
        );
    }

    #[test]
    fn thirty_thousand_overrides_merge_in_linear_time() {
        let base: Vec<_> = (0..30_000).map(|i| var(&format!("V{i}"), "p")).collect();
        let over: Vec<_> = (0..30_000).map(|i| var(&format!("V{}", i * 2), "o")).collect();
        let t = std::time::Instant::now();
        let out = merged(&base, &over);
        assert_eq!(out.len(), 45_000);
        // A hang-catcher only: the old quadratic merge took seconds.
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn sources() {
        let src = |kind: &str, location: Option<&str>, buildspec: Option<&str>| cb::ProjectSource {
            kind: kind.into(),
            location: location.map(str::to_string),
            buildspec: buildspec.map(str::to_string),
            ..Default::default()
        };
        let table = [
            (src("NO_SOURCE", None, Some("version: 0.2\n")), None, Ok(SourceSpec::None)),
            (src("NO_SOURCE", None, None), None, Err("inline buildspec")),
            (src("NO_SOURCE", None, Some("ci/buildspec.yml")), None, Err("inline buildspec")),
            (src("LOCAL", Some("/src"), None), None, Ok(SourceSpec::Local("/src".into()))),
            (
                src("S3", Some("b/k/src.zip"), None),
                None,
                Ok(SourceSpec::S3 { bucket: "b".into(), key: "k/src.zip".into(), version: None }),
            ),
            (src("S3", Some("b"), None), None, Err("not bucket/key")),
            (src("CODECOMMIT", None, None), None, Err("clone URL")),
            (src("SVN", None, None), None, Err("unknown source type `SVN`")),
            (src("GITHUB", Some("https://h/r"), None), Some("--upload-pack=x"), Err("starts with `-`")),
            (src("GITHUB", Some("ext::sh -c x"), None), None, Err("space")),
            (src("GITHUB", Some("ext::sh"), None), None, Err("transport helper")),
            (src("GITHUB", Some("-uhttps://h/r"), None), None, Err("starts with `-`")),
        ];
        for (src, version, expected) in table {
            match (source_of(&src, version), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{src:?}: {got:?} vs {want:?}"),
            }
        }
        let mut deep = src("GITHUB", Some("https://h/r"), None);
        deep.git_clone_depth = Some(-1);
        assert!(source_of(&deep, None).unwrap_err().contains("greater than or equal to 0"));
    }
}
