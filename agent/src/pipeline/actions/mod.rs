//! One action of an execution, by provider: what it gets ([`Ctx`]: its configuration
//! resolved, its input artifacts, the options) and how it ended ([`Outcome`]). Source actions
//! are in [`sources`], the actions that are builds (CodeBuild, Commands, ECRBuildAndPublish) in
//! [`builds`], deploys in [`super::deploy`]; approvals are here.

mod builds;
mod sources;

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::sync::watch;

pub(crate) use builds::{artifact_settings, commands_action, settle_outputs};
use builds::{codebuild_action, ecr_build_action};
use sources::source_action;

use crate::pipeline::execution::{Revision, Status};
use crate::pipeline::runner::{Approve, Event, Observer, Options};
use crate::shapes::codepipeline::{ActionDeclaration, PipelineDeclaration};

/// How one action ended.
pub(crate) struct Outcome {
    pub(crate) status: Status,
    pub(crate) summary: String,
    pub(crate) external_id: Option<String>,
    pub(crate) variables: BTreeMap<String, String>,
    /// Output artifact name → the commit it comes from.
    pub(crate) outputs: Vec<(String, Option<String>)>,
    pub(crate) error: Option<(String, String)>,
    pub(crate) revision: Option<Revision>,
}

impl Outcome {
    pub(crate) fn failed(code: &str, message: impl Into<String>) -> Outcome {
        let message = message.into();
        Outcome {
            status: Status::Failed,
            summary: message.clone(),
            external_id: None,
            variables: BTreeMap::new(),
            outputs: Vec::new(),
            error: Some((code.to_string(), message)),
            revision: None,
        }
    }

    pub(crate) fn succeeded(summary: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Succeeded,
            summary: summary.into(),
            external_id: None,
            variables: BTreeMap::new(),
            outputs: Vec::new(),
            error: None,
            revision: None,
        }
    }
}

/// Everything one action needs.
pub(crate) struct Ctx<'a> {
    pub(crate) pipeline: &'a PipelineDeclaration,
    pub(crate) stage: &'a str,
    pub(crate) action: &'a ActionDeclaration,
    pub(crate) config: BTreeMap<String, String>,
    /// A V2 action's `environmentVariables`, their values resolved.
    pub(crate) environment: Vec<crate::shapes::codepipeline::EnvironmentVariable>,
    /// Input artifact name → (directory, commit).
    pub(crate) inputs: Vec<(String, PathBuf, Option<String>)>,
    pub(crate) out_dir: PathBuf,
    pub(crate) options: &'a Options,
    pub(crate) observer: &'a dyn Observer,
    pub(crate) stop: watch::Receiver<bool>,
    /// How many git source actions the pipeline has (the default `--source` is for one).
    pub(crate) git_sources: usize,
}

impl Ctx<'_> {
    fn line(&self, text: &str) {
        self.observer.event(Event::Line {
            stage: self.stage,
            action: &self.action.name,
            line: text.as_bytes(),
        });
    }

    fn outputs(&self) -> Vec<String> {
        self.action.output_artifacts.iter().flatten().map(|a| a.name.clone()).collect()
    }
}

/// Runs one action on this thread (a runtime of its own for what is async).
pub(crate) fn run_action(ctx: &Ctx) -> Outcome {
    let t = &ctx.action.action_type_id;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return Outcome::failed("JobFailed", format!("cannot start the async runtime: {e}")),
    };
    match (t.category.as_str(), t.provider.as_str()) {
        ("Source", "CodeCommit" | "CodeStarSourceConnection" | "S3" | "ECR") => {
            runtime.block_on(source_action(ctx))
        }
        ("Build" | "Test", "CodeBuild") => runtime.block_on(codebuild_action(ctx)),
        (_, "Commands") => runtime.block_on(commands_action(ctx)),
        ("Build", "ECRBuildAndPublish") => runtime.block_on(ecr_build_action(ctx)),
        ("Approval", "Manual") => approval(ctx),
        ("Deploy", provider @ ("ECS" | "S3" | "CodeDeployToECS" | "CloudFormation")) => {
            runtime.block_on(deploy(ctx, provider))
        }
        (category, provider) => Outcome::failed(
            "ActionNotRun",
            format!(
                "{category} actions of the provider {provider} ({}) are not run by runspec; the execution stops here",
                t.owner
            ),
        ),
    }
}

/// A deploy action, by `--deploy` mode ([`crate::pipeline::deploy`]).
async fn deploy(ctx: &Ctx<'_>, provider: &str) -> Outcome {
    use crate::pipeline::deploy;
    let line = |text: &str| ctx.line(text);
    let request = deploy::Request {
        config: &ctx.config,
        inputs: &ctx.inputs,
        mode: ctx.options.deploy,
        task_definitions: &ctx.options.task_definitions,
        store: &ctx.out_dir,
        line: &line,
    };
    let outputs = ctx.outputs();
    let deployed = match provider {
        "ECS" => deploy::ecs(&request)
            .await
            .map(|summary| deploy::Deployed { summary, variables: BTreeMap::new() }),
        "CodeDeployToECS" => deploy::blue_green(&request)
            .await
            .map(|summary| deploy::Deployed { summary, variables: BTreeMap::new() }),
        "S3" => {
            deploy::s3(&request).await.map(|summary| deploy::Deployed { summary, variables: BTreeMap::new() })
        }
        _ => deploy::cloudformation(&request, outputs.first().map(String::as_str)).await,
    };
    let made = |o: &String| std::fs::create_dir_all(ctx.out_dir.join(o));
    match deployed {
        Ok(d) if outputs.iter().map(made).any(|r| r.is_err()) => {
            Outcome::failed("JobFailed", format!("{}; cannot make its output artifact", d.summary))
        }
        Ok(d) => Outcome {
            variables: d.variables,
            outputs: outputs.into_iter().map(|o| (o, None)).collect(),
            ..Outcome::succeeded(d.summary)
        },
        Err(e) => Outcome::failed("JobFailed", e),
    }
}

/// A manual approval, as `--approve` says.
fn approval(ctx: &Ctx) -> Outcome {
    let asked = match ctx.options.approve {
        Approve::All => Some((true, "approved by --approve all".to_string())),
        Approve::None => Some((false, "rejected by --approve none".to_string())),
        Approve::Ask => ctx.observer.ask(ctx.stage, &ctx.action.name, &ctx.config),
    };
    if *ctx.stop.borrow() {
        return Outcome {
            status: Status::Abandoned,
            ..Outcome::failed("Abandoned", "the execution was stopped while the approval waited")
        };
    }
    match asked {
        Some((true, comment)) => Outcome::succeeded(format!("Approved: {comment}")),
        Some((false, comment)) => Outcome::failed("ApprovalRejected", format!("Rejected: {comment}")),
        None => Outcome::failed(
            "ApprovalRejected",
            "the approval needs an answer and there is no terminal to ask on: pass --approve all or --approve none",
        ),
    }
}
