//! Source actions: a git repository or directory here ([`crate::pipeline::fetch`]), an S3
//! object, an ECR image; each with the variables its provider sets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Ctx, Outcome};
use crate::pipeline::execution::Revision;
use crate::pipeline::fetch::{self, Input};
use crate::pipeline::source::{self, Commit};

/// A source action: its output artifact made from `--source` (by action or artifact name), or
/// the current repository for the one git source.
pub(super) async fn source_action(ctx: &Ctx<'_>) -> Outcome {
    let provider = ctx.action.action_type_id.provider.as_str();
    let Some(output) = ctx.outputs().into_iter().next() else {
        return Outcome::failed("ConfigurationError", "a source action needs one output artifact");
    };
    let given = ctx.options.sources.get(&ctx.action.name).or_else(|| ctx.options.sources.get(&output));
    let input = match (given, provider) {
        (Some(i), _) => i.clone(),
        (None, "CodeCommit" | "CodeStarSourceConnection") if ctx.git_sources == 1 => {
            match toplevel(&ctx.options.here) {
                Some(dir) => Input::Dir(dir),
                None => {
                    return Outcome::failed(
                        "ConfigurationError",
                        format!(
                            "{} is not in a git repository: pass --source {}=DIR|GIT_URL[@REV]",
                            ctx.options.here.display(),
                            ctx.action.name
                        ),
                    );
                }
            }
        }
        (None, "S3") => return s3_source(ctx, &output).await,
        (None, "ECR") => return ecr_source(ctx, &output).await,
        (None, _) => {
            return Outcome::failed(
                "ConfigurationError",
                format!(
                    "no --source for the source action {}: pass --source {}=DIR|GIT_URL[@REV]",
                    ctx.action.name, ctx.action.name
                ),
            );
        }
    };
    let format = match source::format(&ctx.config) {
        Ok(f) => f,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    let dest = ctx.out_dir.join(&output);
    let mut stop = crate::exec::Stop::new(None, ctx.stop.clone());
    let fetched = match fetch::fetch(&input, format, &dest, &mut stop).await {
        Ok(f) => f,
        Err(e) => return Outcome::failed("JobFailed", e.to_string()),
    };
    for note in &fetched.notes {
        ctx.line(note);
    }
    let commit = fetched.commit.clone().unwrap_or(Commit {
        id: String::new(),
        message: String::new(),
        author_date: String::new(),
        committer_date: String::new(),
    });
    let variables = match provider {
        "S3" => BTreeMap::new(),
        _ => match source::variables(provider, &ctx.config, &commit) {
            Ok(v) => v,
            Err(e) => return Outcome::failed("ConfigurationError", e),
        },
    };
    let id = fetched.commit.as_ref().map(|c| c.id.clone());
    let summary = match &fetched.commit {
        Some(c) => {
            format!("{} {}", &c.id[..c.id.len().min(12)], c.message.lines().next().unwrap_or_default())
        }
        None => "files copied".to_string(),
    };
    let revision = id.clone().map(|id| (id, commit.message.lines().next().unwrap_or_default().to_string()));
    let mut outcome = made(ctx, &output, variables, revision, summary);
    // A git source's commit goes with its artifact: the builds that take it as their primary
    // input see it as CODEBUILD_RESOLVED_SOURCE_VERSION.
    outcome.outputs = vec![(output, id)];
    outcome
}

/// A source action that made `output`: its variables, its revision (id, summary) and summary.
fn made(
    ctx: &Ctx,
    output: &str,
    variables: BTreeMap<String, String>,
    revision: Option<(String, String)>,
    summary: String,
) -> Outcome {
    Outcome {
        variables,
        outputs: vec![(output.to_string(), None)],
        revision: revision.map(|(id, summary)| Revision {
            action: ctx.action.name.clone(),
            artifact: output.to_string(),
            id,
            summary,
        }),
        ..Outcome::succeeded(summary)
    }
}

/// An S3 source without `--source`: the ZIP at `S3Bucket`/`S3ObjectKey` (through the standard
/// credential chain; `AWS_ENDPOINT_URL` honoured), unpacked; its `VersionId` and `ETag` as the
/// action's variables, as the S3 source action sets them.
async fn s3_source(ctx: &Ctx<'_>, output: &str) -> Outcome {
    let setting = |k: &str| ctx.config.get(k).cloned().unwrap_or_default();
    let (bucket, key) = (setting("S3Bucket"), setting("S3ObjectKey"));
    let dest = ctx.out_dir.join(output);
    let mut stop = crate::exec::Stop::new(None, ctx.stop.clone());
    let object = match crate::source::s3::fetch(&bucket, &key, None, &dest, &mut stop).await {
        Ok(o) => o,
        Err(e) => {
            return Outcome::failed(
                "JobFailed",
                format!("{e} (or give the files with --source {}=DIR)", ctx.action.name),
            );
        }
    };
    ctx.line(&format!("s3://{bucket}/{key} unpacked"));
    let mut variables = BTreeMap::new();
    variables.extend(object.version_id.clone().map(|v| ("VersionId".to_string(), v)));
    variables.extend(object.etag.clone().map(|e| ("ETag".to_string(), e)));
    let revision = object.version_id.clone().or(object.etag.clone()).unwrap_or_default();
    let summary = format!("s3://{bucket}/{key} {revision}");
    made(ctx, output, variables, Some((revision, format!("s3://{bucket}/{key}"))), summary)
}

/// An ECR source: the image `RepositoryName`:`ImageTag` (default `latest`) as the ECR API
/// describes it (`AWS_ENDPOINT_URL` honoured), handed on as `imageDetail.json`, with the
/// variables the ECR source action sets (RegistryId, RepositoryName, ImageTag, ImageDigest,
/// ImageURI).
async fn ecr_source(ctx: &Ctx<'_>, output: &str) -> Outcome {
    let repository = ctx.config.get("RepositoryName").cloned().unwrap_or_default();
    let tag =
        ctx.config.get("ImageTag").cloned().filter(|t| !t.is_empty()).unwrap_or_else(|| "latest".into());
    let region = crate::aws::region_or_env(ctx.action.region.as_deref());
    let config = crate::aws::sdk_config(&region, None).await;
    let client = crate::image::ecr::client(&config, &region);
    let described = client
        .describe_images()
        .repository_name(&repository)
        .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(&tag).build())
        .send()
        .await;
    let image = match described {
        Ok(d) => match d.image_details().first() {
            Some(i) => i.clone(),
            None => {
                return Outcome::failed(
                    "JobFailed",
                    format!("the repository {repository} has no image {tag}"),
                );
            }
        },
        Err(e) => {
            return Outcome::failed(
                "JobFailed",
                format!(
                    "cannot describe {repository}:{tag}: {} (or give the files with --source {}=DIR)",
                    crate::aws::error_text(&e),
                    ctx.action.name
                ),
            );
        }
    };
    let registry = image.registry_id().unwrap_or_default().to_string();
    let digest = image.image_digest().unwrap_or_default().to_string();
    let uri = format!("{registry}.dkr.ecr.{region}.amazonaws.com/{repository}@{digest}");
    let detail = serde_json::json!({
        "ImageSizeInBytes": image.image_size_in_bytes().map(|n| n.to_string()).unwrap_or_default(),
        "ImageDigest": digest,
        "Version": "1.0",
        "ImagePushedAt": image.image_pushed_at().map(|t| t.to_string()).unwrap_or_default(),
        "RegistryId": registry,
        "RepositoryName": repository,
        "ImageURI": uri,
        "ImageTags": image.image_tags(),
    });
    let dest = ctx.out_dir.join(output);
    let written = std::fs::create_dir_all(&dest).and_then(|()| {
        std::fs::write(
            dest.join("imageDetail.json"),
            serde_json::to_string_pretty(&detail).unwrap_or_default(),
        )
    });
    if let Err(e) = written {
        return Outcome::failed("JobFailed", format!("cannot write imageDetail.json: {e}"));
    }
    ctx.line(&format!("{repository}:{tag} is {digest}"));
    let variables = BTreeMap::from([
        ("RegistryId".to_string(), registry),
        ("RepositoryName".to_string(), repository.clone()),
        ("ImageTag".to_string(), tag.clone()),
        ("ImageDigest".to_string(), digest.clone()),
        ("ImageURI".to_string(), uri),
    ]);
    let summary = format!("{repository}:{tag} {digest}");
    made(ctx, output, variables, Some((digest, format!("{repository}:{tag}"))), summary)
}

/// The top of the git work tree `dir` is in.
fn toplevel(dir: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
