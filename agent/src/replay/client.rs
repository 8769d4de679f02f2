//! The two CodeBuild calls replay makes (BatchGetBuilds, BatchGetProjects), through
//! [`crate::json_api`] against the standard endpoint (`AWS_ENDPOINT_URL_CODEBUILD`,
//! `AWS_ENDPOINT_URL`, or CodeBuild's regional endpoint), so the same command reads real
//! CodeBuild, moto, or `runspec serve`. The answers stay JSON: the rest of replay reads them
//! exactly as `runspec serve` writes them.

use serde_json::{Value, json};

pub use crate::json_api::CallError;

pub struct CodeBuild {
    api: crate::json_api::Client,
}

impl CodeBuild {
    /// Credentials and endpoint from the standard chain; `region` when the build's ARN names it.
    pub async fn connect(region: Option<&str>, profile: Option<&str>) -> Result<CodeBuild, String> {
        let api =
            crate::json_api::Client::connect("codebuild", "CodeBuild_20161006", region, profile).await?;
        Ok(CodeBuild { api })
    }

    /// The same client against another endpoint (`runspec pipeline run --codebuild-endpoint`).
    pub fn with_endpoint(self, url: &str) -> CodeBuild {
        CodeBuild { api: self.api.with_endpoint(url) }
    }

    pub fn region(&self) -> &str {
        self.api.region()
    }

    pub fn endpoint(&self) -> &str {
        self.api.endpoint()
    }

    /// One call; an AWS error answer becomes a [`CallError`] with its code.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, CallError> {
        self.api.call(operation, body).await
    }

    /// The build, or `None` when CodeBuild does not know it.
    pub async fn build(&self, id: &str) -> Result<Option<Value>, CallError> {
        let answer = self.call("BatchGetBuilds", &json!({"ids": [id]})).await?;
        Ok(answer["builds"].as_array().and_then(|b| b.first()).cloned())
    }

    /// The project, or `None` when it is gone.
    pub async fn project(&self, name: &str) -> Result<Option<Value>, CallError> {
        let answer = self.call("BatchGetProjects", &json!({"names": [name]})).await?;
        Ok(answer["projects"].as_array().and_then(|p| p.first()).cloned())
    }
}

/// The build id (`project:uuid`) and the region, from a build id or a build ARN.
pub fn parse_build_ref(given: &str) -> Result<(String, Option<String>), String> {
    let given = given.trim();
    if let Some(rest) = given.strip_prefix("arn:") {
        // arn:PARTITION:codebuild:REGION:ACCOUNT:build/PROJECT:UUID
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        match parts.as_slice() {
            [_, "codebuild", region, _, resource] if resource.starts_with("build/") => {
                let id = &resource["build/".len()..];
                if id.contains(':') {
                    return Ok((id.to_string(), Some(region.to_string()).filter(|r| !r.is_empty())));
                }
                Err(format!("`{given}`: the build part of the ARN should be build/PROJECT:UUID"))
            }
            _ => Err(format!(
                "`{given}` is not a CodeBuild build ARN (arn:aws:codebuild:REGION:ACCOUNT:build/PROJECT:UUID)"
            )),
        }
    } else if given.split_once(':').is_some_and(|(p, u)| !p.is_empty() && !u.is_empty()) {
        Ok((given.to_string(), None))
    } else {
        Err(format!(
            "`{given}` is not a build id: give PROJECT:UUID (as `aws codebuild list-builds` prints) or the build's ARN"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_references_table() {
        type Want<'a> = Result<(&'a str, Option<&'a str>), ()>;
        let table: &[(&str, Want)] = &[
            ("web:1234-abcd", Ok(("web:1234-abcd", None))),
            (
                "arn:aws:codebuild:eu-west-1:123456789012:build/web:1234-abcd",
                Ok(("web:1234-abcd", Some("eu-west-1"))),
            ),
            ("arn:aws-cn:codebuild:cn-north-1:1:build/p:u", Ok(("p:u", Some("cn-north-1")))),
            ("arn:aws:codebuild:eu-west-1:1:project/web", Err(())),
            ("arn:aws:s3:::bucket/key", Err(())),
            ("web", Err(())),
            (":uuid", Err(())),
        ];
        for (given, want) in table {
            let got = parse_build_ref(given);
            match want {
                Ok((id, region)) => {
                    assert_eq!(got, Ok((id.to_string(), region.map(str::to_string))), "{given}")
                }
                Err(()) => assert!(got.is_err(), "{given}: {got:?}"),
            }
        }
    }
}
