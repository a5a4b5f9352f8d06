//! The `status-store` import: CR_RECONCILIATION_STATUS and the queue of
//! scheduled reconciliations, in the node's [`StatusStore`] capability.
//!
//! It also notices when an outgoing reconciliation ends — its row saved
//! out of IN_PROGRESS — so the host can tell the plugins granted
//! `reconciliation` (`extension.reconciliation-ended`).

use crate::bindings::ledger_sync::plugin::status_store;
use crate::bindings::types::ReconciliationStatus;
use crate::capabilities::{MAX_VALUE_KEY_LEN, MAX_VALUE_LEN, StatusStore};
use ledger_sync_vocabulary::StatusValue;
use std::collections::HashMap;
use std::sync::Arc;

/// Ended reconciliations kept for the host to take: past this, the oldest
/// are dropped and counted (one per party at most is typical).
pub const MAX_ENDED: usize = 1024;

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
    /// The last status saved or loaded of each outgoing row, by party.
    outgoing: HashMap<String, StatusValue>,
    /// Outgoing rows saved out of IN_PROGRESS since the host last took them.
    ended: std::collections::VecDeque<ledger_sync_vocabulary::ReconciliationStatus>,
    /// Ended rows dropped because the host did not take them in time.
    dropped_ended: u64,
}

impl StatusStoreImport {
    pub fn new(store: Arc<dyn StatusStore>) -> Self {
        StatusStoreImport {
            store,
            write_fault: None,
            outgoing: HashMap::new(),
            ended: Default::default(),
            dropped_ended: 0,
        }
    }

    /// The outgoing reconciliations that ended since the last take, in the
    /// order their rows were saved, and how many were dropped unseen.
    pub fn take_ended(&mut self) -> (Vec<ledger_sync_vocabulary::ReconciliationStatus>, u64) {
        let dropped = std::mem::take(&mut self.dropped_ended);
        (self.ended.drain(..).collect(), dropped)
    }

    /// Notes a saved row; one that leaves IN_PROGRESS on the requester's
    /// side is an ended reconciliation.
    fn note(&mut self, row: &ledger_sync_vocabulary::ReconciliationStatus) {
        if !row.is_requester {
            return;
        }
        let now = row.last_reconciliation_status;
        let before = self.outgoing.insert(row.party_name.clone(), now);
        if before == Some(StatusValue::InProgress) && now != StatusValue::InProgress {
            if self.ended.len() == MAX_ENDED {
                self.ended.pop_front();
                self.dropped_ended += 1;
            }
            self.ended.push_back(row.clone());
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
        for row in rows.iter().filter(|r| r.is_requester) {
            self.outgoing
                .insert(row.party_name.clone(), row.last_reconciliation_status);
        }
        Ok(rows.iter().map(Into::into).collect())
    }

    fn save_status(&mut self, row: ReconciliationStatus) -> Result<(), String> {
        self.check_write(false)?;
        let row = row.try_into()?;
        self.store.save_status(&row).map_err(describe)?;
        self.note(&row);
        Ok(())
    }

    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        self.store.load_scheduled().map_err(describe)
    }

    fn save_scheduled(&mut self, parties: Vec<String>) -> Result<(), String> {
        self.check_write(true)?;
        self.store.save_scheduled(&parties).map_err(describe)
    }

    fn load_value(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        check_key(&key)?;
        self.store.load_value(&key).map_err(describe)
    }

    fn save_value(&mut self, key: String, value: Option<Vec<u8>>) -> Result<(), String> {
        check_key(&key)?;
        if let Some(value) = &value
            && value.len() > MAX_VALUE_LEN
        {
            return Err(format!(
                "a value of {} bytes under {key:?} is past the {MAX_VALUE_LEN} a plugin may save",
                value.len()
            ));
        }
        self.check_write(false)?;
        self.store
            .save_value(&key, value.as_deref())
            .map_err(describe)
    }
}

/// A value's key: not empty, at most [`MAX_VALUE_KEY_LEN`] bytes.
fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_VALUE_KEY_LEN {
        return Err(format!(
            "a value's key must be 1 to {MAX_VALUE_KEY_LEN} bytes; {:?} is {}",
            bounded(key),
            key.len()
        ));
    }
    Ok(())
}

/// A key cut for an error message.
fn bounded(key: &str) -> String {
    key.chars().take(64).collect()
}
