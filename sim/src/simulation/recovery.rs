//! Recovery as the simulation's last step. Once the reconciliations have
//! settled and been checked, the restored party (party 0) runs
//! LedgerRecover — the real component, on a network of its own over the
//! same node databases and a virtual clock — against every counterparty
//! its last reconciliation found DIFFERENCES_FOUND with, then reconciles
//! with them again. The invariant: every recovery COMPLETED, every second
//! reconciliation DIFFERENCES_NOT_FOUND, and the restored vault is exactly
//! what it held plus what those counterparties could supply (the oracle's
//! sets, computed from the generated ledger).
//!
//! Two stand-ins, both held to the oracle: the `reconciliation` grant reads
//! the stored status rows and answers `shared-with` from the oracle's set
//! over the node's vault; the `record` grant checks each transaction's bytes
//! against the generated ledger's (the simulation's "ledger adapter").
//! The real adapter and the real `shared-with` are tested in
//! `tests/tests/recovery_capabilities.rs`.

use super::scenario::{Run, Scenario};
use super::{SeedReport, invariants::expected_missing};
use crate::ledger::reconciliation_set;
use crate::network::Network;
use anyhow::Result;
use ledger_sync_host::capabilities::{
    Grants, ReconciliationResults, RecordOutcome, RecoveryStore, StatusStore, VerifiedRecorder,
};
use ledger_sync_host::store::Database;
use ledger_sync_host::store::shared::{DatabaseRecoveryStore, DatabaseStatusStore, DatabaseVault};
use ledger_sync_host::store::vault::VaultTransaction;
use ledger_sync_host::verified::record_in_back_chain_order;
use ledger_sync_host::{NodeOptions, PluginRuntime, Storage};
use ledger_sync_vocabulary::recovery::RecoveryStatus;
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus, StatusValue, TxId};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A transaction's bytes in the simulation's ledger: its id, then its
/// dependencies and each output's participants, length-prefixed.
pub(super) fn sim_bytes(tx: &VaultTransaction) -> Vec<u8> {
    let mut out = tx.id.to_vec();
    out.extend_from_slice(&(tx.dependencies.len() as u32).to_le_bytes());
    for d in &tx.dependencies {
        out.extend_from_slice(d);
    }
    for output in &tx.outputs {
        out.extend_from_slice(&(output.len() as u32).to_le_bytes());
        for name in output {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        }
    }
    out
}

/// The recovery component, compiled once for every seed and thread.
fn runtime() -> Result<Arc<PluginRuntime>> {
    static RUNTIME: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime.clone());
    }
    let runtime = PluginRuntime::new(ledger_sync_components::RECOVERY_PLUGIN_BYTES)?;
    Ok(RUNTIME.get_or_init(|| runtime).clone())
}

/// The `reconciliation` grant, from the stored rows and the oracle.
struct Oracle {
    database: Database,
}

impl Oracle {
    fn vault(&self) -> Result<Vec<VaultTransaction>, FlowError> {
        let storage = |e: anyhow::Error| FlowError::Storage(format!("{e:#}"));
        let mut store = ledger_sync_host::store::connect(&self.database).map_err(storage)?;
        let (records, _) = store.read_records(0, u32::MAX).map_err(storage)?;
        Ok(records)
    }
}

impl ReconciliationResults for Oracle {
    fn statuses(&self) -> Result<Vec<ReconciliationStatus>, FlowError> {
        DatabaseStatusStore::open(&self.database)
            .and_then(|store| store.load_statuses())
            .map_err(|e| FlowError::Storage(format!("{e:#}")))
    }
    fn schedule(&self, _: &[String]) -> Result<(), FlowError> {
        Ok(())
    }
    fn refresh(&self) -> Result<(), FlowError> {
        Ok(())
    }
    fn shared_with(&self, party: &str, ids: &[u8]) -> Result<Vec<bool>, FlowError> {
        let set = reconciliation_set(&self.vault()?, party);
        Ok(ids
            .chunks_exact(32)
            .map(|id| set.contains(&<TxId>::try_from(id).expect("32 bytes")))
            .collect())
    }
}

/// The `record` grant: bytes must be the generated ledger's for the id.
struct Truth {
    database: Database,
    ledger: Arc<HashMap<TxId, VaultTransaction>>,
}

impl VerifiedRecorder for Truth {
    fn record_verified(&self, txs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<RecordOutcome>> {
        let mut store = ledger_sync_host::store::connect(&self.database)?;
        let mut outcomes = Vec::new();
        let mut verified = Vec::new();
        for (asked, bytes) in txs {
            let truth = <TxId>::try_from(asked.as_slice())
                .ok()
                .and_then(|id| self.ledger.get(&id));
            let Some(tx) = truth.filter(|tx| sim_bytes(tx) == *bytes) else {
                outcomes.push(RecordOutcome::Refused("not the ledger's bytes".into()));
                continue;
            };
            let mut recorded = tx.clone();
            recorded.payload = Some(bytes.clone());
            verified.push((outcomes.len(), recorded));
            outcomes.push(RecordOutcome::AlreadyHeld);
        }
        record_in_back_chain_order(store.as_mut(), verified, &mut outcomes)?;
        Ok(outcomes)
    }
}

/// Runs the recovery step and checks its invariant.
pub(super) fn recovery_step(
    run: &mut Run,
    scenario: &Scenario,
    dir: &Path,
    report: &mut SeedReport,
) -> Result<()> {
    let requester = &scenario.parties[0];
    let node_db = |i: usize| Database::Sqlite(dir.join(format!("node-{i}.db")));
    let found: Vec<String> = DatabaseStatusStore::open(&node_db(0))?
        .load_statuses()?
        .into_iter()
        .filter(|r| r.is_requester && scenario.vaults.contains_key(&r.party_name))
        .filter(|r| r.last_successful_reconciliation_status == Some(StatusValue::DifferencesFound))
        .map(|r| r.party_name)
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    let ledger: Arc<HashMap<TxId, VaultTransaction>> = Arc::new(
        scenario
            .vaults
            .values()
            .flatten()
            .map(|t| (t.id, t.clone()))
            .collect(),
    );
    let mut net = Network::new(runtime()?);
    for (i, p) in scenario.parties.iter().enumerate() {
        let own = Database::Sqlite(dir.join(format!("recovery-{i}.db")));
        let mut options = NodeOptions::new(
            p,
            Storage::Provided {
                vault: Arc::new(DatabaseVault::new(node_db(i))),
                statuses: Arc::new(DatabaseStatusStore::open(&own)?),
            },
        );
        options.config = "maxAllowedTransactions = 100\nmaxAllowedRequests = 1000\n".into();
        options.grants = Grants {
            vault: true,
            reconciliation: Some(Arc::new(Oracle {
                database: node_db(i),
            })),
            record: Some(Arc::new(Truth {
                database: node_db(i),
                ledger: ledger.clone(),
            })),
            recovery: Some(Arc::new(DatabaseRecoveryStore::open(&own)?)),
        };
        net.add_node(options)?;
    }
    for party in &found {
        let arguments = [("party".to_string(), party.clone())];
        if let Err(e) = net
            .node(requester)
            .run_flow("AutomaticRecoveryFlow", &arguments)?
        {
            report.violation(format!("RECOVERY REFUSED at {requester} from {party}: {e}"));
        }
    }
    net.run_until_idle();
    check_recovered(run, scenario, &found, dir, report)
}

fn check_recovered(
    run: &mut Run,
    scenario: &Scenario,
    found: &[String],
    dir: &Path,
    report: &mut SeedReport,
) -> Result<()> {
    let requester = &scenario.parties[0];
    let own = Database::Sqlite(dir.join("recovery-0.db"));
    for row in DatabaseRecoveryStore::open(&own)?.load_requests(1_000)? {
        if row.is_requester && row.status != RecoveryStatus::Completed {
            report.violation(format!(
                "RECOVERY {} from {}: {} ({})",
                row.request_id, row.party_name, row.status, row.error
            ));
        }
    }
    // The second reconciliations.
    if let Err(e) = run.net.node(requester).schedule_reconciliation(found)? {
        report.violation(format!("SECOND RECONCILIATION REFUSED at {requester}: {e}"));
        return Ok(());
    }
    run.net.run_for(run.max_timeout * 4);
    for party in found {
        let row = run
            .net
            .node(requester)
            .get_reconciliation_status_for_party(party, true)?;
        let status = row.ok().flatten().map(|r| r.last_reconciliation_status);
        if status != Some(StatusValue::DifferencesNotFound) {
            report.violation(format!(
                "AFTER RECOVERY {requester} with {party}: {status:?}, not DIFFERENCES_NOT_FOUND"
            ));
        }
    }
    let mut want: BTreeSet<TxId> = scenario.held[requester].iter().copied().collect();
    for party in found {
        want.extend(expected_missing(
            requester,
            party,
            &scenario.held,
            &scenario.vaults,
        ));
    }
    let have: BTreeSet<TxId> =
        ledger_sync_host::store::connect(&Database::Sqlite(dir.join("node-0.db")))?
            .all_ids()?
            .into_iter()
            .collect();
    if have != want {
        let extra: HashSet<_> = have.difference(&want).collect();
        report.violation(format!(
            "RESTORED VAULT of {requester}: {} ids, the oracle says {} ({} not supplyable)",
            have.len(),
            want.len(),
            extra.len()
        ));
    }
    report.recoveries_checked += found.len() as u64;
    Ok(())
}
