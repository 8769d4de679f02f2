//! A build's plugin runner: resolves references, starts the host on first use, and runs
//! invocations. Shared by the engine (plugin steps, in-process `runspec plugin run` commands)
//! and the standalone CLI.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fetch;
use super::host::{Loaded, PluginHost};
use super::invocation::Invocation;
use super::reference::PluginRef;
use super::{BuildMetadata, PluginEvent, StepFailure, StepReport, StepRequest};
use crate::exec::Stop;

pub struct Runner {
    host: Option<Arc<PluginHost>>,
    /// Plugins already loaded in this build, so a step that runs the same plugin again costs
    /// neither a read nor a hash: remote references are pinned by digest (the same reference is
    /// the same plugin), local files are the same while their stat stamp is.
    loaded: HashMap<String, (Option<Stamp>, Arc<Loaded>)>,
    /// The host directory plugins see as their source directory; local references are
    /// relative to it.
    pub src_dir: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub metadata: BuildMetadata,
    /// What plugins of this build may still register with `mask-secret`.
    secrets: super::sandbox::SecretBudget,
}

/// A finished run, with the plugin's identity when it got that far.
pub struct Ran {
    pub loaded: Option<Arc<Loaded>>,
    pub report: StepReport,
}

impl Ran {
    /// A run that ended before the plugin ran (or could run).
    pub fn failed(loaded: Option<Arc<Loaded>>, failure: StepFailure) -> Ran {
        Ran { loaded, report: StepReport { outcome: Err(failure), stderr_tail: String::new() } }
    }

    /// `sha256:0123456789ab`, or empty when the plugin never loaded.
    pub fn short_digest(&self) -> String {
        self.loaded.as_ref().map(|l| format!("sha256:{}", &l.digest[..12])).unwrap_or_default()
    }

    /// The failure as one line for the phase context: the reason, plus the last stderr line of
    /// a crash.
    pub fn reason(&self) -> Option<String> {
        let failure = self.report.outcome.as_ref().err()?;
        let mut text = failure.to_string();
        if matches!(failure, StepFailure::Crashed { .. } | StepFailure::OutOfMemory { .. })
            && let Some(last) = self
                .report
                .stderr_tail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        {
            text.push_str(&format!(" (stderr: {})", crate::log::escape::one_line(last, 300)));
        }
        // Load errors quote what the component says about itself: one line, whatever it is.
        Some(crate::log::escape::one_line(&text, 8 << 10))
    }
}

impl Runner {
    pub fn new(src_dir: PathBuf, cache_dir: Option<PathBuf>, metadata: BuildMetadata) -> Runner {
        Runner {
            host: None,
            loaded: HashMap::new(),
            src_dir,
            cache_dir,
            metadata,
            secrets: Default::default(),
        }
    }

    fn host(&mut self) -> Result<Arc<PluginHost>, String> {
        if let Some(h) = &self.host {
            return Ok(h.clone());
        }
        let h = PluginHost::new(self.cache_dir.clone())?;
        self.host = Some(h.clone());
        Ok(h)
    }

    /// Fetches, compiles (or takes from the cache) and links a plugin.
    pub async fn load(&mut self, reference: &str) -> Result<Arc<Loaded>, String> {
        let r = super::reference::parse(reference)?;
        // Taken before the read: a file that changes while it is read gets another stamp.
        let stamp = match &r {
            PluginRef::Local(path) => Stamp::of(&self.src_dir.join(path)),
            _ => None,
        };
        if let Some((seen, loaded)) = self.loaded.get(reference)
            && (!matches!(r, PluginRef::Local(_)) || (stamp.is_some() && *seen == stamp))
        {
            return Ok(loaded.clone());
        }
        let host = self.host()?;
        let bytes = fetch::fetch(&r, &self.src_dir, self.cache_dir.as_deref()).await?;
        // Compiling takes a while for big components; keep it off the async thread.
        let loaded = tokio::task::spawn_blocking(move || host.load(&bytes))
            .await
            .map_err(|e| format!("the loader crashed: {e}"))??;
        self.loaded.insert(reference.to_string(), (stamp, loaded.clone()));
        Ok(loaded)
    }

    /// Runs `inv` with the granted variables `env`, passing each event to `on_event`.
    pub async fn run(
        &mut self,
        inv: &Invocation,
        step_name: &str,
        env: Vec<(String, String)>,
        on_event: &mut dyn FnMut(PluginEvent),
        stop: &mut Stop,
    ) -> Ran {
        let loaded = match self.load(&inv.reference).await {
            Ok(l) => l,
            Err(e) => return Ran::failed(None, StepFailure::Load(e)),
        };
        let host = match self.host() {
            Ok(h) => h,
            Err(e) => return Ran::failed(Some(loaded), StepFailure::Load(e)),
        };
        let req = StepRequest {
            step_name: step_name.to_string(),
            args: inv.with.clone(),
            env,
            src_dir: self.src_dir.clone(),
            grants: inv.grants.clone(),
            timeout: inv.timeout,
            metadata: self.metadata.clone(),
        };
        let report = super::step::run(&host, &loaded, req, self.secrets.clone(), on_event, stop).await;
        Ran { loaded: Some(loaded), report }
    }
}

/// What identifies a local file's content without reading it: device, inode, size, and the
/// modification and change times (nanoseconds). A build that rebuilds a plugin between two steps
/// changes them; the same file run 200 times is read and hashed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}
