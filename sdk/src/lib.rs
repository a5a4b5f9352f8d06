//! Write a ledger-sync plugin in Rust.
//!
//! A plugin is a WASI component for the contract `ledger-sync:plugin@0.5.0`
//! (`wit/since_v0.5.0`). This crate is all a plugin author needs of it:
//! - [`Plugin`]: the trait a plugin implements — who it is, how it starts,
//!   the messages and timers it is handed, and the operator's flows and
//!   metrics (each with a default, so a small plugin writes only what it
//!   does);
//! - [`export_plugin!`]: the one macro that makes a type the component's
//!   exports;
//! - `platform`: what the node gives every plugin (its vault read-only,
//!   the network, timers, the time, its name, its log, its own status
//!   store), with the shared [`vocabulary`]'s types rather than generated
//!   ones;
//! - `adapter` (feature `adapter`, without the default `plugin`): a
//!   ledger adapter — the `LedgerAdapter` trait and `export_adapter!`.
//!
//! ```ignore
//! use ledger_sync_plugin_api::{Plugin, export_plugin, platform};
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     const NAME: &'static str = "echo";
//!     const VERSION: &'static str = "0.1.0";
//!
//!     fn start(_config: &str, _restart: Option<&str>) -> Result<Self, String> {
//!         Ok(Echo)
//!     }
//!
//!     fn on_message(&mut self, sender: &str, payload: &[u8]) {
//!         let _ = platform::send(sender, payload);
//!     }
//! }
//!
//! export_plugin!(Echo);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the
//! `cdylib` is the component.

pub use ledger_sync_vocabulary as vocabulary;
pub use ledger_sync_vocabulary::metrics::Metrics;
pub use ledger_sync_vocabulary::{
    CustomFlow, FlowError, ReconciliationStatus, StatusValue, TransactionPage, TxId,
};

#[cfg(feature = "plugin")]
pub mod platform;

#[cfg(feature = "plugin")]
#[doc(hidden)]
pub mod bindings;

#[cfg(feature = "plugin")]
#[doc(hidden)]
pub mod glue;

#[cfg(feature = "adapter")]
pub mod adapter;

/// Why a message was not sent (`platform::send`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The network's maximum message size, which the payload exceeds.
    MessageTooLarge(u32),
    /// No such party on the network.
    UnknownParty(String),
    /// The host cannot take it now (its queue for the party is full, or
    /// the node is stopping): why.
    Unavailable(String),
}

/// A log line's level (`platform::log`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// How many vault readers the plugin asks its host to run (the WIT
/// `host-requirements`): a host reading the following pages ahead on this
/// many connections keeps a plugin that reads the whole vault busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostRequirements {
    pub vault_readers: u32,
}

impl Default for HostRequirements {
    fn default() -> Self {
        HostRequirements { vault_readers: 1 }
    }
}

/// A plugin. One value of it lives in the component from `start` on; every
/// later call is a method on it. Calls never overlap, and a call that
/// panics traps the instance: the host starts a new one, with
/// `restart_reason` saying why.
pub trait Plugin: Sized + 'static {
    /// The plugin's name: lower-case letters, digits and `-`, starting with
    /// a letter. With [`Plugin::VERSION`] it names the plugin's
    /// configuration file, `<name>-<version>.conf`.
    const NAME: &'static str;
    /// The plugin's version, `X.Y.Z`.
    const VERSION: &'static str;

    /// Starts the plugin with its configuration file's text (empty when
    /// there is none). `restart_reason` is set when the host replaced an
    /// instance that trapped. An error (naming the key, the value and what
    /// is accepted) means the plugin cannot run; nothing else is called.
    fn start(config: &str, restart_reason: Option<&str>) -> Result<Self, String>;

    /// What the plugin asks of its host; asked once, right after `start`.
    fn host_requirements(&self) -> HostRequirements {
        HostRequirements::default()
    }

    /// A message from `sender`'s counterpart of this plugin. The host
    /// authenticated the sender; the payload is whatever it sent, so treat
    /// it as hostile.
    fn on_message(&mut self, sender: &str, payload: &[u8]) {
        let _ = (sender, payload);
    }

    /// Timer `id`, set with `platform::set_timer`, fired.
    fn on_timer(&mut self, id: u64) {
        let _ = id;
    }

    /// ScheduleReconciliationFlow.
    fn schedule_reconciliation(&mut self, parties: &[String]) -> Result<(), FlowError> {
        let _ = parties;
        Err(not_offered::<Self>("ScheduleReconciliationFlow"))
    }

    /// GetReconciliationStatusesFlow.
    fn get_reconciliation_statuses(
        &mut self,
        party: Option<&str>,
        status: Option<StatusValue>,
        is_requester: bool,
    ) -> Result<Vec<ReconciliationStatus>, FlowError> {
        let _ = (party, status, is_requester);
        Ok(Vec::new())
    }

    /// GetReconciliationStatusForPartyFlow.
    fn get_reconciliation_status_for_party(
        &mut self,
        party: &str,
        is_requester: bool,
    ) -> Result<Option<ReconciliationStatus>, FlowError> {
        let _ = (party, is_requester);
        Ok(None)
    }

    /// RefreshReconciliationStatusesFlow.
    fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError> {
        Ok(())
    }

    /// StopReconciliationForPartyFlow.
    fn stop_reconciliation_for_party(&mut self, party: &str) -> Result<(), FlowError> {
        let _ = party;
        Ok(())
    }

    /// IsReconciliationScheduledForPartyFlow.
    fn is_reconciliation_scheduled_for_party(&mut self, party: &str) -> Result<bool, FlowError> {
        let _ = party;
        Ok(false)
    }

    /// IsRespondingToReconciliationForPartyFlow.
    fn is_responding_to_reconciliation_for_party(
        &mut self,
        party: &str,
    ) -> Result<bool, FlowError> {
        let _ = party;
        Ok(false)
    }

    /// The seed's metrics.
    fn metrics(&mut self) -> Metrics {
        Metrics::default()
    }

    /// The ReconciliationStatus(party) metric: the outgoing status.
    fn party_reconciliation_status(&mut self, party: &str) -> Option<ReconciliationStatus> {
        let _ = party;
        None
    }

    /// Whether each of `ids` is in this node's reconciliation set for
    /// `party` (`flows.shared-with`): answered by the reconciliation
    /// plugin, for a recovery responder on the same node.
    fn shared_with(&mut self, party: &str, ids: &[TxId]) -> Result<Vec<bool>, FlowError> {
        let _ = (party, ids);
        Err(not_offered::<Self>("shared-with"))
    }

    /// The flows this plugin offers the operator beyond the seven
    /// reconciliation flows: the shell routes a flow of one of these names
    /// to [`Plugin::run_flow`]. Asked once after `start`; names follow
    /// [`vocabulary::custom_flow::FLOW_NAME_RULE`].
    fn custom_flows(&self) -> Vec<CustomFlow> {
        Vec::new()
    }

    /// Runs one of [`Plugin::custom_flows`] with the operator's arguments
    /// (each key at most once, each value as typed, quotes removed): the
    /// shell's answer text, or the refusal.
    fn run_flow(
        &mut self,
        name: &str,
        arguments: &[(String, String)],
    ) -> Result<String, FlowError> {
        let _ = arguments;
        Err(not_offered::<Self>(name))
    }

    /// An outgoing reconciliation of this node ended: its row, out of
    /// IN_PROGRESS. Called only when node.conf grants this plugin
    /// `reconciliation`.
    fn reconciliation_ended(&mut self, status: &ReconciliationStatus) {
        let _ = status;
    }
}

/// The refusal of a flow a plugin does not offer.
fn not_offered<P: Plugin>(flow: &str) -> FlowError {
    FlowError::InvalidArgument(format!(
        "{flow} is not offered by the plugin {} {}",
        P::NAME,
        P::VERSION
    ))
}

/// Makes `$plugin` (a type implementing [`Plugin`]) the component's
/// exports. Use it once, in the `cdylib` crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        type __LedgerSyncPluginExports = $crate::glue::Exports<$plugin>;
        $crate::bindings::__export_reconciliation_plugin!(
            __LedgerSyncPluginExports with_types_in $crate::bindings
        );
    };
}
