//! WebAssembly step plugins: a wasmtime component host with a capability sandbox.
//!
//! - [`reference`]: what `plugin:` can say (pure).
//! - [`fetch`]: getting the bytes of a plugin (local file, https with digest, OCI registry).
//! - [`host`]: the one wasmtime `Engine` of the process, the compiled-code cache, loading.
//! - [`sandbox`]: what a step may touch (WASI context, memory cap, deadline, output streams).
//! - [`step`]: running one step on its own thread and reporting what happened.
//! - [`v0_1_0`]: the bindings and host functions of `wit/v0.1.0`; later WIT versions get a module
//!   each, and [`host::Loaded`] says which one a plugin was built for.
//! - [`inspect`]: what a component is (WIT version, imports, size, digest).

pub mod dns;
pub mod fetch;
pub mod host;
pub mod inspect;
pub mod invocation;
pub mod runner;
pub mod sandbox;
pub mod step;
pub mod v0_1_0;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::plugin_model::reference::PluginRef;
pub use crate::plugin_model::{ArgValue, Grants, exports, reference};
pub use host::{Loaded, PluginHost};

/// Memory a plugin step may use when the step does not say (all its linear memories together).
pub const DEFAULT_MEMORY_LIMIT: u64 = 512 << 20;

/// How long a plugin step may run when neither the step nor the build says: CodeBuild's default
/// build timeout, so a plugin that loops or waits forever still ends.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// `CODEBUILD_*` facts a plugin may ask for (`host.get-build-metadata`).
#[derive(Debug, Clone, Default)]
pub struct BuildMetadata {
    pub build_id: String,
    pub build_number: u64,
    pub project_name: String,
    pub source_version: Option<String>,
    pub initiator: String,
    pub region: String,
}

/// One step to run.
#[derive(Debug, Clone)]
pub struct StepRequest {
    /// For messages: the command text or `BUILD/commands[2]`.
    pub step_name: String,
    pub args: Vec<(String, ArgValue)>,
    /// The granted variables with their current values (unset ones are left out).
    pub env: Vec<(String, String)>,
    /// The host directory preopened as [`GUEST_SRC_DIR`].
    pub src_dir: PathBuf,
    pub grants: Grants,
    /// Wall-clock cap for the step (its `timeout:`, bounded by the build's remaining time).
    pub timeout: Option<Duration>,
    pub metadata: BuildMetadata,
}

/// Where the source directory appears inside the sandbox; also the plugin's working directory.
pub const GUEST_SRC_DIR: &str = "/src";

/// A log level of `host.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

/// What a running plugin sends to the build, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginEvent {
    /// Bytes written to stdout or stderr.
    Output(Vec<u8>),
    /// A `host.log` line.
    Log(LogLevel, String),
    /// A value to mask from now on (`host.mask-secret`).
    Mask(String),
}

/// A step that succeeded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepSuccess {
    pub message: String,
    pub exported_env: Vec<(String, String)>,
    /// Paths relative to the source directory.
    pub artifacts: Vec<String>,
}

/// Why a step did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum StepFailure {
    /// The plugin returned `failed`.
    Failed(String),
    /// The plugin returned `invalid-args`.
    InvalidArgs(String),
    /// The plugin returned `internal`.
    Internal(String),
    /// The step's own `timeout` passed.
    TimedOut(Duration),
    /// The build's timeout fired while the step ran.
    BuildTimedOut,
    /// The build was stopped (Ctrl-C).
    Stopped,
    /// The plugin tried to grow its memory past the cap and then trapped.
    OutOfMemory { limit: u64 },
    /// A trap or a host error: panic, stack overflow, a rejected import.
    Crashed { reason: String },
    /// The plugin could not be loaded (fetch, digest, not a component, wrong WIT version).
    Load(String),
    /// What the plugin returned cannot be taken: an export the step does not grant, a value or
    /// message too long, a path outside the source directory.
    BadOutput(String),
    /// The host refused a host call (a value too long to mask, too many secrets).
    Refused(String),
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepFailure::Failed(m) => write!(f, "failed: {m}"),
            StepFailure::InvalidArgs(m) => write!(f, "invalid arguments: {m}"),
            StepFailure::Internal(m) => write!(f, "internal error: {m}"),
            StepFailure::TimedOut(d) => write!(f, "timed out after {}", humantime(*d)),
            StepFailure::BuildTimedOut => f.write_str("build timed out"),
            StepFailure::Stopped => f.write_str("build stopped"),
            StepFailure::OutOfMemory { limit } => {
                write!(f, "out of memory (limit {} MiB; raise it with `allow: {{ memory: … }}`)", limit >> 20)
            }
            StepFailure::Crashed { reason } => write!(f, "crashed: {reason}"),
            StepFailure::Load(m) => write!(f, "cannot load: {m}"),
            StepFailure::BadOutput(m) => write!(f, "bad output: {m}"),
            StepFailure::Refused(m) => write!(f, "refused: {m}"),
        }
    }
}

fn humantime(d: Duration) -> String {
    if d.as_secs() >= 60 && d.as_secs().is_multiple_of(60) && d.subsec_millis() == 0 {
        format!("{}m", d.as_secs() / 60)
    } else if d.as_secs() >= 1 && d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// How a step ended, with the plugin's identity for the log.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub outcome: Result<StepSuccess, StepFailure>,
    /// The last lines the plugin wrote to stderr, for crash reports.
    pub stderr_tail: String,
}
