//! The plugin's reconciliation core compiled natively, for the benchmark's
//! guest/native ratio: the same `Reconciler` the component runs, on a plain
//! Rust implementation of its [`Host`] trait over the same SQLite vault, with
//! the same event order as `ledger_sync_sim::network::Network` (messages before
//! timers, timers by due time, node, id). Nothing here is sandboxed; it
//! exists only to show what the sandbox costs.

use anyhow::{Result, anyhow};
use ledger_sync_host::store::vault::Vault;
use ledger_sync_plugin::host::{Host, Level, SendError};
use ledger_sync_plugin::reconciler::Reconciler;
use ledger_sync_vocabulary::{ReconciliationStatus, TransactionPage, TxId};
use rusqlite::Connection;
use std::collections::{BTreeMap, VecDeque};

/// One node's imports, natively.
pub struct NativeHost {
    name: String,
    conn: Connection,
    now_ms: u64,
    rng: u64,
    outbox: Vec<(String, Vec<u8>)>,
    timers: BTreeMap<u64, u64>,
    statuses: BTreeMap<(String, bool), ReconciliationStatus>,
    scheduled: Vec<String>,
}

impl Host for NativeHost {
    fn read_transactions(&mut self, after: u64, limit: u32) -> Result<TransactionPage, String> {
        Vault::new(&self.conn)
            .read_page(after, limit)
            .map_err(|e| format!("{e:#}"))
    }
    fn contains_transactions(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String> {
        let bytes: Vec<u8> = ids.iter().flatten().copied().collect();
        Vault::new(&self.conn)
            .contains(&bytes)
            .map_err(|e| format!("{e:#}"))
    }
    fn find_party(&mut self, name: &str) -> Result<Option<u32>, String> {
        Vault::new(&self.conn)
            .find_party(name)
            .map_err(|e| format!("{e:#}"))
    }
    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>, String> {
        Vault::new(&self.conn)
            .party_names(handles)
            .map_err(|e| format!("{e:#}"))
    }
    fn max_message_size(&mut self) -> u32 {
        10 << 20
    }
    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), SendError> {
        self.outbox.push((to.to_string(), payload.to_vec()));
        Ok(())
    }
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        self.timers.insert(id, self.now_ms + delay_ms);
    }
    fn cancel_timer(&mut self, id: u64) {
        self.timers.remove(&id);
    }
    fn now_ms(&mut self) -> u64 {
        self.now_ms
    }
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, String> {
        Ok(self.statuses.values().cloned().collect())
    }
    fn save_status(&mut self, status: &ReconciliationStatus) -> Result<(), String> {
        self.statuses.insert(
            (status.party_name.clone(), status.is_requester),
            status.clone(),
        );
        Ok(())
    }
    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        Ok(self.scheduled.clone())
    }
    fn save_scheduled(&mut self, parties: &[String]) -> Result<(), String> {
        self.scheduled = parties.to_vec();
        Ok(())
    }
    fn our_name(&mut self) -> String {
        self.name.clone()
    }
    fn log(&mut self, _level: Level, _marker: &str, _message: &str) {}
    fn random_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Native nodes exchanging messages in memory.
#[derive(Default)]
pub struct NativeNetwork {
    nodes: BTreeMap<String, Reconciler<NativeHost>>,
    in_flight: VecDeque<(String, String, Vec<u8>)>,
    now_ms: u64,
}

impl NativeNetwork {
    /// Starts a node on the vault at `conn` with the default configuration.
    pub fn add_node(&mut self, name: &str, conn: Connection, seed: u64) -> Result<()> {
        let host = NativeHost {
            name: name.to_string(),
            conn,
            now_ms: self.now_ms,
            rng: seed,
            outbox: Vec::new(),
            timers: BTreeMap::new(),
            statuses: BTreeMap::new(),
            scheduled: Vec::new(),
        };
        let node = Reconciler::start(host, "", None).map_err(|e| anyhow!(e))?;
        self.nodes.insert(name.to_string(), node);
        Ok(())
    }

    /// The node called `name`.
    pub fn node(&mut self, name: &str) -> &mut Reconciler<NativeHost> {
        self.nodes.get_mut(name).expect("a native node")
    }

    /// Runs every message and timer until none is left.
    pub fn run_until_idle(&mut self) {
        loop {
            for (name, node) in self.nodes.iter_mut() {
                for (to, payload) in std::mem::take(&mut node.host_mut().outbox) {
                    self.in_flight.push_back((name.clone(), to, payload));
                }
            }
            if let Some((from, to, payload)) = self.in_flight.pop_front() {
                if let Some(node) = self.nodes.get_mut(&to) {
                    node.on_message(&from, &payload);
                }
                continue;
            }
            let next = self
                .nodes
                .iter_mut()
                .filter_map(|(name, node)| {
                    let (id, due) = node.host_mut().timers.iter().min_by_key(|(_, d)| **d)?;
                    Some((*due, name.clone(), *id))
                })
                .min();
            let Some((due, name, id)) = next else {
                return;
            };
            self.now_ms = self.now_ms.max(due);
            for node in self.nodes.values_mut() {
                node.host_mut().now_ms = self.now_ms;
            }
            let node = self.nodes.get_mut(&name).expect("timer of a node");
            node.host_mut().timers.remove(&id);
            node.on_timer(id);
        }
    }
}
