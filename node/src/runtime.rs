//! A plugin's thread: the one place that plugin runs. Each plugin of a node
//! has its own (see [`crate::plugins`]), so a plugin that traps, spins to
//! its CPU deadline or is flooded holds up only itself. Events arrive on a
//! channel — messages from the transport, flow calls from the admin API,
//! metrics reads, ended reconciliations — and wall-clock timers fire
//! between them; after each call the node's effects are carried out
//! (messages to the outbox under the plugin's name, timer commands onto the
//! timer table, ended reconciliations to the plugins granted them).

use crate::flows::{Outcome, execute};
use crate::shell::Command;
use crate::transport::{Inbound, Outbox};
use ledger_sync_host::Node;
use ledger_sync_vocabulary::ReconciliationStatus;
use ledger_sync_vocabulary::timers::TimerTable;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What the plugin thread is asked to do.
pub enum Event {
    Message(Inbound),
    Flow {
        command: Command,
        reply: oneshot::Sender<Outcome>,
    },
    /// Runs `read` on the node (metrics) and sends back what it returns.
    Read(Box<dyn FnOnce(&mut Node) + Send>),
    /// The reconciliation plugin ended an outgoing reconciliation (for a
    /// plugin granted `reconciliation`).
    ReconciliationEnded(ReconciliationStatus),
    Shutdown,
}

/// A plugin granted `reconciliation`, to be told when one ends.
#[derive(Clone)]
pub struct Listener {
    pub plugin: String,
    pub events: Sender<Event>,
    /// Notifications sent and not yet handled: at most [`MAX_PENDING_ENDED`].
    pub pending: Arc<AtomicUsize>,
}

/// Ended reconciliations one listener may have waiting; past it the
/// newest are dropped and logged (the listener reads the statuses).
pub const MAX_PENDING_ENDED: usize = 1024;

/// How a plugin is doing, kept by its thread after every event and read
/// by the metrics page without asking the thread (a plugin that spins to
/// its deadline holds up no scrape).
#[derive(Debug, Default)]
pub struct Health {
    pub plugin: String,
    /// Instances replaced after a trap.
    pub restarts: std::sync::atomic::AtomicU64,
    /// Whether it runs (false once it trapped too often to restart).
    pub up: std::sync::atomic::AtomicBool,
    /// Its linear memory.
    pub memory_bytes: std::sync::atomic::AtomicU64,
    /// Events it was handed: messages, flow calls, reads, notifications.
    pub events: std::sync::atomic::AtomicU64,
}

impl Health {
    pub fn new(plugin: &str) -> Health {
        Health {
            plugin: plugin.to_string(),
            ..Health::default()
        }
    }

    fn update(&self, node: &Node) {
        self.restarts
            .store(u64::from(node.restarts()), Ordering::Relaxed);
        self.up.store(node.dead().is_none(), Ordering::Relaxed);
        self.memory_bytes
            .store(node.memory_bytes() as u64, Ordering::Relaxed);
    }
}

/// Where a plugin thread's effects go.
pub struct Post {
    /// Kept up to date after every event.
    pub health: Arc<Health>,
    /// The plugin's name, which its messages carry.
    pub plugin: String,
    /// Whether it is the node's reconciliation plugin (node.conf `plugin`).
    pub reconciliation: bool,
    pub outbox: Outbox,
    /// The plugins told when a reconciliation ends (only the reconciliation
    /// plugin ends any).
    pub listeners: Vec<Listener>,
    /// This thread's own count of waiting notifications, if it listens.
    pub pending: Option<Arc<AtomicUsize>>,
}

impl Post {
    fn tell(&self, ended: Vec<ReconciliationStatus>) {
        for row in ended {
            for listener in &self.listeners {
                if listener.pending.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING_ENDED {
                    listener.pending.fetch_sub(1, Ordering::SeqCst);
                    tracing::warn!(target: "ledger_sync::node", "the plugin {} has {MAX_PENDING_ENDED} ended reconciliations waiting; the end with {} was not passed on", listener.plugin, row.party_name);
                    continue;
                }
                let sent = listener
                    .events
                    .send(Event::ReconciliationEnded(row.clone()));
                if sent.is_err() {
                    listener.pending.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Runs the plugin until `Shutdown` or until every sender is gone.
pub fn run(mut node: Node, events: Receiver<Event>, post: Post) {
    let mut timers: TimerTable<Instant> = TimerTable::default();
    loop {
        let now = Instant::now();
        let effects = node.take_effects();
        for command in effects.timers {
            command.apply(&mut timers, |delay| now + Duration::from_millis(delay));
        }
        for message in effects.messages {
            if !post.outbox.send(&message.to, &post.plugin, message.payload) {
                tracing::debug!(target: "ledger_sync::node", "dropped a message of {} to {}", post.plugin, message.to);
            }
        }
        post.tell(effects.ended);
        post.health.update(&node);
        if let Some(id) = timers.pop_due(now) {
            if let Err(failure) = node.on_timer(id) {
                tracing::error!(target: "ledger_sync::node", "{failure}");
            }
            continue;
        }
        let wait = timers
            .next()
            .map(|(due, _)| due)
            .map_or(Duration::from_secs(3600), |due| {
                due.saturating_duration_since(now)
            });
        match events.recv_timeout(wait) {
            Ok(Event::Shutdown) => return stop(node, &events, &post),
            Ok(event) => {
                post.health.events.fetch_add(1, Ordering::Relaxed);
                handle(&mut node, event, &post)
            }
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Hands a message, flow call, metrics read or ended reconciliation to the
/// node (`Shutdown` is the caller's to act on).
fn handle(node: &mut Node, event: Event, post: &Post) {
    match event {
        Event::ReconciliationEnded(row) => {
            if let Some(pending) = &post.pending {
                pending.fetch_sub(1, Ordering::SeqCst);
            }
            if let Err(failure) = node.reconciliation_ended(&row) {
                tracing::error!(target: "ledger_sync::node", "{failure}");
            }
        }
        Event::Message(inbound) => {
            if let Err(failure) = node.on_message(&inbound.from, &inbound.payload) {
                tracing::error!(target: "ledger_sync::node", "{failure}");
            }
        }
        Event::Flow { command, reply } => {
            let _ = reply.send(execute(node, command));
        }
        Event::Read(read) => read(node),
        Event::Shutdown => {}
    }
}

/// How long a stopping node keeps handling what already arrived, and then
/// how long it gives its last messages to leave.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// A graceful stop. The transport has stopped handing over messages; what
/// already arrived (messages, flow calls) is still handled, within
/// `DRAIN_LIMIT`, so nothing a peer or the operator was told was accepted
/// is dropped unseen. The plugin has recorded every step in the database as
/// it went (status rows, the queue); the node says what it leaves in
/// progress, which resumes when it starts again, and gives the messages the
/// plugin sent last up to `FLUSH_LIMIT` to reach their peers.
fn stop(mut node: Node, events: &Receiver<Event>, post: &Post) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(event) => handle(&mut node, event, post),
            Err(_) => break,
        }
    }
    for message in node.take_effects().messages {
        post.outbox.send(&message.to, &post.plugin, message.payload);
    }
    if !post.reconciliation {
        // Only the reconciliation plugin has reconciliations to report.
        post.outbox.flush(FLUSH_LIMIT);
        println!("{}: the plugin {} stopped", node.name(), post.plugin);
        return;
    }
    match node.metrics() {
        Ok(m) => {
            let line = format!(
                "{} stopping: {} reconciliation(s) in progress and {} scheduled are recorded in \
                 {}; they resume when the node starts again",
                node.name(),
                m.number_of_reconciliations_in_progress,
                m.number_of_scheduled_reconciliations,
                node.storage()
            );
            tracing::info!(target: "ledger_sync::node", "{line}");
            println!("{line}");
        }
        Err(failure) => tracing::error!(target: "ledger_sync::node", "stopping: {failure}"),
    }
    post.outbox.flush(FLUSH_LIMIT);
}
