//! `runspec pipeline`: CodePipeline pipelines on this machine.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::{Format, UsageError, exit, usage};

#[derive(Debug, clap::Subcommand)]
pub enum PipelineCommand {
    /// Validate a pipeline definition without running anything: what `aws codepipeline
    /// get-pipeline` prints, the bare pipeline object, or a `create-pipeline --cli-input-json`
    /// file. Reports every problem at once with file:line:col: the CodePipeline API's own bounds
    /// (from botocore's model), an input artifact no earlier action produces, an artifact
    /// produced twice, a `#{ns.var}` no earlier action declares, V2-only features in a V1
    /// pipeline, a provider's missing configuration, stage and runOrder rules. Exit status 0
    /// when valid, 1 with problems, 2 when the file is not a pipeline.
    Check(PipelineCheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct PipelineCheckArgs {
    /// The pipeline definition (JSON).
    #[arg(value_name = "PIPELINE.json")]
    pub pipeline: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn main(cmd: PipelineCommand) -> Result<u8, UsageError> {
    match cmd {
        PipelineCommand::Check(args) => check(&args),
    }
}

fn check(args: &PipelineCheckArgs) -> Result<u8, UsageError> {
    let path = &args.pipeline;
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
    let diags = crate::pipeline::check::check(&path.display().to_string(), &text)
        .map_err(|e| usage(format!("{}: {}", path.display(), e.0)))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&diags.to_json()).unwrap_or_default()),
        Format::Human => {
            let width = if std::io::stdout().is_terminal() { super::check::terminal_width() } else { 100 };
            if diags.issues.is_empty() {
                println!("{}: valid", diags.file);
            } else {
                print!("{}", diags.render(width));
            }
        }
    }
    Ok(if diags.has_errors() { exit::FAILED } else { exit::OK })
}
