//! Writing CR_RECONCILIATION_STATUS rows and the saved queue through to the
//! host's status store, and writing again what it refused. What a row
//! becomes is the [`StatusBook`]'s to say; [`Reconciler::transition`] asks
//! it and records the answer.

use super::session::Role;
use super::status_book::{StatusBook, Transition};
use super::{Reconciler, timer};
use crate::host::{Host, Level};
use crate::status::ReconciliationStatus;
use ledger_sync_vocabulary::marker;

/// A status write that failed is tried again after this long, then after
/// twice as long each time, up to [`STORE_RETRY_MAX_MS`].
const STORE_RETRY_FIRST_MS: u64 = 1_000;
const STORE_RETRY_MAX_MS: u64 = 60_000;

impl<H: Host> Reconciler<H> {
    /// Loads the stored rows at start-up. A row still IN_PROGRESS was
    /// interrupted (by a trap or a restart): it is recorded FAILED with
    /// `reason`, and an outgoing one is queued again (once). A write the
    /// store refuses here does not stop the start: the row and the queue
    /// are kept in memory and written again until the store takes them
    /// (and until then the stored row stays IN_PROGRESS, so a further
    /// restart recovers it again).
    pub(super) fn recover_interrupted(&mut self, rows: Vec<ReconciliationStatus>, reason: &str) {
        let keys: Vec<(String, bool)> = rows
            .iter()
            .map(|r| (r.party_name.clone(), r.is_requester))
            .collect();
        self.book = StatusBook::loaded(rows);
        for (party, is_requester) in keys {
            if self.transition(
                &party,
                Role::of_row(is_requester),
                Transition::Interrupted { reason },
            ) && is_requester
            {
                self.queue.push_back(party);
            }
        }
        if let Err(e) = self.save_queue() {
            self.log(Level::Error, marker::SCHEDULE_RECONCILIATION, &e);
        }
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

    /// The queue as it is saved: the parties waiting to run, then those
    /// whose outgoing row the store has not taken yet. A job leaves the
    /// saved queue only once its row is stored (IN_PROGRESS or its end), so
    /// a restart meanwhile runs it again rather than losing it.
    fn saved_queue(&self) -> Vec<String> {
        let mut parties: Vec<String> = self.queue.iter().cloned().collect();
        parties.extend(
            self.unsaved
                .keys()
                .filter(|(party, is_requester)| *is_requester && !self.queue.contains(party))
                .map(|(party, _)| party.clone()),
        );
        parties
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

    /// Writes again every row and the queue a storage failure left unsaved.
    pub(super) fn retry_unsaved(&mut self) {
        let keys: Vec<(String, bool)> = self.unsaved.keys().cloned().collect();
        for key in keys {
            let row = self
                .book
                .get(&key.0, key.1)
                .expect("an unsaved row is in the book")
                .clone();
            if self.save(&row).is_ok() {
                self.unsaved.remove(&key);
                // Its party no longer needs to stay in the saved queue.
                self.queue_unsaved |= key.1;
            }
        }
        if self.queue_unsaved {
            let parties = self.saved_queue();
            self.queue_unsaved = self.host.save_scheduled(&parties).is_err();
        }
        if self.unsaved.is_empty() && !self.queue_unsaved {
            self.store_retry_ms = 0;
            self.log(
                Level::Info,
                marker::RECONCILE_WITH_PARTY,
                "the status store accepts writes again; every unsaved row is written",
            );
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
