//! Answering another node's asks. For each ask from a party:
//!
//! 1. its `maxAllowedRequests` per window, and `maxAllowedTransactions`
//!    per ask, or the ask is refused whole;
//! 2. of the ids asked, only those in this node's reconciliation set for
//!    that party (`reconciliation.shared-with`: a transaction it takes
//!    part in, or in the back-chain of one) and held with their bytes are
//!    sent; every other id is answered *unavailable*, one answer for "not
//!    held", "held without bytes" and "not yours to see", so an ask can
//!    never be used to read or probe anything reconciliation would not
//!    have told the party;
//! 3. at most `maxAllowedSizeInBytes` per window go to that party; what
//!    does not fit is *deferred*, with when to ask again;
//! 4. the transactions go in messages under the network's maximum size,
//!    then `Done`. Each answer is one row in CR_RECOVERY_REQUEST (the
//!    responder's side) and one line in CR_RECOVERY_LOG.

use crate::Recoverer;
use crate::node::Node;
use crate::protocol::{Message, Refusal, RequestId, request_uuid, transaction_overhead};
use crate::window::Window;
use ledger_sync_plugin_api::platform::Level;
use ledger_sync_vocabulary::recovery::{RecoveryRequest, RecoveryStatus};
use ledger_sync_vocabulary::{FlowError, TxId};
use std::collections::HashMap;

/// Rows of the asks served kept in memory to add to; past it the oldest
/// is forgotten (its row stays in the table).
const SERVED_ROWS: usize = 1_000;
/// Ids a responder's row lists, at most (its counts keep counting): the
/// row is saved after every ask, so what it lists is what every ask
/// writes. (Round 4: 100,000, 3.2 MB rewritten per ask.)
const SERVED_IDS: usize = 1_000;
/// Rows read at start to restore the windows: the newest, as the
/// operator's GetRecoveryRequestsFlow reads them.
const RESTORED_ROWS: u32 = 100;
/// Ids read for their bytes per host call: few, so that what is read and
/// not sent (past the size window) stays small whatever the transactions'
/// sizes; once the window is spent the rest are deferred unread.
const BYTES_PER_CALL: usize = 8;
/// How long a party is told to wait while this node cannot answer.
const NOT_READY_MS: u64 = 5_000;

/// What this node has given each party: its windows, and the rows of the
/// asks it served.
#[derive(Default)]
pub struct Served {
    requests: HashMap<String, Window>,
    bytes: HashMap<String, Window>,
    rows: HashMap<(String, RequestId), RecoveryRequest>,
    /// The window in which a party's refusal was last logged.
    refusal_logged: HashMap<String, u64>,
}

impl<N: Node> Recoverer<N> {
    /// Each party's windows as the stored rows and log of the asks this
    /// node served leave them, at start: a trap or a restart does not give
    /// a party a fresh window. (Round 4: 29 + 30 asks were answered in one
    /// window of 30 an hour, across a restart.) An answered ask is one log
    /// line, at its time; a row's bytes count at its last answer, all of
    /// them when the row began within the size window, at most the limit
    /// otherwise — never less than was given.
    pub(crate) fn restore_windows(&mut self) -> Result<(), String> {
        let now = self.node.now_ms();
        let request_window = self.config.time_window_for_max_allowed_requests_ms;
        let size_window = self.config.time_window_for_max_allowed_size_ms;
        let size_limit = self.config.max_allowed_size_in_bytes;
        let rows = self.node.load_requests(RESTORED_ROWS)?;
        let mut asks: HashMap<String, Vec<u64>> = HashMap::new();
        let mut bytes: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
        let recent = |at: u64, window: u64| now.saturating_sub(at) < window;
        for row in rows.iter().filter(|r| !r.is_requester) {
            let last = row.time_finished.unwrap_or(row.time_started);
            if recent(last, size_window) && row.bytes > 0 {
                let given = if recent(row.time_started, size_window) {
                    row.bytes
                } else {
                    row.bytes.min(size_limit)
                };
                bytes
                    .entry(row.party_name.clone())
                    .or_default()
                    .push((last, given));
            }
            if recent(last, request_window) {
                let limit = self.config.max_allowed_requests.saturating_add(1);
                let lines = self.node.load_log(&row.request_id, limit)?;
                let times = (lines.iter())
                    .filter(|e| !e.is_requester && recent(e.time, request_window))
                    .map(|e| e.time);
                asks.entry(row.party_name.clone())
                    .or_default()
                    .extend(times);
            }
        }
        for (party, mut times) in asks {
            times.sort_unstable();
            let window = self.served.requests.entry(party).or_default();
            for at in times {
                window.give(at, 1);
            }
        }
        for (party, mut given) in bytes {
            given.sort_unstable();
            let window = self.served.bytes.entry(party).or_default();
            for (at, amount) in given {
                window.give(at, amount);
            }
        }
        Ok(())
    }
}

/// What one ask gets.
struct Answer {
    send: Vec<(TxId, Vec<u8>)>,
    unavailable: Vec<TxId>,
    deferred: Vec<TxId>,
    retry_after_ms: u64,
}

impl<N: Node> Recoverer<N> {
    /// Answers `party`'s ask for `ids`.
    pub(crate) fn answer(&mut self, party: &str, asked: (RequestId, u32), ids: Vec<TxId>) {
        let request = asked.0;
        if let Some(refusal) = self.admit(party, ids.len()) {
            return self.refuse(party, asked, refusal);
        }
        let answer = match self.choose(party, &ids) {
            Ok(answer) => answer,
            Err(refusal) => return self.refuse(party, asked, refusal),
        };
        let sent = answer.send.len() as u32;
        let bytes: u64 = answer.send.iter().map(|(_, b)| b.len() as u64).sum();
        self.send_transactions(party, asked, answer.send);
        let done = Message::Done {
            request,
            ask: asked.1,
            sent,
            unavailable: answer.unavailable.clone(),
            deferred: answer.deferred.clone(),
            retry_after_ms: answer.retry_after_ms,
        };
        let _ = self.node.send(party, &done.encode());
        let now = self.node.now_ms();
        let row = self.served_row(party, request, &ids, now);
        row.recovered += sent;
        row.unavailable += answer.unavailable.len() as u32;
        row.bytes += bytes;
        row.end(RecoveryStatus::Completed, now, "");
        let row = row.clone();
        self.save(&row);
        let line = format!(
            "sent {sent} of {} asked ({bytes} bytes); {} unavailable, {} deferred under the size \
             limit",
            ids.len(),
            answer.unavailable.len(),
            answer.deferred.len()
        );
        self.journal(&row, Level::Info, &line);
    }

    /// The party's request window and the ask's size, checked; the ask is
    /// counted.
    fn admit(&mut self, party: &str, asked: usize) -> Option<Refusal> {
        let now = self.node.now_ms();
        let (window, limit) = (
            self.config.time_window_for_max_allowed_requests_ms,
            u64::from(self.config.max_allowed_requests),
        );
        let requests = self.served.requests.entry(party.to_string()).or_default();
        if requests.left(now, window, limit) == 0 {
            let retry_after_ms = requests.wait_for(now, window, limit, 1);
            return Some(Refusal::RequestLimit { retry_after_ms });
        }
        requests.give(now, 1);
        let max = self.config.max_allowed_transactions;
        (asked > max as usize).then_some(Refusal::TooManyTransactions { max })
    }

    /// Which of `ids` go to `party` now, which never, which later.
    fn choose(&mut self, party: &str, ids: &[TxId]) -> Result<Answer, Refusal> {
        let shared = match self.node.shared_with(party, ids) {
            Ok(shared) => shared,
            Err(FlowError::LedgerGraphNotInitialised) => {
                return Err(Refusal::NotReady {
                    retry_after_ms: NOT_READY_MS,
                });
            }
            Err(e) => return Err(self.not_ready(party, &e.to_string())),
        };
        let mut unavailable = Vec::new();
        let mut candidates = Vec::new();
        for (id, shared) in ids.iter().zip(shared) {
            if shared {
                candidates.push(*id);
            } else {
                unavailable.push(*id);
            }
        }
        self.within_budget(party, candidates, unavailable)
    }

    /// Logs why `party`'s ask cannot be answered now, and refuses it for a
    /// while.
    fn not_ready(&mut self, party: &str, why: &str) -> Refusal {
        let line = format!("cannot answer {party}'s recovery yet: {why}");
        self.node.log(Level::Warn, &line);
        Refusal::NotReady {
            retry_after_ms: NOT_READY_MS,
        }
    }

    /// Splits the `candidates` (in the party's set) by the party's size
    /// window, reading their bytes a few at a time: what fits is sent,
    /// what is not held with bytes or could never be sent is unavailable,
    /// the rest deferred — and once the window is spent (or one did not
    /// fit), the rest are deferred without being read. (Every candidate used to be read first:
    /// 30 asks of 9 MB transactions exhausted the guest's memory.)
    fn within_budget(
        &mut self,
        party: &str,
        candidates: Vec<TxId>,
        mut unavailable: Vec<TxId>,
    ) -> Result<Answer, Refusal> {
        let now = self.node.now_ms();
        let (window, limit) = (
            self.config.time_window_for_max_allowed_size_ms,
            self.config.max_allowed_size_in_bytes,
        );
        let max_message = self.node.max_message_size() as usize;
        let mut left = self
            .served
            .bytes
            .entry(party.to_string())
            .or_default()
            .left(now, window, limit);
        let (mut send, mut deferred, mut smallest) = (Vec::new(), Vec::new(), u64::MAX);
        for chunk in candidates.chunks(BYTES_PER_CALL) {
            if left == 0 || !deferred.is_empty() {
                deferred.extend_from_slice(chunk);
                continue;
            }
            let read = match self.node.transaction_bytes(chunk) {
                Ok(read) => read,
                Err(why) => return Err(self.not_ready(party, &why)),
            };
            for (id, bytes) in chunk.iter().copied().zip(read) {
                match bytes {
                    // Never sendable under this configuration or network:
                    // as good as not held.
                    Some(b) if b.len() as u64 > limit || b.len() + 64 > max_message => {
                        unavailable.push(id)
                    }
                    Some(b) if (b.len() as u64) <= left => {
                        left -= b.len() as u64;
                        send.push((id, b));
                    }
                    Some(b) => {
                        smallest = smallest.min(b.len() as u64);
                        deferred.push(id);
                    }
                    None => unavailable.push(id),
                }
            }
        }
        let budget = self.served.bytes.entry(party.to_string()).or_default();
        for (_, b) in &send {
            budget.give(now, b.len() as u64);
        }
        // Deferred unread, the size needed is unknown: wait for the window
        // to free what one message can carry at most, or what it holds.
        let needed = smallest.min(limit).min(max_message as u64);
        let retry_after_ms = if deferred.is_empty() {
            0
        } else {
            budget.wait_for(now, window, limit, needed.max(1))
        };
        Ok(Answer {
            send,
            unavailable,
            deferred,
            retry_after_ms,
        })
    }

    /// Sends `transactions` in messages under the network's maximum size.
    fn send_transactions(
        &mut self,
        party: &str,
        asked: (RequestId, u32),
        transactions: Vec<(TxId, Vec<u8>)>,
    ) {
        let max = self.node.max_message_size() as usize;
        let mut batch: Vec<(TxId, Vec<u8>)> = Vec::new();
        let mut size = 64;
        for (id, bytes) in transactions {
            let cost = bytes.len() + transaction_overhead();
            if !batch.is_empty() && size + cost > max {
                self.send_batch(party, asked, std::mem::take(&mut batch));
                size = 64;
            }
            size += cost;
            batch.push((id, bytes));
        }
        if !batch.is_empty() {
            self.send_batch(party, asked, batch);
        }
    }

    fn send_batch(
        &mut self,
        party: &str,
        (request, ask): (RequestId, u32),
        transactions: Vec<(TxId, Vec<u8>)>,
    ) {
        let message = Message::Transactions {
            request,
            ask,
            transactions,
        };
        if let Err(why) = self.node.send(party, &message.encode()) {
            // The requester asks again for what it did not get.
            self.log(Level::Warn, &format!("could not send to {party}: {why}"));
        }
    }

    fn refuse(&mut self, party: &str, (request, ask): (RequestId, u32), refusal: Refusal) {
        let message = Message::Refused {
            request,
            ask,
            refusal: refusal.clone(),
        };
        let _ = self.node.send(party, &message.encode());
        // One line per party per window, whatever the rate of asks.
        let now = self.node.now_ms();
        let window = self.config.time_window_for_max_allowed_requests_ms;
        let logged = self
            .served
            .refusal_logged
            .entry(party.to_string())
            .or_insert(0);
        if *logged == 0 || now.saturating_sub(*logged) >= window {
            *logged = now.max(1);
            let line = format!(
                "refused a recovery request from {party}: {refusal:?} (further refusals of {party} \
                 in this window are not logged)"
            );
            self.log(Level::Warn, &line);
        }
    }

    /// The responder's row of `party`'s request, made on its first ask.
    fn served_row(
        &mut self,
        party: &str,
        request: RequestId,
        ids: &[TxId],
        now: u64,
    ) -> &mut RecoveryRequest {
        let rows = &mut self.served.rows;
        if rows.len() >= SERVED_ROWS && !rows.contains_key(&(party.to_string(), request)) {
            let oldest = rows
                .iter()
                .min_by_key(|(_, r)| r.time_started)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                rows.remove(&oldest);
            }
        }
        let row = rows.entry((party.to_string(), request)).or_insert_with(|| {
            let mut row =
                RecoveryRequest::started(request_uuid(&request), party, "Ask", Vec::new(), now);
            row.is_requester = false;
            row
        });
        let room = SERVED_IDS.saturating_sub(row.requested.len());
        row.requested.extend(ids.iter().take(room));
        row.outstanding.clear();
        row
    }
}
