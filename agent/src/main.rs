//! The `runspec` binary: set up agent diagnostics, parse the command line, hand over to the CLI.

use clap::Parser;

fn main() -> std::process::ExitCode {
    use std::io::IsTerminal;
    let cli = runspec::cli::Cli::parse();
    // The AWS SDK's own warnings (no instance metadata on a laptop, a profile file it skipped)
    // are its internals: runspec says what failed in its own words. `-v` shows them.
    let default = match cli.verbose {
        0 => "warn,aws_config=off,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_runtime=error",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // One plain line per diagnostic: no timestamps (the build log has its own), colour only on
    // a terminal.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(cli.verbose > 0)
        .init();
    runspec::cli::main(cli)
}
