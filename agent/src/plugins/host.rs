//! The plugin host: one wasmtime [`Engine`] per process (one engine avoids mixing code between
//! engines and shares compiled code), an epoch ticker for deadlines, the on-disk cache of
//! compiled components, and one pre-linked instance template per plugin digest.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::inspect::{self, Describe};
use super::sandbox::StepState;
use super::v0_1_0;

/// How often the epoch advances: the resolution of step deadlines and of Ctrl-C.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest linear memory any step may ask for; the per-step cap is enforced below it.
const MAX_MEMORY: usize = 4 << 30;

/// A plugin ready to run: compiled, type-checked against a WIT version, linked.
pub struct Loaded {
    /// sha256 of the `.wasm`, hex.
    pub digest: String,
    pub size: u64,
    /// The `runspec:plugin` version the component was built for.
    pub wit_version: String,
    pub(super) pre: v0_1_0::StepPre<StepState>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("digest", &self.digest)
            .field("wit_version", &self.wit_version)
            .finish()
    }
}

pub struct PluginHost {
    /// Where steps run: one worker thread (steps of a build run one at a time) and a blocking
    /// pool for WASI's file I/O. Kept for the process: a step costs no thread or runtime start.
    runtime: Option<tokio::runtime::Runtime>,
    engine: Engine,
    linker: Linker<StepState>,
    cache_dir: Option<PathBuf>,
    compat: String,
    loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    ticker: Ticker,
    pooling: bool,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache_dir", &self.cache_dir)
            .field("pooling", &self.pooling)
            .finish()
    }
}

impl PluginHost {
    /// Creates the engine (pooling allocator when the machine allows it, on-demand otherwise).
    /// `cache_dir`: where compiled components are kept; `None` compiles every time.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Arc<PluginHost>, String> {
        let pooling_off = std::env::var_os("RUNSPEC_PLUGIN_POOLING").is_some_and(|v| v == "0");
        let (engine, pooling) = match (!pooling_off).then(|| Engine::new(&config(true))) {
            Some(Ok(e)) => (e, true),
            _ => (
                Engine::new(&config(false)).map_err(|e| format!("cannot start the wasm engine: {e}"))?,
                false,
            ),
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| format!("cannot link WASI: {e}"))?;
        super::dns::add_to_linker(&mut linker).map_err(|e| format!("cannot link name lookups: {e}"))?;
        v0_1_0::add_to_linker(&mut linker).map_err(|e| format!("cannot link the host functions: {e}"))?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let compat = format!("{:016x}", h.finish());
        let ticker = Ticker::start(engine.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("runspec-plugin")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the plugin runtime: {e}"))?;
        Ok(Arc::new(PluginHost {
            runtime: Some(runtime),
            engine,
            linker,
            cache_dir,
            compat,
            loaded: Mutex::new(HashMap::new()),
            ticker,
            pooling,
        }))
    }

    /// The default place for compiled plugins: `$RUNSPEC_CACHE_DIR/plugins`, else
    /// `$XDG_CACHE_HOME/runspec/plugins`, else `~/.cache/runspec/plugins`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        Some(crate::dirs::cache()?.join("plugins"))
    }

    /// Runs `task` on the plugin runtime.
    pub(super) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.as_ref().expect("the runtime lives as long as the host").spawn(task)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn pooling(&self) -> bool {
        self.pooling
    }

    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    pub(super) fn ticker(&self) -> &Ticker {
        &self.ticker
    }

    /// Compiles (or loads from the cache), checks and links a plugin. The same digest is
    /// loaded once per process.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<Loaded>, String> {
        let digest = hex(&Sha256::digest(wasm));
        if let Some(l) = self.loaded.lock().unwrap_or_else(|e| e.into_inner()).get(&digest) {
            return Ok(l.clone());
        }
        inspect::check_header(wasm)?;
        let component = self.compile(wasm, &digest)?;
        let described = Describe::of(&self.engine, &component);
        let wit_version = described.check_runnable()?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| link_error(&e))?;
        let pre = v0_1_0::StepPre::new(pre)
            .map_err(|e| format!("the component does not match runspec:plugin@0.1.0: {e}"))?;
        let loaded = Arc::new(Loaded { digest: digest.clone(), size: wasm.len() as u64, wit_version, pre });
        self.loaded.lock().unwrap_or_else(|e| e.into_inner()).insert(digest, loaded.clone());
        Ok(loaded)
    }

    /// A component from the cache, or compiled and then cached.
    pub fn compile(&self, wasm: &[u8], digest: &str) -> Result<Component, String> {
        let cached = self.cache_dir.as_ref().map(|d| d.join(format!("{digest}-{}.cwasm", self.compat)));
        if let Some(path) = &cached
            && path.is_file()
        {
            match deserialize(&self.engine, path) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!("discarding compiled plugin {}: {e}", path.display());
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let component =
            Component::new(&self.engine, wasm).map_err(|e| format!("not a valid component: {e:#}"))?;
        if let Some(path) = &cached
            && let Err(e) = store(&component, path)
        {
            tracing::warn!("cannot cache the compiled plugin at {}: {e}", path.display());
        }
        Ok(component)
    }
}

fn config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64)
            .total_core_instances(512)
            .total_memories(128)
            .total_tables(512)
            .max_memory_size(MAX_MEMORY)
            .max_core_instance_size(16 << 20)
            .max_component_instance_size(16 << 20)
            .table_elements(200_000);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

fn link_error(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    if text.contains("wasi:http") {
        format!(
            "{text}; runspec does not provide wasi:http (a JavaScript plugin built with componentize-js needs `-d http fetch-event`; network access is granted as TCP with `allow: {{ network: [host:port] }}`)"
        )
    } else {
        format!("{text}; the plugin needs an import this runspec does not provide")
    }
}

/// Loads code this agent compiled itself from its own cache directory.
#[allow(unsafe_code, reason = "deserializing wasmtime's compiled code is unsafe by API")]
fn deserialize(engine: &Engine, path: &Path) -> Result<Component, String> {
    // SAFETY: the file is only ever written by `store` below, in a directory runspec created with
    // mode 0700, under a name that pins the .wasm digest and the engine's compatibility hash;
    // files are replaced by rename, never modified in place, so the mapping cannot change under
    // the engine. Artifacts from users or registries are never deserialized.
    unsafe { Component::deserialize_file(engine, path) }.map_err(|e| format!("{e:#}"))
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    write_cache_file(path, &bytes)
}

/// Writes a cache file whole or not at all (a temporary file renamed into place), creating its
/// directory with mode 0700: files in it are never modified in place.
pub(super) fn write_cache_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for PluginHost {
    /// Without waiting: a plugin's file read can still be blocked (a FIFO), and the host may be
    /// dropped inside the build's own async runtime, where a blocking shutdown is not allowed.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while any step runs; parked otherwise.
pub(super) struct Ticker {
    active: Arc<AtomicUsize>,
    thread: thread::Thread,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let active = Arc::new(AtomicUsize::new(0));
        let seen = active.clone();
        let handle = thread::Builder::new()
            .name("runspec-epoch".into())
            .spawn(move || {
                loop {
                    if seen.load(Ordering::Acquire) == 0 {
                        thread::park();
                        continue;
                    }
                    thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Ticker { active, thread: handle.thread().clone() }
    }

    /// Keeps the ticker running until the guard drops.
    pub(super) fn hold(&self) -> TickerGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.thread.unpark();
        TickerGuard { active: self.active.clone() }
    }
}

pub(super) struct TickerGuard {
    active: Arc<AtomicUsize>,
}

impl Drop for TickerGuard {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}
