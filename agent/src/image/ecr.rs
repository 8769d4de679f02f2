//! The ECR API side of pushing: an authorization token for a registry, and the repository
//! (created on request).

use aws_config::{Region, SdkConfig};
use base64::Engine as _;

use super::uri::EcrImage;

/// Docker credentials for one ECR registry.
#[derive(Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
    /// The host the credentials are for and pushes go to: the token's proxy endpoint (e.g.
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com`), or `RUNSPEC_ECR_REGISTRY` when set.
    pub server: String,
}

impl Login {
    /// `base64(user:password)`, as a Docker config's `auth` holds it.
    pub fn basic_auth(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.username, self.password))
    }

    /// The credentials for the Docker API (pushes, pulls).
    pub fn docker_credentials(&self) -> bollard::auth::DockerCredentials {
        bollard::auth::DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            serveraddress: Some(self.server.clone()),
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("username", &self.username).field("server", &self.server).finish()
    }
}

/// The variable that sends ECR pushes (and the build's Docker login) to another registry
/// host, e.g. `127.0.0.1:5000`: a pull-through mirror, a self-hosted registry, tests.
pub const REGISTRY_OVERRIDE: &str = "RUNSPEC_ECR_REGISTRY";

pub fn client(config: &SdkConfig, region: &str) -> aws_sdk_ecr::Client {
    let conf = aws_sdk_ecr::config::Builder::from(config).region(Region::new(region.to_string())).build();
    aws_sdk_ecr::Client::from_conf(conf)
}

/// An authorization token for the caller's registry (the token works for every registry the
/// credentials may use), decoded into Docker credentials. `registry` names the registry in
/// errors and stands in when the answer has no proxy endpoint.
pub async fn login(client: &aws_sdk_ecr::Client, registry: Option<&str>) -> Result<Login, String> {
    let shown = registry.unwrap_or("the account's ECR registry");
    let out = client.get_authorization_token().send().await.map_err(|e| {
        format!("cannot get an ECR authorization token for {shown}: {}", crate::aws::error_text(&e))
    })?;
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| format!("ECR returned no authorization data for {shown}"))?;
    let token = data.authorization_token().unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("the ECR authorization token is not base64 `user:password`")?;
    let (username, password) =
        decoded.split_once(':').ok_or("the ECR authorization token is not base64 `user:password`")?;
    let proxy = data.proxy_endpoint().or(registry).ok_or("the ECR token names no registry")?;
    let host = proxy.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let server = match std::env::var(REGISTRY_OVERRIDE) {
        Ok(o) if !o.is_empty() => o,
        _ => host.to_string(),
    };
    Ok(Login { username: username.to_string(), password: password.to_string(), server })
}

/// Makes sure `image`'s repository exists; creates it when `create`, else says how.
pub async fn ensure_repository(
    client: &aws_sdk_ecr::Client,
    image: &EcrImage,
    create: bool,
) -> Result<bool, String> {
    let found = client
        .describe_repositories()
        .registry_id(&image.account)
        .repository_names(&image.repository)
        .send()
        .await;
    match found {
        Ok(_) => Ok(false),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => {
            if !create {
                return Err(format!(
                    "ECR repository `{}` does not exist in {} ({}); create it, or pass --create-repository",
                    image.repository, image.account, image.region
                ));
            }
            client
                .create_repository()
                .registry_id(&image.account)
                .repository_name(&image.repository)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "cannot create ECR repository `{}`: {}",
                        image.repository,
                        crate::aws::error_text(&e)
                    )
                })?;
            Ok(true)
        }
        Err(e) => Err(format!(
            "cannot look up ECR repository `{}`: {}",
            image.repository,
            crate::aws::error_text(&e)
        )),
    }
}
