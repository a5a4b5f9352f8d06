//! The sandbox: one wasmtime `Engine` and one compiled plugin shared by every
//! node, and the limits each node's plugin runs under.
//!
//! - Compiled once: `Component` → `InstancePre`; a node instantiates in
//!   about a tenth of a millisecond, which is also how a trapped plugin is
//!   replaced.
//! - No ambient authority: no preopened directories, no environment, no
//!   arguments, no network; WASI clocks read the virtual clock and WASI
//!   randomness comes from a per-node seed.
//! - Bounded: a cap on linear memory ([`Limits::memory_bytes`]) and on
//!   CPU time per call ([`Limits::call_timeout`], enforced with epoch
//!   interruption by a ticker thread).

use crate::bindings::{ReconciliationPlugin, ReconciliationPluginPre};
use crate::node::NodeState;
use anyhow::{Context, Result};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};

/// The plugin component built from this workspace by build.rs.
pub const PLUGIN_WASM_PATH: &str = env!("LEDGER_SYNC_PLUGIN_WASM");

/// How often the epoch ticker advances the engine's epoch.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What one node's plugin may consume.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest linear memory the plugin may grow to.
    pub memory_bytes: usize,
    /// Longest a single call into the plugin may run.
    pub call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 4 << 30,
            call_timeout: Duration::from_secs(120),
        }
    }
}

/// A compiled plugin, ready to instantiate into any number of nodes.
pub struct PluginRuntime {
    engine: Engine,
    pre: ReconciliationPluginPre<NodeState>,
}

impl PluginRuntime {
    /// Compiles a plugin component.
    pub fn new(wasm: &[u8]) -> Result<Arc<Self>> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Plugin calls are synchronous; without async support each call is
        // several times cheaper.
        config.concurrency_support(false);
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, wasm)
            .map_err(anyhow::Error::from)
            .context("compiling the plugin component")?;
        let mut linker: Linker<NodeState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        ReconciliationPlugin::add_to_linker::<NodeState, HasSelf<NodeState>>(&mut linker, |s| s)?;
        let pre = ReconciliationPluginPre::new(linker.instantiate_pre(&component)?)
            .map_err(anyhow::Error::from)
            .context("the plugin does not match the ledger-sync WIT world this host supports")?;
        spawn_epoch_ticker(&engine);
        Ok(Arc::new(PluginRuntime { engine, pre }))
    }

    /// The plugin built from this workspace, compiled once per process.
    pub fn builtin() -> Result<Arc<Self>> {
        static BUILTIN: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
        if let Some(rt) = BUILTIN.get() {
            return Ok(rt.clone());
        }
        let wasm = std::fs::read(PLUGIN_WASM_PATH)
            .with_context(|| format!("reading the plugin component {PLUGIN_WASM_PATH}"))?;
        let rt = PluginRuntime::new(&wasm)?;
        Ok(BUILTIN.get_or_init(|| rt).clone())
    }

    /// A fresh instance of the plugin over `state`.
    pub(crate) fn instantiate(
        &self,
        state: NodeState,
    ) -> Result<(Store<NodeState>, ReconciliationPlugin)> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(u64::MAX / 2);
        let plugin = self.pre.instantiate(&mut store)?;
        Ok((store, plugin))
    }

    /// Epoch ticks in `timeout`, for `Store::set_epoch_deadline`.
    pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
        (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the engine
/// lives.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ledger-sync-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker");
}

/// Tracks and caps a plugin's linear memory.
pub struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    /// Current size of the plugin's linear memories, as the host sees it.
    pub(crate) current_bytes: usize,
    /// Largest size reached.
    pub(crate) peak_bytes: usize,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        MemoryLimiter {
            max_bytes,
            current_bytes: 0,
            peak_bytes: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            return Ok(false);
        }
        self.current_bytes = self.current_bytes - current.min(self.current_bytes) + desired;
        self.peak_bytes = self.peak_bytes.max(self.current_bytes);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
