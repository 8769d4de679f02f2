//! `runspec check`: parse and validate, never run.

use std::io::IsTerminal;

use super::{CheckArgs, Format, UsageError, exit, usage};
use crate::buildspec;

pub fn check(args: &CheckArgs) -> Result<u8, UsageError> {
    let path = &args.buildspec;
    let src =
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
    let parsed = buildspec::parse(path.display().to_string(), &src);
    let diags = &parsed.diagnostics;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&diags.to_json()).unwrap_or_default()),
        Format::Human => {
            let width = if std::io::stdout().is_terminal() { terminal_width() } else { 100 };
            if diags.issues.is_empty() {
                println!("{}: valid", diags.file);
            } else {
                print!("{}", diags.render(width));
            }
        }
    }
    Ok(if diags.has_errors() { exit::FAILED } else { exit::OK })
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
}
