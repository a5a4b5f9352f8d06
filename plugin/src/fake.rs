//! An in-memory host for running the reconciliation core natively: the
//! plugin's unit tests and the benchmark's native comparison use it.
//! Compiled for tests and with the `fake-host` feature; never part of the
//! component.
//!
//! - [`FakeVault`]: transactions and parties in memory, paged as the WIT
//!   `vault` interface pages them.
//! - [`FakeHost`]: every import in memory — vault, outbox, timers, clock,
//!   status table and queue, logs, a seeded random stream.
//! - [`FakeNetwork`]: several reconcilers on one virtual clock, delivering
//!   messages in order before timers, timers by due time, node, id — the
//!   same order as the simulated network of the reference host.

use crate::host::{Host, Level, SendError};
use crate::reconciler::Reconciler;
use hashbrown::{HashMap, HashSet};
use ledger_sync_vocabulary::rng::SplitMix64;
use ledger_sync_vocabulary::timers::TimerTable;
use ledger_sync_vocabulary::{ReconciliationStatus, TX_ID_LEN, TransactionPage, TxId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A vault in memory. Cursors are positions: transaction `i` (0-based) has
/// cursor `i + 1`.
#[derive(Default)]
pub struct FakeVault {
    ids: Vec<TxId>,
    held: HashSet<TxId>,
    /// Per transaction, the end of its dependencies in `dependencies`.
    dependency_end: Vec<usize>,
    dependencies: Vec<TxId>,
    /// Per transaction, the end of its outputs in `participant_counts`.
    output_end: Vec<usize>,
    participant_counts: Vec<u32>,
    /// Per output, the end of its participants in `participants`.
    participant_end: Vec<usize>,
    participants: Vec<u32>,
    handles: HashMap<String, u32>,
    names: BTreeMap<u32, String>,
}

impl FakeVault {
    /// Transactions recorded.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The handle of `name`, recording the party if it is new.
    pub fn party(&mut self, name: &str) -> u32 {
        if let Some(h) = self.handles.get(name) {
            return *h;
        }
        let h = self.names.len() as u32 + 1;
        self.name_party(h, name);
        h
    }

    /// Records that handle `h` is `name` (for pages copied from another
    /// vault).
    pub fn name_party(&mut self, h: u32, name: &str) {
        self.handles.insert(name.to_string(), h);
        self.names.insert(h, name.to_string());
    }

    /// Records one transaction; each output is its participants' names.
    pub fn record(&mut self, id: TxId, dependencies: &[TxId], outputs: &[&[&str]]) {
        let outputs: Vec<Vec<u32>> = outputs
            .iter()
            .map(|o| o.iter().map(|p| self.party(p)).collect())
            .collect();
        self.push(id, dependencies, outputs.iter().map(Vec::as_slice));
    }

    fn push<'a>(&mut self, id: TxId, deps: &[TxId], outputs: impl Iterator<Item = &'a [u32]>) {
        if !self.held.insert(id) {
            return;
        }
        self.ids.push(id);
        self.dependencies.extend_from_slice(deps);
        self.dependency_end.push(self.dependencies.len());
        for handles in outputs {
            self.participant_counts.push(handles.len() as u32);
            self.participants.extend_from_slice(handles);
            self.participant_end.push(self.participants.len());
        }
        self.output_end.push(self.participant_counts.len());
    }

    /// Appends every transaction of a vault page, participants as the page's
    /// handles (name them with [`FakeVault::name_party`]).
    pub fn append_page(&mut self, page: &TransactionPage) {
        let (mut dep, mut out, mut part) = (0, 0, 0);
        for i in 0..page.len() {
            let id: TxId = page.ids[i * TX_ID_LEN..(i + 1) * TX_ID_LEN]
                .try_into()
                .expect("32 bytes");
            let n = page.dependency_counts[i] as usize;
            let deps: Vec<TxId> = page.dependencies[dep * TX_ID_LEN..(dep + n) * TX_ID_LEN]
                .chunks_exact(TX_ID_LEN)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect();
            dep += n;
            let outputs = page.output_counts[i] as usize;
            let mut slices = Vec::with_capacity(outputs);
            for k in 0..outputs {
                let c = page.participant_counts[out + k] as usize;
                slices.push(&page.participants[part..part + c]);
                part += c;
            }
            out += outputs;
            self.push(id, &deps, slices.into_iter());
        }
    }

    /// The page of at most `limit` transactions after cursor `after`.
    pub fn read(&self, after: u64, limit: u32) -> TransactionPage {
        let start = (after as usize).min(self.ids.len());
        let end = start.saturating_add(limit as usize).min(self.ids.len());
        let mut page = TransactionPage::empty(after.max(end as u64));
        for i in start..end {
            page.ids.extend_from_slice(&self.ids[i]);
            let d0 = if i == 0 {
                0
            } else {
                self.dependency_end[i - 1]
            };
            let d1 = self.dependency_end[i];
            page.dependency_counts.push((d1 - d0) as u32);
            for d in &self.dependencies[d0..d1] {
                page.dependencies.extend_from_slice(d);
            }
            let o0 = if i == 0 { 0 } else { self.output_end[i - 1] };
            let o1 = self.output_end[i];
            page.output_counts.push((o1 - o0) as u32);
            for o in o0..o1 {
                page.participant_counts.push(self.participant_counts[o]);
                let p0 = if o == 0 {
                    0
                } else {
                    self.participant_end[o - 1]
                };
                page.participants
                    .extend_from_slice(&self.participants[p0..self.participant_end[o]]);
            }
        }
        page
    }
}

/// Every import, in memory.
pub struct FakeHost {
    pub name: String,
    pub vault: FakeVault,
    pub now_ms: u64,
    pub max_message_size: u32,
    /// Messages sent since the network last took them: (to, payload).
    pub outbox: Vec<(String, Vec<u8>)>,
    /// Pending timers: id → due time.
    pub timers: TimerTable<u64>,
    pub statuses: BTreeMap<(String, bool), ReconciliationStatus>,
    pub scheduled: Vec<String>,
    /// The plugin's values (`status-store.save-value`).
    pub values: BTreeMap<String, Vec<u8>>,
    /// Every log line: (level, marker, message).
    pub logs: Vec<(Level, String, String)>,
    /// The network's nodes; `send` to anyone else is `unknown-party`.
    pub peers: BTreeSet<String>,
    /// When set, every status-store write fails with this message.
    pub failing_store: Option<String>,
    rng: SplitMix64,
}

impl FakeHost {
    /// A host for the node `name` whose random stream is seeded by `seed`.
    pub fn new(name: &str, seed: u64) -> Self {
        FakeHost {
            name: name.to_string(),
            vault: FakeVault::default(),
            now_ms: 0,
            max_message_size: 10 << 20,
            outbox: Vec::new(),
            timers: TimerTable::default(),
            statuses: BTreeMap::new(),
            scheduled: Vec::new(),
            values: BTreeMap::new(),
            logs: Vec::new(),
            peers: BTreeSet::new(),
            failing_store: None,
            rng: SplitMix64::new(seed),
        }
    }

    fn store_write(&self) -> Result<(), String> {
        self.failing_store.clone().map_or(Ok(()), Err)
    }
}

impl Host for FakeHost {
    fn read_transactions(&mut self, after: u64, limit: u32) -> Result<TransactionPage, String> {
        Ok(self.vault.read(after, limit))
    }
    fn contains_transactions(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String> {
        Ok(ids.iter().map(|id| self.vault.held.contains(id)).collect())
    }
    fn find_party(&mut self, name: &str) -> Result<Option<u32>, String> {
        Ok(self.vault.handles.get(name).copied())
    }
    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>, String> {
        handles
            .iter()
            .map(|h| {
                self.vault
                    .names
                    .get(h)
                    .cloned()
                    .ok_or_else(|| format!("no party has handle {h}"))
            })
            .collect()
    }
    fn max_message_size(&mut self) -> u32 {
        self.max_message_size
    }
    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > self.max_message_size as usize {
            return Err(SendError::MessageTooLarge(self.max_message_size));
        }
        if to == self.name || !self.peers.contains(to) {
            return Err(SendError::UnknownParty(to.to_string()));
        }
        self.outbox.push((to.to_string(), payload.to_vec()));
        Ok(())
    }
    fn is_network_party(&mut self, name: &str) -> bool {
        name != self.name && self.peers.contains(name)
    }
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        self.timers.set(id, self.now_ms.saturating_add(delay_ms));
    }
    fn cancel_timer(&mut self, id: u64) {
        self.timers.cancel(id);
    }
    fn now_ms(&mut self) -> u64 {
        self.now_ms
    }
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, String> {
        Ok(self.statuses.values().cloned().collect())
    }
    fn save_status(&mut self, status: &ReconciliationStatus) -> Result<(), String> {
        self.store_write()?;
        let key = (status.party_name.clone(), status.is_requester);
        self.statuses.insert(key, status.clone());
        Ok(())
    }
    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        Ok(self.scheduled.clone())
    }
    fn save_scheduled(&mut self, parties: &[String]) -> Result<(), String> {
        self.store_write()?;
        self.scheduled = parties.to_vec();
        Ok(())
    }
    fn load_value(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.values.get(key).cloned())
    }
    fn save_value(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), String> {
        self.store_write()?;
        match value {
            Some(value) => self.values.insert(key.to_string(), value.to_vec()),
            None => self.values.remove(key),
        };
        Ok(())
    }
    fn our_name(&mut self) -> String {
        self.name.clone()
    }
    fn log(&mut self, level: Level, marker: &str, message: &str) {
        self.logs
            .push((level, marker.to_string(), message.to_string()));
    }
    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// Several reconcilers exchanging messages in memory on one virtual clock.
#[derive(Default)]
pub struct FakeNetwork {
    nodes: BTreeMap<String, Reconciler<FakeHost>>,
    configs: BTreeMap<String, String>,
    /// (arrival time, from, to, payload), in arrival order.
    in_flight: VecDeque<(u64, String, String, Vec<u8>)>,
    now_ms: u64,
    /// One-way delay of every link, in ms.
    pub latency_ms: u64,
    /// Payload bytes sent so far.
    pub bytes: u64,
    /// Parties the network knows that run no node here (messages to them
    /// are dropped): hostile peers speak for them through `inject`.
    external: BTreeSet<String>,
}

impl FakeNetwork {
    /// Starts a node with `config`; every node knows every other.
    pub fn add(&mut self, mut host: FakeHost, config: &str) -> Result<(), String> {
        host.now_ms = self.now_ms;
        let name = host.name.clone();
        let node = Reconciler::start(host, config, None)?;
        self.nodes.insert(name.clone(), node);
        self.configs.insert(name, config.to_string());
        self.introduce();
        Ok(())
    }

    /// Makes `name` known to every node without running a node for it.
    pub fn add_external(&mut self, name: &str) {
        self.external.insert(name.to_string());
        self.introduce();
    }

    fn introduce(&mut self) {
        let names: BTreeSet<String> = self
            .nodes
            .keys()
            .chain(self.external.iter())
            .cloned()
            .collect();
        for node in self.nodes.values_mut() {
            node.host_mut().peers.clone_from(&names);
        }
    }

    /// The node called `name`.
    pub fn node(&mut self, name: &str) -> &mut Reconciler<FakeHost> {
        self.nodes
            .get_mut(name)
            .unwrap_or_else(|| panic!("no node called {name}"))
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Starts `name` again from what its host stored, as after a trap
    /// (`reason` set) or a process restart (`None`): its timers and the
    /// plugin's memory are gone, its vault and status store are not.
    pub fn restart(&mut self, name: &str, reason: Option<&str>) -> Result<(), String> {
        let node = self.nodes.remove(name).expect("a running node");
        let mut host = node.into_host();
        host.timers.clear();
        host.outbox.clear();
        let node = Reconciler::start(host, &self.configs[name], reason)?;
        self.nodes.insert(name.to_string(), node);
        Ok(())
    }

    /// Injects a message as if `from` had sent it.
    pub fn inject(&mut self, from: &str, to: &str, payload: Vec<u8>) {
        let due = self.now_ms + self.latency_ms;
        self.in_flight
            .push_back((due, from.to_string(), to.to_string(), payload));
    }

    fn collect(&mut self) {
        let due = self.now_ms + self.latency_ms;
        for (name, node) in self.nodes.iter_mut() {
            for (to, payload) in std::mem::take(&mut node.host_mut().outbox) {
                self.bytes += payload.len() as u64;
                self.in_flight.push_back((due, name.clone(), to, payload));
            }
        }
    }

    /// Runs one event due by `horizon`; false when there is none.
    pub fn step_until(&mut self, horizon: u64) -> bool {
        self.collect();
        let message = self.in_flight.front().map(|m| m.0);
        let timer = self
            .nodes
            .iter()
            .filter_map(|(name, node)| {
                let (due, id) = node.host().timers.next()?;
                Some((due, name.clone(), id))
            })
            .min();
        let message_first = match (message, &timer) {
            (Some(m), Some((t, _, _))) => m <= *t,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let due = if message_first {
            message
        } else {
            timer.as_ref().map(|t| t.0)
        };
        match due {
            Some(due) if due <= horizon => self.advance(due),
            _ => return false,
        }
        if message_first {
            let (_, from, to, payload) = self.in_flight.pop_front().expect("a message");
            if let Some(node) = self.nodes.get_mut(&to) {
                node.on_message(&from, &payload);
            }
        } else {
            let (_, name, id) = timer.expect("a timer");
            let node = self.nodes.get_mut(&name).expect("a node");
            node.host_mut().timers.cancel(id);
            node.on_timer(id);
        }
        true
    }

    fn advance(&mut self, to: u64) {
        self.now_ms = self.now_ms.max(to);
        for node in self.nodes.values_mut() {
            node.host_mut().now_ms = self.now_ms;
        }
    }

    /// Runs until nothing is due within a day.
    pub fn run_until_idle(&mut self) {
        let horizon = self.now_ms + 24 * 3_600_000;
        while self.step_until(horizon) {}
    }

    /// Runs everything due within `ms`, then moves the clock there.
    pub fn run_for(&mut self, ms: u64) {
        let horizon = self.now_ms + ms;
        while self.step_until(horizon) {}
        self.advance(horizon);
    }
}
