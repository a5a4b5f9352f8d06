//! Recording what a counterparty sent, verified: the reference
//! [`VerifiedRecorder`] behind the `recording` import. Each transaction's
//! bytes are decoded by the node's ledger adapter, in its own sandbox
//! ([`crate::adapter`]); its id, dependencies and participants are what the
//! adapter derives from the bytes, never what the sender said; and it is
//! recorded only if the derived id is the one asked for. The transactions
//! that verify are recorded in one database transaction.

use crate::adapter::{AdapterRuntime, Decoder};
use crate::capabilities::{RecordOutcome, VerifiedRecorder};
use crate::store::{ConflictingTransaction, Database, NodeStore, VaultTransaction};
use anyhow::Result;
use ledger_sync_vocabulary::TxId;
use ledger_sync_vocabulary::id::to_hex;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The ledger adapter's CPU for one `record-verified` call, all its
/// transactions together: well within a plugin's own call deadline (10 s
/// by default), so a slow or hostile adapter ends the call's later
/// transactions refused, naming it, instead of trapping the plugin that
/// asked (5 transactions at the adapter's 10 s each took 51 s, and
/// LedgerRecover trapped).
pub const ADAPTER_BUDGET_PER_CALL: Duration = Duration::from_secs(4);

/// Verifies with one ledger adapter and records into one database.
pub struct VerifiedRecording {
    decoder: Mutex<Decoder>,
    database: Database,
    store: Mutex<Option<Box<dyn NodeStore>>>,
}

impl VerifiedRecording {
    /// Verifies with `adapter`, records into `database` (connected on first
    /// use, and again after a failure).
    pub fn new(adapter: &Arc<AdapterRuntime>, database: Database) -> VerifiedRecording {
        VerifiedRecording {
            decoder: Mutex::new(adapter.decoder()),
            database,
            store: Mutex::new(None),
        }
    }

    /// The transaction in `bytes` if it is the one asked for, decoded
    /// within `limit`.
    fn verify(
        &self,
        asked: &[u8],
        bytes: &[u8],
        limit: Duration,
    ) -> Result<VaultTransaction, String> {
        let asked: TxId = asked
            .try_into()
            .map_err(|_| format!("an id of {} bytes was asked for, not 32", asked.len()))?;
        let decoded = self
            .decoder
            .lock()
            .expect("decoder")
            .decode_within(bytes, limit)
            .map_err(|e| e.to_string())?;
        if decoded.id != asked {
            return Err(format!(
                "the bytes sent for {} are transaction {} by the ledger's rules: forged or \
                 mistaken, not recorded",
                to_hex(&asked),
                to_hex(&decoded.id)
            ));
        }
        Ok(decoded)
    }

    fn with_store<T>(&self, op: impl FnOnce(&mut dyn NodeStore) -> Result<T>) -> Result<T> {
        let mut slot = self.store.lock().expect("store");
        if slot.is_none() {
            *slot = Some(crate::store::connect(&self.database)?);
        }
        let result = op(slot.as_deref_mut().expect("connected above"));
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

impl VerifiedRecorder for VerifiedRecording {
    fn record_verified(&self, transactions: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<RecordOutcome>> {
        let mut outcomes = Vec::with_capacity(transactions.len());
        let mut verified = Vec::new();
        let started = Instant::now();
        for (asked, bytes) in transactions {
            let left = ADAPTER_BUDGET_PER_CALL.saturating_sub(started.elapsed());
            if left.is_zero() {
                outcomes.push(RecordOutcome::Refused(format!(
                    "not verified: the ledger adapter used this call's budget of {} s on the \
                     transactions before it (a slow or faulty adapter); ask for it again in a \
                     smaller batch",
                    ADAPTER_BUDGET_PER_CALL.as_secs()
                )));
                continue;
            }
            match self.verify(asked, bytes, left) {
                Ok(tx) => {
                    verified.push((outcomes.len(), tx));
                    outcomes.push(RecordOutcome::AlreadyHeld);
                }
                Err(why) => outcomes.push(RecordOutcome::Refused(why)),
            }
        }
        self.with_store(|store| {
            let ids: Vec<u8> = verified.iter().flat_map(|(_, tx)| tx.id).collect();
            let held = store.contains(&ids)?;
            let mut fresh: Vec<(usize, VaultTransaction)> = (verified.into_iter().zip(held))
                .filter(|(_, held)| !held)
                .map(|(tx, _)| tx)
                .collect();
            record_all_but_conflicts(store, &mut fresh, &mut outcomes)?;
            for (at, tx) in &fresh {
                let present = store.contains(&tx.dependencies.concat())?;
                let missing = (tx.dependencies.iter().zip(present))
                    .filter(|(_, present)| !present)
                    .map(|(d, _)| *d)
                    .collect();
                outcomes[*at] = RecordOutcome::New { missing };
            }
            Ok(())
        })?;
        Ok(outcomes)
    }
}

/// Records `fresh` in one database transaction. A transaction the vault
/// holds under its id with other content (ids are immutable) is taken out
/// and refused, naming the difference, and the rest recorded.
fn record_all_but_conflicts(
    store: &mut dyn NodeStore,
    fresh: &mut Vec<(usize, VaultTransaction)>,
    outcomes: &mut [RecordOutcome],
) -> Result<()> {
    loop {
        let batch: Vec<VaultTransaction> = fresh.iter().map(|(_, tx)| tx.clone()).collect();
        match store.record(&batch) {
            Ok(_) => return Ok(()),
            Err(e) => {
                let Some(conflict) = e.downcast_ref::<ConflictingTransaction>() else {
                    return Err(e);
                };
                let Some(k) = fresh.iter().position(|(_, tx)| tx.id == conflict.id) else {
                    return Err(e);
                };
                let (at, _) = fresh.remove(k);
                outcomes[at] = RecordOutcome::Refused(conflict.to_string());
            }
        }
    }
}
