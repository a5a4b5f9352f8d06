//! What the recovery plugin needs of its node, as a trait: the component
//! implements it with the SDK's `platform` (`component.rs`), the unit tests
//! with an in-memory node. Every call is one host call.

use ledger_sync_plugin_api::platform::{Level, Recorded};
use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest};
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus, TxId};

pub trait Node {
    fn now_ms(&mut self) -> u64;
    fn our_name(&mut self) -> String;
    fn random_u64(&mut self) -> u64;
    fn max_message_size(&mut self) -> u32;
    fn is_network_party(&mut self, name: &str) -> bool;
    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), String>;
    fn set_timer(&mut self, id: u64, delay_ms: u64);
    fn log(&mut self, level: Level, message: &str);

    /// Grant `reconciliation`.
    fn reconciliation_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, FlowError>;
    fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError>;
    fn shared_with(&mut self, party: &str, ids: &[TxId]) -> Result<Vec<bool>, FlowError>;

    /// Grant `vault`.
    fn contains(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String>;
    fn transaction_bytes(&mut self, ids: &[TxId]) -> Result<Vec<Option<Vec<u8>>>, String>;

    /// Grant `record`.
    fn record_verified(
        &mut self,
        transactions: &[(TxId, Vec<u8>)],
    ) -> Result<Vec<Recorded>, String>;

    /// Grant `recovery`.
    fn load_requests(&mut self, limit: u32) -> Result<Vec<RecoveryRequest>, String>;
    fn save_request(&mut self, request: &RecoveryRequest) -> Result<(), String>;
    fn append_log(&mut self, entry: &RecoveryLogEntry) -> Result<(), String>;
    fn load_log(&mut self, request_id: &str, limit: u32) -> Result<Vec<RecoveryLogEntry>, String>;
}
