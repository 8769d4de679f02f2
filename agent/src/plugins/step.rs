//! Running one plugin step: a fresh store and instance on a thread of its own, events forwarded
//! to the build as they come, the deadline and Ctrl-C enforced through the epoch, and every way
//! a plugin can end mapped to a [`StepReport`]. A plugin never takes the agent down with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::host::{Loaded, PluginHost};
use super::sandbox::{self, QUEUE, Tail};
use super::{PluginEvent, StepFailure, StepReport, StepRequest, StepSuccess, v0_1_0};
use crate::exec::{Stop, StopReason};

/// Most bytes one host call may move from the guest to the host.
const HOSTCALL_FUEL: usize = 16 << 20;

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
const BUILD_TIMED_OUT: u8 = 2;

/// Why the epoch callback ended a step.
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

/// Runs `loaded` once with `req`, calling `on_event` for each event in order, until it returns,
/// traps, passes its deadline, or `stop` fires.
pub async fn run(
    host: &Arc<PluginHost>,
    loaded: &Arc<Loaded>,
    req: StepRequest,
    on_event: &mut dyn FnMut(PluginEvent),
    stop: &mut Stop,
) -> StepReport {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let tail = Tail::default();
    let state = match sandbox::state(&req, tx, tail.clone()) {
        Ok(s) => s,
        Err(e) => return StepReport { outcome: Err(StepFailure::Load(e)), stderr_tail: String::new() },
    };
    // The step's own timeout, unless the build's deadline comes first.
    let build_left = stop.remaining();
    let (limit, own) = match (req.timeout, build_left) {
        (Some(t), Some(b)) if b < t => (Some(b), false),
        (Some(t), _) => (Some(t), true),
        (None, b) => (b, false),
    };
    let deadline = limit.map(|l| Instant::now() + l);
    let flag = Arc::new(AtomicU8::new(RUNNING));
    let (done_tx, done_rx) = oneshot::channel();
    let thread = {
        let host = host.clone();
        let loaded = loaded.clone();
        let flag = flag.clone();
        std::thread::Builder::new().name("runspec-plugin".into()).spawn(move || {
            let result = run_on_this_thread(&host, &loaded, state, &req, deadline, flag);
            let _ = done_tx.send(result);
        })
    };
    if let Err(e) = thread {
        return StepReport {
            outcome: Err(StepFailure::Crashed { reason: format!("cannot start a thread: {e}") }),
            stderr_tail: String::new(),
        };
    }
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
                flag.store(v, Ordering::Release);
            }
        }
    }
    let outcome = match done_rx.await {
        Ok((result, refused, cap)) => classify(result, refused, cap, limit, own),
        Err(_) => Err(StepFailure::Crashed { reason: "the plugin thread ended without a result".into() }),
    };
    StepReport { outcome, stderr_tail: tail.text() }
}

type RawResult = (wasmtime::Result<Result<StepSuccess, StepFailure>>, bool, u64);

fn run_on_this_thread(
    host: &PluginHost,
    loaded: &Loaded,
    state: sandbox::StepState,
    req: &StepRequest,
    deadline: Option<Instant>,
    flag: Arc<AtomicU8>,
) -> RawResult {
    let _ticking = host.ticker().hold();
    let cap = state.limits.memory_cap;
    let mut store = Store::new(host.engine(), state);
    store.limiter(|s| &mut s.limits);
    store.set_hostcall_fuel(HOSTCALL_FUEL);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        match flag.load(Ordering::Acquire) {
            STOPPED => return Err(Interrupted::Stopped.into()),
            BUILD_TIMED_OUT => return Err(Interrupted::BuildTimedOut.into()),
            _ => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Interrupted::Deadline.into());
        }
        Ok(UpdateDeadline::Continue(1))
    });
    let result = v0_1_0::call(&loaded.pre, &mut store, req);
    let refused = store.data().limits.refused;
    (result, refused, cap)
}

fn classify(
    result: wasmtime::Result<Result<StepSuccess, StepFailure>>,
    refused: bool,
    cap: u64,
    limit: Option<Duration>,
    own_timeout: bool,
) -> Result<StepSuccess, StepFailure> {
    let e = match result {
        Ok(Ok(out)) => return check_output(out),
        Ok(Err(f)) => return Err(f),
        Err(e) => e,
    };
    if let Some(i) = e.downcast_ref::<Interrupted>() {
        return Err(match i {
            Interrupted::Stopped => StepFailure::Stopped,
            Interrupted::BuildTimedOut => StepFailure::BuildTimedOut,
            Interrupted::Deadline if own_timeout => StepFailure::TimedOut(limit.unwrap_or_default()),
            Interrupted::Deadline => StepFailure::BuildTimedOut,
        });
    }
    if refused {
        return Err(StepFailure::OutOfMemory { limit: cap });
    }
    let reason = match e.downcast_ref::<Trap>() {
        Some(Trap::UnreachableCodeReached) => {
            "the plugin panicked or aborted (wasm `unreachable`)".to_string()
        }
        Some(Trap::StackOverflow) => "stack overflow".to_string(),
        // Rust and C keep their stack in linear memory: overflowing it runs off the start.
        Some(Trap::MemoryOutOfBounds) => {
            "out-of-bounds memory access (in Rust or C plugins, usually a stack overflow)".to_string()
        }
        Some(t) => format!("trap: {t}"),
        None => format!("{e:#}"),
    };
    Err(StepFailure::Crashed { reason })
}

fn check_output(out: StepSuccess) -> Result<StepSuccess, StepFailure> {
    for (name, _) in &out.exported_env {
        if !crate::buildspec::parse::is_identifier(name) {
            return Err(StepFailure::BadOutput(format!("`{name}` is not a valid variable name")));
        }
    }
    for path in &out.artifacts {
        let p = std::path::Path::new(path);
        if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(StepFailure::BadOutput(format!(
                "artifact `{path}` is not a path inside the source directory"
            )));
        }
    }
    Ok(out)
}
