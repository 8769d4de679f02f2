//! The actions that are builds: CodeBuild (one build or a batch), Commands and
//! ECRBuildAndPublish, through [`crate::build::run`] with CodePipeline's semantics: inputs as
//! `CODEBUILD_SRC_DIR` and `CODEBUILD_SRC_DIR_<artifact>`, the primary and secondary artifacts
//! as output artifacts, exported variables as the action's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use super::{Ctx, Outcome};
use crate::build::{BuildRequest, Notices};
use crate::engine::upload::{ArtifactSettings, ArtifactTarget, Destination};
use crate::pipeline::execution::Status;
use crate::pipeline::runner::Event;
use crate::project::{Project, ProjectVariable, VariableType};

/// A build's warnings, as lines of its action's log.
struct ActionNotices<'a, 'b>(&'a Ctx<'b>);

impl Notices for ActionNotices<'_, '_> {
    fn warning(&self, message: &str) {
        self.0.line(&format!("warning: {message}"));
    }

    fn diagnostics(&self, rendered: &str) {
        for line in rendered.lines() {
            self.0.line(line);
        }
    }
}

/// The request every build action starts from: the pipeline's template with the action's
/// inputs, CodePipeline's initiator and the primary input's source revision.
fn build_request(ctx: &Ctx, project: Project, project_name: &str, primary: usize) -> BuildRequest {
    let (_, primary_dir, commit) = &ctx.inputs[primary];
    let secondary = ctx
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != primary)
        .map(|(_, (name, dir, _))| crate::workspace::Source { id: Some(name.clone()), dir: dir.clone() })
        .collect();
    let mut req = ctx.options.template.clone();
    if req.image.is_none() && !ctx.options.host {
        req.image = project.image.clone().filter(|i| i != crate::build::HOST_IMAGE);
    }
    req.privileged = req.privileged || project.privileged;
    req.timeout = project.timeout_minutes.map(|m| std::time::Duration::from_secs(m * 60)).or(req.timeout);
    req.primary = primary_dir.clone();
    req.secondary = secondary;
    req.project = project;
    req.project_name = project_name.to_string();
    req.initiator = Some(format!("codepipeline/{}", ctx.pipeline.name));
    req.source_version = commit.clone().filter(|c| !c.is_empty());
    req.build_number = crate::build::next_build_number(project_name);
    req
}

/// Where a build action's output variables come from.
enum OutputVariables {
    /// The buildspec's `exported-variables` (CodeBuild and Commands actions).
    Exported,
    /// The image the build pushed (ECRBuildAndPublish): `ECRImageDigestId`, `ECRRepositoryName`.
    Pushed { repository: String },
}

/// Runs a build request with the action's log, and turns its end into the action's.
async fn build(ctx: &Ctx<'_>, req: BuildRequest, outputs: &[String], wanted: OutputVariables) -> Outcome {
    let observer = ctx.observer;
    let (stage, action) = (ctx.stage, ctx.action.name.as_str());
    let lines =
        crate::log::lines::Lines::new(move |line: &[u8]| observer.event(Event::Line { stage, action, line }));
    let commit = req.source_version.clone();
    let ran = match &ctx.options.builds {
        // Elsewhere (the service's queue): this action's thread waits for it.
        Some(builds) => builds.build(&format!("{stage}/{action}"), req, ctx.stop.clone()),
        None => crate::build::run(
            req,
            crate::log::CodeBuildLog::new(lines),
            ctx.stop.clone(),
            &ActionNotices(ctx),
        )
        .await
        .map_err(|e| e.0),
    };
    let finished = match ran {
        Ok(f) => f,
        Err(e) => return Outcome::failed("JobFailed", format!("the build could not start: {e}")),
    };
    let build_id = finished.identity.id.clone();
    let report = &finished.report;
    let variables: BTreeMap<String, String> = match wanted {
        OutputVariables::Exported => report.exported.iter().cloned().collect(),
        OutputVariables::Pushed { repository } => match report.images.first() {
            Some(pushed) => BTreeMap::from([
                ("ECRImageDigestId".to_string(), pushed.digest.clone()),
                ("ECRRepositoryName".to_string(), repository),
            ]),
            None => BTreeMap::new(),
        },
    };
    let mut outcome = match report.status {
        crate::engine::Status::Succeeded => Outcome::succeeded(format!("build {build_id} SUCCEEDED")),
        crate::engine::Status::Stopped => Outcome {
            status: Status::Abandoned,
            ..Outcome::failed("JobFailed", format!("build {build_id} was stopped"))
        },
        _ => Outcome::failed("JobFailed", format!("build {build_id}: {}", crate::result::summary(report))),
    };
    outcome.external_id = Some(build_id);
    if outcome.status == Status::Succeeded {
        if let Err(why) = settle_outputs(&ctx.out_dir, &ctx.action.name, outputs) {
            return Outcome { external_id: outcome.external_id, ..Outcome::failed("JobFailed", why) };
        }
        outcome.outputs = outputs.iter().map(|n| (n.clone(), commit.clone())).collect();
        outcome.variables = variables;
    }
    outcome
}

/// The name the primary artifact is written under until it is known which output it is.
fn primary_name(action: &str) -> String {
    format!(".primary-{}", action.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
}

/// Where a build's artifacts go. Each output artifact named like one of the buildspec's
/// secondary artifacts is that artifact (AWS's multi-output sample); the primary artifact is the
/// one output that is left (with one output artifact, the primary is it). Any other secondary
/// artifact is collected and not kept.
pub(crate) fn artifact_settings(out_dir: &Path, action: &str, outputs: &[String]) -> ArtifactSettings {
    let to = |name: &str| ArtifactTarget {
        destination: Destination::Local(out_dir.to_path_buf()),
        packaging: crate::engine::upload::Packaging::None,
        name: Some(name.to_string()),
        override_name: false,
        exact_name: true,
    };
    let primary = match outputs {
        [] => ArtifactTarget::default(),
        _ => to(&primary_name(action)),
    };
    ArtifactSettings {
        primary,
        secondary: outputs.iter().map(|n| (n.clone(), to(n))).collect(),
        other_secondary: Some(ArtifactTarget::default()),
        ..Default::default()
    }
}

/// After the build: the primary artifact becomes the one output no secondary artifact made.
/// `Err` names what is missing.
pub(crate) fn settle_outputs(out_dir: &Path, action: &str, outputs: &[String]) -> Result<(), String> {
    let primary = out_dir.join(primary_name(action));
    let missing: Vec<&String> = outputs.iter().filter(|n| !out_dir.join(n).is_dir()).collect();
    let result = match (missing.as_slice(), primary.is_dir()) {
        ([], _) => Ok(()),
        ([one], true) => std::fs::rename(&primary, out_dir.join(one))
            .map_err(|e| format!("cannot keep the output artifact {one}: {e}")),
        ([one], false) => Err(format!("no output artifact {one}: the buildspec's artifacts made no files")),
        (many, _) => Err(format!(
            "no output artifacts {}: with several output artifacts, each but one is the buildspec's secondary artifact of that identifier, and the primary artifact is the one left",
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )),
    };
    let _ = std::fs::remove_dir_all(&primary);
    result
}

pub(super) async fn codebuild_action(ctx: &Ctx<'_>) -> Outcome {
    let inputs: Vec<String> = ctx.inputs.iter().map(|(n, ..)| n.clone()).collect();
    let outputs = ctx.outputs();
    let a = match crate::pipeline::codebuild::action(&ctx.config, &inputs, &outputs) {
        Ok(a) => a,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    let mut project = match (ctx.options.projects.get(&a.project), &ctx.options.codebuild_endpoint) {
        (Some(p), _) => p.clone(),
        (None, Some(url)) => match remote_project(url, &a.project).await {
            Ok(p) => {
                ctx.line(&format!("the project {}: read from {url}", a.project));
                p
            }
            Err(e) => return Outcome::failed("ConfigurationError", e),
        },
        (None, None) => {
            ctx.line(&format!(
                "warning: no --project {}=FILE: the build runs a default project (this machine's shell, or --image; the buildspec of the primary input)",
                a.project
            ));
            Project { name: Some(a.project.clone()), ..Default::default() }
        }
    };
    // The action's variables go on top of the project's, replacing those of the same name.
    for v in &a.variables {
        let kind = match v.kind.as_str() {
            "PARAMETER_STORE" => VariableType::ParameterStore,
            "SECRETS_MANAGER" => VariableType::SecretsManager,
            _ => VariableType::Plaintext,
        };
        project.variables.retain(|p| p.name != v.name);
        project.variables.push(ProjectVariable { name: v.name.clone(), value: v.value.clone(), kind });
    }
    let primary = inputs.iter().position(|n| *n == a.primary).unwrap_or(0);
    if a.batch
        && let Some(why) = ctx.options.builds.as_ref().and_then(|b| b.no_batches())
    {
        return Outcome::failed("JobFailed", why);
    }
    if a.batch {
        let req = build_request(ctx, project, &a.project, primary);
        return batch_action(ctx, req, &outputs, a.combine_artifacts);
    }
    let mut req = build_request(ctx, project, &a.project, primary);
    req.artifacts = artifact_settings(&ctx.out_dir, &ctx.action.name, &outputs);
    build(ctx, req, &outputs, OutputVariables::Exported).await
}

/// A `BatchEnabled` CodeBuild action: the buildspec's batch, its builds at most two at once on
/// this machine. With `CombineArtifacts` the one output artifact holds each build's primary
/// artifact in a directory named by its identifier, as CodeBuild combines them; without, each
/// output artifact is the primary artifact of the build of that identifier.
fn batch_action(ctx: &Ctx, mut req: BuildRequest, outputs: &[String], combine: bool) -> Outcome {
    let spec = match crate::build::read_buildspec(&req, &ActionNotices(ctx)) {
        Ok(s) => s,
        Err(e) => return Outcome::failed("JobFailed", format!("DOWNLOAD_BATCHSPEC: {e}")),
    };
    let Some(batch) = spec.batch else {
        return Outcome::failed(
            "ConfigurationError",
            "BatchEnabled is true and the buildspec has no `batch` section",
        );
    };
    if combine && outputs.len() > 1 {
        return Outcome::failed(
            "ConfigurationError",
            "with CombineArtifacts the action has one output artifact",
        );
    }
    let builds = ctx.out_dir.join(format!(".batch-{}", primary_name(&ctx.action.name)));
    req.artifacts = ArtifactSettings {
        primary: ArtifactTarget {
            destination: Destination::Local(builds.clone()),
            packaging: crate::engine::upload::Packaging::None,
            name: Some("artifact".into()),
            override_name: false,
            exact_name: true,
        },
        other_secondary: Some(ArtifactTarget::default()),
        ..Default::default()
    };
    let options = crate::batch::local::Options {
        jobs: 2,
        combine_artifacts: false,
        status_lines: None,
        host: ctx.options.host,
    };
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    struct Send(std::sync::mpsc::Sender<Vec<u8>>);
    impl std::io::Write for Send {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out: crate::batch::local::Output = std::sync::Arc::new(Mutex::new(Send(tx)));
    let ran = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut lines = crate::log::lines::Lines::new(|line: &[u8]| {
                ctx.observer.event(Event::Line { stage: ctx.stage, action: &ctx.action.name, line })
            });
            for chunk in rx {
                let _ = std::io::Write::write_all(&mut lines, &chunk);
            }
        });
        crate::batch::local::run(&req, &batch, &options, ctx.stop.clone(), out, &ActionNotices(ctx))
    });
    let outcome = match ran {
        Err(e) => return Outcome::failed("JobFailed", e),
        Ok(o) => o,
    };
    let batch_id = outcome.json["buildBatch"]["id"].as_str().unwrap_or_default().to_string();
    if outcome.status != crate::engine::Status::Succeeded {
        let failed = Outcome::failed("JobFailed", format!("batch {batch_id} {}", outcome.status));
        return Outcome { external_id: Some(batch_id), ..failed };
    }
    let identifiers: Vec<String> = outcome.json["buildBatch"]["buildGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["identifier"].as_str().map(str::to_string))
        .filter(|i| builds.join(i).join("artifact").is_dir())
        .collect();
    let placed = match (combine, outputs) {
        (_, []) => Ok(()),
        (true, [one]) => identifiers.iter().try_for_each(|i| {
            crate::pipeline::fetch::copy_dir(&builds.join(i).join("artifact"), &ctx.out_dir.join(one).join(i))
        }),
        (_, many) => many.iter().try_for_each(|name| match identifiers.contains(name) {
            true => std::fs::rename(builds.join(name).join("artifact"), ctx.out_dir.join(name))
                .map_err(|e| format!("cannot keep the output artifact {name}: {e}")),
            false => Err(format!(
                "no output artifact {name}: without CombineArtifacts each output artifact is the artifact of the batch's build of that identifier ({})",
                identifiers.join(", ")
            )),
        }),
    };
    let _ = std::fs::remove_dir_all(&builds);
    match placed {
        Ok(()) => Outcome {
            external_id: Some(batch_id.clone()),
            outputs: outputs.iter().map(|n| (n.clone(), req.source_version.clone())).collect(),
            ..Outcome::succeeded(format!("batch {batch_id} SUCCEEDED: {}", identifiers.join(", ")))
        },
        Err(e) => Outcome { external_id: Some(batch_id), ..Outcome::failed("JobFailed", e) },
    }
}

/// A project read with BatchGetProjects from `url`.
async fn remote_project(url: &str, name: &str) -> Result<Project, String> {
    let client = crate::replay::client::CodeBuild::connect(None, None).await?.with_endpoint(url);
    let found =
        client.project(name).await.map_err(|e| format!("cannot read the project {name} from {url}: {e}"))?;
    let found = found.ok_or_else(|| format!("{url} has no project {name}"))?;
    crate::project::parse(&found.to_string()).map_err(|e| format!("the project {name} from {url}: {e}"))
}

pub(crate) async fn commands_action(ctx: &Ctx<'_>) -> Outcome {
    let buildspec = match crate::pipeline::commands::buildspec(ctx.action) {
        Ok(b) => b,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    if ctx.inputs.is_empty() {
        return Outcome::failed("ConfigurationError", "a Commands action needs an input artifact");
    }
    let name = format!("{}-{}", ctx.pipeline.name, ctx.action.name);
    let mut project = Project { name: Some(name.clone()), buildspec: Some(buildspec), ..Default::default() };
    for v in &ctx.environment {
        let kind = match v.kind.as_deref() {
            Some("SECRETS_MANAGER") => VariableType::SecretsManager,
            _ => VariableType::Plaintext,
        };
        project.variables.push(ProjectVariable { name: v.name.clone(), value: v.value.clone(), kind });
    }
    let outputs = ctx.outputs();
    let mut req = build_request(ctx, project, &name, 0);
    req.artifacts = artifact_settings(&ctx.out_dir, &ctx.action.name, &outputs);
    build(ctx, req, &outputs, OutputVariables::Exported).await
}

/// An ECRBuildAndPublish action: a privileged build of the input's Dockerfile, pushed with the
/// ECR login to every tag.
pub(super) async fn ecr_build_action(ctx: &Ctx<'_>) -> Outcome {
    let region = crate::aws::region_or_env(ctx.action.region.as_deref());
    let plan = match crate::pipeline::ecr_build::action(&ctx.config, &ctx.pipeline.role_arn, &region) {
        Ok(p) => p,
        Err(e) => return Outcome::failed("ConfigurationError", e),
    };
    if ctx.inputs.len() != 1 {
        return Outcome::failed("ConfigurationError", "an ECRBuildAndPublish action has one input artifact");
    }
    for tag in &plan.tags {
        ctx.line(&format!("pushing {}:{tag}", plan.uri));
    }
    let name = format!("{}-{}", ctx.pipeline.name, ctx.action.name);
    let project = Project {
        name: Some(name.clone()),
        buildspec: Some(crate::pipeline::commands::inline(&plan.commands(), &[], &[])),
        privileged: true,
        ..Default::default()
    };
    let mut req = build_request(ctx, project, &name, 0);
    req.ecr_login = crate::build::EcrLogin::Always;
    let wanted = OutputVariables::Pushed { repository: plan.repository.clone() };
    let outcome = build(ctx, req, &[], wanted).await;
    if outcome.status == Status::Succeeded && !outcome.variables.contains_key("ECRImageDigestId") {
        return Outcome {
            external_id: outcome.external_id,
            ..Outcome::failed("JobFailed", "the build pushed no image")
        };
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_artifact_is_the_output_no_secondary_artifact_made() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        /// Outputs, secondary artifacts the build made, whether it made a primary one, and what
        /// the error says.
        type Case<'a> = (&'a [&'a str], &'a [&'a str], bool, Result<(), &'a str>);
        let table: &[Case] = &[
            (&["Out"], &[], true, Ok(())),
            (&["Out"], &[], false, Err("no output artifact Out: the buildspec's artifacts made no files")),
            (&["artifact1", "artifact2"], &["artifact1", "artifact2"], true, Ok(())),
            (&["Site", "deploy"], &["deploy"], true, Ok(())),
            (&["a", "b", "c"], &["a"], true, Err("no output artifacts b, c")),
            (&[], &[], true, Ok(())),
        ];
        for (outputs, made, primary, expected) in table {
            let dir = tempfile::tempdir().unwrap();
            for m in *made {
                std::fs::create_dir_all(dir.path().join(m)).unwrap();
            }
            if *primary {
                std::fs::create_dir_all(dir.path().join(primary_name("Build")).join("x")).unwrap();
            }
            let got = settle_outputs(dir.path(), "Build", &names(outputs));
            match (got, expected) {
                (Ok(()), Ok(())) => {
                    for o in *outputs {
                        assert!(dir.path().join(o).is_dir(), "{outputs:?}: {o}");
                    }
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{e}"),
                (got, want) => panic!("{outputs:?}: {got:?}, expected {want:?}"),
            }
            assert!(!dir.path().join(primary_name("Build")).exists(), "the primary's place is gone");
        }
    }
}
