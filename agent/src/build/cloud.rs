//! What a build gets from AWS, all prepared before it runs: the S3 uploader for its artifacts,
//! its cache store, its Parameter Store and Secrets Manager values, its ECR login, and (when
//! asked) the agent's own credentials. One AWS configuration, loaded only when something needs
//! it: a build that needs no AWS makes no AWS call.

use std::fs;
use std::path::{Path, PathBuf};

use super::settings::{self, CacheLocation};
use super::{BuildRequest, EcrLogin, PrepareError, prepare};
use crate::buildspec::Buildspec;
use crate::engine::upload::ArtifactSettings;
use crate::env::{self, BuildFacts};
use crate::log::mask::Masker;
use crate::workspace::Workspace;

/// A build's AWS side, ready.
pub(super) struct Cloud {
    pub artifacts: ArtifactSettings,
    pub cache: Result<crate::cache::Cache, &'static str>,
    /// `None` when the build has no Parameter Store / Secrets Manager variables.
    pub secrets: Option<Result<Vec<(String, String)>, String>>,
    /// What the log must never show: the ECR token, and the AWS keys handed to the build.
    pub masker: Masker,
}

/// Prepares the build's AWS side. `in_container` is the container's source directory when the
/// build runs in an image. Warnings meant for the build's log go into `log_warnings`.
#[allow(clippy::too_many_arguments, reason = "the build's facts, each from another step")]
pub(super) async fn prepare_cloud(
    req: &BuildRequest,
    spec: Option<&Buildspec>,
    facts: &BuildFacts<'_>,
    environment: &mut super::environment::BuildEnvironment,
    workspace: &Workspace,
    in_container: Option<&str>,
    log_warnings: &mut Vec<String>,
) -> Result<Cloud, PrepareError> {
    let mut artifacts = req.artifacts.clone();
    artifacts.build_id = facts.build_id();
    artifacts.src_in_build = in_container.map(PathBuf::from);
    artifacts.secondary_sources = facts
        .secondary_dirs
        .iter()
        .filter_map(|(id, seen)| {
            let host = workspace.secondary.iter().find(|(i, _)| i == id)?;
            Some((PathBuf::from(seen), host.1.clone()))
        })
        .collect();
    let fetch_secrets = !environment.requests.is_empty() && spec.is_some();
    let cache_location = settings::cache_location(req.cache.as_deref(), &req.project, &req.project_name)?;
    let s3_cache = matches!(cache_location, Ok(CacheLocation::S3 { .. }));
    let config = match settings::uses_s3(&artifacts) || fetch_secrets || s3_cache {
        true => Some(crate::aws::sdk_config(facts.region, req.profile.as_deref()).await),
        false => None,
    };
    if let Some(config) = config.as_ref().filter(|_| settings::uses_s3(&artifacts)) {
        let uploader =
            crate::artifacts::s3::S3Uploader::new(crate::aws::s3_client(config), facts.build_arn());
        artifacts.s3 = Some(match settings::upload_progress().filter(|_| req.progress) {
            Some(p) => uploader.with_progress(p),
            None => uploader,
        });
    }
    let cache = cache_location.map(|location| crate::cache::Cache {
        store: match location {
            CacheLocation::Local(dir) => crate::cache::Store::Local(dir),
            CacheLocation::S3 { bucket, prefix } => {
                let client = crate::aws::s3_client(config.as_ref().expect("loaded for an S3 cache"));
                let uploader = crate::artifacts::s3::S3Uploader::new(client.clone(), facts.build_arn());
                crate::cache::Store::S3 { client, uploader, bucket, prefix }
            }
        },
        scratch: workspace.state_dir.clone(),
    });
    let secrets = match config.as_ref().filter(|_| fetch_secrets) {
        Some(config) => {
            let mut store = crate::aws::AwsSecretStore::new(config);
            Some(env::secrets::resolve(&mut store, &environment.requests).await)
        }
        None => None,
    };
    let ecr_secrets = ecr_login(
        req,
        spec,
        &mut environment.environment,
        &workspace.state_dir,
        in_container.is_some(),
        facts.region,
        log_warnings,
    )
    .await?;
    // R-ENV-08: AWS access keys handed to the build are hidden like secrets; so is the ECR token.
    let masker = Masker::new(
        environment
            .overrides
            .iter()
            .filter(|(k, _)| {
                matches!(k.as_str(), "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN")
            })
            .map(|(_, v)| v.as_str())
            .chain(ecr_secrets.iter().map(String::as_str)),
    );
    Ok(Cloud { artifacts, cache, secrets, masker })
}

/// For a build image in ECR that is not local: where to pull it from, with an ECR token.
pub async fn ecr_pull(
    image: &str,
    profile: Option<&str>,
) -> Result<Option<crate::exec::docker::PullFrom>, PrepareError> {
    let Ok(ecr) = crate::image::uri::parse(image) else { return Ok(None) };
    let config = crate::aws::sdk_config(&ecr.region, profile).await;
    let client = crate::image::ecr::client(&config, &ecr.region);
    let login = crate::image::ecr::login(&client, Some(&ecr.registry))
        .await
        .map_err(|e| prepare(format!("cannot pull the build image `{image}`: {e}")))?;
    Ok(Some(crate::exec::docker::PullFrom {
        from: format!("{}/{}:{}", login.server, ecr.repository, ecr.tag),
        credentials: login.docker_credentials(),
    }))
}

/// The build's Docker login for ECR (`--ecr-login`): a token from the ECR API written into a
/// Docker config in the state directory, named by `DOCKER_CONFIG` (a built-in: the buildspec
/// can still point elsewhere). On the host the user's own config is the base. Returns the
/// values to mask. In `auto`, a failure is a warning: the build may not need the login.
async fn ecr_login(
    req: &BuildRequest,
    spec: Option<&crate::buildspec::Buildspec>,
    environment: &mut env::Environment,
    state_dir: &Path,
    in_container: bool,
    region: &str,
    log_warnings: &mut Vec<String>,
) -> Result<Vec<String>, PrepareError> {
    use crate::buildspec::Step;
    use crate::image::docker_config;
    let wanted = match req.ecr_login {
        EcrLogin::Never => false,
        EcrLogin::Always => true,
        EcrLogin::Auto => {
            let commands =
                spec.into_iter().flat_map(|b| &b.phases).flat_map(|p| p.commands.iter().chain(&p.finally));
            let texts: Vec<&str> = commands
                .filter_map(|c| match c {
                    Step::Command(t) => Some(t.as_str()),
                    Step::Plugin(_) => None,
                })
                .collect();
            let pairs = environment.pairs();
            // A login only when something would use it: a registry client (`docker push`) and
            // an ECR registry named somewhere. A build that needs no AWS makes no AWS call.
            docker_config::runs_registry_client(texts.iter().copied())
                && docker_config::mentions_ecr(
                    texts.iter().copied().chain(pairs.iter().map(|(_, v)| v.as_str())),
                )
        }
    };
    if !wanted {
        return Ok(Vec::new());
    }
    let config = crate::aws::sdk_config(region, req.profile.as_deref()).await;
    let client = crate::image::ecr::client(&config, config.region().map_or(region, |r| r.as_ref()));
    let login = match crate::image::ecr::login(&client, None).await {
        Ok(l) => l,
        Err(e) if req.ecr_login == EcrLogin::Auto => {
            // In the build's log, where a failing `docker push` will send the reader.
            log_warnings.push(format!("no ECR login for the build ({e}); pass --ecr-login never to skip it"));
            return Ok(Vec::new());
        }
        Err(e) => return Err(prepare(e)),
    };
    let existing = match in_container {
        true => None,
        false => {
            let dir = std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
            dir.and_then(|d| fs::read_to_string(d.join("config.json")).ok())
        }
    };
    let text = docker_config::with_logins(existing.as_deref(), std::slice::from_ref(&login))
        .map_err(|e| prepare(format!("your Docker config: {e}")))?;
    let dir = state_dir.join("docker");
    fs::create_dir_all(&dir)
        .and_then(|()| fs::write(dir.join("config.json"), text))
        .map_err(|e| prepare(format!("cannot write the build's Docker config in {}: {e}", dir.display())))?;
    let seen = match in_container {
        true => format!("{}/docker", crate::exec::docker::STATE_DIR),
        false => dir.display().to_string(),
    };
    environment.set("DOCKER_CONFIG", seen, env::Layer::Builtin);
    Ok(vec![login.basic_auth(), login.password])
}

/// `--aws-credentials`: the host's credentials and region, resolved through the standard chain
/// (so profiles and SSO work), as variables for the build (like `codebuild_build.sh -c`).
pub(super) async fn host_credentials(
    region: &str,
    profile: Option<&str>,
) -> Result<Vec<(String, String)>, PrepareError> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let config = crate::aws::sdk_config(region, profile).await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| prepare("--aws-credentials: no AWS credentials provider is configured"))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| prepare(format!("--aws-credentials: cannot get AWS credentials: {e}")))?;
    let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| region.to_string());
    let mut vars = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), creds.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), creds.secret_access_key().to_string()),
        ("AWS_REGION".to_string(), region.clone()),
        ("AWS_DEFAULT_REGION".to_string(), region),
    ];
    if let Some(token) = creds.session_token() {
        vars.push(("AWS_SESSION_TOKEN".to_string(), token.to_string()));
    }
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        vars.push(("AWS_ENDPOINT_URL".to_string(), endpoint));
    }
    Ok(vars)
}
