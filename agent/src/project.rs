//! `--project PROJECT.json`: one CodeBuild project, as `aws codebuild batch-get-projects` prints
//! it (an element of `projects[]`, or the whole response with one project) or as the
//! `create-project` input. Fields runspec cannot honour are named in warnings.

use serde_json::Value;

use crate::engine::upload::Packaging;
use crate::shapes::codebuild as cb;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableType {
    Plaintext,
    ParameterStore,
    SecretsManager,
}

impl VariableType {
    /// CodeBuild's name of the type.
    pub fn as_str(&self) -> &'static str {
        match self {
            VariableType::Plaintext => "PLAINTEXT",
            VariableType::ParameterStore => "PARAMETER_STORE",
            VariableType::SecretsManager => "SECRETS_MANAGER",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectVariable {
    pub name: String,
    pub value: String,
    pub kind: VariableType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactsType {
    NoArtifacts,
    S3,
    CodePipeline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectArtifacts {
    pub kind: ArtifactsType,
    pub location: Option<String>,
    pub path: Option<String>,
    pub namespace_build_id: bool,
    pub name: Option<String>,
    pub packaging: Packaging,
    pub override_artifact_name: bool,
    pub identifier: Option<String>,
}

/// `cache` (R-CACHE-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectCache {
    /// `location` is `bucket/prefix`.
    S3 { location: String },
    /// LOCAL with its modes (LOCAL_CUSTOM_CACHE, LOCAL_SOURCE_CACHE, LOCAL_DOCKER_LAYER_CACHE).
    Local { modes: Vec<String> },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Project {
    pub name: Option<String>,
    /// Region and account from the project ARN.
    pub region: Option<String>,
    pub account: Option<String>,
    pub variables: Vec<ProjectVariable>,
    pub image: Option<String>,
    pub privileged: bool,
    /// `environment.type` (LINUX_CONTAINER, ARM_CONTAINER, …) and `computeType`, with
    /// `computeConfiguration` for ATTRIBUTE_BASED_COMPUTE: the build's limits.
    pub environment_type: Option<String>,
    pub compute_type: Option<String>,
    pub compute_configuration: crate::compute::Configuration,
    /// `source.buildspec`: a path relative to the source, or inline YAML.
    pub buildspec: Option<String>,
    pub artifacts: Option<ProjectArtifacts>,
    pub secondary_artifacts: Vec<ProjectArtifacts>,
    pub timeout_minutes: Option<u64>,
    pub cache: Option<ProjectCache>,
    /// `buildBatchConfig`: what a batch build may do.
    pub batch: BatchConfig,
    /// Fields present in the file that runspec does not honour (yet).
    pub ignored: Vec<String>,
}

/// A project's `buildBatchConfig` (its service role is not needed here).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// Put every child's primary artifact into one ZIP.
    pub combine_artifacts: bool,
    /// `restrictions.maximumBuildsAllowed` (CodeBuild's default: 100).
    pub maximum_builds: u32,
    /// `timeoutInMins` for the whole batch (CodeBuild's default: 480).
    pub timeout_minutes: f64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { combine_artifacts: false, maximum_builds: 100, timeout_minutes: 480.0 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("the project file is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the project file holds {0} projects; give a file with one")]
    Many(usize),
    #[error("`{field}`: {problem}")]
    Field { field: String, problem: String },
}

/// Fields that describe the service, not the build; ignored without a warning.
const DESCRIPTIVE: &[&str] = &[
    "name",
    "arn",
    "description",
    "created",
    "lastModified",
    "tags",
    "badge",
    "badgeEnabled",
    "serviceRole",
    "encryptionKey",
    "projectVisibility",
    "webhook",
    "sourceVersion",
    "queuedTimeoutInMinutes",
    "logsConfig",
    "concurrentBuildLimit",
    "autoRetryLimit",
    "resourceAccessRole",
    "publicProjectAlias",
    "vpcConfig",
];

/// A `--project` file: one project, as `batch-get-projects` prints it (or its whole output with
/// one project) or as the `create-project` input.
pub fn parse(text: &str) -> Result<Project, ProjectError> {
    let mut v: Value = serde_json::from_str(text)?;
    if let Some(list) = v.get("projects").and_then(Value::as_array) {
        if list.len() != 1 {
            return Err(ProjectError::Many(list.len()));
        }
        v = list[0].clone();
    }
    let obj = v.as_object().ok_or_else(|| field("(root)", "expected a JSON object"))?;
    // Members CodeBuild's model does not know are named too (a typo is worth a warning).
    let known = &crate::serve::wire::model::CODEBUILD.shapes["Project"].members;
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !known.contains_key(*k) && !DESCRIPTIVE.contains(&k.as_str()))
        .cloned()
        .collect();
    let api: cb::Project = serde_json::from_value(v)?;
    let mut p = from_api(&api)?;
    p.ignored.splice(0..0, unknown);
    Ok(p)
}

/// What runspec runs of a CodeBuild project (a stored one, or one with StartBuild's overrides
/// in place); fields it cannot honour are named in `ignored`.
pub fn from_api(api: &cb::Project) -> Result<Project, ProjectError> {
    let mut p = Project::default();
    for (name, present) in [
        ("secondarySources", api.secondary_sources.is_some()),
        ("secondarySourceVersions", api.secondary_source_versions.is_some()),
        ("fileSystemLocations", api.file_system_locations.is_some()),
    ] {
        if present {
            p.ignored.push(name.to_string());
        }
    }
    p.name.clone_from(&api.name);
    if let Some(arn) = &api.arn {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() >= 6 {
            p.region = Some(parts[3].to_string()).filter(|s| !s.is_empty());
            p.account = Some(parts[4].to_string()).filter(|s| !s.is_empty());
        }
    }
    if let Some(env) = &api.environment {
        p.image = Some(env.image.clone()).filter(|i| !i.is_empty());
        p.privileged = env.privileged_mode.unwrap_or(false);
        p.environment_type = Some(env.kind.clone()).filter(|t| !t.is_empty());
        p.compute_type = Some(env.compute_type.clone()).filter(|t| !t.is_empty());
        if let Some(c) = &env.compute_configuration {
            p.compute_configuration = crate::compute::Configuration {
                vcpus: c.v_cpu.and_then(|v| u32::try_from(v).ok()),
                memory_gib: c.memory.and_then(|m| u64::try_from(m).ok()),
            };
        }
        for var in env.environment_variables.as_deref().unwrap_or_default() {
            if var.name.is_empty() {
                return Err(field("environment.environmentVariables", "a variable has no name"));
            }
            let kind = match var.kind.as_deref().unwrap_or("PLAINTEXT").to_ascii_uppercase().as_str() {
                "PLAINTEXT" => VariableType::Plaintext,
                "PARAMETER_STORE" => VariableType::ParameterStore,
                "SECRETS_MANAGER" => VariableType::SecretsManager,
                other => {
                    return Err(field(
                        "environment.environmentVariables",
                        &format!("unknown type `{other}` for `{}`", var.name),
                    ));
                }
            };
            p.variables.push(ProjectVariable { name: var.name.clone(), value: var.value.clone(), kind });
        }
        for (key, present) in [
            ("certificate", env.certificate.is_some()),
            ("registryCredential", env.registry_credential.is_some()),
            ("fleet", env.fleet.is_some()),
            ("dockerServer", env.docker_server.is_some()),
        ] {
            if present {
                p.ignored.push(format!("environment.{key}"));
            }
        }
    }
    if let Some(src) = &api.source {
        p.buildspec = src.buildspec.clone().filter(|s| !s.is_empty());
    }
    if let Some(a) = &api.artifacts {
        p.artifacts = Some(artifacts(a, "artifacts")?);
    }
    for (i, a) in api.secondary_artifacts.iter().flatten().enumerate() {
        p.secondary_artifacts.push(artifacts(a, &format!("secondaryArtifacts[{i}]"))?);
    }
    if let Some(cache) = &api.cache {
        p.cache = match cache.kind.to_ascii_uppercase().as_str() {
            "" | "NO_CACHE" => None,
            "S3" => Some(ProjectCache::S3 {
                location: cache
                    .location
                    .clone()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| field("cache", "an S3 cache needs a `location` (bucket/prefix)"))?,
            }),
            "LOCAL" => Some(ProjectCache::Local { modes: cache.modes.clone().unwrap_or_default() }),
            other => return Err(field("cache", &format!("unknown cache type `{other}`"))),
        };
    }
    p.timeout_minutes = api.timeout_in_minutes.and_then(|m| u64::try_from(m).ok());
    if let Some(b) = &api.build_batch_config {
        p.batch.combine_artifacts = b.combine_artifacts.unwrap_or(false);
        if let Some(n) = b.restrictions.as_ref().and_then(|r| r.maximum_builds_allowed) {
            p.batch.maximum_builds = n.clamp(0, u32::MAX as i64) as u32;
        }
        if let Some(t) = b.timeout_in_mins.filter(|t| *t > 0) {
            p.batch.timeout_minutes = t as f64;
        }
    }
    Ok(p)
}

fn artifacts(a: &cb::ProjectArtifacts, at: &str) -> Result<ProjectArtifacts, ProjectError> {
    // Enum values in any case, as the CLI and repositories write them (`"no_artifacts"`).
    let kind = match a.kind.to_ascii_uppercase().as_str() {
        "" | "NO_ARTIFACTS" => ArtifactsType::NoArtifacts,
        "S3" => ArtifactsType::S3,
        "CODEPIPELINE" => ArtifactsType::CodePipeline,
        other => return Err(field(at, &format!("unknown artifacts type `{other}`"))),
    };
    let packaging = match a.packaging.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("ZIP") => Packaging::Zip,
        Some("NONE") => Packaging::None,
        // R-ART-08: local output is a ZIP unless the project says otherwise.
        None => Packaging::Zip,
        Some(other) => return Err(field(at, &format!("unknown packaging `{other}`"))),
    };
    Ok(ProjectArtifacts {
        kind,
        location: a.location.clone(),
        path: a.path.clone(),
        namespace_build_id: a.namespace_type.as_deref() == Some("BUILD_ID"),
        name: a.name.clone().filter(|s| !s.is_empty()),
        packaging,
        override_artifact_name: a.override_artifact_name.unwrap_or(false),
        identifier: a.artifact_identifier.clone(),
    })
}

fn field(field: &str, problem: &str) -> ProjectError {
    ProjectError::Field { field: field.to_string(), problem: problem.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_get_projects_output() {
        let text = r#"{"projects": [{
            "name": "web", "arn": "arn:aws:codebuild:eu-west-1:123456789012:project/web",
            "source": {"type": "CODECOMMIT", "buildspec": "ci/buildspec.yml"},
            "artifacts": {"type": "S3", "location": "bucket", "packaging": "NONE", "name": "out", "overrideArtifactName": true},
            "secondaryArtifacts": [{"type": "S3", "location": "b", "artifactIdentifier": "docs"}],
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": [{"name": "STAGE", "value": "prod", "type": "PLAINTEXT"}, {"name": "PW", "value": "/db/pw", "type": "PARAMETER_STORE"}],
                "privilegedMode": true},
            "cache": {"type": "S3", "location": "bucket/cache"},
            "timeoutInMinutes": 30, "serviceRole": "arn:aws:iam::123456789012:role/x", "fileSystemLocations": []
        }]}"#;
        let p = parse(text).unwrap();
        assert_eq!(p.name.as_deref(), Some("web"));
        assert_eq!((p.region.as_deref(), p.account.as_deref()), (Some("eu-west-1"), Some("123456789012")));
        assert_eq!(p.buildspec.as_deref(), Some("ci/buildspec.yml"));
        assert_eq!(p.variables[1].kind, VariableType::ParameterStore);
        let a = p.artifacts.unwrap();
        assert_eq!(
            (a.kind, a.packaging, a.override_artifact_name),
            (ArtifactsType::S3, Packaging::None, true)
        );
        assert_eq!(p.secondary_artifacts[0].identifier.as_deref(), Some("docs"));
        assert_eq!(p.timeout_minutes, Some(30));
        assert_eq!(p.ignored, ["fileSystemLocations"]);
        assert_eq!(p.compute_type.as_deref(), Some("BUILD_GENERAL1_SMALL"));
        assert_eq!(p.environment_type.as_deref(), Some("LINUX_CONTAINER"));
        assert_eq!(p.cache, Some(ProjectCache::S3 { location: "bucket/cache".into() }));
    }

    #[test]
    fn enum_values_in_any_case() {
        // The workshop's project file writes `"type": "no_artifacts"`; the CLI passes it on.
        let p = parse(r#"{"name": "w", "artifacts": {"type": "no_artifacts"}, "cache": {"type": "local", "modes": ["LOCAL_SOURCE_CACHE"]},
            "secondaryArtifacts": [{"type": "codepipeline", "packaging": "zip", "artifactIdentifier": "a"}],
            "environment": {"environmentVariables": [{"name": "A", "value": "1", "type": "plaintext"}]}}"#)
        .unwrap();
        assert_eq!(p.artifacts.map(|a| a.kind), Some(ArtifactsType::NoArtifacts));
        assert_eq!(p.secondary_artifacts[0].kind, ArtifactsType::CodePipeline);
        assert_eq!(p.secondary_artifacts[0].packaging, Packaging::Zip);
        assert!(matches!(p.cache, Some(ProjectCache::Local { .. })));
        assert_eq!(p.variables[0].kind, VariableType::Plaintext);
    }

    #[test]
    fn bad_projects_say_what_is_wrong() {
        assert!(matches!(parse("[1]"), Err(ProjectError::Field { .. })));
        assert!(matches!(parse(r#"{"projects": []}"#), Err(ProjectError::Many(0))));
        assert!(parse("{").is_err());
        let e = parse(r#"{"environment": {"environmentVariables": [{"name": "A", "type": "SECRET"}]}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown type `SECRET`"), "{e}");
    }
}
