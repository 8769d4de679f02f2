//! What a replay runs, from the build's record and its project (pure): the settings the build
//! used, the sources at their versions, and, named one by one, what this machine cannot
//! reproduce. The build's own record wins over the project (the project may have changed since);
//! the project fills in only what a build record does not carry (its artifact settings).

use serde_json::{Value, json};

use crate::serve::request::{self, SourceSpec};
use crate::source::location::GitLocation;
use crate::source::revision::Revision;

/// Where a source comes from, and at which version.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    /// NO_SOURCE: an empty directory.
    Empty,
    /// A git repository at `commit` (a commit, or a ref when no commit was recorded).
    Git { location: GitLocation, commit: Option<Revision>, depth: Option<u64> },
    /// An S3 ZIP at the object version the build read.
    S3 { bucket: String, key: String, version: Option<String> },
    /// runspec's LOCAL type: a directory on the machine that ran the build.
    Local(String),
    /// A type only a directory given with `--source` can stand in for (CODEPIPELINE, …).
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourcePlan {
    /// `None` for the primary source.
    pub id: Option<String>,
    pub fetch: Fetch,
}

/// What the user changed on the command line.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub image: Option<String>,
    pub host: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub build_id: String,
    pub project_name: String,
    pub build_number: Option<u64>,
    pub initiator: Option<String>,
    /// A project JSON with the build's settings, read like `runspec run --project`.
    pub effective: Value,
    pub primary: SourcePlan,
    pub secondary: Vec<SourcePlan>,
    /// `None`: on this machine's shell.
    pub image: Option<String>,
    pub privileged: bool,
    pub timeout_minutes: Option<u64>,
    /// What is not reproduced, one sentence each.
    pub not_reproduced: Vec<String>,
}

/// The image name `runspec run` and `runspec serve` record for a build on the host shell.
use crate::build::HOST_IMAGE;

pub fn plan(build: &Value, project: Option<&Value>, choices: &Choices) -> Result<Plan, String> {
    let mut notes = Vec::new();
    let id = build["id"].as_str().ok_or("the build record has no id")?.to_string();
    let project_name = build["projectName"]
        .as_str()
        .map(str::to_string)
        .or_else(|| id.split_once(':').map(|(p, _)| p.to_string()))
        .unwrap_or_default();
    let arn = build["arn"].as_str().unwrap_or_default();
    // arn:aws:codebuild:REGION:ACCOUNT:build/…  →  the project's ARN, for region and account.
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    let project_arn = match arn_parts.as_slice() {
        [_, partition, _, region, account, _] => {
            format!("arn:{partition}:codebuild:{region}:{account}:project/{project_name}")
        }
        _ => String::new(),
    };

    // The sources, at the versions the build resolved.
    let source =
        build.get("source").filter(|s| s.is_object()).cloned().unwrap_or(json!({"type": "NO_SOURCE"}));
    let resolved = str_of(build, "resolvedSourceVersion");
    let asked = str_of(build, "sourceVersion");
    let version = match (&resolved, &asked) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(a)) => {
            if source["type"] != "NO_SOURCE" {
                notes.push(format!(
                    "the build recorded no resolvedSourceVersion: its sourceVersion `{a}` is used, which may have moved since"
                ));
            }
            Some(a.clone())
        }
        (None, None) => None,
    };
    let primary =
        SourcePlan { id: None, fetch: fetch_of(&source, version.as_deref(), &mut notes, "the source")? };
    let mut secondary = Vec::new();
    for s in build["secondarySources"].as_array().into_iter().flatten() {
        let sid = s["sourceIdentifier"]
            .as_str()
            .ok_or("a secondary source of the build has no sourceIdentifier")?;
        let v = build["secondarySourceVersions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["sourceIdentifier"] == sid)
            .and_then(|v| v["sourceVersion"].as_str());
        let fetch = fetch_of(s, v, &mut notes, &format!("secondary source {sid}"))?;
        secondary.push(SourcePlan { id: Some(sid.to_string()), fetch });
    }

    // The environment: image, privileged mode, variables (secret ones are fetched again with
    // the user's credentials when the build runs).
    let env = &build["environment"];
    let recorded_image = env["image"].as_str().filter(|i| !i.is_empty());
    let image = match (&choices.image, choices.host, recorded_image) {
        (Some(i), _, recorded) => {
            notes.push(format!("image: {i} (--image) instead of {}", recorded.unwrap_or("none")));
            Some(i.clone())
        }
        (None, true, Some(recorded)) if recorded != HOST_IMAGE => {
            notes.push(format!("image: this machine's shell (--host) instead of {recorded}"));
            None
        }
        (None, _, Some(recorded)) if recorded != HOST_IMAGE => Some(recorded.to_string()),
        _ => None,
    };
    let privileged = env["privilegedMode"].as_bool().unwrap_or(false);
    let variables = env["environmentVariables"].as_array().cloned().unwrap_or_default();
    match env["type"].as_str() {
        None | Some("LINUX_CONTAINER") => {}
        Some(other) => notes.push(format!(
            "environment type {other}: runs as a Linux container of this machine's architecture"
        )),
    }
    if env["imagePullCredentialsType"] == "SERVICE_ROLE"
        || env.get("registryCredential").is_some_and(|v| !v.is_null())
    {
        notes.push(
            "image pull credentials: the image is pulled with your own Docker and ECR credentials".into(),
        );
    }
    if env.get("certificate").is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
        notes.push("environment certificate: not installed in the build".into());
    }
    if let Some(role) = str_of(build, "serviceRole") {
        notes.push(format!(
            "service role {role}: AWS calls use your credentials (runspec's, and the build's with --aws-credentials)"
        ));
    }
    if build.get("vpcConfig").is_some_and(|v| v["vpcId"].as_str().is_some_and(|s| !s.is_empty())) {
        notes.push("VPC configuration: the build uses this machine's network".into());
    }
    if build["fileSystemLocations"].as_array().is_some_and(|a| !a.is_empty()) {
        notes.push("file system locations (EFS): not mounted".into());
    }
    if let Some(batch) = str_of(build, "buildBatchArn") {
        notes.push(format!("the build was part of batch {batch}: it is replayed alone"));
    }
    if source["reportBuildStatus"] == true {
        notes.push("reportBuildStatus: the build's status is not reported to the source provider".into());
    }
    if source["gitSubmodulesConfig"]["fetchSubmodules"] == true {
        notes.push("git submodules: not fetched".into());
    }
    notes.push("the build id, start time and CODEBUILD_BUILD_ARN are this run's own".into());

    let timeout_minutes = build["timeoutInMinutes"].as_u64();
    let mut effective = json!({
        "name": project_name,
        "source": {"type": source["type"].clone(), "location": source["location"].clone()},
        "environment": {
            "image": image.clone().unwrap_or_else(|| HOST_IMAGE.to_string()),
            "privilegedMode": privileged,
            "environmentVariables": variables,
        },
    });
    // The compute type's memory and CPUs are the replay's limits too (the build says where this
    // machine is smaller, or cannot apply them).
    for key in ["type", "computeType", "computeConfiguration"] {
        if env.get(key).is_some_and(|v| !v.is_null()) {
            effective["environment"][key] = env[key].clone();
        }
    }
    if !project_arn.is_empty() {
        effective["arn"] = json!(project_arn);
    }
    if let Some(b) = source["buildspec"].as_str().filter(|b| !b.is_empty()) {
        effective["source"]["buildspec"] = json!(b);
    }
    if let Some(t) = timeout_minutes {
        effective["timeoutInMinutes"] = json!(t);
    }
    if let Some(cache) = build.get("cache").filter(|c| c.is_object()) {
        // A LOCAL cache is this machine's (cache.paths, git objects, Docker layers), used as
        // the build used the build host's.
        effective["cache"] = cache.clone();
    }
    match project {
        Some(p) => {
            for key in ["artifacts", "secondaryArtifacts"] {
                if let Some(a) = p.get(key).filter(|a| !a.is_null()) {
                    effective[key] = a.clone();
                }
            }
        }
        None => notes.push(
            "the project is gone (or cannot be read): artifact names and packaging are runspec's defaults"
                .into(),
        ),
    }
    Ok(Plan {
        build_id: id,
        project_name,
        build_number: build["buildNumber"].as_u64(),
        initiator: str_of(build, "initiator"),
        effective,
        primary,
        secondary,
        image,
        privileged,
        timeout_minutes,
        not_reproduced: notes,
    })
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// One source object of the build, at `version`.
fn fetch_of(
    src: &Value,
    version: Option<&str>,
    notes: &mut Vec<String>,
    what: &str,
) -> Result<Fetch, String> {
    let kind = src["type"].as_str().unwrap_or("NO_SOURCE");
    if kind == "NO_SOURCE" {
        return Ok(Fetch::Empty);
    }
    if kind == "CODEPIPELINE" {
        return Ok(Fetch::Unsupported(kind.into()));
    }
    // The source's recorded buildspec does not matter for fetching it.
    let mut fetchable = src.clone();
    fetchable["buildspec"] = json!("version: 0.2\n");
    let fetchable: crate::shapes::codebuild::ProjectSource = serde_json::from_value(fetchable)
        .map_err(|e| format!("{what}: the record's source cannot be read: {e}"))?;
    Ok(match request::source_of(&fetchable, version) {
        Ok(SourceSpec::None) => Fetch::Empty,
        Ok(SourceSpec::Local(path)) => Fetch::Local(path),
        Ok(SourceSpec::Git { location, version, depth }) => {
            if let Some(d) = depth {
                notes.push(format!("{what}: a full clone's history here, the build had gitCloneDepth {d}"));
            }
            Fetch::Git { location, commit: version, depth }
        }
        Ok(SourceSpec::S3 { bucket, key, version }) => Fetch::S3 { bucket, key, version },
        // A value no git or S3 call may be given: the record is refused, not half-run.
        Err(e) if matches!(kind, "S3" | "LOCAL") || request::GIT_TYPES.contains(&kind) => {
            return Err(format!("{what}: {e}"));
        }
        Err(_) => Fetch::Unsupported(kind.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> Value {
        json!({
            "id": "web:0f1e", "arn": "arn:aws:codebuild:eu-west-1:123456789012:build/web:0f1e",
            "projectName": "web", "buildNumber": 7, "initiator": "alice",
            "sourceVersion": "main", "resolvedSourceVersion": "abc123",
            "source": {"type": "GITHUB", "location": "https://github.com/o/web.git", "buildspec": "ci/buildspec.yml", "gitCloneDepth": 1},
            "secondarySources": [{"type": "GITHUB", "location": "https://github.com/o/lib.git", "sourceIdentifier": "lib"}],
            "secondarySourceVersions": [{"sourceIdentifier": "lib", "sourceVersion": "def456"}],
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL",
                "privilegedMode": true,
                "environmentVariables": [{"name": "A", "value": "1", "type": "PLAINTEXT"}, {"name": "TOKEN", "value": "/ci/token", "type": "PARAMETER_STORE"}]},
            "timeoutInMinutes": 30,
            "cache": {"type": "S3", "location": "bucket/cache"},
            "serviceRole": "arn:aws:iam::123456789012:role/cb",
        })
    }

    #[test]
    fn the_build_record_is_reproduced() {
        let project = json!({"name": "web", "artifacts": {"type": "S3", "location": "out", "packaging": "ZIP"},
            "environment": {"image": "changed-since:latest"}});
        let p = plan(&build(), Some(&project), &Choices::default()).unwrap();
        assert_eq!(
            p.primary.fetch,
            Fetch::Git {
                location: GitLocation::Remote("https://github.com/o/web.git".into()),
                commit: Some(Revision::Name("abc123".into())),
                depth: Some(1)
            }
        );
        assert_eq!(
            p.secondary,
            [SourcePlan {
                id: Some("lib".into()),
                fetch: Fetch::Git {
                    location: GitLocation::Remote("https://github.com/o/lib.git".into()),
                    commit: Some(Revision::Name("def456".into())),
                    depth: None
                }
            }]
        );
        // The build's image, not the project's current one.
        assert_eq!(p.image.as_deref(), Some("aws/codebuild/standard:7.0"));
        assert!(p.privileged);
        assert_eq!(p.timeout_minutes, Some(30));
        assert_eq!((p.build_number, p.initiator.as_deref()), (Some(7), Some("alice")));
        let e = &p.effective;
        assert_eq!(e["source"]["buildspec"], "ci/buildspec.yml");
        assert_eq!(e["environment"]["environmentVariables"][1]["type"], "PARAMETER_STORE");
        assert_eq!(e["cache"]["location"], "bucket/cache");
        assert_eq!(e["artifacts"]["packaging"], "ZIP");
        assert_eq!(e["arn"], "arn:aws:codebuild:eu-west-1:123456789012:project/web");
        // It reads as a project.
        let parsed = crate::project::parse(&e.to_string()).unwrap();
        assert_eq!(parsed.variables.len(), 2);
        assert_eq!(parsed.region.as_deref(), Some("eu-west-1"));
        assert!(parsed.ignored.is_empty(), "{:?}", parsed.ignored);
        assert_eq!(e["environment"]["computeType"], "BUILD_GENERAL1_SMALL");
        assert!(!p.not_reproduced.iter().any(|n| n.contains("compute")), "{:?}", p.not_reproduced);
        for named in ["gitCloneDepth 1", "service role arn:aws:iam::123456789012:role/cb"] {
            assert!(p.not_reproduced.iter().any(|n| n.contains(named)), "{named}: {:?}", p.not_reproduced);
        }
    }

    #[test]
    fn choices_and_gaps_are_named() {
        let mut b = build();
        b.as_object_mut().unwrap().remove("resolvedSourceVersion");
        b["vpcConfig"] = json!({"vpcId": "vpc-1"});
        b["buildBatchArn"] = json!("arn:aws:codebuild:eu-west-1:1:build-batch/web:b");
        let p = plan(&b, None, &Choices { host: true, image: None }).unwrap();
        assert_eq!(p.image, None);
        assert!(
            matches!(&p.primary.fetch, Fetch::Git { commit: Some(Revision::Name(c)), .. } if c == "main")
        );
        for named in ["no resolvedSourceVersion", "--host", "VPC", "batch", "the project is gone"] {
            assert!(p.not_reproduced.iter().any(|n| n.contains(named)), "{named}: {:?}", p.not_reproduced);
        }
        let p = plan(&build(), None, &Choices { host: false, image: Some("mine:1".into()) }).unwrap();
        assert_eq!(p.image.as_deref(), Some("mine:1"));
        assert!(
            p.not_reproduced
                .iter()
                .any(|n| n.contains("mine:1 (--image) instead of aws/codebuild/standard:7.0"))
        );
    }

    #[test]
    fn source_types_table() {
        let table = [
            (json!({"type": "NO_SOURCE", "buildspec": "version: 0.2\n"}), None, Fetch::Empty),
            (
                json!({"type": "S3", "location": "b/k.zip"}),
                None,
                Fetch::S3 { bucket: "b".into(), key: "k.zip".into(), version: None },
            ),
            (
                json!({"type": "S3", "location": "b/k.zip"}),
                Some("v3"),
                Fetch::S3 { bucket: "b".into(), key: "k.zip".into(), version: Some("v3".into()) },
            ),
            (json!({"type": "LOCAL", "location": "/src/x"}), None, Fetch::Local("/src/x".into())),
            (json!({"type": "CODEPIPELINE"}), None, Fetch::Unsupported("CODEPIPELINE".into())),
            (
                json!({"type": "CODECOMMIT", "location": "https://git-codecommit.eu-west-2.amazonaws.com/v1/repos/r"}),
                Some("c0ffee"),
                Fetch::Git {
                    location: GitLocation::Remote(
                        "https://git-codecommit.eu-west-2.amazonaws.com/v1/repos/r".into(),
                    ),
                    commit: Some(Revision::Name("c0ffee".into())),
                    depth: None,
                },
            ),
        ];
        for (src, version, want) in table {
            let mut notes = Vec::new();
            assert_eq!(fetch_of(&src, version, &mut notes, "the source").unwrap(), want, "{src}");
        }
        // A record whose values would become git options is refused, not run.
        for (src, version) in [
            (json!({"type": "GITHUB", "location": "https://h/r"}), Some("--upload-pack=touch /tmp/x")),
            (json!({"type": "GITHUB", "location": "ext::sh"}), None),
        ] {
            let e = fetch_of(&src, version, &mut Vec::new(), "the source").unwrap_err();
            assert!(e.starts_with("the source: "), "{e}");
        }
    }

    #[test]
    fn a_host_build_replays_on_the_host() {
        let mut b = build();
        b["environment"]["image"] = json!(HOST_IMAGE);
        let p = plan(&b, None, &Choices::default()).unwrap();
        assert_eq!(p.image, None);
        assert!(!p.not_reproduced.iter().any(|n| n.contains("--host")));
    }
}
