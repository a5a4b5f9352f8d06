//! A recovery this node runs, as a state machine per request:
//!
//! - **Asking**: an `Ask` for the next batch of outstanding ids (at most
//!   `maxAllowedTransactions`, never faster than `maxAllowedRequests` per
//!   window) is out; transactions arriving for it are verified and recorded
//!   as they come.
//! - **Waiting**: the responder deferred some ids or refused for a while;
//!   the request asks again at `retry_at`.
//! - **Ended**: COMPLETED when nothing is outstanding (every id recorded,
//!   or unavailable from this party), FAILED with the cause (a
//!   transaction that did not verify; transactions not asked for; five
//!   silences in a row; five answers in a row that moved nothing on;
//!   `maxRecoveryDuration` passed), or STOPPED by the operator.
//!
//! Every ask — a first ask and asking again for what an answer left out
//! — keeps to our own pace window (`maxAllowedRequests` per
//! `timeWindowForMaxAllowedRequests`), whatever the responder answers. At the end the
//!   reconciliation statuses are refreshed, as the seed says.
//!
//! The row in CR_RECOVERY_REQUEST is saved after every step, so a restart
//! resumes with the ids still outstanding; recording the same transaction
//! twice is a no-op, so nothing is recorded twice.
//!
//! Every ask has a new number. An answer to an earlier ask (late, after a
//! silence made us ask again) still records what it brings that is
//! outstanding, but changes nothing else; a transaction this request never
//! asked for ends it FAILED.

use crate::node::Node;
use crate::protocol::{Message, Refusal, RequestId, parse_uuid, request_uuid};
use crate::{Recoverer, TICK_MS};
use ledger_sync_plugin_api::platform::{Level, Recorded};
use ledger_sync_vocabulary::TxId;
use ledger_sync_vocabulary::id::to_hex;
use ledger_sync_vocabulary::recovery::{RecoveryRequest, RecoveryStatus};
use std::collections::HashSet;

/// Silences in a row (each `recoveryInactivityTimeout` long) after which a
/// recovery ends FAILED.
pub const MAX_SILENCES: u32 = 5;
/// The longest a responder may make us wait.
const MAX_WAIT_MS: u64 = 24 * 3_600_000;
/// Answers in a row that record, defer or rule out nothing asked for,
/// after which a recovery ends FAILED: a counterparty that answers without
/// progress is not asked for ever.
pub const MAX_FRUITLESS_ANSWERS: u32 = 5;

/// A recovery in progress.
#[derive(Debug)]
pub struct Outgoing {
    pub row: RecoveryRequest,
    /// The ids of the ask that is out, not yet answered.
    asked: Vec<TxId>,
    last_heard: u64,
    silences: u32,
    retry_at: Option<u64>,
    /// Ids per ask: our `maxAllowedTransactions`, or less if the responder
    /// allows less.
    batch: u32,
    /// The number of the ask that is out (answers to others are late).
    ask: u32,
    /// Every id this request may ask for.
    requested: HashSet<TxId>,
    /// Whether the answer to the ask that is out has moved anything on
    /// (recorded, deferred or ruled out an id).
    progressed: bool,
    /// Answers in a row that moved nothing on.
    fruitless: u32,
    /// Transactions the node holds aside (they arrived before their
    /// dependencies): recorded once those are, by this or any recording.
    held: HashSet<TxId>,
    /// The dependencies held-aside transactions wait on, in the order
    /// they were learnt: asked for before the rest of what is
    /// outstanding, so that the vault's back-chains close as early as
    /// they can.
    waited_on: Vec<TxId>,
}

/// The most ids a request may come to ask for, its first ids and the
/// back-chains of what was held aside together: a counterparty cannot
/// make a request grow without bound.
pub const MAX_REQUESTED: usize = 1_000_000;

/// How many examples a log line about many transactions names.
const NAMED_IN_A_LINE: usize = 5;

impl Outgoing {
    /// Counts what became of each transaction received: the cause of a
    /// refusal (which ends the recovery), and the log lines — one for all
    /// held aside, one for all not verified, however many.
    fn account(
        &mut self,
        transactions: &[(TxId, Vec<u8>)],
        outcomes: Vec<Recorded>,
    ) -> (Option<String>, Vec<String>) {
        let mut failure = None;
        let (mut held, mut asked, mut unverified) = (Vec::new(), 0, Vec::new());
        for ((tx, _), outcome) in transactions.iter().zip(outcomes) {
            match outcome {
                Recorded::New | Recorded::AlreadyHeld => self.row.recovered += 1,
                Recorded::HeldAside(missing) => {
                    self.held.insert(*tx);
                    asked += self.ask_back_chain(&missing);
                    self.waited_on.extend_from_slice(&missing);
                    held.push((*tx, missing));
                }
                Recorded::NotVerified(why) => {
                    // Nothing is known against it: asked for again.
                    self.row.outstanding.push(*tx);
                    unverified.push((*tx, why));
                }
                Recorded::Refused(why) => {
                    self.row.refused += 1;
                    failure.get_or_insert(format!(
                        "{} sent {} and it was refused: {why}",
                        self.row.party_name,
                        to_hex(tx)
                    ));
                }
            }
        }
        let mut notes = Vec::new();
        if !held.is_empty() {
            let named: Vec<String> = (held.iter().take(NAMED_IN_A_LINE))
                .map(|(tx, missing)| {
                    let waits: Vec<String> = missing.iter().map(to_hex).collect();
                    format!("{} waits on {}", to_hex(tx), waits.join(", "))
                })
                .collect();
            notes.push(format!(
                "held {} aside until the vault has their dependencies ({}); {}{}",
                held.len(),
                if asked > 0 {
                    format!("asking {} for {asked} of them", self.row.party_name)
                } else {
                    "all asked for already".to_string()
                },
                named.join("; "),
                if held.len() > named.len() {
                    "; ..."
                } else {
                    ""
                }
            ));
        }
        if let Some((tx, why)) = unverified.first() {
            notes.push(format!(
                "{} not verified yet, asked for again (first, {}: {why})",
                unverified.len(),
                to_hex(tx)
            ));
        }
        (failure, notes)
    }

    /// The next ask's ids, at most `batch`: first what held-aside
    /// transactions wait on (those still outstanding; the rest wait for
    /// the ask after), then the rest of what is outstanding, in order.
    fn next_batch(&mut self) -> Vec<TxId> {
        let batch = self.batch as usize;
        let mut asked = Vec::with_capacity(batch.min(self.row.outstanding.len()));
        let mut taken = HashSet::new();
        if !self.waited_on.is_empty() {
            let outstanding: HashSet<TxId> = self.row.outstanding.iter().copied().collect();
            let mut later = Vec::new();
            for id in std::mem::take(&mut self.waited_on) {
                if !outstanding.contains(&id) || taken.contains(&id) {
                    continue;
                }
                if asked.len() < batch {
                    taken.insert(id);
                    asked.push(id);
                } else {
                    later.push(id);
                }
            }
            self.waited_on = later;
        }
        for id in &self.row.outstanding {
            if asked.len() >= batch {
                break;
            }
            if !taken.contains(id) {
                asked.push(*id);
            }
        }
        asked
    }

    /// Adds the dependencies a held-aside transaction lacks to what this
    /// request asks for (its party holds them if it holds the transaction
    /// and answers honestly); returns how many were new to it.
    fn ask_back_chain(&mut self, missing: &[TxId]) -> usize {
        let mut added = 0;
        for d in missing {
            if self.requested.len() >= MAX_REQUESTED {
                break;
            }
            if self.requested.insert(*d) {
                self.row.requested.push(*d);
                self.row.outstanding.push(*d);
                added += 1;
            }
        }
        added
    }
}

impl<N: Node> Recoverer<N> {
    /// Resumes the recoveries CR_RECOVERY_REQUEST holds IN_PROGRESS.
    pub(crate) fn resume(&mut self) -> Result<(), String> {
        let rows = self.node.load_requests(0)?;
        for row in rows {
            if !row.is_requester || row.status != RecoveryStatus::InProgress {
                continue;
            }
            let Some(id) = parse_uuid(&row.request_id) else {
                continue;
            };
            self.journal(&row, Level::Info, "resumed after the node restarted");
            self.begin(id, row);
        }
        Ok(())
    }

    /// Starts recovering `ids` from `party`, as `flow`.
    pub(crate) fn recover(&mut self, party: &str, flow: &str, ids: Vec<TxId>) -> RecoveryRequest {
        let id: RequestId = {
            let (a, b) = (self.node.random_u64(), self.node.random_u64());
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&a.to_le_bytes());
            id[8..].copy_from_slice(&b.to_le_bytes());
            id
        };
        let now = self.node.now_ms();
        let row = RecoveryRequest::started(request_uuid(&id), party, flow, ids, now);
        self.save(&row);
        let line = format!("asking {party} for {} transactions", row.requested.len());
        self.journal(&row, Level::Info, &line);
        self.begin(id, row.clone());
        row
    }

    fn begin(&mut self, id: RequestId, row: RecoveryRequest) {
        let now = self.node.now_ms();
        let outgoing = Outgoing {
            requested: row.requested.iter().copied().collect(),
            ask: 0,
            row,
            asked: Vec::new(),
            last_heard: now,
            silences: 0,
            retry_at: None,
            batch: self.config.max_allowed_transactions,
            progressed: false,
            fruitless: 0,
            held: HashSet::new(),
            waited_on: Vec::new(),
        };
        self.outgoing.insert(id, outgoing);
        self.ask_next(id);
        self.keep_ticking();
    }

    /// The running recovery with `party`, if any.
    pub(crate) fn running_with(&self, party: &str) -> Option<&RecoveryRequest> {
        self.outgoing
            .values()
            .map(|o| &o.row)
            .find(|r| r.party_name == party)
    }

    /// Sends the next ask, unless one is out, the request waits, or our own
    /// pace says not yet; ends the request when nothing is outstanding.
    fn ask_next(&mut self, id: RequestId) {
        let now = self.node.now_ms();
        let (window, limit) = (
            self.config.time_window_for_max_allowed_requests_ms,
            u64::from(self.config.max_allowed_requests),
        );
        let Some(o) = self.outgoing.get_mut(&id) else {
            return;
        };
        if !o.asked.is_empty() || o.retry_at.is_some_and(|t| t > now) {
            return;
        }
        o.retry_at = None;
        if o.row.outstanding.is_empty() {
            return self.end(id, RecoveryStatus::Completed, "");
        }
        let pace = self.asks.entry(o.row.party_name.clone()).or_default();
        if pace.left(now, window, limit) == 0 {
            o.retry_at = Some(now + pace.wait_for(now, window, limit, 1));
            return;
        }
        pace.give(now, 1);
        o.progressed = false;
        o.asked = o.next_batch();
        o.last_heard = now;
        let (party, asked) = (o.row.party_name.clone(), o.asked.clone());
        self.send_ask(&party, id, asked);
    }

    fn send_ask(&mut self, party: &str, request: RequestId, ids: Vec<TxId>) {
        let Some(o) = self.outgoing.get_mut(&request) else {
            return;
        };
        o.ask += 1;
        let ask = o.ask;
        let message = Message::Ask { request, ask, ids }.encode();
        if let Err(why) = self.node.send(party, &message) {
            // Lost like any message: the silence check asks again.
            self.log(Level::Warn, &format!("could not ask {party}: {why}"));
        }
    }

    /// An answer from `sender` to one of our asks.
    pub(crate) fn on_answer(&mut self, sender: &str, message: Message) {
        let id = *message.request();
        let Some(o) = self.outgoing.get_mut(&id) else {
            return; // a late answer to an ended recovery
        };
        if o.row.party_name != sender {
            let line = format!(
                "dropped an answer from {sender} to recovery {}, which asked {}",
                o.row.request_id, o.row.party_name
            );
            return self.log(Level::Warn, &line);
        }
        o.last_heard = self.node.now_ms();
        o.silences = 0;
        let current = message.ask() == o.ask;
        match message {
            Message::Transactions { transactions, .. } => self.received(id, transactions),
            Message::Done { unavailable, .. } if !current => self.unavailable(id, unavailable),
            Message::Done {
                unavailable,
                deferred,
                retry_after_ms,
                ..
            } => self.done(id, unavailable, deferred, retry_after_ms),
            Message::Refused { refusal, .. } if current => self.refused(id, refusal),
            Message::Refused { .. } | Message::Ask { .. } => {}
        }
    }

    /// Transactions arrived: each must be one this request asks for; each
    /// still outstanding is verified by the node's ledger adapter and
    /// recorded (one already recorded, from a late answer, is skipped).
    fn received(&mut self, id: RequestId, transactions: Vec<(TxId, Vec<u8>)>) {
        let o = self.outgoing.get_mut(&id).expect("checked by the caller");
        if let Some((stray, _)) = transactions.iter().find(|(t, _)| !o.requested.contains(t)) {
            let why = format!(
                "{} sent transaction {}, which this recovery did not ask for",
                o.row.party_name,
                to_hex(stray)
            );
            return self.end(id, RecoveryStatus::Failed, &why);
        }
        let outstanding: HashSet<TxId> = o.row.outstanding.iter().copied().collect();
        let transactions: Vec<(TxId, Vec<u8>)> = transactions
            .into_iter()
            .filter(|(t, _)| outstanding.contains(t))
            .collect();
        if transactions.is_empty() {
            return;
        }
        let bytes: u64 = transactions.iter().map(|(_, b)| b.len() as u64).sum();
        let outcomes = match self.node.record_verified(&transactions) {
            Ok(outcomes) if outcomes.len() == transactions.len() => outcomes,
            Ok(_) => {
                return self.end(
                    id,
                    RecoveryStatus::Failed,
                    "the node answered a different number of outcomes",
                );
            }
            Err(why) => {
                let why = format!(
                    "the node could not record what {} sent: {why}",
                    self.outgoing[&id].row.party_name
                );
                return self.end(id, RecoveryStatus::Failed, &why);
            }
        };
        let o = self.outgoing.get_mut(&id).expect("checked above");
        o.row.bytes += bytes;
        let answered: HashSet<TxId> = transactions.iter().map(|(t, _)| *t).collect();
        o.progressed = true;
        o.asked.retain(|t| !answered.contains(t));
        o.row.outstanding.retain(|t| !answered.contains(t));
        let (failure, notes) = o.account(&transactions, outcomes);
        let row = o.row.clone();
        for note in notes {
            self.journal(&row, Level::Info, &note);
        }
        if let Some(why) = failure {
            return self.end(id, RecoveryStatus::Failed, &why);
        }
        self.save(&row);
    }

    /// A late answer's `Done`: what it says is unavailable stays so; the
    /// rest was for an ask that is no longer out.
    fn unavailable(&mut self, id: RequestId, unavailable: Vec<TxId>) {
        let o = self.outgoing.get_mut(&id).expect("checked by the caller");
        let unavailable: HashSet<TxId> = unavailable.into_iter().collect();
        let before = o.row.outstanding.len();
        o.row.outstanding.retain(|t| !unavailable.contains(t));
        o.asked.retain(|t| !unavailable.contains(t));
        o.row.unavailable += (before - o.row.outstanding.len()) as u32;
        let row = o.row.clone();
        self.save(&row);
        if self.outgoing[&id].asked.is_empty() {
            self.ask_next(id);
        }
    }

    /// The answer to an ask is complete. What it left out — sent but not
    /// received, or never sent — is asked for again by the next ask, at
    /// our own pace; an answer that moved nothing on counts towards
    /// [`MAX_FRUITLESS_ANSWERS`]. The row is saved only when it changed.
    fn done(&mut self, id: RequestId, unavailable: Vec<TxId>, deferred: Vec<TxId>, wait: u64) {
        let now = self.node.now_ms();
        let o = self.outgoing.get_mut(&id).expect("checked by the caller");
        let unavailable: HashSet<TxId> = unavailable.into_iter().collect();
        let deferred: HashSet<TxId> = deferred.into_iter().collect();
        let asked: HashSet<TxId> = o.asked.iter().copied().collect();
        let before = o.row.outstanding.len();
        o.row
            .outstanding
            .retain(|t| !(unavailable.contains(t) && asked.contains(t)));
        let gone = before - o.row.outstanding.len();
        o.row.unavailable += gone as u32;
        let deferred_asked = deferred.iter().filter(|t| asked.contains(*t)).count();
        if deferred_asked > 0 {
            o.retry_at = Some(now + wait.min(MAX_WAIT_MS));
        }
        let moved = o.progressed || gone > 0 || deferred_asked > 0;
        o.fruitless = if moved { 0 } else { o.fruitless + 1 };
        o.asked.clear();
        let (row, fruitless) = (o.row.clone(), o.fruitless);
        if fruitless >= MAX_FRUITLESS_ANSWERS {
            let why = format!(
                "{} answered {fruitless} asks in a row without sending, deferring or ruling out \
                 any transaction asked for ({} still outstanding): it is faulty, or does not \
                 hold what its reconciliation answer said",
                row.party_name,
                row.outstanding.len()
            );
            return self.end(id, RecoveryStatus::Failed, &why);
        }
        if gone > 0 {
            self.save(&row);
        }
        if deferred_asked > 0 {
            let line = format!(
                "{} deferred {deferred_asked} transactions under its size limit; asking again \
                 in {} s",
                row.party_name,
                wait.min(MAX_WAIT_MS) / 1000
            );
            self.journal(&row, Level::Info, &line);
        }
        self.ask_next(id);
    }

    fn refused(&mut self, id: RequestId, refusal: Refusal) {
        let now = self.node.now_ms();
        let o = self.outgoing.get_mut(&id).expect("checked by the caller");
        o.asked.clear();
        let line = match refusal {
            Refusal::TooManyTransactions { max } => {
                o.batch = max.clamp(1, o.batch);
                format!(
                    "{} takes at most {max} transactions an ask; asking for fewer",
                    o.row.party_name
                )
            }
            Refusal::RequestLimit { retry_after_ms } | Refusal::NotReady { retry_after_ms } => {
                let wait = retry_after_ms.clamp(TICK_MS, MAX_WAIT_MS);
                o.retry_at = Some(now + wait);
                format!(
                    "{} is not answering yet ({refusal:?}); asking again in {} s",
                    o.row.party_name,
                    wait / 1000
                )
            }
        };
        let row = o.row.clone();
        self.journal(&row, Level::Info, &line);
        self.ask_next(id);
    }

    /// Once a second: asks again what a silent party was asked, and asks
    /// after a wait.
    pub(crate) fn tick(&mut self) {
        let now = self.node.now_ms();
        let timeout = self.config.recovery_inactivity_timeout_ms;
        let deadline = self.config.max_recovery_duration_ms;
        let ids: Vec<RequestId> = self.outgoing.keys().copied().collect();
        for id in ids {
            let Some(o) = self.outgoing.get_mut(&id) else {
                continue;
            };
            if now.saturating_sub(o.row.time_started) >= deadline {
                let why = format!(
                    "not completed within maxRecoveryDuration = {} h: {} recorded, {} still \
                     outstanding (start InitiateManualRecoveryFlow or a new recovery for the rest)",
                    deadline / 3_600_000,
                    o.row.recovered,
                    o.row.outstanding.len()
                );
                self.end(id, RecoveryStatus::Failed, &why);
                continue;
            }
            if o.asked.is_empty() {
                self.ask_next(id);
                continue;
            }
            if now.saturating_sub(o.last_heard) < timeout {
                continue;
            }
            o.silences += 1;
            o.last_heard = now;
            if o.silences > MAX_SILENCES {
                let why = format!(
                    "{} did not answer for {} s, {MAX_SILENCES} times in a row (is it up, and \
                     does it run {}? its node logs a message for a plugin it does not run)",
                    o.row.party_name,
                    timeout / 1000,
                    crate::NAME
                );
                self.end(id, RecoveryStatus::Failed, &why);
                continue;
            }
            let (party, asked) = (o.row.party_name.clone(), o.asked.clone());
            self.send_ask(&party, id, asked);
        }
        self.keep_ticking();
    }

    /// Ends a recovery: its row, its log, and the reconciliation statuses
    /// refreshed against what is now recorded.
    pub(crate) fn end(&mut self, id: RequestId, status: RecoveryStatus, why: &str) {
        let Some(mut o) = self.outgoing.remove(&id) else {
            return;
        };
        let still_held = self.settle_held(&mut o);
        let now = self.node.now_ms();
        o.row.end(status, now, why);
        self.save(&o.row);
        let held = if still_held.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = still_held.iter().take(10).map(to_hex).collect();
            format!(
                "; {} held aside, waiting for dependencies {} did not supply (the vault stays \
                 consistent without them; they are recorded when those arrive, from another \
                 recovery, or dropped with `ledger-sync vault drop-held`): {}{}",
                still_held.len(),
                o.row.party_name,
                names.join(", "),
                if still_held.len() > names.len() {
                    ", ..."
                } else {
                    ""
                }
            )
        };
        let line = match status {
            RecoveryStatus::Completed => format!(
                "completed: {} recorded, {} unavailable from {} ({} bytes){held}",
                o.row.recovered, o.row.unavailable, o.row.party_name, o.row.bytes
            ),
            _ => format!(
                "{status}: {why} ({} recorded before){held}",
                o.row.recovered
            ),
        };
        let level = if status == RecoveryStatus::Completed && still_held.is_empty() {
            Level::Info
        } else {
            Level::Warn
        };
        self.journal(&o.row, level, &line);
        if o.row.recovered > 0
            && let Err(e) = self.node.refresh_reconciliation_statuses()
        {
            self.log(
                Level::Warn,
                &format!("could not refresh the reconciliation statuses: {e}"),
            );
        }
    }

    /// Counts the held-aside transactions the vault holds by now (their
    /// back-chains arrived) as recovered; returns the ones still held.
    fn settle_held(&mut self, o: &mut Outgoing) -> Vec<TxId> {
        let mut held: Vec<TxId> = o.held.drain().collect();
        held.sort_unstable();
        match self.node.contains(&held) {
            Ok(present) if present.len() == held.len() => {
                let recorded = present.iter().filter(|p| **p).count();
                o.row.recovered += recorded as u32;
                (held.into_iter().zip(present))
                    .filter(|(_, p)| !p)
                    .map(|(t, _)| t)
                    .collect()
            }
            _ => held,
        }
    }
}
