//! What the engine tells the outside world while a build runs. The engine never prints: the
//! CodeBuild-format log writer ([`crate::log`]) and anything else consume these.

use std::time::SystemTime;

use super::transitions::{BuildPhase, Status};
use crate::exec::CommandOutcome;

#[derive(Debug, Clone, Copy)]
pub enum BuildEvent<'a> {
    /// An agent line with no structure of its own, e.g. `Processing environment variables`.
    Note(&'a str),
    /// Something the user should know that does not fail the build.
    Warning(&'a str),
    /// `Entering phase <PHASE>` (not logged for DOWNLOAD_SOURCE / UPLOAD_ARTIFACTS, R-TR-05).
    /// `since` is the phase's start as its record will say (a retried phase keeps its first).
    PhaseEntered {
        phase: BuildPhase,
        since: SystemTime,
    },
    CommandStarted(&'a str),
    CommandFinished {
        command: &'a str,
        outcome: &'a CommandOutcome,
    },
    /// A plugin step starts (the plugin is fetched and compiled if needed, then run).
    PluginStarted(&'a str),
    /// A `host.log` line of a running plugin.
    PluginLog {
        level: &'a str,
        message: &'a str,
    },
    PluginFinished {
        plugin: &'a str,
        /// `sha256:` and the first 12 hex digits; empty when the plugin did not load.
        digest: &'a str,
        /// The plugin's message, or why it did not succeed.
        result: Result<&'a str, &'a str>,
    },
    /// A RETRY form is about to run the phase again.
    PhaseRetrying {
        phase: BuildPhase,
        retry: u32,
        of: u32,
    },
    /// A phase ended; `start` and `end` are its record's times, so every ledger of the build
    /// writes the same ones.
    PhaseCompleted {
        phase: BuildPhase,
        status: Status,
        code: &'a str,
        message: &'a str,
        start: SystemTime,
        end: SystemTime,
    },
    BuildCompleted {
        status: Status,
    },
    /// Values that must never appear in the log (R-ENV-08). Not printed: the masking sink takes
    /// them, every other sink ignores them.
    Secrets(&'a [String]),
    /// A value a plugin registered with `mask-secret`: masked like [`BuildEvent::Secrets`], but
    /// never where it would cover the agent's own words.
    PluginSecret(&'a str),
}

/// A running plugin's events as the build sees them: output as output (without terminal
/// controls, and never looking like an agent line: [`crate::log::escape::PluginOutput`]),
/// `host.log` lines as [`BuildEvent::PluginLog`], values to mask as [`BuildEvent::PluginSecret`].
/// One per plugin run; [`PluginEvents::finish`] when it ends.
#[derive(Debug, Default)]
pub struct PluginEvents {
    output: crate::log::escape::PluginOutput,
    buf: Vec<u8>,
}

impl PluginEvents {
    pub fn forward(&mut self, sink: &mut dyn EventSink, event: crate::plugins::PluginEvent) {
        use crate::plugins::PluginEvent;
        match event {
            PluginEvent::Output(bytes) => {
                self.output.push(&bytes, &mut self.buf);
                self.release(sink);
            }
            PluginEvent::Log(level, message) => {
                sink.event(BuildEvent::PluginLog { level: level.as_str(), message: &message })
            }
            PluginEvent::Mask(value) => sink.event(BuildEvent::PluginSecret(&value)),
        }
    }

    /// The plugin ended: what was held back goes out.
    pub fn finish(&mut self, sink: &mut dyn EventSink) {
        self.output.flush(&mut self.buf);
        self.release(sink);
    }

    fn release(&mut self, sink: &mut dyn EventSink) {
        if !self.buf.is_empty() {
            sink.output(&self.buf);
            self.buf.clear();
        }
    }
}

/// Receives events and command output, in order.
pub trait EventSink {
    fn event(&mut self, event: BuildEvent<'_>);
    /// Raw command output (stdout and stderr interleaved), as produced.
    fn output(&mut self, bytes: &[u8]);
}

/// Collects everything, for tests.
#[derive(Debug, Default)]
pub struct RecordingSink {
    pub lines: Vec<String>,
    pub output: Vec<u8>,
}

impl EventSink for RecordingSink {
    fn event(&mut self, event: BuildEvent<'_>) {
        match event {
            BuildEvent::Secrets(values) => self.lines.push(format!("Secrets({})", values.len())),
            BuildEvent::PluginSecret(_) => self.lines.push("PluginSecret".to_string()),
            other => self.lines.push(format!("{other:?}")),
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }
}
