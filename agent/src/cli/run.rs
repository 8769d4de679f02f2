//! `runspec run`: flags and the project file into a [`BuildRequest`], the build with the
//! CodeBuild log on stdout, the result file, the summary line and the exit status.

use std::fs;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{RunArgs, UsageError, exit, usage};
use crate::build::{BuildRequest, Notices};
use crate::engine::Status;

use crate::env;
use crate::log::CodeBuildLog;
use crate::project::{self, Project};
use crate::workspace::Source;

/// Warnings and buildspec diagnostics on stderr.
pub(super) struct Stderr;

impl Notices for Stderr {
    fn warning(&self, message: &str) {
        warn(message);
    }

    fn diagnostics(&self, rendered: &str) {
        eprint!("{rendered}");
    }
}

pub fn run(args: RunArgs) -> Result<u8, UsageError> {
    let mut request = resolve(&args)?;
    if args.batch {
        return batch(&args, request);
    }
    let runtime = super::runtime()?;
    let result_path = args.result.clone();
    // A panic inside the engine is already a FAULT build (the ledger); one before or after it
    // still gets a FAULT result and a message instead of a crash without a trace.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            request.build_number = crate::build::next_build_number(&request.project_name);
            build(request, result_path.as_deref()).await
        })
    }));
    match ran {
        Ok(code) => code,
        Err(panic) => {
            let why = crate::engine::ledger::panic_message(&*panic);
            eprintln!("error: runspec failed unexpectedly: {why}; please report this");
            if let Some(path) = result_path {
                let now = SystemTime::now();
                let report =
                    crate::engine::ledger::Ledger::new(crate::engine::events::RecordingSink::default(), now)
                        .fault(now, &why);
                let json = serde_json::json!({
                    "buildStatus": report.status.as_str(),
                    "buildComplete": true,
                    "currentPhase": "COMPLETED",
                    "phases": report.phases.iter().map(|p| serde_json::json!({
                        "phaseType": p.phase.as_str(),
                        "phaseStatus": p.status.as_str(),
                        "contexts": p.contexts.iter().map(|(c, m)| serde_json::json!({"statusCode": c, "message": m})).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                });
                let _ = fs::write(&path, serde_json::to_string_pretty(&json).unwrap_or_default() + "\n");
            }
            Ok(exit::FAILED)
        }
    }
}

/// Turns true on Ctrl-C or SIGTERM.
pub(super) fn stop_signal() -> tokio::sync::watch::Receiver<bool> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            crate::exec::stop_requested().await;
            // Ctrl-C in a debug shell is that shell's (it shares runspec's terminal).
            if !crate::exec::debug::shell_open() {
                break;
            }
        }
        let _ = stop_tx.send(true);
    });
    stop_rx
}

/// A batch that did not get past DOWNLOAD_BATCHSPEC: the log says why, the result records it.
fn failed_batch(args: &RunArgs, request: &BuildRequest, message: &str) -> Result<u8, UsageError> {
    let outcome = crate::batch::local::failed(request, message);
    let mut log = crate::log::CodeBuildLog::new(std::io::stdout());
    use crate::engine::events::{BuildEvent, EventSink};
    log.event(BuildEvent::Note("Entering phase DOWNLOAD_BATCHSPEC"));
    log.event(BuildEvent::Note("Phase complete: DOWNLOAD_BATCHSPEC State: FAILED"));
    log.event(BuildEvent::Note(&format!("Phase context status code: CLIENT_ERROR Message: {message}")));
    if let Some(path) = &args.result {
        let text = serde_json::to_string_pretty(&outcome.json).unwrap_or_default() + "\n";
        if let Err(e) = fs::write(path, text) {
            eprintln!("error: cannot write the result to `{}`: {e}", path.display());
        }
    }
    eprintln!("Batch FAILED in DOWNLOAD_BATCHSPEC: {message}");
    Ok(crate::cli::exit::FAILED)
}

/// `--batch`: the buildspec's batch section, its children at most `--jobs` at a time.
fn batch(args: &RunArgs, mut request: BuildRequest) -> Result<u8, UsageError> {
    if let Some(t) = &args.batch_timeout {
        let limit = parse_timeout(t).map_err(|e| usage(format!("--batch-timeout {t}: {e}")))?;
        request.project.batch.timeout_minutes = limit.as_secs_f64() / 60.0;
    }
    let spec = match crate::build::read_buildspec(&request, &Stderr) {
        Ok(spec) => spec,
        // A buildspec CodeBuild would refuse in DOWNLOAD_BATCHSPEC: a FAILED batch, recorded.
        Err(message) => return failed_batch(args, &request, &message),
    };
    let Some(batch) = spec.batch else {
        return Err(usage("the buildspec has no `batch` section; run it without --batch"));
    };
    let jobs =
        args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    // The signal handlers need a runtime; the children run on runtimes of their own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    let stop = runtime.block_on(async { stop_signal() });
    // On a terminal: a status line per child, the output printed above them.
    let status_lines = std::io::stdout().is_terminal().then(indicatif::MultiProgress::new);
    let out: crate::batch::local::Output = match &status_lines {
        Some(mp) => std::sync::Arc::new(std::sync::Mutex::new(AboveBars(mp.clone()))),
        None => std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout())),
    };
    let options = crate::batch::local::Options {
        jobs,
        combine_artifacts: args.combine_artifacts,
        status_lines,
        host: args.host,
    };
    let outcome = crate::batch::local::run(&request, &batch, &options, stop, out, &Stderr).map_err(usage)?;
    if let Some(path) = &args.result {
        let text = serde_json::to_string_pretty(&outcome.json).unwrap_or_default() + "\n";
        if let Err(e) = fs::write(path, text) {
            eprintln!("error: cannot write the result to `{}`: {e}", path.display());
        }
    }
    let groups = outcome.json["buildBatch"]["buildGroups"].as_array().cloned().unwrap_or_default();
    if std::io::stderr().is_terminal() {
        let summary: Vec<String> = groups
            .iter()
            .skip(1)
            .map(|g| {
                format!(
                    "{} {}",
                    g["identifier"].as_str().unwrap_or(""),
                    g["currentBuildSummary"]["buildStatus"].as_str().unwrap_or("")
                )
            })
            .collect();
        eprintln!("Batch {}: {}", outcome.status, summary.join(", "));
    }
    Ok(if outcome.status == Status::Succeeded { exit::OK } else { exit::FAILED })
}

/// Complete lines printed above a terminal's status lines.
pub(super) struct AboveBars(pub(super) indicatif::MultiProgress);

impl std::io::Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for line in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
            self.0.println(line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The build, stopped by Ctrl-C or SIGTERM, logged to stdout.
async fn build(request: BuildRequest, result: Option<&Path>) -> Result<u8, UsageError> {
    // Debug builds only: the tests check that a panic before the engine starts still leaves a
    // FAULT result (see `engine::run` for one inside it).
    #[cfg(debug_assertions)]
    if std::env::var("RUNSPEC_TEST_PANIC_AT").is_ok_and(|at| at == "(start)") {
        panic!("injected by RUNSPEC_TEST_PANIC_AT");
    }
    let finished = logged(request).await?;
    write_result(&finished, result);
    if std::io::stderr().is_terminal() {
        eprintln!("{}", crate::result::summary(&finished.report));
    }
    Ok(if finished.report.status == Status::Succeeded { exit::OK } else { exit::FAILED })
}

/// One build with the CodeBuild log on stdout, stopped by Ctrl-C or SIGTERM.
pub(super) async fn logged(request: BuildRequest) -> Result<crate::build::Finished, UsageError> {
    let stop_rx = stop_signal();
    let stdout = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(fs::File::from)
        .map_err(|e| usage(format!("cannot write to stdout: {e}")))?;
    crate::build::run(request, CodeBuildLog::new(stdout), stop_rx, &Stderr).await.map_err(|e| usage(e.0))
}

/// `--result FILE`: the build as a CodeBuild `Build` object.
pub(super) fn write_result(finished: &crate::build::Finished, path: Option<&Path>) {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(&finished.json()).unwrap_or_default() + "\n";
        if let Err(e) = fs::write(path, text) {
            eprintln!("error: cannot write the result to `{}`: {e}", path.display());
        }
    }
}

fn resolve(args: &RunArgs) -> Result<BuildRequest, UsageError> {
    let (primary, secondary) = sources(&args.sources)?;
    let primary = match primary {
        Some(p) => p,
        None => existing_dir(".")?,
    };
    let mut project = match &args.project {
        Some(path) => {
            let text = fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
            project::parse(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?
        }
        None => Project::default(),
    };
    for field in &project.ignored {
        warn(&format!("project field `{field}` is not supported by runspec yet and is ignored"));
    }
    // The project's image and privileged mode apply unless the flags say otherwise.
    let image = match (&args.image, args.host) {
        (Some(i), _) => Some(i.clone()),
        (None, true) => None,
        (None, false) => project.image.clone(),
    };
    let privileged = args.privileged || project.privileged;
    if let Some(t) = &args.compute_type {
        project.compute_type = Some(t.clone());
    }
    let mut overrides = Vec::new();
    if let Some(path) = &args.env_file {
        let text =
            fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
        overrides = env::parse_env_file(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    }
    for a in &args.env {
        overrides.push(env::parse_assignment(a).map_err(|e| usage(format!("--env {a}: {e}")))?);
    }
    let timeout = match &args.timeout {
        Some(t) => Some(parse_timeout(t).map_err(|e| usage(format!("--timeout {t}: {e}")))?),
        None => project.timeout_minutes.map(|m| Duration::from_secs(m * 60)),
    };
    let artifacts = crate::build::artifact_settings(args.artifacts.as_deref(), &project, &Stderr)
        .map_err(|e| usage(e.0))?;
    let project_name = project.name.clone().unwrap_or_else(|| crate::build::default_project_name(&primary));
    let runtimes = match &args.runtimes {
        Some(path) => Some((super::read_catalog(path)?, path.display().to_string())),
        None => None,
    };
    Ok(BuildRequest {
        runtimes,
        mount_source: args.mount_source,
        source_notes: Vec::new(),
        buildspec: args.buildspec.clone(),
        cache: args.cache.clone(),
        reports: args.reports.clone(),
        aws_credentials: args.aws_credentials,
        profile: args.profile.clone(),
        ecr_login: args.ecr_login,
        uuid: None,
        build_number: None,
        initiator: None,
        source_version: None,
        webhook: Vec::new(),
        progress: std::io::stderr().is_terminal(),
        terminal: terminal(args),
        primary,
        secondary,
        project,
        project_name,
        overrides,
        timeout,
        started: None,
        lease: None,
        host_isolation: None,
        artifacts,
        image,
        privileged,
        docker: args.docker,
        docker_sidecar_image: Some(args.docker_sidecar_image.clone()),
        docker_host_allowed: true,
        own_network: false,
        no_limits: args.no_limits,
    })
}

/// runspec's terminal for breakpoints and `--debug`; a batch's children run side by side and
/// never stop.
fn terminal(args: &RunArgs) -> Option<crate::exec::debug::Terminal> {
    if args.batch {
        return None;
    }
    debug_terminal(args.debug)
}

/// runspec's terminal, with `--debug` or without.
pub(super) fn debug_terminal(debug: bool) -> Option<crate::exec::debug::Terminal> {
    let terminal = crate::exec::debug::Terminal::detect(debug);
    if debug && terminal.is_none() {
        warn("--debug needs a terminal (stdin and stderr); failing commands fail the build as usual");
    }
    terminal
}

fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// `--source DIR` (primary, `None` when not given) and `--source ID=DIR` (secondary, R-LOC-02).
pub(super) fn sources(values: &[String]) -> Result<(Option<PathBuf>, Vec<Source>), UsageError> {
    let mut primary: Option<PathBuf> = None;
    let mut secondary = Vec::new();
    for v in values {
        match v.split_once('=') {
            Some((id, dir)) if !id.contains('/') => {
                if id.is_empty()
                    || id.len() >= 128
                    || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(usage(format!(
                        "--source {v}: the source identifier `{id}` must be letters, digits and `_`, fewer than 128"
                    )));
                }
                secondary.push(Source { id: Some(id.to_string()), dir: existing_dir(dir)? });
            }
            _ if primary.is_none() => primary = Some(existing_dir(v)?),
            _ => {
                return Err(usage(format!(
                    "--source {v}: only one primary source; give secondary ones as ID=DIR"
                )));
            }
        }
    }
    Ok((primary, secondary))
}

fn existing_dir(dir: &str) -> Result<PathBuf, UsageError> {
    let p = Path::new(dir);
    if !p.is_dir() {
        return Err(usage(format!("source directory `{dir}` does not exist")));
    }
    p.canonicalize().map_err(|e| usage(format!("source directory `{dir}`: {e}")))
}

/// `30` (minutes), `0.5`, `90s`, `2m`, `1h`.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    crate::buildspec::plugin_step::parse_duration(text, Some("m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("5d").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn project_names_from_directories() {
        assert_eq!(crate::build::default_project_name(Path::new("/home/me/my app")), "my-app");
        assert_eq!(crate::build::default_project_name(Path::new("/")), "local");
    }
}
