//! The run loop: DOWNLOAD_SOURCE → INSTALL … POST_BUILD → UPLOAD_ARTIFACTS, with the
//! transitions of [`super::transitions`]. It drives a [`Session`], emits [`BuildEvent`]s and
//! returns a [`BuildReport`]; it never prints.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::events::{BuildEvent, EventSink};
use super::transitions::{self, BuildPhase, Completed, Next, PhaseVerdict, Status};
use super::upload::{self, ArtifactRecord, ArtifactSettings};
use crate::buildspec::{Buildspec, OnFailure, Phase, PhaseName, Step};
use crate::exec::state::Snapshot;
use crate::exec::{CommandOutcome, CommandSpec, ExecError, Session, Stop, StopReason};
use crate::plugins::PluginEvent;
use crate::plugins::invocation::{self, Invocation};
use crate::plugins::runner::Runner;

/// Why DOWNLOAD_SOURCE could not produce a buildspec (R-FILE-02, R-YAML-02).
#[derive(Debug, Clone)]
pub struct BuildspecFailure {
    /// `YAML_FILE_ERROR`.
    pub code: String,
    pub message: String,
}

/// Everything the engine needs to run one build.
pub struct BuildInput {
    /// When DOWNLOAD_SOURCE began (a service fetches the source before the engine runs): the
    /// build's start and the phase's.
    pub started: SystemTime,
    /// Found while the build was prepared (what its executor got, problems that do not stop
    /// it); logged at the start of DOWNLOAD_SOURCE.
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub buildspec: Result<Buildspec, BuildspecFailure>,
    /// Shown as `YAML location is …`.
    pub buildspec_location: String,
    pub src_dir: PathBuf,
    pub artifacts: ArtifactSettings,
    /// Shown as the first line: what runs the build.
    pub runner: String,
    /// Test report handling (`--reports DIR`, group names).
    pub reports: crate::reports::ReportSettings,
    /// Where the cache lives (project cache S3 / LOCAL, or `--cache`); `Err`: why there is
    /// none (`Skip cache due to: …`).
    pub cache: Result<crate::cache::Cache, &'static str>,
    /// Parameter Store / Secrets Manager values, fetched before the build (R-ENV-06/07);
    /// `None` when the build has none, `Err` with the failure message.
    pub secrets: Option<Result<Vec<(String, String)>, String>>,
    /// Runs plugin steps (and in-process `runspec plugin run` commands).
    pub plugins: Option<Runner>,
    /// Runs in-process `runspec image push` commands; `None` leaves them to the shell.
    pub images: Option<crate::image::Pusher>,
    /// The runtime catalog `install/runtime-versions` selects from (R-PH-02).
    pub runtimes: crate::runtimes::Source,
    /// `run --debug` on a terminal: a failing command pauses the build for a decision.
    pub debug: Option<crate::exec::debug::Terminal>,
}

/// One phase as the result JSON reports it.
#[derive(Debug, Clone)]
pub struct PhaseRecord {
    pub phase: BuildPhase,
    pub status: Status,
    pub start: SystemTime,
    pub end: SystemTime,
    pub contexts: Vec<(String, String)>,
    pub continued: bool,
}

#[derive(Debug, Clone)]
pub struct BuildReport {
    pub status: Status,
    pub start: SystemTime,
    pub end: SystemTime,
    pub phases: Vec<PhaseRecord>,
    /// `exported-variables` with their values at the end of the build (R-ENV-09).
    pub exported: Vec<(String, String)>,
    pub artifacts: Option<ArtifactRecord>,
    pub secondary_artifacts: Vec<ArtifactRecord>,
    /// Images pushed by in-process `runspec image push` commands, in order.
    pub images: Vec<crate::image::Pushed>,
    /// A build still running: the phase it is in and since when.
    pub current: Option<(BuildPhase, SystemTime)>,
}

impl BuildReport {
    /// A build that has not started yet (or is running, with `current`).
    pub fn in_progress(start: SystemTime, current: (BuildPhase, SystemTime)) -> BuildReport {
        BuildReport {
            status: Status::InProgress,
            start,
            end: start,
            phases: Vec::new(),
            exported: Vec::new(),
            artifacts: None,
            secondary_artifacts: Vec::new(),
            images: Vec::new(),
            current: Some(current),
        }
    }

    /// A build that ended in one phase, the only one it recorded (it could not start: a
    /// PROVISIONING failure, a source that could not be fetched).
    pub fn ended_in(
        phase: BuildPhase,
        status: Status,
        (start, end): (SystemTime, SystemTime),
        (code, message): (String, String),
    ) -> BuildReport {
        BuildReport {
            status,
            start,
            end,
            phases: vec![PhaseRecord {
                phase,
                status,
                start,
                end,
                contexts: vec![(code, message)],
                continued: false,
            }],
            exported: Vec::new(),
            artifacts: None,
            secondary_artifacts: Vec::new(),
            images: Vec::new(),
            current: None,
        }
    }

    pub fn current_phase(&self) -> BuildPhase {
        if self.status == Status::InProgress {
            if let Some((phase, _)) = self.current {
                return phase;
            }
            self.phases.last().map_or(BuildPhase::Submitted, |p| p.phase)
        } else {
            BuildPhase::Completed
        }
    }
}

/// How much of a failing phase's output is kept for RETRY pattern matching.
const FAILURE_TAIL: usize = 64 * 1024;

/// Passes output through and, when a RETRY pattern needs it, keeps the tail of the attempt.
struct TailSink<'a> {
    inner: &'a mut dyn EventSink,
    capture: bool,
    tail: Vec<u8>,
}

impl EventSink for TailSink<'_> {
    fn event(&mut self, event: BuildEvent<'_>) {
        self.inner.event(event);
    }

    fn output(&mut self, bytes: &[u8]) {
        self.inner.output(bytes);
        if !self.capture {
            return;
        }
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > 2 * FAILURE_TAIL {
            self.tail.drain(..self.tail.len() - FAILURE_TAIL);
        }
    }
}

/// The result of one attempt at a buildspec phase.
struct Attempt {
    status: Status,
    context: (String, String),
}

pub struct Engine<'a, S: Session> {
    session: &'a mut S,
    sink: &'a mut dyn EventSink,
    stop: Stop,
    records: Vec<PhaseRecord>,
    plugins: Option<Runner>,
    /// Files plugins asked to add to the primary artifact, relative to the source directory.
    plugin_artifacts: Vec<String>,
    images: Option<crate::image::Pusher>,
    pushed: Vec<crate::image::Pushed>,
    src_dir: PathBuf,
    debug: Option<crate::exec::debug::Terminal>,
    /// The cache key expanded before INSTALL; the save uses it too. `None`: nothing to save.
    cache_key: Option<String>,
}

impl<'a, S: Session> Engine<'a, S> {
    pub fn new(session: &'a mut S, sink: &'a mut dyn EventSink, stop: Stop) -> Self {
        Engine {
            session,
            sink,
            stop,
            records: Vec::new(),
            plugins: None,
            plugin_artifacts: Vec::new(),
            images: None,
            pushed: Vec::new(),
            src_dir: PathBuf::new(),
            debug: None,
            cache_key: None,
        }
    }

    fn note(&mut self, text: &str) {
        self.sink.event(BuildEvent::Note(text));
    }

    fn complete(
        &mut self,
        phase: BuildPhase,
        status: Status,
        start: SystemTime,
        context: (String, String),
        continued: bool,
    ) {
        let end = SystemTime::now();
        self.sink.event(BuildEvent::PhaseCompleted {
            phase,
            status,
            code: &context.0,
            message: &context.1,
            start,
            end,
        });
        self.records.push(PhaseRecord { phase, status, start, end, contexts: vec![context], continued });
    }

    /// Runs the whole build. Errors from the agent itself (not the user's commands) end the
    /// build as FAULT.
    pub async fn run(mut self, mut input: BuildInput) -> BuildReport {
        let start = input.started;
        self.plugins = input.plugins.take();
        self.images = input.images.take();
        self.src_dir = input.src_dir.clone();
        self.debug = input.debug;
        self.note(&input.runner);
        let mut exported_names = Vec::new();
        let mut next = self.download_source(&input).await;
        let spec = input.buildspec.as_ref().ok();
        if let Some(spec) = spec {
            exported_names = spec.env.exported_variables.iter().map(|n| n.value.clone()).collect();
        }
        let mut artifacts = (None, Vec::new());
        while let Next::Enter(phase) = next {
            let Some(spec) = spec else { break };
            next = match phase {
                BuildPhase::UploadArtifacts => {
                    let t = SystemTime::now();
                    self.sink.event(BuildEvent::PhaseEntered { phase, since: t });
                    // Reports are read once the build and tests have run; they never change
                    // the outcome (R-REP-03).
                    crate::reports::process(&spec.reports, &input.src_dir, &input.reports, self.sink);
                    let extra = std::mem::take(&mut self.plugin_artifacts);
                    // Within the build's timeout and its stop button, like every phase.
                    let stop = &mut self.stop;
                    // Nothing is uploaded by a build that must stop (a worker whose lease ran
                    // out, above all: another worker may be running the build).
                    let result = match stop.check() {
                        Some(reason) => Err(reason),
                        None => {
                            let upload = upload::run(
                                self.session,
                                self.sink,
                                spec,
                                &input.src_dir,
                                &input.artifacts,
                                &extra,
                            );
                            tokio::select! {
                                r = upload => Ok(r),
                                reason = stop.wait() => Err(reason),
                            }
                        }
                    };
                    let (status, context) = match result {
                        Ok(Ok(records)) => {
                            artifacts = records;
                            (Status::Succeeded, (String::new(), String::new()))
                        }
                        Ok(Err(e)) => (Status::Failed, (e.code().to_string(), e.to_string())),
                        Err(reason) => {
                            // What a dropped upload left open in S3 is aborted, not left billed.
                            if let Some(s3) = &input.artifacts.s3 {
                                s3.abort_unfinished().await;
                            }
                            let a = stopped(reason);
                            (a.status, a.context)
                        }
                    };
                    self.complete(phase, status, t, context, false);
                    transitions::next(Completed {
                        phase,
                        status,
                        on_failure: None,
                        retries_done: 0,
                        retry_pattern_matched: false,
                    })
                }
                BuildPhase::Finalizing | BuildPhase::Completed => Next::Finalize,
                _ => match phase.buildspec_phase() {
                    Some(name) => self.buildspec_phase(spec, name).await,
                    None => Next::Finalize,
                },
            };
        }
        // The cache is saved once the build got through POST_BUILD, failed or not: what INSTALL
        // and BUILD downloaded is worth keeping even when a test failed.
        if let (Some(spec), Ok(cache), Some(key)) = (spec, &input.cache, self.cache_key.take())
            && let Some(c) = spec.cache.as_ref().filter(|c| !c.paths.is_empty())
            && self.records.iter().any(|r| {
                r.phase == BuildPhase::PostBuild
                    && r.status != Status::TimedOut
                    && r.status != Status::Stopped
            })
        {
            let stop = &mut self.stop;
            let cut_short = stop.check().is_some() || {
                let save = cache.save(c, &key, self.session, self.sink, &input.src_dir);
                tokio::select! {
                    () = save => false,
                    _ = stop.wait() => true,
                }
            };
            if cut_short {
                self.sink.event(BuildEvent::Warning(
                    "the cache was not saved: the build timed out or was stopped",
                ));
            }
        }
        let exported = self.exported(&exported_names).await;
        let status = transitions::build_status(
            self.records.iter().map(|r| PhaseVerdict { status: r.status, continued: r.continued }),
        );
        self.sink.event(BuildEvent::BuildCompleted { status });
        BuildReport {
            status,
            start,
            end: SystemTime::now(),
            phases: self.records,
            exported,
            artifacts: artifacts.0,
            secondary_artifacts: artifacts.1,
            images: self.pushed,
            current: None,
        }
    }

    /// DOWNLOAD_SOURCE: the log preamble of R-LOG-02, buildspec problems (R-YAML-02), and the
    /// up-front `run-as` check.
    async fn download_source(&mut self, input: &BuildInput) -> Next {
        let t = input.started;
        self.note("Waiting for DOWNLOAD_SOURCE");
        self.note("Phase is DOWNLOAD_SOURCE");
        let shown = input.artifacts.src_in_build.as_deref().unwrap_or(&input.src_dir);
        self.note(&format!("CODEBUILD_SRC_DIR={}", shown.display()));
        self.note(&format!("YAML location is {}", input.buildspec_location));
        for note in &input.notes {
            self.note(note);
        }
        for warning in &input.warnings {
            self.sink.event(BuildEvent::Warning(warning));
        }
        let spec = match &input.buildspec {
            Ok(spec) => spec,
            Err(f) => {
                let context = (f.code.clone(), f.message.clone());
                return self.finish_download(t, Status::Failed, context);
            }
        };
        // R-YAML-03: CodeBuild lists keys it does not know in the log and runs the build.
        if !spec.unknown_keys.is_empty() {
            self.note("Found possible syntax errors in buildspec:");
            self.sink.output(unknown_keys_text(&spec.unknown_keys).as_bytes());
        }
        if let Some(shell) = &spec.env.shell_text {
            self.note(&format!("Selecting shell {shell} as specified in buildspec."));
        }
        if spec.env.shell.as_ref().is_some_and(|s| s.value == crate::buildspec::Shell::Windows) {
            let message = format!(
                "env/shell `{}` needs a Windows build image; runspec runs Linux builds (bash or /bin/sh)",
                spec.env.shell_text.as_deref().unwrap_or_default()
            );
            return self.finish_download(t, Status::Failed, ("CLIENT_ERROR".into(), message));
        }
        self.note("Processing environment variables");
        if let Some(secrets) = &input.secrets {
            self.note("Decrypting parameter store environment variables");
            match secrets {
                Err(message) => {
                    let context = (crate::env::secrets::FETCH_ERROR_CODE.to_string(), message.clone());
                    return self.finish_download(t, Status::Failed, context);
                }
                Ok(values) => {
                    let hidden: Vec<String> = values.iter().map(|(_, v)| v.clone()).collect();
                    self.sink.event(BuildEvent::Secrets(&hidden));
                    if let Err(e) = self.session.add_vars(values).await {
                        return self.finish_download(
                            t,
                            Status::Fault,
                            ("CLIENT_ERROR".into(), e.to_string()),
                        );
                    }
                }
            }
        }
        match spec.phase(PhaseName::Install).filter(|p| !p.runtime_versions.is_empty()) {
            None => self.note("No runtime version selected in buildspec."),
            Some(install) => {
                if let Err(failed) = self.install_runtimes(install, &input.runtimes, shown).await {
                    return self.finish_download(t, failed.status, failed.context);
                }
            }
        }
        let mut users: Vec<&str> = spec.run_as.iter().map(|u| u.value.as_str()).collect();
        users.extend(spec.phases.iter().filter_map(|p| p.run_as.as_ref().map(|u| u.value.as_str())));
        users.dedup();
        for user in users {
            if let Err(e) = self.session.check_user(user).await {
                return self.finish_download(t, Status::Failed, ("CLIENT_ERROR".into(), e.to_string()));
            }
        }
        self.note(&format!("Moving to directory {}", shown.display()));
        match (&spec.cache, &input.cache) {
            (None, _) => self.note("Cache is not defined in the buildspec"),
            (Some(_), Err(why)) => self.note(&format!("Skip cache due to: {why}")),
            // R-CACHE-04.
            (Some(c), Ok(_)) if c.paths.is_empty() => {
                self.note("Skip cache due to: no paths specified to be cached")
            }
            (Some(c), Ok(cache)) => {
                let stop = &mut self.stop;
                let restore = cache.restore(c, self.session, self.sink, &input.src_dir);
                let cut_short = tokio::select! {
                    key = restore => {
                        self.cache_key = key;
                        false
                    }
                    _ = stop.wait() => true,
                };
                if cut_short {
                    self.sink.event(BuildEvent::Warning(
                        "the cache was not restored: the build timed out or was stopped",
                    ));
                }
            }
        }
        self.note(&format!("Phases found in YAML: {}", spec.phases.len()));
        for phase in &spec.phases {
            let count = phase.commands.len();
            self.note(&format!(" {}: {} commands", BuildPhase::from(phase.name), count));
        }
        self.finish_download(t, Status::Succeeded, (String::new(), String::new()))
    }

    /// `runtime-versions` (R-PH-02, R-PH-03): every selection is logged and checked against the
    /// catalog before any runtime command runs; then each runtime's commands run in the build's
    /// shell, echoed like the build's own, so what they export stays for INSTALL and later.
    /// A `cd` in them is undone (the move to the source directory comes next). A `default`
    /// entry gets `$VERSION` for its commands only.
    async fn install_runtimes(
        &mut self,
        install: &Phase,
        source: &crate::runtimes::Source,
        src_in_build: &Path,
    ) -> Result<(), Attempt> {
        use crate::runtimes::Source;
        let failed =
            |code: &str, message: String| Attempt { status: Status::Failed, context: (code.into(), message) };
        let fault =
            |e: ExecError| Attempt { status: Status::Fault, context: ("CLIENT_ERROR".into(), e.to_string()) };
        let (catalog, origin) = match source {
            Source::Catalog(catalog, origin) => (catalog, origin),
            Source::Broken(message) => return Err(failed("YAML_FILE_ERROR", message.clone())),
            Source::Unsupported => {
                self.note("Skipping install of runtimes. Runtime version selection is not supported by this build image");
                let names: Vec<String> = install
                    .runtime_versions
                    .iter()
                    .map(|(rt, v)| format!("{}: {}", rt.value, v.value))
                    .collect();
                self.sink.event(BuildEvent::Warning(&format!(
                    "runtime-versions ({}) are ignored: the build image has no {}; pass --runtimes FILE to give a catalog",
                    names.join(", "),
                    crate::runtimes::IMAGE_CATALOG
                )));
                return Ok(());
            }
        };
        let mut requests = Vec::with_capacity(install.runtime_versions.len());
        for (runtime, version) in &install.runtime_versions {
            // R-PH-02: `"$NODE_VERSION"` comes from the build's environment.
            let version = crate::exec::expand_if_needed(self.session, &version.value).await.map_err(fault)?;
            let version = version.trim().to_string();
            self.note(&format!(
                "Selecting '{}' runtime version '{version}' based on manual selections...",
                runtime.value
            ));
            requests.push((runtime.value.clone(), version));
        }
        // The context is CodeBuild's sentence; where the catalog came from is runspec's own line.
        let selections = match crate::runtimes::select::select(catalog, &requests) {
            Ok(s) => s,
            Err(e) => {
                self.sink.event(BuildEvent::Warning(&origin.hint()));
                return Err(failed("YAML_FILE_ERROR", e.to_string()));
            }
        };
        for selection in &selections {
            let saved = match &selection.install {
                Some(version) => {
                    let saved = self.session.read_vars(&["VERSION"]).await.map_err(fault)?.pop().flatten();
                    let set = [("VERSION".to_string(), version.clone())];
                    self.session.add_vars(&set).await.map_err(fault)?;
                    Some(saved)
                }
                None => None,
            };
            let mut end = StepEnd::Ok;
            for command in &selection.commands {
                let command = match &selection.install {
                    Some(version) => crate::runtimes::select::with_version(command, version),
                    None => command.clone(),
                };
                let mut steps = Steps {
                    session: &mut *self.session,
                    sink: &mut *self.sink,
                    stop: &mut self.stop,
                    plugins: &mut self.plugins,
                    plugin_artifacts: &mut self.plugin_artifacts,
                    images: &mut self.images,
                    pushed: &mut self.pushed,
                    src_dir: &self.src_dir,
                    debug: self.debug,
                };
                end = steps.command(&command, None, true).await.map_err(fault)?;
                if !matches!(end, StepEnd::Ok) {
                    break;
                }
            }
            match end {
                StepEnd::Ok => {}
                StepEnd::Stopped(reason) => return Err(stopped(reason)),
                StepEnd::Failed(message) => return Err(failed("COMMAND_EXECUTION_ERROR", message)),
            }
            match saved {
                Some(Some(value)) => {
                    self.session.add_vars(&[("VERSION".to_string(), value)]).await.map_err(fault)?
                }
                Some(None) => self.quietly("unset VERSION").await.map_err(fault)?,
                None => {}
            }
        }
        let back = format!("cd {}", crate::exec::wrapper::sh_quote(&src_in_build.to_string_lossy()));
        self.quietly(&back).await.map_err(fault)
    }

    /// Runs a command of the agent's own in the build's shell, without a log line.
    async fn quietly(&mut self, text: &str) -> Result<(), ExecError> {
        let spec = CommandSpec { text, run_as: None, build_succeeding: true };
        let mut sink = crate::engine::events::RecordingSink::default();
        match self.session.run(spec, &mut sink, &mut self.stop).await? {
            o if o.success() => Ok(()),
            o => Err(ExecError::Expansion(format!("`{text}` failed in the build's shell: {o}"))),
        }
    }

    fn finish_download(&mut self, t: SystemTime, status: Status, context: (String, String)) -> Next {
        self.complete(BuildPhase::DownloadSource, status, t, context, false);
        transitions::next(Completed {
            phase: BuildPhase::DownloadSource,
            status,
            on_failure: None,
            retries_done: 0,
            retry_pattern_matched: false,
        })
    }

    /// One buildspec phase, with its retries. Undeclared phases are entered and succeed
    /// (R-PH-04).
    async fn buildspec_phase(&mut self, spec: &Buildspec, name: PhaseName) -> Next {
        let phase_type = BuildPhase::from(name);
        let declared = spec.phase(name);
        let on_failure = declared.and_then(|p| p.on_failure.as_ref().map(|o| &o.value));
        let run_as = spec.run_as(name);
        let t = SystemTime::now();
        let retrying = matches!(on_failure, Some(OnFailure::Retry { .. }));
        if retrying && let Err(e) = self.session.save_state(Snapshot::Phase).await {
            return self.fault(phase_type, t, &e);
        }
        let mut retries_done = 0;
        loop {
            self.sink.event(BuildEvent::PhaseEntered { phase: phase_type, since: t });
            // The tail is only kept when a RETRY pattern will be matched against it.
            let capture = matches!(on_failure, Some(OnFailure::Retry { pattern: Some(_), .. }));
            let mut tail = TailSink { inner: &mut *self.sink, capture, tail: Vec::new() };
            let attempt = match declared {
                Some(phase) => {
                    // R-TR-04: 0 once any phase has failed, CONTINUE phases included.
                    let succeeding = self.records.iter().all(|r| r.status == Status::Succeeded);
                    let mut steps = Steps {
                        session: &mut *self.session,
                        sink: &mut tail,
                        stop: &mut self.stop,
                        plugins: &mut self.plugins,
                        plugin_artifacts: &mut self.plugin_artifacts,
                        images: &mut self.images,
                        pushed: &mut self.pushed,
                        src_dir: &self.src_dir,
                        debug: self.debug,
                    };
                    match steps.run(phase, run_as, succeeding).await {
                        Ok(a) => a,
                        Err(e) => return self.fault(phase_type, t, &e),
                    }
                }
                None => Attempt { status: Status::Succeeded, context: (String::new(), String::new()) },
            };
            let failure_text = format!("{}\n{}", attempt.context.1, String::from_utf8_lossy(&tail.tail));
            let matched = match on_failure {
                Some(OnFailure::Retry { pattern: Some(p), .. }) => {
                    regex::Regex::new(p).map(|re| re.is_match(&failure_text)).unwrap_or(false)
                }
                _ => true,
            };
            let done = Completed {
                phase: phase_type,
                status: attempt.status,
                on_failure,
                retries_done,
                retry_pattern_matched: matched,
            };
            let next = transitions::next(done);
            let continued =
                attempt.status == Status::Failed && matches!(on_failure, Some(OnFailure::Continue));
            if next == Next::Retry {
                // The failed attempt is logged but not recorded: the result keeps the final one.
                self.sink.event(BuildEvent::PhaseCompleted {
                    phase: phase_type,
                    status: attempt.status,
                    code: &attempt.context.0,
                    message: &attempt.context.1,
                    start: t,
                    end: SystemTime::now(),
                });
                retries_done += 1;
                let of = match on_failure {
                    Some(OnFailure::Retry { count, .. }) => *count,
                    _ => 0,
                };
                self.sink.event(BuildEvent::PhaseRetrying { phase: phase_type, retry: retries_done, of });
                if let Err(e) = self.session.restore_state(Snapshot::Phase).await {
                    return self.fault(phase_type, t, &e);
                }
                continue;
            }
            self.complete(phase_type, attempt.status, t, attempt.context, continued);
            return next;
        }
    }

    fn fault(&mut self, phase: BuildPhase, t: SystemTime, e: &ExecError) -> Next {
        self.complete(phase, Status::Fault, t, ("CLIENT_ERROR".into(), e.to_string()), false);
        Next::Finalize
    }

    /// Values of `exported-variables` from the final shell state; unset names export as empty
    /// and `AWS_*` names are dropped ([OPEN] R-ENV-09, decided here).
    async fn exported(&mut self, names: &[String]) -> Vec<(String, String)> {
        let names: Vec<&str> = names.iter().map(String::as_str).filter(|n| !n.starts_with("AWS_")).collect();
        if names.is_empty() || self.records.len() <= 1 {
            return Vec::new();
        }
        match self.session.read_vars(&names).await {
            Ok(values) => {
                names.iter().zip(values).map(|(n, v)| (n.to_string(), v.unwrap_or_default())).collect()
            }
            Err(e) => {
                self.sink.event(BuildEvent::Warning(&format!("cannot read exported variables: {e}")));
                Vec::new()
            }
        }
    }
}

/// What running a phase's steps needs from the engine.
struct Steps<'e, S: Session> {
    session: &'e mut S,
    sink: &'e mut dyn EventSink,
    stop: &'e mut Stop,
    plugins: &'e mut Option<Runner>,
    plugin_artifacts: &'e mut Vec<String>,
    images: &'e mut Option<crate::image::Pusher>,
    pushed: &'e mut Vec<crate::image::Pushed>,
    src_dir: &'e Path,
    debug: Option<crate::exec::debug::Terminal>,
}

/// How one step ended, for the phase.
enum StepEnd {
    Ok,
    /// The phase context message.
    Failed(String),
    Stopped(StopReason),
}

/// How a command's outcome ends its step (R-PH-13's `Reason:` wording for failures).
fn command_end(text: &str, outcome: CommandOutcome) -> StepEnd {
    match outcome {
        CommandOutcome::TimedOut => StepEnd::Stopped(StopReason::TimedOut),
        CommandOutcome::Stopped => StepEnd::Stopped(StopReason::Stopped),
        o if o.success() => StepEnd::Ok,
        o => StepEnd::Failed(format!("Error while executing command: {text}. Reason: {o}")),
    }
}

impl<S: Session> Steps<'_, S> {
    /// Runs `commands`, then `finally` (R-PH-10, R-PH-11). A failing command skips the rest of
    /// its list; `finally` runs after success and after failure, but not after a timeout or
    /// stop. [OPEN] R-PH-12 decided: a failing `finally` command skips the remaining `finally`
    /// commands, and `finally` runs even when `commands` is empty. Plugin steps follow the same
    /// rules as commands.
    async fn run(
        &mut self,
        phase: &Phase,
        run_as: Option<&str>,
        succeeding_before: bool,
    ) -> Result<Attempt, ExecError> {
        let mut failure: Option<String> = None;
        for list in [&phase.commands, &phase.finally] {
            for (index, step) in list.iter().enumerate() {
                // [OPEN] R-TR-04 decided: 0 as soon as a command of this phase has failed, so the
                // phase's own `finally` can see it.
                let succeeding = succeeding_before && failure.is_none();
                let end = match step {
                    Step::Command(text) => match invocation::from_command(text) {
                        Some(inv) => self.inline_plugin(text, inv).await?,
                        None => match self.image_push_words(text).await? {
                            Some(words) => self.inline_image_push(text, &words).await?,
                            None => self.command(text, run_as, succeeding).await?,
                        },
                    },
                    Step::Plugin(p) => {
                        let name = format!(
                            "{}/{}[{index}]",
                            phase.name.key(),
                            if std::ptr::eq(list, &phase.commands) { "commands" } else { "finally" }
                        );
                        self.plugin_step(&Invocation::from(p), &name).await?
                    }
                };
                match end {
                    StepEnd::Ok => {}
                    StepEnd::Stopped(reason) => return Ok(stopped(reason)),
                    StepEnd::Failed(message) => {
                        if failure.is_none() {
                            failure = Some(message);
                        }
                        break;
                    }
                }
            }
            if let Some(reason) = self.stop.check() {
                return Ok(stopped(reason));
            }
        }
        Ok(match failure {
            None => Attempt { status: Status::Succeeded, context: (String::new(), String::new()) },
            Some(message) => {
                Attempt { status: Status::Failed, context: ("COMMAND_EXECUTION_ERROR".into(), message) }
            }
        })
    }

    async fn command(
        &mut self,
        text: &str,
        run_as: Option<&str>,
        build_succeeding: bool,
    ) -> Result<StepEnd, ExecError> {
        self.sink.event(BuildEvent::CommandStarted(text));
        // Debug builds only: lets the tests check that a panic anywhere in a build still ends
        // it as FAULT with a result file.
        #[cfg(debug_assertions)]
        if std::env::var("RUNSPEC_TEST_PANIC_AT").is_ok_and(|at| at == text) {
            panic!("injected by RUNSPEC_TEST_PANIC_AT");
        }
        let spec = CommandSpec { text, run_as, build_succeeding };
        if self.debug.is_some() {
            // A re-run starts where this command started, not where its failure left off.
            self.session.save_state(Snapshot::Command).await?;
        }
        let outcome = self.session.run(spec, self.sink, self.stop).await?;
        self.sink.event(BuildEvent::CommandFinished { command: text, outcome: &outcome });
        if outcome.failed() && self.debug.is_some() {
            return self.debug_failure(spec, outcome).await;
        }
        Ok(command_end(text, outcome))
    }

    /// `run --debug`: the build waits at a failed command until the person at the terminal
    /// says what to do (a shell in its state, a re-run, go on, or abort).
    async fn debug_failure(
        &mut self,
        spec: CommandSpec<'_>,
        mut outcome: CommandOutcome,
    ) -> Result<StepEnd, ExecError> {
        use crate::exec::debug::{self, Choice, ShellAt};
        let text = spec.text;
        loop {
            match debug::ask(text, &outcome, self.stop).await {
                Choice::Shell => {
                    if let Err(e) = self.session.debug_shell(ShellAt::Current, spec.run_as).await {
                        eprintln!("[runspec --debug] no shell: {e}");
                    }
                }
                Choice::Rerun => {
                    self.sink.event(BuildEvent::Note(&format!(
                        "Running the failed command again (--debug): {text}"
                    )));
                    self.session.restore_state(Snapshot::Command).await?;
                    self.sink.event(BuildEvent::CommandStarted(text));
                    outcome = self.session.run(spec, self.sink, self.stop).await?;
                    self.sink.event(BuildEvent::CommandFinished { command: text, outcome: &outcome });
                    if !outcome.failed() {
                        return Ok(command_end(text, outcome));
                    }
                }
                Choice::Pass => {
                    self.sink.event(BuildEvent::Note(&format!(
                        "Continuing as if the command had passed (--debug): {text}"
                    )));
                    return Ok(StepEnd::Ok);
                }
                Choice::Fail => return Ok(command_end(text, outcome)),
                Choice::Abort => {
                    self.sink
                        .event(BuildEvent::Note("The build was aborted at the failed command (--debug)"));
                    return Ok(StepEnd::Stopped(StopReason::Stopped));
                }
            }
        }
    }

    /// A plugin step: `Running plugin …`, its output, `Plugin … succeeded` or why not.
    async fn plugin_step(&mut self, inv: &Invocation, name: &str) -> Result<StepEnd, ExecError> {
        self.sink.event(BuildEvent::PluginStarted(&inv.reference));
        let ran = self.run_plugin(inv, name).await?;
        let digest = ran.short_digest();
        let reason = ran.reason();
        let result = match (&ran.report.outcome, &reason) {
            (Ok(out), _) => Ok(out.message.as_str()),
            (Err(_), Some(r)) => Err(r.as_str()),
            (Err(_), None) => Err(""),
        };
        self.sink.event(BuildEvent::PluginFinished { plugin: &inv.reference, digest: &digest, result });
        Ok(match (&ran.report.outcome, reason) {
            (Ok(_), _) => StepEnd::Ok,
            (Err(crate::plugins::StepFailure::Stopped), _) => StepEnd::Stopped(StopReason::Stopped),
            (Err(crate::plugins::StepFailure::BuildTimedOut), _) => StepEnd::Stopped(StopReason::TimedOut),
            (Err(_), reason) => StepEnd::Failed(format!(
                "Error while executing plugin: {}{}. Reason: {}",
                inv.reference,
                if digest.is_empty() { String::new() } else { format!(" ({digest})") },
                reason.unwrap_or_default()
            )),
        })
    }

    /// `runspec plugin run …` as a whole command, run in-process: logged as the command it is,
    /// with the exit status the spawned command would have had (0, 1, or 2 for bad flags).
    async fn inline_plugin(
        &mut self,
        text: &str,
        inv: Result<Invocation, String>,
    ) -> Result<StepEnd, ExecError> {
        self.sink.event(BuildEvent::CommandStarted(text));
        let outcome = match inv {
            Err(usage) => {
                self.sink.output(format!("error: {usage}\n").as_bytes());
                CommandOutcome::Exited(2)
            }
            Ok(inv) => {
                let ran = self.run_plugin(&inv, text).await?;
                let digest = ran.short_digest();
                match (&ran.report.outcome, ran.reason()) {
                    (Ok(out), _) => {
                        self.sink
                            .output(format!("{} ({digest}): {}\n", inv.reference, out.message).as_bytes());
                        CommandOutcome::Exited(0)
                    }
                    (Err(crate::plugins::StepFailure::Stopped), _) => CommandOutcome::Stopped,
                    (Err(crate::plugins::StepFailure::BuildTimedOut), _) => CommandOutcome::TimedOut,
                    (Err(_), reason) => {
                        let reason = reason.unwrap_or_default();
                        self.sink.output(
                            format!("error: plugin {} {digest}: {reason}\n", inv.reference).as_bytes(),
                        );
                        CommandOutcome::Exited(1)
                    }
                }
            }
        };
        self.sink.event(BuildEvent::CommandFinished { command: text, outcome: &outcome });
        Ok(command_end(text, outcome))
    }

    /// The expanded arguments of a `runspec image push` command the agent runs itself, or
    /// `None` to leave the command to the shell (not such a command, no pusher, or a variable
    /// whose value would split into more words).
    async fn image_push_words(&mut self, text: &str) -> Result<Option<Vec<String>>, ExecError> {
        if self.images.is_none() {
            return Ok(None);
        }
        let Some(words) = crate::image::command::words(text) else { return Ok(None) };
        if !words.iter().any(|w| w.contains('$')) {
            return Ok(Some(words));
        }
        let expanded = self.session.expand(&words.join("\n")).await?;
        let expanded: Vec<String> = expanded.split('\n').map(str::to_string).collect();
        let splits =
            expanded.len() != words.len() || expanded.iter().any(|w| w.split_ascii_whitespace().count() != 1);
        Ok(if splits { None } else { Some(expanded) })
    }

    /// `runspec image push …` run in-process: logged as the command it is, the push progress
    /// as its output, the digests recorded for the result JSON; exit status 0, 1, or 2 for bad
    /// arguments, as the real command.
    async fn inline_image_push(&mut self, text: &str, words: &[String]) -> Result<StepEnd, ExecError> {
        self.sink.event(BuildEvent::CommandStarted(text));
        let outcome = match crate::image::command::parse(words) {
            Err(usage) => {
                self.sink.output(format!("error: {usage}\n").as_bytes());
                CommandOutcome::Exited(2)
            }
            Ok(args) => {
                let pusher = self.images.as_mut().expect("checked by image_push_words");
                let sink = &mut *self.sink;
                let mut on_event = |e: crate::image::PushEvent| {
                    if let Some(line) = crate::image::describe(&e) {
                        sink.output(format!("{line}\n").as_bytes());
                    }
                };
                let push = pusher.push(&args, self.src_dir, &mut on_event);
                // A stop or the build timeout ends the push where it is (the engine drops it).
                let result = tokio::select! {
                    r = push => Ok(r),
                    reason = self.stop.wait() => Err(reason),
                };
                match result {
                    Ok(Ok(pushed)) => {
                        self.pushed.extend(pushed);
                        CommandOutcome::Exited(0)
                    }
                    Ok(Err(e)) => {
                        self.sink.output(format!("error: {e}\n").as_bytes());
                        CommandOutcome::Exited(1)
                    }
                    Err(reason) => reason.into(),
                }
            }
        };
        self.sink.event(BuildEvent::CommandFinished { command: text, outcome: &outcome });
        Ok(command_end(text, outcome))
    }

    /// Reads the granted variables, runs the plugin with its events forwarded, and applies what
    /// it returned: exported variables into the shell state, artifacts for UPLOAD_ARTIFACTS.
    async fn run_plugin(
        &mut self,
        inv: &Invocation,
        name: &str,
    ) -> Result<crate::plugins::runner::Ran, ExecError> {
        let env = if inv.grants.env.is_empty() {
            Vec::new()
        } else {
            let names: Vec<&str> = inv.grants.env.iter().map(String::as_str).collect();
            let values = self.session.read_vars(&names).await?;
            names.iter().zip(values).filter_map(|(n, v)| v.map(|v| (n.to_string(), v))).collect()
        };
        let Some(runner) = self.plugins.as_mut() else {
            return Ok(crate::plugins::runner::Ran::failed(
                None,
                crate::plugins::StepFailure::Load("plugins are not available in this build".into()),
            ));
        };
        let mut events = super::events::PluginEvents::default();
        let ran = {
            let sink = &mut *self.sink;
            let mut forward = |ev: PluginEvent| events.forward(sink, ev);
            runner.run(inv, name, env, &mut forward, self.stop).await
        };
        events.finish(self.sink);
        if let Ok(out) = &ran.report.outcome {
            if !out.exported_env.is_empty() {
                self.session.add_vars(&out.exported_env).await?;
            }
            self.plugin_artifacts.extend(out.artifacts.iter().cloned());
        }
        Ok(ran)
    }
}

/// The lines after `Found possible syntax errors in buildspec:`, grouped by section in the
/// order the sections first appear (CodeBuild's layout, tab-indented).
fn unknown_keys_text(keys: &[(String, String)]) -> String {
    let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
    for (section, key) in keys {
        match sections.iter_mut().find(|(s, _)| s == section) {
            Some((_, list)) => list.push(key),
            None => sections.push((section, vec![key])),
        }
    }
    let mut out = String::new();
    for (section, list) in sections {
        out.push_str(&format!("In the section {section}\n\tThe following keys cannot be identified:\n"));
        for key in list {
            out.push_str(&format!("\t\t{key}\n"));
        }
    }
    out
}

fn stopped(reason: StopReason) -> Attempt {
    match reason {
        StopReason::TimedOut => Attempt {
            status: Status::TimedOut,
            context: ("BUILD_TIMED_OUT".into(), "Build has timed out".into()),
        },
        StopReason::Stopped => {
            Attempt { status: Status::Stopped, context: ("BUILD_STOPPED".into(), "Build was stopped".into()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::engine::events::RecordingSink;

    /// Scripted outcomes; records what ran and with which `CODEBUILD_BUILD_SUCCEEDING`.
    #[derive(Default)]
    struct FakeSession {
        outcomes: VecDeque<CommandOutcome>,
        ran: Vec<(String, bool)>,
        saves: usize,
        restores: usize,
    }

    impl Session for FakeSession {
        async fn check_user(&mut self, _: &str) -> Result<(), ExecError> {
            Ok(())
        }
        async fn run(
            &mut self,
            cmd: CommandSpec<'_>,
            sink: &mut dyn EventSink,
            _: &mut Stop,
        ) -> Result<CommandOutcome, ExecError> {
            self.ran.push((cmd.text.to_string(), cmd.build_succeeding));
            sink.output(format!("out of {}\n", cmd.text).as_bytes());
            Ok(self.outcomes.pop_front().unwrap_or(CommandOutcome::Exited(0)))
        }
        async fn expand(&mut self, expr: &str) -> Result<String, ExecError> {
            Ok(expr.to_string())
        }
        async fn read_vars(&mut self, names: &[&str]) -> Result<Vec<Option<String>>, ExecError> {
            Ok(names.iter().map(|n| Some(format!("{n}-value"))).collect())
        }
        async fn add_vars(&mut self, _: &[(String, String)]) -> Result<(), ExecError> {
            Ok(())
        }
        async fn save_state(&mut self, _: crate::exec::state::Snapshot) -> Result<(), ExecError> {
            self.saves += 1;
            Ok(())
        }
        async fn restore_state(&mut self, _: crate::exec::state::Snapshot) -> Result<(), ExecError> {
            self.restores += 1;
            Ok(())
        }
    }

    fn run(yaml: &str, outcomes: &[CommandOutcome]) -> (BuildReport, FakeSession, RecordingSink) {
        let spec = crate::buildspec::parse("b.yml", yaml).buildspec.expect("valid buildspec");
        let mut session = FakeSession { outcomes: outcomes.iter().copied().collect(), ..Default::default() };
        let mut sink = RecordingSink::default();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let input = BuildInput {
            started: SystemTime::now(),
            notes: Vec::new(),
            warnings: Vec::new(),
            buildspec: Ok(spec),
            buildspec_location: "b.yml".into(),
            src_dir: PathBuf::from("/src"),
            artifacts: Default::default(),
            runner: "test".into(),
            secrets: None,
            cache: Err("the project has no cache configured (NO_CACHE)"),
            reports: Default::default(),
            plugins: None,
            images: None,
            runtimes: Default::default(),
            debug: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let report = rt.block_on(Engine::new(&mut session, &mut sink, Stop::new(None, rx)).run(input));
        (report, session, sink)
    }

    fn statuses(r: &BuildReport) -> Vec<(BuildPhase, Status)> {
        r.phases.iter().map(|p| (p.phase, p.status)).collect()
    }

    #[test]
    fn build_failure_runs_post_build_with_succeeding_zero() {
        let yaml = "version: 0.2\nenv:\n  exported-variables: [V]\nphases:\n  build:\n    commands: [a, b]\n    finally: [f]\n  post_build:\n    commands: [p]\n";
        let (report, session, _) = run(yaml, &[CommandOutcome::Exited(0), CommandOutcome::Exited(2)]);
        assert_eq!(
            session.ran,
            [("a".into(), true), ("b".into(), true), ("f".into(), false), ("p".into(), false)],
            "R-PH-10 finally after failure; R-TR-04 flag"
        );
        assert_eq!(report.status, Status::Failed);
        assert_eq!(statuses(&report)[3], (BuildPhase::Build, Status::Failed));
        assert_eq!(report.phases[3].contexts[0].1, "Error while executing command: b. Reason: exit status 2");
        assert_eq!(report.exported, [("V".to_string(), "V-value".to_string())]);
    }

    #[test]
    fn retry_restores_the_state_and_records_one_phase() {
        let yaml = "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2-out of x\n    commands: [x]\n";
        let (report, session, sink) =
            run(yaml, &[CommandOutcome::Exited(1), CommandOutcome::Exited(1), CommandOutcome::Exited(0)]);
        assert_eq!(session.ran.len(), 3);
        assert_eq!((session.saves, session.restores), (1, 2));
        assert_eq!(report.status, Status::Succeeded);
        assert_eq!(report.phases.iter().filter(|p| p.phase == BuildPhase::Build).count(), 1);
        assert_eq!(sink.lines.iter().filter(|l| l.starts_with("PhaseRetrying")).count(), 2);
    }

    #[test]
    fn a_timeout_ends_the_build_without_finally() {
        let yaml = "version: 0.2\nphases:\n  build:\n    commands: [slow]\n    finally: [f]\n  post_build:\n    commands: [p]\n";
        let (report, session, _) = run(yaml, &[CommandOutcome::TimedOut]);
        assert_eq!(session.ran.len(), 1);
        assert_eq!(report.status, Status::TimedOut);
        assert_eq!(
            report.phases.last().map(|p| (p.phase, p.status)),
            Some((BuildPhase::Build, Status::TimedOut))
        );
    }
}
