//! The responder's side of a reconciliation: it admits or refuses a
//! request (graph readiness, one session per party, the sliding request
//! window with a fair share per party, the pool), builds its set for the
//! requester, and streams coded symbols in paced frames over the range the
//! requester asks for — again, from any index, when the requester lost some.
//!
//! What it may cost is bounded by our own set and configuration, never by
//! what the requester claims: the stream stops at [`responder_stream_limit`],
//! re-sending at [`resend_budget`], batches at `maxNumberOfIbfFilterFlows`.

use super::batch_budget::{
    frame_size, in_flight_window, resend_budget, responder_stream_limit, symbols_per_message,
};
use super::status_book::Transition;
use super::{Reconciler, SessionKey, SessionTimer, resend_after_ms, timer};
use crate::host::{Host, Level};
use crate::protocol::{Body, Refusal, StreamHeader, pack_symbols};
use crate::riblt::Encoder;
use crate::root_filter::RootFilter;
use crate::status::StatusValue;
use ledger_sync_vocabulary::marker;

/// What a requester's `Request` asks for (see [`Body::Request`]).
pub(super) struct Request {
    pub(super) salt: u64,
    pub(super) until: u32,
    pub(super) digest: Option<u64>,
    pub(super) roots_bits: u8,
    pub(super) set_size: u64,
}

/// An incoming reconciliation this node is responding to.
pub(super) struct Incoming {
    pub(super) encoder: Encoder,
    /// The requester's salt: a repeated request with it is the same request.
    pub(super) salt: u64,
    pub(super) batches: u32,
    /// End of the symbols the requester has asked for so far (credit).
    pub(super) granted: u32,
    /// The furthest index the requester said it received (`Progress`, a
    /// `Want`'s `from`): the stream runs at most
    /// [`in_flight_window`] past it (flow control).
    pub(super) acked: u32,
    /// When we last sent our last symbol again to a silent requester.
    pub(super) nudged_ms: u64,
    /// Symbols the stream needs whatever the requester reports: the two
    /// sets differ by at least their sizes' difference, so up to that many
    /// (and never more than our own set, whatever the requester claims) the
    /// window does not wait for `Progress` (credit still applies).
    pub(super) surely_needed: u32,
    /// Most symbols this session streams (before any re-sending).
    pub(super) stream_limit: u32,
    /// Symbols sent in all, re-sent ones included.
    pub(super) sent: u64,
    /// The timer that paces this session's stream.
    pub(super) timer: u64,
    pub(super) silence_timer: u64,
    /// When the party last sent us anything, or we last sent it a frame.
    pub(super) last_heard_ms: u64,
    /// The `Roots` answer sent instead of the first symbols, kept to send
    /// again if the request is repeated before the requester's `Want`.
    pub(super) roots: Option<Body>,
}

/// Bytes of a `Roots` frame besides its filter's data: version, session
/// id, tag, digest and the filter's count, width and length, at their
/// widest.
const ROOTS_FRAME_OVERHEAD: usize = 64;

/// Where an incoming reconciliation is in the protocol (read off the
/// session by [`Incoming::phase`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Our roots filter went instead of the first symbols; the stream waits
    /// for the requester's `Want`. A repeated request gets the roots again.
    RootsSent,
    /// Streaming what the requester's credit and the window allow; a
    /// repeated request asks for the stream again from its start.
    Streaming,
}

impl Incoming {
    /// This session's phase.
    pub(super) fn phase(&self) -> Phase {
        if self.roots.is_some() && self.granted == 0 {
            Phase::RootsSent
        } else {
            Phase::Streaming
        }
    }

    /// How far the stream may run now: a window past what the requester
    /// reported, or what the stream surely needs, whichever is further.
    fn window_end(&self) -> u32 {
        self.acked
            .saturating_add(in_flight_window(self.acked))
            .max(self.surely_needed)
    }
}

impl<H: Host> Reconciler<H> {
    pub(super) fn on_request(&mut self, key: SessionKey, request: Request) {
        if self.incoming.contains_key(&key) {
            self.on_repeated_request(&key, request.salt, request.until);
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

    /// Builds our set for the requester and answers an admitted request:
    /// `Identical` when its digest says it holds our set, else our roots
    /// filter (when it has candidates and we have roots beyond the pair) or
    /// the first symbols.
    fn begin_incoming(&mut self, key: SessionKey, request: Request) {
        let Request {
            salt,
            until,
            digest,
            roots_bits,
            set_size,
        } = request;
        let (ids, roots) = match self.responder_sets(&key.party) {
            Ok(sets) => sets,
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
        let stream_limit = responder_stream_limit(
            ids.len() as u64,
            set_size,
            self.config.max_reconciliation_differences,
        );
        let now = self.host.now_ms();
        self.transition_at(
            &key.party,
            false,
            Transition::Began { session: key.id },
            now,
        );
        let encoder = Encoder::new(ids, salt);
        if digest == Some(encoder.digest()) {
            self.answer_identical(&key, encoder.set_size());
            return;
        }
        let roots = self.roots_answer(&roots, salt, roots_bits);
        let first = match &roots {
            Some(Body::Roots { filter, .. }) => format!(
                ", first sending {} roots beyond the pair in {} bytes",
                filter.count,
                filter.data.len()
            ),
            _ => String::new(),
        };
        let line = format!(
            "responding to reconciliation {key} over {} transactions (at most {stream_limit} \
             coded symbols){first}",
            encoder.set_size()
        );
        self.log(Level::Info, marker::RECONCILE_WITH_PARTY, &line);
        // The sets differ by at least their sizes' difference, but the
        // requester's size is only its claim: what it can make us stream
        // unasked stays within our own set.
        let own = encoder.set_size() as u64;
        // After a roots filter the requester's set grows by the roots it
        // holds, so its claimed size (taken before) says nothing then.
        let surely_needed = if roots.is_some() {
            0
        } else {
            own.abs_diff(set_size).min(own).min(stream_limit as u64) as u32
        };
        let timer = self.new_timer(&key, SessionTimer::Stream);
        let silence_timer = self.new_timer(&key, SessionTimer::Silence { outgoing: false });
        let session = Incoming {
            encoder,
            salt,
            batches: 0,
            granted: 0,
            acked: 0,
            nudged_ms: now,
            surely_needed,
            stream_limit,
            sent: 0,
            timer,
            silence_timer,
            last_heard_ms: now,
            roots: roots.clone(),
        };
        self.incoming.insert(key.clone(), session);
        self.host
            .set_timer(silence_timer, resend_after_ms(&self.config));
        match roots {
            // The stream waits for the requester's `Want`.
            Some(roots) => {
                if let Err(reason) = self.send(&key.party, key.id, roots) {
                    self.end_incoming(&key, StatusValue::Failed, &reason);
                }
            }
            None => self.on_want(&key, 0, until),
        }
    }

    /// The requester holds exactly our set (`set_size` transactions):
    /// nothing to stream.
    fn answer_identical(&mut self, key: &SessionKey, set_size: usize) {
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "reconciliation {key}: the requester's set equals ours ({set_size} \
                 transactions); nothing to stream"
            ),
        );
        let _ = self.send(&key.party, key.id, Body::Identical);
        self.record_incoming_end(&key.party, StatusValue::DifferencesNotFound, "");
    }

    /// Our roots beyond the pair as a filter, when the requester has
    /// candidates to test (`roots_bits` > 0; a width past the most a filter
    /// uses is taken as that most) and we have roots.
    fn roots_answer(
        &mut self,
        roots: &[crate::id::TxId],
        salt: u64,
        roots_bits: u8,
    ) -> Option<Body> {
        let max_filter =
            (self.host.max_message_size() as usize).saturating_sub(ROOTS_FRAME_OVERHEAD);
        (roots_bits > 0 && !roots.is_empty())
            .then(|| RootFilter::build(roots, salt, roots_bits, max_filter))
            .filter(|filter| filter.count > 0)
            .map(|filter| Body::Roots { filter })
    }

    /// A request on a session we already answer: the requester heard
    /// nothing and asked again (the same salt), or reuses a live id.
    fn on_repeated_request(&mut self, key: &SessionKey, salt: u64, until: u32) {
        let job = &self.incoming[key];
        if job.salt != salt {
            let refusal = Refusal::SessionIdInUse;
            self.log(
                Level::Warn,
                marker::RECONCILE_WITH_PARTY,
                &format!("refused a second request {key}: {refusal}"),
            );
            let _ = self.send(&key.party, key.id, Body::Refused(refusal));
            return;
        }
        match (job.phase(), job.roots.clone()) {
            // It did not hear our roots.
            (Phase::RootsSent, Some(roots)) => {
                let _ = self.send(&key.party, key.id, roots);
            }
            _ => self.on_want(key, 0, until),
        }
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
    pub(super) fn within_request_limit(&mut self, party: &str) -> bool {
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

    /// Refuses an incoming session's request and records it FAILED with the
    /// refusal.
    fn refuse_incoming(&mut self, key: &SessionKey, refusal: Refusal) {
        let _ = self.send(&key.party, key.id, Body::Refused(refusal.clone()));
        self.end_incoming(key, StatusValue::Failed, &refusal.to_string());
    }

    /// The requester asks for symbols `[from, until)`: the next batch when
    /// `until` is past what it asked before, symbols it lost when `from` is
    /// before what was sent.
    pub(super) fn on_want(&mut self, key: &SessionKey, from: u32, until: u32) {
        let max_batches = self.config.max_number_of_ibf_filter_flows;
        let now = self.host.now_ms();
        let Some(job) = self.incoming.get_mut(key) else {
            let _ = self.send(&key.party, key.id, Body::Refused(Refusal::UnknownSession));
            return;
        };
        job.last_heard_ms = now;
        let produced = job.encoder.produced();
        if from <= produced {
            job.acked = job.acked.max(from);
        }
        if from > until || from > produced {
            let reason = format!(
                "protocol violation by {}: asked for coded symbols [{from}, {until}) when {produced} \
                 were sent",
                key.party
            );
            let body = Body::Abort {
                to_responder: false,
                reason: reason.clone(),
            };
            let _ = self.send(&key.party, key.id, body);
            self.end_incoming(key, StatusValue::Failed, &reason);
            return;
        }
        let limit = job.stream_limit;
        if until > limit && from >= limit {
            self.refuse_incoming(key, Refusal::StreamLimitReached { limit });
            return;
        }
        let until = until.min(limit);
        if until > job.granted {
            job.batches += 1;
            if job.batches > max_batches {
                self.refuse_incoming(key, Refusal::BatchLimitReached { max_batches });
                return;
            }
            job.granted = until;
        }
        if from < produced {
            let again = job.granted.min(from.saturating_add(in_flight_window(from))) - from;
            let again = again as u64;
            if job.sent.saturating_add(again) > limit as u64 + resend_budget(limit) {
                let sent = job.sent;
                self.refuse_incoming(key, Refusal::ResendLimitReached { sent });
                return;
            }
            job.encoder.rewind(from);
            // Whatever was queued on the pacing timer continues from `from`.
            return self.stream_frame(key);
        }
        if produced == from {
            self.stream_frame(key);
        }
    }

    /// The requester has received symbols `[0, received)`: the window
    /// moves on, and a stream that waited for it goes on.
    pub(super) fn on_progress(&mut self, key: &SessionKey, received: u32) {
        let now = self.host.now_ms();
        let Some(job) = self.incoming.get_mut(key) else {
            return;
        };
        job.last_heard_ms = now;
        let produced = job.encoder.produced();
        let was_waiting = produced >= job.window_end();
        // A claim past what was sent is taken as what was sent.
        job.acked = job.acked.max(received.min(produced));
        if was_waiting {
            self.stream_frame(key);
        }
    }

    /// Sends the next frame of an incoming session's stream, and paces the
    /// one after it with a timer.
    pub(super) fn stream_frame(&mut self, key: &SessionKey) {
        let max_message = self.host.max_message_size();
        let per_message = symbols_per_message(key.id, max_message) as u32;
        let now = self.host.now_ms();
        let Some(job) = self.incoming.get_mut(key) else {
            return;
        };
        if per_message == 0 {
            // A refusal is a few bytes, where an abort's text might not fit.
            let refusal = Refusal::MessageSizeTooSmall {
                max_message_size: max_message,
            };
            self.refuse_incoming(key, refusal);
            return;
        }
        let start = job.encoder.produced();
        let window_end = job.window_end();
        let left = job.granted.min(window_end).saturating_sub(start);
        if left == 0 {
            return;
        }
        let frame = frame_size(start, per_message, left);
        let symbols = job.encoder.produce(frame);
        job.sent += frame as u64;
        let header = (start == 0).then_some(StreamHeader {
            responder_set_size: job.encoder.set_size() as u64,
            stream_limit: job.stream_limit,
        });
        let body = Body::Symbols {
            start,
            header,
            symbols: pack_symbols(&symbols),
        };
        let more = job.encoder.produced() < job.granted.min(window_end);
        let timer = job.timer;
        job.last_heard_ms = now;
        if let Err(reason) = self.send(&key.party, key.id, body) {
            self.end_incoming(key, StatusValue::Failed, &reason);
            return;
        }
        if more {
            self.host.set_timer(timer, 0);
        }
    }

    /// The silence timer of an incoming session fired: end it if the party
    /// has been silent for the whole inactivity timeout; before that, after
    /// a shorter silence, send our last symbol (or our roots) again, in
    /// case it or the requester's answer was lost — a requester that has
    /// decoded answers it with `Done` again. Then check again when due.
    pub(super) fn on_responder_silence(&mut self, key: &SessionKey) {
        let timeout = self.config.reconciliation_inactivity_timeout_ms;
        let resend_after = resend_after_ms(&self.config);
        let now = self.host.now_ms();
        let Some(job) = self.incoming.get_mut(key) else {
            return;
        };
        let due = job.last_heard_ms.saturating_add(timeout);
        if now < due {
            let timer = job.silence_timer;
            let quiet_since = job.last_heard_ms.max(job.nudged_ms);
            if now >= quiet_since.saturating_add(resend_after) {
                job.nudged_ms = now;
                let again = match (&job.roots, job.encoder.produced()) {
                    (Some(roots), 0) => Some(roots.clone()),
                    (_, 0) => None,
                    (_, produced) => {
                        job.encoder.rewind(produced - 1);
                        job.sent += 1;
                        Some(Body::Symbols {
                            start: produced - 1,
                            header: None,
                            symbols: pack_symbols(&job.encoder.produce(1)),
                        })
                    }
                };
                if let Some(body) = again {
                    let _ = self.send(&key.party, key.id, body);
                }
            }
            let Some(job) = self.incoming.get(key) else {
                return;
            };
            let next = due
                .min(
                    job.last_heard_ms
                        .max(job.nudged_ms)
                        .saturating_add(resend_after),
                )
                .max(now + 1);
            self.host.set_timer(timer, next - now);
            return;
        }
        let silent = now - job.last_heard_ms;
        let reason = self.silence_reason(&key.party, now, silent);
        let me = self.me.clone();
        let body = Body::Abort {
            to_responder: false,
            reason: format!("{me} timed out waiting for {}", key.party),
        };
        let _ = self.send(&key.party, key.id, body);
        self.log(
            Level::Warn,
            marker::RECONCILE_WITH_PARTY,
            &format!("incoming reconciliation {key} FAILED: {reason}"),
        );
        self.end_incoming(key, StatusValue::Failed, &reason);
    }

    /// Forgets an incoming session and its timers.
    pub(super) fn remove_incoming(&mut self, key: &SessionKey) -> Option<Incoming> {
        let job = self.incoming.remove(key)?;
        self.drop_timer(job.timer);
        self.drop_timer(job.silence_timer);
        Some(job)
    }

    /// The requester decoded the difference. It does not say what it found:
    /// the responder is never told what the requester lacks, so its row
    /// records DIFFERENCES_NOT_FOUND — nothing found for this node.
    pub(super) fn on_done(&mut self, key: &SessionKey) {
        if self.incoming.contains_key(key) {
            self.end_incoming(key, StatusValue::DifferencesNotFound, "");
        }
    }

    /// Ends an incoming reconciliation. The responder's row never lists ids:
    /// it is not told what the requester lacked.
    pub(super) fn end_incoming(&mut self, key: &SessionKey, status: StatusValue, error: &str) {
        let Some(job) = self.remove_incoming(key) else {
            return;
        };
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "incoming reconciliation {key} ended {status}: {} coded symbols sent ({} of them \
                 distinct) over {} transactions; encoding work {} item mappings",
                job.sent,
                job.encoder.produced_most(),
                job.encoder.set_size(),
                job.encoder.mappings()
            ),
        );
        self.record_incoming_end(&key.party, status, error);
    }

    /// Records the end of the incoming reconciliation from `party` in its
    /// status row.
    fn record_incoming_end(&mut self, party: &str, status: StatusValue, error: &str) {
        self.transition(party, false, Transition::Responded { status, error });
        self.host.set_timer(timer::SCHEDULER, 0);
    }
}
