//! The reconciliation service: the scheduler, the requester and responder
//! sides of each reconciliation, the status bookkeeping and the flows.
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
use crate::protocol::{
    Body, DecodeError, Frame, Refusal, SessionId, pack_symbols, symbols_per_message, unpack_symbols,
};
use crate::riblt::{CountMoments, Decoder, Encoder, Side};
use crate::status::{ReconciliationStatus, StatusValue};
use hashbrown::HashMap;
use std::collections::{BTreeMap, VecDeque};

pub use ledger_sync_vocabulary::{FlowError, marker};

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

/// The first retry after a MaxIncomingSessionsExceeded refusal waits about
/// this long; each further retry waits up to twice as long as the one
/// before, up to [`RETRY_MAX_MS`], with random jitter so that requesters
/// refused together do not return together.
const RETRY_BASE_MS: u64 = 1_000;
const RETRY_MAX_MS: u64 = 5 * 60_000;

/// Transactions read per graph-building step, so that start-up never holds
/// the node in one long call.
const GRAPH_STEP_TRANSACTIONS: u64 = 250_000;

/// Coded symbols in a reconciliation's first batch: enough to settle a small
/// difference in one round trip while keeping an identical pair of ledgers
/// under one kilobyte of traffic.
const FIRST_BATCH: u32 = 16;

/// Symbols needed per difference, with margin, when sizing the next batch.
/// Generous, because a stream stops as soon as the difference decodes.
const SYMBOLS_PER_DIFFERENCE: f64 = 1.6;

/// A stream frame carries about 1/32 of the symbols sent so far (at least 8),
/// so stopping a stream wastes at most ~3% of it.
const FRAME_FRACTION: u32 = 32;
const MIN_FRAME: u32 = 8;

/// The seed's metrics; mirrors the WIT `metrics-snapshot`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    pub failed_parties: Vec<String>,
    pub parties_with_difference: Vec<String>,
    pub number_of_scheduled_reconciliations: u32,
    pub number_of_reconciliations_in_progress: u32,
    pub number_of_failed_reconciliations: u32,
    pub number_of_reconciliations_with_differences: u32,
    pub number_of_reconciliations_without_differences: u32,
    pub ledger_graph_is_initialized: bool,
    pub ledger_graph_is_self_consistent: bool,
    pub ledger_graph_errors: Vec<String>,
    pub ledger_graph_transactions: u64,
}

/// An outgoing reconciliation that is running.
struct Outgoing {
    party: String,
    decoder: Decoder,
    /// Keys the responder's symbols; sent again with each retried request.
    salt: u64,
    started_ms: u64,
    /// When the party last sent us anything for this session.
    last_heard_ms: u64,
    /// Requests refused as busy so far.
    busy_refusals: u32,
    /// Waiting for the retry timer after a busy refusal: the job holds no
    /// pool slot meanwhile.
    backing_off: bool,
    retry_timer: u64,
    deadline_timer: u64,
    requester_set_size: u64,
    /// Learned from the first frame.
    responder_set_size: u64,
    /// Symbols granted to the responder so far.
    granted: u32,
    /// Batches asked for so far (the first `Request` counts as one).
    batches: u32,
    /// Moments of residual counts in the current batch.
    moments: CountMoments,
}

/// An incoming reconciliation this node is responding to.
struct Incoming {
    party: String,
    encoder: Encoder,
    batches: u32,
    /// Symbols the requester has asked for so far.
    granted: u32,
    /// Most symbols this session will ever send.
    symbol_cap: u32,
    /// The timer that paces this session's stream.
    timer: u64,
    deadline_timer: u64,
    /// When the party last sent us anything, or we last sent it a frame.
    last_heard_ms: u64,
}

/// Outcome counters for the current reconciliation cycle.
#[derive(Default)]
struct Cycle {
    failed: u32,
    with_differences: u32,
    without_differences: u32,
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
        for mut row in rows {
            if row.last_reconciliation_status == StatusValue::InProgress {
                row.last_reconciliation_status = StatusValue::Failed;
                row.last_reconciliation_error = reason.clone();
                row.last_reconciliation_time_finished = Some(service.host.now_ms());
                service.save(&row)?;
                if row.is_requester && !service.queue.contains(&row.party_name) {
                    service.queue.push_back(row.party_name.clone());
                }
            }
            service
                .statuses
                .insert((row.party_name.clone(), row.is_requester), row);
        }
        service.save_queue()?;
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

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn log(&mut self, level: Level, marker: &str, message: &str) {
        self.host.log(level, marker, message);
    }

    fn save(&mut self, row: &ReconciliationStatus) -> Result<(), String> {
        self.host.save_status(row).map_err(|e| {
            format!(
                "could not save the reconciliation status for {}: {e}",
                row.party_name
            )
        })
    }

    /// Stores a row in memory and in the status table; a storage failure is
    /// logged (the in-memory row stays authoritative until the next save).
    fn record(&mut self, row: ReconciliationStatus) {
        if let Err(e) = self.save(&row) {
            self.log(Level::Error, marker::RECONCILE_WITH_PARTY, &e);
        }
        self.statuses
            .insert((row.party_name.clone(), row.is_requester), row);
    }

    fn save_queue(&mut self) -> Result<(), String> {
        let parties: Vec<String> = self.queue.iter().cloned().collect();
        self.host
            .save_scheduled(&parties)
            .map_err(|e| format!("could not save the scheduled reconciliations: {e}"))
    }

    fn new_session(&mut self) -> SessionId {
        let (hi, lo) = (self.host.random_u64(), self.host.random_u64());
        SessionId::from_random(hi, lo)
    }

    /// Reconciliations holding a pool slot: a requester waiting to retry a
    /// busy party holds none.
    fn running(&self) -> usize {
        self.outgoing.values().filter(|j| !j.backing_off).count() + self.incoming.len()
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

    // ---------------------------------------------------------------- graph

    /// Reads vault pages into the graph; at most `budget` transactions.
    /// Returns true when the end of the vault was reached.
    fn read_vault(&mut self, budget: u64) -> Result<bool, String> {
        let page_size = self.config.transaction_reader_page_size;
        let mut read = 0u64;
        while read < budget {
            let page = self
                .host
                .read_transactions(self.graph.cursor(), page_size)
                .map_err(|e| format!("could not read the vault: {e}"))?;
            if page.is_empty() {
                return Ok(true);
            }
            if page.cursor <= self.graph.cursor() {
                return Err(format!(
                    "the vault returned a page that does not advance (cursor {} after {})",
                    page.cursor,
                    self.graph.cursor()
                ));
            }
            read += page.len() as u64;
            self.graph.ingest(&page)?;
        }
        Ok(false)
    }

    fn graph_step(&mut self) {
        match self.read_vault(GRAPH_STEP_TRANSACTIONS) {
            Ok(false) => self.host.set_timer(timer::GRAPH_STEP, 0),
            Ok(true) => {
                self.graph_initialised = true;
                let consistent = self.graph.is_self_consistent();
                let message = format!(
                    "ledger graph initialised: {} transactions, {}",
                    self.graph.len(),
                    if consistent {
                        "self-consistent".to_string()
                    } else {
                        format!("NOT self-consistent: {}", self.graph.errors().join("; "))
                    }
                );
                self.log(
                    if consistent {
                        Level::Info
                    } else {
                        Level::Error
                    },
                    "",
                    &message,
                );
                self.host.set_timer(timer::SCHEDULER, 0);
                let every = self.config.recurring_reconciliation_interval_ms;
                if every > 0 {
                    self.host.set_timer(timer::RECURRING, every);
                }
            }
            Err(e) => {
                self.log(
                    Level::Error,
                    "",
                    &format!("ledger graph initialisation failed: {e}"),
                );
                self.graph_error = Some(e);
            }
        }
    }

    /// Brings the graph up to date with transactions recorded since it was
    /// built.
    fn catch_up(&mut self) -> Result<(), String> {
        self.read_vault(u64::MAX).map(|_| ())
    }

    fn readiness(&self) -> Result<(), FlowError> {
        if !self.graph_initialised {
            return Err(FlowError::LedgerGraphNotInitialised);
        }
        if !self.graph.is_self_consistent() {
            return Err(FlowError::LedgerGraphNotSelfConsistent(self.graph.errors()));
        }
        Ok(())
    }

    /// The ids to reconcile with `party`.
    fn reconciliation_set(&mut self, party: &str) -> Result<Vec<TxId>, String> {
        self.catch_up()?;
        let handle = self
            .host
            .find_party(party)
            .map_err(|e| format!("could not look up party {party} in the vault: {e}"))?;
        let set = self.graph.reconciliation_set(handle);
        Ok(set.into_iter().map(|i| self.graph.id(i)).collect())
    }

    // ------------------------------------------------------------ scheduler

    fn scheduler_tick(&mut self) {
        if !self.graph_initialised {
            return;
        }
        let limit = self.config.max_number_of_parallel_reconciliation_requests as usize;
        let mut changed = false;
        while self.running() < limit {
            let Some(party) = self.queue.pop_front() else {
                break;
            };
            changed = true;
            self.start_outgoing(party);
        }
        if changed && let Err(e) = self.save_queue() {
            self.log(Level::Error, marker::SCHEDULE_RECONCILIATION, &e);
        }
    }

    fn start_outgoing(&mut self, party: String) {
        let session = self.new_session();
        let now = self.host.now_ms();
        let mut row = self
            .statuses
            .get(&(party.clone(), true))
            .cloned()
            .unwrap_or_else(|| ReconciliationStatus::started(&party, true, String::new(), now));
        row.state_machine_id = session.to_string();
        row.last_reconciliation_time_started = Some(now);
        row.last_reconciliation_time_finished = None;
        row.last_reconciliation_status = StatusValue::InProgress;
        row.last_reconciliation_error.clear();
        self.record(row);
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!("reconciliation {session} with {party} started"),
        );
        if let Err(reason) = self.readiness().map_err(|e| e.to_string()) {
            self.fail_outgoing_row(&party, &reason);
            return;
        }
        let ids = match self.reconciliation_set(&party) {
            Ok(ids) => ids,
            Err(reason) => {
                self.fail_outgoing_row(&party, &reason);
                return;
            }
        };
        let salt = self.host.random_u64();
        let requester_set_size = ids.len() as u64;
        let retry_timer = self.new_timer(session, SessionTimer::Retry);
        let deadline_timer = self.new_timer(session, SessionTimer::Deadline);
        self.outgoing.insert(
            session,
            Outgoing {
                party: party.clone(),
                decoder: Decoder::new(ids, salt),
                salt,
                started_ms: now,
                last_heard_ms: now,
                busy_refusals: 0,
                backing_off: false,
                retry_timer,
                deadline_timer,
                requester_set_size,
                responder_set_size: 0,
                granted: FIRST_BATCH,
                batches: 1,
                moments: CountMoments::default(),
            },
        );
        self.host.set_timer(
            deadline_timer,
            self.config.reconciliation_inactivity_timeout_ms,
        );
        self.send_request(session);
    }

    /// Sends (or sends again, after a busy refusal) an outgoing session's
    /// request.
    fn send_request(&mut self, session: SessionId) {
        let Some(job) = self.outgoing.get(&session) else {
            return;
        };
        let party = job.party.clone();
        let request = Body::Request {
            salt: job.salt,
            requester_set_size: job.requester_set_size,
            credit: FIRST_BATCH,
        };
        if let Err(reason) = self.send(&party, session, request) {
            self.fail_outgoing(session, &reason);
        }
    }

    /// The party refused our request because its pool is full: wait a
    /// growing, jittered while and ask again, until
    /// maxReconciliationRetryAttemptTimeout has passed since the job started.
    fn retry_later(&mut self, session: SessionId, refusal: &Refusal) {
        let timeout = self.config.max_reconciliation_retry_attempt_timeout_ms;
        let now = self.host.now_ms();
        let jitter = self.host.random_u64();
        let Some(job) = self.outgoing.get_mut(&session) else {
            return;
        };
        job.busy_refusals += 1;
        let attempts = job.busy_refusals;
        let deadline = job.started_ms.saturating_add(timeout);
        if now >= deadline {
            let party = job.party.clone();
            let reason = format!(
                "{party} refused: {refusal}; gave up after {attempts} attempts over {} \
                 (maxReconciliationRetryAttemptTimeout = {})",
                format_ms(now - job.started_ms),
                format_ms(timeout)
            );
            self.fail_outgoing(session, &reason);
            return;
        }
        let ceiling = RETRY_BASE_MS
            .saturating_mul(1u64 << (attempts - 1).min(20))
            .min(RETRY_MAX_MS);
        // Equal jitter: half the ceiling, plus a random part of the other half.
        let delay = (ceiling / 2 + jitter % (ceiling / 2 + 1)).min(deadline - now);
        job.backing_off = true;
        let (party, timer) = (job.party.clone(), job.retry_timer);
        self.host.set_timer(timer, delay);
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "{party} is busy ({refusal}); retry {attempts} of reconciliation {session} in {}",
                format_ms(delay)
            ),
        );
        // The slot this job held is free while it waits.
        self.host.set_timer(timer::SCHEDULER, 0);
    }

    fn on_retry_timer(&mut self, session: SessionId) {
        let limit = self.config.max_number_of_parallel_reconciliation_requests as usize;
        let pool_full = self.running() >= limit;
        let Some(job) = self.outgoing.get_mut(&session) else {
            return;
        };
        if pool_full {
            // Our own pool filled while we waited: try again shortly, without
            // counting an attempt.
            let timer = job.retry_timer;
            self.host.set_timer(timer, RETRY_BASE_MS);
            return;
        }
        job.backing_off = false;
        job.last_heard_ms = self.host.now_ms();
        self.send_request(session);
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

    /// Forgets an outgoing session and its timers.
    fn remove_outgoing(&mut self, session: SessionId) -> Option<Outgoing> {
        let job = self.outgoing.remove(&session)?;
        self.drop_timer(job.retry_timer);
        self.drop_timer(job.deadline_timer);
        Some(job)
    }

    /// Forgets an incoming session and its timers.
    fn remove_incoming(&mut self, session: SessionId) -> Option<Incoming> {
        let job = self.incoming.remove(&session)?;
        self.drop_timer(job.timer);
        self.drop_timer(job.deadline_timer);
        Some(job)
    }

    fn send(&mut self, to: &str, session: SessionId, body: Body) -> Result<(), String> {
        let payload = Frame::new(session, body).encode();
        self.host.send(to, &payload).map_err(|e| match e {
            SendError::MessageTooLarge(max) => format!(
                "MaxMessageSizeExceeded: a {}-byte reconciliation message exceeds the network's \
                 maximum message size of {max} bytes",
                payload.len()
            ),
            SendError::UnknownParty(p) => format!("party {p} is not on the network"),
            SendError::Unavailable(why) => format!("could not send to {to}: {why}"),
        })
    }

    fn fail_outgoing_row(&mut self, party: &str, reason: &str) {
        let now = self.host.now_ms();
        if let Some(mut row) = self.statuses.get(&(party.to_string(), true)).cloned() {
            row.last_reconciliation_status = StatusValue::Failed;
            row.last_reconciliation_error = reason.to_string();
            row.last_reconciliation_time_finished = Some(now);
            self.record(row);
        }
        self.cycle.failed += 1;
        self.log(
            Level::Warn,
            marker::RECONCILE_WITH_PARTY,
            &format!("reconciliation with {party} FAILED: {reason}"),
        );
        self.host.set_timer(timer::SCHEDULER, 0);
    }

    fn fail_outgoing(&mut self, session: SessionId, reason: &str) {
        if let Some(job) = self.remove_outgoing(session) {
            self.fail_outgoing_row(&job.party, reason);
        }
    }

    // ------------------------------------------------------------- messages

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

    fn on_request(
        &mut self,
        sender: &str,
        session: SessionId,
        salt: u64,
        requester_set_size: u64,
        credit: u32,
    ) {
        let refusal = if !self.graph_initialised {
            Some(Refusal::LedgerGraphNotInitialised)
        } else if self.incoming.values().any(|s| s.party == sender) {
            Some(Refusal::AlreadyResponding)
        } else if !self.within_request_limit() {
            Some(Refusal::RequestLimitReached {
                allowed: self
                    .config
                    .max_allowed_reconciliation_requests_per_time_window,
                window_ms: self.config.time_window_for_reconciliation_request_limit_ms,
            })
        } else if self.running()
            >= self.config.max_number_of_parallel_reconciliation_requests as usize
        {
            Some(Refusal::MaxIncomingSessionsExceeded)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.log(
                Level::Info,
                marker::RECONCILE_WITH_PARTY,
                &format!("refused a reconciliation request from {sender}: {refusal}"),
            );
            let _ = self.send(sender, session, Body::Refused(refusal));
            return;
        }
        self.accepted_requests.push_back(self.host.now_ms());
        let ids = match self.reconciliation_set(sender) {
            Ok(ids) => ids,
            Err(reason) => {
                let _ = self.send(
                    sender,
                    session,
                    Body::Abort {
                        reason: reason.clone(),
                    },
                );
                self.log(Level::Error, marker::RECONCILE_WITH_PARTY, &reason);
                return;
            }
        };
        let symbol_cap = useful_symbols(ids.len() as u64, requester_set_size);
        let now = self.host.now_ms();
        let mut row = self
            .statuses
            .get(&(sender.to_string(), false))
            .cloned()
            .unwrap_or_else(|| ReconciliationStatus::started(sender, false, String::new(), now));
        row.state_machine_id = session.to_string();
        row.last_reconciliation_time_started = Some(now);
        row.last_reconciliation_time_finished = None;
        row.last_reconciliation_status = StatusValue::InProgress;
        row.last_reconciliation_error.clear();
        self.record(row);
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "responding to reconciliation {session} from {sender} over {} transactions",
                ids.len()
            ),
        );
        let timer = self.new_timer(session, SessionTimer::Stream);
        let deadline_timer = self.new_timer(session, SessionTimer::Deadline);
        self.incoming.insert(
            session,
            Incoming {
                party: sender.to_string(),
                encoder: Encoder::new(ids, salt),
                batches: 0,
                granted: 0,
                symbol_cap,
                timer,
                deadline_timer,
                last_heard_ms: now,
            },
        );
        self.host.set_timer(
            deadline_timer,
            self.config.reconciliation_inactivity_timeout_ms,
        );
        self.grant(session, credit);
    }

    /// Whether one more incoming request fits the sliding window of
    /// maxAllowedReconciliationRequestsPerTimeWindow requests per
    /// timeWindowForReconciliationRequestLimit. A window of 0S disables the
    /// limit.
    fn within_request_limit(&mut self) -> bool {
        let window = self.config.time_window_for_reconciliation_request_limit_ms;
        if window == 0 {
            return true;
        }
        let now = self.host.now_ms();
        while self
            .accepted_requests
            .front()
            .is_some_and(|&t| t.saturating_add(window) <= now)
        {
            self.accepted_requests.pop_front();
        }
        self.accepted_requests.len()
            < self
                .config
                .max_allowed_reconciliation_requests_per_time_window as usize
    }

    /// The requester asks for a batch of `credit` more symbols.
    fn grant(&mut self, session: SessionId, credit: u32) {
        let max_batches = self.config.max_number_of_ibf_filter_flows;
        let Some(job) = self.incoming.get_mut(&session) else {
            return;
        };
        let party = job.party.clone();
        if job.batches >= max_batches {
            let refusal = Refusal::BatchLimitReached { max_batches };
            let _ = self.send(&party, session, Body::Refused(refusal.clone()));
            self.end_incoming(session, StatusValue::Failed, &refusal.to_string());
            return;
        }
        job.batches += 1;
        let was_streaming = job.encoder.produced() < job.granted;
        job.granted = job
            .granted
            .saturating_add(credit.max(1))
            .min(job.symbol_cap);
        if !was_streaming {
            self.stream_frame(session);
        }
    }

    /// Sends the next frame of an incoming session's stream, and paces the
    /// one after it with a timer.
    fn stream_frame(&mut self, session: SessionId) {
        let max_message = self.host.max_message_size();
        let per_message = symbols_per_message(session, max_message) as u32;
        let Some(job) = self.incoming.get_mut(&session) else {
            return;
        };
        let party = job.party.clone();
        if per_message == 0 {
            // A refusal is a few bytes, where an abort's text might not fit.
            let refusal = Refusal::MessageSizeTooSmall {
                max_message_size: max_message,
            };
            let _ = self.send(&party, session, Body::Refused(refusal.clone()));
            self.end_incoming(session, StatusValue::Failed, &refusal.to_string());
            return;
        }
        let start = job.encoder.produced();
        let left = job.granted.saturating_sub(start);
        if left == 0 {
            return;
        }
        let frame = (start / FRAME_FRACTION)
            .max(MIN_FRAME)
            .min(per_message)
            .min(left);
        let symbols = job.encoder.produce(frame);
        let body = Body::Symbols {
            start,
            responder_set_size: (start == 0).then_some(job.encoder.set_size() as u64),
            symbols: pack_symbols(&symbols),
        };
        let more = job.encoder.produced() < job.granted;
        let timer = job.timer;
        job.last_heard_ms = self.host.now_ms();
        if let Err(reason) = self.send(&party, session, body) {
            self.end_incoming(session, StatusValue::Failed, &reason);
            return;
        }
        if more {
            self.host.set_timer(timer, 0);
        }
    }

    fn on_symbols(
        &mut self,
        sender: &str,
        session: SessionId,
        start: u32,
        responder_set_size: Option<u64>,
        bytes: &[u8],
    ) {
        if !self.owns_outgoing(sender, session) {
            self.log(
                Level::Warn,
                marker::RECONCILE_WITH_PARTY,
                &format!(
                    "dropped coded symbols from {sender} for unknown reconciliation {session}"
                ),
            );
            return;
        }
        let job = self.outgoing.get_mut(&session).expect("checked above");
        let received = job.decoder.received();
        let count = (bytes.len() / crate::riblt::WIRE_SYMBOL_LEN) as u32;
        if start != received || received.saturating_add(count) > job.granted {
            let reason = format!(
                "protocol violation by {sender}: {count} coded symbols from index {start}, \
                 expected at most {} from index {received}",
                job.granted - received
            );
            let _ = self.send(
                sender,
                session,
                Body::Abort {
                    reason: reason.clone(),
                },
            );
            self.fail_outgoing(session, &reason);
            return;
        }
        job.last_heard_ms = self.host.now_ms();
        if let Some(size) = responder_set_size {
            job.responder_set_size = size;
        }
        let m = job.decoder.add_symbols(&unpack_symbols(bytes));
        job.moments = merge(job.moments, m);
        if job.decoder.is_decoded() {
            self.finish_outgoing(session);
            return;
        }
        if job.decoder.received() < job.granted {
            return;
        }
        let max_batches = self.config.max_number_of_ibf_filter_flows;
        if job.batches >= max_batches {
            let reason = format!(
                "the difference with {sender} was not decoded within {max_batches} coded-symbol \
                 batches ({} symbols; maxNumberOfIbfFilterFlows = {max_batches})",
                job.decoder.received()
            );
            let _ = self.send(
                sender,
                session,
                Body::Abort {
                    reason: reason.clone(),
                },
            );
            self.fail_outgoing(session, &reason);
            return;
        }
        let cap = useful_symbols(job.responder_set_size, job.requester_set_size);
        let credit = next_batch(
            job.decoder.received(),
            &job.moments,
            job.decoder.decoded().len(),
            max_batches - job.batches,
            cap,
        );
        job.batches += 1;
        job.granted = job.granted.saturating_add(credit);
        job.moments = CountMoments::default();
        if let Err(reason) = self.send(sender, session, Body::More { credit }) {
            self.fail_outgoing(session, &reason);
        }
    }

    fn finish_outgoing(&mut self, session: SessionId) {
        let job = self
            .remove_outgoing(session)
            .expect("finishing a running job");
        let mut missing: Vec<TxId> = job
            .decoder
            .decoded()
            .iter()
            .filter(|(_, side)| *side == Side::RemoteOnly)
            .map(|(id, _)| *id)
            .collect();
        missing.sort_unstable();
        let decoded_remote = missing.len();
        // Transactions that reached the vault while we reconciled, or that we
        // hold outside the set we reconciled, are not missing.
        match self.host.contains_transactions(&missing) {
            Ok(held) => {
                let mut held = held.into_iter();
                missing.retain(|_| !held.next().unwrap_or(false));
            }
            Err(e) => {
                let reason = format!("could not re-check the vault for the differences found: {e}");
                let _ = self.send(
                    &job.party,
                    session,
                    Body::Abort {
                        reason: reason.clone(),
                    },
                );
                self.outgoing.insert(session, job);
                self.fail_outgoing(session, &reason);
                return;
            }
        }
        let now = self.host.now_ms();
        let status = if missing.is_empty() {
            StatusValue::DifferencesNotFound
        } else {
            StatusValue::DifferencesFound
        };
        let found = missing.len() as u64;
        let mut row = self
            .statuses
            .get(&(job.party.clone(), true))
            .cloned()
            .unwrap_or_else(|| {
                ReconciliationStatus::started(&job.party, true, session.to_string(), job.started_ms)
            });
        row.last_successful_reconciliation_time_started = Some(job.started_ms);
        row.last_successful_reconciliation_time_finished = Some(now);
        row.last_successful_reconciliation_status = Some(status);
        row.last_successful_reconciliation_result = missing;
        row.last_reconciliation_time_finished = Some(now);
        row.last_reconciliation_status = status;
        row.last_reconciliation_error.clear();
        self.record(row);
        match status {
            StatusValue::DifferencesFound => self.cycle.with_differences += 1,
            _ => self.cycle.without_differences += 1,
        }
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "reconciliation {session} with {} finished: {status}, {found} transactions missing \
                 ({} decoded, {} already in the vault) after {} coded symbols in {} batches",
                job.party,
                decoded_remote,
                decoded_remote as u64 - found,
                job.decoder.received(),
                job.batches
            ),
        );
        let _ = self.send(
            &job.party,
            session,
            Body::Done {
                differences_found: found,
            },
        );
        self.host.set_timer(timer::SCHEDULER, 0);
    }

    fn on_more(&mut self, sender: &str, session: SessionId, credit: u32) {
        let now = self.host.now_ms();
        if let Some(job) = self.incoming.get_mut(&session)
            && job.party == sender
        {
            job.last_heard_ms = now;
            self.grant(session, credit);
        }
    }

    fn on_done(&mut self, sender: &str, session: SessionId, found: u64) {
        if self
            .incoming
            .get(&session)
            .is_some_and(|s| s.party == sender)
        {
            let status = if found > 0 {
                StatusValue::DifferencesFound
            } else {
                StatusValue::DifferencesNotFound
            };
            self.end_incoming(session, status, "");
        }
    }

    /// Ends an incoming reconciliation. The responder's row never lists ids:
    /// it is not told what the requester lacked.
    fn end_incoming(&mut self, session: SessionId, status: StatusValue, error: &str) {
        let Some(job) = self.remove_incoming(session) else {
            return;
        };
        let now = self.host.now_ms();
        if let Some(mut row) = self.statuses.get(&(job.party.clone(), false)).cloned() {
            if status.is_success() {
                row.last_successful_reconciliation_time_started =
                    row.last_reconciliation_time_started;
                row.last_successful_reconciliation_time_finished = Some(now);
                row.last_successful_reconciliation_status = Some(status);
            }
            row.last_reconciliation_time_finished = Some(now);
            row.last_reconciliation_status = status;
            row.last_reconciliation_error = error.to_string();
            self.record(row);
        }
        self.host.set_timer(timer::SCHEDULER, 0);
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

    /// Recurring reconciliation: schedule every known counterparty, or a
    /// random `recurringReconciliationParties` of them, then wait for the
    /// next interval. Parties already scheduled, running or reconciling with
    /// us are left alone.
    fn recurring_tick(&mut self) {
        let every = self.config.recurring_reconciliation_interval_ms;
        if every == 0 {
            return;
        }
        self.host.set_timer(timer::RECURRING, every);
        let names = match self.host.party_names(&self.graph.parties()) {
            Ok(names) => names,
            Err(e) => {
                self.log(
                    Level::Error,
                    marker::SCHEDULE_RECONCILIATION,
                    &format!("recurring reconciliation skipped: could not read party names: {e}"),
                );
                return;
            }
        };
        let mut candidates: Vec<String> = names
            .into_iter()
            .filter(|p| *p != self.me && !self.is_scheduled(p) && !self.is_responding(p))
            .collect();
        let k = self.config.recurring_reconciliation_parties as usize;
        if k > 0 && k < candidates.len() {
            // A partial Fisher-Yates shuffle picks k uniformly.
            for i in 0..k {
                let j = i + (self.host.random_u64() % (candidates.len() - i) as u64) as usize;
                candidates.swap(i, j);
            }
            candidates.truncate(k);
        }
        if candidates.is_empty() {
            return;
        }
        match self.schedule_reconciliation(&candidates) {
            Ok(()) => self.log(
                Level::Info,
                marker::SCHEDULE_RECONCILIATION,
                &format!(
                    "recurring reconciliation scheduled {} counterparties",
                    candidates.len()
                ),
            ),
            Err(e) => self.log(
                Level::Warn,
                marker::SCHEDULE_RECONCILIATION,
                &format!("recurring reconciliation skipped: {e}"),
            ),
        }
    }

    // ---------------------------------------------------------------- flows

    /// ScheduleReconciliationFlow.
    pub fn schedule_reconciliation(&mut self, parties: &[String]) -> Result<(), FlowError> {
        let result = self.check_schedule(parties);
        if let Err(e) = &result {
            let message = format!("ScheduleReconciliation refused: {e}");
            self.log(Level::Warn, marker::SCHEDULE_RECONCILIATION, &message);
            return result;
        }
        if self.queue.is_empty() && self.outgoing.is_empty() {
            // The scheduler was idle: this starts a new reconciliation cycle,
            // and the per-cycle counters describe it alone.
            self.cycle = Cycle::default();
        }
        for party in parties {
            self.queue.push_back(party.clone());
        }
        self.save_queue().map_err(FlowError::Storage)?;
        self.log(
            Level::Info,
            marker::SCHEDULE_RECONCILIATION,
            &format!("scheduled reconciliation with {}", parties.join("; ")),
        );
        self.host.set_timer(timer::SCHEDULER, 0);
        Ok(())
    }

    fn check_schedule(&self, parties: &[String]) -> Result<(), FlowError> {
        if parties.is_empty() {
            return Err(FlowError::InvalidArgument(
                "parties is empty: give at least one party's legal name, such as \
                 \"O=PartyB, L=London, C=GB\""
                    .into(),
            ));
        }
        for (i, party) in parties.iter().enumerate() {
            check_party_name(party)?;
            if parties[..i].contains(party) {
                return Err(FlowError::InvalidArgument(format!(
                    "party \"{party}\" is listed twice"
                )));
            }
            if *party == self.me {
                return Err(FlowError::SelfReconciliation(party.clone()));
            }
            if self.is_scheduled(party) {
                return Err(FlowError::ReconciliationAlreadyScheduled(party.clone()));
            }
            if self.is_responding(party) {
                return Err(FlowError::IncomingReconciliationInProgress(party.clone()));
            }
        }
        self.readiness()
    }

    fn is_scheduled(&self, party: &str) -> bool {
        self.queue.iter().any(|p| p == party) || self.outgoing.values().any(|s| s.party == party)
    }

    fn is_responding(&self, party: &str) -> bool {
        self.incoming.values().any(|s| s.party == party)
    }

    /// GetReconciliationStatusesFlow.
    pub fn get_reconciliation_statuses(
        &self,
        party: Option<&str>,
        status: Option<StatusValue>,
        is_requester: bool,
    ) -> Result<Vec<ReconciliationStatus>, FlowError> {
        if let Some(p) = party {
            check_party_name(p)?;
        }
        Ok(self
            .statuses
            .values()
            .filter(|row| row.is_requester == is_requester)
            .filter(|row| party.is_none_or(|p| row.party_name == p))
            .filter(|row| status.is_none_or(|s| row.last_reconciliation_status == s))
            .cloned()
            .collect())
    }

    /// GetReconciliationStatusForPartyFlow.
    pub fn get_reconciliation_status_for_party(
        &self,
        party: &str,
        is_requester: bool,
    ) -> Result<Option<ReconciliationStatus>, FlowError> {
        check_party_name(party)?;
        Ok(self
            .statuses
            .get(&(party.to_string(), is_requester))
            .cloned())
    }

    /// RefreshReconciliationStatusesFlow.
    pub fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError> {
        let mut refreshed = 0;
        let keys: Vec<(String, bool)> = self
            .statuses
            .iter()
            .filter(|(_, row)| !row.last_successful_reconciliation_result.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let mut row = self.statuses[&key].clone();
            let held = self
                .host
                .contains_transactions(&row.last_successful_reconciliation_result)
                .map_err(|e| FlowError::Storage(format!("could not read the vault: {e}")))?;
            let before = row.last_successful_reconciliation_result.len();
            let mut held = held.into_iter();
            row.last_successful_reconciliation_result
                .retain(|_| !held.next().unwrap_or(false));
            let after = row.last_successful_reconciliation_result.len();
            if after == before {
                continue;
            }
            if after == 0 {
                row.last_successful_reconciliation_status = Some(StatusValue::DifferencesNotFound);
                if row.last_reconciliation_status == StatusValue::DifferencesFound {
                    row.last_reconciliation_status = StatusValue::DifferencesNotFound;
                }
            }
            self.save(&row).map_err(FlowError::Storage)?;
            self.log(
                Level::Info,
                marker::REFRESH_RECONCILIATION_STATUSES,
                &format!(
                    "{}: {} of {before} missing transactions have since reached the vault",
                    row.party_name,
                    before - after
                ),
            );
            self.statuses.insert(key, row);
            refreshed += 1;
        }
        self.log(
            Level::Info,
            marker::REFRESH_RECONCILIATION_STATUSES,
            &format!("refreshed the reconciliation statuses: {refreshed} changed"),
        );
        Ok(())
    }

    /// StopReconciliationForPartyFlow.
    pub fn stop_reconciliation_for_party(&mut self, party: &str) -> Result<(), FlowError> {
        check_party_name(party)?;
        let mut stopped = false;
        let queued_before = self.queue.len();
        self.queue.retain(|p| p != party);
        if self.queue.len() != queued_before {
            self.save_queue().map_err(FlowError::Storage)?;
            stopped = true;
        }
        let sessions: Vec<(SessionId, bool)> = self
            .outgoing
            .iter()
            .filter(|(_, s)| s.party == party)
            .map(|(id, _)| (*id, true))
            .chain(
                self.incoming
                    .iter()
                    .filter(|(_, s)| s.party == party)
                    .map(|(id, _)| (*id, false)),
            )
            .collect();
        for (session, outgoing) in sessions {
            let reason = format!("{} stopped the reconciliation", self.me);
            let _ = self.send(party, session, Body::Abort { reason });
            if outgoing {
                self.remove_outgoing(session);
            } else {
                self.remove_incoming(session);
            }
            stopped = true;
        }
        let now = self.host.now_ms();
        for is_requester in [true, false] {
            let Some(mut row) = self
                .statuses
                .get(&(party.to_string(), is_requester))
                .cloned()
            else {
                continue;
            };
            if row.last_reconciliation_status == StatusValue::InProgress
                || (stopped && is_requester)
            {
                row.last_reconciliation_status = StatusValue::Stopped;
                row.last_reconciliation_time_finished = Some(now);
                self.save(&row).map_err(FlowError::Storage)?;
                self.statuses.insert((party.to_string(), is_requester), row);
                stopped = true;
            }
        }
        self.log(
            Level::Info,
            marker::STOP_RECONCILIATION_FOR_PARTY,
            &if stopped {
                format!("stopped the reconciliation with {party}")
            } else {
                format!("no reconciliation with {party} to stop")
            },
        );
        self.host.set_timer(timer::SCHEDULER, 0);
        Ok(())
    }

    /// IsReconciliationScheduledForPartyFlow.
    pub fn is_reconciliation_scheduled_for_party(&self, party: &str) -> Result<bool, FlowError> {
        check_party_name(party)?;
        Ok(self.is_scheduled(party))
    }

    /// IsRespondingToReconciliationForPartyFlow.
    pub fn is_responding_to_reconciliation_for_party(
        &self,
        party: &str,
    ) -> Result<bool, FlowError> {
        check_party_name(party)?;
        Ok(self.is_responding(party))
    }

    // -------------------------------------------------------------- metrics

    /// Every metric.
    pub fn metrics(&self) -> Metrics {
        let requester_rows = || self.statuses.values().filter(|r| r.is_requester);
        Metrics {
            failed_parties: requester_rows()
                .filter(|r| r.last_reconciliation_status == StatusValue::Failed)
                .map(|r| r.party_name.clone())
                .collect(),
            parties_with_difference: requester_rows()
                .filter(|r| {
                    r.last_successful_reconciliation_status == Some(StatusValue::DifferencesFound)
                })
                .map(|r| r.party_name.clone())
                .collect(),
            number_of_scheduled_reconciliations: self.queue.len() as u32,
            // A requester waiting to retry a busy party is still in progress.
            number_of_reconciliations_in_progress: (self.outgoing.len() + self.incoming.len())
                as u32,
            number_of_failed_reconciliations: self.cycle.failed,
            number_of_reconciliations_with_differences: self.cycle.with_differences,
            number_of_reconciliations_without_differences: self.cycle.without_differences,
            ledger_graph_is_initialized: self.graph_initialised,
            ledger_graph_is_self_consistent: self.graph_initialised
                && self.graph.is_self_consistent(),
            ledger_graph_errors: self
                .graph_error
                .iter()
                .cloned()
                .chain(self.graph.errors())
                .collect(),
            ledger_graph_transactions: self.graph.len() as u64,
        }
    }

    /// The ReconciliationStatus(party) metric: the outgoing status.
    pub fn reconciliation_status(&self, party: &str) -> Option<ReconciliationStatus> {
        self.statuses.get(&(party.to_string(), true)).cloned()
    }
}

/// The most symbols a stream between sets of these sizes can usefully carry,
/// agreed by both sides: beyond twice both sets' sizes the stream can no
/// longer help, since a difference is at most their sum and 1.35 symbols per
/// difference decode it with near certainty well before twice.
fn useful_symbols(responder_set_size: u64, requester_set_size: u64) -> u32 {
    (2 * (responder_set_size + requester_set_size) + 64).min(u32::MAX as u64) as u32
}

fn merge(a: CountMoments, b: CountMoments) -> CountMoments {
    CountMoments {
        sum: a.sum + b.sum,
        sum_sq: a.sum_sq + b.sum_sq,
        rho: a.rho + b.rho,
        rho_sq: a.rho_sq + b.rho_sq,
        max_abs: a.max_abs.max(b.max_abs),
        samples: a.samples + b.samples,
    }
}

/// How many symbols to ask for next, given what the last batch showed.
///
/// While residual counts may have wrapped (the difference is large compared
/// with the symbols seen) the credit quadruples. Once they are readable, the
/// moments estimate the undecoded difference and the credit reaches past the
/// symbols that should decode it, with margin: the stream stops when the
/// difference decodes, so a generous credit costs round trips nothing and
/// bytes at most one frame. The last allowed batch asks for everything that
/// could still help.
pub fn next_batch(
    received: u32,
    moments: &CountMoments,
    decoded: usize,
    batches_left: u32,
    cap: u32,
) -> u32 {
    let remaining = cap.saturating_sub(received).max(1);
    if batches_left <= 1 {
        return remaining;
    }
    let want = if moments.saturated() {
        received.saturating_mul(4)
    } else {
        let difference = moments.estimate() + decoded as f64;
        let target = (difference * SYMBOLS_PER_DIFFERENCE).ceil() as u64 + 4;
        let step = (target.saturating_sub(received as u64)).max(received as u64 + 4);
        step.min(u32::MAX as u64) as u32
    };
    want.clamp(1, remaining)
}

fn check_party_name(party: &str) -> Result<(), FlowError> {
    if party.trim().is_empty() {
        return Err(FlowError::InvalidArgument(
            "a party must be named by its legal name, such as \"O=PartyB, L=London, C=GB\"; \
             an empty name was given"
                .into(),
        ));
    }
    if party.len() > 1024 {
        return Err(FlowError::InvalidArgument(format!(
            "a party's legal name is at most 1024 bytes; {} were given",
            party.len()
        )));
    }
    Ok(())
}
