//! Our outgoing reconciliations, as the reconciler runs them: starting a
//! [`RequesterSession`], handing it the responder's frames and its timers,
//! carrying out its steps, and recording how it ended — after re-checking
//! the vault for what it found.

use super::known_sets::Learnt;
use super::requester::{MAX_RESALTS, RequesterEnd, RequesterSession, RequesterSets};
use super::session::{Context, Role, SessionKey, Step};
use super::sets::{Origin, PairSets};
use super::status_book::Transition;
use super::{RECENTLY_ENDED, Reconciler, timer};
use crate::host::{Host, Level};
use crate::protocol::{Body, StreamHeader};
use crate::riblt::{Side, WIRE_SYMBOL_LEN};
use crate::status::StatusValue;
use ledger_sync_vocabulary::marker;

impl<H: Host> Reconciler<H> {
    /// Starts a reconciliation with `party`: records it IN_PROGRESS, builds
    /// our set and sends the request (or records it FAILED if the graph is
    /// not ready or the set cannot be built).
    pub(super) fn start_outgoing(&mut self, party: String) {
        self.start_outgoing_salted(party, 0);
    }

    /// [`Self::start_outgoing`], after `resalts` earlier salts did not
    /// decode the difference within the bounds.
    fn start_outgoing_salted(&mut self, party: String, resalts: u32) {
        let key = self.new_session(&party);
        let now = self.host.now_ms();
        if !self.record_began(&party, key.id, now) {
            self.log(
                Level::Warn,
                marker::RECONCILE_WITH_PARTY,
                &format!(
                    "reconciliation with {party} waits: its IN_PROGRESS row was not stored, and \
                     no reconciliation starts until the status store takes writes again"
                ),
            );
            return;
        }
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!("reconciliation {key} started"),
        );
        if let Err(reason) = self.readiness().map_err(|e| e.to_string()) {
            self.fail_outgoing_row(&party, &reason);
            return;
        }
        let core = match self.pair_sets(&party).core() {
            Ok(core) => core,
            Err(reason) => {
                self.fail_outgoing_row(&party, &reason);
                return;
            }
        };
        if core.1.origin == Origin::LastReconciled {
            let (bytes, parties) = self.known_sets.usage();
            self.log(
                Level::Debug,
                marker::RECONCILE_WITH_PARTY,
                &format!(
                    "reconciliation {key} starts from {party}'s set as last reconciled ({} \
                     transactions, {} of them not in our vault then; {bytes} bytes kept for \
                     {parties} parties)",
                    core.1.set.len(),
                    core.1.set.lacked.len()
                ),
            );
        }
        // A routine check keys its symbols under the salt its set's digest
        // was kept under (a new one after a resalt, which forgot the set).
        let salt = match core.1.digest {
            Some(digest) => digest.salt(),
            None => self.host.random_u64(),
        };
        let max_message = self.host.max_message_size();
        let live = self.new_live(&key, Role::Requester);
        let cx = Context {
            now,
            max_message,
            config: &self.config,
        };
        let protocol = self.protocol_of(&party);
        let (session, step) = RequesterSession::start(
            key.clone(),
            self.me.clone(),
            core,
            (salt, resalts),
            protocol,
            &cx,
        );
        self.outgoing.insert(key.clone(), live(session));
        self.carry_out_outgoing(&key, step);
    }

    /// The sets between this node and `party`.
    pub(super) fn pair_sets<'a>(&'a mut self, party: &'a str) -> PairSets<'a, H> {
        PairSets {
            page_size: self.config.transaction_reader_page_size,
            graph: &mut self.graph,
            host: &mut self.host,
            me: &self.me,
            party,
            known: &mut self.known_sets,
        }
    }

    /// Feeds one event to the outgoing session `key` and carries out its
    /// step; false if there is no such session.
    pub(super) fn drive_outgoing(
        &mut self,
        key: &SessionKey,
        event: impl FnOnce(
            &mut RequesterSession,
            &mut dyn RequesterSets,
            &Context,
        ) -> Step<RequesterEnd>,
    ) -> bool {
        let now = self.host.now_ms();
        let max_message = self.host.max_message_size();
        let Some(live) = self.outgoing.get_mut(key) else {
            return false;
        };
        let cx = Context {
            now,
            max_message,
            config: &self.config,
        };
        let mut sets = PairSets {
            page_size: self.config.transaction_reader_page_size,
            graph: &mut self.graph,
            host: &mut self.host,
            me: &self.me,
            party: &key.party,
            known: &mut self.known_sets,
        };
        let step = event(&mut live.session, &mut sets, &cx);
        self.carry_out_outgoing(key, step);
        true
    }

    fn carry_out_outgoing(&mut self, key: &SessionKey, step: Step<RequesterEnd>) {
        let end = match self.carry_out(key, Role::Requester, step.actions) {
            Ok(()) => step.end,
            Err(reason) => Some(RequesterEnd::Failed(reason)),
        };
        match end {
            None => {}
            Some(RequesterEnd::Decoded { said_done }) => self.finish_outgoing(key, said_done),
            Some(RequesterEnd::Failed(reason)) => self.fail_outgoing(key, &reason),
            Some(RequesterEnd::Undecoded(reason)) => self.resalt_outgoing(key, &reason),
            Some(RequesterEnd::Silent { silent_ms }) => {
                let now = self.host.now_ms();
                let reason = self.silence_reason(&key.party, now, silent_ms);
                self.fail_outgoing(key, &reason);
            }
        }
    }

    /// Coded symbols from a responder: to our session, or, for one we do
    /// not run, see [`Self::on_symbols_without_session`].
    pub(super) fn on_symbols(
        &mut self,
        key: &SessionKey,
        start: u32,
        header: Option<StreamHeader>,
        bytes: &[u8],
    ) {
        let ran = self.drive_outgoing(key, |s, sets, cx| {
            s.on_symbols(start, header, bytes, sets, cx)
        });
        if !ran {
            self.on_symbols_without_session(key, header, bytes);
        }
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
            if *decoded && header.is_none() && bytes.len() == WIRE_SYMBOL_LEN {
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

    /// Forgets an outgoing session and its timers; `decoded` says whether
    /// it ended with `Done`, to be said again if the responder did not
    /// hear it.
    pub(super) fn remove_outgoing(&mut self, key: &SessionKey, decoded: bool) -> bool {
        let Some(live) = self.outgoing.remove(key) else {
            return false;
        };
        if self.recently_ended.len() >= RECENTLY_ENDED {
            self.recently_ended.pop_front();
        }
        self.recently_ended.push_back((key.clone(), decoded));
        self.drop_timers(&live);
        true
    }

    /// The difference with the party did not decode within the bounds,
    /// for `reason`: a rateless code's rare tail, which another salt does
    /// not share. The job starts again at once as a new session under a
    /// new salt (its row stays IN_PROGRESS, naming the new session), up to
    /// [`MAX_RESALTS`] times; then it ends FAILED with `reason`.
    fn resalt_outgoing(&mut self, key: &SessionKey, reason: &str) {
        let Some(resalts) = self.outgoing.get(key).map(|l| l.session.resalts()) else {
            return;
        };
        if resalts >= MAX_RESALTS {
            let reason = format!("{reason} (and under {} salts before)", resalts);
            return self.fail_outgoing(key, &reason);
        }
        self.remove_outgoing(key, false);
        // The party's set may have moved far from the one we kept: start
        // again from our own.
        let _ = self.known_sets.forget(&key.party, &mut self.host);
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "reconciliation {key}: {reason}; starting again under a new salt ({} of \
                 {MAX_RESALTS})",
                resalts + 1
            ),
        );
        self.start_outgoing_salted(key.party.clone(), resalts + 1);
    }

    /// Ends an outgoing session FAILED with `reason`.
    pub(super) fn fail_outgoing(&mut self, key: &SessionKey, reason: &str) {
        if self.remove_outgoing(key, false) {
            self.fail_outgoing_row(&key.party, reason);
        }
    }

    /// Records a decoded outgoing reconciliation's outcome: what the
    /// responder's set holds that we lack — what was decoded, and what its
    /// set as last reconciled held that we still lack — less what has
    /// reached the vault in the meantime. The responder's set, now known,
    /// is kept for the next reconciliation with it.
    fn finish_outgoing(&mut self, key: &SessionKey, said_done: bool) {
        let Some(live) = self.outgoing.get_mut(key) else {
            return;
        };
        let session = &mut live.session;
        let started_ms = session.started_ms();
        let (received, batches) = session.effort();
        let origin = session.origin();
        let changes = session.streams_changes();
        let cursor = session.cursor();
        let candidates = session.candidates();
        let (mut party_set, decoded, mut digest) = session.take_outcome();
        let carried = party_set.lacked.len();
        let decoded_remote = decoded
            .iter()
            .filter(|(_, side)| *side == Side::RemoteOnly)
            .count();
        let decoded_local = decoded.len() - decoded_remote;
        party_set.apply(&self.graph, decoded, &mut digest);
        self.remove_outgoing(key, said_done);
        let mut missing = party_set.lacked.clone();
        missing.sort_unstable();
        let learnt = Learnt {
            cursor,
            digest: Some(digest),
            candidates,
        };
        let kept = self
            .known_sets
            .keep(&key.party, party_set, learnt, &self.graph, &mut self.host);
        if let Err(e) = kept {
            self.log(
                Level::Debug,
                marker::RECONCILE_WITH_PARTY,
                &format!(
                    "could not keep the set of {} as last reconciled beside the statuses ({e}); \
                     after a restart the next reconciliation with it starts from our own set",
                    key.party
                ),
            );
        }
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
        let found = missing.len();
        let already = decoded_remote + carried - found;
        let since = match (origin, changes) {
            (Origin::Pair, _) => String::new(),
            (Origin::LastReconciled, false) => format!(
                "; from the party's set as last reconciled, {carried} of it still missing then"
            ),
            (Origin::LastReconciled, true) => format!(
                "; from the party's set as last reconciled, {carried} of it still missing then, \
                 and a stream of only what the party's set gained since"
            ),
        };
        let reconciled = Transition::Reconciled {
            missing,
            started_ms,
            session: key.id,
        };
        self.transition(&key.party, Role::Requester, reconciled);
        match status {
            StatusValue::DifferencesFound => self.cycle.with_differences += 1,
            _ => self.cycle.without_differences += 1,
        }
        self.log(
            Level::Info,
            marker::RECONCILE_WITH_PARTY,
            &format!(
                "reconciliation {key} finished: {status}, {found} transactions missing \
                 ({decoded_remote} decoded, {already} already in the vault; {decoded_local} of \
                 ours the party lacks) after {received} coded symbols in {batches} \
                 batches{since}",
            ),
        );
        self.host.set_timer(timer::SCHEDULER, 0);
    }
}
