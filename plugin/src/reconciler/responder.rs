//! The responder's side of a reconciliation, as a sans-IO state machine:
//! it answers an admitted request (`Identical`, its roots filter, or the
//! first symbols) and streams coded symbols in paced frames over the range
//! the requester asks for — again, from any index, when the requester lost
//! some. It is fed frames, timer firings and the time, and answers with a
//! [`Step`]; [`super::incoming`] admits requests and carries the steps out.
//!
//! What it may cost is bounded by our own set and configuration, never by
//! what the requester claims: the stream stops at [`responder_stream_limit`],
//! re-sending at [`resend_budget`], batches at `maxNumberOfIbfFilterFlows`.

use super::batch_budget::{
    frame_size, in_flight_window, resend_budget, responder_stream_limit, symbols_per_message,
};
use super::resend_after_ms;
use super::session::{Context, SessionKey, SessionTimer, Step};
use crate::host::Level;
use crate::id::TxId;
use crate::protocol::{Body, Refusal, StreamHeader, pack_symbols};
use crate::riblt::{Encoder, RunningDigest};
use crate::root_filter::RootFilter;

/// What a requester's `Request` asks for (see [`Body::Request`]).
pub(super) struct Request {
    pub(super) salt: u64,
    pub(super) until: u32,
    pub(super) digest: Option<u64>,
    pub(super) roots_bits: u8,
    pub(super) set_size: u64,
    /// Our cursor from the reconciliation the requester's set was learnt
    /// from (protocol 6), still sealed.
    pub(super) since: Option<u64>,
    /// The digest of the set the requester holds as we served it last
    /// (protocol 7), which `digest` covers with what it gained since.
    pub(super) base: Option<u64>,
}

/// Our set for a requester, as a session answers from it: the ids the
/// stream codes, our roots beyond the pair (only those recorded since the
/// requester's cursor, when it gave one that opens), our cursor for where
/// the set stands now, and what the ids are.
pub(super) struct ResponderSet {
    pub(super) ids: Vec<TxId>,
    pub(super) roots: Vec<TxId>,
    pub(super) cursor: Option<u64>,
    pub(super) coded: Coded,
}

/// What a stream codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coded {
    /// Our whole set for the requester.
    WholeSet,
    /// Only what our set gained since we served it to the requester last,
    /// when the requester's `base` says it holds that set (which had
    /// `served_size` transactions): it peels the stream against what its
    /// own set gained since. Its roots filter names only the roots among
    /// those; it is never `Identical`.
    ChangesSince { served_size: u64 },
}

/// Bytes of a `Roots` frame besides its filter's data: version, session
/// id, tag, digest and the filter's count, width and length, at their
/// widest.
const ROOTS_FRAME_OVERHEAD: usize = 64;

/// Where an incoming reconciliation is in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Our roots filter went instead of the first symbols; the stream waits
    /// for the requester's `Want`. A repeated request gets the roots again.
    RootsSent,
    /// Streaming what the requester's credit and the window allow; a
    /// repeated request asks for the stream again from its start.
    Streaming,
}

/// How an incoming reconciliation ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ResponderEnd {
    /// The requester decoded the difference (`Done`). It does not say what
    /// it found: the responder is never told what the requester lacks.
    Done,
    /// Failed with this reason (the requester was told, if it could be).
    Failed(String),
    /// The requester was silent for the whole inactivity timeout (`Abort`
    /// was said); the reconciler words the reason.
    Silent { silent_ms: u64 },
}

/// How a responder answers an admitted request.
pub(super) enum Answer {
    /// The requester's digest says it holds exactly our set, of this many
    /// transactions: nothing to stream, no session kept; `Identical` with
    /// our cursor is the answer.
    Identical {
        set_size: usize,
        cursor: Option<u64>,
        digest: RunningDigest,
    },
    /// A session, and its first step.
    Session(Box<ResponderSession>, Step<ResponderEnd>),
}

/// An incoming reconciliation this node is responding to.
pub(super) struct ResponderSession {
    key: SessionKey,
    phase: Phase,
    encoder: Encoder,
    /// The requester's salt: a repeated request with it is the same request.
    salt: u64,
    batches: u32,
    /// End of the symbols the requester has asked for so far (credit).
    granted: u32,
    /// The furthest index the requester said it received (`Progress`, a
    /// `Want`'s `from`): the stream runs at most [`in_flight_window`] past
    /// it (flow control).
    acked: u32,
    /// When we last sent our last symbol again to a silent requester.
    nudged_ms: u64,
    /// Symbols the stream needs whatever the requester reports: the two
    /// sets differ by at least their sizes' difference, so up to that many
    /// (and never more than our own set, whatever the requester claims) the
    /// window does not wait for `Progress` (credit still applies).
    surely_needed: u32,
    /// Most symbols this session streams (before any re-sending).
    stream_limit: u32,
    /// Symbols sent in all, re-sent ones included.
    sent: u64,
    /// When the party last sent us anything, or we last sent it a frame.
    last_heard_ms: u64,
    /// The `Roots` answer sent instead of the first symbols, kept to send
    /// again if the request is repeated before the requester's `Want`.
    roots: Option<Body>,
    /// Our cursor, for the stream's header.
    cursor: Option<u64>,
    /// What the stream codes, for its header.
    coded: Coded,
}

/// Our roots beyond the pair as a filter, when the requester has
/// candidates to test (`roots_bits` > 0; a width past the most a filter
/// uses is taken as that most) and we have roots.
fn roots_answer(roots: &[TxId], salt: u64, roots_bits: u8, max_message: u32) -> Option<Body> {
    let max_filter = (max_message as usize).saturating_sub(ROOTS_FRAME_OVERHEAD);
    (roots_bits > 0 && !roots.is_empty())
        .then(|| RootFilter::build(roots, salt, roots_bits, max_filter))
        .filter(|filter| filter.count > 0)
        .map(|filter| Body::Roots { filter })
}

impl ResponderSession {
    /// Answers an admitted request over our set `ids` for the requester,
    /// with `roots` our roots beyond the pair: `Identical` when its digest
    /// says it holds our set, else a session whose first step sends our
    /// roots filter (when it has candidates and we have roots) or the first
    /// symbols.
    pub(super) fn answer(
        key: SessionKey,
        request: Request,
        ResponderSet {
            ids,
            roots,
            cursor,
            coded,
        }: ResponderSet,
        cx: &Context,
    ) -> Answer {
        let Request {
            salt,
            until,
            digest,
            roots_bits,
            set_size,
            since: _,
            base: _,
        } = request;
        // Against a stream of changes the requester peels what its own set
        // gained since the base: its claimed size less the base's is what
        // it claims to have gained.
        let (set_size, digest) = match coded {
            Coded::WholeSet => (set_size, digest),
            Coded::ChangesSince { served_size } => (set_size.saturating_sub(served_size), None),
        };
        let stream_limit = responder_stream_limit(
            ids.len() as u64,
            set_size,
            cx.config.max_reconciliation_differences,
        );
        let encoder = Encoder::new(ids, salt);
        if digest == Some(encoder.digest()) {
            return Answer::Identical {
                set_size: encoder.set_size(),
                cursor,
                digest: encoder.running_digest(),
            };
        }
        let roots = roots_answer(&roots, salt, roots_bits, cx.max_message);
        let mut step = Step::default();
        let first = match &roots {
            Some(Body::Roots { filter, .. }) => format!(
                ", first sending {} roots beyond the pair in {} bytes",
                filter.count,
                filter.data.len()
            ),
            _ => String::new(),
        };
        let over = match coded {
            Coded::WholeSet => "",
            Coded::ChangesSince { .. } => {
                " our set gained since we served it to the requester last (a stream of changes)"
            }
        };
        step.log(
            Level::Info,
            format!(
                "responding to reconciliation {key} over the {} transactions{over} (at most \
                 {stream_limit} coded symbols){first}",
                encoder.set_size()
            ),
        );
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
        let mut session = ResponderSession {
            key,
            phase: if roots.is_some() {
                Phase::RootsSent
            } else {
                Phase::Streaming
            },
            encoder,
            salt,
            batches: 0,
            granted: 0,
            acked: 0,
            nudged_ms: cx.now,
            surely_needed,
            stream_limit,
            sent: 0,
            last_heard_ms: cx.now,
            roots: roots.clone(),
            cursor,
            coded,
        };
        step.set_timer(SessionTimer::Silence, resend_after_ms(cx.config));
        match roots {
            // The stream waits for the requester's `Want`.
            Some(roots) => step.send(roots),
            None => session.want(0, until, cx, &mut step),
        }
        Answer::Session(Box::new(session), step)
    }

    /// Our set's digest under the requester's salt.
    pub(super) fn running_digest(&self) -> RunningDigest {
        self.encoder.running_digest()
    }

    #[cfg(test)]
    pub(super) fn phase(&self) -> Phase {
        self.phase
    }

    /// What the stream cost: symbols sent (re-sent ones included), distinct
    /// symbols, the set's size, and the encoder's work in item mappings.
    pub(super) fn effort(&self) -> (u64, u32, usize, u64) {
        (
            self.sent,
            self.encoder.produced_most(),
            self.encoder.set_size(),
            self.encoder.mappings(),
        )
    }

    /// How far the stream may run now: a window past what the requester
    /// reported, or what the stream surely needs, whichever is further.
    fn window_end(&self) -> u32 {
        self.acked
            .saturating_add(in_flight_window(self.acked))
            .max(self.surely_needed)
    }

    /// Refuses to go on, telling the requester why, and ends FAILED with
    /// the refusal.
    fn refuse(refusal: Refusal, step: &mut Step<ResponderEnd>) {
        let reason = refusal.to_string();
        step.tell(Body::Refused(refusal));
        step.end(ResponderEnd::Failed(reason));
    }

    /// A request on a session we already answer: the requester heard
    /// nothing and asked again (the same salt), or reuses a live id (the
    /// request is refused; the session goes on).
    pub(super) fn on_repeated_request(
        &mut self,
        salt: u64,
        until: u32,
        cx: &Context,
    ) -> Step<ResponderEnd> {
        let mut step = Step::default();
        if self.salt != salt {
            let refusal = Refusal::SessionIdInUse;
            step.log(
                Level::Warn,
                format!("refused a second request {}: {refusal}", self.key),
            );
            step.tell(Body::Refused(refusal));
            return step;
        }
        match (self.phase, &self.roots) {
            // It did not hear our roots.
            (Phase::RootsSent, Some(roots)) => step.tell(roots.clone()),
            _ => self.want(0, until, cx, &mut step),
        }
        step
    }

    /// The requester asks for symbols `[from, until)`.
    pub(super) fn on_want(&mut self, from: u32, until: u32, cx: &Context) -> Step<ResponderEnd> {
        let mut step = Step::default();
        self.want(from, until, cx, &mut step);
        step
    }

    /// The next batch when `until` is past what the requester asked before,
    /// symbols it lost when `from` is before what was sent.
    ///
    /// `from` is checked against the furthest symbol ever sent, not where
    /// the stream is now: a repeated request rewinds the stream to its
    /// start, and the requester's `Want` sent before it heard the rewind
    /// crosses it on the wire. Such a `from` says the requester holds the
    /// stream up to there, so the stream skips ahead to it. A `from` past
    /// anything sent is an earlier session's (this node restarted, and a
    /// copy of the request opened this one): the requester is told to
    /// start again (`UnknownSession`).
    fn want(&mut self, from: u32, until: u32, cx: &Context, step: &mut Step<ResponderEnd>) {
        let max_batches = cx.config.max_number_of_ibf_filter_flows;
        self.last_heard_ms = cx.now;
        let sent = self.encoder.produced_most();
        if from > until {
            let reason = format!(
                "protocol violation by {}: asked for coded symbols [{from}, {until}), an empty \
                 range",
                self.key.party
            );
            return step.abort(false, reason.clone(), ResponderEnd::Failed(reason));
        }
        if from > sent {
            // Past anything this session sent: the requester holds a stream
            // of an earlier session under this id, which this node lost (it
            // restarted) before a copy of the request made this one. Not a
            // violation: the requester is told this stream is unknown, and
            // starts again from the first symbol (its repeated request
            // rewinds this session).
            step.log(
                Level::Info,
                format!(
                    "reconciliation {}: asked for coded symbols from {from}, past the {sent} this \
                     session has sent (the requester's stream is an earlier session's); told \
                     it to start again",
                    self.key
                ),
            );
            step.tell(Body::Refused(Refusal::UnknownSession));
            return;
        }
        self.acked = self.acked.max(from);
        let limit = self.stream_limit;
        if until > limit && from >= limit {
            return Self::refuse(Refusal::StreamLimitReached { limit }, step);
        }
        let until = until.min(limit);
        if until > self.granted {
            self.batches += 1;
            if self.batches > max_batches {
                return Self::refuse(Refusal::BatchLimitReached { max_batches }, step);
            }
            self.granted = until;
            self.phase = Phase::Streaming;
        }
        let at = self.encoder.produced();
        if from < at {
            let again = self
                .granted
                .min(from.saturating_add(in_flight_window(from)))
                - from;
            if self.sent.saturating_add(again as u64) > limit as u64 + resend_budget(limit) {
                let sent = self.sent;
                return Self::refuse(Refusal::ResendLimitReached { sent }, step);
            }
            self.encoder.rewind(from);
            // Whatever was queued on the pacing timer continues from `from`.
            return self.stream(cx, step);
        }
        if from > at {
            // It holds what we were about to send again.
            self.encoder.seek(from);
        }
        self.stream(cx, step);
    }

    /// The requester has received symbols `[0, received)`: the window
    /// moves on, and a stream that waited for it goes on.
    pub(super) fn on_progress(&mut self, received: u32, cx: &Context) -> Step<ResponderEnd> {
        let mut step = Step::default();
        self.last_heard_ms = cx.now;
        let was_waiting = self.encoder.produced() >= self.window_end();
        // A claim past what was sent is taken as what was sent.
        self.acked = self.acked.max(received.min(self.encoder.produced_most()));
        if self.encoder.produced() < self.acked {
            // A rewound stream need not send again what has arrived.
            self.encoder.seek(self.acked);
        }
        if was_waiting {
            self.stream(cx, &mut step);
        }
        step
    }

    /// The stream timer fired: the next frame.
    pub(super) fn on_stream_timer(&mut self, cx: &Context) -> Step<ResponderEnd> {
        let mut step = Step::default();
        self.stream(cx, &mut step);
        step
    }

    /// Sends the next frame of the stream, and paces the one after it with
    /// the stream timer.
    fn stream(&mut self, cx: &Context, step: &mut Step<ResponderEnd>) {
        let per_message = symbols_per_message(self.key.id, cx.max_message) as u32;
        if per_message == 0 {
            // A refusal is a few bytes, where an abort's text might not fit.
            let refusal = Refusal::MessageSizeTooSmall {
                max_message_size: cx.max_message,
            };
            return Self::refuse(refusal, step);
        }
        let start = self.encoder.produced();
        let window_end = self.window_end();
        let left = self.granted.min(window_end).saturating_sub(start);
        if left == 0 {
            return;
        }
        let frame = frame_size(start, per_message, left);
        let symbols = self.encoder.produce(frame);
        self.sent += frame as u64;
        let header = (start == 0).then_some(StreamHeader {
            responder_set_size: self.encoder.set_size() as u64,
            stream_limit: self.stream_limit,
            cursor: self.cursor,
            changes: matches!(self.coded, Coded::ChangesSince { .. }),
        });
        step.send(Body::Symbols {
            start,
            header,
            symbols: pack_symbols(&symbols),
        });
        self.last_heard_ms = cx.now;
        if self.encoder.produced() < self.granted.min(window_end) {
            step.set_timer(SessionTimer::Stream, 0);
        }
    }

    /// The silence timer fired: end the session if the party has been
    /// silent for the whole inactivity timeout; before that, after a
    /// shorter silence, send our last symbol (or our roots) again, in case
    /// it or the requester's answer was lost — a requester that has decoded
    /// answers it with `Done` again. Then check again when due. `me` is
    /// this node's name, for the abort text.
    pub(super) fn on_silence_timer(&mut self, me: &str, cx: &Context) -> Step<ResponderEnd> {
        let timeout = cx.config.reconciliation_inactivity_timeout_ms;
        let resend_after = resend_after_ms(cx.config);
        let now = cx.now;
        let mut step = Step::default();
        let due = self.last_heard_ms.saturating_add(timeout);
        if now >= due {
            let reason = format!("{me} timed out waiting for {}", self.key.party);
            let silent_ms = now - self.last_heard_ms;
            step.abort(false, reason, ResponderEnd::Silent { silent_ms });
            return step;
        }
        let quiet_since = self.last_heard_ms.max(self.nudged_ms);
        if now >= quiet_since.saturating_add(resend_after) {
            self.nudged_ms = now;
            match (&self.roots, self.encoder.produced()) {
                (Some(roots), 0) => step.tell(roots.clone()),
                (_, 0) => {}
                (_, produced) => {
                    self.encoder.rewind(produced - 1);
                    self.sent += 1;
                    step.tell(Body::Symbols {
                        start: produced - 1,
                        header: None,
                        symbols: pack_symbols(&self.encoder.produce(1)),
                    });
                }
            }
        }
        let next = due
            .min(
                self.last_heard_ms
                    .max(self.nudged_ms)
                    .saturating_add(resend_after),
            )
            .max(now + 1);
        step.set_timer(SessionTimer::Silence, next - now);
        step
    }
}
