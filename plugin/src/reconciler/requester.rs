//! The requester's side of a reconciliation: it builds its set, sends the
//! request, peels the coded symbols the responder streams, asks again for
//! what was lost, asks for more until the difference decodes, re-checks the
//! vault, and records the outcome.
//!
//! What it may cost is bounded by our own configuration, never by what the
//! responder claims: the symbols asked for and kept stay under
//! [`requester_symbol_cap`], the batches under `maxNumberOfIbfFilterFlows`.

use super::batch_budget::{FIRST_BATCH, merge, next_batch, progress_due, requester_symbol_cap};
use super::status_book::Transition;
use super::{RECENTLY_ENDED, Reconciler, SessionKey, SessionTimer, resend_after_ms, timer};
use crate::host::{Host, Level};
use crate::id::TxId;
use crate::protocol::{Body, Refusal, StreamHeader, unpack_symbols};
use crate::riblt::{CountMoments, Decoder, Side};
use crate::root_filter::{RootFilter, bits_for};
use crate::status::StatusValue;
use ledger_sync_vocabulary::marker;

/// How many times a requester starts again from scratch because the
/// responder lost the session (it restarted) before it gives up.
const MAX_RESTARTS: u32 = 3;

/// An outgoing reconciliation that is running.
pub(super) struct Outgoing {
    pub(super) decoder: Decoder,
    /// Keys the responder's symbols; sent again with each repeated request.
    pub(super) salt: u64,
    pub(super) started_ms: u64,
    /// When the party last sent us anything for this session.
    pub(super) last_heard_ms: u64,
    /// When we last asked the party for anything.
    pub(super) last_asked_ms: u64,
    /// Requests refused as busy so far.
    pub(super) busy_refusals: u32,
    /// Waiting for the retry timer after a busy refusal: the job holds no
    /// pool slot meanwhile.
    pub(super) backing_off: bool,
    pub(super) retry_timer: u64,
    pub(super) silence_timer: u64,
    pub(super) requester_set_size: u64,
    /// What the responder's first frame said.
    pub(super) header: Option<StreamHeader>,
    /// End of the symbols asked for so far.
    pub(super) granted: u32,
    /// Batches asked for so far (the first `Request` counts as one).
    pub(super) batches: u32,
    /// Moments of residual counts in the current batch.
    pub(super) moments: CountMoments,
    /// The index we asked again from after a gap, so that the frames still
    /// in flight behind the gap do not each ask again.
    pub(super) gap_asked_from: Option<u32>,
    /// Times the responder lost the session and we started again.
    pub(super) restarts: u32,
    /// Our transactions outside our set that a roots filter would test.
    pub(super) candidates: u64,
    /// The responder's roots filter has been applied to our set.
    pub(super) roots_applied: bool,
    /// The last index we told the responder we received (`Progress`, or a
    /// `Want`'s `from`): its stream runs at most a window past it.
    pub(super) reported: u32,
}

/// Where an outgoing reconciliation is in the protocol. Read off the
/// session by [`Outgoing::phase`]; every decision that depends on it goes
/// through that one function.
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
    /// pool slot, ignoring its frames; then the request goes out again.
    BackingOff,
}

impl Outgoing {
    /// This session's phase.
    pub(super) fn phase(&self) -> Phase {
        if self.backing_off {
            Phase::BackingOff
        } else if self.decoder.received() > 0 {
            Phase::Streaming
        } else if self.roots_applied {
            Phase::Filtered
        } else {
            Phase::Requested
        }
    }
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

impl<H: Host> Reconciler<H> {
    pub(super) fn start_outgoing(&mut self, party: String) {
        let key = self.new_session(&party);
        let now = self.host.now_ms();
        self.transition_at(&party, true, Transition::Began { session: key.id }, now);
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!("reconciliation {key} started"),
        );
        if let Err(reason) = self.readiness().map_err(|e| e.to_string()) {
            self.fail_outgoing_row(&party, &reason);
            return;
        }
        let (ids, candidates) = match self.requester_core(&party) {
            Ok(core) => core,
            Err(reason) => {
                self.fail_outgoing_row(&party, &reason);
                return;
            }
        };
        let salt = self.host.random_u64();
        let requester_set_size = ids.len() as u64;
        let retry_timer = self.new_timer(&key, SessionTimer::Retry);
        let silence_timer = self.new_timer(&key, SessionTimer::Silence { outgoing: true });
        self.outgoing.insert(
            key.clone(),
            Outgoing {
                decoder: Decoder::new(ids, salt),
                salt,
                started_ms: now,
                last_heard_ms: now,
                last_asked_ms: now,
                busy_refusals: 0,
                backing_off: false,
                retry_timer,
                silence_timer,
                requester_set_size,
                header: None,
                granted: FIRST_BATCH,
                batches: 1,
                moments: CountMoments::default(),
                gap_asked_from: None,
                restarts: 0,
                candidates,
                roots_applied: false,
                reported: 0,
            },
        );
        self.host
            .set_timer(silence_timer, resend_after_ms(&self.config));
        self.send_request(&key);
    }

    /// Sends (or sends again: after a busy refusal, a silence, or the
    /// responder losing the session) an outgoing session's request.
    pub(super) fn send_request(&mut self, key: &SessionKey) {
        let Some(job) = self.outgoing.get_mut(key) else {
            return;
        };
        job.last_asked_ms = self.host.now_ms();
        let request = Body::Request {
            salt: job.salt,
            until: job.granted,
            digest: Some(job.decoder.digest()),
            roots_bits: roots_bits_for(job.candidates),
            set_size: job.requester_set_size,
        };
        if let Err(reason) = self.send(&key.party, key.id, request) {
            self.fail_outgoing(key, &reason);
        }
    }

    /// Asks the responder for symbols `[from, until)`.
    fn send_want(&mut self, key: &SessionKey, from: u32) {
        let Some(job) = self.outgoing.get_mut(key) else {
            return;
        };
        job.last_asked_ms = self.host.now_ms();
        job.reported = from;
        let until = job.granted;
        if let Err(reason) = self.send(&key.party, key.id, Body::Want { from, until }) {
            self.fail_outgoing(key, &reason);
        }
    }

    /// Tells the responder how far the stream has arrived, when it is
    /// time to (see [`progress_due`]).
    fn report_progress(&mut self, key: &SessionKey) {
        let Some(job) = self.outgoing.get_mut(key) else {
            return;
        };
        let received = job.decoder.received();
        if !progress_due(job.reported, received) {
            return;
        }
        job.reported = received;
        if let Err(reason) = self.send(&key.party, key.id, Body::Progress { received }) {
            self.fail_outgoing(key, &reason);
        }
    }

    /// Forgets an outgoing session and its timers; `decoded` says whether
    /// it ended with `Done`, to be said again if the responder did not
    /// hear it.
    pub(super) fn remove_outgoing(&mut self, key: &SessionKey) -> Option<Outgoing> {
        self.remove_outgoing_as(key, false)
    }

    fn remove_outgoing_as(&mut self, key: &SessionKey, decoded: bool) -> Option<Outgoing> {
        let job = self.outgoing.remove(key)?;
        if self.recently_ended.len() >= RECENTLY_ENDED {
            self.recently_ended.pop_front();
        }
        self.recently_ended.push_back((key.clone(), decoded));
        self.drop_timer(job.retry_timer);
        self.drop_timer(job.silence_timer);
        Some(job)
    }

    /// Tells the party why an outgoing reconciliation is abandoned, then
    /// records it FAILED with that reason.
    pub(super) fn abort_outgoing(&mut self, key: &SessionKey, reason: &str) {
        if self.outgoing.contains_key(key) {
            let body = Body::Abort {
                to_responder: true,
                reason: reason.to_string(),
            };
            let _ = self.send(&key.party, key.id, body);
        }
        self.fail_outgoing(key, reason);
    }

    pub(super) fn fail_outgoing(&mut self, key: &SessionKey, reason: &str) {
        if self.remove_outgoing(key).is_some() {
            self.fail_outgoing_row(&key.party, reason);
        }
    }

    /// The responder answered a request of ours with a refusal.
    pub(super) fn on_refused(&mut self, key: &SessionKey, refusal: Refusal) {
        let Some(job) = self.outgoing.get(key) else {
            return;
        };
        if refusal.is_busy() {
            self.retry_later(key, &refusal);
        } else if refusal.is_lost_session() && job.restarts < MAX_RESTARTS {
            self.restart_outgoing(key);
        } else {
            let reason = format!("{} refused: {refusal}", key.party);
            self.fail_outgoing(key, &reason);
        }
    }

    /// The responder lost the session (it restarted): start again from the
    /// first symbol, with the set rebuilt, since the responder's set — and so
    /// its stream — may have changed.
    fn restart_outgoing(&mut self, key: &SessionKey) {
        let (ids, candidates) = match self.requester_core(&key.party) {
            Ok(core) => core,
            Err(reason) => {
                self.fail_outgoing(key, &reason);
                return;
            }
        };
        let now = self.host.now_ms();
        let Some(job) = self.outgoing.get_mut(key) else {
            return;
        };
        job.restarts += 1;
        job.candidates = candidates;
        job.roots_applied = false;
        job.requester_set_size = ids.len() as u64;
        job.decoder = Decoder::new(ids, job.salt);
        job.header = None;
        job.granted = FIRST_BATCH;
        job.batches = 1;
        job.moments = CountMoments::default();
        job.gap_asked_from = None;
        job.last_heard_ms = now;
        let restarts = job.restarts;
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "{} has no record of reconciliation {key} (it may have restarted); starting it \
                 again ({restarts} of {MAX_RESTARTS})",
                key.party
            ),
        );
        self.send_request(key);
    }

    /// The silence timer of an outgoing session fired: give up after the
    /// inactivity timeout; before that, after a shorter silence, ask again
    /// for what we are missing, in case a message was lost.
    pub(super) fn on_requester_silence(&mut self, key: &SessionKey) {
        let timeout = self.config.reconciliation_inactivity_timeout_ms;
        let resend_after = resend_after_ms(&self.config);
        let now = self.host.now_ms();
        let Some(job) = self.outgoing.get_mut(key) else {
            return;
        };
        let timer = job.silence_timer;
        if job.phase() == Phase::BackingOff {
            // Waiting to retry a busy party: nothing is expected meanwhile.
            job.last_heard_ms = now;
            job.last_asked_ms = now;
            self.host.set_timer(timer, timeout);
            return;
        }
        let silent = now.saturating_sub(job.last_heard_ms);
        if silent >= timeout {
            let reason = self.silence_reason(&key.party, now, silent);
            let me = self.me.clone();
            let _ = self.send(
                &key.party,
                key.id,
                Body::Abort {
                    to_responder: true,
                    reason: format!("{me} timed out waiting for {}", key.party),
                },
            );
            self.fail_outgoing(key, &reason);
            return;
        }
        let ask_due = job.last_asked_ms.saturating_add(resend_after);
        if now >= ask_due && now.saturating_sub(job.last_heard_ms) >= resend_after {
            let received = job.decoder.received();
            if job.phase() == Phase::Requested {
                self.send_request(key);
            } else {
                self.send_want(key, received);
            }
        }
        let Some(job) = self.outgoing.get(key) else {
            return;
        };
        let next = job
            .last_heard_ms
            .saturating_add(timeout)
            .min(job.last_asked_ms.saturating_add(resend_after))
            .max(now + 1);
        self.host.set_timer(timer, next - now);
    }

    pub(super) fn on_symbols(
        &mut self,
        key: SessionKey,
        start: u32,
        header: Option<StreamHeader>,
        bytes: &[u8],
    ) {
        if !self.outgoing.contains_key(&key) {
            self.on_symbols_without_session(&key, header, bytes);
            return;
        }
        let job = self.outgoing.get_mut(&key).expect("checked above");
        if job.phase() == Phase::BackingOff {
            return;
        }
        let now = self.host.now_ms();
        let received = job.decoder.received();
        let count = (bytes.len() / crate::riblt::WIRE_SYMBOL_LEN) as u32;
        let end = start as u64 + count as u64;
        if end > job.granted as u64 {
            let reason = format!(
                "protocol violation by {}: coded symbols up to index {end}, but only {} were \
                 asked for",
                key.party, job.granted
            );
            self.abort_outgoing(&key, &reason);
            return;
        }
        // Only a frame that adds to what we hold counts as hearing from the
        // party: frames past a gap or duplicates (a responder re-sending its
        // last symbol while it waits) must not keep our silence timer from
        // asking again for what was lost.
        if start > received {
            // A frame was lost: ask again from the index we hold, once per
            // gap (the frames behind it are dropped as they arrive).
            if job.gap_asked_from != Some(received) {
                job.gap_asked_from = Some(received);
                self.send_want(&key, received);
            }
            return;
        }
        if end <= received as u64 {
            return; // a duplicate of symbols we hold
        }
        job.last_heard_ms = now;
        if start == 0 && job.header.is_none() {
            job.header = header;
        }
        job.gap_asked_from = None;
        let skip = (received - start) as usize * crate::riblt::WIRE_SYMBOL_LEN;
        let m = job.decoder.add_symbols(&unpack_symbols(&bytes[skip..]));
        job.moments = merge(job.moments, m);
        if job.decoder.is_inconsistent() {
            let reason = format!(
                "protocol violation by {}: its coded symbols cannot come from any set (an id \
                 decoded twice); forged or corrupt",
                key.party
            );
            self.abort_outgoing(&key, &reason);
            return;
        }
        if job.decoder.is_decoded() {
            self.finish_outgoing(&key);
            return;
        }
        if job.decoder.received() < job.granted {
            self.report_progress(&key);
            return;
        }
        self.ask_for_more(&key);
    }

    /// Symbols for a session we do not run. Frames the responder sent
    /// before our `Done` or `Abort` reached it are dropped (it has ended
    /// the session, or will on that message); one that comes back after a
    /// silence means it never heard our `Done` (it re-sends its last
    /// symbol): say it again. For a session we never had, or forgot (we
    /// restarted), tell the responder to stop.
    fn on_symbols_without_session(
        &mut self,
        key: &SessionKey,
        header: Option<StreamHeader>,
        bytes: &[u8],
    ) {
        if let Some((_, decoded)) = self.recently_ended.iter().find(|(k, _)| k == key) {
            if *decoded && header.is_none() && bytes.len() == crate::riblt::WIRE_SYMBOL_LEN {
                let _ = self.send(&key.party, key.id, Body::Done);
            }
            return;
        }
        self.log(
            Level::Debug,
            marker::RECONCILE_WITH_PARTY,
            &format!("dropped coded symbols for unknown reconciliation {key}"),
        );
        let body = Body::Abort {
            to_responder: true,
            reason: format!("{} has no reconciliation {} running", self.me, key.id),
        };
        let _ = self.send(&key.party, key.id, body);
    }

    /// The credit asked for so far has arrived and not decoded: ask for the
    /// next batch, or give up past `maxNumberOfIbfFilterFlows` batches or the
    /// symbol cap.
    fn ask_for_more(&mut self, key: &SessionKey) {
        let max_differences = self.config.max_reconciliation_differences;
        let max_batches = self.config.max_number_of_ibf_filter_flows;
        let Some(job) = self.outgoing.get_mut(key) else {
            return;
        };
        if job.batches >= max_batches {
            let reason = format!(
                "the difference with {} was not decoded within {max_batches} coded-symbol \
                 batches ({} symbols; maxNumberOfIbfFilterFlows = {max_batches})",
                key.party,
                job.decoder.received()
            );
            self.abort_outgoing(key, &reason);
            return;
        }
        let cap = requester_symbol_cap(job.requester_set_size, job.header, max_differences);
        if job.decoder.received() >= cap {
            let reason = format!(
                "the difference with {} was not decoded within {cap} coded symbols, the most \
                 this reconciliation may use (maxReconciliationDifferences = {max_differences}; \
                 {})",
                key.party,
                match job.header {
                    Some(h) => format!(
                        "the party's set has {} transactions and it streams at most {}",
                        h.responder_set_size, h.stream_limit
                    ),
                    None => "the party never sent the first frame of its stream".to_string(),
                }
            );
            self.abort_outgoing(key, &reason);
            return;
        }
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
        let from = job.decoder.received();
        self.send_want(key, from);
    }

    /// The responder's roots beyond the pair: add the candidates that pass,
    /// with their back-chains, then ask for the stream — always, so that
    /// nothing we send depends on which of our transactions passed. Only an
    /// answer to a request with no symbols yet counts, once; a filter of
    /// another width than we asked for is refused before it is decoded.
    pub(super) fn on_roots(&mut self, key: &SessionKey, filter: RootFilter) {
        let Some(job) = self.outgoing.get(key) else {
            return;
        };
        if job.phase() != Phase::Requested {
            return;
        }
        let salt = job.salt;
        let asked = roots_bits_for(job.candidates);
        if filter.bits != asked {
            let reason = format!(
                "protocol violation by {}: a roots filter of {} remainder bits, when {asked} \
                 were asked for",
                key.party, filter.bits
            );
            self.abort_outgoing(key, &reason);
            return;
        }
        let matcher = match filter.matcher(salt) {
            Ok(matcher) => matcher,
            Err(why) => {
                let reason = format!("protocol violation by {}: {why}", key.party);
                self.abort_outgoing(key, &reason);
                return;
            }
        };
        let (ids, passed) = match self.requester_set_with_roots(&key.party, &matcher) {
            Ok(set) => set,
            Err(reason) => {
                self.abort_outgoing(key, &reason);
                return;
            }
        };
        let now = self.host.now_ms();
        let Some(job) = self.outgoing.get_mut(key) else {
            return;
        };
        job.roots_applied = true;
        job.last_heard_ms = now;
        job.requester_set_size = ids.len() as u64;
        job.decoder = Decoder::new(ids, salt);
        let candidates = job.candidates;
        self.log(
            Level::Debug,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "reconciliation {key}: {passed} of our {candidates} transactions outside the pair \
                 are among the party's {} roots",
                matcher.len(),
            ),
        );
        self.send_want(key, 0);
    }

    /// The responder holds exactly our set: the reconciliation is over, with
    /// nothing found. Only an answer to a request with no symbols yet counts.
    pub(super) fn on_identical(&mut self, key: &SessionKey) {
        let Some(job) = self.outgoing.get(key) else {
            return;
        };
        if !matches!(job.phase(), Phase::Requested | Phase::Filtered) {
            return;
        }
        self.finish_outgoing_as(key, false);
    }

    pub(super) fn finish_outgoing(&mut self, key: &SessionKey) {
        self.finish_outgoing_as(key, true);
    }

    /// Records an outgoing reconciliation's outcome; `tell_responder` sends
    /// `Done` (not needed after [`Body::Identical`], which ended it there).
    fn finish_outgoing_as(&mut self, key: &SessionKey, tell_responder: bool) {
        let job = self
            .remove_outgoing_as(key, tell_responder)
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
        // Decoded: tell the responder at once, before looking at the vault,
        // so that nothing it hears depends on what the vault holds.
        if tell_responder {
            let _ = self.send(&key.party, key.id, Body::Done);
        }
        // Transactions that reached the vault while we reconciled, or that we
        // hold outside the set we reconciled, are not missing.
        match self.host.contains_transactions(&missing) {
            Ok(held) => {
                let mut held = held.into_iter();
                missing.retain(|_| !held.next().unwrap_or(false));
            }
            Err(e) => {
                let reason = format!("could not re-check the vault for the differences found: {e}");
                self.fail_outgoing_row(&key.party, &reason);
                return;
            }
        }
        let status = if missing.is_empty() {
            StatusValue::DifferencesNotFound
        } else {
            StatusValue::DifferencesFound
        };
        let found = missing.len() as u64;
        let reconciled = Transition::Reconciled {
            missing,
            started_ms: job.started_ms,
            session: key.id,
        };
        self.transition(&key.party, true, reconciled);
        match status {
            StatusValue::DifferencesFound => self.cycle.with_differences += 1,
            _ => self.cycle.without_differences += 1,
        }
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "reconciliation {key} finished: {status}, {found} transactions missing \
                 ({} decoded, {} already in the vault) after {} coded symbols in {} batches",
                decoded_remote,
                decoded_remote as u64 - found,
                job.decoder.received(),
                job.batches
            ),
        );
        self.host.set_timer(timer::SCHEDULER, 0);
    }
}
