//! What the two sides of a reconciliation have in common: the key a
//! session is known by, its role, the timers it sets, and the actions it
//! returns.
//!
//! A session ([`RequesterSession`](super::requester::RequesterSession),
//! [`ResponderSession`](super::responder::ResponderSession)) is sans-IO: it
//! is fed frames, timer firings and the time, and answers with a [`Step`]
//! — what to send, which of its timers to set, what to log, and whether it
//! has ended. The [`Reconciler`](super::Reconciler) carries the step out:
//! it owns the host, the status rows, the pool and the queue.

use crate::config::Config;
use crate::host::Level;
use crate::protocol::{Body, SessionId};
use std::fmt;

/// What a session may know of the world when it is fed an event: the
/// time, the network's maximum message size, and the configuration.
pub(super) struct Context<'a> {
    pub(super) now: u64,
    pub(super) max_message: u32,
    pub(super) config: &'a Config,
}

/// A reconciliation is known by its party and its id. Incoming and outgoing
/// reconciliations are kept apart, so one id may run once each way between
/// a pair, and a request from one party can never touch another's session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct SessionKey {
    pub(super) party: String,
    pub(super) id: SessionId,
}

impl SessionKey {
    pub(super) fn new(party: &str, id: SessionId) -> Self {
        SessionKey {
            party: party.to_string(),
            id,
        }
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} with {}", self.id, self.party)
    }
}

/// Which side of a reconciliation this node is on: the requester (an
/// outgoing reconciliation, `isRequester = true` in its status row) or the
/// responder (an incoming one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Role {
    Requester,
    Responder,
}

impl Role {
    /// The seed's `isRequester`.
    pub(super) fn is_requester(self) -> bool {
        self == Role::Requester
    }
}

impl Role {
    /// The timer that paces a session of this role: a requester's retry
    /// after a busy refusal, a responder's stream.
    pub(super) fn pace_timer(self) -> SessionTimer {
        match self {
            Role::Requester => SessionTimer::Retry,
            Role::Responder => SessionTimer::Stream,
        }
    }
}

/// A running session with the two host timers the reconciler gave it.
pub(super) struct Live<S> {
    pub(super) session: S,
    pub(super) pace_timer: u64,
    pub(super) silence_timer: u64,
}

impl<S> Live<S> {
    /// The host timer behind one of the session's timers.
    pub(super) fn timer_id(&self, timer: SessionTimer) -> u64 {
        match timer {
            SessionTimer::Silence => self.silence_timer,
            SessionTimer::Stream | SessionTimer::Retry => self.pace_timer,
        }
    }
}

/// What a session's timer is for. Each session has two: its silence timer
/// and one for its pace (a requester's retry, a responder's stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SessionTimer {
    /// Send the next frame of a responder's stream.
    Stream,
    /// Ask a busy responder again.
    Retry,
    /// Check that the party is still talking to us: ask again after a short
    /// silence, give up after the inactivity timeout.
    Silence,
}

/// One thing a session asks the reconciler to do, in order.
#[derive(Debug)]
pub(super) enum Action {
    /// Send this to the party; if it cannot be sent, the session ends
    /// FAILED with the reason and the actions after it are dropped.
    Send(Body),
    /// Send this to the party, whether or not it arrives (an abort, a
    /// refusal, a repeat of something the party may have missed).
    Tell(Body),
    /// (Re)arm one of the session's timers to fire after this many ms.
    SetTimer(SessionTimer, u64),
    /// Write a line to the node's log.
    Log(Level, String),
    /// A requester stopped holding a pool slot (it is backing off): the
    /// scheduler may start a queued job.
    SlotFreed,
}

/// What a session answers one event with: its actions, and, when it has
/// ended, how.
#[derive(Debug)]
pub(super) struct Step<End> {
    pub(super) actions: Vec<Action>,
    pub(super) end: Option<End>,
}

impl<End> Default for Step<End> {
    fn default() -> Self {
        Step {
            actions: Vec::new(),
            end: None,
        }
    }
}

impl<End> Step<End> {
    /// A step that only ends the session.
    pub(super) fn ended(end: End) -> Self {
        Step {
            actions: Vec::new(),
            end: Some(end),
        }
    }

    pub(super) fn send(&mut self, body: Body) {
        self.actions.push(Action::Send(body));
    }

    pub(super) fn tell(&mut self, body: Body) {
        self.actions.push(Action::Tell(body));
    }

    pub(super) fn set_timer(&mut self, timer: SessionTimer, after_ms: u64) {
        self.actions.push(Action::SetTimer(timer, after_ms));
    }

    pub(super) fn log(&mut self, level: Level, line: String) {
        self.actions.push(Action::Log(level, line));
    }

    /// Ends the session (the first end given is kept).
    pub(super) fn end(&mut self, end: End) {
        self.end.get_or_insert(end);
    }

    /// Ends the session after telling the party why (`Abort`).
    pub(super) fn abort(&mut self, to_responder: bool, reason: String, end: End) {
        self.tell(Body::Abort {
            to_responder,
            reason,
        });
        self.end(end);
    }
}
