//! CodeBuild's, CloudWatch Logs' and CodePipeline's data shapes as their APIs define them
//! (botocore's models): a project, a build, a batch build, a pipeline, their parts, and each
//! operation's input and output. One
//! set of types for everything that reads or writes them: `runspec serve`'s wire and service,
//! its stores, the `--result` file and `--project` files. Generated from the model by
//! `scripts/wire_model.py`; a test fails when they drift from it.

pub mod codebuild;
pub mod codepipeline;
pub mod logs;
