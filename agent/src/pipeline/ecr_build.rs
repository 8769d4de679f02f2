//! The V2 ECRBuildAndPublish action as the build it is (pure), per "ECRBuildAndPublish build
//! action reference" in the CodePipeline User Guide: `ECRRepositoryName` (required),
//! `DockerFilePath` (the directory of the Dockerfile, the input's root when left out),
//! `ImageTags` (a comma-separated list, `latest` when left out), `RegistryType` (`private`, the
//! default, or `public`). One input artifact, no output artifact; the output variables
//! `ECRImageDigestId` and `ECRRepositoryName`. The registry is the pipeline's account's
//! (its `roleArn` names it) in the action's region.

use std::collections::BTreeMap;

use crate::exec::wrapper::sh_quote;

/// What the action builds and where it pushes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrBuild {
    pub repository: String,
    /// `<account>.dkr.ecr.<region>.amazonaws.com/<repository>`
    pub uri: String,
    pub dockerfile_dir: String,
    pub tags: Vec<String>,
}

/// Reads the action's configuration.
pub fn action(config: &BTreeMap<String, String>, role_arn: &str, region: &str) -> Result<EcrBuild, String> {
    let repository = config
        .get("ECRRepositoryName")
        .filter(|r| !r.is_empty())
        .ok_or("the action has no ECRRepositoryName")?
        .clone();
    // ECR's own rule for repository names.
    let valid_repo = repository.len() <= 256
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
    if !valid_repo {
        return Err(format!(
            "ECRRepositoryName `{repository}` is not an ECR repository name (lowercase letters, digits, `.`, `_`, `-` and `/`)"
        ));
    }
    match config.get("RegistryType").map(|t| t.to_ascii_lowercase()) {
        None => {}
        Some(t) if t == "private" => {}
        Some(t) if t == "public" => {
            return Err(
                "RegistryType public (ECR Public) is not run by runspec yet; use a private repository".into(),
            );
        }
        Some(t) => return Err(format!("RegistryType is `{t}`; use private or public")),
    }
    let dockerfile_dir =
        config.get("DockerFilePath").cloned().filter(|d| !d.is_empty()).unwrap_or_else(|| ".".into());
    if dockerfile_dir.starts_with('/') || dockerfile_dir.split('/').any(|p| p == "..") {
        return Err(format!(
            "DockerFilePath `{dockerfile_dir}` must be a directory inside the input artifact"
        ));
    }
    let tags: Vec<String> = match config.get("ImageTags") {
        None => vec!["latest".into()],
        Some(t) => t.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect(),
    };
    for t in &tags {
        let first_ok = t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if t.len() > 128 || !first_ok || !t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(format!("ImageTags: `{t}` is not an image tag"));
        }
    }
    if tags.is_empty() {
        return Err("ImageTags names no tag".into());
    }
    let account = role_arn
        .split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| {
            format!("the pipeline's roleArn `{role_arn}` names no account for the ECR registry")
        })?;
    let uri = format!("{account}.dkr.ecr.{region}.amazonaws.com/{repository}");
    Ok(EcrBuild { repository, uri, dockerfile_dir, tags })
}

impl EcrBuild {
    /// The build's commands: `docker build` of the directory, then a push of every tag with
    /// the ECR login (`runspec image push`, which also records the digest).
    pub fn commands(&self) -> Vec<String> {
        let local = format!("{}:{}", self.repository, self.tags[0]);
        let dir = sh_quote(&self.dockerfile_dir);
        let targets: Vec<String> = self.tags.iter().map(|t| sh_quote(&format!("{}:{t}", self.uri))).collect();
        vec![
            format!("docker build -t {} -f {dir}/Dockerfile {dir}", sh_quote(&local)),
            format!("runspec image push {} {}", sh_quote(&local), targets.join(" ")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/pipeline";

    #[test]
    fn builds_and_pushes_every_tag() {
        let b = action(
            &config(&[
                ("ECRRepositoryName", "team/web"),
                ("DockerFilePath", "app"),
                ("ImageTags", "v1, latest"),
            ]),
            ROLE,
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(b.uri, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web");
        assert_eq!(
            b.commands(),
            [
                "docker build -t 'team/web:v1' -f 'app'/Dockerfile 'app'",
                "runspec image push 'team/web:v1' '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web:v1' '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web:latest'"
            ]
        );
        let defaults = action(&config(&[("ECRRepositoryName", "web")]), ROLE, "us-east-1").unwrap();
        assert_eq!(
            (defaults.dockerfile_dir.as_str(), defaults.tags.as_slice()),
            (".", &["latest".to_string()][..])
        );
    }

    #[test]
    fn what_codepipeline_refuses() {
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[], "no ECRRepositoryName"),
            (&[("ECRRepositoryName", "Web")], "not an ECR repository name"),
            (&[("ECRRepositoryName", "web"), ("RegistryType", "public")], "not run by runspec yet"),
            (&[("ECRRepositoryName", "web"), ("RegistryType", "other")], "use private or public"),
            (&[("ECRRepositoryName", "web"), ("DockerFilePath", "../x")], "inside the input artifact"),
            (&[("ECRRepositoryName", "web"), ("ImageTags", "a b")], "not an image tag"),
            (&[("ECRRepositoryName", "web"), ("ImageTags", " , ")], "names no tag"),
        ];
        for (pairs, says) in table {
            let e = action(&config(pairs), ROLE, "us-east-1").unwrap_err();
            assert!(e.contains(says), "{says}: {e}");
        }
        assert!(
            action(&config(&[("ECRRepositoryName", "web")]), "role", "us-east-1")
                .unwrap_err()
                .contains("no account")
        );
    }
}
