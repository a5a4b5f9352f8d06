//! The requester's side of a reconciliation, as a sans-IO state machine:
//! it sends the request, applies the responder's roots filter, peels the
//! coded symbols the responder streams, asks again for what was lost, asks
//! for more until the difference decodes, and backs off from a busy
//! responder. It is fed frames, timer firings and the time, and answers
//! with a [`Step`]; [`super::outgoing`] carries the steps out and records
//! the outcome.
//!
//! What it may cost is bounded by our own configuration, never by what the
//! responder claims: the symbols asked for and kept stay under
//! [`requester_symbol_cap`], the batches under `maxNumberOfIbfFilterFlows`.

use super::batch_budget::{FIRST_BATCH, merge, next_batch, progress_due, requester_symbol_cap};
use super::known_sets::ReconciledSet;
use super::resend_after_ms;
use super::session::{Action, Context, SessionKey, SessionTimer, Step};
use super::sets::{Candidates, Origin, RequesterCore};
use crate::config::format_ms;
use crate::host::Level;
use crate::id::TxId;
use crate::protocol::{Body, OLDEST_PROTOCOL_VERSION, Refusal, StreamHeader, unpack_symbols};
use crate::riblt::{CountMoments, Decoder, RunningDigest, Side, WIRE_SYMBOL_LEN};
use crate::root_filter::{RootFilter, RootMatcher, bits_for};

/// How many times a requester starts again from scratch because the
/// responder lost the session (it restarted) before it gives up.
const MAX_RESTARTS: u32 = 3;

/// How many times a reconciliation whose difference did not decode within
/// its bounds starts again under a new salt before it is recorded FAILED.
/// A rateless code's tail is rare (about 1 run in 10,000 needs more than
/// the stream limit) and independent between salts, so two fresh draws
/// leave about 1 in 10^12.
pub(super) const MAX_RESALTS: u32 = 2;

/// A party that keeps answering without sending what we asked for again —
/// the symbols that fill a gap, or the first ones — is given up on after
/// this many inactivity timeouts without progress. (Answering at all
/// resets the inactivity timeout itself.)
const STALL_TIMEOUTS: u64 = 2;

/// The symbols behind a gap are asked for again at most once per this
/// fraction of [`resend_after_ms`] while frames past the gap keep
/// arriving: often enough that a loss of the `Want` or of its answer is
/// repaired before the inactivity timeout, seldom enough that each re-ask
/// has had its round trip.
const GAP_REASKS_PER_RESEND: u64 = 4;

/// The first retry after a busy refusal waits about this long; each
/// further retry waits up to twice as long as the one before, up to
/// [`RETRY_MAX_MS`], with random jitter so that requesters refused together
/// do not return together.
pub(super) const RETRY_BASE_MS: u64 = 1_000;
const RETRY_MAX_MS: u64 = 5 * 60_000;

/// Where a requester's set comes from: the ledger graph (see
/// [`super::sets`]).
pub(super) trait RequesterSets {
    /// The set to start from (the graph caught up with the vault first):
    /// the party's set as last reconciled if one is kept, else ours for
    /// the pair with the candidates a roots filter would test. Its ids,
    /// and the set.
    fn core(&mut self) -> Result<(Option<Vec<TxId>>, RequesterCore), String>;
    /// The ids of `set` (the members' in recording order, then those the
    /// graph lacks).
    fn ids(&mut self, set: &ReconciledSet) -> Vec<TxId>;
    /// Adds to `ours` the `candidates` (listed now if they were only
    /// counted) that pass the responder's `roots`, each with its
    /// back-chain: the ids added, how many candidates passed, and how many
    /// there were.
    fn add_roots(
        &mut self,
        ours: &mut ReconciledSet,
        candidates: Candidates,
        roots: &RootMatcher,
    ) -> (Vec<TxId>, usize, u64);
}

/// Where an outgoing reconciliation is in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The request is out; neither a roots filter nor a symbol has come
    /// back. A silence repeats the request; `Roots`, `Identical`, symbols
    /// or a refusal may answer it.
    Requested,
    /// The responder's roots filter is applied to our set and the stream
    /// asked for from its start; no symbol yet. A silence asks again.
    Filtered,
    /// Coded symbols are arriving; a silence or a gap asks again from the
    /// index held.
    Streaming,
    /// The responder was busy: waiting for the retry timer, holding no
    /// pool slot, ignoring its frames; then the request goes out again and
    /// the session returns to the phase it left.
    BackingOff,
}

/// How an outgoing reconciliation ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RequesterEnd {
    /// The difference is known: decoded from the stream (`Done` was said)
    /// or the responder holds exactly our set (`Identical`).
    Decoded { said_done: bool },
    /// Failed with this reason.
    Failed(String),
    /// The difference did not decode within the bounds (the symbol cap,
    /// the party's stream limit, the batches): the reconciler starts it
    /// again under a new salt, up to [`MAX_RESALTS`] times, then records
    /// FAILED with this reason.
    Undecoded(String),
    /// The party was silent for the whole inactivity timeout (`Abort` was
    /// said); the reconciler words the reason, naming what it heard.
    Silent { silent_ms: u64 },
}

/// An outgoing reconciliation that is running.
pub(super) struct RequesterSession {
    key: SessionKey,
    /// This node's name, for the abort text.
    me: String,
    phase: Phase,
    /// The phase a busy refusal interrupted, resumed after the back-off.
    resume: Phase,
    /// Peels the stream; built only when the first roots or symbols
    /// arrive when the session starts from the party's set as last
    /// reconciled with its digest (an `Identical` then never walks the
    /// set).
    decoder: Option<Decoder>,
    /// The digest of `ours` under `salt`, kept up to date.
    digest: RunningDigest,
    /// Keys the responder's symbols; sent again with each repeated request.
    salt: u64,
    started_ms: u64,
    /// When the party last sent us any frame for this session (what the
    /// inactivity timeout counts from).
    last_heard_ms: u64,
    /// When the party last sent us something that moved the session on:
    /// new symbols, its roots, or the session began again.
    last_progress_ms: u64,
    /// When we last asked the party for anything.
    last_asked_ms: u64,
    /// Requests refused as busy so far.
    busy_refusals: u32,
    /// What the responder's first frame said.
    header: Option<StreamHeader>,
    /// End of the symbols asked for so far.
    granted: u32,
    /// Batches asked for so far (the first `Request` counts as one).
    batches: u32,
    /// Moments of residual counts in the current batch.
    moments: CountMoments,
    /// The index we asked again from after a gap, so that the frames still
    /// in flight behind the gap do not each ask again.
    gap_asked_from: Option<u32>,
    /// Times the responder lost the session and we started again.
    restarts: u32,
    /// Times this reconciliation started again under a new salt because
    /// its difference did not decode within the bounds.
    resalts: u32,
    /// Our transactions outside our set that a roots filter would test.
    candidates: u64,
    /// Those candidates, kept until the responder's roots test them (taken
    /// then, or dropped once symbols arrive).
    untested: Candidates,
    /// The set we reconcile, as the graph's members and ids it lacks: once
    /// the difference is decoded, it becomes the party's set as last
    /// reconciled ([`super::known_sets`]).
    ours: ReconciledSet,
    /// Where it started from.
    origin: Origin,
    /// The protocol version asked in: ours, or the older one the party
    /// said it speaks (see [`RequesterSession::on_refused`]).
    protocol: u16,
    /// The party's cursor from the reconciliation `ours` was learnt from
    /// (protocol 6): sent with the request, so that its roots filter names
    /// only the roots it gained since.
    since: Option<u64>,
    /// The party's cursor for where its set stands now, from its
    /// `Identical` or its stream's header: kept with its set.
    cursor: Option<u64>,
    /// The last index we told the responder we received (`Progress`, or a
    /// `Want`'s `from`): its stream runs at most a window past it.
    reported: u32,
    /// The digest of the party's set as last reconciled, sent as the
    /// request's `base` (protocol 7): `None` unless the session starts
    /// from that set with its digest under this salt and no decoder yet.
    base: Option<u64>,
    /// What our set for the pair gained since the party's set was learnt:
    /// the decoder is built over these alone when the party streams only
    /// its changes since the base ([`StreamHeader::changes`]).
    gained: Vec<TxId>,
}

/// The roots-filter width a requester with `candidates` transactions
/// outside its set asks for (0: no filter).
fn roots_bits_for(candidates: u64) -> u8 {
    if candidates == 0 {
        0
    } else {
        bits_for(candidates)
    }
}

impl RequesterSession {
    /// A session over our set `ids` (with `candidates` outside it), keyed
    /// by `salt`; the step arms the silence timer and sends the request.
    /// `resalts` is how many salts were tried before this one.
    pub(super) fn start(
        key: SessionKey,
        me: String,
        (ids, core): (Option<Vec<TxId>>, RequesterCore),
        (salt, resalts): (u64, u32),
        protocol: u16,
        cx: &Context,
    ) -> (Self, Step<RequesterEnd>) {
        let now = cx.now;
        debug_assert!(
            ids.is_some() || core.digest.is_some_and(|d| d.salt() == salt),
            "a session without ids starts under its kept digest's salt"
        );
        let (decoder, digest) = Self::decoder_for(ids, &core, salt);
        let base = core.base.filter(|_| decoder.is_none());
        let mut session = RequesterSession {
            key,
            me,
            phase: Phase::Requested,
            resume: Phase::Requested,
            decoder,
            digest,
            salt,
            started_ms: now,
            last_heard_ms: now,
            last_progress_ms: now,
            last_asked_ms: now,
            busy_refusals: 0,
            header: None,
            granted: FIRST_BATCH,
            batches: 1,
            moments: CountMoments::default(),
            gap_asked_from: None,
            restarts: 0,
            resalts,
            candidates: core.candidates.count(),
            untested: core.candidates,
            ours: core.set,
            origin: core.origin,
            protocol,
            since: core.since,
            cursor: None,
            reported: 0,
            base,
            gained: core.gained,
        };
        let mut step = Step::default();
        step.set_timer(SessionTimer::Silence, resend_after_ms(cx.config));
        session.request(now, &mut step);
        (session, step)
    }

    /// The decoder and digest a session over `core` starts with: from the
    /// kept digest (no decoder yet) when it is keyed under `salt`, else a
    /// decoder over `ids`.
    fn decoder_for(
        ids: Option<Vec<TxId>>,
        core: &RequesterCore,
        salt: u64,
    ) -> (Option<Decoder>, RunningDigest) {
        match (ids, core.digest) {
            (None, Some(digest)) if digest.salt() == salt => (None, digest),
            (ids, _) => {
                let decoder = Decoder::new(ids.unwrap_or_default(), salt);
                let digest = decoder.running_digest();
                (Some(decoder), digest)
            }
        }
    }

    /// The decoder, built now if it was not yet: over what our set gained
    /// since the base when the party streams only its changes since, else
    /// over our set.
    fn decoder(&mut self, sets: &mut dyn RequesterSets) -> &mut Decoder {
        if self.decoder.is_none() {
            let ids = match self.streams_changes() {
                true => std::mem::take(&mut self.gained),
                false => sets.ids(&self.ours),
            };
            self.decoder = Some(Decoder::new(ids, self.salt));
        }
        self.decoder.as_mut().expect("built above")
    }

    /// Whether the party streams only what its set gained since our base
    /// (its stream's header says so).
    pub(super) fn streams_changes(&self) -> bool {
        self.header.is_some_and(|h| h.changes)
    }

    /// Symbols received so far.
    fn received(&self) -> u32 {
        self.decoder.as_ref().map_or(0, Decoder::received)
    }

    #[cfg(test)]
    pub(super) fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the session holds a pool slot (not while backing off).
    pub(super) fn holds_slot(&self) -> bool {
        self.phase != Phase::BackingOff
    }

    pub(super) fn started_ms(&self) -> u64 {
        self.started_ms
    }

    /// How many salts were tried before this session's.
    pub(super) fn resalts(&self) -> u32 {
        self.resalts
    }

    /// Notes that the party moved the session on now.
    fn progressed(&mut self, now: u64) {
        self.last_heard_ms = now;
        self.last_progress_ms = now;
    }

    /// Symbols received, and batches asked for, so far.
    pub(super) fn effort(&self) -> (u32, u32) {
        (self.received(), self.batches)
    }

    /// Where our set started from.
    pub(super) fn origin(&self) -> Origin {
        self.origin
    }

    /// How many of our transactions outside our set a roots filter would
    /// test (counted when the set was built, or when the filter came).
    pub(super) fn candidates(&self) -> u64 {
        self.candidates
    }

    /// What a decoded session learnt: the set we reconciled (taken), the
    /// difference decoded, each id with its side, and the digest of the
    /// set we reconciled.
    pub(super) fn take_outcome(&mut self) -> (ReconciledSet, &[(TxId, Side)], RunningDigest) {
        // Against a stream of changes the decoder holds only what our set
        // gained; `digest` covers all of it.
        let digest = match self.streams_changes() {
            true => self.digest,
            false => self
                .decoder
                .as_ref()
                .map_or(self.digest, Decoder::running_digest),
        };
        let decoded = self.decoder.as_ref().map_or(&[][..], Decoder::decoded);
        (std::mem::take(&mut self.ours), decoded, digest)
    }

    /// The roots-filter width we ask for: none from the party's set as
    /// last reconciled without its cursor (protocol 5 has none), since the
    /// filter would name all its roots again.
    fn roots_bits(&self) -> u8 {
        let cursor = self.protocol >= 6 && self.since.is_some();
        match self.origin {
            Origin::LastReconciled if !cursor => 0,
            _ => roots_bits_for(self.candidates),
        }
    }

    /// Sends (or sends again) the request.
    fn request(&mut self, now: u64, step: &mut Step<RequesterEnd>) {
        self.last_asked_ms = now;
        step.send(Body::Request {
            salt: self.salt,
            until: self.granted,
            digest: Some(self.digest.value()),
            roots_bits: self.roots_bits(),
            set_size: self.digest.len(),
            since: self.since,
            base: self.base,
        });
    }

    /// The party's cursor for where its set stood, once it gave one.
    pub(super) fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// Asks the responder for symbols `[from, granted)`.
    fn want(&mut self, from: u32, now: u64, step: &mut Step<RequesterEnd>) {
        self.last_asked_ms = now;
        self.reported = from;
        step.send(Body::Want {
            from,
            until: self.granted,
        });
    }

    /// Ends the session after telling the responder why.
    fn abort(&self, reason: String, step: &mut Step<RequesterEnd>) {
        step.abort(true, reason.clone(), RequesterEnd::Failed(reason));
    }

    /// Ends the session undecoded after telling the responder why; the
    /// reconciler decides whether a new salt is tried.
    fn give_up_undecoded(&self, reason: String, step: &mut Step<RequesterEnd>) {
        step.abort(true, reason.clone(), RequesterEnd::Undecoded(reason));
    }

    fn violation(&self, what: String, step: &mut Step<RequesterEnd>) {
        self.abort(
            format!("protocol violation by {}: {what}", self.key.party),
            step,
        );
    }

    /// The responder refused our request: back off if it is busy, start
    /// again if it lost the session, else fail with its refusal. `jitter`
    /// is a random number for the back-off.
    pub(super) fn on_refused(
        &mut self,
        refusal: Refusal,
        sets: &mut dyn RequesterSets,
        jitter: u64,
        cx: &Context,
    ) -> Step<RequesterEnd> {
        let mut step = Step::default();
        if refusal.is_busy() {
            self.back_off(&refusal, jitter, cx, &mut step);
        } else if let Refusal::UnsupportedProtocol { supported } = refusal
            && (OLDEST_PROTOCOL_VERSION..self.protocol).contains(&supported)
            && self.phase == Phase::Requested
        {
            self.speak(supported, cx.now, &mut step);
        } else if refusal.is_lost_session() && self.restarts < MAX_RESTARTS {
            self.restart(sets, cx.now, &mut step);
        } else if refusal.is_decoding_bound() {
            let reason = format!("{} refused: {refusal}", self.key.party);
            step.end(RequesterEnd::Undecoded(reason));
        } else {
            let reason = format!("{} refused: {refusal}", self.key.party);
            step.end(RequesterEnd::Failed(reason));
        }
        step
    }

    /// The party speaks only an older protocol version that we also speak:
    /// ask again in it (the reconciler sends in the version the party last
    /// spoke, which its refusal was written in).
    fn speak(&mut self, protocol: u16, now: u64, step: &mut Step<RequesterEnd>) {
        self.protocol = protocol;
        step.log(
            Level::Info,
            format!(
                "{} speaks reconciliation protocol {protocol}; asking again in it for \
                 reconciliation {}",
                self.key.party, self.key.id
            ),
        );
        self.progressed(now);
        self.request(now, step);
    }

    /// The party refused our request because its pool is full: wait a
    /// growing, jittered while and ask again, until
    /// maxReconciliationRetryAttemptTimeout has passed since the job started.
    fn back_off(
        &mut self,
        refusal: &Refusal,
        jitter: u64,
        cx: &Context,
        step: &mut Step<RequesterEnd>,
    ) {
        let now = cx.now;
        let timeout = cx.config.max_reconciliation_retry_attempt_timeout_ms;
        self.busy_refusals += 1;
        let attempts = self.busy_refusals;
        let deadline = self.started_ms.saturating_add(timeout);
        if now >= deadline {
            let reason = format!(
                "{} refused: {refusal}; gave up after {attempts} attempts over {} \
                 (maxReconciliationRetryAttemptTimeout = {})",
                self.key.party,
                format_ms(now - self.started_ms),
                format_ms(timeout)
            );
            step.end(RequesterEnd::Failed(reason));
            return;
        }
        let ceiling = RETRY_BASE_MS
            .saturating_mul(1u64 << (attempts - 1).min(20))
            .min(RETRY_MAX_MS);
        // Equal jitter: half the ceiling, plus a random part of the other half.
        let delay = (ceiling / 2 + jitter % (ceiling / 2 + 1)).min(deadline - now);
        if self.phase != Phase::BackingOff {
            self.resume = self.phase;
        }
        self.phase = Phase::BackingOff;
        step.set_timer(SessionTimer::Retry, delay);
        step.log(
            Level::Info,
            format!(
                "{} is busy ({refusal}); retry {attempts} of reconciliation {} in {}",
                self.key.party,
                self.key.id,
                format_ms(delay)
            ),
        );
        step.actions.push(Action::SlotFreed);
    }

    /// The retry timer fired: ask again, unless our own pool filled while
    /// we waited (then try again shortly, without counting an attempt).
    pub(super) fn on_retry_timer(&mut self, pool_full: bool, cx: &Context) -> Step<RequesterEnd> {
        let mut step = Step::default();
        if self.phase != Phase::BackingOff {
            return step;
        }
        if pool_full {
            step.set_timer(SessionTimer::Retry, RETRY_BASE_MS);
            return step;
        }
        self.phase = self.resume;
        self.progressed(cx.now);
        step.set_timer(SessionTimer::Silence, resend_after_ms(cx.config));
        self.request(cx.now, &mut step);
        step
    }

    /// The responder lost the session (it restarted): start again from the
    /// first symbol, with the set rebuilt, since the responder's set — and so
    /// its stream — may have changed.
    fn restart(&mut self, sets: &mut dyn RequesterSets, now: u64, step: &mut Step<RequesterEnd>) {
        let (mut ids, core) = match sets.core() {
            Ok(core) => core,
            Err(reason) => return step.end(RequesterEnd::Failed(reason)),
        };
        if ids.is_none() && core.digest.map(|d| d.salt()) != Some(self.salt) {
            // A kept digest under another salt than this session's: walk
            // the set after all.
            ids = Some(sets.ids(&core.set));
        }
        (self.decoder, self.digest) = Self::decoder_for(ids, &core, self.salt);
        self.base = core.base.filter(|_| self.decoder.is_none());
        self.gained = core.gained;
        self.restarts += 1;
        self.candidates = core.candidates.count();
        self.untested = core.candidates;
        self.ours = core.set;
        self.origin = core.origin;
        self.since = core.since;
        // A stale refusal may find the session backing off: it stays so,
        // and asks again from the start when the retry timer fires.
        match self.phase {
            Phase::BackingOff => self.resume = Phase::Requested,
            _ => self.phase = Phase::Requested,
        }
        self.header = None;
        self.granted = FIRST_BATCH;
        self.batches = 1;
        self.moments = CountMoments::default();
        self.gap_asked_from = None;
        self.progressed(now);
        step.log(
            Level::Info,
            format!(
                "{} has no record of reconciliation {} (it may have restarted); starting it \
                 again ({} of {MAX_RESTARTS})",
                self.key.party, self.key, self.restarts
            ),
        );
        self.request(now, step);
    }

    /// The silence timer fired: give up after the inactivity timeout
    /// without a frame, or after [`STALL_TIMEOUTS`] of them with frames
    /// but no progress; before that, once nothing has moved on for a
    /// shorter while, ask again for what we are missing, in case a message
    /// was lost.
    pub(super) fn on_silence_timer(&mut self, cx: &Context) -> Step<RequesterEnd> {
        let now = cx.now;
        let timeout = cx.config.reconciliation_inactivity_timeout_ms;
        let stall_limit = timeout.saturating_mul(STALL_TIMEOUTS);
        let resend_after = resend_after_ms(cx.config);
        let mut step = Step::default();
        if self.phase == Phase::BackingOff {
            // Waiting to retry a busy party: nothing is expected meanwhile.
            self.progressed(now);
            self.last_asked_ms = now;
            step.set_timer(SessionTimer::Silence, timeout);
            return step;
        }
        let silent = now.saturating_sub(self.last_heard_ms);
        if silent >= timeout {
            let reason = format!("{} timed out waiting for {}", self.me, self.key.party);
            step.abort(true, reason, RequesterEnd::Silent { silent_ms: silent });
            return step;
        }
        let stalled = now.saturating_sub(self.last_progress_ms);
        if stalled >= stall_limit {
            let reason = format!(
                "{} kept answering for {} without sending the coded symbols asked for again \
                 (from index {}): the party is faulty, or every answer was lost \
                 (reconciliationInactivityTimeout = {}, and {STALL_TIMEOUTS} of them without \
                 progress end a reconciliation)",
                self.key.party,
                format_ms(stalled),
                self.received(),
                format_ms(timeout),
            );
            self.abort(reason, &mut step);
            return step;
        }
        let ask_due = self.last_asked_ms.saturating_add(resend_after);
        if now >= ask_due && stalled >= resend_after {
            if self.phase == Phase::Requested {
                self.request(now, &mut step);
            } else {
                self.want(self.received(), now, &mut step);
            }
        }
        let next = self
            .last_heard_ms
            .saturating_add(timeout)
            .min(self.last_progress_ms.saturating_add(stall_limit))
            .min(self.last_asked_ms.saturating_add(resend_after))
            .max(now + 1);
        step.set_timer(SessionTimer::Silence, next - now);
        step
    }

    /// Coded symbols `[start, start + n)` of the responder's stream.
    pub(super) fn on_symbols(
        &mut self,
        start: u32,
        header: Option<StreamHeader>,
        bytes: &[u8],
        sets: &mut dyn RequesterSets,
        cx: &Context,
    ) -> Step<RequesterEnd> {
        let now = cx.now;
        let mut step = Step::default();
        if self.phase == Phase::BackingOff {
            return step;
        }
        let received = self.received();
        let count = (bytes.len() / WIRE_SYMBOL_LEN) as u32;
        let end = start as u64 + count as u64;
        if end > self.granted as u64 {
            let what = format!(
                "coded symbols up to index {end}, but only {} were asked for",
                self.granted
            );
            self.violation(what, &mut step);
            return step;
        }
        // Any frame of this session is the party answering: the inactivity
        // timeout counts from it. Only one that adds to what we hold is
        // progress (see `on_silence_timer`).
        self.last_heard_ms = now;
        if start > received {
            // A frame was lost: ask again from the index we hold — at once
            // for a new gap, and again while frames past it keep coming
            // and the gap stays (our `Want` or its answer was lost too).
            let again_due = self
                .last_asked_ms
                .saturating_add(resend_after_ms(cx.config) / GAP_REASKS_PER_RESEND);
            if self.gap_asked_from != Some(received) || now >= again_due {
                self.gap_asked_from = Some(received);
                self.want(received, now, &mut step);
            }
            return step;
        }
        if end <= received as u64 {
            return step; // a duplicate of symbols we hold
        }
        self.last_progress_ms = now;
        if start == 0 && self.header.is_none() {
            if header.is_some_and(|h| h.changes) && (self.base.is_none() || self.decoder.is_some())
            {
                let what = "a stream of its changes since a set we did not say we hold";
                self.violation(what.to_string(), &mut step);
                return step;
            }
            self.header = header;
            self.cursor = header.and_then(|h| h.cursor);
        }
        self.gap_asked_from = None;
        self.phase = Phase::Streaming;
        // Roots no longer count once symbols arrive.
        self.untested = Candidates::Listed(Vec::new());
        let skip = (received - start) as usize * WIRE_SYMBOL_LEN;
        let decoder = self.decoder(sets);
        let m = decoder.add_symbols(&unpack_symbols(&bytes[skip..]));
        let (inconsistent, decoded, received) = (
            decoder.is_inconsistent(),
            decoder.is_decoded(),
            decoder.received(),
        );
        self.moments = merge(self.moments, m);
        if inconsistent {
            let what = "its coded symbols cannot come from any set (an id decoded twice); \
                        forged or corrupt";
            self.violation(what.to_string(), &mut step);
        } else if decoded {
            step.tell(Body::Done);
            step.end(RequesterEnd::Decoded { said_done: true });
        } else if received < self.granted {
            self.report_progress(&mut step);
        } else {
            self.ask_for_more(cx, &mut step);
        }
        step
    }

    /// Tells the responder how far the stream has arrived, when it is
    /// time to (see [`progress_due`]).
    fn report_progress(&mut self, step: &mut Step<RequesterEnd>) {
        let received = self.received();
        if progress_due(self.reported, received) {
            self.reported = received;
            step.send(Body::Progress { received });
        }
    }

    /// The credit asked for so far has arrived and not decoded: ask for the
    /// next batch, or give up past `maxNumberOfIbfFilterFlows` batches or the
    /// symbol cap.
    fn ask_for_more(&mut self, cx: &Context, step: &mut Step<RequesterEnd>) {
        let max_differences = cx.config.max_reconciliation_differences;
        let max_batches = cx.config.max_number_of_ibf_filter_flows;
        let received = self.received();
        let party = &self.key.party;
        if self.batches >= max_batches {
            let reason = format!(
                "the difference with {party} was not decoded within {max_batches} coded-symbol \
                 batches ({received} symbols; maxNumberOfIbfFilterFlows = {max_batches})",
            );
            return self.give_up_undecoded(reason, step);
        }
        let cap = requester_symbol_cap(self.digest.len(), self.header, max_differences);
        if received >= cap {
            let reason = format!(
                "the difference with {party} was not decoded within {cap} coded symbols, the most \
                 this reconciliation may use (maxReconciliationDifferences = {max_differences}; \
                 {})",
                match self.header {
                    Some(h) => format!(
                        "the party's set has {} transactions and it streams at most {}",
                        h.responder_set_size, h.stream_limit
                    ),
                    None => "the party never sent the first frame of its stream".to_string(),
                }
            );
            return self.give_up_undecoded(reason, step);
        }
        let credit = next_batch(
            received,
            &self.moments,
            self.decoder.as_ref().map_or(0, |d| d.decoded().len()),
            max_batches - self.batches,
            cap,
        );
        self.batches += 1;
        self.granted = self.granted.saturating_add(credit);
        self.moments = CountMoments::default();
        self.want(received, cx.now, step);
    }

    /// The responder's roots beyond the pair: add the candidates that pass,
    /// with their back-chains, then ask for the stream — always, so that
    /// nothing we send depends on which of our transactions passed. Only an
    /// answer to a request with no symbols yet counts, once; a filter of
    /// another width than we asked for is refused before it is decoded.
    pub(super) fn on_roots(
        &mut self,
        filter: RootFilter,
        sets: &mut dyn RequesterSets,
        cx: &Context,
    ) -> Step<RequesterEnd> {
        let now = cx.now;
        let mut step = Step::default();
        if self.phase != Phase::Requested {
            return step;
        }
        let asked = self.roots_bits();
        if filter.bits != asked {
            let what = format!(
                "a roots filter of {} remainder bits, when {asked} were asked for",
                filter.bits
            );
            self.violation(what, &mut step);
            return step;
        }
        let matcher = match filter.matcher(self.salt) {
            Ok(matcher) => matcher,
            Err(why) => {
                self.violation(why.to_string(), &mut step);
                return step;
            }
        };
        // Offered a base, we build no decoder until the stream's header says
        // what it codes: what passes joins our set and what it gained.
        // Otherwise the decoder holds our set as it was before the roots,
        // and what passes is added to both.
        let deferred = self.base.is_some() && self.decoder.is_none();
        if !deferred {
            self.decoder(sets);
        }
        let untested = std::mem::replace(&mut self.untested, Candidates::Listed(Vec::new()));
        let (added, passed, listed) = sets.add_roots(&mut self.ours, untested, &matcher);
        self.candidates = listed;
        self.phase = Phase::Filtered;
        self.progressed(now);
        for id in &added {
            self.digest.insert(id);
        }
        match deferred {
            true => self.gained.extend(added),
            false => self.decoder(sets).extend(added),
        }
        step.log(
            Level::Debug,
            format!(
                "reconciliation {}: {passed} of our {} transactions outside the pair are among \
                 the party's {} roots",
                self.key,
                self.candidates,
                matcher.len(),
            ),
        );
        self.want(0, now, &mut step);
        step
    }

    /// The responder holds exactly our set: the reconciliation is over, with
    /// nothing found but what the set holds that the vault lacks. Only an
    /// answer to a request with no symbols yet counts. `cursor` is the
    /// party's, for where its set stands.
    pub(super) fn on_identical(&mut self, cursor: Option<u64>) -> Step<RequesterEnd> {
        let mut step = Step::default();
        if matches!(self.phase, Phase::Requested | Phase::Filtered) {
            self.cursor = cursor;
            step.end(RequesterEnd::Decoded { said_done: false });
        }
        step
    }
}
