//! The component: the recovery core as a [`Plugin`] of the SDK, its node
//! the SDK's [`platform`]. No behaviour lives here.

use crate::Recoverer;
use crate::node::Node;
use ledger_sync_plugin_api::platform::{self, Level, Recorded};
use ledger_sync_plugin_api::vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest};
use ledger_sync_plugin_api::{
    CustomFlow, FlowError, Plugin, ReconciliationStatus, TxId, export_plugin,
};

/// The node as the core sees it: every call goes to the platform.
struct PlatformNode;

impl Node for PlatformNode {
    fn now_ms(&mut self) -> u64 {
        platform::now_ms()
    }
    fn our_name(&mut self) -> String {
        platform::our_name()
    }
    fn random_u64(&mut self) -> u64 {
        platform::random_u64()
    }
    fn max_message_size(&mut self) -> u32 {
        platform::max_message_size()
    }
    fn is_network_party(&mut self, name: &str) -> bool {
        platform::is_network_party(name)
    }
    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), String> {
        platform::send(to, payload).map_err(|e| format!("{e:?}"))
    }
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        platform::set_timer(id, delay_ms)
    }
    fn log(&mut self, level: Level, message: &str) {
        platform::log(level, "", message)
    }
    fn reconciliation_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, FlowError> {
        platform::reconciliation_statuses()
    }
    fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError> {
        platform::refresh_reconciliation_statuses()
    }
    fn shared_with(&mut self, party: &str, ids: &[TxId]) -> Result<Vec<bool>, FlowError> {
        platform::shared_with(party, ids)
    }
    fn contains(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String> {
        platform::contains_transactions(ids)
    }
    fn transaction_bytes(&mut self, ids: &[TxId]) -> Result<Vec<Option<Vec<u8>>>, String> {
        platform::read_transaction_bytes(ids)
    }
    fn record_verified(
        &mut self,
        transactions: &[(TxId, Vec<u8>)],
    ) -> Result<Vec<Recorded>, String> {
        platform::record_verified(transactions)
    }
    fn load_requests(&mut self, limit: u32) -> Result<Vec<RecoveryRequest>, String> {
        platform::load_recovery_requests(limit)
    }
    fn save_request(&mut self, request: &RecoveryRequest) -> Result<(), String> {
        platform::save_recovery_request(request)
    }
    fn append_log(&mut self, entry: &RecoveryLogEntry) -> Result<(), String> {
        platform::append_recovery_log(entry)
    }
    fn load_log(&mut self, request_id: &str, limit: u32) -> Result<Vec<RecoveryLogEntry>, String> {
        platform::load_recovery_log(request_id, limit)
    }
}

/// LedgerRecover as a plugin.
struct LedgerRecover(Recoverer<PlatformNode>);

impl Plugin for LedgerRecover {
    const NAME: &'static str = crate::NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn start(config: &str, restart_reason: Option<&str>) -> Result<Self, String> {
        Recoverer::start(PlatformNode, config, restart_reason).map(LedgerRecover)
    }

    fn on_message(&mut self, sender: &str, payload: &[u8]) {
        self.0.on_message(sender, payload)
    }

    fn on_timer(&mut self, id: u64) {
        self.0.on_timer(id)
    }

    fn custom_flows(&self) -> Vec<CustomFlow> {
        crate::flows::offered()
    }

    fn run_flow(
        &mut self,
        name: &str,
        arguments: &[(String, String)],
    ) -> Result<String, FlowError> {
        self.0.run_flow(name, arguments)
    }
}

export_plugin!(LedgerRecover);
