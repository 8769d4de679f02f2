//! What the build got through, kept outside the engine: if runspec itself panics mid-build,
//! the build still ends as FAULT with its phases so far, a context saying what happened, a
//! log line, and a result file. An [`EventSink`] in front of the log.

use std::time::SystemTime;

use super::events::{BuildEvent, EventSink};
use super::run::{BuildReport, PhaseRecord};
use super::transitions::{BuildPhase, Status};

pub struct Ledger<S: EventSink> {
    inner: S,
    phases: Vec<PhaseRecord>,
    /// The phase running now and when it started.
    current: (BuildPhase, SystemTime),
}

impl<S: EventSink> Ledger<S> {
    /// A ledger for a build whose DOWNLOAD_SOURCE began at `download_began`.
    pub fn new(inner: S, download_began: SystemTime) -> Self {
        Ledger { inner, phases: Vec::new(), current: (BuildPhase::DownloadSource, download_began) }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The build as it stands, ended as FAULT in the phase that was running: `why` is what
    /// went wrong (a panic's message). Logged like any phase end.
    pub fn fault(&mut self, start: SystemTime, why: &str) -> BuildReport {
        let (phase, since) = self.current;
        let message = format!("runspec failed unexpectedly: {why}; please report this with the build log");
        let end = SystemTime::now();
        self.inner.event(BuildEvent::PhaseCompleted {
            phase,
            status: Status::Fault,
            code: "CLIENT_ERROR",
            message: &message,
            start: since,
            end,
        });
        self.inner.event(BuildEvent::BuildCompleted { status: Status::Fault });
        let mut phases = std::mem::take(&mut self.phases);
        phases.push(PhaseRecord {
            phase,
            status: Status::Fault,
            start: since,
            end,
            contexts: vec![("CLIENT_ERROR".into(), message)],
            continued: false,
        });
        BuildReport {
            status: Status::Fault,
            start,
            end: SystemTime::now(),
            phases,
            exported: Vec::new(),
            artifacts: None,
            secondary_artifacts: Vec::new(),
            images: Vec::new(),
            current: None,
        }
    }

    /// The build so far, still running: the phases that ended and the one running now.
    pub fn snapshot(&self, start: SystemTime) -> BuildReport {
        let mut report = BuildReport::in_progress(start, self.current);
        report.phases = self.phases.clone();
        report
    }

    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

/// A panic's message, from the payload `catch_unwind` returns.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

impl<S: EventSink> EventSink for Ledger<S> {
    fn event(&mut self, event: BuildEvent<'_>) {
        match event {
            BuildEvent::PhaseEntered { phase, since } => self.current = (phase, since),
            BuildEvent::PhaseCompleted { phase, status, code, message, start, end } => {
                self.phases.push(PhaseRecord {
                    phase,
                    status,
                    start,
                    end,
                    contexts: vec![(code.to_string(), message.to_string())],
                    continued: false,
                });
                // Until the engine says which phase is next, a crash belongs to the one after.
                self.current = (next_phase(phase), end);
            }
            // The failed attempt is not kept, as in the engine's own records.
            BuildEvent::PhaseRetrying { phase, .. }
                if self.phases.last().is_some_and(|p| p.phase == phase) =>
            {
                self.phases.pop();
            }
            _ => {}
        }
        self.inner.event(event);
    }

    fn output(&mut self, bytes: &[u8]) {
        self.inner.output(bytes);
    }
}

fn next_phase(p: BuildPhase) -> BuildPhase {
    match p {
        BuildPhase::DownloadSource => BuildPhase::Install,
        BuildPhase::Install => BuildPhase::PreBuild,
        BuildPhase::PreBuild => BuildPhase::Build,
        BuildPhase::Build => BuildPhase::PostBuild,
        BuildPhase::PostBuild => BuildPhase::UploadArtifacts,
        _ => BuildPhase::Finalizing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::RecordingSink;

    #[test]
    fn a_crash_ends_the_running_phase_as_fault() {
        let mut l = Ledger::new(RecordingSink::default(), SystemTime::now());
        l.event(BuildEvent::PhaseCompleted {
            phase: BuildPhase::DownloadSource,
            status: Status::Succeeded,
            code: "",
            message: "",
            start: SystemTime::now(),
            end: SystemTime::now(),
        });
        l.event(BuildEvent::PhaseEntered { phase: BuildPhase::Install, since: SystemTime::now() });
        l.event(BuildEvent::PhaseCompleted {
            phase: BuildPhase::Install,
            status: Status::Succeeded,
            code: "",
            message: "",
            start: SystemTime::now(),
            end: SystemTime::now(),
        });
        l.event(BuildEvent::PhaseEntered { phase: BuildPhase::PreBuild, since: SystemTime::now() });
        let r = l.fault(SystemTime::now(), "index out of bounds");
        assert_eq!(r.status, Status::Fault);
        let phases: Vec<_> = r.phases.iter().map(|p| (p.phase, p.status)).collect();
        assert_eq!(
            phases,
            [
                (BuildPhase::DownloadSource, Status::Succeeded),
                (BuildPhase::Install, Status::Succeeded),
                (BuildPhase::PreBuild, Status::Fault)
            ]
        );
        assert!(r.phases[2].contexts[0].1.contains("index out of bounds"));
        assert!(l.inner().lines.iter().any(|line| line.contains("Fault")));
        assert_eq!(panic_message(&"boom"), "boom");
        assert_eq!(panic_message(&String::from("boom")), "boom");
    }
}
