//! The node's plugin thread: the one place the plugin runs. Events arrive on
//! a channel — messages from the transport, flow calls from the admin API,
//! metrics reads — and wall-clock timers fire between them; after each call
//! the node's effects are carried out (messages to the outbox, timer
//! commands onto the timer table).

use crate::flows::{Outcome, execute};
use crate::shell::Command;
use crate::transport::{Inbound, Outbox};
use ledger_sync_host::Node;
use ledger_sync_vocabulary::timers::TimerTable;

use std::sync::mpsc::{Receiver, RecvTimeoutError};
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
    Shutdown,
}

/// Runs the plugin until `Shutdown` or until every sender is gone.
pub fn run(mut node: Node, events: Receiver<Event>, outbox: Outbox) {
    let mut timers: TimerTable<Instant> = TimerTable::default();
    loop {
        let now = Instant::now();
        let effects = node.take_effects();
        for command in effects.timers {
            command.apply(&mut timers, |delay| now + Duration::from_millis(delay));
        }
        for message in effects.messages {
            if !outbox.send(&message.to, message.payload) {
                tracing::debug!(target: "ledger_sync::node", "dropped a message to {}", message.to);
            }
        }
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
            Ok(Event::Shutdown) => return stop(node, &events, &outbox),
            Ok(event) => handle(&mut node, event),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Hands a message, flow call or metrics read to the node (`Shutdown` is
/// the caller's to act on).
fn handle(node: &mut Node, event: Event) {
    match event {
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
fn stop(mut node: Node, events: &Receiver<Event>, outbox: &Outbox) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(event) => handle(&mut node, event),
            Err(_) => break,
        }
    }
    for message in node.take_effects().messages {
        outbox.send(&message.to, message.payload);
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
    outbox.flush(FLUSH_LIMIT);
}
