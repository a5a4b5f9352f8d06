//! The requester's side of a reconciliation: it builds its set, sends the
//! request, peels the coded symbols the responder streams, asks for more
//! until the difference decodes, re-checks the vault, and records the
//! outcome.

use super::*;

/// An outgoing reconciliation that is running.
pub(super) struct Outgoing {
    pub(super) party: String,
    pub(super) decoder: Decoder,
    /// Keys the responder's symbols; sent again with each retried request.
    pub(super) salt: u64,
    pub(super) started_ms: u64,
    /// When the party last sent us anything for this session.
    pub(super) last_heard_ms: u64,
    /// Requests refused as busy so far.
    pub(super) busy_refusals: u32,
    /// Waiting for the retry timer after a busy refusal: the job holds no
    /// pool slot meanwhile.
    pub(super) backing_off: bool,
    pub(super) retry_timer: u64,
    pub(super) deadline_timer: u64,
    pub(super) requester_set_size: u64,
    /// Learned from the first frame.
    pub(super) responder_set_size: u64,
    /// Symbols granted to the responder so far.
    pub(super) granted: u32,
    /// Batches asked for so far (the first `Request` counts as one).
    pub(super) batches: u32,
    /// Moments of residual counts in the current batch.
    pub(super) moments: CountMoments,
}

impl<H: Host> Reconciler<H> {
    pub(super) fn start_outgoing(&mut self, party: String) {
        let session = self.new_session();
        let now = self.host.now_ms();
        self.begin_row(&party, true, session, now);
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
    pub(super) fn send_request(&mut self, session: SessionId) {
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

    /// Forgets an outgoing session and its timers.
    pub(super) fn remove_outgoing(&mut self, session: SessionId) -> Option<Outgoing> {
        let job = self.outgoing.remove(&session)?;
        self.drop_timer(job.retry_timer);
        self.drop_timer(job.deadline_timer);
        Some(job)
    }

    /// Tells the party why an outgoing reconciliation is abandoned, then
    /// records it FAILED with that reason.
    pub(super) fn abort_outgoing(&mut self, session: SessionId, reason: &str) {
        if let Some(party) = self.outgoing.get(&session).map(|j| j.party.clone()) {
            let body = Body::Abort {
                reason: reason.to_string(),
            };
            let _ = self.send(&party, session, body);
        }
        self.fail_outgoing(session, reason);
    }

    pub(super) fn fail_outgoing(&mut self, session: SessionId, reason: &str) {
        if let Some(job) = self.remove_outgoing(session) {
            self.fail_outgoing_row(&job.party, reason);
        }
    }

    pub(super) fn on_symbols(
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
            self.abort_outgoing(session, &reason);
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
            self.abort_outgoing(session, &reason);
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

    pub(super) fn finish_outgoing(&mut self, session: SessionId) {
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
                self.outgoing.insert(session, job);
                self.abort_outgoing(session, &reason);
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
}
