//! What a plugin step can touch. Everything is denied unless the step grants it:
//! - files: the source directory only, at [`GUEST_SRC_DIR`], read-only without `allow.write`
//!   (wasmtime-wasi enforces the preopen; paths, `..` and symlinks cannot leave it);
//! - environment: only `allow.env` names;
//! - network: none, or TCP to the resolved addresses of `allow.network` `host:port` pairs, and
//!   name lookups of exactly those host names, answered by runspec ([`super::dns`]);
//! - memory: a cap over all linear memories; time: an epoch deadline (see `step`).
//!
//! stdout and stderr are streamed to the build log through a bounded channel, so a plugin that
//! prints gigabytes keeps memory flat and waits for the log writer.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::dns::Names;
use super::{BuildMetadata, GUEST_SRC_DIR, PluginEvent, StepRequest};

/// Most bytes one output message carries.
const CHUNK: usize = 64 * 1024;
/// Messages in flight between a plugin and the log writer.
pub(super) const QUEUE: usize = 16;
/// How much of stderr is kept for crash reports.
const STDERR_TAIL: usize = 4096;

/// The store data of one step.
pub struct StepState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: Limits,
    pub(super) events: mpsc::Sender<PluginEvent>,
    pub(super) metadata: BuildMetadata,
    names: Names,
    pub(super) secrets: SecretBudget,
}

impl StepState {
    pub(super) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub(super) fn names(&self) -> &Names {
        &self.names
    }
}

/// How many values a plugin may still register with `mask-secret`, and how long each may be:
/// every value is masked in everything the build logs from then on, so each one costs the rest
/// of the build time and memory.
#[derive(Debug, Clone)]
pub struct SecretBudget {
    /// Values and their bytes so far, shared by every step of a build.
    used: Arc<Mutex<(usize, usize)>>,
}

impl Default for SecretBudget {
    fn default() -> Self {
        SecretBudget { used: Arc::new(Mutex::new((0, 0))) }
    }
}

impl SecretBudget {
    /// Takes one value, or says why not (the step then fails: the plugin would go on to print a
    /// value the log cannot hide).
    pub(super) fn admit(&self, value: &str) -> Result<(), String> {
        use crate::log::mask::{
            MAX_PLUGIN_SECRET_BYTES, MAX_PLUGIN_SECRET_TOTAL, MAX_PLUGIN_SECRETS, MIN_PLUGIN_SECRET_BYTES,
        };
        if value.len() < MIN_PLUGIN_SECRET_BYTES {
            return Err(format!(
                "mask-secret: a value of {} bytes is too short to mask without hiding ordinary words (at least {MIN_PLUGIN_SECRET_BYTES})",
                value.len()
            ));
        }
        if value.len() > MAX_PLUGIN_SECRET_BYTES {
            return Err(format!(
                "mask-secret: the value is {}; runspec masks values of at most {} KiB",
                crate::log::escape::size(value.len()),
                MAX_PLUGIN_SECRET_BYTES >> 10
            ));
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.0 >= MAX_PLUGIN_SECRETS {
            return Err(format!(
                "mask-secret: plugins of this build registered {MAX_PLUGIN_SECRETS} values already, the most a build masks for plugins"
            ));
        }
        if used.1 + value.len() > MAX_PLUGIN_SECRET_TOTAL {
            return Err(format!(
                "mask-secret: plugins of this build registered {} of values already; a build masks at most {} KiB for plugins",
                crate::log::escape::size(used.1),
                MAX_PLUGIN_SECRET_TOTAL >> 10
            ));
        }
        used.0 += 1;
        used.1 += value.len();
        Ok(())
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The memory cap, summed over every linear memory of the component; remembers a refusal so
/// the trap that usually follows can be reported as "out of memory".
pub(super) struct Limits {
    pub(super) memory_cap: u64,
    used: u64,
    pub(super) refused: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = (desired - current) as u64;
        if self.used + grown > self.memory_cap {
            self.refused = true;
            return Ok(false);
        }
        self.used += grown;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }

    fn instances(&self) -> usize {
        1_000
    }

    fn memories(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        1_000
    }
}

/// The tail of what the plugin wrote to stderr.
#[derive(Clone, Default)]
pub(super) struct Tail(Arc<Mutex<Vec<u8>>>);

impl Tail {
    fn push(&self, bytes: &[u8]) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        t.extend_from_slice(bytes);
        if t.len() > 2 * STDERR_TAIL {
            let cut = t.len() - STDERR_TAIL;
            t.drain(..cut);
        }
    }

    pub(super) fn text(&self) -> String {
        let t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let start = t.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&t[start..]).trim_end().to_string()
    }
}

/// stdout or stderr of a plugin: each write becomes a [`PluginEvent::Output`].
#[derive(Clone)]
struct LogStream {
    events: mpsc::Sender<PluginEvent>,
    tail: Option<Tail>,
}

impl LogStream {
    /// Queues one chunk of output (and keeps the stderr tail), without waiting.
    fn send(&self, bytes: &[u8]) -> Result<(), mpsc::error::TrySendError<PluginEvent>> {
        if let Some(t) = &self.tail {
            t.push(bytes);
        }
        self.events.try_send(PluginEvent::Output(bytes.to_vec()))
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio_util_like::ChannelWriter(self.clone()))
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {
        // A permit taken and dropped: there is room for one more message now.
        let _ = self.events.reserve().await;
    }
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.send(&bytes) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(StreamError::Closed),
            // check_write said there was room; only another stream of this plugin can have taken
            // it. Waiting here would need an async context, so fail the write instead.
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(StreamError::LastOperationFailed(wasmtime::format_err!("log queue full")))
            }
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        if self.events.is_closed() {
            return Err(StreamError::Closed);
        }
        Ok(if self.events.capacity() > 0 { CHUNK } else { 0 })
    }
}

/// The p3 / async path, unused by p2 guests but required by the trait.
mod tokio_util_like {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::{CHUNK, LogStream};

    pub(super) struct ChannelWriter(pub(super) LogStream);

    impl tokio::io::AsyncWrite for ChannelWriter {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(CHUNK);
            match self.0.send(&buf[..n]) {
                Ok(()) => Poll::Ready(Ok(n)),
                Err(_) => Poll::Ready(Err(std::io::Error::other("log closed"))),
            }
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}

/// The socket addresses `host:port` grants allow connections to, with the host names resolved
/// once, in the host.
fn allowed_addresses(grants: &[String], names: &Names) -> HashSet<SocketAddr> {
    let mut out = HashSet::new();
    for g in grants {
        let Some((host, port)) = g.rsplit_once(':') else { continue };
        let Ok(port) = port.parse::<u16>() else { continue };
        for ip in names.lookup(host).unwrap_or_default() {
            out.insert(SocketAddr::new(ip, port));
        }
    }
    out
}

/// The store data for one step: WASI context per the grants, limits, and event channel.
pub(super) fn state(
    req: &StepRequest,
    events: mpsc::Sender<PluginEvent>,
    tail: Tail,
    secrets: SecretBudget,
) -> Result<StepState, String> {
    let mut b = WasiCtx::builder();
    let perms = if req.grants.write { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
    b.preopened_dir(&req.src_dir, GUEST_SRC_DIR, perms)
        .map_err(|e| format!("cannot open the source directory {}: {e:#}", req.src_dir.display()))?;
    // wasi-libc resolves relative paths against a `.` preopen, not against initial-cwd: give
    // both, so `file.txt` and `/src/file.txt` name the same file.
    b.preopened_dir(&req.src_dir, ".", perms)
        .map_err(|e| format!("cannot open the source directory {}: {e:#}", req.src_dir.display()))?;
    b.initial_cwd(GUEST_SRC_DIR);
    b.envs(&req.env);
    b.args(&[req.step_name.as_str()]);
    b.stdout(LogStream { events: events.clone(), tail: None });
    b.stderr(LogStream { events: events.clone(), tail: Some(tail) });
    b.max_random_size(1 << 20);
    let names = Names::resolve(&req.grants.network)?;
    // wasmtime-wasi's own lookups stay off: [`super::dns`] answers them from `names`.
    b.allow_ip_name_lookup(false);
    if !req.grants.network.is_empty() {
        let allowed = Arc::new(allowed_addresses(&req.grants.network, &names));
        b.allow_tcp(true);
        b.allow_udp(false);
        b.socket_addr_check(move |addr, usage| {
            // Connecting binds implicitly to the wildcard address; that bind is allowed, any
            // explicit bind or listen is not: a plugin may call out, not serve.
            let implicit_bind =
                matches!(usage, SocketAddrUse::TcpBind) && addr.ip().is_unspecified() && addr.port() == 0;
            let ok = implicit_bind || (matches!(usage, SocketAddrUse::TcpConnect) && allowed.contains(&addr));
            Box::pin(async move { ok })
        });
    }
    let mut table = ResourceTable::new();
    table.set_max_capacity(10_000);
    let memory_cap = req.grants.memory.unwrap_or(super::DEFAULT_MEMORY_LIMIT);
    Ok(StepState {
        wasi: b.build(),
        table,
        limits: Limits { memory_cap, used: 0, refused: false },
        events,
        metadata: req.metadata.clone(),
        names,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_budget() {
        let b = SecretBudget::default();
        assert!(b.admit("short").unwrap_err().contains("too short"));
        assert!(b.admit(&"x".repeat(9 << 10)).unwrap_err().contains("at most 8 KiB"));
        let shared = b.clone();
        for i in 0..crate::log::mask::MAX_PLUGIN_SECRETS {
            shared.admit(&format!("token-{i:06}")).unwrap();
        }
        assert!(b.admit("one-more-token").unwrap_err().contains("registered 1000"));
        let b = SecretBudget::default();
        for _ in 0..32 {
            b.admit(&"y".repeat(8 << 10)).unwrap();
        }
        assert!(b.admit("one-more-token").unwrap_err().contains("at most 256 KiB"));
    }
}
