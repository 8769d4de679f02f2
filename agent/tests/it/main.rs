//! Integration tests: real buildspecs through the `runspec` binary, checking the result JSON, the
//! log lines and the artifacts. Each test names the rulebook rules it covers
//! (`../shared/reference/codebuild-semantics.md`).

mod artifacts;
mod attacks;
mod aws;
mod batch;
mod cache;
mod cli;
mod codebuild_lines;
mod compute;
mod debug;
mod docker;
mod docker_daemon;
mod env;
mod example;
mod faults;
mod fleet;
mod hardening;
mod image;
mod job_worker;
mod lifecycle;
mod pipeline;
mod pipeline_run;
mod plugin_sources;
mod plugins;
mod replay;
mod reports;
mod runtimes;
mod s3;
mod serve;
mod serve_pipeline;
mod shell;
mod support;
mod webhooks;
mod wire;
