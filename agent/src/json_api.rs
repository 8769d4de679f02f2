//! AWS's JSON 1.1 protocol (`X-Amz-Target: <Service_Version>.<Operation>`), signed with SigV4
//! from the standard credential chain: the calls runspec makes as a client of CodeBuild
//! (replay, `pipeline run --codebuild-endpoint`) and of CodePipeline (the job worker), against
//! the real services, moto, `runspec serve` or a stand-in alike. Answers stay JSON.

use aws_credential_types::provider::ProvideCredentials as _;
use serde_json::Value;

/// A client of one service.
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    /// The SigV4 signing name (`codebuild`, `codepipeline`).
    service: &'static str,
    /// The target prefix (`CodeBuild_20161006`, `CodePipeline_20150709`).
    target: &'static str,
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

/// The endpoint of `service` in `region`: `AWS_ENDPOINT_URL_<SERVICE>`, else the configured
/// one (`AWS_ENDPOINT_URL`, a profile's), else AWS's regional endpoint.
pub fn endpoint(service: &str, region: &str, configured: Option<&str>) -> String {
    let var = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    if let Ok(url) = std::env::var(&var)
        && !url.is_empty()
    {
        return url;
    }
    if let Some(url) = configured.filter(|u| !u.is_empty()) {
        return url.to_string();
    }
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://{service}.{region}.{suffix}")
}

impl Client {
    /// Credentials and endpoint from the standard chain; `region` when the caller knows it.
    pub async fn connect(
        service: &'static str,
        target: &'static str,
        region: Option<&str>,
        profile: Option<&str>,
    ) -> Result<Client, String> {
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
        let endpoint = endpoint(service, &region, config.endpoint_url());
        Ok(Client { http, endpoint, region, service, target, credentials })
    }

    /// The same client against another endpoint.
    pub fn with_endpoint(mut self, url: &str) -> Client {
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
        let target = format!("{}.{operation}", self.target);
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
            .name(self.service)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_endpoints() {
        assert_eq!(endpoint("codebuild", "eu-west-1", None), "https://codebuild.eu-west-1.amazonaws.com");
        assert_eq!(
            endpoint("codepipeline", "cn-north-1", None),
            "https://codepipeline.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint("codebuild", "eu-west-1", Some("http://127.0.0.1:5000")),
            "http://127.0.0.1:5000"
        );
    }
}
