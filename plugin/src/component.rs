//! The wit-bindgen adapter: WIT imports become a [`Host`], WIT exports call
//! the [`Reconciler`]. No behaviour lives here.

use crate::graph::TransactionPage;
use crate::host::{Host, Level, SendError};
use crate::id::{TxId, join_ids};
use crate::reconciler::{Metrics, Reconciler};
use crate::status::{ReconciliationStatus, StatusValue};
use std::cell::RefCell;

wit_bindgen::generate!({
    path: "../wit/since_v0.4.0",
    world: "reconciliation-plugin",
});

use exports::ledger_sync::plugin::handlers::{HostRequirements, PluginInfo};
use exports::ledger_sync::plugin::{flows, handlers, metrics};
use ledger_sync::plugin::{
    clock, identity, logging, messaging, status_store, timers, types, vault,
};

/// The host as the core sees it: every call goes to a WIT import.
struct WitHost;

impl Host for WitHost {
    fn read_transactions(&mut self, after: u64, limit: u32) -> Result<TransactionPage, String> {
        vault::read_transactions(after, limit).map(Into::into)
    }

    fn contains_transactions(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let answer = vault::contains_transactions(&join_ids(ids))?;
        if answer.len() != ids.len() {
            return Err(format!(
                "the vault answered {} of {} look-ups",
                answer.len(),
                ids.len()
            ));
        }
        Ok(answer)
    }

    fn find_party(&mut self, name: &str) -> Result<Option<u32>, String> {
        vault::find_party(name)
    }

    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>, String> {
        vault::party_names(handles)
    }

    fn max_message_size(&mut self) -> u32 {
        messaging::max_message_size()
    }

    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), SendError> {
        messaging::send(to, payload).map_err(|e| match e {
            messaging::SendError::MessageTooLarge(max) => SendError::MessageTooLarge(max),
            messaging::SendError::UnknownParty(p) => SendError::UnknownParty(p),
            messaging::SendError::Unavailable(why) => SendError::Unavailable(why),
        })
    }

    fn is_network_party(&mut self, name: &str) -> bool {
        messaging::is_network_party(name)
    }

    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        timers::set_timer(id, delay_ms)
    }

    fn cancel_timer(&mut self, id: u64) {
        timers::cancel_timer(id)
    }

    fn now_ms(&mut self) -> u64 {
        clock::now_ms()
    }

    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, String> {
        status_store::load_statuses()?
            .into_iter()
            .map(ReconciliationStatus::try_from)
            .collect()
    }

    fn save_status(&mut self, status: &ReconciliationStatus) -> Result<(), String> {
        status_store::save_status(&status.into())
    }

    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        status_store::load_scheduled()
    }

    fn save_scheduled(&mut self, parties: &[String]) -> Result<(), String> {
        status_store::save_scheduled(parties)
    }

    fn our_name(&mut self) -> String {
        identity::our_name()
    }

    fn log(&mut self, level: Level, marker: &str, message: &str) {
        let level = match level {
            Level::Trace => logging::Level::Trace,
            Level::Debug => logging::Level::Debug,
            Level::Info => logging::Level::Info,
            Level::Warn => logging::Level::Warn,
            Level::Error => logging::Level::Error,
        };
        logging::log(level, marker, message)
    }

    fn random_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        // WASI random is provided by every component host; without it the
        // plugin could not run at all.
        getrandom::fill(&mut bytes).expect("the host provides wasi:random");
        u64::from_le_bytes(bytes)
    }
}

ledger_sync_vocabulary::wit_conversions!(types, flows, vault);

thread_local! {
    static PLUGIN: RefCell<Option<Reconciler<WitHost>>> = const { RefCell::new(None) };
}

/// Runs `f` on the started plugin. Calling an export before `start` is a
/// host bug; it traps with a message saying so.
fn with_plugin<R>(f: impl FnOnce(&mut Reconciler<WitHost>) -> R) -> R {
    PLUGIN.with(|cell| {
        let mut slot = cell.borrow_mut();
        let plugin = slot
            .as_mut()
            .expect("ledger-sync: handlers.start must be called before any other export");
        f(plugin)
    })
}

struct Component;

impl handlers::Guest for Component {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "ledger-sync".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn start(config: String, restart_reason: Option<String>) -> Result<HostRequirements, String> {
        let plugin = Reconciler::start(WitHost, &config, restart_reason.as_deref())?;
        let needs = HostRequirements {
            vault_readers: plugin.config().transaction_reader_pool_size,
        };
        PLUGIN.with(|cell| *cell.borrow_mut() = Some(plugin));
        Ok(needs)
    }

    fn on_message(sender: String, payload: Vec<u8>) {
        with_plugin(|p| p.on_message(&sender, &payload))
    }

    fn on_timer(id: u64) {
        with_plugin(|p| p.on_timer(id))
    }
}

impl flows::Guest for Component {
    fn schedule_reconciliation(parties: Vec<String>) -> Result<(), flows::FlowError> {
        with_plugin(|p| p.schedule_reconciliation(&parties)).map_err(flows::FlowError::from)
    }

    fn get_reconciliation_statuses(
        party: Option<String>,
        last_reconciliation_status: Option<types::ReconciliationStatusValue>,
        is_requester: bool,
    ) -> Result<Vec<types::ReconciliationStatus>, flows::FlowError> {
        with_plugin(|p| {
            p.get_reconciliation_statuses(
                party.as_deref(),
                last_reconciliation_status.map(StatusValue::from),
                is_requester,
            )
        })
        .map(|rows| rows.iter().map(Into::into).collect())
        .map_err(flows::FlowError::from)
    }

    fn get_reconciliation_status_for_party(
        party: String,
        is_requester: bool,
    ) -> Result<Option<types::ReconciliationStatus>, flows::FlowError> {
        with_plugin(|p| p.get_reconciliation_status_for_party(&party, is_requester))
            .map(|row| row.as_ref().map(Into::into))
            .map_err(flows::FlowError::from)
    }

    fn refresh_reconciliation_statuses() -> Result<(), flows::FlowError> {
        with_plugin(|p| p.refresh_reconciliation_statuses()).map_err(flows::FlowError::from)
    }

    fn stop_reconciliation_for_party(party: String) -> Result<(), flows::FlowError> {
        with_plugin(|p| p.stop_reconciliation_for_party(&party)).map_err(flows::FlowError::from)
    }

    fn is_reconciliation_scheduled_for_party(party: String) -> Result<bool, flows::FlowError> {
        with_plugin(|p| p.is_reconciliation_scheduled_for_party(&party))
            .map_err(flows::FlowError::from)
    }

    fn is_responding_to_reconciliation_for_party(party: String) -> Result<bool, flows::FlowError> {
        with_plugin(|p| p.is_responding_to_reconciliation_for_party(&party))
            .map_err(flows::FlowError::from)
    }
}

impl metrics::Guest for Component {
    fn snapshot() -> metrics::MetricsSnapshot {
        let m: Metrics = with_plugin(|p| p.metrics());
        metrics::MetricsSnapshot {
            failed_parties: m.failed_parties,
            parties_with_difference: m.parties_with_difference,
            number_of_scheduled_reconciliations: m.number_of_scheduled_reconciliations,
            number_of_reconciliations_in_progress: m.number_of_reconciliations_in_progress,
            number_of_failed_reconciliations: m.number_of_failed_reconciliations,
            number_of_reconciliations_with_differences: m
                .number_of_reconciliations_with_differences,
            number_of_reconciliations_without_differences: m
                .number_of_reconciliations_without_differences,
            ledger_graph_is_initialized: m.ledger_graph_is_initialized,
            ledger_graph_is_self_consistent: m.ledger_graph_is_self_consistent,
            ledger_graph_errors: m.ledger_graph_errors,
            ledger_graph_transactions: m.ledger_graph_transactions,
        }
    }

    fn party_reconciliation_status(party: String) -> Option<types::ReconciliationStatus> {
        with_plugin(|p| p.reconciliation_status(&party)).map(|row| (&row).into())
    }
}

export!(Component);
