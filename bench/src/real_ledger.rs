//! The real-ledger profile: the ledger `network bootstrap` and `demo`
//! generate ([`ledger_sync_ledgers::two_party_ledger_between`]), the seed's
//! disaster scenario. A and B transact with each other and each also deals
//! alone, so B's set for A holds A's own transactions that reached B only
//! as back-chains: the two sides' sets differ even when nothing was lost,
//! which is what the pair profile never shows.
//!
//! A is restored from a backup that lacks the last `d` transactions of its
//! vault and reconciles with B, once per `d`; the result must be exactly
//! what the seed's set definition finds (B's set for A, less A's backup).
//! Reported beside the target: bytes both ways against
//! 1.3 × 32·found + 1 KiB, and for `d` = 0 against 100 B.

use crate::multi_party::{network, reconcile};
use anyhow::{Result, ensure};
use hashbrown::HashSet;
use ledger_sync_ledgers::{reconciliation_set, two_party_ledger_between};
use ledger_sync_vocabulary::TxId;
use std::path::Path;

/// What one reconciliation on the real ledger measured (`case` "real" in
/// JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "case", rename = "real")]
pub struct RealLedgerRow {
    /// Transactions in the whole ledger.
    pub n: u64,
    /// Transactions in A's and B's vaults.
    pub a_holds: u64,
    pub b_holds: u64,
    /// Transactions A's backup lacks.
    pub d: u64,
    /// Of those, the ids B's set for A holds: what must be found.
    pub found: u64,
    /// Bytes both ways, and messages.
    pub bytes: u64,
    pub messages: u64,
    /// bytes / (1.3 × 32 × found + 1 KiB); for d = 0, bytes / 100: the
    /// issue's targets are ≤ 1.
    pub target_ratio: f64,
    /// One reconciliation's wall time on the simulated network.
    pub wall_s: f64,
}

impl RealLedgerRow {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row serialises")
    }

    pub fn to_table_line(&self) -> String {
        format!(
            "real d={:<6} found {:<6} {:>9} B in {:>4} messages = {:.2} × the target; {:.3} s",
            self.d, self.found, self.bytes, self.messages, self.target_ratio, self.wall_s
        )
    }
}

/// Runs the profile at each `d` on a ledger of `n` transactions drawn from
/// `seed`.
pub fn run(
    n: u64,
    ds: &[u64],
    seed: u64,
    dir: &Path,
    mut emit: impl FnMut(&RealLedgerRow),
) -> Result<Vec<RealLedgerRow>> {
    let names = [
        "O=PartyA, L=London, C=GB".to_string(),
        "O=PartyB, L=New York, C=US".to_string(),
    ];
    let ledger = two_party_ledger_between(&names[0], &names[1], n as usize, seed);
    let vaults = [ledger.vault_of(&names[0]), ledger.vault_of(&names[1])];
    let b_set = reconciliation_set(&vaults[1], &names[0]);
    let mut rows = Vec::new();
    for &d in ds {
        let full = &vaults[0];
        ensure!(
            d as usize <= full.len(),
            "d = {d} is more than A's {} transactions",
            full.len()
        );
        let backup = &full[..full.len() - d as usize];
        let expected: HashSet<TxId> = full[backup.len()..]
            .iter()
            .map(|t| t.id)
            .filter(|id| b_set.contains(id))
            .collect();
        let run_dir = dir.join(format!("real-{n}-{seed}-{d}"));
        let mut net = network(&run_dir, &names, &vaults, backup, seed)?;
        let (found, wall_s) = reconcile(&mut net, &names[0], &names[1], d, &expected)?;
        let traffic = net.traffic();
        let target = if found.is_empty() {
            100.0
        } else {
            1.3 * 32.0 * found.len() as f64 + 1024.0
        };
        let row = RealLedgerRow {
            n,
            a_holds: full.len() as u64,
            b_holds: vaults[1].len() as u64,
            d,
            found: found.len() as u64,
            bytes: traffic.bytes,
            messages: traffic.messages,
            target_ratio: traffic.bytes as f64 / target,
            wall_s,
        };
        drop(net);
        let _ = std::fs::remove_dir_all(&run_dir);
        emit(&row);
        rows.push(row);
    }
    Ok(rows)
}
