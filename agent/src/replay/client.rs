//! The two CodeBuild calls replay makes (BatchGetBuilds, BatchGetProjects), on the JSON 1.1 wire
//! protocol, signed with SigV4 from the standard credential chain, against the standard endpoint
//! (`AWS_ENDPOINT_URL_CODEBUILD`, `AWS_ENDPOINT_URL`, or CodeBuild's regional endpoint), so the
//! same command reads real CodeBuild, moto, or `runspec serve`. The answers stay JSON: the rest
//! of replay reads them exactly as `runspec serve` writes them.

use aws_credential_types::provider::ProvideCredentials as _;
use serde_json::{Value, json};

pub struct CodeBuild {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: aws_credential_types::Credentials,
}

/// An error answer: the AWS error code and message, or why there was none.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// CodeBuild's endpoint for `region`, unless the environment names one.
pub fn endpoint(region: &str, configured: Option<&str>) -> String {
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_CODEBUILD")
        && !url.is_empty()
    {
        return url;
    }
    if let Some(url) = configured.filter(|u| !u.is_empty()) {
        return url.to_string();
    }
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://codebuild.{region}.{suffix}")
}

impl CodeBuild {
    /// Credentials and endpoint from the standard chain; `region` when the build's ARN names it.
    pub async fn connect(region: Option<&str>, profile: Option<&str>) -> Result<CodeBuild, String> {
        let config = match region {
            Some(r) => crate::aws::sdk_config_in(r).await,
            None => crate::aws::sdk_config("us-east-1", profile).await,
        };
        let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let provider = config
            .credentials_provider()
            .ok_or("no AWS credentials are configured (environment, profile, SSO or instance role)")?;
        let credentials =
            provider.provide_credentials().await.map_err(|e| format!("cannot get AWS credentials: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(CodeBuild { http, endpoint: endpoint(&region, config.endpoint_url()), region, credentials })
    }

    /// The same client against another endpoint (`runspec pipeline run --codebuild-endpoint`).
    pub fn with_endpoint(mut self, url: &str) -> CodeBuild {
        self.endpoint = url.to_string();
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One call; an AWS error answer becomes a [`CallError`] with its code.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, CallError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let failed = |code: &str, message: String| CallError { code: code.into(), message };
        let body = body.to_string();
        let target = format!("CodeBuild_20161006.{operation}");
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let host = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                })
            })
            .ok_or_else(|| failed("InvalidEndpoint", format!("`{}` is not a URL", self.endpoint)))?;
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("codebuild")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed("SigningError", e.to_string()))?
            .into();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let signable =
            SignableRequest::new("POST", &url, headers.iter().copied(), SignableBody::Bytes(body.as_bytes()))
                .map_err(|e| failed("SigningError", e.to_string()))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| failed("SigningError", e.to_string()))?.into_parts();
        let mut request = self
            .http
            .post(&url)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target)
            .body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| failed("RequestFailed", format!("cannot reach {}: {e}", self.endpoint)))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| failed("RequestFailed", e.to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let code = value["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("").to_string();
        let message =
            value["message"].as_str().or(value["Message"].as_str()).unwrap_or(text.trim()).to_string();
        Err(CallError { code: if code.is_empty() { format!("HTTP {status}") } else { code }, message })
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

    #[test]
    fn regional_endpoints() {
        assert_eq!(endpoint("eu-west-1", None), "https://codebuild.eu-west-1.amazonaws.com");
        assert_eq!(endpoint("cn-north-1", None), "https://codebuild.cn-north-1.amazonaws.com.cn");
        assert_eq!(endpoint("eu-west-1", Some("http://127.0.0.1:5000")), "http://127.0.0.1:5000");
    }
}
