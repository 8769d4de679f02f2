//! The `runspec` binary: set up agent diagnostics, parse the command line, hand over to the CLI.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = runspec::cli::Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    runspec::cli::main(cli)
}
