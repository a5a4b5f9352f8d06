//! What the reconciliation core needs from its host: the plugin's imports as
//! one Rust trait. The component implements it with the SDK's
//! [`ledger_sync_plugin_api::platform`]; unit tests implement it with
//! in-memory fakes.

use ledger_sync_vocabulary::{ReconciliationStatus, TransactionPage, TxId};

pub use ledger_sync_plugin_api::{Level, SendError};

/// The plugin's imports. See the WIT package for each function's contract.
pub trait Host {
    fn read_transactions(&mut self, after: u64, limit: u32) -> Result<TransactionPage, String>;
    fn contains_transactions(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String>;
    fn find_party(&mut self, name: &str) -> Result<Option<u32>, String>;
    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>, String>;
    fn max_message_size(&mut self) -> u32;
    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), SendError>;
    /// Whether the network has a node called `name` other than this one.
    fn is_network_party(&mut self, name: &str) -> bool;
    fn set_timer(&mut self, id: u64, delay_ms: u64);
    fn cancel_timer(&mut self, id: u64);
    fn now_ms(&mut self) -> u64;
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, String>;
    fn save_status(&mut self, status: &ReconciliationStatus) -> Result<(), String>;
    fn load_scheduled(&mut self) -> Result<Vec<String>, String>;
    fn save_scheduled(&mut self, parties: &[String]) -> Result<(), String>;
    fn load_value(&mut self, key: &str) -> Result<Option<Vec<u8>>, String>;
    fn save_value(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), String>;
    fn our_name(&mut self) -> String;
    fn log(&mut self, level: Level, marker: &str, message: &str);
    /// Unpredictable bits for session ids and hash salts.
    fn random_u64(&mut self) -> u64;
}
