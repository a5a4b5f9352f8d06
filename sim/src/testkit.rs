//! The integration tests' kit: a [`Cluster`] of nodes running the real
//! plugin component on one simulated network, and ledger helpers.

use crate::network::Network;
use ledger_sync_host::NodeOptions;
use ledger_sync_host::store::vault::{Vault, VaultTransaction};
use ledger_sync_vocabulary::{ReconciliationStatus, TxId};
use rusqlite::Connection;

pub use ledger_sync_vocabulary::StatusValue as Status;

pub const A: &str = "O=PartyA, L=London, C=GB";
pub const B: &str = "O=PartyB, L=New York, C=US";
pub const C: &str = "O=PartyC, L=Paris, C=FR";
pub const D: &str = "O=PartyD, L=Zurich, C=CH";
pub const E: &str = "O=PartyE, L=Tokyo, C=JP";

/// Several nodes on one virtual clock, each with its own database in a
/// temporary directory.
pub struct Cluster {
    pub net: Network,
    dir: tempfile::TempDir,
    seed: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    pub fn new() -> Self {
        Cluster {
            net: Network::new(crate::builtin_plugin().expect("the plugin component compiles")),
            dir: tempfile::tempdir().expect("a temporary directory"),
            seed: 0,
        }
    }

    /// Options for a node whose vault holds `vault`, recorded in order.
    pub fn options(&mut self, name: &str, vault: &[VaultTransaction]) -> NodeOptions {
        self.seed += 1;
        let path = self.dir.path().join(format!("node-{}.db", self.seed));
        let conn = ledger_sync_host::store::open(&path).expect("open the node database");
        Vault::new(&conn).record(vault).expect("record the vault");
        let mut options = NodeOptions::new(name, path);
        options.seed = Some(self.seed);
        options.capture_logs = true;
        options
    }

    /// Adds a node whose vault holds `vault` and whose plugin configuration
    /// is `config` (`key = value` lines).
    pub fn add_with(&mut self, name: &str, vault: &[VaultTransaction], config: &str) -> &mut Self {
        let mut options = self.options(name, vault);
        options.config = config.to_string();
        self.net.add_node(options).expect("the node starts");
        self
    }

    /// A scratch directory that lives as long as the cluster.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `node` schedules reconciliations with `parties`; the flow must accept.
    pub fn schedule(&mut self, node: &str, parties: &[&str]) {
        let parties: Vec<String> = parties.iter().map(|p| p.to_string()).collect();
        self.net
            .node(node)
            .schedule_reconciliation(&parties)
            .expect("no trap")
            .expect("ScheduleReconciliation accepted");
    }

    /// Steps the network until `done` holds; panics if it never does.
    pub fn step_until(&mut self, mut done: impl FnMut(&mut Network) -> bool) {
        let horizon = self.net.now_ms() + 24 * 3_600_000;
        while !done(&mut self.net) {
            assert!(
                self.net.step_until(horizon),
                "the network went idle before the condition held"
            );
        }
    }

    /// Steps the network until `responder` is answering a reconciliation
    /// from `requester`.
    pub fn step_until_responding(&mut self, responder: &str, requester: &str) {
        self.step_until(|net| {
            net.node(responder)
                .is_responding_to_reconciliation_for_party(requester)
                .expect("no trap")
                .expect("the flow succeeds")
        });
    }

    /// A connection to a running node's database (vault and plugin tables).
    pub fn db(&mut self, node: &str) -> Connection {
        ledger_sync_host::store::open(self.net.node(node).db_path())
            .expect("open the node database")
    }

    /// Records more transactions in a running node's vault, as if they had
    /// just arrived.
    pub fn record(&mut self, node: &str, txs: &[VaultTransaction]) {
        Vault::new(&self.db(node))
            .record(txs)
            .expect("record in the vault");
    }

    /// Adds a node with default options whose vault holds `vault`.
    pub fn add(&mut self, name: &str, vault: &[VaultTransaction]) -> &mut Self {
        let options = self.options(name, vault);
        self.net.add_node(options).expect("the node starts");
        self
    }

    /// Runs until nothing is left to do.
    pub fn settle(&mut self) -> &mut Self {
        self.net.run_until_idle();
        self
    }

    /// `from` schedules a reconciliation with `with`; runs it to the end and
    /// returns `from`'s status for `with`.
    pub fn reconcile(&mut self, from: &str, with: &str) -> ReconciliationStatus {
        self.settle();
        self.net
            .node(from)
            .schedule_reconciliation(&[with.to_string()])
            .expect("no trap")
            .expect("ScheduleReconciliation accepted");
        self.settle();
        self.status(from, with, true).expect("a status row")
    }

    /// GetReconciliationStatusForParty.
    pub fn status(
        &mut self,
        node: &str,
        party: &str,
        is_requester: bool,
    ) -> Option<ReconciliationStatus> {
        self.net
            .node(node)
            .get_reconciliation_status_for_party(party, is_requester)
            .expect("no trap")
            .expect("the flow succeeds")
    }
}

/// Every row of a node's CR_RECONCILIATION_STATUS table, read from its
/// database (not through the plugin).
pub fn stored_statuses(net: &mut Network, node: &str) -> Vec<ReconciliationStatus> {
    let conn = ledger_sync_host::store::open(net.node(node).db_path()).expect("open the database");
    ledger_sync_host::store::status::load_statuses(&conn).expect("CR_RECONCILIATION_STATUS")
}

/// A transaction with id `[n; 32]`-ish (distinct per n), dependencies by
/// number, and each output's participants.
pub fn tx(n: u32, deps: &[u32], outputs: &[&[&str]]) -> VaultTransaction {
    VaultTransaction {
        id: id(n),
        dependencies: deps.iter().map(|d| id(*d)).collect(),
        outputs: outputs
            .iter()
            .map(|o| o.iter().map(|p| p.to_string()).collect())
            .collect(),
    }
}

/// Transactions `first..first + count` between `a` and `b`, with no
/// dependencies: one output state each with both as participants.
pub fn shared(first: u32, count: u32, a: &str, b: &str) -> Vec<VaultTransaction> {
    (first..first + count)
        .map(|n| tx(n, &[], &[&[a, b]]))
        .collect()
}

/// The id of transaction number `n` in [`tx`].
pub fn id(n: u32) -> TxId {
    let mut id = [0u8; 32];
    for (i, b) in id.iter_mut().enumerate() {
        *b = (n.wrapping_mul(2_654_435_761).rotate_left(i as u32) as u8) ^ (i as u8);
    }
    id[..4].copy_from_slice(&n.to_be_bytes());
    id
}

/// The ids in a status's result, sorted.
pub fn result_ids(status: &ReconciliationStatus) -> Vec<TxId> {
    sorted(status.last_successful_reconciliation_result.clone())
}

/// Sorted ids.
pub fn sorted(mut ids: Vec<TxId>) -> Vec<TxId> {
    ids.sort_unstable();
    ids
}

/// Asserts the latest reconciliation ended with `status`.
pub fn assert_status(row: &ReconciliationStatus, status: Status) {
    assert_eq!(
        row.last_reconciliation_status, status,
        "status row: {row:#?}"
    );
}
