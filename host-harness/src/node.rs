//! A node: one plugin instance, its store state, and typed calls into its
//! exports.
//!
//! [`NodeState`] is the store data every import is implemented on (one module
//! per import family: `vault`, `messaging`, `timers`, `clock`,
//! `status_store`, `identity`, `logging`). [`Node`] wraps the calls: each
//! runs under the CPU deadline, and a call that traps is reported as
//! [`PluginFailure::Trapped`] while the node replaces the poisoned instance
//! with a fresh one started with the trap as its restart reason — so the
//! reconciliations it was running are recorded FAILED with that reason and
//! the host carries on.

use crate::bindings::flows::FlowError;
use crate::bindings::metrics::MetricsSnapshot;
use crate::bindings::types::{ReconciliationStatus, ReconciliationStatusValue};
use crate::bindings::{ReconciliationPlugin, ledger_sync::plugin::logging, types};
use crate::clock::VirtualClock;
use crate::sandbox::{Limits, MemoryLimiter, PluginRuntime};
use crate::vault_reader::{VaultReader, configured_pool_size};
use anyhow::{Context, Result};
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// A message the plugin queued for delivery.
#[derive(Clone, Debug)]
pub struct OutboundMessage {
    pub to: String,
    pub payload: Vec<u8>,
}

/// A plugin log line, kept when [`NodeOptions::capture_logs`] is set.
#[derive(Clone, Debug)]
pub struct LogRecord {
    pub level: logging::Level,
    pub marker: String,
    pub message: String,
}

/// The names of the nodes on the network, shared by every node.
#[derive(Clone, Debug, Default)]
pub struct Directory(Arc<Mutex<BTreeSet<String>>>);

impl Directory {
    pub fn insert(&self, name: &str) {
        self.0
            .lock()
            .expect("directory lock")
            .insert(name.to_string());
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.lock().expect("directory lock").contains(name)
    }
}

/// How to set up a node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The node's legal name.
    pub name: String,
    /// Its SQLite database (vault and plugin tables).
    pub db_path: PathBuf,
    /// The text of the plugin's configuration, used when
    /// `plugin_config_dir` is not set.
    pub config: String,
    /// The node's plugin configuration directory (the analogue of Corda's
    /// `cordapps/config`). When set, the configuration is read from
    /// [`CONFIG_FILE_NAME`] there at every start; a missing file means the
    /// defaults.
    pub plugin_config_dir: Option<PathBuf>,
    /// The network's maximum message size in bytes.
    pub max_message_size: u32,
    pub limits: Limits,
    /// Seeds the plugin's WASI randomness, for reproducible runs.
    pub seed: u64,
    /// Keep plugin logs in memory (for tests) as well as emitting them.
    pub capture_logs: bool,
}

/// The plugin's configuration file name: the plugin artifact's name with
/// `.conf`, as Corda names `cordapps/config/ledger-sync-1.0.conf`.
pub const CONFIG_FILE_NAME: &str = concat!("ledger-sync-", env!("CARGO_PKG_VERSION"), ".conf");

impl NodeOptions {
    /// The configuration text the plugin starts with: the file in
    /// `plugin_config_dir` if that is set (empty, so all defaults, when the
    /// file does not exist), otherwise `config`.
    pub fn config_text(&self) -> Result<String> {
        let Some(dir) = &self.plugin_config_dir else {
            return Ok(self.config.clone());
        };
        let path = dir.join(CONFIG_FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e).with_context(|| {
                format!("reading the plugin configuration file {}", path.display())
            }),
        }
    }

    pub fn new(name: &str, db_path: PathBuf) -> Self {
        NodeOptions {
            name: name.to_string(),
            db_path,
            config: String::new(),
            plugin_config_dir: None,
            max_message_size: 10 << 20,
            limits: Limits::default(),
            seed: 0,
            capture_logs: false,
        }
    }
}

/// Store data: everything the imports need.
pub struct NodeState {
    pub(crate) name: String,
    pub(crate) db: Connection,
    pub(crate) clock: VirtualClock,
    pub(crate) directory: Directory,
    pub(crate) max_message_size: u32,
    pub(crate) outbox: Vec<OutboundMessage>,
    /// Pending timers: id → due time (virtual ms).
    pub(crate) timers: BTreeMap<u64, u64>,
    pub(crate) capture_logs: bool,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) limiter: MemoryLimiter,
    /// Reads vault pages for the plugin (transactionReaderPoolSize readers).
    pub(crate) reader: VaultReader,
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for NodeState {}

/// splitmix64 as a WASI random source: reproducible per seed.
struct SeededRandom(u64);

impl rand_core::TryRng for SeededRandom {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// A locked-down WASI context: no files, no environment, no arguments, no
/// sockets; virtual clocks; seeded randomness; stderr captured so a guest
/// panic's message can be reported.
fn wasi_context(clock: &VirtualClock, seed: u64) -> (WasiCtx, MemoryOutputPipe) {
    let stderr = MemoryOutputPipe::new(64 * 1024);
    let ctx = WasiCtxBuilder::new()
        .stderr(stderr.clone())
        .wall_clock(clock.clone())
        .monotonic_clock(clock.clone())
        .secure_random(SeededRandom(seed))
        .insecure_random(SeededRandom(seed ^ 0x5555_5555_5555_5555))
        .insecure_random_seed(seed as u128)
        .allow_blocking_current_thread(false)
        .build();
    (ctx, stderr)
}

/// Why a call into the plugin did not return normally.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The plugin trapped (panicked, ran out of memory, exceeded its CPU
    /// deadline...). The node has replaced the instance.
    #[error("the plugin trapped: {0}")]
    Trapped(String),
    /// The plugin is not running (it failed to restart).
    #[error("the plugin is not running: {0}")]
    NotRunning(String),
}

/// A node running the plugin.
pub struct Node {
    runtime: Arc<PluginRuntime>,
    store: Option<Store<NodeState>>,
    plugin: Option<ReconciliationPlugin>,
    options: NodeOptions,
    restarts: u32,
    /// Traps since the last call that returned normally.
    consecutive_traps: u32,
    dead: Option<String>,
}

/// A plugin that traps this many times in a row without one call returning
/// normally is not restarted again: it would only trap again.
const MAX_CONSECUTIVE_TRAPS: u32 = 3;

impl Node {
    /// Opens the node's database, instantiates the plugin and starts it with
    /// the node's configuration. A configuration the plugin rejects is an
    /// error naming the problem.
    pub fn start(
        runtime: Arc<PluginRuntime>,
        options: NodeOptions,
        clock: VirtualClock,
        directory: Directory,
    ) -> Result<Node> {
        let db = crate::db::open(&options.db_path)?;
        let config = options.config_text()?;
        let reader = VaultReader::start(&options.db_path, configured_pool_size(&config))?;
        directory.insert(&options.name);
        let (wasi, stderr) = wasi_context(&clock, options.seed);
        let state = NodeState {
            name: options.name.clone(),
            db,
            clock,
            directory,
            max_message_size: options.max_message_size,
            outbox: Vec::new(),
            timers: BTreeMap::new(),
            capture_logs: options.capture_logs,
            logs: Vec::new(),
            limiter: MemoryLimiter::new(options.limits.memory_bytes),
            reader,
            wasi,
            table: ResourceTable::new(),
            stderr,
        };
        let (store, plugin) = runtime.instantiate(state)?;
        let mut node = Node {
            runtime,
            store: Some(store),
            plugin: Some(plugin),
            options,
            restarts: 0,
            consecutive_traps: 0,
            dead: None,
        };
        node.call(|p, s| p.ledger_sync_plugin_handlers().call_start(s, &config, None))
            .map_err(anyhow::Error::from)?
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "the ledger-sync plugin of {} refused its configuration",
                    node.options.name
                )
            })?;
        Ok(node)
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// How many times the plugin was replaced after a trap.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Why the plugin is no longer running, if it is not.
    pub fn dead(&self) -> Option<&str> {
        self.dead.as_deref()
    }

    fn state(&self) -> &NodeState {
        self.store.as_ref().expect("a live node has a store").data()
    }

    fn state_mut(&mut self) -> &mut NodeState {
        self.store
            .as_mut()
            .expect("a live node has a store")
            .data_mut()
    }

    /// The node's database (vault and plugin tables).
    pub fn db(&self) -> &Connection {
        &self.state().db
    }

    /// The plugin's linear memory now, as the host sees it.
    pub fn memory_bytes(&self) -> usize {
        self.state().limiter.current_bytes
    }

    /// The largest the plugin's linear memory has been.
    pub fn peak_memory_bytes(&self) -> usize {
        self.state().limiter.peak_bytes
    }

    /// How many vault readers the host runs for this node
    /// (transactionReaderPoolSize).
    pub fn vault_reader_pool_size(&self) -> usize {
        self.state().reader.pool_size()
    }

    /// Vault pages the plugin has read.
    pub fn vault_pages_read(&self) -> u64 {
        self.state().reader.pages_read()
    }

    /// Captured plugin logs.
    pub fn logs(&self) -> &[LogRecord] {
        &self.state().logs
    }

    pub(crate) fn take_outbox(&mut self) -> Vec<OutboundMessage> {
        std::mem::take(&mut self.state_mut().outbox)
    }

    /// The earliest pending timer: (due ms, id).
    pub(crate) fn next_timer(&self) -> Option<(u64, u64)> {
        if self.dead.is_some() {
            return None;
        }
        self.store.as_ref()?;
        self.state()
            .timers
            .iter()
            .map(|(id, due)| (*due, *id))
            .min()
    }

    pub(crate) fn take_timer(&mut self, id: u64) {
        self.state_mut().timers.remove(&id);
    }

    /// Runs one call into the plugin under the CPU deadline. A trap replaces
    /// the instance (see the module docs).
    fn call<R>(
        &mut self,
        f: impl FnOnce(&ReconciliationPlugin, &mut Store<NodeState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        if let Some(why) = &self.dead {
            return Err(PluginFailure::NotRunning(why.clone()));
        }
        let ticks = PluginRuntime::deadline_ticks(self.options.limits.call_timeout);
        let store = self.store.as_mut().expect("a live node has a store");
        let plugin = self.plugin.as_ref().expect("a live node has a plugin");
        store.set_epoch_deadline(ticks);
        let outcome = f(plugin, store);
        store.set_epoch_deadline(u64::MAX / 2);
        match outcome {
            Ok(value) => {
                self.consecutive_traps = 0;
                Ok(value)
            }
            Err(trap) => {
                let reason = self.describe_trap(&trap);
                tracing::error!(node = %self.options.name, "plugin trapped: {reason}");
                self.consecutive_traps += 1;
                if self.consecutive_traps >= MAX_CONSECUTIVE_TRAPS {
                    self.dead = Some(format!(
                        "it trapped {} times in a row; the last time: {reason}",
                        self.consecutive_traps
                    ));
                } else {
                    self.restart(&reason);
                }
                Err(PluginFailure::Trapped(reason))
            }
        }
    }

    fn describe_trap(&self, trap: &wasmtime::Error) -> String {
        let mut reason = match trap.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => format!(
                "the call exceeded its CPU deadline of {:?}",
                self.options.limits.call_timeout
            ),
            Some(t) => t.to_string(),
            None => format!("{trap:#}"),
        };
        // A Rust guest prints why it panicked or aborted (say, an allocation
        // that failed) to stderr before trapping.
        let stderr = self.state().stderr.contents();
        let text = String::from_utf8_lossy(&stderr);
        if let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) {
            reason = format!("{reason} ({})", line.trim());
        }
        reason
    }

    /// Replaces a poisoned instance with a fresh one, started with `reason`.
    fn restart(&mut self, reason: &str) {
        let store = self.store.take().expect("a live node has a store");
        self.plugin = None;
        let mut state = store.into_data();
        let (wasi, stderr) =
            wasi_context(&state.clock, self.options.seed ^ (self.restarts as u64 + 1));
        state.wasi = wasi;
        state.stderr = stderr;
        state.table = ResourceTable::new();
        state.timers.clear();
        state.limiter = MemoryLimiter::new(self.options.limits.memory_bytes);
        self.restarts += 1;
        let outcome = self
            .runtime
            .instantiate(state)
            .and_then(|(mut store, plugin)| {
                let config = self.options.config_text()?;
                let started = plugin.ledger_sync_plugin_handlers().call_start(
                    &mut store,
                    &config,
                    Some(reason),
                )?;
                Ok((store, plugin, started))
            });
        match outcome {
            Ok((store, plugin, Ok(()))) => {
                self.store = Some(store);
                self.plugin = Some(plugin);
            }
            Ok((store, _, Err(e))) => {
                self.store = Some(store);
                self.dead = Some(format!("restart refused: {e}"));
            }
            Err(e) => {
                // Without a store the node cannot even be inspected; this
                // only happens if instantiation itself fails.
                self.dead = Some(format!("restart failed: {e:#}"));
                tracing::error!(node = %self.options.name, "plugin restart failed: {e:#}");
            }
        }
    }

    // ------------------------------------------------------------ handlers

    pub fn on_message(&mut self, sender: &str, payload: &[u8]) -> Result<(), PluginFailure> {
        let sender = sender.to_string();
        self.call(|p, s| {
            p.ledger_sync_plugin_handlers()
                .call_on_message(s, &sender, payload)
        })
    }

    pub fn on_timer(&mut self, id: u64) -> Result<(), PluginFailure> {
        self.call(|p, s| p.ledger_sync_plugin_handlers().call_on_timer(s, id))
    }

    // --------------------------------------------------------------- flows

    pub fn schedule_reconciliation(
        &mut self,
        parties: &[String],
    ) -> Result<Result<(), FlowError>, PluginFailure> {
        self.call(|p, s| {
            p.ledger_sync_plugin_flows()
                .call_schedule_reconciliation(s, parties)
        })
    }

    pub fn get_reconciliation_statuses(
        &mut self,
        party: Option<&str>,
        status: Option<ReconciliationStatusValue>,
        is_requester: bool,
    ) -> Result<Result<Vec<ReconciliationStatus>, FlowError>, PluginFailure> {
        let party = party.map(str::to_string);
        self.call(|p, s| {
            p.ledger_sync_plugin_flows()
                .call_get_reconciliation_statuses(s, party.as_ref(), status, is_requester)
        })
    }

    pub fn get_reconciliation_status_for_party(
        &mut self,
        party: &str,
        is_requester: bool,
    ) -> Result<Result<Option<ReconciliationStatus>, FlowError>, PluginFailure> {
        let party = party.to_string();
        self.call(|p, s| {
            p.ledger_sync_plugin_flows()
                .call_get_reconciliation_status_for_party(s, &party, is_requester)
        })
    }

    pub fn refresh_reconciliation_statuses(
        &mut self,
    ) -> Result<Result<(), FlowError>, PluginFailure> {
        self.call(|p, s| {
            p.ledger_sync_plugin_flows()
                .call_refresh_reconciliation_statuses(s)
        })
    }

    pub fn stop_reconciliation_for_party(
        &mut self,
        party: &str,
    ) -> Result<Result<(), FlowError>, PluginFailure> {
        let party = party.to_string();
        self.call(|p, s| {
            p.ledger_sync_plugin_flows()
                .call_stop_reconciliation_for_party(s, &party)
        })
    }

    pub fn is_reconciliation_scheduled_for_party(
        &mut self,
        party: &str,
    ) -> Result<Result<bool, FlowError>, PluginFailure> {
        let party = party.to_string();
        self.call(|p, s| {
            p.ledger_sync_plugin_flows()
                .call_is_reconciliation_scheduled_for_party(s, &party)
        })
    }

    pub fn is_responding_to_reconciliation_for_party(
        &mut self,
        party: &str,
    ) -> Result<Result<bool, FlowError>, PluginFailure> {
        let party = party.to_string();
        self.call(|p, s| {
            p.ledger_sync_plugin_flows()
                .call_is_responding_to_reconciliation_for_party(s, &party)
        })
    }

    // ------------------------------------------------------------- metrics

    pub fn metrics(&mut self) -> Result<MetricsSnapshot, PluginFailure> {
        self.call(|p, s| p.ledger_sync_plugin_metrics().call_snapshot(s))
    }

    pub fn party_reconciliation_status(
        &mut self,
        party: &str,
    ) -> Result<Option<ReconciliationStatus>, PluginFailure> {
        let party = party.to_string();
        self.call(|p, s| {
            p.ledger_sync_plugin_metrics()
                .call_party_reconciliation_status(s, &party)
        })
    }
}
