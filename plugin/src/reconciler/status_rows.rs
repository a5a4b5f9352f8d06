//! Writing CR_RECONCILIATION_STATUS rows and the saved queue through to the
//! host's status store, and writing again what it refused. What a row
//! becomes is the [`StatusBook`]'s to say; [`Reconciler::transition`] asks
//! it and records the answer.

use super::session::Role;
use super::status_book::{StatusBook, Transition};
use super::{Reconciler, timer};
use crate::host::{Host, Level};
use crate::protocol::SessionId;
use crate::status::ReconciliationStatus;
use ledger_sync_vocabulary::marker;

/// A status write that failed is tried again after this long, then after
/// twice as long each time, up to [`STORE_RETRY_MAX_MS`].
const STORE_RETRY_FIRST_MS: u64 = 1_000;
const STORE_RETRY_MAX_MS: u64 = 60_000;

impl<H: Host> Reconciler<H> {
    /// Loads the stored rows at start-up. A row still IN_PROGRESS was
    /// interrupted (by a trap or a restart): it is recorded FAILED with
    /// `reason`, and an outgoing one is queued again (once).
    ///
    /// The queue is written first, and the FAILED rows by
    /// [`Self::record`], which holds an outgoing job's outcome until a
    /// queue is stored: until then the stored row stays IN_PROGRESS, so a
    /// further restart finds the job again by the same rule. (Written the
    /// other way round, a FAILED row that landed beside a refused queue
    /// left a job neither queued nor in progress.) A write the store
    /// refuses does not stop the start: rows and queue are kept in memory
    /// and written again until the store takes them, in the same order.
    pub(super) fn recover_interrupted(&mut self, rows: Vec<ReconciliationStatus>, reason: &str) {
        let keys: Vec<(String, bool)> = rows
            .iter()
            .map(|r| (r.party_name.clone(), r.is_requester))
            .collect();
        self.book = StatusBook::loaded(rows);
        let now = self.host.now_ms();
        let interrupted: Vec<ReconciliationStatus> = keys
            .iter()
            .filter_map(|(party, is_requester)| {
                let transition = Transition::Interrupted { reason };
                self.book.next(party, *is_requester, transition, now)
            })
            .collect();
        for row in interrupted.iter().filter(|row| row.is_requester) {
            self.queue.push_back(row.party_name.clone());
        }
        if let Err(e) = self.save_queue() {
            self.log(Level::Error, marker::SCHEDULE_RECONCILIATION, &e);
        }
        for row in interrupted {
            self.record(row);
        }
    }

    /// Whether `row` must wait for the saved queue before it is written:
    /// an outgoing job's outcome (any outgoing row but IN_PROGRESS) while
    /// the last queue write was refused. The stored queue may still hold
    /// the job then, and an outcome stored beside it would make a restart
    /// run the job a second time; held back, the stored row stays as it
    /// was (IN_PROGRESS, or the job's previous outcome with the job still
    /// queued), and a restart runs the job once, by the restart rule.
    fn waits_for_queue(&self, row: &ReconciliationStatus) -> bool {
        self.queue_unsaved
            && row.is_requester
            && row.last_reconciliation_status != crate::status::StatusValue::InProgress
    }

    /// Applies `transition` to the row of `party` on our side `role` now
    /// and records it; whether it changed a row (see [`StatusBook::next`]).
    pub(super) fn transition(&mut self, party: &str, role: Role, transition: Transition) -> bool {
        let now = self.host.now_ms();
        self.transition_at(party, role, transition, now)
    }

    /// [`Self::transition`] at `now`.
    pub(super) fn transition_at(
        &mut self,
        party: &str,
        role: Role,
        transition: Transition,
        now: u64,
    ) -> bool {
        match self.book.next(party, role.is_requester(), transition, now) {
            Some(row) => {
                self.record(row);
                true
            }
            None => false,
        }
    }

    pub(super) fn save(&mut self, row: &ReconciliationStatus) -> Result<(), String> {
        self.host.save_status(row).map_err(|e| {
            format!(
                "could not save the reconciliation status for {}: {e}",
                row.party_name
            )
        })
    }

    /// Stores a row in memory and in the status table. A storage failure is
    /// logged and the row written again later ([`Self::retry_unsaved`]): the
    /// in-memory row is authoritative meanwhile, and the stored one keeps its
    /// previous value, never a half-written one.
    pub(super) fn record(&mut self, row: ReconciliationStatus) {
        let key = (row.party_name.clone(), row.is_requester);
        if self.waits_for_queue(&row) {
            self.unsaved.insert(key, ());
            self.arm_store_retry();
            self.book.put(row);
            return;
        }
        match self.save(&row) {
            Ok(()) => {
                self.unsaved.remove(&key);
            }
            Err(e) => {
                self.log(Level::Error, marker::RECONCILE_WITH_PARTY, &e);
                self.unsaved.insert(key.clone(), ());
                self.arm_store_retry();
            }
        }
        self.book.put(row);
    }

    /// The queue as it is saved: the parties waiting to run. A job leaves
    /// it when it starts, which it does only once its IN_PROGRESS row is
    /// stored (see [`Self::record_began`]), and its outcome is written only
    /// once a queue without it is stored ([`Self::waits_for_queue`]). So a
    /// restart finds every job exactly once: queued, or IN_PROGRESS (and
    /// run again by the restart rule, its outcome never stored), or ended.
    fn saved_queue(&self) -> Vec<String> {
        self.queue.iter().cloned().collect()
    }

    /// Records a job's IN_PROGRESS row as `session` at `now`, only if the
    /// store takes it: whether it did. If the store refuses it, the job
    /// does not start: the book keeps the row it had (what the store still
    /// holds, or held unsaved before), the party goes back to the front of
    /// the queue, and no job starts until the store takes writes again
    /// (the store retry wakes the scheduler).
    pub(super) fn record_began(&mut self, party: &str, session: SessionId, now: u64) -> bool {
        let began = self
            .book
            .next(party, true, Transition::Began { session }, now)
            .expect("a job's start always makes a row");
        if let Err(e) = self.save(&began) {
            self.log(Level::Error, marker::RECONCILE_WITH_PARTY, &e);
            self.arm_store_retry();
            self.queue.insert_at(0, party.to_string());
            return false;
        }
        self.unsaved.remove(&(party.to_string(), true));
        self.book.put(began);
        true
    }

    pub(super) fn save_queue(&mut self) -> Result<(), String> {
        let result = self
            .host
            .save_scheduled(&self.saved_queue())
            .map_err(|e| format!("could not save the scheduled reconciliations: {e}"));
        self.queue_unsaved = result.is_err();
        if self.queue_unsaved {
            self.arm_store_retry();
        }
        result
    }

    /// First wait before writing unsaved rows again; it doubles up to
    /// [`STORE_RETRY_MAX_MS`] while the store keeps failing.
    fn arm_store_retry(&mut self) {
        if self.store_retry_ms == 0 {
            self.store_retry_ms = STORE_RETRY_FIRST_MS;
            self.host
                .set_timer(timer::STORE_RETRY, STORE_RETRY_FIRST_MS);
        }
    }

    /// Writes again every row and the queue a storage failure left unsaved:
    /// the queue first, then the rows — an outgoing job's outcome only once
    /// that queue is stored (see [`Self::waits_for_queue`]). Once all is
    /// written, the scheduler starts jobs again.
    pub(super) fn retry_unsaved(&mut self) {
        if self.queue_unsaved {
            let parties = self.saved_queue();
            self.queue_unsaved = self.host.save_scheduled(&parties).is_err();
        }
        let keys: Vec<(String, bool)> = self.unsaved.keys().cloned().collect();
        for key in keys {
            let row = self
                .book
                .get(&key.0, key.1)
                .expect("an unsaved row is in the book")
                .clone();
            if self.waits_for_queue(&row) {
                continue;
            }
            if self.save(&row).is_ok() {
                self.unsaved.remove(&key);
            }
        }
        if self.unsaved.is_empty() && !self.queue_unsaved {
            self.store_retry_ms = 0;
            self.log(
                Level::Info,
                marker::RECONCILE_WITH_PARTY,
                "the status store accepts writes again; every unsaved row is written",
            );
            self.host.set_timer(timer::SCHEDULER, 0);
            return;
        }
        self.store_retry_ms = (self.store_retry_ms * 2).min(STORE_RETRY_MAX_MS);
        self.host.set_timer(timer::STORE_RETRY, self.store_retry_ms);
    }

    pub(super) fn fail_outgoing_row(&mut self, party: &str, reason: &str) {
        self.transition(party, Role::Requester, Transition::Failed { reason });
        self.cycle.failed += 1;
        self.log(
            Level::Warn,
            marker::RECONCILE_WITH_PARTY,
            &format!("reconciliation with {party} FAILED: {reason}"),
        );
        self.host.set_timer(timer::SCHEDULER, 0);
    }
}
