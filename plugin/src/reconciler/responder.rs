//! The responder's side of a reconciliation: it admits or refuses a
//! request (graph readiness, one session per party, the sliding request
//! window, the pool), builds its set for the requester, and streams coded
//! symbols in paced frames within the credit the requester grants.

use super::*;

/// An incoming reconciliation this node is responding to.
pub(super) struct Incoming {
    pub(super) party: String,
    pub(super) encoder: Encoder,
    pub(super) batches: u32,
    /// Symbols the requester has asked for so far.
    pub(super) granted: u32,
    /// Most symbols this session will ever send.
    pub(super) symbol_cap: u32,
    /// The timer that paces this session's stream.
    pub(super) timer: u64,
    pub(super) deadline_timer: u64,
    /// When the party last sent us anything, or we last sent it a frame.
    pub(super) last_heard_ms: u64,
}

impl<H: Host> Reconciler<H> {
    pub(super) fn on_request(
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
        self.begin_row(sender, false, session, now);
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
    pub(super) fn within_request_limit(&mut self) -> bool {
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
    pub(super) fn grant(&mut self, session: SessionId, credit: u32) {
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
    pub(super) fn stream_frame(&mut self, session: SessionId) {
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
        let frame = frame_size(start, per_message, left);
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

    /// Forgets an incoming session and its timers.
    pub(super) fn remove_incoming(&mut self, session: SessionId) -> Option<Incoming> {
        let job = self.incoming.remove(&session)?;
        self.drop_timer(job.timer);
        self.drop_timer(job.deadline_timer);
        Some(job)
    }

    pub(super) fn on_more(&mut self, sender: &str, session: SessionId, credit: u32) {
        let now = self.host.now_ms();
        if let Some(job) = self.incoming.get_mut(&session)
            && job.party == sender
        {
            job.last_heard_ms = now;
            self.grant(session, credit);
        }
    }

    pub(super) fn on_done(&mut self, sender: &str, session: SessionId, found: u64) {
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
    pub(super) fn end_incoming(&mut self, session: SessionId, status: StatusValue, error: &str) {
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
}
