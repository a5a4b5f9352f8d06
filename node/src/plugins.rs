//! A node's plugins: the reconciliation plugin (node.conf `plugin`) and the
//! others node.conf lists (`[[plugins]]`), each in its own sandbox — its
//! own engine, memory cap, CPU deadline, restart accounting, configuration
//! file (`plugins/config/<name>-<version>.conf`), status store and thread.
//!
//! What a plugin may reach beyond the network, timers, the clock, its name,
//! its log and its own status store is what node.conf grants it: `vault`
//! (read the node's vault) and `reconciliation` (the reconciliation
//! plugin's statuses and ScheduleReconciliationFlow, and a call when a
//! reconciliation ends). The reconciliation plugin has the vault.
//!
//! [`Plugins`] routes to them: a message to the plugin its frame names, a
//! flow to the plugin that offers it (the seven reconciliation flows to the
//! reconciliation plugin, any other by the [`Catalog`]).

use crate::runtime::{self, Event, Health, Listener, Post};
use crate::shell::{Catalog, Command};
use crate::transport::{Inbound, Outbox};
use ledger_sync_host::capabilities::{
    GRANT_RECONCILIATION, GRANT_RECORD, GRANT_RECOVERY, GRANT_VAULT, Grants,
};
use ledger_sync_host::node::PluginFailure;
use ledger_sync_host::{Node, NodeOptions, PluginRuntime, Storage};
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

/// The node's plugin threads, and where each kind of event goes.
pub struct Plugins {
    /// The reconciliation plugin's thread.
    pub reconciliation: Sender<Event>,
    /// Every other plugin's, by name.
    pub others: BTreeMap<String, Sender<Event>>,
    /// The flows the other plugins offer.
    pub catalog: Catalog,
    /// Every plugin's name, the reconciliation plugin's first: the names
    /// frames carry.
    pub names: Vec<String>,
    /// How each is doing, in the order of `names`.
    pub health: Vec<Arc<Health>>,
}

impl Plugins {
    /// Hands a message to the plugin its frame names; false when that
    /// plugin's thread has stopped (the transport counts frames for a
    /// plugin the node does not run before they get here).
    pub fn deliver(&self, inbound: Inbound) -> bool {
        let to = if self.names.first() == Some(&inbound.plugin) {
            &self.reconciliation
        } else {
            match self.others.get(&inbound.plugin) {
                Some(events) => events,
                None => return true,
            }
        };
        to.send(Event::Message(inbound)).is_ok()
    }

    /// Hands a flow call to the plugin that offers it; false when its
    /// thread has stopped.
    pub fn flow(
        &self,
        command: Command,
        reply: tokio::sync::oneshot::Sender<crate::flows::Outcome>,
    ) -> bool {
        let to = match &command {
            Command::Custom { plugin, .. } => match self.others.get(plugin) {
                Some(events) => events,
                None => return false,
            },
            _ => &self.reconciliation,
        };
        to.send(Event::Flow { command, reply }).is_ok()
    }

    /// Asks every plugin thread to stop.
    pub fn shutdown(&self) {
        let _ = self.reconciliation.send(Event::Shutdown);
        for events in self.others.values() {
            let _ = events.send(Event::Shutdown);
        }
    }
}

/// One plugin, started and waiting for its thread.
pub struct Started {
    node: Node,
    name: String,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    /// Granted `reconciliation`: told when one ends.
    listens: bool,
    pending: Arc<AtomicUsize>,
    health: Arc<Health>,
}

impl Started {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How long a plugin waits for the reconciliation plugin to answer it
/// (`reconciliation.statuses`, `reconciliation.schedule`).
const ASK_LIMIT: Duration = Duration::from_secs(30);

/// The `reconciliation` grant: answered by the reconciliation plugin's
/// thread, which never waits on another plugin (ended reconciliations are
/// sent, not awaited), so asking it cannot deadlock.
struct AskTheReconciliationPlugin(Sender<Event>);

impl AskTheReconciliationPlugin {
    fn ask<T: Send + 'static>(
        &self,
        question: impl FnOnce(&mut Node) -> Result<Result<T, FlowError>, PluginFailure> + Send + 'static,
    ) -> Result<T, FlowError> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let asked = self.0.send(Event::Read(Box::new(move |node| {
            let _ = answer.send(question(node));
        })));
        let unavailable =
            |why: String| FlowError::Storage(format!("the reconciliation plugin {why}"));
        asked.map_err(|_| unavailable("has stopped".into()))?;
        match answered.recv_timeout(ASK_LIMIT) {
            Ok(Ok(answer)) => answer,
            Ok(Err(failure)) => Err(unavailable(format!("failed: {failure}"))),
            Err(_) => Err(unavailable(format!("did not answer within {ASK_LIMIT:?}"))),
        }
    }
}

impl ledger_sync_host::capabilities::ReconciliationResults for AskTheReconciliationPlugin {
    fn statuses(&self) -> Result<Vec<ReconciliationStatus>, FlowError> {
        self.ask(|node| {
            let mut rows = match node.get_reconciliation_statuses(None, None, true)? {
                Ok(rows) => rows,
                Err(refused) => return Ok(Err(refused)),
            };
            match node.get_reconciliation_statuses(None, None, false)? {
                Ok(incoming) => rows.extend(incoming),
                Err(refused) => return Ok(Err(refused)),
            }
            Ok(Ok(rows))
        })
    }

    fn schedule(&self, parties: &[String]) -> Result<(), FlowError> {
        let parties = parties.to_vec();
        self.ask(move |node| node.schedule_reconciliation(&parties))
    }

    fn refresh(&self) -> Result<(), FlowError> {
        self.ask(|node| node.refresh_reconciliation_statuses())
    }

    fn shared_with(&self, party: &str, ids: &[u8]) -> Result<Vec<bool>, FlowError> {
        let (party, ids) = (party.to_string(), ids.to_vec());
        self.ask(move |node| node.shared_with(&party, &ids))
    }
}

impl Started {
    /// Starts `runtime` with `options` on the wall clock: the
    /// reconciliation plugin, or (through [`start_neighbour`]) another.
    pub fn start(
        runtime: Arc<PluginRuntime>,
        options: NodeOptions,
        peers: Arc<dyn ledger_sync_host::Peers>,
    ) -> Result<Started, String> {
        let name = runtime.info().name.clone();
        let listens = options.grants.reconciliation.is_some();
        let clock = Arc::new(ledger_sync_host::SystemClock);
        let node = Node::start(runtime, options, clock, peers)
            .map_err(|e| format!("the plugin {name} did not start: {e:#}"))?;
        let (events, inbox) = std::sync::mpsc::channel();
        Ok(Started {
            health: Arc::new(Health::new(&name)),
            node,
            name,
            events,
            inbox,
            listens,
            pending: Arc::default(),
        })
    }
}

/// What another plugin starts with: the reconciliation plugin's options
/// for the network and configuration, its own status store in
/// `plugins/data/<name>.db`, and what node.conf grants it.
pub struct Neighbour<'a> {
    pub runtime: Arc<PluginRuntime>,
    /// Its node.conf entry: grants and limits.
    pub plugin: &'a crate::config::OtherPlugin,
    /// What `record` and `recovery` open, if granted.
    pub recorder: Arc<dyn ledger_sync_host::capabilities::VerifiedRecorder>,
    pub recovery: Arc<dyn ledger_sync_host::capabilities::RecoveryStore>,
    /// The node's vault and the reconciliation plugin's thread.
    pub vault: Arc<dyn ledger_sync_host::capabilities::LedgerVault>,
    pub reconciliation: &'a Started,
    pub node_dir: &'a Path,
}

/// Starts another plugin beside the reconciliation plugin.
pub fn start_neighbour(
    neighbour: Neighbour<'_>,
    base: &NodeOptions,
    peers: Arc<dyn ledger_sync_host::Peers>,
) -> Result<Started, String> {
    let name = neighbour.runtime.info().name.clone();
    let data = neighbour.node_dir.join("plugins").join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let store = data.join(format!("{name}.db"));
    let statuses =
        ledger_sync_host::store::shared::DatabaseStatusStore::open(&store.as_path().into())
            .map_err(|e| format!("cannot open the status store of the plugin {name}: {e:#}"))?;
    let granted = |grant: &str| neighbour.plugin.grants.iter().any(|g| g == grant);
    let mut options = NodeOptions::new(
        &base.name,
        Storage::Provided {
            vault: neighbour.vault,
            statuses: Arc::new(statuses),
        },
    );
    options.plugin_config_dir = base.plugin_config_dir.clone();
    options.max_message_size = base.max_message_size;
    options.limits.memory_bytes = neighbour.plugin.memory_bytes;
    options.limits.call_timeout = neighbour.plugin.call_timeout;
    options.grants = Grants {
        record: granted(GRANT_RECORD).then_some(neighbour.recorder),
        recovery: granted(GRANT_RECOVERY).then_some(neighbour.recovery),
        vault: granted(GRANT_VAULT),
        reconciliation: granted(GRANT_RECONCILIATION).then(|| {
            Arc::new(AskTheReconciliationPlugin(
                neighbour.reconciliation.events.clone(),
            )) as Arc<dyn ledger_sync_host::capabilities::ReconciliationResults>
        }),
    };
    Started::start(neighbour.runtime, options, peers)
}

/// The flows every plugin but the first offers, checked against each
/// other.
pub fn catalog(others: &mut [Started]) -> Result<Catalog, String> {
    let mut catalog = Catalog::default();
    for plugin in others.iter_mut() {
        let flows = plugin
            .node
            .custom_flows()
            .map_err(|e| format!("the plugin {}: {e}", plugin.name))?;
        catalog.add(&plugin.name, flows)?;
    }
    Ok(catalog)
}

impl Plugins {
    /// The routes to `reconciliation` and `others`, before their threads
    /// run (the transport needs them to start, the threads its outbox).
    pub fn new(reconciliation: &Started, others: &[Started], catalog: Catalog) -> Plugins {
        Plugins {
            reconciliation: reconciliation.events.clone(),
            others: others
                .iter()
                .map(|p| (p.name.clone(), p.events.clone()))
                .collect(),
            catalog,
            names: std::iter::once(reconciliation.name.clone())
                .chain(others.iter().map(|p| p.name.clone()))
                .collect(),
            health: std::iter::once(reconciliation.health.clone())
                .chain(others.iter().map(|p| p.health.clone()))
                .collect(),
        }
    }
}

/// Runs each plugin on a thread of its own; returns the threads, to join
/// once [`Plugins::shutdown`] has been called.
pub fn spawn(
    reconciliation: Started,
    others: Vec<Started>,
    outbox: &Outbox,
) -> Result<Vec<std::thread::JoinHandle<()>>, String> {
    let listeners: Vec<Listener> = others
        .iter()
        .filter(|p| p.listens)
        .map(|p| Listener {
            plugin: p.name.clone(),
            events: p.events.clone(),
            pending: p.pending.clone(),
        })
        .collect();
    let mut threads = Vec::new();
    let first = std::iter::once((reconciliation, listeners));
    for (plugin, listeners) in first.chain(others.into_iter().map(|p| (p, Vec::new()))) {
        let post = Post {
            health: plugin.health.clone(),
            plugin: plugin.name.clone(),
            reconciliation: threads.is_empty(),
            outbox: outbox.clone(),
            listeners,
            pending: plugin.listens.then(|| plugin.pending.clone()),
        };
        let thread = std::thread::Builder::new()
            .name(format!("plugin {}", plugin.name))
            .spawn(move || runtime::run(plugin.node, plugin.inbox, post))
            .map_err(|e| format!("cannot start a plugin thread: {e}"))?;
        threads.push(thread);
    }
    Ok(threads)
}
