//! Incoming reconciliations, as the reconciler runs them: admitting or
//! refusing a request (graph readiness, one session per party, the sliding
//! request window with a fair share per party, the pool), building our set
//! for the requester, starting a [`ResponderSession`], handing it the
//! requester's frames and its timers, carrying out its steps, and recording
//! how it ended.

use super::responder::{Answer, Coded, Request, ResponderEnd, ResponderSession, ResponderSet};
use super::session::{Context, Role, SessionKey, Step};
use super::status_book::Transition;
use super::{Reconciler, timer};
use crate::host::{Host, Level};
use crate::protocol::{Body, Refusal};
use crate::status::StatusValue;
use ledger_sync_vocabulary::marker;

impl<H: Host> Reconciler<H> {
    /// A `Request` from a party: to its running session if it repeats one,
    /// else admitted (and answered) or refused.
    pub(super) fn on_request(&mut self, key: SessionKey, request: Request) {
        let (salt, until) = (request.salt, request.until);
        if self.drive_incoming(&key, |s, cx| s.on_repeated_request(salt, until, cx)) {
            return;
        }
        if let Some(refusal) = self.admission_refusal(&key.party) {
            self.log(
                Level::Info,
                marker::RECONCILE_WITH_PARTY,
                &format!(
                    "refused a reconciliation request from {}: {refusal}",
                    key.party
                ),
            );
            let _ = self.send(&key.party, key.id, Body::Refused(refusal));
            return;
        }
        self.count_request(&key.party);
        self.begin_incoming(key, request);
    }

    /// Builds our set for the requester, records IN_PROGRESS and answers an
    /// admitted request (see [`ResponderSession::answer`]) — from the set
    /// we served it last, when the request says it holds that set
    /// ([`Self::answer_from_served`]).
    fn begin_incoming(&mut self, key: SessionKey, request: Request) {
        let Some(request) = self.answer_from_served(&key, request) else {
            return;
        };
        let since = request
            .since
            .and_then(|token| self.cursor_key.open(&key.party, token));
        let cursor_key = self.cursor_key;
        let (sets, members, position) = match self.pair_sets(&key.party).responder_sets(since) {
            Ok((ids, roots, position, members)) => (
                ResponderSet {
                    ids,
                    roots,
                    cursor: Some(cursor_key.seal(&key.party, position)),
                    coded: Coded::WholeSet,
                },
                members,
                position,
            ),
            Err(reason) => {
                let body = Body::Abort {
                    to_responder: false,
                    reason: reason.clone(),
                };
                let _ = self.send(&key.party, key.id, body);
                self.log(Level::Error, marker::RECONCILE_WITH_PARTY, &reason);
                return;
            }
        };
        let now = self.record_began_incoming(&key);
        let max_message = self.host.max_message_size();
        let cx = Context {
            now,
            max_message,
            config: &self.config,
        };
        let answer = ResponderSession::answer(key.clone(), request, sets, &cx);
        let digest = match &answer {
            Answer::Identical { digest, .. } => *digest,
            Answer::Session(session, _) => session.running_digest(),
        };
        self.served
            .keep(&key.party, members, position as usize, digest);
        self.carry_out_answer(&key, answer);
    }

    /// Sends `Identical`, or starts the session and carries out its first
    /// step.
    fn carry_out_answer(&mut self, key: &SessionKey, answer: Answer) {
        match answer {
            Answer::Identical {
                set_size, cursor, ..
            } => self.answer_identical(key, set_size, cursor, ""),
            Answer::Session(session, step) => {
                let live = self.new_live(key, Role::Responder);
                self.incoming.insert(key.clone(), live(*session));
                self.carry_out_incoming(key, step);
            }
        }
    }

    /// Answers a routine check from the set we served the requester last
    /// under the same salt, brought up to date with what the graph gained
    /// since (`served_sets`), without a pass over our set: `Identical` when
    /// the request's digest is that set's, or a stream of only what it
    /// gained since when the request's `base` is the set as we served it
    /// (protocol 7), after a filter of the roots beyond the pair among
    /// those. The request back if neither holds.
    fn answer_from_served(&mut self, key: &SessionKey, request: Request) -> Option<Request> {
        if request.digest.is_none() {
            return Some(request);
        }
        let Ok(handles) = self.pair_sets(&key.party).pair_handles() else {
            return Some(request);
        };
        let Some(served) =
            self.served
                .bring_up_to_date(&key.party, request.salt, handles, &self.graph)
        else {
            return Some(request);
        };
        let cursor = Some(self.cursor_key.seal(&key.party, self.graph.len() as u32));
        if request.digest == Some(served.digest) {
            self.record_began_incoming(key);
            let how = ", as we served it last and brought up to date";
            self.answer_identical(key, request.set_size as usize, cursor, how);
            return None;
        }
        if request.base != Some(served.served_digest) {
            return Some(request);
        }
        let set = ResponderSet {
            ids: served.gained.iter().map(|&t| self.graph.id(t)).collect(),
            roots: served.roots.iter().map(|&t| self.graph.id(t)).collect(),
            cursor,
            coded: Coded::ChangesSince {
                served_size: served.served_size,
            },
        };
        let now = self.record_began_incoming(key);
        let cx = Context {
            now,
            max_message: self.host.max_message_size(),
            config: &self.config,
        };
        let answer = ResponderSession::answer(key.clone(), request, set, &cx);
        self.carry_out_answer(key, answer);
        None
    }

    /// Records the requester's row IN_PROGRESS for session `key`, now
    /// (returned).
    fn record_began_incoming(&mut self, key: &SessionKey) -> u64 {
        let now = self.host.now_ms();
        let began = Transition::Began { session: key.id };
        self.transition_at(&key.party, Role::Responder, began, now);
        now
    }

    /// Tells the requester its set equals ours (`how` we know, for the
    /// log), and records the row.
    fn answer_identical(
        &mut self,
        key: &SessionKey,
        set_size: usize,
        cursor: Option<u64>,
        how: &str,
    ) {
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "reconciliation {key}: the requester's set equals ours{how} ({set_size} \
                 transactions); nothing to stream"
            ),
        );
        let _ = self.send(&key.party, key.id, Body::Identical { cursor });
        self.record_incoming_end(&key.party, StatusValue::DifferencesNotFound, "");
    }

    /// Why a new request from `party` is refused, if it is: the graph is
    /// not built, we already answer that party, its share of the request
    /// window is used, or the pool is full.
    fn admission_refusal(&mut self, party: &str) -> Option<Refusal> {
        if !self.graph_initialised {
            Some(Refusal::LedgerGraphNotInitialised)
        } else if self.is_responding(party) {
            Some(Refusal::AlreadyResponding)
        } else if !self.within_request_limit(party) {
            Some(Refusal::RequestLimitReached {
                allowed: self
                    .config
                    .max_allowed_reconciliation_requests_per_time_window,
                per_party: self.party_share(),
                window_ms: self.config.time_window_for_reconciliation_request_limit_ms,
            })
        } else if self.running()
            >= self.config.max_number_of_parallel_reconciliation_requests as usize
        {
            Some(Refusal::MaxIncomingSessionsExceeded)
        } else {
            None
        }
    }

    /// A party may use at most half of the request window's allowance (at
    /// least one request), so that one party cannot lock out the rest.
    fn party_share(&self) -> u32 {
        self.config
            .max_allowed_reconciliation_requests_per_time_window
            .div_ceil(2)
    }

    /// Whether one more incoming request from `party` fits the sliding
    /// window of maxAllowedReconciliationRequestsPerTimeWindow requests per
    /// timeWindowForReconciliationRequestLimit, and the party's fair share of
    /// it. A window of 0S disables the limit.
    fn within_request_limit(&mut self, party: &str) -> bool {
        let window = self.config.time_window_for_reconciliation_request_limit_ms;
        if window == 0 {
            return true;
        }
        let now = self.host.now_ms();
        while let Some((at, _)) = self.accepted_requests.front()
            && at.saturating_add(window) <= now
        {
            let (_, who) = self.accepted_requests.pop_front().expect("front exists");
            if let Some(n) = self.accepted_by_party.get_mut(&who) {
                *n -= 1;
                if *n == 0 {
                    self.accepted_by_party.remove(&who);
                }
            }
        }
        let allowed = self
            .config
            .max_allowed_reconciliation_requests_per_time_window;
        let by_party = self.accepted_by_party.get(party).copied().unwrap_or(0);
        (self.accepted_requests.len() as u64) < allowed as u64 && by_party < self.party_share()
    }

    /// Counts an accepted request in the window (nothing is kept when the
    /// limit is off).
    fn count_request(&mut self, party: &str) {
        if self.config.time_window_for_reconciliation_request_limit_ms == 0 {
            return;
        }
        let now = self.host.now_ms();
        self.accepted_requests.push_back((now, party.to_string()));
        *self.accepted_by_party.entry(party.to_string()).or_default() += 1;
    }

    /// Feeds one event to the incoming session `key` and carries out its
    /// step; false if there is no such session.
    pub(super) fn drive_incoming(
        &mut self,
        key: &SessionKey,
        event: impl FnOnce(&mut ResponderSession, &Context) -> Step<ResponderEnd>,
    ) -> bool {
        let now = self.host.now_ms();
        let max_message = self.host.max_message_size();
        let Some(live) = self.incoming.get_mut(key) else {
            return false;
        };
        let cx = Context {
            now,
            max_message,
            config: &self.config,
        };
        let step = event(&mut live.session, &cx);
        self.carry_out_incoming(key, step);
        true
    }

    fn carry_out_incoming(&mut self, key: &SessionKey, step: Step<ResponderEnd>) {
        let end = match self.carry_out(key, Role::Responder, step.actions) {
            Ok(()) => step.end,
            Err(reason) => Some(ResponderEnd::Failed(reason)),
        };
        match end {
            None => {}
            Some(ResponderEnd::Done) => {
                self.end_incoming(key, StatusValue::DifferencesNotFound, "")
            }
            Some(ResponderEnd::Failed(reason)) => {
                self.end_incoming(key, StatusValue::Failed, &reason)
            }
            Some(ResponderEnd::Silent { silent_ms }) => {
                let now = self.host.now_ms();
                let reason = self.silence_reason(&key.party, now, silent_ms);
                self.log(
                    Level::Warn,
                    marker::RECONCILE_WITH_PARTY,
                    &format!("incoming reconciliation {key} FAILED: {reason}"),
                );
                self.end_incoming(key, StatusValue::Failed, &reason);
            }
        }
    }

    /// The requester asks for symbols `[from, until)`; a session we do not
    /// run is refused as unknown, so that a requester that outlived our
    /// restart starts again.
    pub(super) fn on_want(&mut self, key: &SessionKey, from: u32, until: u32) {
        if !self.drive_incoming(key, |s, cx| s.on_want(from, until, cx)) {
            let _ = self.send(&key.party, key.id, Body::Refused(Refusal::UnknownSession));
        }
    }

    /// Forgets an incoming session and its timers.
    pub(super) fn remove_incoming(&mut self, key: &SessionKey) -> Option<ResponderSession> {
        let live = self.incoming.remove(key)?;
        self.drop_timers(&live);
        Some(live.session)
    }

    /// Ends an incoming reconciliation. The responder's row never lists ids:
    /// it is not told what the requester lacked. The requester's `Done`
    /// ends it DIFFERENCES_NOT_FOUND — nothing found for this node.
    pub(super) fn end_incoming(&mut self, key: &SessionKey, status: StatusValue, error: &str) {
        let Some(session) = self.remove_incoming(key) else {
            return;
        };
        let (sent, distinct, set_size, mappings) = session.effort();
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "incoming reconciliation {key} ended {status}: {sent} coded symbols sent \
                 ({distinct} of them distinct) over {set_size} transactions; encoding work \
                 {mappings} item mappings",
            ),
        );
        self.record_incoming_end(&key.party, status, error);
    }

    /// Records the end of the incoming reconciliation from `party` in its
    /// status row.
    fn record_incoming_end(&mut self, party: &str, status: StatusValue, error: &str) {
        self.transition(
            party,
            Role::Responder,
            Transition::Responded { status, error },
        );
        self.host.set_timer(timer::SCHEDULER, 0);
    }
}
