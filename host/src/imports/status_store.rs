//! The `status-store` import: CR_RECONCILIATION_STATUS and the queue of
//! scheduled reconciliations on the node's own connection.

use crate::bindings::ledger_sync::plugin::status_store;
use crate::bindings::types::ReconciliationStatus;
use crate::store::status;
use anyhow::Result;
use rusqlite::Connection;
use std::path::Path;

/// The `status-store` import's state.
pub struct StatusStoreImport {
    conn: Connection,
}

impl StatusStoreImport {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(StatusStoreImport {
            conn: crate::store::open(path)?,
        })
    }
}

fn describe(e: anyhow::Error) -> String {
    format!("{e:#}")
}

impl status_store::Host for StatusStoreImport {
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, String> {
        let rows = status::load_statuses(&self.conn).map_err(describe)?;
        Ok(rows.iter().map(Into::into).collect())
    }

    fn save_status(&mut self, row: ReconciliationStatus) -> Result<(), String> {
        let row = row.try_into()?;
        status::save_status(&self.conn, &row).map_err(describe)
    }

    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        status::load_scheduled(&self.conn).map_err(describe)
    }

    fn save_scheduled(&mut self, parties: Vec<String>) -> Result<(), String> {
        status::save_scheduled(&self.conn, &parties).map_err(describe)
    }
}
