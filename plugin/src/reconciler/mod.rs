//! The reconciliation service: the plugin's behaviour, one concern per
//! module.
//!
//! | module             | owns                                                       |
//! | ------------------ | ---------------------------------------------------------- |
//! | this one           | the state, start-up, routing messages and timers to sessions, carrying out their actions |
//! | [`session`]        | what both sides share: the session key, roles, timers, [`session::Action`], [`session::Step`] |
//! | [`requester`]      | **the requester's state machine** (sans-IO), its phases    |
//! | [`responder`]      | **the responder's state machine** (sans-IO), its phases    |
//! | [`outgoing`]       | running requester sessions: start, route, record the outcome |
//! | [`incoming`]       | admitting requests (the request window, the pool), running responder sessions |
//! | [`scheduler`]      | the pool, the queue, recurring runs                        |
//! | [`batch_budget`]   | how many coded symbols to ask for, send and fit per message |
//! | [`sets`]           | the sets a reconciliation runs over                        |
//! | [`served_sets`]    | our set for each requester as last served, for a routine check's `Identical` |
//! | [`cursor`]         | the opaque token a responder gives for where its set stood |
//! | [`by_party`]       | values kept by party within a byte budget (the two below) |
//! | [`known_sets`]     | each party's set as last reconciled, where the next reconciliation starts |
//! | [`graph_catch_up`] | building the ledger graph and reading the vault into it    |
//! | [`flows`]          | the seven operator flows                                   |
//! | [`status_book`]    | every status row and the rules of its transitions          |
//! | [`status_rows`]    | writing rows and the saved queue to the host, retries      |
//! | [`metrics`]        | the seed's metrics                                         |
//!
//! It is event driven and never blocks. The host delivers three kinds of
//! event — a flow call, an inbound message, a timer firing — and the service
//! reacts by reading the vault, sending messages, setting timers and saving
//! statuses through [`Host`]. A reconciliation's protocol lives in its
//! session, which never touches the host: this module routes a frame or a
//! timer to the session it is for and carries out the [`session::Step`] it
//! answers with.
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
//!    A lost frame shows as a gap and is asked for again; a silence of
//!    [`resend_after_ms`] repeats the last request; the inactivity timeout
//!    ends it.
//!
//! Whatever a peer claims, what a reconciliation may cost is bounded by this
//! node's own set and configuration: a responder streams at most
//! [`batch_budget::responder_stream_limit`] symbols (and re-sends at most a
//! few times that), a requester asks for and keeps at most
//! [`batch_budget::requester_symbol_cap`].

use crate::config::{Config, format_ms};
use crate::graph::LedgerGraph;
use crate::host::{Host, Level, SendError};
use crate::protocol::{Body, DecodeError, Frame, PROTOCOL_VERSION, Refusal, SessionId};
use crate::status::StatusValue;
use hashbrown::HashMap;
use ledger_sync_vocabulary::text::bounded;
use std::collections::{BTreeMap, VecDeque};

pub use ledger_sync_vocabulary::{FlowError, marker};

mod batch_budget;
mod by_party;
mod cursor;
mod flows;
mod graph_catch_up;
mod incoming;
mod known_sets;
mod metrics;
mod outgoing;
mod requester;
mod responder;
mod scheduler;
mod served_sets;
mod session;
#[cfg(test)]
mod session_tests;
mod sets;
mod status_book;
mod status_rows;
#[cfg(test)]
mod tests;

pub use batch_budget::{SMALLEST_MAX_MESSAGE_SIZE, next_batch};
pub use known_sets::value_key as known_set_key;
use metrics::Cycle;
pub use metrics::Metrics;
use requester::RequesterSession;
use responder::{Request, ResponderEnd, ResponderSession};
use scheduler::JobQueue;
use session::{Action, Live, Role, SessionKey, SessionTimer, Step};
use status_book::StatusBook;

/// Timer ids the service sets.
mod timer {
    /// Read the next stretch of the vault into the ledger graph.
    pub const GRAPH_STEP: u64 = 1;
    /// Start queued reconciliations while the pool has room.
    pub const SCHEDULER: u64 = 2;
    /// Schedule the next recurring reconciliation.
    pub const RECURRING: u64 = 3;
    /// Write again the rows (and queue) a storage failure left unsaved.
    pub const STORE_RETRY: u64 = 4;
    /// Ids from here on belong to sessions: stream pacing, retry back-off and
    /// inactivity deadlines (see [`super::SessionTimer`]).
    pub const FIRST_SESSION: u64 = 1 << 32;
}

/// How long an outgoing reconciliation waits without progress before it
/// asks again for what it is missing (the request, or symbols from the
/// index it holds), and a responder in silence before it sends its last
/// symbol again: an eighth of the inactivity timeout, at most 10 s. Eight
/// asks per timeout, so that a loss of one in five (each round trip lost
/// about one time in three) ends a reconciliation about once in 2,500
/// rather than once in 20 (a third, until reliability round 4); and at
/// most 10 s, so that a responder with a shorter timeout than ours still
/// hears from us in time.
pub(super) fn resend_after_ms(config: &Config) -> u64 {
    (config.reconciliation_inactivity_timeout_ms / 8).min(10_000)
}

/// How many ended outgoing sessions are remembered (see
/// `Reconciler::recently_ended`).
const RECENTLY_ENDED: usize = 64;

/// Text a peer sent (an abort reason) is kept to this many bytes, escaped,
/// before it is stored or logged.
const MAX_PEER_TEXT: usize = 1024;

/// A party's undecodable messages are logged at most once per this many
/// ms and kind, the next line saying how many were left unlogged.
const UNDECODABLE_LOG_INTERVAL_MS: u64 = 60_000;

/// Messages from one party that this node could not decode.
#[derive(Default)]
struct Undecodable {
    /// How many, and when the last arrived.
    count: u64,
    last_ms: u64,
    /// What was wrong with the last one.
    last: String,
    /// Per kind: when a line was last logged, and how many arrived since
    /// without one.
    logged: HashMap<&'static str, (u64, u64)>,
}

/// Senders refused as the node itself or unknown to the network are logged
/// once each, for this many distinct names; the rest are only counted.
const MAX_STRANGERS_LOGGED: usize = 64;

/// The plugin's whole state.
pub struct Reconciler<H: Host> {
    host: H,
    config: Config,
    me: String,
    graph: LedgerGraph,
    graph_initialised: bool,
    graph_error: Option<String>,
    /// Each party's set as last reconciled: the next reconciliation with
    /// it starts from there.
    known_sets: known_sets::KnownSets,
    /// Our set for each requester as last served, with its digest.
    served: served_sets::ServedSets,
    /// Seals the cursors this node gives requesters (drawn at start).
    cursor_key: cursor::CursorKey,
    /// The protocol version each party last spoke to us (only parties on
    /// the network get here): what we send it in. A party never heard
    /// from is sent [`PROTOCOL_VERSION`] first.
    spoken: HashMap<String, u16>,
    /// Every status row; [`status_book`] owns their transitions.
    book: StatusBook,
    queue: JobQueue,
    outgoing: HashMap<SessionKey, Live<RequesterSession>>,
    incoming: HashMap<SessionKey, Live<ResponderSession>>,
    /// Session timer id → its session, role and purpose.
    session_timers: HashMap<u64, (SessionKey, Role, SessionTimer)>,
    next_timer: u64,
    /// When each incoming request answered in the current rate-limit window
    /// was accepted, and from whom (oldest first).
    accepted_requests: VecDeque<(u64, String)>,
    /// Requests in the current window per party.
    accepted_by_party: HashMap<String, u32>,
    /// Outgoing sessions that ended lately (at most [`RECENTLY_ENDED`]): the
    /// frames a responder streamed before our `Done` reached it are dropped
    /// quietly instead of each being answered.
    /// With each, whether it ended decoded (so a responder that did not
    /// hear our `Done` is told again).
    recently_ended: VecDeque<(SessionKey, bool)>,
    /// Rows (by party and side) and whether the queue failed to save: they
    /// are written again until the store takes them.
    unsaved: BTreeMap<(String, bool), ()>,
    queue_unsaved: bool,
    /// The wait before the next write retry (doubles while failing).
    store_retry_ms: u64,
    /// Senders refused as the node itself or unknown to the network, with how
    /// many messages each sent (at most [`MAX_STRANGERS_LOGGED`] names).
    strangers: HashMap<String, u64>,
    /// Undecodable messages by party (only parties on the network get
    /// here, so this is bounded by the network map).
    undecodable: HashMap<String, Undecodable>,
    /// Parties the vault names but the network map does not, that the
    /// recurring reconciliation skipped and said so (bounded by
    /// [`scheduler::MAX_OFF_MAP_LOGGED`]).
    off_map_logged: hashbrown::HashSet<String>,
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
        let cursor_key = cursor::CursorKey::kept_or_new(&mut host);
        let mut service = Reconciler {
            host,
            config,
            me,
            graph: LedgerGraph::new(salt),
            graph_initialised: false,
            graph_error: None,
            known_sets: known_sets::KnownSets::default(),
            cursor_key,
            served: served_sets::ServedSets::default(),
            spoken: HashMap::new(),
            book: StatusBook::default(),
            queue: JobQueue::from(queued),
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            session_timers: HashMap::new(),
            next_timer: timer::FIRST_SESSION,
            accepted_requests: VecDeque::new(),
            accepted_by_party: HashMap::new(),
            strangers: HashMap::new(),
            undecodable: HashMap::new(),
            off_map_logged: hashbrown::HashSet::new(),
            recently_ended: VecDeque::new(),
            unsaved: BTreeMap::new(),
            queue_unsaved: false,
            store_retry_ms: 0,
            cycle: Cycle::default(),
        };
        let reason = match restart_reason {
            Some(why) => format!("the plugin was restarted after it failed: {why}"),
            None => "node restarted while the reconciliation was in progress".to_string(),
        };
        service.recover_interrupted(rows, &reason);
        service.cycle = Cycle::from_rows(service.book.rows());
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

    /// A fresh id for an outgoing reconciliation with `party`, never one
    /// already in use with it.
    fn new_session(&mut self, party: &str) -> SessionKey {
        loop {
            let (hi, lo) = (self.host.random_u64(), self.host.random_u64());
            let key = SessionKey::new(party, SessionId::from_random(hi, lo));
            if !self.outgoing.contains_key(&key) {
                return key;
            }
        }
    }

    fn new_timer(&mut self, session: &SessionKey, role: Role, purpose: SessionTimer) -> u64 {
        let id = self.next_timer;
        self.next_timer += 1;
        self.session_timers
            .insert(id, (session.clone(), role, purpose));
        id
    }

    /// Makes the pair of timers a new session of `role` will use, and
    /// returns how to wrap the session with them.
    fn new_live<S>(
        &mut self,
        key: &SessionKey,
        role: Role,
    ) -> impl FnOnce(S) -> Live<S> + use<S, H> {
        let pace_timer = self.new_timer(key, role, role.pace_timer());
        let silence_timer = self.new_timer(key, role, SessionTimer::Silence);
        move |session| Live {
            session,
            pace_timer,
            silence_timer,
        }
    }

    /// Cancels and forgets an ended session's timers.
    fn drop_timers<S>(&mut self, live: &Live<S>) {
        for id in [live.pace_timer, live.silence_timer] {
            self.host.cancel_timer(id);
            self.session_timers.remove(&id);
        }
    }

    /// Carries out a session's actions in order. A [`Action::Send`] that
    /// fails stops there, with the reason the session ends FAILED for.
    fn carry_out(
        &mut self,
        key: &SessionKey,
        role: Role,
        actions: Vec<Action>,
    ) -> Result<(), String> {
        for action in actions {
            match action {
                Action::Send(body) => self.send(&key.party, key.id, body)?,
                Action::Tell(body) => {
                    let _ = self.send(&key.party, key.id, body);
                }
                Action::SetTimer(timer, after_ms) => {
                    let id = match role {
                        Role::Requester => self.outgoing.get(key).map(|l| l.timer_id(timer)),
                        Role::Responder => self.incoming.get(key).map(|l| l.timer_id(timer)),
                    };
                    if let Some(id) = id {
                        self.host.set_timer(id, after_ms);
                    }
                }
                Action::Log(level, line) => self.log(level, marker::RECONCILE_WITH_PARTY, &line),
                Action::SlotFreed => self.host.set_timer(timer::SCHEDULER, 0),
            }
        }
        Ok(())
    }

    /// Sends `body` to `to`, in the protocol version it last spoke to us.
    fn send(&mut self, to: &str, session: SessionId, body: Body) -> Result<(), String> {
        let protocol = self.protocol_of(to);
        let payload = Frame::in_version(protocol, session, body).encode();
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

    /// Whether a message from `sender` must be dropped unread: the host
    /// promises never to deliver our own or an unknown name, but a host may
    /// be wrong, and such a sender must not get a status row. Each such
    /// name is logged once (for a bounded number of names).
    fn is_stranger(&mut self, sender: &str) -> bool {
        let why = if sender == self.me {
            "this node's own name"
        } else if !self.host.is_network_party(sender) {
            "a party the network does not know"
        } else {
            return false;
        };
        if let Some(count) = self.strangers.get_mut(sender) {
            *count += 1;
        } else if self.strangers.len() < MAX_STRANGERS_LOGGED {
            self.strangers.insert(sender.to_string(), 1);
            let message = format!(
                "dropped a reconciliation message from {}: the sender is {why}; further \
                 messages from it are dropped without a log line",
                bounded(sender, 256)
            );
            self.log(Level::Warn, marker::RECONCILE_WITH_PARTY, &message);
        }
        true
    }

    /// Handles a payload from a peer. Nothing a peer sends can do more than
    /// end its own reconciliation.
    pub fn on_message(&mut self, sender: &str, payload: &[u8]) {
        if self.is_stranger(sender) {
            return;
        }
        let Some(frame) = self.decode(sender, payload) else {
            return;
        };
        if self.spoken.get(sender) != Some(&frame.protocol) {
            self.spoken.insert(sender.to_string(), frame.protocol);
        }
        let key = SessionKey::new(sender, frame.session);
        self.route(key, frame.body);
    }

    /// The protocol version we speak with `party`: the one it last spoke
    /// to us, or ours.
    fn protocol_of(&self, party: &str) -> u16 {
        self.spoken.get(party).copied().unwrap_or(PROTOCOL_VERSION)
    }

    /// Hands a frame's body to the session it is for (or, for a request,
    /// to admission).
    fn route(&mut self, key: SessionKey, body: Body) {
        match body {
            Body::Request {
                salt,
                until,
                digest,
                roots_bits,
                set_size,
                since,
                base,
            } => self.on_request(
                key,
                Request {
                    salt,
                    until,
                    digest,
                    roots_bits,
                    set_size,
                    since,
                    base,
                },
            ),
            Body::Identical { cursor } => {
                self.drive_outgoing(&key, |s, _, _| s.on_identical(cursor));
            }
            Body::Roots { filter } => {
                self.drive_outgoing(&key, |s, sets, cx| s.on_roots(filter, sets, cx));
            }
            Body::Symbols {
                start,
                header,
                symbols,
            } => self.on_symbols(&key, start, header, &symbols),
            Body::Want { from, until } => self.on_want(&key, from, until),
            Body::Progress { received } => {
                self.drive_incoming(&key, |s, cx| s.on_progress(received, cx));
            }
            Body::Done => {
                self.drive_incoming(&key, |_, _| Step::ended(ResponderEnd::Done));
            }
            Body::Refused(refusal) => {
                // Only a back-off draws a random number.
                let jitter = match self.outgoing.contains_key(&key) && refusal.is_busy() {
                    true => self.host.random_u64(),
                    false => 0,
                };
                self.drive_outgoing(&key, |s, sets, cx| s.on_refused(refusal, sets, jitter, cx));
            }
            Body::Abort {
                to_responder,
                reason,
            } => {
                let reason = format!("{} aborted: {}", key.party, bounded(&reason, MAX_PEER_TEXT));
                if to_responder {
                    if self.incoming.contains_key(&key) {
                        self.end_incoming(&key, StatusValue::Failed, &reason);
                    }
                } else if self.outgoing.contains_key(&key) {
                    self.fail_outgoing(&key, &reason);
                }
            }
        }
    }

    /// A peer's payload as a frame; a frame of another protocol version is
    /// answered with the version we speak, anything undecodable is counted
    /// (see [`Self::note_undecodable`]).
    fn decode(&mut self, sender: &str, payload: &[u8]) -> Option<Frame> {
        match Frame::decode(payload) {
            Ok(frame) => Some(frame),
            Err(DecodeError::UnsupportedVersion {
                session: Some(session),
                version,
            }) => {
                self.note_undecodable(
                    sender,
                    "version",
                    format!(
                        "reconciliation protocol version {version}, not {}–{PROTOCOL_VERSION}",
                        crate::protocol::OLDEST_PROTOCOL_VERSION
                    ),
                );
                let _ = self.send(
                    sender,
                    session,
                    Body::Refused(Refusal::UnsupportedProtocol {
                        supported: PROTOCOL_VERSION,
                    }),
                );
                None
            }
            Err(e) => {
                self.note_undecodable(sender, "malformed", e.to_string());
                None
            }
        }
    }

    /// Handles a timer the service set.
    pub fn on_timer(&mut self, id: u64) {
        match id {
            timer::GRAPH_STEP => self.graph_step(),
            timer::SCHEDULER => self.scheduler_tick(),
            timer::RECURRING => self.recurring_tick(),
            timer::STORE_RETRY => self.retry_unsaved(),
            id => match self.session_timers.get(&id).cloned() {
                Some((key, role, purpose)) => self.on_session_timer(&key, role, purpose),
                None => self.log(Level::Debug, "", &format!("ignored stale timer {id}")),
            },
        }
    }

    /// Hands a session's timer to the session.
    fn on_session_timer(&mut self, key: &SessionKey, role: Role, purpose: SessionTimer) {
        match (role, purpose) {
            (Role::Requester, SessionTimer::Retry) => {
                let limit = self.config.max_number_of_parallel_reconciliation_requests as usize;
                let pool_full = self.running() >= limit;
                self.drive_outgoing(key, |s, _, cx| s.on_retry_timer(pool_full, cx));
            }
            (Role::Requester, _) => {
                self.drive_outgoing(key, |s, _, cx| s.on_silence_timer(cx));
            }
            (Role::Responder, SessionTimer::Silence) => {
                let me = self.me.clone();
                self.drive_incoming(key, |s, cx| s.on_silence_timer(&me, cx));
            }
            (Role::Responder, _) => {
                self.drive_incoming(key, |s, cx| s.on_stream_timer(cx));
            }
        }
    }

    /// Counts a message from `sender` that could not be decoded, and logs
    /// it — at most once a minute per party and kind, saying how many were
    /// not logged since, so that a peer sending garbage cannot fill the log.
    fn note_undecodable(&mut self, sender: &str, kind: &'static str, why: String) {
        let now = self.host.now_ms();
        let why = bounded(&why, 256);
        let entry = self.undecodable.entry(sender.to_string()).or_default();
        entry.count += 1;
        entry.last_ms = now;
        entry.last = why.clone();
        let (logged_ms, unlogged) = entry.logged.entry(kind).or_insert((0, 0));
        if *logged_ms != 0 && now < logged_ms.saturating_add(UNDECODABLE_LOG_INTERVAL_MS) {
            *unlogged += 1;
            return;
        }
        let note = match *unlogged {
            0 => String::new(),
            n => format!(" ({n} more since the last such line were not logged)"),
        };
        *logged_ms = now.max(1);
        *unlogged = 0;
        let message =
            format!("dropped a message from {sender} this node cannot decode: {why}{note}");
        self.log(Level::Warn, marker::RECONCILE_WITH_PARTY, &message);
    }

    /// Why a reconciliation whose party has been silent for `silent_ms`
    /// ends: undecodable messages from the party meanwhile are named, since
    /// then it is up but not speaking our protocol.
    fn silence_reason(&self, party: &str, now: u64, silent_ms: u64) -> String {
        let timeout = format_ms(self.config.reconciliation_inactivity_timeout_ms);
        match self.undecodable.get(party) {
            Some(u) if u.last_ms >= now.saturating_sub(silent_ms) => format!(
                "no message this node could decode from {party} for {} ({} undecodable messages \
                 from it in all, the last: {}): the party is reachable but does not speak this \
                 node's reconciliation protocol, or is faulty (reconciliationInactivityTimeout \
                 = {timeout})",
                format_ms(silent_ms),
                u.count,
                u.last
            ),
            _ => format!(
                "no message from {party} for {}: the party may be down, unreachable or without \
                 the ledger-sync plugin (reconciliationInactivityTimeout = {timeout})",
                format_ms(silent_ms),
            ),
        }
    }
}
