//! The `status-store` import: CR_RECONCILIATION_STATUS and the queue of
//! scheduled reconciliations, in the node's [`StatusStore`] capability.

use crate::bindings::ledger_sync::plugin::status_store;
use crate::bindings::types::ReconciliationStatus;
use crate::capabilities::StatusStore;
use std::sync::Arc;

/// Which writes a fault-injection run refuses, and with what message.
#[derive(Clone, Debug)]
pub struct WriteFault {
    pub message: String,
    /// Refuse `save-status`.
    pub rows: bool,
    /// Refuse `save-scheduled`.
    pub queue: bool,
}

impl WriteFault {
    /// Every write refused with `message`.
    pub fn all(message: &str) -> WriteFault {
        WriteFault {
            message: message.to_string(),
            rows: true,
            queue: true,
        }
    }
}

/// The `status-store` import's state.
pub struct StatusStoreImport {
    store: Arc<dyn StatusStore>,
    /// Set by fault-injection runs: these writes fail with its message.
    write_fault: Option<WriteFault>,
}

impl StatusStoreImport {
    pub fn new(store: Arc<dyn StatusStore>) -> Self {
        StatusStoreImport {
            store,
            write_fault: None,
        }
    }

    /// Makes the writes `fault` names fail until it is cleared with `None`
    /// (the simulation's storage faults; a real store fails on its own).
    pub fn set_write_fault(&mut self, fault: Option<WriteFault>) {
        self.write_fault = fault;
    }

    fn check_write(&self, queue: bool) -> Result<(), String> {
        match &self.write_fault {
            Some(f) if (queue && f.queue) || (!queue && f.rows) => Err(f.message.clone()),
            _ => Ok(()),
        }
    }
}

fn describe(e: anyhow::Error) -> String {
    format!("{e:#}")
}

impl status_store::Host for StatusStoreImport {
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, String> {
        let rows = self.store.load_statuses().map_err(describe)?;
        Ok(rows.iter().map(Into::into).collect())
    }

    fn save_status(&mut self, row: ReconciliationStatus) -> Result<(), String> {
        self.check_write(false)?;
        let row = row.try_into()?;
        self.store.save_status(&row).map_err(describe)
    }

    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        self.store.load_scheduled().map_err(describe)
    }

    fn save_scheduled(&mut self, parties: Vec<String>) -> Result<(), String> {
        self.check_write(true)?;
        self.store.save_scheduled(&parties).map_err(describe)
    }
}
