//! Embedding the reference host with your own vault: a node host keeps its
//! ledger in its own structure (here, vectors in memory), hands it to the
//! host as a `LedgerVault`, and reconciles two nodes. A lost its newest
//! transactions; the run ends with A's reconciliation with B finding
//! exactly those, or exits non-zero.
//!
//! cargo run --release -p ledger-sync-host --example own_vault

use anyhow::{Result, ensure};
use ledger_sync_host::{Clock, LedgerVault, Node, NodeOptions, Peers, PluginRuntime};
use ledger_sync_host::{StatusStore, Storage};
use ledger_sync_vocabulary::timers::TimerTable;
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue, TxId, page::TransactionPage};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const A: &str = "O=PartyA, L=London, C=GB";
const B: &str = "O=PartyB, L=Paris, C=FR";

/// The host's ledger: (id, dependencies, participants per output), in the
/// order recorded; a party's handle is its position in `parties` plus one.
#[derive(Default)]
struct MemoryVault {
    txs: Vec<(TxId, Vec<TxId>, Vec<Vec<String>>)>,
    parties: Vec<String>,
}

impl MemoryVault {
    fn record(&mut self, id: TxId, deps: Vec<TxId>, outputs: Vec<Vec<String>>) {
        for name in outputs.iter().flatten() {
            if !self.parties.contains(name) {
                self.parties.push(name.clone());
            }
        }
        self.txs.push((id, deps, outputs));
    }
}

impl LedgerVault for MemoryVault {
    fn read_page(&self, after: u64, limit: u32) -> Result<TransactionPage> {
        let mut page = TransactionPage::empty(after);
        for (i, (id, deps, outputs)) in self
            .txs
            .iter()
            .enumerate()
            .skip(after as usize)
            .take(limit as usize)
        {
            page.ids.extend_from_slice(id);
            page.dependency_counts.push(deps.len() as u32);
            deps.iter()
                .for_each(|d| page.dependencies.extend_from_slice(d));
            page.output_counts.push(outputs.len() as u32);
            for state in outputs {
                page.participant_counts.push(state.len() as u32);
                for name in state {
                    page.participants
                        .push(self.find_party(name)?.expect("recorded above"));
                }
            }
            page.cursor = i as u64 + 1;
        }
        Ok(page)
    }
    fn contains(&self, ids: &[u8]) -> Result<Vec<bool>> {
        Ok(ids
            .chunks(32)
            .map(|id| self.txs.iter().any(|t| t.0 == id))
            .collect())
    }
    fn find_party(&self, name: &str) -> Result<Option<u32>> {
        Ok(self
            .parties
            .iter()
            .position(|p| p == name)
            .map(|i| i as u32 + 1))
    }
    fn party_names(&self, handles: &[u32]) -> Result<Vec<String>> {
        handles
            .iter()
            .map(|h| {
                self.parties
                    .get(*h as usize - 1)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("no party {h}"))
            })
            .collect()
    }
}

/// The host's own status rows and queue.
#[derive(Default)]
struct MemoryStatuses(Mutex<(Rows, Vec<String>)>);
type Rows = BTreeMap<(String, bool), ReconciliationStatus>;

impl StatusStore for MemoryStatuses {
    fn load_statuses(&self) -> Result<Vec<ReconciliationStatus>> {
        Ok(self.0.lock().unwrap().0.values().cloned().collect())
    }
    fn save_status(&self, row: &ReconciliationStatus) -> Result<()> {
        let key = (row.party_name.clone(), row.is_requester);
        self.0.lock().unwrap().0.insert(key, row.clone());
        Ok(())
    }
    fn load_scheduled(&self) -> Result<Vec<String>> {
        Ok(self.0.lock().unwrap().1.clone())
    }
    fn save_scheduled(&self, parties: &[String]) -> Result<()> {
        self.0.lock().unwrap().1 = parties.to_vec();
        Ok(())
    }
}

/// Time moves only when the loop below moves it.
struct VirtualClock(AtomicU64);
impl Clock for VirtualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
struct TwoParties;
impl Peers for TwoParties {
    fn is_peer(&self, name: &str) -> bool {
        name == A || name == B
    }
}

pub fn main() -> Result<()> {
    let (a_vault, b_vault, lost) = two_vaults();
    let runtime = PluginRuntime::new(ledger_sync_components::PLUGIN_BYTES)?;
    let clock = Arc::new(VirtualClock(AtomicU64::new(1_800_000_000_000)));
    let mut nodes = Vec::new();
    for (name, vault) in [(A, a_vault), (B, b_vault)] {
        let storage = Storage::Provided {
            vault: Arc::new(vault),
            statuses: Arc::new(MemoryStatuses::default()),
        };
        nodes.push(Node::start(
            runtime.clone(),
            NodeOptions::new(name, storage),
            clock.clone(),
            Arc::new(TwoParties),
        )?);
    }
    let row = reconcile(&mut nodes, &clock)?;
    let found = row.last_successful_reconciliation_result;
    println!(
        "A reconciled with B: {} ({} transactions missing)",
        row.last_reconciliation_status,
        found.len()
    );
    ensure!(row.last_reconciliation_status == StatusValue::DifferencesFound);
    ensure!(
        found.len() == lost.len() && lost.iter().all(|id| found.contains(id)),
        "found {found:?}"
    );
    Ok(())
}

/// B holds 40 transactions between the two; A's backup lacks the last 5
/// (returned as what A lost).
fn two_vaults() -> (MemoryVault, MemoryVault, Vec<TxId>) {
    let (mut a_vault, mut b_vault) = (MemoryVault::default(), MemoryVault::default());
    let mut previous: Vec<TxId> = Vec::new();
    for n in 0..40u32 {
        let id: TxId = Sha256::digest(n.to_le_bytes()).into();
        let outputs = vec![vec![A.to_string(), B.to_string()]];
        b_vault.record(id, previous.clone(), outputs.clone());
        if n < 35 {
            a_vault.record(id, previous.clone(), outputs);
        }
        previous = vec![id];
    }
    let lost: Vec<TxId> = b_vault.txs[35..].iter().map(|t| t.0).collect();
    (a_vault, b_vault, lost)
}

/// The event loop: A schedules B once its ledger graph is built; messages
/// are delivered in order and, when none are left, the clock jumps to the
/// next timer. Returns A's row for B once it ends in a success.
fn reconcile(nodes: &mut [Node], clock: &VirtualClock) -> Result<ReconciliationStatus> {
    let mut timers: Vec<TimerTable<u64>> = vec![TimerTable::default(); nodes.len()];
    let mut messages = VecDeque::new();
    let mut scheduled = false;
    loop {
        if !scheduled {
            scheduled = nodes[0].schedule_reconciliation(&[B.to_string()])?.is_ok();
        }
        for (node, timers) in nodes.iter_mut().zip(&mut timers) {
            let effects = node.take_effects();
            for m in effects.messages {
                messages.push_back((usize::from(m.to == B), node.name().to_string(), m.payload));
            }
            for command in effects.timers {
                command.apply(timers, |delay_ms| clock.now_ms() + delay_ms);
            }
        }
        // The earliest timer of any node, ties by node.
        let next_timer = (timers.iter().enumerate())
            .filter_map(|(i, table)| table.next().map(|(due, _)| (due, i)))
            .min();
        if let Some((to, from, payload)) = messages.pop_front() {
            nodes[to].on_message(&from, &payload)?;
        } else if let Some((due, i)) = next_timer {
            clock.0.fetch_max(due, Ordering::SeqCst);
            let id = timers[i].pop_due(due).expect("the next timer is due");
            nodes[i].on_timer(id)?;
        } else {
            anyhow::bail!("the reconciliation did not finish");
        }
        let row = nodes[0]
            .get_reconciliation_status_for_party(B, true)?
            .map_err(anyhow::Error::msg)?;
        if let Some(row) = row.filter(|r| r.last_reconciliation_status.is_success()) {
            return Ok(row);
        }
    }
}
