//! The component: the reconciliation core as a [`Plugin`] of the SDK, its
//! host the SDK's [`platform`]. No behaviour lives here.

use crate::graph::TransactionPage;
use crate::host::{Host, Level, SendError};
use crate::id::TxId;
use crate::reconciler::{Metrics, Reconciler};
use crate::status::{ReconciliationStatus, StatusValue};
use ledger_sync_plugin_api::{FlowError, HostRequirements, Plugin, export_plugin, platform};

/// The host as the core sees it: every call goes to the platform.
struct PlatformHost;

impl Host for PlatformHost {
    fn read_transactions(&mut self, after: u64, limit: u32) -> Result<TransactionPage, String> {
        platform::read_transactions(after, limit)
    }
    fn contains_transactions(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String> {
        platform::contains_transactions(ids)
    }
    fn find_party(&mut self, name: &str) -> Result<Option<u32>, String> {
        platform::find_party(name)
    }
    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>, String> {
        platform::party_names(handles)
    }
    fn max_message_size(&mut self) -> u32 {
        platform::max_message_size()
    }
    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), SendError> {
        platform::send(to, payload)
    }
    fn is_network_party(&mut self, name: &str) -> bool {
        platform::is_network_party(name)
    }
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        platform::set_timer(id, delay_ms)
    }
    fn cancel_timer(&mut self, id: u64) {
        platform::cancel_timer(id)
    }
    fn now_ms(&mut self) -> u64 {
        platform::now_ms()
    }
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, String> {
        platform::load_statuses()
    }
    fn save_status(&mut self, status: &ReconciliationStatus) -> Result<(), String> {
        platform::save_status(status)
    }
    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        platform::load_scheduled()
    }
    fn save_scheduled(&mut self, parties: &[String]) -> Result<(), String> {
        platform::save_scheduled(parties)
    }
    fn load_value(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        platform::load_value(key)
    }
    fn save_value(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), String> {
        platform::save_value(key, value)
    }
    fn our_name(&mut self) -> String {
        platform::our_name()
    }
    fn log(&mut self, level: Level, marker: &str, message: &str) {
        platform::log(level, marker, message)
    }
    fn random_u64(&mut self) -> u64 {
        platform::random_u64()
    }
}

/// The reconciliation plugin: ledger-sync's LedgerSync.
struct LedgerSync(Reconciler<PlatformHost>);

impl Plugin for LedgerSync {
    const NAME: &'static str = "ledger-sync";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn start(config: &str, restart_reason: Option<&str>) -> Result<Self, String> {
        Reconciler::start(PlatformHost, config, restart_reason).map(LedgerSync)
    }

    fn host_requirements(&self) -> HostRequirements {
        HostRequirements {
            vault_readers: self.0.config().transaction_reader_pool_size,
        }
    }

    fn on_message(&mut self, sender: &str, payload: &[u8]) {
        self.0.on_message(sender, payload)
    }

    fn on_timer(&mut self, id: u64) {
        self.0.on_timer(id)
    }

    fn schedule_reconciliation(&mut self, parties: &[String]) -> Result<(), FlowError> {
        self.0.schedule_reconciliation(parties)
    }

    fn get_reconciliation_statuses(
        &mut self,
        party: Option<&str>,
        status: Option<StatusValue>,
        is_requester: bool,
    ) -> Result<Vec<ReconciliationStatus>, FlowError> {
        self.0
            .get_reconciliation_statuses(party, status, is_requester)
    }

    fn get_reconciliation_status_for_party(
        &mut self,
        party: &str,
        is_requester: bool,
    ) -> Result<Option<ReconciliationStatus>, FlowError> {
        self.0
            .get_reconciliation_status_for_party(party, is_requester)
    }

    fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError> {
        self.0.refresh_reconciliation_statuses()
    }

    fn stop_reconciliation_for_party(&mut self, party: &str) -> Result<(), FlowError> {
        self.0.stop_reconciliation_for_party(party)
    }

    fn is_reconciliation_scheduled_for_party(&mut self, party: &str) -> Result<bool, FlowError> {
        self.0.is_reconciliation_scheduled_for_party(party)
    }

    fn is_responding_to_reconciliation_for_party(
        &mut self,
        party: &str,
    ) -> Result<bool, FlowError> {
        self.0.is_responding_to_reconciliation_for_party(party)
    }

    fn metrics(&mut self) -> Metrics {
        self.0.metrics()
    }

    fn party_reconciliation_status(&mut self, party: &str) -> Option<ReconciliationStatus> {
        self.0.reconciliation_status(party)
    }

    fn shared_with(&mut self, party: &str, ids: &[TxId]) -> Result<Vec<bool>, FlowError> {
        self.0.shared_with(party, ids)
    }
}

export_plugin!(LedgerSync);
