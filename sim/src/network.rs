//! An in-process business network: several nodes, one virtual clock, and
//! deterministic message delivery, so tests and the demo drive time and
//! messages step by step and never sleep.
//!
//! The network is the runtime of its nodes: after every call it takes each
//! node's effects, puts the messages on the wire and keeps the timers on the
//! virtual clock. Each [`Network::step_until`] does exactly one thing: it
//! advances the clock to the earliest event and runs it — a message reaching
//! its recipient (sent `latency` ms earlier; messages first on ties) or a
//! timer firing (ties broken by node name, then timer id).
//!
//! Faults: a [`FaultHook`] decides each message's [`Fate`] as it is sent —
//! delivered, lost, or delayed (never past a later message between the same
//! pair: delivery stays in order, as the WIT promises). Nodes can crash and
//! restart at any event, their status store can fail its writes
//! ([`Network::set_storage_fault`]) and their clocks can jump
//! ([`Network::jump_clock`]).
//!
//! Large networks: a node can be started on demand when the first message
//! for it arrives ([`Network::set_on_demand`]), so a bench with a thousand
//! counterparties holds only the few in use, and the time each node spends
//! in its calls is kept ([`Network::busy`], [`Network::startup`]).

use crate::clock::{NodeClock, VirtualClock};
use anyhow::{Context, Result};
use ledger_sync_host::{Node, NodeOptions, PluginFailure, PluginRuntime};
use ledger_sync_vocabulary::timers::TimerTable;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The names of the nodes on the network, shared by every node.
#[derive(Clone, Debug, Default)]
pub struct Directory(Arc<Mutex<BTreeSet<String>>>);

impl Directory {
    pub fn insert(&self, name: &str) {
        self.0
            .lock()
            .expect("directory lock")
            .insert(name.to_string());
    }
}

impl ledger_sync_host::Peers for Directory {
    fn is_peer(&self, name: &str) -> bool {
        self.0.lock().expect("directory lock").contains(name)
    }
}

/// A running node, the timers it asked for (id → due time) and its clock.
struct SimNode {
    node: Node,
    timers: TimerTable<u64>,
}

/// What becomes of a message put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    /// Lost on the way.
    Drop,
    /// Delivered this many ms later than the link's latency (but never
    /// before an earlier message between the same pair).
    Delay(u64),
    /// Delivered, and delivered again this many ms later — as a transport
    /// that reconnects re-sends what it was not sure had arrived: in order,
    /// so the copy holds back the pair's later messages until it arrives.
    /// Frames then cross on the wire: the copy of a request reaches the
    /// responder after the requester's next `Want` was sent.
    Duplicate(u64),
}

/// Decides the fate of each message as it is sent.
pub type FaultHook = Box<dyn FnMut(&Envelope) -> Fate>;

/// Sees (and may alter) each message as it is delivered.
pub type Tap = Box<dyn FnMut(&mut Envelope)>;

/// Gives the options of a node to start when a message arrives for a party
/// in the directory that runs no node, or `None` to drop the message.
pub type OnDemand = Box<dyn FnMut(&str) -> Option<NodeOptions>>;

/// A message between two nodes.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: String,
    pub to: String,
    pub payload: Vec<u8>,
}

/// What crossed the network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub messages: u64,
    pub bytes: u64,
    /// Bytes per (from, to).
    pub bytes_by_route: BTreeMap<(String, String), u64>,
    /// Messages dropped because their recipient was down.
    pub dropped: u64,
    /// Messages the fault hook lost.
    pub lost: u64,
}

/// A trap observed while the network delivered an event.
#[derive(Clone, Debug)]
pub struct ObservedFailure {
    pub node: String,
    pub failure: PluginFailure,
}

/// Several nodes on one virtual clock.
pub struct Network {
    runtime: Arc<PluginRuntime>,
    clock: VirtualClock,
    directory: Directory,
    nodes: BTreeMap<String, SimNode>,
    /// Options (and plugin) of every node ever added, so a node can be
    /// restarted.
    options: BTreeMap<String, (NodeOptions, Arc<PluginRuntime>)>,
    down: BTreeSet<String>,
    /// Each node's clock (kept across restarts, so a jump persists).
    clocks: BTreeMap<String, NodeClock>,
    /// Messages on the wire by (arrival time, sequence number).
    in_flight: BTreeMap<(u64, u64), Envelope>,
    next_seq: u64,
    /// When the last message on each (from, to) pair arrives, so a delayed
    /// message holds back the ones after it.
    pair_arrival: BTreeMap<(String, String), u64>,
    faults: Option<FaultHook>,
    /// Parties the network knows that run no node here: a test (or the
    /// simulation's hostile peers) reads their mail and speaks for them.
    external: BTreeMap<String, Vec<Envelope>>,
    /// One-way delay of every link, in ms.
    latency_ms: u64,
    traffic: Traffic,
    failures: Vec<ObservedFailure>,
    /// Optional tap: called for every message delivered (tests use it to
    /// inspect or tamper with traffic).
    tap: Option<Tap>,
    on_demand: Option<OnDemand>,
    /// Time each node spent in its calls since it started (messages and
    /// timers), and in starting (including building its ledger graph when
    /// started on demand).
    busy: BTreeMap<String, Duration>,
    startup: BTreeMap<String, Duration>,
}

/// The default starting time: 2020-02-28T12:00:00Z, the seed's example day.
pub const DEFAULT_START_MS: u64 = 1_582_891_200_000;

impl Network {
    pub fn new(runtime: Arc<PluginRuntime>) -> Self {
        Network {
            runtime,
            clock: VirtualClock::new(DEFAULT_START_MS),
            directory: Directory::default(),
            nodes: BTreeMap::new(),
            options: BTreeMap::new(),
            down: BTreeSet::new(),
            clocks: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_seq: 0,
            pair_arrival: BTreeMap::new(),
            faults: None,
            external: BTreeMap::new(),
            latency_ms: 0,
            traffic: Traffic::default(),
            failures: Vec::new(),
            tap: None,
            on_demand: None,
            busy: BTreeMap::new(),
            startup: BTreeMap::new(),
        }
    }

    /// Starts a node running the network's plugin. Fails with the plugin's
    /// own message if it refuses its configuration.
    pub fn add_node(&mut self, options: NodeOptions) -> Result<()> {
        self.add_node_running(self.runtime.clone(), options)
    }

    /// Starts a node running another component (a test guest, say).
    pub fn add_node_running(
        &mut self,
        runtime: Arc<PluginRuntime>,
        options: NodeOptions,
    ) -> Result<()> {
        let name = options.name.clone();
        anyhow::ensure!(
            !self.nodes.contains_key(&name),
            "node {name} already exists"
        );
        let started = Instant::now();
        self.directory.insert(&name);
        let clock = self
            .clocks
            .entry(name.clone())
            .or_insert_with(|| NodeClock::new(self.clock.clone()))
            .clone();
        let node = Node::start(
            runtime.clone(),
            options.clone(),
            Arc::new(clock),
            Arc::new(self.directory.clone()),
        )?;
        self.nodes.insert(
            name.clone(),
            SimNode {
                node,
                timers: TimerTable::default(),
            },
        );
        self.options.insert(name.clone(), (options, runtime));
        self.down.remove(&name);
        *self.startup.entry(name).or_default() += started.elapsed();
        self.collect_effects();
        Ok(())
    }

    /// Starts nodes on demand: when a message arrives for a party in the
    /// directory that runs no node and never ran one, `factory` gives its
    /// options (or `None` to drop the message); the node is started and
    /// brought ready — the timers it sets for now run at once, which builds
    /// its ledger graph — before the message is delivered.
    pub fn set_on_demand(&mut self, factory: impl FnMut(&str) -> Option<NodeOptions> + 'static) {
        self.on_demand = Some(Box::new(factory));
    }

    /// Time each node has spent in its calls since it started, start-up
    /// excluded.
    pub fn busy(&self) -> &BTreeMap<String, Duration> {
        &self.busy
    }

    /// Time each node spent starting: instantiating the plugin, and for a
    /// node started on demand the timers it ran before its first message.
    pub fn startup(&self) -> &BTreeMap<String, Duration> {
        &self.startup
    }

    /// Starts `name` on demand if the factory gives its options, and runs
    /// the timers it set for now. Returns whether it runs.
    fn start_on_demand(&mut self, name: &str) -> bool {
        if self.down.contains(name) || self.options.contains_key(name) {
            return false;
        }
        let Some(options) = self.on_demand.as_mut().and_then(|f| f(name)) else {
            return false;
        };
        if let Err(e) = self.add_node(options) {
            self.failures.push(ObservedFailure {
                node: name.to_string(),
                failure: PluginFailure::NotRunning(format!("could not start on demand: {e:#}")),
            });
            return false;
        }
        let started = Instant::now();
        loop {
            let now = self.clock.now_ms();
            let Some((due, id)) = self.nodes[name].timers.next() else {
                break;
            };
            if due > now {
                break;
            }
            if !self.fire_timer(name, id).1 {
                break;
            }
            self.collect_effects();
        }
        *self.startup.entry(name.to_string()).or_default() += started.elapsed();
        true
    }

    /// Adds a party to the directory without starting its node: it is
    /// started on demand ([`Network::set_on_demand`]) when a message for it
    /// arrives.
    pub fn add_known_party(&mut self, name: &str) {
        self.directory.insert(name);
    }

    /// Adds a party the network knows but that runs no node here: messages
    /// to it wait in its mailbox ([`Network::take_mail`]); whoever speaks for
    /// it sends with [`Network::inject`].
    pub fn add_external_party(&mut self, name: &str) {
        self.directory.insert(name);
        self.external.entry(name.to_string()).or_default();
    }

    /// The messages delivered to an external party since the last take.
    pub fn take_mail(&mut self, name: &str) -> Vec<Envelope> {
        self.external
            .get_mut(name)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Stops a node as if its process died: its plugin state is gone,
    /// messages to it are dropped, its database stays.
    pub fn crash_node(&mut self, name: &str) {
        self.nodes.remove(name);
        self.down.insert(name.to_string());
    }

    /// Starts a crashed node again from its database, with `config` if given.
    pub fn restart_node(&mut self, name: &str, config: Option<String>) -> Result<()> {
        self.nodes.remove(name);
        let (mut options, runtime) = self
            .options
            .remove(name)
            .with_context(|| format!("no node {name} was ever added"))?;
        if let Some(config) = config {
            options.config = config;
        }
        options.seed = options.seed.map(|s| s.wrapping_add(0x1000));
        self.add_node_running(runtime, options)
    }

    /// The node called `name`. Whatever a call on it asks for is carried out
    /// from the next step on.
    pub fn node(&mut self, name: &str) -> &mut Node {
        &mut self
            .nodes
            .get_mut(name)
            .unwrap_or_else(|| panic!("no running node called {name}"))
            .node
    }

    /// Whether a node called `name` is running.
    pub fn is_running(&self, name: &str) -> bool {
        self.nodes.contains_key(name)
    }

    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// Resets the traffic counters.
    pub fn reset_traffic(&mut self) {
        self.traffic = Traffic::default();
    }

    /// Traps seen while delivering events, oldest first.
    pub fn failures(&self) -> &[ObservedFailure] {
        &self.failures
    }

    /// Installs a tap that sees (and may alter) every message delivered.
    pub fn set_tap(&mut self, tap: impl FnMut(&mut Envelope) + 'static) {
        self.tap = Some(Box::new(tap));
    }

    /// Sets the one-way delay of every link (0 by default). Messages already
    /// on the wire keep their arrival times.
    pub fn set_latency(&mut self, ms: u64) {
        self.latency_ms = ms;
    }

    /// Installs the fault hook that decides each message's fate from now
    /// on (replacing any earlier one).
    pub fn set_faults(&mut self, hook: impl FnMut(&Envelope) -> Fate + 'static) {
        self.faults = Some(Box::new(hook));
    }

    /// Makes every status-store write of `name` fail with `fault` until
    /// cleared with `None`.
    pub fn set_storage_fault(&mut self, name: &str, fault: Option<String>) {
        if let Some(sim) = self.nodes.get_mut(name) {
            sim.node.set_storage_fault(fault);
        }
    }

    /// Makes `name`'s status store refuse the writes `fault` names, now and
    /// after any restart (a disk stays full across one), until cleared.
    pub fn set_write_fault(&mut self, name: &str, fault: Option<ledger_sync_host::WriteFault>) {
        if let Some(sim) = self.nodes.get_mut(name) {
            sim.node.set_write_fault(fault.clone());
        }
        if let Some((options, _)) = self.options.get_mut(name) {
            options.storage_fault = fault;
        }
    }

    /// Moves `name`'s clock by `delta_ms`, either way, from now on.
    pub fn jump_clock(&mut self, name: &str, delta_ms: i64) {
        if let Some(clock) = self.clocks.get(name) {
            clock.jump(delta_ms);
        }
    }

    /// Injects a message as if `from` had sent it; it arrives after the
    /// link's latency (and meets the fault hook like any other).
    pub fn inject(&mut self, from: &str, to: &str, payload: Vec<u8>) {
        let envelope = Envelope {
            from: from.to_string(),
            to: to.to_string(),
            payload,
        };
        self.put_on_the_wire(envelope);
    }

    /// Sends a message: the fault hook decides its fate; a delivered one
    /// arrives after the latency (plus any delay), never before an earlier
    /// message between the same pair.
    fn put_on_the_wire(&mut self, envelope: Envelope) {
        let fate = self.faults.as_mut().map_or(Fate::Deliver, |f| f(&envelope));
        let extra = match fate {
            Fate::Deliver => 0,
            Fate::Drop => {
                self.traffic.lost += 1;
                return;
            }
            Fate::Delay(ms) => ms,
            Fate::Duplicate(after_ms) => {
                let copy = envelope.clone();
                self.queue_for_delivery(envelope, 0);
                self.queue_for_delivery(copy, after_ms);
                return;
            }
        };
        self.queue_for_delivery(envelope, extra);
    }

    /// Puts `envelope` in flight, due after the latency and `extra`, never
    /// before an earlier message between the same pair.
    fn queue_for_delivery(&mut self, envelope: Envelope, extra: u64) {
        let pair = (envelope.from.clone(), envelope.to.clone());
        let earliest = self.pair_arrival.get(&pair).copied().unwrap_or(0);
        let due = (self.now_ms() + self.latency_ms + extra).max(earliest);
        self.pair_arrival.insert(pair, due);
        self.in_flight.insert((due, self.next_seq), envelope);
        self.next_seq += 1;
    }

    /// Carries out what every node asked for since the last step: its
    /// messages go on the wire, its timer commands onto its timer table.
    fn collect_effects(&mut self) {
        let now = self.clock.now_ms();
        let mut sent = Vec::new();
        for (name, sim) in self.nodes.iter_mut() {
            let effects = sim.node.take_effects();
            for command in effects.timers {
                command.apply(&mut sim.timers, |delay| now.saturating_add(delay));
            }
            for m in effects.messages {
                self.traffic.messages += 1;
                self.traffic.bytes += m.payload.len() as u64;
                *self
                    .traffic
                    .bytes_by_route
                    .entry((name.clone(), m.to.clone()))
                    .or_default() += m.payload.len() as u64;
                sent.push(Envelope {
                    from: name.clone(),
                    to: m.to,
                    payload: m.payload,
                });
            }
        }
        for envelope in sent {
            self.put_on_the_wire(envelope);
        }
    }

    /// The earliest pending timer across all nodes: (due, node, id).
    fn next_timer(&self) -> Option<(u64, String, u64)> {
        self.nodes
            .iter()
            .filter(|(_, sim)| sim.node.dead().is_none())
            .filter_map(|(name, sim)| sim.timers.next().map(|(due, id)| (due, name.clone(), id)))
            .min()
    }

    /// Timers a node has pending on the network's clock.
    pub fn pending_timers(&self, name: &str) -> usize {
        self.nodes.get(name).map_or(0, |sim| sim.timers.len())
    }

    /// Delivers one message or fires one timer. Returns false when nothing is
    /// left to do, or when the next event is due after `horizon_ms`.
    pub fn step_until(&mut self, horizon_ms: u64) -> bool {
        self.collect_effects();
        let next_message = self.in_flight.keys().next().map(|(due, _)| *due);
        let next_timer = self.next_timer();
        let message_first = match (next_message, &next_timer) {
            (Some(m), Some((t, _, _))) => m <= *t,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if message_first {
            let due = next_message.expect("a message is in flight");
            if due > horizon_ms {
                return false;
            }
            self.clock.advance_to(due);
            let (_, mut envelope) = self.in_flight.pop_first().expect("in flight");
            if let Some(tap) = self.tap.as_mut() {
                tap(&mut envelope);
            }
            if !self.nodes.contains_key(&envelope.to)
                && !self.external.contains_key(&envelope.to)
                && self.on_demand.is_some()
            {
                self.start_on_demand(&envelope.to.clone());
            }
            match self.nodes.get_mut(&envelope.to) {
                Some(sim) => {
                    let started = Instant::now();
                    let outcome = sim.node.on_message(&envelope.from, &envelope.payload);
                    *self.busy.entry(envelope.to.clone()).or_default() += started.elapsed();
                    if let Err(failure) = outcome {
                        self.failures.push(ObservedFailure {
                            node: envelope.to.clone(),
                            failure,
                        });
                    }
                }
                None => match self.external.get_mut(&envelope.to) {
                    Some(mailbox) => mailbox.push(envelope),
                    None => self.traffic.dropped += 1,
                },
            }
            return true;
        }
        let Some((due, name, id)) = next_timer else {
            return false;
        };
        if due > horizon_ms {
            return false;
        }
        self.clock.advance_to(due);
        let (took, _) = self.fire_timer(&name, id);
        *self.busy.entry(name).or_default() += took;
        true
    }

    /// Fires timer `id` of the running node `name`: how long its call took,
    /// and whether it ran without failing (a failure is kept in
    /// [`Network::failures`]).
    fn fire_timer(&mut self, name: &str, id: u64) -> (Duration, bool) {
        let sim = self.nodes.get_mut(name).expect("timer of a running node");
        sim.timers.cancel(id);
        let started = Instant::now();
        let outcome = sim.node.on_timer(id);
        let took = started.elapsed();
        let ran = outcome.is_ok();
        if let Err(failure) = outcome {
            self.failures.push(ObservedFailure {
                node: name.to_string(),
                failure,
            });
        }
        (took, ran)
    }

    /// Runs until no message is in flight and no timer is pending (timers
    /// further than a day ahead are left pending). Returns the steps taken.
    pub fn run_until_idle(&mut self) -> u64 {
        let horizon = self.now_ms() + 24 * 3_600_000;
        let mut steps = 0;
        while self.step_until(horizon) {
            steps += 1;
        }
        steps
    }

    /// Runs every event due within the next `ms` milliseconds, then moves the
    /// clock to the end of that span.
    pub fn run_for(&mut self, ms: u64) -> u64 {
        let horizon = self.now_ms() + ms;
        let mut steps = 0;
        while self.step_until(horizon) {
            steps += 1;
        }
        self.clock.advance_to(horizon);
        steps
    }
}
