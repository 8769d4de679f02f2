//! Running one plugin step: a fresh store and instance on the host's plugin runtime (a thread
//! of its own, so a busy plugin never holds up the build's log), events
//! forwarded to the build as they come, and every way a plugin can end mapped to a
//! [`StepReport`]. A plugin never takes the agent down with it.
//!
//! The step's deadline (its `timeout:`, else [`super::DEFAULT_STEP_TIMEOUT`], within the
//! build's timeout), the build timeout and Ctrl-C end it wherever it is: while wasm runs,
//! through the epoch callback; while it waits in a host call (a WASI sleep or poll, a full log
//! queue), by dropping the call, which wasmtime's async support turns into a cancelled guest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::host::{Loaded, PluginHost};
use super::sandbox::{self, QUEUE, SecretBudget, Tail};
use super::{PluginEvent, StepFailure, StepReport, StepRequest, StepSuccess, v0_1_0};
use crate::exec::{Stop, StopReason};
use crate::log::escape;

/// Most bytes one host call may move from the guest to the host.
const HOSTCALL_FUEL: usize = 16 << 20;

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
const BUILD_TIMED_OUT: u8 = 2;

/// Why a step was ended from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupted {
    Deadline,
    Stopped,
    BuildTimedOut,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Interrupted {}

/// A host call the host refused (a value too long to mask, say): the guest traps with it.
#[derive(Debug, Clone)]
pub(super) struct Refused(pub(super) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Runs `loaded` once with `req`, calling `on_event` for each event in order, until it returns,
/// traps, passes its deadline, or `stop` fires.
pub async fn run(
    host: &Arc<PluginHost>,
    loaded: &Arc<Loaded>,
    req: StepRequest,
    secrets: SecretBudget,
    on_event: &mut dyn FnMut(PluginEvent),
    stop: &mut Stop,
) -> StepReport {
    let grants = req.grants.clone();
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let tail = Tail::default();
    let (limit, own) = step_limit(req.timeout, stop.remaining());
    let deadline = Instant::now() + limit;
    let (interrupt, interrupted) = watch::channel(RUNNING);
    // On the host's plugin runtime, so a busy plugin never holds up this one (the log).
    let task = {
        let host = host.clone();
        let loaded = loaded.clone();
        let tail = tail.clone();
        host.clone().spawn(async move {
            run_here(&host, &loaded, &req, tx, tail, secrets, deadline, interrupted).await
        })
    };
    let mut stop_seen = false;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => on_event(ev),
                None => break,
            },
            reason = stop.wait(), if !stop_seen => {
                stop_seen = true;
                let v = if reason == StopReason::Stopped { STOPPED } else { BUILD_TIMED_OUT };
                let _ = interrupt.send(v);
            }
        }
    }
    let outcome = match task.await {
        Ok(raw) => classify(raw, limit, own, &grants),
        Err(e) => {
            Err(StepFailure::Crashed { reason: format!("the plugin's task ended without a result: {e}") })
        }
    };
    StepReport { outcome, stderr_tail: tail.text() }
}

/// How long a step may run, and whether that is the step's own limit (its `timeout:`, else
/// [`super::DEFAULT_STEP_TIMEOUT`]) rather than the time the build has left.
fn step_limit(timeout: Option<Duration>, build_left: Option<Duration>) -> (Duration, bool) {
    let own = timeout.unwrap_or(super::DEFAULT_STEP_TIMEOUT);
    match build_left {
        Some(b) if b < own => (b, false),
        _ => (own, true),
    }
}

/// How the call ended, before it is classified.
struct Raw {
    result: wasmtime::Result<Result<StepSuccess, StepFailure>>,
    /// The memory cap refused a growth.
    refused: bool,
    cap: u64,
}

impl Raw {
    fn failed(f: StepFailure) -> Raw {
        Raw { result: Ok(Err(f)), refused: false, cap: 0 }
    }
}

#[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one step")]
async fn run_here(
    host: &PluginHost,
    loaded: &Loaded,
    req: &StepRequest,
    events: mpsc::Sender<PluginEvent>,
    tail: Tail,
    secrets: SecretBudget,
    deadline: Instant,
    interrupted: watch::Receiver<u8>,
) -> Raw {
    let state = match sandbox::state(req, events, tail, secrets) {
        Ok(s) => s,
        Err(e) => return Raw::failed(StepFailure::Load(e)),
    };
    let _ticking = host.ticker().hold();
    let cap = state.limits.memory_cap;
    let mut store = Store::new(host.engine(), state);
    store.limiter(|s| &mut s.limits);
    store.set_hostcall_fuel(HOSTCALL_FUEL);
    store.set_epoch_deadline(1);
    let flag = interrupted.clone();
    // While wasm runs: checked at every epoch tick.
    store.epoch_deadline_callback(move |_| {
        match *flag.borrow() {
            STOPPED => return Err(Interrupted::Stopped.into()),
            BUILD_TIMED_OUT => return Err(Interrupted::BuildTimedOut.into()),
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(Interrupted::Deadline.into());
        }
        Ok(UpdateDeadline::Continue(1))
    });
    // While the plugin waits in a host call: the call is dropped.
    let result = tokio::select! {
        r = v0_1_0::call(&loaded.pre, &mut store, req) => r,
        why = interruption(deadline, interrupted) => Err(why.into()),
    };
    let refused = store.data().limits.refused;
    Raw { result, refused, cap }
}

/// Resolves when the step must end: its deadline passed, or the build was stopped or timed out.
async fn interruption(deadline: Instant, mut flag: watch::Receiver<u8>) -> Interrupted {
    let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
    tokio::pin!(sleep);
    let mut listening = true;
    loop {
        tokio::select! {
            () = &mut sleep => return Interrupted::Deadline,
            changed = flag.changed(), if listening => {
                match *flag.borrow() {
                    STOPPED => return Interrupted::Stopped,
                    BUILD_TIMED_OUT => return Interrupted::BuildTimedOut,
                    _ => {}
                }
                listening = changed.is_ok();
            }
        }
    }
}

fn classify(
    raw: Raw,
    limit: Duration,
    own_timeout: bool,
    grants: &super::Grants,
) -> Result<StepSuccess, StepFailure> {
    let e = match raw.result {
        Ok(Ok(out)) => return check_output(out, grants),
        Ok(Err(f)) => return Err(one_line_failure(f)),
        Err(e) => e,
    };
    if let Some(i) = e.downcast_ref::<Interrupted>() {
        return Err(match i {
            Interrupted::Stopped => StepFailure::Stopped,
            Interrupted::BuildTimedOut => StepFailure::BuildTimedOut,
            Interrupted::Deadline if own_timeout => StepFailure::TimedOut(limit),
            Interrupted::Deadline => StepFailure::BuildTimedOut,
        });
    }
    if let Some(Refused(why)) = e.downcast_ref::<Refused>() {
        return Err(StepFailure::Refused(why.clone()));
    }
    if raw.refused {
        return Err(StepFailure::OutOfMemory { limit: raw.cap });
    }
    // The full error (a wasm backtrace, often many lines) is for `-v`; the step gets one line.
    tracing::info!("plugin error in full: {e:?}");
    let reason = if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        format!(
            "the plugin called exit({}) instead of returning from `run` (return Ok or an error; exit ends the step as a failure)",
            exit.0
        )
    } else {
        match e.downcast_ref::<Trap>() {
            Some(Trap::UnreachableCodeReached) => {
                "the plugin panicked or aborted (wasm `unreachable`)".to_string()
            }
            Some(Trap::StackOverflow) => "stack overflow".to_string(),
            // Rust and C keep their stack in linear memory: overflowing it runs off the start.
            Some(Trap::MemoryOutOfBounds) => {
                "out-of-bounds memory access (in Rust or C plugins, usually a stack overflow)".to_string()
            }
            Some(t) => format!("trap: {t}"),
            None => escape::one_line(&e.root_cause().to_string(), 1024),
        }
    };
    Err(StepFailure::Crashed { reason })
}

/// The longest message a step may return; it is one line of the build log.
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;
/// The most artifact paths a step may return.
const MAX_ARTIFACTS: usize = 10_000;

/// What a plugin returned, checked before the build takes any of it: exports against the
/// step's grants ([`super::exports`]), the message bounded and kept on one line, artifact paths
/// inside the source directory.
fn check_output(mut out: StepSuccess, grants: &super::Grants) -> Result<StepSuccess, StepFailure> {
    super::exports::check(&out.exported_env, &grants.export).map_err(StepFailure::BadOutput)?;
    if out.message.len() > MAX_MESSAGE_BYTES {
        return Err(StepFailure::BadOutput(format!(
            "the step's message is {}; a message is one log line of at most {} KiB (write long text to stdout or a file)",
            escape::size(out.message.len()),
            MAX_MESSAGE_BYTES >> 10
        )));
    }
    out.message = escape::one_line(&out.message, MAX_MESSAGE_BYTES);
    if out.artifacts.len() > MAX_ARTIFACTS {
        return Err(StepFailure::BadOutput(format!(
            "the step returned {} artifact paths; at most {MAX_ARTIFACTS} (return a directory's files with a pattern in `artifacts.files` instead)",
            out.artifacts.len()
        )));
    }
    for path in &out.artifacts {
        let p = std::path::Path::new(path);
        if path.is_empty()
            || path.len() > 4096
            || path.chars().any(char::is_control)
            || p.is_absolute()
            || p.components().any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(StepFailure::BadOutput(format!(
                "artifact `{}` is not a path inside the source directory",
                escape::one_line(path, 200)
            )));
        }
    }
    Ok(out)
}

/// A failure the plugin described itself, as one bounded line.
fn one_line_failure(f: StepFailure) -> StepFailure {
    let line = |m: String| escape::one_line(&m, MAX_MESSAGE_BYTES);
    match f {
        StepFailure::Failed(m) => StepFailure::Failed(line(m)),
        StepFailure::InvalidArgs(m) => StepFailure::InvalidArgs(line(m)),
        StepFailure::Internal(m) => StepFailure::Internal(line(m)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_a_deadline() {
        let s = Duration::from_secs;
        let hour = super::super::DEFAULT_STEP_TIMEOUT;
        let table = [
            (None, None, (hour, true)),
            (Some(s(30)), None, (s(30), true)),
            (Some(s(30)), Some(s(10)), (s(10), false)),
            (Some(s(30)), Some(s(60)), (s(30), true)),
            (None, Some(s(7200)), (hour, true)),
            (None, Some(s(5)), (s(5), false)),
        ];
        for (timeout, left, want) in table {
            assert_eq!(step_limit(timeout, left), want, "{timeout:?} {left:?}");
        }
        assert_eq!(hour, s(3600), "CodeBuild's default build timeout");
    }
}
