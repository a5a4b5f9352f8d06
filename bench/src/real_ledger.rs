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
//!
//! The routine checks ([`RealLedger::run_routine`]) measure what a node that has
//! reconciled with B before pays: A and B reconciled when the ledger stood
//! `since` transactions ago, both recorded what came since, A lost the
//! last `d` of its own, and A checks again (from B's set as last
//! reconciled, with B's cursor).

use crate::multi_party::{Reconciled, catch_up, network, reconcile};
use anyhow::{Context, Result, ensure};
use hashbrown::HashSet;
use ledger_sync_host::store::Database;
use ledger_sync_host::store::vault::VaultTransaction;
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

/// The bootstrap ledger between PartyA and PartyB, generated once for
/// both families of rows: the whole ledger, each party's vault, and B's set
/// for A (what A can find).
pub struct RealLedger {
    n: u64,
    seed: u64,
    names: [String; 2],
    ledger: ledger_sync_ledgers::Ledger,
    vaults: [Vec<VaultTransaction>; 2],
    b_set: HashSet<TxId>,
}

/// The target for what a reconciliation that found `found` ids
/// may cost: 1.3 × 32 B per id + 1 KiB, or 100 B when it found nothing;
/// `bytes` as a ratio of it.
fn target_ratio(bytes: u64, found: usize) -> f64 {
    let target = if found == 0 {
        100.0
    } else {
        1.3 * 32.0 * found as f64 + 1024.0
    };
    bytes as f64 / target
}

impl RealLedger {
    /// The ledger of `n` transactions drawn from `seed`.
    pub fn new(n: u64, seed: u64) -> Self {
        let names = [
            "O=PartyA, L=London, C=GB".to_string(),
            "O=PartyB, L=New York, C=US".to_string(),
        ];
        let ledger = two_party_ledger_between(&names[0], &names[1], n as usize, seed);
        let vaults = [ledger.vault_of(&names[0]), ledger.vault_of(&names[1])];
        let b_set = reconciliation_set(&vaults[1], &names[0]);
        RealLedger {
            n,
            seed,
            names,
            ledger,
            vaults,
            b_set,
        }
    }

    /// The ids of `lost` in B's set for A: what A must find.
    fn findable(&self, lost: &[VaultTransaction]) -> HashSet<TxId> {
        lost.iter()
            .map(|t| t.id)
            .filter(|id| self.b_set.contains(id))
            .collect()
    }

    /// A restored without the last `d` transactions of its vault, once per
    /// `d`.
    pub fn run(
        &self,
        ds: &[u64],
        dir: &Path,
        mut emit: impl FnMut(&RealLedgerRow),
    ) -> Result<Vec<RealLedgerRow>> {
        let (n, seed, names) = (self.n, self.seed, &self.names);
        let mut rows = Vec::new();
        for &d in ds {
            let full = &self.vaults[0];
            ensure!(
                d as usize <= full.len(),
                "d = {d} is more than A's {} transactions",
                full.len()
            );
            let (backup, lost) = full.split_at(full.len() - d as usize);
            let expected = self.findable(lost);
            let run_dir = dir.join(format!("real-{n}-{seed}-{d}"));
            let mut net = network(&run_dir, names, &self.vaults, backup, seed)?;
            let Reconciled { found, wall_s, .. } =
                reconcile(&mut net, &names[0], &names[1], d, &expected)?;
            let traffic = net.traffic();
            let row = RealLedgerRow {
                n,
                a_holds: full.len() as u64,
                b_holds: self.vaults[1].len() as u64,
                d,
                found: found.len() as u64,
                bytes: traffic.bytes,
                messages: traffic.messages,
                target_ratio: target_ratio(traffic.bytes, found.len()),
                wall_s,
            };
            drop(net);
            let _ = std::fs::remove_dir_all(&run_dir);
            emit(&row);
            rows.push(row);
        }
        Ok(rows)
    }
}

/// A routine check on the real ledger — a recurring reconciliation (`case`
/// "real-routine" in JSON; the pair profile's are `recurring` rows): A and B reconciled once when the ledger
/// stood `since` transactions ago; both have recorded those since, but A
/// lost the last `d` of its own. The check starts from B's set as last
/// reconciled, with B's cursor and the digest of that set (a stream of
/// B's changes, protocol 7). `restored`: the seed's disaster instead — A
/// restarts from its database as it stood after that reconciliation (a
/// backup), so it lost all of its own since, and starts from the set it
/// kept beside its status rows.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "case", rename = "real-routine")]
pub struct RoutineRow {
    /// Transactions in the whole ledger now.
    pub n: u64,
    /// Ledger transactions since the last reconciliation.
    pub since: u64,
    /// Of A's transactions since, how many it lost.
    pub d: u64,
    /// A restarted from a backup taken after the last reconciliation.
    pub restored: bool,
    /// Of those, the ids B's set for A holds: what must be found.
    pub found: u64,
    /// Bytes both ways, and messages, of the routine check.
    pub bytes: u64,
    pub messages: u64,
    /// The first reconciliation's bytes, when the ledger stood `since`
    /// transactions ago (with nothing lost): what every check cost before.
    pub first_bytes: u64,
    /// bytes / (1.3 × 32 × found + 1 KiB); for found = 0, bytes / 100.
    pub target_ratio: f64,
    /// The routine check's wall time on the simulated network.
    pub wall_s: f64,
    /// Each side's time in its plugin's calls during the check (its CPU;
    /// the requester's node restarted first for `restored`).
    pub requester_cpu_s: f64,
    pub responder_cpu_s: f64,
    /// What keeping up costs, per transaction recorded since: both nodes'
    /// ledger graphs catching up with their vaults before the check (an
    /// empty `shared-with`), over the transactions they recorded; `None`
    /// when they recorded none.
    pub maintenance_us_per_tx: Option<f64>,
}

impl RoutineRow {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row serialises")
    }

    pub fn to_table_line(&self) -> String {
        format!(
            "routine since={:<6} d={:<5}{} found {:<5} {:>8} B in {:>3} messages = {:.2} × \
             the target (a first reconciliation: {} B); {:.3} s; CPU requester {:.4} s, \
             responder {:.4} s; keeping up {}",
            self.since,
            self.d,
            if self.restored { " (restored)" } else { "" },
            self.found,
            self.bytes,
            self.messages,
            self.target_ratio,
            self.first_bytes,
            self.wall_s,
            self.requester_cpu_s,
            self.responder_cpu_s,
            self.maintenance_us_per_tx
                .map_or("-".into(), |us| format!("{us:.2} µs/tx"))
        )
    }
}

/// The ledger `ledger` as it stood after its first `k` transactions.
fn prefix(ledger: &ledger_sync_ledgers::Ledger, k: usize) -> ledger_sync_ledgers::Ledger {
    let mut then = ledger_sync_ledgers::Ledger::default();
    for tx in ledger.transactions.iter().take(k) {
        then.push(tx.clone());
    }
    then
}

/// One routine check of [`RealLedger::run_routine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A and B reconciled `since` ledger transactions ago; A lost the last
    /// `d` of its own since.
    Lost { since: u64, d: u64 },
    /// A and B reconciled `since` ledger transactions ago; A was then
    /// restored from a backup of that time.
    Restored { since: u64 },
}

impl Check {
    /// Ledger transactions since the last reconciliation.
    pub fn since(&self) -> u64 {
        match *self {
            Check::Lost { since, .. } | Check::Restored { since } => since,
        }
    }
}

impl RealLedger {
    /// A routine check for each of `checks`.
    pub fn run_routine(
        &self,
        checks: &[Check],
        dir: &Path,
        mut emit: impl FnMut(&RoutineRow),
    ) -> Result<Vec<RoutineRow>> {
        let (n, seed, names) = (self.n, self.seed, &self.names);
        let mut rows = Vec::new();
        for &check in checks {
            let (since, restored) = match check {
                Check::Lost { since, .. } => (since, false),
                Check::Restored { since } => (since, true),
            };
            ensure!(
                since < n,
                "a routine check since {since} transactions needs a ledger of more than {since} \
                 (--n {n})"
            );
            let then_ledger = prefix(&self.ledger, (n - since) as usize);
            let then = [
                then_ledger.vault_of(&names[0]),
                then_ledger.vault_of(&names[1]),
            ];
            let new = |k: usize| -> Vec<VaultTransaction> {
                let had: HashSet<TxId> = then[k].iter().map(|t| t.id).collect();
                self.vaults[k]
                    .iter()
                    .filter(|t| !had.contains(&t.id))
                    .cloned()
                    .collect()
            };
            let (a_new, b_new) = (new(0), new(1));
            let d = match check {
                Check::Lost { d, .. } => d,
                Check::Restored { .. } => a_new.len() as u64,
            };
            ensure!(
                d as usize <= a_new.len(),
                "d = {d} is more than A's {} transactions since",
                a_new.len()
            );
            let (a_kept, a_lost) = a_new.split_at(a_new.len() - d as usize);
            let expected = self.findable(a_lost);
            let run_dir = dir.join(format!("routine-{n}-{seed}-{since}-{d}"));
            let mut net = network(&run_dir, names, &then, &then[0], seed)?;
            reconcile(&mut net, &names[0], &names[1], 0, &HashSet::new())?;
            let first_bytes = net.traffic().bytes;
            if restored {
                // A's database is what it was after the reconciliation: the
                // node restarts from it, as from a backup.
                net.crash_node(&names[0]);
                net.restart_node(&names[0], None)?;
                net.run_until_idle();
            }
            let mut keeping_up = std::time::Duration::ZERO;
            for (k, txs) in [(0, a_kept), (1, &b_new[..])] {
                let database = Database::Sqlite(run_dir.join(format!("party{k}.db")));
                ledger_sync_host::store::connect(&database)?
                    .record(txs)
                    .with_context(|| format!("recording what {} holds since", names[k]))?;
                keeping_up += catch_up(&mut net, &names[k], &names[1 - k])?;
            }
            let recorded = a_kept.len() + b_new.len();
            let Reconciled {
                found,
                wall_s,
                requester_cpu_s,
                responder_cpu_s,
            } = reconcile(&mut net, &names[0], &names[1], d, &expected)?;
            let traffic = net.traffic();
            let row = RoutineRow {
                n,
                since,
                d,
                restored,
                found: found.len() as u64,
                bytes: traffic.bytes,
                messages: traffic.messages,
                first_bytes,
                target_ratio: target_ratio(traffic.bytes, found.len()),
                wall_s,
                requester_cpu_s,
                responder_cpu_s,
                maintenance_us_per_tx: (recorded > 0)
                    .then(|| keeping_up.as_secs_f64() * 1e6 / recorded as f64),
            };
            drop(net);
            let _ = std::fs::remove_dir_all(&run_dir);
            emit(&row);
            rows.push(row);
        }
        Ok(rows)
    }
}
