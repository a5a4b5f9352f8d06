//! The reconciliation service: the plugin's behaviour, one concern per
//! module.
//!
//! | module             | owns                                                       |
//! | ------------------ | ---------------------------------------------------------- |
//! | this one           | the state, start-up, dispatching messages and timers, session timers and inactivity deadlines |
//! | [`scheduler`]      | the pool, the queue, busy back-off, recurring runs         |
//! | [`requester`]      | our outgoing reconciliations                               |
//! | [`responder`]      | incoming reconciliations, the request window, streaming    |
//! | [`batch_budget`]   | how many coded symbols to ask for, send and fit per message |
//! | [`flows`]          | the seven operator flows                                   |
//! | [`status_rows`]    | CR_RECONCILIATION_STATUS rows and the saved queue          |
//! | [`graph_catch_up`] | building and catching up the ledger graph; the sets        |
//! | [`metrics`]        | the seed's metrics                                         |
//!
//! It is event driven and never blocks. The host delivers three kinds of
//! event — a flow call, an inbound message, a timer firing — and the service
//! reacts by reading the vault, sending messages, setting timers and saving
//! statuses through [`Host`].
//!
//! Life of an outgoing reconciliation:
//! 1. `schedule_reconciliation` checks the request and queues the party.
//! 2. The scheduler tick starts queued jobs while the pool has room: it
//!    catches the ledger graph up with the vault, builds the set to reconcile
//!    (transactions involving the party plus back-chains), records
//!    IN_PROGRESS and sends a `Request`.
//! 3. Coded symbols arrive in batches and are peeled; the requester asks for
//!    more until decoded, then re-checks the vault for ids that arrived in
//!    the meantime and records DIFFERENCES_FOUND or DIFFERENCES_NOT_FOUND.

use crate::config::{Config, format_ms};
use crate::graph::LedgerGraph;
use crate::host::{Host, Level, SendError};
use crate::id::TxId;
use crate::protocol::{Body, DecodeError, Frame, Refusal, SessionId, pack_symbols, unpack_symbols};
use crate::riblt::{CountMoments, Decoder, Encoder, Side};
use crate::status::{ReconciliationStatus, StatusValue};
use hashbrown::HashMap;
use std::collections::{BTreeMap, VecDeque};

pub use ledger_sync_vocabulary::{FlowError, marker};

mod batch_budget;
mod flows;
mod graph_catch_up;
mod metrics;
mod requester;
mod responder;
mod scheduler;
mod status_rows;
#[cfg(test)]
mod tests;

pub use batch_budget::next_batch;
use batch_budget::*;
use metrics::Cycle;
pub use metrics::Metrics;
use requester::Outgoing;
use responder::Incoming;

/// Timer ids the service sets.
mod timer {
    /// Read the next stretch of the vault into the ledger graph.
    pub const GRAPH_STEP: u64 = 1;
    /// Start queued reconciliations while the pool has room.
    pub const SCHEDULER: u64 = 2;
    /// Schedule the next recurring reconciliation.
    pub const RECURRING: u64 = 3;
    /// Ids from here on belong to sessions: stream pacing, retry back-off and
    /// inactivity deadlines (see [`super::SessionTimer`]).
    pub const FIRST_SESSION: u64 = 1 << 32;
}

/// What a session's timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionTimer {
    /// Send the next frame of an incoming session's stream.
    Stream,
    /// Ask a busy responder again.
    Retry,
    /// Check that the party is still talking to us.
    Deadline,
}

/// The plugin's whole state.
pub struct Reconciler<H: Host> {
    host: H,
    config: Config,
    me: String,
    graph: LedgerGraph,
    graph_initialised: bool,
    graph_error: Option<String>,
    statuses: BTreeMap<(String, bool), ReconciliationStatus>,
    queue: VecDeque<String>,
    outgoing: HashMap<SessionId, Outgoing>,
    incoming: HashMap<SessionId, Incoming>,
    /// Session timer id → its session and purpose.
    session_timers: HashMap<u64, (SessionId, SessionTimer)>,
    next_timer: u64,
    /// When each incoming request answered in the current rate-limit window
    /// was accepted (oldest first).
    accepted_requests: VecDeque<u64>,
    cycle: Cycle,
}

impl<H: Host> Reconciler<H> {
    /// Starts the service: parses the configuration, loads the statuses and
    /// the saved queue, and begins building the ledger graph.
    ///
    /// `restart_reason` is set when the host restarted the plugin after it
    /// trapped; reconciliations recorded IN_PROGRESS are recorded FAILED with
    /// it (or with "node restarted" when the node itself restarted) and
    /// outgoing ones are queued again.
    pub fn start(
        mut host: H,
        config_text: &str,
        restart_reason: Option<&str>,
    ) -> Result<Self, String> {
        let config = Config::parse(config_text).map_err(|e| e.0)?;
        let me = host.our_name();
        let salt = host.random_u64();
        let rows = host
            .load_statuses()
            .map_err(|e| format!("could not load CR_RECONCILIATION_STATUS: {e}"))?;
        let queued = host
            .load_scheduled()
            .map_err(|e| format!("could not load the scheduled reconciliations: {e}"))?;
        let mut service = Reconciler {
            host,
            config,
            me,
            graph: LedgerGraph::new(salt),
            graph_initialised: false,
            graph_error: None,
            statuses: BTreeMap::new(),
            queue: queued.into_iter().collect(),
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            session_timers: HashMap::new(),
            next_timer: timer::FIRST_SESSION,
            accepted_requests: VecDeque::new(),
            cycle: Cycle::default(),
        };
        let reason = match restart_reason {
            Some(why) => format!("the plugin was restarted after it failed: {why}"),
            None => "node restarted while the reconciliation was in progress".to_string(),
        };
        service.recover_interrupted(rows, &reason)?;
        service.host.set_timer(timer::GRAPH_STEP, 0);
        service.log(
            Level::Info,
            "",
            &format!(
                "ledger-sync started as {}; building the ledger graph ({} reconciliations queued)",
                service.me,
                service.queue.len()
            ),
        );
        Ok(service)
    }

    /// The host, for adapters and tests.
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// The host, for adapters and tests.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// Ends the service, giving its host back (what a restart keeps).
    pub fn into_host(self) -> H {
        self.host
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn log(&mut self, level: Level, marker: &str, message: &str) {
        self.host.log(level, marker, message);
    }

    fn new_session(&mut self) -> SessionId {
        let (hi, lo) = (self.host.random_u64(), self.host.random_u64());
        SessionId::from_random(hi, lo)
    }

    fn new_timer(&mut self, session: SessionId, purpose: SessionTimer) -> u64 {
        let id = self.next_timer;
        self.next_timer += 1;
        self.session_timers.insert(id, (session, purpose));
        id
    }

    fn drop_timer(&mut self, id: u64) {
        self.host.cancel_timer(id);
        self.session_timers.remove(&id);
    }

    fn send(&mut self, to: &str, session: SessionId, body: Body) -> Result<(), String> {
        let payload = Frame::new(session, body).encode();
        self.host.send(to, &payload).map_err(|e| match e {
            SendError::MessageTooLarge(max) => format!(
                "MaxMessageSizeExceededException: a {}-byte reconciliation message exceeds the network's \
                 maximum message size of {max} bytes",
                payload.len()
            ),
            SendError::UnknownParty(p) => format!("party {p} is not on the network"),
            SendError::Unavailable(why) => format!("could not send to {to}: {why}"),
        })
    }

    /// Handles a payload from a peer. Nothing a peer sends can do more than
    /// end its own reconciliation.
    pub fn on_message(&mut self, sender: &str, payload: &[u8]) {
        let frame = match Frame::decode(payload) {
            Ok(frame) => frame,
            Err(DecodeError::UnsupportedVersion {
                session: Some(session),
                version,
            }) => {
                self.log(
                    Level::Warn,
                    marker::RECONCILE_WITH_PARTY,
                    &format!("{sender} speaks reconciliation protocol version {version}; refused"),
                );
                let _ = self.send(
                    sender,
                    session,
                    Body::Refused(Refusal::UnsupportedProtocol {
                        supported: crate::protocol::PROTOCOL_VERSION,
                    }),
                );
                return;
            }
            Err(e) => {
                self.log(
                    Level::Warn,
                    marker::RECONCILE_WITH_PARTY,
                    &format!("dropped a message from {sender}: {e}"),
                );
                return;
            }
        };
        let session = frame.session;
        match frame.body {
            Body::Request {
                salt,
                requester_set_size,
                credit,
            } => self.on_request(sender, session, salt, requester_set_size, credit),
            Body::Symbols {
                start,
                responder_set_size,
                symbols,
            } => self.on_symbols(sender, session, start, responder_set_size, &symbols),
            Body::More { credit } => self.on_more(sender, session, credit),
            Body::Done { differences_found } => self.on_done(sender, session, differences_found),
            Body::Refused(refusal) => {
                if !self.owns_outgoing(sender, session) {
                    return;
                }
                if refusal.is_busy() {
                    self.retry_later(session, &refusal);
                } else {
                    self.fail_outgoing(session, &format!("{sender} refused: {refusal}"));
                }
            }
            Body::Abort { reason } => {
                if self.owns_outgoing(sender, session) {
                    self.fail_outgoing(session, &format!("{sender} aborted: {reason}"));
                } else if self
                    .incoming
                    .get(&session)
                    .is_some_and(|s| s.party == sender)
                {
                    self.end_incoming(
                        session,
                        StatusValue::Failed,
                        &format!("{sender} aborted: {reason}"),
                    );
                }
            }
        }
    }

    fn owns_outgoing(&self, sender: &str, session: SessionId) -> bool {
        self.outgoing
            .get(&session)
            .is_some_and(|s| s.party == sender)
    }

    /// Handles a timer the service set.
    pub fn on_timer(&mut self, id: u64) {
        match id {
            timer::GRAPH_STEP => self.graph_step(),
            timer::SCHEDULER => self.scheduler_tick(),
            timer::RECURRING => self.recurring_tick(),
            id => match self.session_timers.get(&id).copied() {
                Some((session, SessionTimer::Stream)) => self.stream_frame(session),
                Some((session, SessionTimer::Retry)) => self.on_retry_timer(session),
                Some((session, SessionTimer::Deadline)) => self.on_deadline_timer(session),
                None => self.log(Level::Debug, "", &format!("ignored stale timer {id}")),
            },
        }
    }

    /// An inactivity deadline fired: end the session if its party has been
    /// silent for the whole timeout, otherwise check again when it could be.
    fn on_deadline_timer(&mut self, session: SessionId) {
        let timeout = self.config.reconciliation_inactivity_timeout_ms;
        let now = self.host.now_ms();
        let (party, last_heard, timer, outgoing) = if let Some(job) = self.outgoing.get(&session) {
            // A job waiting to retry is not expecting to hear anything.
            let heard = if job.backing_off {
                now
            } else {
                job.last_heard_ms
            };
            (job.party.clone(), heard, job.deadline_timer, true)
        } else if let Some(job) = self.incoming.get(&session) {
            (
                job.party.clone(),
                job.last_heard_ms,
                job.deadline_timer,
                false,
            )
        } else {
            return;
        };
        let due = last_heard.saturating_add(timeout);
        if now < due {
            self.host.set_timer(timer, due - now);
            return;
        }
        let reason = format!(
            "no message from {party} for {}: the party may be down, unreachable or without the \
             ledger-sync plugin (reconciliationInactivityTimeout = {})",
            format_ms(now - last_heard),
            format_ms(timeout)
        );
        let _ = self.send(
            &party,
            session,
            Body::Abort {
                reason: format!("{} timed out waiting for {party}", self.me),
            },
        );
        if outgoing {
            self.fail_outgoing(session, &reason);
        } else {
            self.log(
                Level::Warn,
                marker::RECONCILE_WITH_PARTY,
                &format!("incoming reconciliation {session} FAILED: {reason}"),
            );
            self.end_incoming(session, StatusValue::Failed, &reason);
        }
    }
}
