//! The build lifecycle as one pure function: given a phase that just completed, what comes next
//! (§6.3, §8 of the rulebook). Also the final build status. No I/O; table-tested below.

use std::fmt;

use serde::Serialize;

use crate::buildspec::{OnFailure, PhaseName};

/// CodeBuild's phase types (R-TR-01). runspec runs DOWNLOAD_SOURCE … FINALIZING.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildPhase {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
}

impl BuildPhase {
    /// Every phase, in order.
    pub const ALL: [BuildPhase; 11] = [
        BuildPhase::Submitted,
        BuildPhase::Queued,
        BuildPhase::Provisioning,
        BuildPhase::DownloadSource,
        BuildPhase::Install,
        BuildPhase::PreBuild,
        BuildPhase::Build,
        BuildPhase::PostBuild,
        BuildPhase::UploadArtifacts,
        BuildPhase::Finalizing,
        BuildPhase::Completed,
    ];

    /// `BUILD` → [`BuildPhase::Build`].
    pub fn parse(name: &str) -> Option<BuildPhase> {
        BuildPhase::ALL.into_iter().find(|p| p.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BuildPhase::Submitted => "SUBMITTED",
            BuildPhase::Queued => "QUEUED",
            BuildPhase::Provisioning => "PROVISIONING",
            BuildPhase::DownloadSource => "DOWNLOAD_SOURCE",
            BuildPhase::Install => "INSTALL",
            BuildPhase::PreBuild => "PRE_BUILD",
            BuildPhase::Build => "BUILD",
            BuildPhase::PostBuild => "POST_BUILD",
            BuildPhase::UploadArtifacts => "UPLOAD_ARTIFACTS",
            BuildPhase::Finalizing => "FINALIZING",
            BuildPhase::Completed => "COMPLETED",
        }
    }

    /// The buildspec phase this build phase runs, if it runs one.
    pub fn buildspec_phase(self) -> Option<PhaseName> {
        match self {
            BuildPhase::Install => Some(PhaseName::Install),
            BuildPhase::PreBuild => Some(PhaseName::PreBuild),
            BuildPhase::Build => Some(PhaseName::Build),
            BuildPhase::PostBuild => Some(PhaseName::PostBuild),
            _ => None,
        }
    }
}

impl From<PhaseName> for BuildPhase {
    fn from(p: PhaseName) -> Self {
        match p {
            PhaseName::Install => BuildPhase::Install,
            PhaseName::PreBuild => BuildPhase::PreBuild,
            PhaseName::Build => BuildPhase::Build,
            PhaseName::PostBuild => BuildPhase::PostBuild,
        }
    }
}

impl fmt::Display for BuildPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Phase and build status (R-TR-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    InProgress,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Fault => "FAULT",
            Status::TimedOut => "TIMED_OUT",
            Status::InProgress => "IN_PROGRESS",
            Status::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [OPEN] R-PH-23, decided in this one place: a phase that fails under `on-failure: CONTINUE`
/// is reported FAILED, `CODEBUILD_BUILD_SUCCEEDING` drops to 0 for later phases, but the
/// failure alone does not fail the build. AWS's AFT buildspec pairs CONTINUE with an explicit
/// failing check in post_build, which is only needed if CONTINUE lets the build succeed.
pub const CONTINUE_FAILS_BUILD: bool = false;

/// A phase that has just completed, with what the transition needs to know about it.
#[derive(Debug, Clone, Copy)]
pub struct Completed<'a> {
    pub phase: BuildPhase,
    pub status: Status,
    pub on_failure: Option<&'a OnFailure>,
    /// Retries already made of this phase.
    pub retries_done: u32,
    /// Whether the failure matched the RETRY pattern (`true` when the form has no pattern).
    pub retry_pattern_matched: bool,
}

/// What the build does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Enter this phase.
    Enter(BuildPhase),
    /// Run the same phase again (RETRY forms).
    Retry,
    /// Skip to FINALIZING: nothing else runs.
    Finalize,
}

/// The transition table of R-TR-02 and R-PH-20..23.
///
/// - DOWNLOAD_SOURCE failing ends the build (R-TR-02).
/// - INSTALL / PRE_BUILD failing skips every later phase, UPLOAD_ARTIFACTS included [INF].
/// - BUILD failing still runs POST_BUILD, and POST_BUILD failing still uploads (R-TR-02).
/// - ABORT ends the build with no later phase and no upload ([OPEN] R-PH-22, decided here).
/// - CONTINUE enters the next phase whatever the default would have been (R-PH-23).
/// - RETRY re-runs the phase while retries remain and the failure matches; once exhausted, the
///   default transition applies ([OPEN] R-PH-21: runspec re-runs the whole phase).
/// - TIMED_OUT, STOPPED and FAULT end the build.
pub fn next(done: Completed<'_>) -> Next {
    use BuildPhase::*;
    let following = match done.phase {
        DownloadSource => Install,
        Install => PreBuild,
        PreBuild => Build,
        Build => PostBuild,
        PostBuild => UploadArtifacts,
        UploadArtifacts => Finalizing,
        Finalizing | Completed => return Next::Finalize,
        Submitted | Queued | Provisioning => DownloadSource,
    };
    match done.status {
        Status::Succeeded => Next::Enter(following),
        Status::TimedOut | Status::Stopped | Status::Fault | Status::InProgress => Next::Finalize,
        Status::Failed => {
            if done.phase.buildspec_phase().is_none() {
                return Next::Finalize;
            }
            match done.on_failure {
                Some(OnFailure::Abort) => Next::Finalize,
                Some(OnFailure::Continue) => Next::Enter(following),
                Some(OnFailure::Retry { count, .. })
                    if done.retries_done < *count && done.retry_pattern_matched =>
                {
                    Next::Retry
                }
                _ => default_after_failure(done.phase, following),
            }
        }
    }
}

fn default_after_failure(phase: BuildPhase, following: BuildPhase) -> Next {
    match phase {
        BuildPhase::Build | BuildPhase::PostBuild => Next::Enter(following),
        _ => Next::Finalize,
    }
}

/// One phase's final status, and whether it failed under CONTINUE.
#[derive(Debug, Clone, Copy)]
pub struct PhaseVerdict {
    pub status: Status,
    pub continued: bool,
}

/// The build status from its phases' verdicts (R-TR-03): the first TIMED_OUT / STOPPED / FAULT
/// wins, then any FAILED (CONTINUE failures excepted, see [`CONTINUE_FAILS_BUILD`]).
pub fn build_status(verdicts: impl IntoIterator<Item = PhaseVerdict>) -> Status {
    let mut status = Status::Succeeded;
    for v in verdicts {
        match v.status {
            Status::TimedOut | Status::Stopped | Status::Fault => return v.status,
            Status::Failed if !v.continued || CONTINUE_FAILS_BUILD => status = Status::Failed,
            _ => {}
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuildPhase::{Build, DownloadSource, Finalizing, Install, PostBuild, PreBuild, UploadArtifacts};

    fn done(phase: BuildPhase, status: Status, on_failure: Option<&OnFailure>) -> Completed<'_> {
        Completed { phase, status, on_failure, retries_done: 0, retry_pattern_matched: true }
    }

    #[test]
    fn transition_table() {
        let abort = OnFailure::Abort;
        let cont = OnFailure::Continue;
        let retry = OnFailure::Retry { count: 2, pattern: None };
        let ok = Status::Succeeded;
        let failed = Status::Failed;
        #[rustfmt::skip]
        let table: &[(BuildPhase, Status, Option<&OnFailure>, Next, &str)] = &[
            (DownloadSource, ok, None, Next::Enter(Install), "R-TR-02"),
            (DownloadSource, failed, None, Next::Finalize, "R-TR-02 bad buildspec: nothing runs"),
            (Install, ok, None, Next::Enter(PreBuild), "R-PH-01 order"),
            (Install, failed, None, Next::Finalize, "R-TR-02 install failure skips the rest"),
            (PreBuild, ok, None, Next::Enter(Build), "R-PH-01"),
            (PreBuild, failed, None, Next::Finalize, "R-TR-02 pre_build failure skips the rest"),
            (Build, ok, None, Next::Enter(PostBuild), "R-PH-01"),
            (Build, failed, None, Next::Enter(PostBuild), "R-TR-02 post_build runs after build failure"),
            (PostBuild, ok, None, Next::Enter(UploadArtifacts), "R-TR-02"),
            (PostBuild, failed, None, Next::Enter(UploadArtifacts), "R-TR-02 artifacts after post_build failure"),
            (UploadArtifacts, ok, None, Next::Enter(Finalizing), "R-TR-01"),
            (UploadArtifacts, failed, None, Next::Finalize, "R-TR-03"),
            (Install, failed, Some(&abort), Next::Finalize, "R-PH-22"),
            (Build, failed, Some(&abort), Next::Finalize, "R-PH-22 ABORT skips post_build"),
            (PostBuild, failed, Some(&abort), Next::Finalize, "R-PH-22 [OPEN] no upload after ABORT"),
            (Install, failed, Some(&cont), Next::Enter(PreBuild), "R-PH-23"),
            (PreBuild, failed, Some(&cont), Next::Enter(Build), "R-PH-23"),
            (Build, failed, Some(&cont), Next::Enter(PostBuild), "R-PH-23"),
            (Install, failed, Some(&retry), Next::Retry, "R-PH-20 RETRY"),
            (Build, ok, Some(&retry), Next::Enter(PostBuild), "R-PH-20 no retry on success"),
            (Build, Status::TimedOut, None, Next::Finalize, "§15 timeout"),
            (Build, Status::Stopped, Some(&cont), Next::Finalize, "§15 stop beats CONTINUE"),
            (Install, Status::Fault, None, Next::Finalize, "agent fault"),
        ];
        for (phase, status, on_failure, want, rule) in table {
            assert_eq!(
                next(done(*phase, *status, *on_failure)),
                *want,
                "{phase} {status} {on_failure:?} ({rule})"
            );
        }
    }

    #[test]
    fn retry_stops_when_exhausted_or_unmatched() {
        let retry = OnFailure::Retry { count: 2, pattern: Some("timeout".into()) };
        let mut d = done(PreBuild, Status::Failed, Some(&retry));
        assert_eq!(next(d), Next::Retry);
        d.retries_done = 2;
        assert_eq!(next(d), Next::Finalize, "exhausted: default for PRE_BUILD");
        d.retries_done = 0;
        d.retry_pattern_matched = false;
        assert_eq!(next(d), Next::Finalize, "unmatched: default for PRE_BUILD");
        let d = Completed { phase: Build, retries_done: 2, ..d };
        assert_eq!(next(d), Next::Enter(PostBuild), "exhausted: default for BUILD");
        let zero = OnFailure::Retry { count: 0, pattern: None };
        assert_eq!(next(done(Build, Status::Failed, Some(&zero))), Next::Enter(PostBuild), "RETRY-0");
    }

    #[test]
    fn build_status_table() {
        let v = |status, continued| PhaseVerdict { status, continued };
        let ok = Status::Succeeded;
        #[rustfmt::skip]
        let table: &[(&[PhaseVerdict], Status, &str)] = &[
            (&[v(ok, false), v(ok, false)], ok, "all succeeded"),
            (&[v(Status::Failed, false), v(ok, false)], Status::Failed, "R-TR-03 post_build success does not undo build failure"),
            (&[v(Status::Failed, true), v(ok, false)], if CONTINUE_FAILS_BUILD { Status::Failed } else { ok }, "R-PH-23 [OPEN]"),
            (&[v(Status::Failed, false), v(Status::TimedOut, false)], Status::TimedOut, "§15"),
            (&[v(ok, false), v(Status::Stopped, false)], Status::Stopped, "§15"),
        ];
        for (verdicts, want, rule) in table {
            assert_eq!(build_status(verdicts.iter().copied()), *want, "{rule}");
        }
    }
}
