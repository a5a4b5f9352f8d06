//! An in-process business network: several nodes, one virtual clock, and
//! deterministic message delivery, so tests and the demo drive time and
//! messages step by step and never sleep.
//!
//! Each [`Network::step_until`] does exactly one thing: it advances the clock
//! to the earliest event and runs it — a message reaching its recipient
//! (sent `latency` ms earlier; messages first on ties) or a timer firing
//! (ties broken by node name, then timer id).

use crate::clock::VirtualClock;
use crate::node::{Directory, Node, NodeOptions, PluginFailure};
use crate::sandbox::PluginRuntime;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Sees (and may alter) each message as it is delivered.
pub type Tap = Box<dyn FnMut(&mut Envelope)>;

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
    nodes: BTreeMap<String, Node>,
    /// Options of every node ever added, so a node can be restarted.
    options: BTreeMap<String, NodeOptions>,
    down: BTreeSet<String>,
    /// Messages on the wire with the time each arrives, in arrival order.
    in_flight: VecDeque<(u64, Envelope)>,
    /// One-way delay of every link, in ms.
    latency_ms: u64,
    traffic: Traffic,
    failures: Vec<ObservedFailure>,
    /// Optional tap: called for every message delivered (tests use it to
    /// inspect or tamper with traffic).
    tap: Option<Tap>,
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
            in_flight: VecDeque::new(),
            latency_ms: 0,
            traffic: Traffic::default(),
            failures: Vec::new(),
            tap: None,
        }
    }

    /// Starts a node. Fails with the plugin's own message if it refuses its
    /// configuration.
    pub fn add_node(&mut self, options: NodeOptions) -> Result<()> {
        let name = options.name.clone();
        anyhow::ensure!(
            !self.nodes.contains_key(&name),
            "node {name} already exists"
        );
        let node = Node::start(
            self.runtime.clone(),
            options.clone(),
            self.clock.clone(),
            self.directory.clone(),
        )?;
        self.nodes.insert(name.clone(), node);
        self.options.insert(name.clone(), options);
        self.down.remove(&name);
        Ok(())
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
        let mut options = self
            .options
            .get(name)
            .cloned()
            .with_context(|| format!("no node {name} was ever added"))?;
        if let Some(config) = config {
            options.config = config;
        }
        options.seed = options.seed.wrapping_add(0x1000);
        self.options.remove(name);
        self.add_node(options)
    }

    /// The node called `name`.
    pub fn node(&mut self, name: &str) -> &mut Node {
        self.nodes
            .get_mut(name)
            .unwrap_or_else(|| panic!("no running node called {name}"))
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

    /// Injects a message as if `from` had sent it; it arrives after the
    /// link's latency.
    pub fn inject(&mut self, from: &str, to: &str, payload: Vec<u8>) {
        let due = self.now_ms() + self.latency_ms;
        self.in_flight.push_back((
            due,
            Envelope {
                from: from.to_string(),
                to: to.to_string(),
                payload,
            },
        ));
    }

    fn collect_outboxes(&mut self) {
        let due = self.clock.now_ms() + self.latency_ms;
        for (name, node) in self.nodes.iter_mut() {
            for m in node.take_outbox() {
                self.traffic.messages += 1;
                self.traffic.bytes += m.payload.len() as u64;
                *self
                    .traffic
                    .bytes_by_route
                    .entry((name.clone(), m.to.clone()))
                    .or_default() += m.payload.len() as u64;
                self.in_flight.push_back((
                    due,
                    Envelope {
                        from: name.clone(),
                        to: m.to,
                        payload: m.payload,
                    },
                ));
            }
        }
    }

    /// The earliest pending timer across all nodes: (due, node, id).
    fn next_timer(&self) -> Option<(u64, String, u64)> {
        self.nodes
            .iter()
            .filter_map(|(name, node)| node.next_timer().map(|(due, id)| (due, name.clone(), id)))
            .min()
    }

    /// Delivers one message or fires one timer. Returns false when nothing is
    /// left to do, or when the next event is due after `horizon_ms`.
    pub fn step_until(&mut self, horizon_ms: u64) -> bool {
        self.collect_outboxes();
        let next_message = self.in_flight.front().map(|(due, _)| *due);
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
            let (_, mut envelope) = self.in_flight.pop_front().expect("in flight");
            if let Some(tap) = self.tap.as_mut() {
                tap(&mut envelope);
            }
            match self.nodes.get_mut(&envelope.to) {
                Some(node) => {
                    if let Err(failure) = node.on_message(&envelope.from, &envelope.payload) {
                        self.failures.push(ObservedFailure {
                            node: envelope.to.clone(),
                            failure,
                        });
                    }
                }
                None => self.traffic.dropped += 1,
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
        let node = self.nodes.get_mut(&name).expect("timer of a running node");
        node.take_timer(id);
        if let Err(failure) = node.on_timer(id) {
            self.failures.push(ObservedFailure {
                node: name,
                failure,
            });
        }
        true
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
