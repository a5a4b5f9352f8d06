//! What a seed draws before anything runs: a multi-party ledger with
//! back-chains, party 0 restored from a backup that lost its last
//! transactions, and each node's configuration — and the network set up
//! from it, with the fault hook on every message.

use super::FaultMix;
use super::faults::FaultState;
use super::hostile::MALLORY;
use crate::ledger::{multi_party_ledger, rng};
use crate::network::Network;
use anyhow::Result;
use ledger_sync_host::store::vault::{Vault, VaultTransaction};
use ledger_sync_host::{NodeOptions, PluginRuntime};
use ledger_sync_vocabulary::TxId;
use ledger_sync_vocabulary::rng::SplitMix64;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// The ledger a seed drew, and what each party holds of it.
pub(super) struct Scenario {
    pub(super) parties: Vec<String>,
    pub(super) transactions: usize,
    /// Each party's vault; party 0's is restored from a backup.
    pub(super) vaults: BTreeMap<String, Vec<VaultTransaction>>,
    /// The ids each vault holds.
    pub(super) held: BTreeMap<String, HashSet<TxId>>,
}

impl Scenario {
    /// Draws the parties, the ledger and party 0's loss from `r`.
    pub(super) fn draw(seed: u64, r: &mut SplitMix64) -> Scenario {
        let node_count = 2 + r.below(3) as usize;
        let parties: Vec<String> = (0..node_count)
            .map(|i| format!("O=Party{i}, L=Sim, C=GB"))
            .collect();
        let n = 30 + r.below(270) as usize;
        let ledger = multi_party_ledger(&parties, n, seed, r);
        let mut vaults: BTreeMap<String, Vec<VaultTransaction>> = BTreeMap::new();
        for p in &parties {
            let mut vault = ledger.vault_of(p);
            // Each transaction's bytes, for recovery to send and check.
            for tx in &mut vault {
                tx.payload = Some(super::recovery::sim_bytes(tx));
            }
            vaults.insert(p.clone(), vault);
        }
        // Party 0 restores from a backup: it lost the last `lost`
        // transactions it had recorded.
        let vault = vaults.get_mut(&parties[0]).expect("party 0");
        let lost = r.below(vault.len() as u64 / 2 + 1) as usize;
        vault.truncate(vault.len() - lost);
        let held = vaults
            .iter()
            .map(|(p, v)| (p.clone(), v.iter().map(|t| t.id).collect()))
            .collect();
        Scenario {
            parties,
            transactions: n,
            vaults,
            held,
        }
    }
}

/// A scenario's network, running.
pub(super) struct Run {
    pub(super) net: Network,
    /// Every fault kind, or loss only.
    pub(super) all_faults: bool,
    /// The longest inactivity timeout of any node.
    pub(super) max_timeout: u64,
    pub(super) faults: Rc<RefCell<FaultState>>,
    /// The network's time, as the fault hook reads it.
    pub(super) clock: Rc<RefCell<u64>>,
}

impl Run {
    /// Draws the network's faults and each node's configuration from `r`,
    /// records each vault under `dir`, and starts the nodes and the
    /// hostile peer.
    pub(super) fn set_up(
        runtime: &Arc<PluginRuntime>,
        scenario: &Scenario,
        mix: FaultMix,
        seed: u64,
        r: &mut SplitMix64,
        dir: &Path,
    ) -> Result<Run> {
        let mut net = Network::new(runtime.clone());
        let (loss, jitter, duplicate, all_faults) = match mix {
            FaultMix::All => {
                let loss = [0.0, 0.0, 0.01, 0.05, 0.1][r.below(5) as usize];
                let jitter = [0, 0, 5, 50, 2_000][r.below(5) as usize];
                // Duplicates: frames that cross on the wire.
                let duplicate = [0.0, 0.0, 0.01, 0.03][r.below(4) as usize];
                (loss, jitter, duplicate, true)
            }
            FaultMix::LossOnly(p) => (p, 0, 0.0, false),
        };
        let latency = [0, 1, 10, 100][r.below(4) as usize];
        net.set_latency(latency);
        let mut max_timeout = 0;
        for (i, p) in scenario.parties.iter().enumerate() {
            let path = dir.join(format!("node-{i}.db"));
            let conn = ledger_sync_host::store::open(&path)?;
            Vault::new(&conn).record(&scenario.vaults[p])?;
            drop(conn);
            let timeout_s = [30, 120, 600][r.below(3) as usize];
            max_timeout = max_timeout.max(timeout_s * 1000);
            let mut options = NodeOptions::new(p, path);
            options.seed = Some(seed.wrapping_mul(31).wrapping_add(i as u64));
            options.config = format!(
                "maxNumberOfParallelReconciliationRequests = {}\n\
                 maxNumberOfIbfFilterFlows = {}\n\
                 reconciliationInactivityTimeout = {timeout_s}S\n\
                 maxReconciliationRetryAttemptTimeout = {}S\n\
                 transactionReaderPageSize = {}\n",
                1 + r.below(4),
                [3, 5, 15][r.below(3) as usize],
                if all_faults {
                    [0, 60, 600][r.below(3) as usize]
                } else {
                    3_600
                },
                [10, 100][r.below(2) as usize],
            );
            net.add_node(options)?;
        }
        net.add_external_party(MALLORY);
        let clock = Rc::new(RefCell::new(net.now_ms()));
        let faults = Rc::new(RefCell::new(FaultState {
            rng: rng(seed ^ 0xfa_017),
            loss,
            duplicate,
            jitter_ms: jitter,
            partitions: Vec::new(),
            lose_next: None,
            now: clock.clone(),
            counts: BTreeMap::new(),
            captured: Vec::new(),
            dones: Vec::new(),
            leaky_done: None,
            digest: 0,
        }));
        let hook = faults.clone();
        net.set_faults(move |envelope| hook.borrow_mut().decide(envelope));
        Ok(Run {
            net,
            all_faults,
            max_timeout: if max_timeout == 0 {
                600_000
            } else {
                max_timeout
            },
            faults,
            clock,
        })
    }
}
