//! Container images to ECR: `runspec image push` and its in-process form in buildspecs.
//! [`uri`] parses ECR references (pure), [`ecr`] talks to the ECR API (tokens, repositories),
//! [`push`] drives the Docker engine's push; this module ties them together and writes the
//! CodePipeline deploy files.

pub mod command;
pub mod docker_config;
pub mod ecr;
pub mod push;
pub mod uri;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_config::SdkConfig;
use bollard::Docker;
use serde::Serialize;

pub use push::PushEvent;
pub use uri::EcrImage;

/// One `runspec image push`.
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The local image (name[:tag] or ID), as `docker images` shows it.
    #[arg(value_name = "LOCAL_IMAGE")]
    pub local: String,
    /// Where to push: <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag] (tag default
    /// `latest`); several to push more tags.
    #[arg(value_name = "ECR_URI", required = true)]
    pub targets: Vec<String>,
    /// Create the ECR repository when it does not exist.
    #[arg(long)]
    pub create_repository: bool,
    /// Write imagedefinitions.json for a CodePipeline ECS (standard) deploy, naming this
    /// container with the first ECR_URI.
    #[arg(long, value_name = "CONTAINER")]
    pub imagedefinitions: Option<String>,
    /// Write imageDetail.json for a CodePipeline ECS blue/green deploy (the first ECR_URI).
    #[arg(long)]
    pub image_detail: bool,
    /// Where the deploy files go (default: the current directory; in a build, the source
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A pushed image, as recorded in the result JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    /// The local image that was pushed.
    pub source: String,
    /// `registry/repository:tag`
    pub uri: String,
    /// `sha256:…` of the pushed manifest.
    pub digest: String,
}

/// Pushes `args.local` to every target and writes the deploy files asked for.
pub async fn push_all(
    args: &PushArgs,
    aws: &SdkConfig,
    docker: &Docker,
    base_dir: &Path,
    on_event: &mut dyn FnMut(PushEvent),
) -> Result<Vec<Pushed>, String> {
    let targets = args.targets.iter().map(|t| uri::parse(t)).collect::<Result<Vec<_>, _>>()?;
    if docker.inspect_image(&args.local).await.is_err() {
        return Err(format!(
            "image `{}` is not in the local Docker engine; build or tag it first (docker build -t {} .)",
            args.local, args.local
        ));
    }
    let mut logins: HashMap<String, ecr::Login> = HashMap::new();
    let mut pushed = Vec::new();
    for target in &targets {
        let client = ecr::client(aws, &target.region);
        let login = match logins.get(&target.registry) {
            Some(l) => l.clone(),
            None => {
                let l = ecr::login(&client, Some(&target.registry)).await?;
                logins.insert(target.registry.clone(), l.clone());
                l
            }
        };
        ecr::ensure_repository(&client, target, args.create_repository).await?;
        let shown = target.to_string();
        let digest =
            push::push(docker, &args.local, &login, &target.repository, &target.tag, &shown, on_event)
                .await?;
        pushed.push(Pushed { source: args.local.clone(), uri: shown, digest });
    }
    let dir = args.dir.as_ref().map_or_else(|| base_dir.to_path_buf(), |d| base_dir.join(d));
    if let Some(first) = pushed.first() {
        write_deploy_files(args, &first.uri, &dir)?;
    }
    Ok(pushed)
}

/// imagedefinitions.json / imageDetail.json, in the shapes CodePipeline's ECS deploy actions read.
fn write_deploy_files(args: &PushArgs, uri: &str, dir: &Path) -> Result<(), String> {
    let write = |name: &str, value: serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(&path, format!("{value}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(container) = &args.imagedefinitions {
        write("imagedefinitions.json", serde_json::json!([{ "name": container, "imageUri": uri }]))?;
    }
    if args.image_detail {
        write("imageDetail.json", serde_json::json!({ "ImageURI": uri }))?;
    }
    Ok(())
}

/// One line for a push event, as the CLI and the build log show it; `None` for progress
/// reports, which only a terminal shows.
pub fn describe(event: &PushEvent) -> Option<String> {
    Some(match event {
        PushEvent::Started { target } => format!("Pushing {target}"),
        PushEvent::Progress { .. } => return None,
        PushEvent::Pushed { target, digest, uploaded, existing } => {
            format!("Pushed {target} ({digest}): {uploaded} layer(s) uploaded, {existing} already there")
        }
    })
}

/// Pushes for one build (in-process `runspec image push` commands): the Docker engine the
/// agent uses (`DOCKER_HOST`), connected on first use, and the agent's AWS credentials.
#[derive(Default)]
pub struct Pusher {
    docker: Option<Docker>,
}

impl Pusher {
    /// A pusher on an engine the caller already connected to.
    pub fn with_docker(docker: Docker) -> Pusher {
        Pusher { docker: Some(docker) }
    }

    /// Pushes with AWS configuration for the first target's region (an ECR URI names it).
    pub async fn push(
        &mut self,
        args: &PushArgs,
        base_dir: &Path,
        on_event: &mut dyn FnMut(PushEvent),
    ) -> Result<Vec<Pushed>, String> {
        let first = uri::parse(args.targets.first().map(String::as_str).unwrap_or_default())?;
        let docker = match &self.docker {
            Some(d) => d.clone(),
            None => {
                let d = crate::exec::docker::connect().map_err(|e| e.to_string())?;
                self.docker = Some(d.clone());
                d
            }
        };
        let aws = crate::aws::sdk_config_in(&first.region).await;
        push_all(args, &aws, &docker, base_dir, on_event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_lines() {
        let target = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1".to_string();
        let line = |e: PushEvent| describe(&e);
        assert_eq!(line(PushEvent::Started { target: target.clone() }), Some(format!("Pushing {target}")));
        assert_eq!(
            line(PushEvent::Pushed {
                target: target.clone(),
                digest: "sha256:ab".into(),
                uploaded: 2,
                existing: 1
            }),
            Some(format!("Pushed {target} (sha256:ab): 2 layer(s) uploaded, 1 already there"))
        );
        // Progress ticks are for a terminal, never for the build log.
        assert_eq!(
            line(PushEvent::Progress { target, status: "Pushing".into(), current: 1, total: 2 }),
            None
        );
    }

    #[test]
    fn deploy_files() {
        let dir = tempfile::tempdir().unwrap();
        let args = PushArgs {
            local: "web".into(),
            targets: vec![],
            create_repository: false,
            imagedefinitions: Some("app".into()),
            image_detail: true,
            dir: None,
        };
        write_deploy_files(&args, "r/web:1", dir.path()).unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(read("imagedefinitions.json"), "[{\"imageUri\":\"r/web:1\",\"name\":\"app\"}]\n");
        assert_eq!(read("imageDetail.json"), "{\"ImageURI\":\"r/web:1\"}\n");
    }
}
