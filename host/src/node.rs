//! A node: one plugin instance driven by events.
//!
//! A runtime — the simulation, a networked node, a test — calls the node
//! when something happens (a message arrived, a timer it was asked for is
//! due, an operator ran a flow) and then takes the node's [`Effects`]: the
//! messages to send and the timer commands to carry out. The node knows
//! nothing of how time passes or how messages travel.
//!
//! Each call runs under the CPU deadline. A call that traps is reported as
//! [`PluginFailure::Trapped`] while the node replaces the poisoned instance
//! with a fresh one started with the trap as its restart reason — so the
//! reconciliations it was running are recorded FAILED with that reason — and
//! cancels every timer of the old instance. A plugin that traps
//! [`MAX_CONSECUTIVE_TRAPS`] times in a row is not restarted again.

use crate::bindings::Plugin;
use crate::bindings::handlers::HostRequirements;
use crate::bindings::metrics::MetricsSnapshot;
use crate::capabilities::{Denied, GRANT_VAULT, Grants, Storage, not_granted};
use crate::imports::clock::{Clock, ClockImport};
use crate::imports::identity::IdentityImport;
use crate::imports::logging::{LogRecord, LoggingImport};
use crate::imports::messaging::{MessagingImport, OutboundMessage, Peers};
use crate::imports::reconciliation::ReconciliationImport;
use crate::imports::recording::RecordingImport;
use crate::imports::recovery_store::RecoveryStoreImport;
use crate::imports::status_store::StatusStoreImport;
use crate::imports::timers::{TimerCommand, TimersImport};
use crate::imports::vault::VaultImport;
use crate::limits::{Limits, MemoryLimiter};
use crate::sandbox::{self, PluginRuntime};
use crate::state::NodeState;
use crate::store::Database;
use anyhow::{Context, Result};
use ledger_sync_vocabulary::{CustomFlow, FlowError, ReconciliationStatus, StatusValue};
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::ResourceTable;

/// How to set up a node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The node's legal name.
    pub name: String,
    /// Its vault and status store: ledger-sync's tables in a database, or
    /// the node host's own (see [`crate::capabilities`]).
    pub storage: Storage,
    /// The text of the plugin's configuration, used when
    /// `plugin_config_dir` is not set.
    pub config: String,
    /// The node's plugin configuration directory (the analogue of Corda's
    /// `cordapps/config`). When set, the configuration is read at every
    /// start from [`PluginRuntime::config_file_name`] there; a missing file
    /// means the defaults.
    pub plugin_config_dir: Option<PathBuf>,
    /// The network's maximum message size in bytes.
    pub max_message_size: u32,
    pub limits: Limits,
    /// Seeds the plugin's WASI randomness for reproducible runs; `None`
    /// gives it the system's secure randomness.
    pub seed: Option<u64>,
    /// Keep plugin logs in memory (for tests) as well as emitting them.
    pub capture_logs: bool,
    /// Status-store writes to refuse from the start (fault injection: a
    /// disk that is full before the plugin starts).
    pub storage_fault: Option<crate::imports::status_store::WriteFault>,
    /// What the plugin may reach beyond what every plugin has (node.conf's
    /// `grants`); the reconciliation plugin's by default: the vault.
    pub grants: Grants,
}

impl NodeOptions {
    pub fn new(name: &str, storage: impl Into<Storage>) -> Self {
        NodeOptions {
            name: name.to_string(),
            storage: storage.into(),
            config: String::new(),
            plugin_config_dir: None,
            max_message_size: 10 << 20,
            limits: Limits::default(),
            seed: None,
            capture_logs: false,
            storage_fault: None,
            grants: Grants::reconciliation_plugin(),
        }
    }

    /// The configuration text the plugin starts with: the file in
    /// `plugin_config_dir` if that is set (empty, so all defaults, when the
    /// file does not exist), otherwise `config`.
    pub fn config_text(&self, file_name: &str) -> Result<String> {
        let Some(dir) = &self.plugin_config_dir else {
            return Ok(self.config.clone());
        };
        let path = dir.join(file_name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e).with_context(|| {
                format!("reading the plugin configuration file {}", path.display())
            }),
        }
    }
}

/// What the plugin wants done, in the order it asked, and what the host
/// noticed it do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub messages: Vec<OutboundMessage>,
    pub timers: Vec<TimerCommand>,
    /// Outgoing reconciliations that ended (rows saved out of
    /// IN_PROGRESS), for the plugins granted `reconciliation`.
    pub ended: Vec<ReconciliationStatus>,
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
    /// The plugin answered with something the contract rules out.
    #[error("the plugin broke the contract: {0}")]
    BadAnswer(String),
}

/// A flow's outcome: the plugin's answer, unless the call itself failed.
pub type FlowResult<T> = Result<Result<T, FlowError>, PluginFailure>;

/// A plugin that traps this many times in a row without one call returning
/// normally is not restarted again: it would only trap again.
pub const MAX_CONSECUTIVE_TRAPS: u32 = 3;

/// A node running the plugin.
pub struct Node {
    runtime: Arc<PluginRuntime>,
    /// Always present; an `Option` only so a restart can move it.
    store: Option<Store<NodeState>>,
    plugin: Option<Plugin>,
    options: NodeOptions,
    clock: Arc<dyn Clock>,
    restarts: u32,
    /// Traps since the last call that returned normally.
    consecutive_traps: u32,
    dead: Option<String>,
}

impl Node {
    /// Opens the node's database, instantiates the plugin and starts it with
    /// the node's configuration. A configuration the plugin rejects is an
    /// error naming the problem.
    pub fn start(
        runtime: Arc<PluginRuntime>,
        options: NodeOptions,
        clock: Arc<dyn Clock>,
        peers: Arc<dyn Peers>,
    ) -> Result<Node> {
        let config = options.config_text(&runtime.config_file_name())?;
        let limits = &options.limits;
        let (wasi, stderr) = sandbox::wasi_context(&clock, options.seed);
        let (vault, statuses) = options.storage.open()?;
        let plugin_name = &runtime.info().name;
        let vault = match options.grants.vault {
            true => vault,
            false => Arc::new(Denied(not_granted(plugin_name, GRANT_VAULT))),
        };
        let state = NodeState {
            vault: VaultImport::new(vault)?,
            reconciliation: ReconciliationImport::new(
                plugin_name,
                options.grants.reconciliation.clone(),
            ),
            recording: RecordingImport::new(plugin_name, options.grants.record.clone()),
            recovery_store: RecoveryStoreImport::new(plugin_name, options.grants.recovery.clone()),
            messaging: MessagingImport::new(
                &options.name,
                peers,
                options.max_message_size,
                limits.max_queued_bytes,
            ),
            timers: TimersImport::new(limits.max_pending_timers),
            clock: ClockImport::new(clock.clone()),
            status_store: {
                let mut store = StatusStoreImport::new(statuses);
                store.set_write_fault(options.storage_fault.clone());
                store
            },
            identity: IdentityImport::new(&options.name),
            logging: LoggingImport::new(
                &options.name,
                limits.max_log_message_bytes,
                options.capture_logs.then_some(limits.max_captured_logs),
                clock.clone(),
                limits.max_log_lines_per_minute,
            ),
            limiter: MemoryLimiter::new(limits.memory_bytes),
            wasi,
            table: ResourceTable::new(),
            stderr,
        };
        let (store, plugin) = runtime.instantiate(state);
        let mut node = Node {
            plugin: Some(plugin?),
            runtime,
            store: Some(store),
            options,
            clock,
            restarts: 0,
            consecutive_traps: 0,
            dead: None,
        };
        let started = node
            .call(|p, s| p.start(s, &config, None))
            .map_err(anyhow::Error::from)?
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                let file = match &node.options.plugin_config_dir {
                    Some(dir) => format!(
                        " in {}",
                        dir.join(node.runtime.config_file_name()).display()
                    ),
                    None => String::new(),
                };
                format!(
                    "the plugin {} of {} refused its configuration{file}",
                    node.runtime.info().name,
                    node.options.name
                )
            })?;
        node.apply(started)?;
        Ok(node)
    }

    /// Carries out what `start` asked of the host.
    fn apply(&mut self, needs: HostRequirements) -> Result<()> {
        self.state_mut().vault.set_readers(needs.vault_readers)
    }

    fn state(&self) -> &NodeState {
        self.store
            .as_ref()
            .expect("a node always has a store")
            .data()
    }

    fn state_mut(&mut self) -> &mut NodeState {
        self.store
            .as_mut()
            .expect("a node always has a store")
            .data_mut()
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// Where the node's vault and status store are.
    pub fn storage(&self) -> &Storage {
        &self.options.storage
    }

    /// The node's database, when it keeps its tables in one.
    pub fn database(&self) -> Option<&Database> {
        self.options.storage.database()
    }

    /// The contract version of the plugin this node runs.
    pub fn contract_version(&self) -> &str {
        self.runtime.contract_version()
    }

    /// How many times the plugin was replaced after a trap.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Why the plugin is no longer running, if it is not.
    pub fn dead(&self) -> Option<&str> {
        self.dead.as_deref()
    }

    /// The plugin's linear memory now, as the host sees it.
    pub fn memory_bytes(&self) -> usize {
        self.state().limiter.current_bytes()
    }

    /// The largest the plugin's linear memory has been.
    pub fn peak_memory_bytes(&self) -> usize {
        self.state().limiter.peak_bytes()
    }

    /// How many vault readers the host runs for this node, as the plugin
    /// asked (`host-requirements.vault-readers`).
    pub fn vault_reader_pool_size(&self) -> usize {
        self.state().vault.readers()
    }

    /// Vault pages the plugin has read.
    pub fn vault_pages_read(&self) -> u64 {
        self.state().vault.pages_read()
    }

    /// Timers the plugin has pending.
    pub fn pending_timers(&self) -> usize {
        self.state().timers.pending()
    }

    /// Makes every status-store write fail with `fault` until cleared with
    /// `None`: storage faults for simulation runs. Nothing stored is touched.
    pub fn set_storage_fault(&mut self, fault: Option<String>) {
        self.set_write_fault(fault.map(|m| crate::imports::status_store::WriteFault::all(&m)));
    }

    /// Makes the status-store writes `fault` names fail until cleared.
    pub fn set_write_fault(&mut self, fault: Option<crate::imports::status_store::WriteFault>) {
        self.state_mut().status_store.set_write_fault(fault);
    }

    /// Log lines the plugin wrote past its rate, dropped, in all (this
    /// instance's).
    pub fn dropped_log_lines(&self) -> u64 {
        self.state().logging.dropped_lines()
    }

    /// Captured plugin logs, oldest first.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.state().logging.captured().cloned().collect()
    }

    /// What the plugin asked for since the last take.
    pub fn take_effects(&mut self) -> Effects {
        let state = self.state_mut();
        let (ended, dropped) = state.status_store.take_ended();
        if dropped > 0 {
            tracing::warn!(
                node = %self.options.name,
                "{dropped} ended reconciliation(s) were not passed on to the plugins granted \
                 `reconciliation` (more than {} waiting); they read the statuses to catch up",
                crate::imports::status_store::MAX_ENDED
            );
        }
        let state = self.state_mut();
        Effects {
            messages: state.messaging.take_outbox(),
            timers: state.timers.take_commands(),
            ended,
        }
    }

    /// Who the plugin is (`handlers.describe`).
    pub fn plugin(&self) -> &crate::bindings::PluginInfo {
        self.runtime.info()
    }

    /// Runs one call into the plugin under the CPU deadline. A trap replaces
    /// the instance (see the module docs).
    fn call<R>(
        &mut self,
        f: impl FnOnce(&Plugin, &mut Store<NodeState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        if let Some(why) = &self.dead {
            return Err(PluginFailure::NotRunning(why.clone()));
        }
        match self.timed(f) {
            Ok(value) => {
                self.consecutive_traps = 0;
                Ok(value)
            }
            Err(trap) => {
                let reason = self.describe_trap(&trap);
                tracing::error!(
                    node = %self.options.name,
                    "the plugin {} trapped: {reason}",
                    self.runtime.info().name
                );
                self.consecutive_traps += 1;
                if self.consecutive_traps >= MAX_CONSECUTIVE_TRAPS {
                    self.give_up(format!(
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

    /// Runs `f` on the live instance with the CPU deadline armed for one
    /// call; every entry into the guest goes through here.
    fn timed<R>(
        &mut self,
        f: impl FnOnce(&Plugin, &mut Store<NodeState>) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        let plugin = self.plugin.as_ref().expect("a live node has a plugin");
        let store = self.store.as_mut().expect("a node always has a store");
        sandbox::arm_deadline(store, self.options.limits.call_timeout);
        let outcome = f(plugin, store);
        sandbox::disarm_deadline(store);
        outcome
    }

    fn describe_trap(&self, trap: &wasmtime::Error) -> String {
        let stderr = self.state().stderr.contents();
        sandbox::trap_reason(trap, self.options.limits.call_timeout, &stderr)
    }

    fn give_up(&mut self, why: String) {
        self.plugin = None;
        self.state_mut().timers.cancel_all();
        self.dead = Some(why);
    }

    /// Replaces a poisoned instance with a fresh one, started with `reason`
    /// under the same CPU deadline as any call.
    fn restart(&mut self, reason: &str) {
        self.restarts += 1;
        if let Err(e) = self.reinstantiate(reason) {
            let why = format!("the restart after a trap failed: {e:#}");
            tracing::error!(node = %self.options.name, "{why}");
            self.give_up(why);
        }
    }

    fn reinstantiate(&mut self, reason: &str) -> Result<()> {
        self.plugin = None;
        // A new store: the old one's instance is poisoned. The imports'
        // state (connections, outbox, captured logs) carries over; the old
        // instance's timers, WASI state and memory do not.
        let seed = self.options.seed.map(|s| s ^ self.restarts as u64);
        let (wasi, stderr) = sandbox::wasi_context(&self.clock, seed);
        let mut state = self
            .store
            .take()
            .expect("a node always has a store")
            .into_data();
        state.wasi = wasi;
        state.stderr = stderr;
        state.table = ResourceTable::new();
        state.timers.cancel_all();
        state.limiter = MemoryLimiter::new(self.options.limits.memory_bytes);
        let (store, plugin) = self.runtime.instantiate(state);
        self.store = Some(store);
        self.plugin = Some(plugin?);
        let config = self.options.config_text(&self.runtime.config_file_name())?;
        let needs = self
            .timed(|p, s| p.start(s, &config, Some(reason)))
            .map_err(|trap| anyhow::anyhow!("{}", self.describe_trap(&trap)))?
            .map_err(|refused| anyhow::anyhow!("the plugin refused to start: {refused}"))?;
        self.apply(needs)
    }

    // ------------------------------------------------------------ handlers

    /// A message from `sender` arrived.
    pub fn on_message(&mut self, sender: &str, payload: &[u8]) -> Result<(), PluginFailure> {
        let sender = sender.to_string();
        self.call(|p, s| p.on_message(s, &sender, payload))
    }

    /// The timer `id` the plugin set is due.
    pub fn on_timer(&mut self, id: u64) -> Result<(), PluginFailure> {
        self.state_mut().timers.firing(id);
        self.call(|p, s| p.on_timer(s, id))
    }

    // --------------------------------------------------------------- flows

    /// ScheduleReconciliationFlow.
    pub fn schedule_reconciliation(&mut self, parties: &[String]) -> FlowResult<()> {
        let answer = self.call(|p, s| p.schedule_reconciliation(s, parties))?;
        Ok(answer.map_err(Into::into))
    }

    /// GetReconciliationStatusesFlow.
    pub fn get_reconciliation_statuses(
        &mut self,
        party: Option<&str>,
        status: Option<StatusValue>,
        is_requester: bool,
    ) -> FlowResult<Vec<ReconciliationStatus>> {
        let party = party.map(str::to_string);
        let answer = self.call(|p, s| {
            p.get_reconciliation_statuses(s, party.as_ref(), status.map(Into::into), is_requester)
        })?;
        match answer {
            Ok(rows) => Ok(Ok(rows
                .into_iter()
                .map(row_from_plugin)
                .collect::<Result<_, _>>()?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    /// GetReconciliationStatusForPartyFlow.
    pub fn get_reconciliation_status_for_party(
        &mut self,
        party: &str,
        is_requester: bool,
    ) -> FlowResult<Option<ReconciliationStatus>> {
        let party = party.to_string();
        let answer =
            self.call(|p, s| p.get_reconciliation_status_for_party(s, &party, is_requester))?;
        match answer {
            Ok(row) => Ok(Ok(row.map(row_from_plugin).transpose()?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    /// RefreshReconciliationStatusesFlow.
    pub fn refresh_reconciliation_statuses(&mut self) -> FlowResult<()> {
        let answer = self.call(|p, s| p.refresh_reconciliation_statuses(s))?;
        Ok(answer.map_err(Into::into))
    }

    /// StopReconciliationForPartyFlow.
    pub fn stop_reconciliation_for_party(&mut self, party: &str) -> FlowResult<()> {
        let party = party.to_string();
        let answer = self.call(|p, s| p.stop_reconciliation_for_party(s, &party))?;
        Ok(answer.map_err(Into::into))
    }

    /// IsReconciliationScheduledForPartyFlow.
    pub fn is_reconciliation_scheduled_for_party(&mut self, party: &str) -> FlowResult<bool> {
        let party = party.to_string();
        let answer = self.call(|p, s| p.is_reconciliation_scheduled_for_party(s, &party))?;
        Ok(answer.map_err(Into::into))
    }

    /// IsRespondingToReconciliationForPartyFlow.
    pub fn is_responding_to_reconciliation_for_party(&mut self, party: &str) -> FlowResult<bool> {
        let party = party.to_string();
        let answer = self.call(|p, s| p.is_responding_to_reconciliation_for_party(s, &party))?;
        Ok(answer.map_err(Into::into))
    }

    // ------------------------------------------------------- other plugins

    /// The flows the plugin offers beyond the seven, checked
    /// ([`ledger_sync_vocabulary::custom_flow::check_custom_flows`]).
    pub fn custom_flows(&mut self) -> Result<Vec<CustomFlow>, PluginFailure> {
        let offered = self.call(|p, s| p.custom_flows(s))?;
        let flows = offered
            .into_iter()
            .map(|f| CustomFlow {
                name: f.name,
                arguments: f.arguments,
                summary: f.summary,
            })
            .collect();
        ledger_sync_vocabulary::custom_flow::check_custom_flows(flows)
            .map_err(|why| PluginFailure::BadAnswer(format!("extension.custom-flows: {why}")))
    }

    /// Runs the plugin's own flow `name`: the shell's answer text.
    pub fn run_flow(&mut self, name: &str, arguments: &[(String, String)]) -> FlowResult<String> {
        let answer = self.call(|p, s| p.run_flow(s, name, arguments))?;
        Ok(answer.map_err(Into::into))
    }

    /// `flows.shared-with` of the reconciliation plugin.
    pub fn shared_with(&mut self, party: &str, ids: &[u8]) -> FlowResult<Vec<bool>> {
        let party = party.to_string();
        let answer = self.call(|p, s| p.shared_with(s, &party, ids))?;
        Ok(answer.map_err(Into::into))
    }

    /// Tells the plugin a reconciliation ended, if it is granted
    /// `reconciliation` (otherwise nothing is called).
    pub fn reconciliation_ended(
        &mut self,
        row: &ReconciliationStatus,
    ) -> Result<(), PluginFailure> {
        if !self.state().reconciliation.granted() {
            return Ok(());
        }
        let row = row.into();
        self.call(|p, s| p.reconciliation_ended(s, &row))
    }

    // ------------------------------------------------------------- metrics

    /// Every metric.
    pub fn metrics(&mut self) -> Result<MetricsSnapshot, PluginFailure> {
        self.call(|p, s| p.snapshot(s))
    }

    /// The ReconciliationStatus(party) metric.
    pub fn party_reconciliation_status(
        &mut self,
        party: &str,
    ) -> Result<Option<ReconciliationStatus>, PluginFailure> {
        let party = party.to_string();
        let row = self.call(|p, s| p.party_reconciliation_status(s, &party))?;
        row.map(row_from_plugin).transpose()
    }
}

/// A status row the plugin returned, in the vocabulary's type.
fn row_from_plugin(
    row: crate::bindings::types::ReconciliationStatus,
) -> Result<ReconciliationStatus, PluginFailure> {
    row.try_into().map_err(PluginFailure::BadAnswer)
}
