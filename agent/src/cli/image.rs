//! `runspec image push`: a local image to ECR without `docker login`.

use super::{UsageError, exit, usage};
use crate::image::{self, PushArgs};

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Push a local image to ECR: gets an ECR token with the AWS credentials (the standard
    /// chain), pushes through the Docker engine with it, prints each pushed URI with its digest,
    /// and writes imagedefinitions.json / imageDetail.json on request. In a buildspec command that
    /// is exactly this invocation, runspec runs it in-process and records the digests in the
    /// result JSON. RUNSPEC_ECR_REGISTRY=host:port sends the push to another registry host
    /// (a mirror, a self-hosted registry). Exit status 0 when every push succeeded, 1 when one
    /// failed, 2 for bad arguments.
    Push(PushCommand),
}

#[derive(Debug, clap::Args)]
pub struct PushCommand {
    #[command(flatten)]
    pub args: PushArgs,
    /// Print the pushed images as JSON (`[{"source", "uri", "digest"}]`) on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn main(cmd: ImageCommand) -> Result<u8, UsageError> {
    let runtime = super::runtime()?;
    match cmd {
        ImageCommand::Push(cmd) => runtime.block_on(push(cmd)),
    }
}

async fn push(cmd: PushCommand) -> Result<u8, UsageError> {
    // Bad URIs are usage errors: nothing was tried.
    for target in &cmd.args.targets {
        image::uri::parse(target).map_err(usage)?;
    }
    let docker = crate::exec::docker::connect().map_err(|e| usage(e.to_string()))?;
    let cwd = std::env::current_dir().map_err(|e| usage(format!("no current directory: {e}")))?;
    let json = cmd.json;
    // A progress line on a terminal (stderr); the lines themselves go where the output goes.
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {bytes}/{total_bytes}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut on_event = |e: image::PushEvent| {
        if let (Some(bar), image::PushEvent::Progress { status, current, total, .. }) = (&bar, &e) {
            bar.set_message(status.clone());
            bar.set_length(*total);
            bar.set_position(*current);
        }
        if let Some(line) = image::describe(&e) {
            let print = || if json { eprintln!("{line}") } else { println!("{line}") };
            match &bar {
                Some(b) => b.suspend(print),
                None => print(),
            }
        }
    };
    let result = image::Pusher::with_docker(docker).push(&cmd.args, &cwd, &mut on_event).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(pushed) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&pushed).unwrap_or_default());
            }
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(exit::FAILED)
        }
    }
}
