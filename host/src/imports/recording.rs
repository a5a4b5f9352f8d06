//! The `recording` import: transactions a counterparty sent, verified by
//! the node's ledger adapter and recorded, for a plugin granted `record`
//! ([`crate::capabilities::Grants`]).

use crate::bindings::ledger_sync::plugin::recording::{self, Recorded};
use crate::capabilities::{GRANT_RECORD, RecordOutcome, VerifiedRecorder, not_granted};
use std::sync::Arc;

/// The most transactions one call may carry.
pub const MAX_PER_CALL: usize = 1_000;

/// The `recording` import's state.
pub struct RecordingImport {
    plugin: String,
    recorder: Option<Arc<dyn VerifiedRecorder>>,
}

impl RecordingImport {
    /// `recorder` is `None` when the plugin is not granted `record`.
    pub fn new(plugin: &str, recorder: Option<Arc<dyn VerifiedRecorder>>) -> Self {
        RecordingImport {
            plugin: plugin.to_string(),
            recorder,
        }
    }
}

impl recording::Host for RecordingImport {
    fn record_verified(
        &mut self,
        transactions: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<Recorded>, String> {
        let recorder = self
            .recorder
            .as_ref()
            .ok_or_else(|| not_granted(&self.plugin, GRANT_RECORD))?;
        if transactions.len() > MAX_PER_CALL {
            return Err(format!(
                "{} transactions in one call; record-verified takes at most {MAX_PER_CALL}",
                transactions.len()
            ));
        }
        let outcomes = recorder
            .record_verified(&transactions)
            .map_err(|e| format!("{e:#}"))?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| match outcome {
                RecordOutcome::New => Recorded::New,
                RecordOutcome::AlreadyHeld => Recorded::AlreadyHeld,
                RecordOutcome::HeldAside { missing } => Recorded::HeldAside(missing.concat()),
                RecordOutcome::NotVerified(why) => Recorded::NotVerified(why),
                RecordOutcome::Refused(why) => Recorded::Refused(why),
            })
            .collect())
    }
}
