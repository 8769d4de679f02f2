//! CodePipeline pipelines on this machine (`runspec pipeline`).
//!
//! - [`definition`]: a pipeline file as `aws codepipeline get-pipeline` prints it (or the bare
//!   pipeline, or `create-pipeline --cli-input-json`), read into botocore's shapes, with the
//!   place in the file of every part of it.
//! - [`check`]: every problem of a definition at once (pure): the model's bounds, and what
//!   CodePipeline refuses or fails on later (artifacts no earlier action makes, a namespace no
//!   earlier action declares, V2-only actions in a V1 pipeline, a provider's missing
//!   configuration, stage and `runOrder` rules).
//! - [`cloudformation`]: a CloudFormation action's configuration and parameters (pure).
//! - [`codebuild`]: a CodeBuild action's configuration as its build sees it: the primary and
//!   secondary inputs, the action's environment variables, batch settings (pure).
//! - [`commands`]: a V2 Commands action as an inline buildspec (pure).
//! - [`conditions`]: V2 stage conditions: their results and VariableCheck rules (pure).
//! - [`ecr_build`]: a V2 ECRBuildAndPublish action as the build that builds and pushes (pure).
//! - [`ecs`]: the ECS deploy action's `imagedefinitions.json` and the task definition's new
//!   images (pure).
//! - [`source`]: what a git source action hands on: its output format and variables (pure).
//! - [`runner`]: one execution on this machine: stages, actions at once by `runOrder`, stage
//!   conditions, the local artifact store, variables; events for the caller to print. Each
//!   action runs in `actions` (sources, builds, approvals; deploys in [`deploy`]).
//! - [`execution`]: the record of an execution, as `get-pipeline-execution` and
//!   `list-action-executions` show it (pure).
//! - [`fetch`]: a source action's output made from a directory or git repository here.
//! - [`deploy`]: the ECS deploy action by `--deploy` mode (AWS, the local Docker engine, skip).
//! - [`job_worker`]: `runspec worker --codepipeline-action`, a custom action's job worker.
//! - [`plan`]: the order an execution runs actions in, and `#{namespace.variable}` resolution
//!   (pure).

mod actions;
pub mod check;
pub mod cloudformation;
pub mod codebuild;
pub mod commands;
pub mod conditions;
pub mod definition;
pub mod deploy;
pub mod ecr_build;
pub mod ecs;
pub mod execution;
pub mod fetch;
pub mod job_worker;
pub mod plan;
pub mod runner;
pub mod source;
