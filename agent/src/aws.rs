//! The AWS side of runspec: one SDK configuration from the standard chain (environment,
//! profiles incl. `AWS_PROFILE`, SSO, instance metadata) and the standard endpoint override
//! (`AWS_ENDPOINT_URL`), and the service adapters built on it.

use std::collections::HashMap;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

use crate::env::secrets::{SecretStore, StoreError};

/// Every AWS call runspec makes is bounded: a server that stores a request and never answers
/// cannot hold a build (retries included, an operation ends within [`OPERATION_TIMEOUT`]).
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        // One attempt carries at most one 8 MiB part: two minutes is 70 KB/s.
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The longest one attempt of an AWS call may take.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// The longest one AWS call may take, all its retries together.
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The region to use: `explicit` when given, else `AWS_REGION`, else `AWS_DEFAULT_REGION`,
/// else us-east-1.
pub fn region_or_env(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// Loads the SDK configuration. `region` is used when the chain has none.
pub async fn sdk_config(region: &str, profile: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    let config = loader.load().await;
    if config.region().is_some() {
        return config;
    }
    config.into_builder().region(Region::new(region.to_string())).build()
}

/// Loads the SDK configuration for a region fixed by the resource (an ECR URI names its region),
/// so the chain is not asked for one.
pub async fn sdk_config_in(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .region(Region::new(region.to_string()))
        .load()
        .await
}

/// An S3 client: more retries with backoff than the default (artifact uploads are worth
/// waiting for), and path-style addressing when the endpoint is overridden (local S3 servers
/// such as moto or MinIO do not serve bucket subdomains).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(std::time::Duration::from_millis(100));
    let overridden =
        std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3 =
        aws_sdk_s3::config::Builder::from(config).retry_config(retry).force_path_style(overridden).build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// Parameter Store and Secrets Manager through the AWS SDK.
pub struct AwsSecretStore {
    ssm: aws_sdk_ssm::Client,
    secrets: aws_sdk_secretsmanager::Client,
    /// Where Parameter Store and Secrets Manager requests go, for error messages.
    endpoints: (String, String),
}

impl AwsSecretStore {
    pub fn new(config: &SdkConfig) -> Self {
        AwsSecretStore {
            ssm: aws_sdk_ssm::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            endpoints: (
                endpoint(config, "SSM", "ssm"),
                endpoint(config, "SECRETS_MANAGER", "secretsmanager"),
            ),
        }
    }
}

/// The endpoint the SDK uses for a service: the service's own `AWS_ENDPOINT_URL_<ID>`, the
/// shared endpoint URL, or AWS's regional endpoint.
fn endpoint(config: &SdkConfig, env_id: &str, prefix: &str) -> String {
    if let Some(url) = std::env::var(format!("AWS_ENDPOINT_URL_{env_id}")).ok().filter(|u| !u.is_empty()) {
        return url;
    }
    if let Some(url) = config.endpoint_url() {
        return url.to_string();
    }
    match config.region() {
        Some(region) => format!("https://{prefix}.{region}.amazonaws.com"),
        None => format!("https://{prefix}.<no region: set AWS_REGION>.amazonaws.com"),
    }
}

/// The service's own words for an SDK error, the way CodeBuild quotes them
/// (`AccessDeniedException: User: …`, `NoSuchBucket: The specified bucket does not exist`); for
/// transport errors, the whole chain of causes.
pub fn error_text<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(se) = e.as_service_error() {
        return match (se.code(), se.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => se.to_string(),
        };
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

impl SecretStore for AwsSecretStore {
    fn endpoint(&self, service: crate::env::secrets::Service) -> String {
        match service {
            crate::env::secrets::Service::ParameterStore => self.endpoints.0.clone(),
            crate::env::secrets::Service::SecretsManager => self.endpoints.1.clone(),
        }
    }

    async fn parameters(&mut self, names: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let out = self
            .ssm
            .get_parameters()
            .set_names(Some(names.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| StoreError::Service(error_text(&e)))?;
        Ok(out
            .parameters()
            .iter()
            .filter_map(|p| Some((p.name()?.to_string(), p.value()?.to_string())))
            // GetParameters answers with the name it was asked for, or the ARN when asked by ARN.
            .chain(
                out.parameters().iter().filter_map(|p| Some((p.arn()?.to_string(), p.value()?.to_string()))),
            )
            .collect())
    }

    async fn secret(
        &mut self,
        id: &str,
        stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<String, StoreError> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .set_version_stage(stage.map(str::to_string))
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) {
                    StoreError::SecretNotFound(id.to_string())
                } else {
                    StoreError::Service(error_text(&e))
                }
            })?;
        match (out.secret_string(), out.secret_binary()) {
            (Some(s), _) => Ok(s.to_string()),
            (None, Some(b)) => Ok(String::from_utf8_lossy(b.as_ref()).into_owned()),
            (None, None) => Err(StoreError::Service(format!("secret {id} has no value"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_aws_call_is_bounded() {
        let t = super::timeouts();
        assert_eq!(t.operation_attempt_timeout(), Some(super::ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(super::OPERATION_TIMEOUT));
        assert!(t.connect_timeout().is_some());
    }
}
