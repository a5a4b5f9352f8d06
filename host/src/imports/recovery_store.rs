//! The `recovery-store` import: CR_RECOVERY_REQUEST and CR_RECOVERY_LOG,
//! for a plugin granted `recovery` ([`crate::capabilities::Grants`]).

use crate::bindings::ledger_sync::plugin::recovery_store::{
    self, RecoveryLogEntry, RecoveryRequest,
};
use crate::capabilities::{GRANT_RECOVERY, RecoveryStore, not_granted};
use std::sync::Arc;

/// The most rows one load may ask for.
pub const MAX_LOAD: u32 = 10_000;

/// The `recovery-store` import's state.
pub struct RecoveryStoreImport {
    plugin: String,
    store: Option<Arc<dyn RecoveryStore>>,
}

impl RecoveryStoreImport {
    /// `store` is `None` when the plugin is not granted `recovery`.
    pub fn new(plugin: &str, store: Option<Arc<dyn RecoveryStore>>) -> Self {
        RecoveryStoreImport {
            plugin: plugin.to_string(),
            store,
        }
    }

    fn store(&self) -> Result<&dyn RecoveryStore, String> {
        self.store
            .as_deref()
            .ok_or_else(|| not_granted(&self.plugin, GRANT_RECOVERY))
    }
}

fn describe(e: anyhow::Error) -> String {
    format!("{e:#}")
}

impl recovery_store::Host for RecoveryStoreImport {
    fn load_requests(&mut self, limit: u32) -> Result<Vec<RecoveryRequest>, String> {
        let rows = self
            .store()?
            .load_requests(limit.min(MAX_LOAD))
            .map_err(describe)?;
        Ok(rows.iter().map(Into::into).collect())
    }

    fn save_request(&mut self, request: RecoveryRequest) -> Result<(), String> {
        let request = request.try_into()?;
        self.store()?.save_request(&request).map_err(describe)
    }

    fn append_log(&mut self, entry: RecoveryLogEntry) -> Result<(), String> {
        self.store()?.append_log(&entry.into()).map_err(describe)
    }

    fn load_log(
        &mut self,
        request_id: String,
        limit: u32,
    ) -> Result<Vec<RecoveryLogEntry>, String> {
        let rows = self
            .store()?
            .load_log(&request_id, limit.min(MAX_LOAD))
            .map_err(describe)?;
        Ok(rows.iter().map(Into::into).collect())
    }
}
