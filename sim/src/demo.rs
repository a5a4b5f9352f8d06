//! The seed's example disaster-recovery workflow, end to end.
//!
//! Parties A and B and a notary. A and B share a ledger of `transactions`
//! transactions with back-chains; A's node is restored from a backup that
//! lacks its last `lost` recorded transactions. A schedules a reconciliation
//! with B, polls its status until it is done, and the result is checked
//! against what A really lost that B can supply, computed independently from
//! the generated ledger: the lost transactions in B's vault that involve A,
//! with their back-chains (which include self-issuances of A's that reached B
//! in a back-chain). A's self-issuances that never reached B cannot be
//! recovered from B and are rightly not reported.

use crate::ledger::{NOTARY, PARTY_A, PARTY_B, reconciliation_set, two_party_ledger};
use crate::network::{Network, Traffic};
use anyhow::{Context, Result, bail};
use hashbrown::HashSet;
use ledger_sync_host::NodeOptions;
use ledger_sync_host::store::vault::{Vault, VaultTransaction};
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue, TxId};
use std::path::PathBuf;

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub transactions: usize,
    pub lost: usize,
    pub seed: u64,
    /// Plugin configuration text for every node.
    pub config: String,
    pub max_message_size: u32,
    /// Where the nodes' databases go.
    pub dir: PathBuf,
}

/// What happened.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// A's status for B, as GetReconciliationStatusForParty returns it.
    pub status: ReconciliationStatus,
    /// The lost transactions B can supply (in B's set for A), sorted.
    pub expected: Vec<TxId>,
    /// The ids the reconciliation reported missing, sorted.
    pub found: Vec<TxId>,
    /// A's vault before the disaster and after the restore.
    pub vault_before: usize,
    pub vault_after: usize,
    pub traffic: Traffic,
}

impl DemoReport {
    /// True when the reconciliation found exactly what A lost and B holds.
    pub fn matches(&self) -> bool {
        self.expected == self.found
    }
}

fn db_with(dir: &std::path::Path, file: &str, txs: &[VaultTransaction]) -> Result<PathBuf> {
    let path = dir.join(file);
    let conn = ledger_sync_host::store::open(&path)?;
    Vault::new(&conn).record(txs)?;
    Ok(path)
}

/// Runs the workflow.
pub fn run(options: &DemoOptions) -> Result<DemoReport> {
    let ledger = two_party_ledger(options.transactions, options.seed);
    let a_vault = ledger.vault_of(PARTY_A);
    let b_vault = ledger.vault_of(PARTY_B);
    let lost_count = options.lost.min(a_vault.len());
    let (restored, lost) = a_vault.split_at(a_vault.len() - lost_count);
    let b_ids: HashSet<TxId> = reconciliation_set(&b_vault, PARTY_A);
    let mut expected: Vec<TxId> = lost
        .iter()
        .map(|t| t.id)
        .filter(|id| b_ids.contains(id))
        .collect();
    expected.sort_unstable();

    let runtime = crate::builtin_plugin()?;
    let mut net = Network::new(runtime);
    for (name, file, txs, seed) in [
        (PARTY_A, "party-a.db", restored, 1),
        (PARTY_B, "party-b.db", &b_vault[..], 2),
        (NOTARY, "notary.db", &[][..], 3),
    ] {
        let path = db_with(&options.dir, file, txs)?;
        let mut node = NodeOptions::new(name, path);
        node.config = options.config.clone();
        node.max_message_size = options.max_message_size;
        node.seed = Some(options.seed.wrapping_mul(31).wrapping_add(seed));
        net.add_node(node)?;
    }
    // Every node builds its ledger graph from its vault.
    net.run_until_idle();
    net.reset_traffic();

    // Step 1: A schedules a reconciliation with B.
    if let Err(e) = net
        .node(PARTY_A)
        .schedule_reconciliation(&[PARTY_B.to_string()])?
    {
        bail!("ScheduleReconciliationFlow failed: {e}");
    }
    // Step 2: A polls the status until the reconciliation is done.
    let status = loop {
        let mut progressed = false;
        for _ in 0..16 {
            progressed = net.step_until(u64::MAX);
            if !progressed {
                break;
            }
        }
        let status = net
            .node(PARTY_A)
            .get_reconciliation_status_for_party(PARTY_B, true)?
            .map_err(|e| anyhow::anyhow!("GetReconciliationStatusForPartyFlow failed: {e}"))?;
        match status {
            Some(s) if s.last_reconciliation_status != StatusValue::InProgress => {
                break s;
            }
            _ if !progressed => bail!("the network went idle with the reconciliation unfinished"),
            _ => {}
        }
    };
    let mut found = status.last_successful_reconciliation_result.clone();
    found.sort_unstable();
    let vault_after = ledger_sync_host::store::connect(
        net.node(PARTY_A)
            .database()
            .expect("the simulation keeps each vault in a database"),
    )?
    .count()
    .context("counting A's vault")? as usize;
    Ok(DemoReport {
        status,
        expected,
        found,
        vault_before: a_vault.len(),
        vault_after,
        traffic: net.traffic().clone(),
    })
}
