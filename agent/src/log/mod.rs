//! The build log in CodeBuild's format (R-LOG-01, R-TR-05, R-PH-13, R-ART-09, R-SH-11):
//!
//! ```text
//! [Container] 2026/11/22 01:02:03.123456 Running command echo hi
//! hi
//!
//! [Container] 2026/11/22 01:02:03.125012 Phase complete: BUILD State: SUCCEEDED
//! [Container] 2026/11/22 01:02:03.125030 Phase context status code:  Message:
//! ```
//!
//! Agent lines carry the `[Container]` prefix and a UTC timestamp with microseconds; command
//! output is passed through untouched, as produced.

pub mod escape;
pub mod lines;
pub mod mask;

use std::io::Write;
use std::time::SystemTime;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::engine::BuildPhase;
use crate::engine::events::{BuildEvent, EventSink};

/// Writes events as CodeBuild log lines to `out` (normally stdout).
pub struct CodeBuildLog<W: Write> {
    out: W,
    /// Whether the last byte written ended a line.
    at_line_start: bool,
    /// Set once writing failed (e.g. a closed stdout); the build goes on regardless.
    broken: bool,
}

impl<W: Write> CodeBuildLog<W> {
    pub fn new(out: W) -> Self {
        CodeBuildLog { out, at_line_start: true, broken: false }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.broken || bytes.is_empty() {
            return;
        }
        if self.out.write_all(bytes).is_err() {
            self.broken = true;
            return;
        }
        self.at_line_start = bytes.ends_with(b"\n");
    }

    fn line(&mut self, message: &str) {
        if !self.at_line_start {
            self.write(b"\n");
        }
        let mut s = String::with_capacity(message.len() + 40);
        s.push_str("[Container] ");
        s.push_str(&timestamp(SystemTime::now()));
        s.push(' ');
        s.push_str(message);
        s.push('\n');
        self.write(s.as_bytes());
        let _ = self.out.flush();
    }
}

/// `2006/01/02 15:04:05.000000` in UTC (R-LOG-01).
pub fn timestamp(t: SystemTime) -> String {
    let format = format_description!("[year]/[month]/[day] [hour]:[minute]:[second].[subsecond digits:6]");
    OffsetDateTime::from(t).format(&format).unwrap_or_default()
}

impl<W: Write> EventSink for CodeBuildLog<W> {
    fn event(&mut self, event: BuildEvent<'_>) {
        match event {
            BuildEvent::Note(text) => self.line(text),
            BuildEvent::Warning(text) => self.line(&format!("Warning: {text}")),
            BuildEvent::PhaseEntered { phase, .. } => {
                if !matches!(phase, BuildPhase::DownloadSource | BuildPhase::UploadArtifacts) {
                    self.line(&format!("Entering phase {phase}"));
                }
            }
            BuildEvent::CommandStarted(command) => self.line(&format!("Running command {command}")),
            BuildEvent::CommandFinished { command, outcome } => {
                // R-SH-11: a blank line after each command's output.
                if !self.at_line_start {
                    self.write(b"\n");
                }
                self.write(b"\n");
                if !outcome.success() {
                    self.line(&format!("Command did not exit successfully {command} {outcome}"));
                }
            }
            BuildEvent::PluginStarted(plugin) => self.line(&format!("Running plugin {plugin}")),
            BuildEvent::PluginLog { level, message } => {
                if !self.at_line_start {
                    self.write(b"\n");
                }
                self.write(format!("[{level}] {message}\n").as_bytes());
                let _ = self.out.flush();
            }
            BuildEvent::PluginFinished { plugin, digest, result } => {
                if !self.at_line_start {
                    self.write(b"\n");
                }
                self.write(b"\n");
                match result {
                    Ok(message) => self.line(&format!("Plugin {plugin} ({digest}) succeeded: {message}")),
                    Err(reason) if digest.is_empty() => {
                        self.line(&format!("Plugin did not succeed {plugin}: {reason}"))
                    }
                    Err(reason) => {
                        self.line(&format!("Plugin did not succeed {plugin} ({digest}): {reason}"))
                    }
                }
            }
            BuildEvent::PhaseRetrying { phase, retry, of } => {
                self.line(&format!("Retrying phase {phase} after failure: retry {retry} of {of}"));
            }
            BuildEvent::PhaseCompleted { phase, status, code, message, .. } => {
                self.line(&format!("Phase complete: {phase} State: {status}"));
                self.line(&format!("Phase context status code: {code} Message: {message}"));
            }
            BuildEvent::BuildCompleted { .. } => {
                let _ = self.out.flush();
            }
            BuildEvent::Secrets(_) | BuildEvent::PluginSecret(_) => {}
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        self.write(bytes);
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Status;
    use crate::exec::CommandOutcome;

    fn strip_times(s: &str) -> String {
        let re = regex::Regex::new(r"\[Container\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} ").unwrap();
        re.replace_all(s, "[Container] T ").into_owned()
    }

    #[test]
    fn failing_command_lines_match_codebuild() {
        let mut log = CodeBuildLog::new(Vec::new());
        log.event(BuildEvent::PhaseEntered { phase: BuildPhase::Build, since: std::time::SystemTime::now() });
        log.event(BuildEvent::CommandStarted("echo hi"));
        log.output(b"hi");
        log.event(BuildEvent::CommandFinished { command: "echo hi", outcome: &CommandOutcome::Exited(0) });
        log.event(BuildEvent::CommandStarted("exit 3"));
        log.event(BuildEvent::CommandFinished { command: "exit 3", outcome: &CommandOutcome::Exited(3) });
        log.event(BuildEvent::PhaseCompleted {
            phase: BuildPhase::Build,
            status: Status::Failed,
            code: "COMMAND_EXECUTION_ERROR",
            message: "Error while executing command: exit 3. Reason: exit status 3",
            start: std::time::SystemTime::now(),
            end: std::time::SystemTime::now(),
        });
        log.event(BuildEvent::PhaseCompleted {
            phase: BuildPhase::PostBuild,
            status: Status::Succeeded,
            code: "",
            message: "",
            start: std::time::SystemTime::now(),
            end: std::time::SystemTime::now(),
        });
        let text = strip_times(&String::from_utf8(log.into_inner()).unwrap());
        assert_eq!(
            text,
            "[Container] T Entering phase BUILD\n\
             [Container] T Running command echo hi\n\
             hi\n\
             \n\
             [Container] T Running command exit 3\n\
             \n\
             [Container] T Command did not exit successfully exit 3 exit status 3\n\
             [Container] T Phase complete: BUILD State: FAILED\n\
             [Container] T Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: exit 3. Reason: exit status 3\n\
             [Container] T Phase complete: POST_BUILD State: SUCCEEDED\n\
             [Container] T Phase context status code:  Message: \n"
        );
    }

    #[test]
    fn timestamp_format() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_763_773_323_123_456);
        assert_eq!(timestamp(t), "2025/11/22 01:02:03.123456");
    }
}
