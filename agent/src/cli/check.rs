//! `runspec check`: parse and validate, never run.

use std::io::IsTerminal;

use super::{CheckArgs, Format, UsageError, exit, usage};
use crate::buildspec;

pub fn check(args: &CheckArgs) -> Result<u8, UsageError> {
    let path = &args.buildspec;
    let src =
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
    let mut parsed = buildspec::parse(path.display().to_string(), &src);
    // Local plugin paths are relative to the source directory: the buildspec's own directory.
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if let Some(spec) = &parsed.buildspec {
        let missing = missing_plugins(spec, base);
        parsed.diagnostics.issues.extend(missing);
        parsed.diagnostics.issues.sort_by_key(|i| i.span.start);
    }
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

/// Plugin steps whose local `.wasm` file does not exist (remote ones are checked when fetched).
fn missing_plugins(spec: &buildspec::Buildspec, base: &std::path::Path) -> Vec<buildspec::Issue> {
    let mut issues = Vec::new();
    for phase in &spec.phases {
        for step in phase.commands.iter().chain(&phase.finally) {
            let buildspec::Step::Plugin(p) = step else { continue };
            let Ok(crate::plugins::PluginRef::Local(rel)) = crate::plugins::reference::parse(&p.plugin)
            else {
                continue;
            };
            let file = base.join(&rel);
            if !file.is_file() {
                issues.push(
                    buildspec::Issue::error(
                        "plugin-not-found",
                        format!("plugin file `{rel}` does not exist (looked at {})", file.display()),
                        p.plugin.span,
                        "no such file",
                    )
                    .help("build the plugin first, or fix the path (it is relative to the source directory)"),
                );
            }
        }
    }
    issues
}

pub(super) fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
}
