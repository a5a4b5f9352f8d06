//! Recording what a counterparty sent, verified: the reference
//! [`VerifiedRecorder`] behind the `recording` import. Each transaction's
//! bytes are decoded by the node's ledger adapter, in its own sandbox
//! ([`crate::adapter`]); its id, dependencies and participants are what the
//! adapter derives from the bytes, never what the sender said; and it is
//! recorded only if the derived id is the one asked for and every signer
//! the ledger's rules require signed it with the key the network map pins
//! for that party ([`SignerKeys`]): a counterparty cannot make up a
//! transaction naming anyone but itself. The transactions
//! that verify are recorded in one database transaction, dependencies
//! first; one whose dependencies the vault lacks is held aside
//! ([`crate::store::held`]) and recorded by the call that completes them,
//! so the vault never holds a transaction without its back-chain.

use crate::adapter::{AdapterRuntime, Decoder, Signed};
use crate::capabilities::{RecordOutcome, VerifiedRecorder};
use crate::store::{
    ConflictingTransaction, Database, HeldAside, HeldChanges, NodeStore, VaultTransaction,
};
use anyhow::Result;
use hashbrown::{HashMap, HashSet};
use ledger_sync_vocabulary::TxId;
use ledger_sync_vocabulary::id::to_hex;
use ledger_sync_vocabulary::x500::LegalName;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The ledger adapter's CPU for one `record-verified` call, all its
/// transactions together: well within a plugin's own call deadline (10 s
/// by default), so a slow or hostile adapter ends the call's later
/// transactions refused, naming it, instead of trapping the plugin that
/// asked (5 transactions at the adapter's 10 s each took 51 s, and
/// LedgerRecover trapped).
pub const ADAPTER_BUDGET_PER_CALL: Duration = Duration::from_secs(4);

/// The keys that vouch for parties' ledger signatures, as the network map
/// pins them: legal name → Ed25519 public key.
#[derive(Clone, Debug, Default)]
pub struct SignerKeys(HashMap<String, [u8; 32]>);

impl SignerKeys {
    /// `keys` by legal name (compared as names, not as text); a name that
    /// is not a legal name is left out.
    pub fn new(keys: impl IntoIterator<Item = (String, [u8; 32])>) -> SignerKeys {
        SignerKeys(
            keys.into_iter()
                .filter_map(|(name, key)| Some((LegalName::parse(&name).ok()?.to_string(), key)))
                .collect(),
        )
    }

    /// Whether every signer the ledger's rules require signed `id` with
    /// the key pinned for it; if not, which one did not, and why.
    pub fn check(&self, id: &TxId, signed: &Signed, adapter: &str) -> Result<(), String> {
        let Some(required) = &signed.required_signers else {
            return Err(format!(
                "not recorded: the ledger adapter {adapter} is built for contract 0.4.0 and \
                 reports no signatures, and recovery records only what every required signer \
                 signed; use an adapter built for 0.5.0"
            ));
        };
        if required.is_empty() {
            return Err(
                "not recorded: the ledger's rules require no party's signature on it, so \
                 nothing vouches for it"
                    .to_string(),
            );
        }
        for signer in required {
            let Some(key) = self.0.get(signer) else {
                return Err(format!(
                    "not recorded: {signer} must sign it, and the network map pins no ledger \
                     key for {signer} (its `ledgerKey`)"
                ));
            };
            let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key);
            let by_signer: Vec<&Vec<u8>> = (signed.signatures.iter())
                .filter(|(name, _)| name == signer)
                .map(|(_, signature)| signature)
                .collect();
            if by_signer.is_empty() {
                return Err(format!(
                    "not recorded: it is not signed by {signer}, a required signer (made up, or \
                     its signatures stripped)"
                ));
            }
            if !by_signer.iter().any(|s| key.verify(id, s).is_ok()) {
                return Err(format!(
                    "not recorded: the signature of {signer} does not verify against the ledger \
                     key the network map pins for it (forged, or made with another key)"
                ));
            }
        }
        Ok(())
    }
}

/// Verifies with one ledger adapter and the parties' pinned keys, and
/// records into one database.
pub struct VerifiedRecording {
    decoder: Mutex<Decoder>,
    adapter: String,
    keys: SignerKeys,
    database: Database,
    store: Mutex<Option<Box<dyn NodeStore>>>,
}

impl VerifiedRecording {
    /// Verifies with `adapter` and `keys`, records into `database`
    /// (connected on first use, and again after a failure).
    pub fn new(
        adapter: &Arc<AdapterRuntime>,
        keys: SignerKeys,
        database: Database,
    ) -> VerifiedRecording {
        VerifiedRecording {
            decoder: Mutex::new(adapter.decoder()),
            adapter: adapter.info().name.clone(),
            keys,
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
        let (decoded, signed) = self
            .decoder
            .lock()
            .expect("decoder")
            .decode_signed_within(bytes, limit)
            .map_err(|e| e.to_string())?;
        if decoded.id != asked {
            return Err(format!(
                "the bytes sent for {} are transaction {} by the ledger's rules: forged or \
                 mistaken, not recorded",
                to_hex(&asked),
                to_hex(&decoded.id)
            ));
        }
        self.keys.check(&decoded.id, &signed, &self.adapter)?;
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
                outcomes.push(RecordOutcome::NotVerified(format!(
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
        self.with_store(|store| record_in_back_chain_order(store, verified, &mut outcomes))?;
        Ok(outcomes)
    }
}

/// Records `verified` — transactions that verified, each with its place
/// among `outcomes` — so that the vault never holds one without its
/// dependencies: dependencies first, in one database transaction; what
/// lacks a dependency is held aside ([`crate::store::held`]); what this
/// completes of the held-aside transactions is recorded with it. Sets each
/// one's outcome. Any verifier uses it (the reference one decodes with the
/// node's ledger adapter; the simulation checks against its generated
/// ledger).
pub fn record_in_back_chain_order(
    store: &mut dyn NodeStore,
    verified: Vec<(usize, VaultTransaction)>,
    outcomes: &mut [RecordOutcome],
) -> Result<()> {
    let ids: Vec<u8> = verified.iter().flat_map(|(_, tx)| tx.id).collect();
    let held = store.contains(&ids)?;
    let mut fresh = Vec::with_capacity(verified.len());
    for ((at, tx), held) in verified.into_iter().zip(held) {
        if held {
            outcomes[at] = RecordOutcome::AlreadyHeld;
        } else {
            fresh.push((at, tx));
        }
    }
    let mut plan = Plan::make(store, fresh)?;
    plan.bound_held_aside(outcomes);
    record_all_but_conflicts(store, &mut plan, outcomes)?;
    for (at, _) in &plan.record {
        if let Some(at) = at {
            outcomes[*at] = RecordOutcome::New;
        }
    }
    for (at, held) in plan.hold.iter().zip(&plan.changes.hold) {
        outcomes[*at] = RecordOutcome::HeldAside {
            missing: held.missing.clone(),
        };
    }
    Ok(())
}

/// What one call records and holds aside: the vault never holds a
/// transaction without its dependencies (`recording.wit`, 0.5.0).
struct Plan {
    /// To record, dependencies first: each with its place among the
    /// call's outcomes, or `None` for a held-aside transaction this call
    /// completes.
    record: Vec<(Option<usize>, VaultTransaction)>,
    /// The outcome places of `changes.hold`, in the same order.
    hold: Vec<usize>,
    changes: HeldChanges,
    /// How many transactions CR_HELD_ASIDE held when the plan was made.
    held_before: u64,
    /// Whether the vault holds an id, for every dependency looked up so
    /// far: nothing is recorded while a plan is made, so each is looked up
    /// once however many rounds ask.
    in_vault: HashMap<TxId, bool>,
}

impl Plan {
    /// Orders `fresh` (transactions the vault does not hold) so that each
    /// comes after its dependencies; holds aside those whose dependencies
    /// are neither in the vault nor recordable now; and takes in every
    /// held-aside transaction that what is recorded completes, and those
    /// that they complete in turn.
    fn make(store: &mut dyn NodeStore, fresh: Vec<(usize, VaultTransaction)>) -> Result<Plan> {
        let mut plan = Plan {
            record: Vec::with_capacity(fresh.len()),
            hold: Vec::new(),
            changes: HeldChanges::default(),
            held_before: store.held_aside(0)?.0,
            in_vault: HashMap::new(),
        };
        let mut recordable: HashSet<TxId> = HashSet::new();
        let pending: Vec<(Option<usize>, VaultTransaction)> =
            fresh.into_iter().map(|(at, tx)| (Some(at), tx)).collect();
        let mut pending = plan.admit(store, pending, &mut recordable)?;
        // Held-aside transactions this call completes, round by round: each
        // round looks up what waits on the transactions the last one added.
        let mut looked_up = 0;
        while looked_up < plan.record.len() {
            let newly: Vec<TxId> = (plan.record[looked_up..].iter())
                .map(|(_, tx)| tx.id)
                .collect();
            looked_up = plan.record.len();
            let ours: HashSet<TxId> = pending.iter().map(|(_, tx)| tx.id).collect();
            let waiting: Vec<(Option<usize>, VaultTransaction)> = (store
                .held_waiting_on(&newly)?)
            .into_iter()
            .filter(|h| !recordable.contains(&h.transaction.id))
            .filter(|h| !ours.contains(&h.transaction.id))
            .map(|h| (None, h.transaction))
            .collect();
            let before = plan.record.len();
            // One not completed yet stays held as it is.
            plan.admit(store, waiting, &mut recordable)?;
            let released = plan.record[before..].iter().map(|(_, tx)| tx.id);
            plan.changes.release.extend(released);
            // This call's transactions that wait on one released now.
            pending = plan.admit(store, pending, &mut recordable)?;
        }
        // One of this call's transactions may be held aside already (sent
        // before its dependencies, and again now): it leaves CR_HELD_ASIDE
        // whether it is recorded now or held again (replaced).
        if plan.held_before > 0 {
            let ours = (plan.record.iter())
                .filter(|(at, _)| at.is_some())
                .map(|(_, tx)| tx.id);
            plan.changes.release.extend(ours);
        }
        for (at, tx) in pending {
            // Every dependency of a pending transaction was looked up.
            let missing: Vec<TxId> = (tx.dependencies.iter())
                .filter(|d| !recordable.contains(*d) && plan.in_vault.get(*d) != Some(&true))
                .copied()
                .collect();
            plan.hold
                .push(at.expect("only this call's transactions are pending"));
            plan.changes.hold.push(HeldAside {
                transaction: tx,
                missing,
            });
        }
        Ok(plan)
    }

    /// Moves every transaction of `pending` whose dependencies are all in
    /// the vault or recordable into `record`, in an order that puts
    /// dependencies first; returns the rest.
    fn admit(
        &mut self,
        store: &mut dyn NodeStore,
        mut pending: Vec<(Option<usize>, VaultTransaction)>,
        recordable: &mut HashSet<TxId>,
    ) -> Result<Vec<(Option<usize>, VaultTransaction)>> {
        let mut unknown: Vec<TxId> = (pending.iter())
            .flat_map(|(_, tx)| tx.dependencies.iter().copied())
            .filter(|d| !self.in_vault.contains_key(d))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        let present = store.contains(&unknown.concat())?;
        self.in_vault.extend(unknown.into_iter().zip(present));
        let in_vault = &self.in_vault;
        loop {
            let before = pending.len();
            let mut rest = Vec::with_capacity(pending.len());
            for (at, tx) in pending {
                let ready = (tx.dependencies.iter())
                    .all(|d| in_vault.get(d) == Some(&true) || recordable.contains(d));
                if ready {
                    recordable.insert(tx.id);
                    self.record.push((at, tx));
                } else {
                    rest.push((at, tx));
                }
            }
            pending = rest;
            if pending.len() == before || pending.is_empty() {
                return Ok(pending);
            }
        }
    }

    /// Refuses, saying so, what would take the held-aside transactions
    /// past [`MAX_HELD_ASIDE`].
    fn bound_held_aside(&mut self, outcomes: &mut [RecordOutcome]) {
        if self.changes.hold.is_empty() {
            return;
        }
        let count = self.held_before;
        let room = MAX_HELD_ASIDE.saturating_sub(count) as usize;
        if self.changes.hold.len() <= room {
            return;
        }
        for at in self.hold.drain(room..) {
            outcomes[at] = RecordOutcome::Refused(format!(
                "not recorded: its dependencies are not in the vault, and the node already \
                 holds {count} transactions aside waiting for theirs (the most it holds, \
                 {MAX_HELD_ASIDE}); record their dependencies or drop them \
                 (`ledger-sync vault held`, `vault drop-held`), then ask for it again"
            ));
        }
        self.changes.hold.truncate(room);
    }
}

/// The most transactions a node holds aside (CR_HELD_ASIDE): what a
/// counterparty can make it keep outside the vault is bounded.
pub const MAX_HELD_ASIDE: u64 = 100_000;

/// Records the plan in one database transaction. A transaction the vault
/// holds under its id with other content (ids are immutable) is taken out
/// and refused, naming the difference, and the rest recorded.
fn record_all_but_conflicts(
    store: &mut dyn NodeStore,
    plan: &mut Plan,
    outcomes: &mut [RecordOutcome],
) -> Result<()> {
    loop {
        let batch: Vec<VaultTransaction> = plan.record.iter().map(|(_, tx)| tx.clone()).collect();
        match store.record_holding(&batch, &plan.changes) {
            Ok(_) => return Ok(()),
            Err(e) => {
                let Some(conflict) = e.downcast_ref::<ConflictingTransaction>() else {
                    return Err(e);
                };
                let Some(k) = plan.record.iter().position(|(_, tx)| tx.id == conflict.id) else {
                    return Err(e);
                };
                // A held-aside copy that conflicts with the vault is
                // forgotten (it is in `release`).
                if let (Some(at), _) = plan.record.remove(k) {
                    outcomes[at] = RecordOutcome::Refused(conflict.to_string());
                }
            }
        }
    }
}
