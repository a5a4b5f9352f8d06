//! The status book: every CR_RECONCILIATION_STATUS row in memory, and the
//! rules of a row's transitions — the only code that changes a row.
//!
//! A row is the latest reconciliation with one party on one side. Its
//! `last_*` columns follow the reconciliation running now (IN_PROGRESS,
//! then how it ended); its `last_successful_*` columns change only when one
//! succeeds. [`StatusBook::next`] computes what a [`Transition`] makes of a
//! row without changing the book; the reconciler writes that row to the
//! host's status store and keeps it with [`StatusBook::put`].

use crate::id::TxId;
use crate::protocol::SessionId;
use crate::status::{ReconciliationStatus, StatusValue};
use std::collections::BTreeMap;

/// A row's key: the party and whether we are the requester.
pub(super) type RowKey = (String, bool);

/// What happened to a reconciliation, as its row records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Transition<'a> {
    /// It became IN_PROGRESS now, as `session`.
    Began { session: SessionId },
    /// An outgoing one decoded, and these ids are missing from the vault
    /// (none: DIFFERENCES_NOT_FOUND). It started at `started_ms`.
    Reconciled {
        missing: Vec<TxId>,
        started_ms: u64,
        session: SessionId,
    },
    /// An incoming one ended with `status`: a success, FAILED or STOPPED,
    /// with `error` (empty for a success).
    Responded { status: StatusValue, error: &'a str },
    /// It failed, for `reason`.
    Failed { reason: &'a str },
    /// The operator stopped it. `dropped_job`: an outgoing job was dropped,
    /// so the outgoing row is STOPPED even if it was not running yet.
    Stopped { dropped_job: bool },
    /// It was IN_PROGRESS when the plugin started again, for `reason`.
    Interrupted { reason: &'a str },
    /// Some of the missing ids the last success found have reached the
    /// vault since; `still_missing` are those that have not.
    Refreshed { still_missing: Vec<TxId> },
}

/// Every row, by party and side.
#[derive(Default)]
pub(super) struct StatusBook {
    rows: BTreeMap<RowKey, ReconciliationStatus>,
}

impl StatusBook {
    /// The book of the rows loaded from the status store.
    pub(super) fn loaded(rows: Vec<ReconciliationStatus>) -> StatusBook {
        let mut book = StatusBook::default();
        for row in rows {
            book.put(row);
        }
        book
    }

    pub(super) fn get(&self, party: &str, is_requester: bool) -> Option<&ReconciliationStatus> {
        self.rows.get(&(party.to_string(), is_requester))
    }

    /// Every row, ordered by party and side.
    pub(super) fn rows(&self) -> impl Iterator<Item = &ReconciliationStatus> {
        self.rows.values()
    }

    /// Keeps `row` as (its party, its side)'s.
    pub(super) fn put(&mut self, row: ReconciliationStatus) {
        self.rows
            .insert((row.party_name.clone(), row.is_requester), row);
    }

    /// What `transition` makes of the row of (`party`, `is_requester`) at
    /// `now`, or `None` when it changes nothing: there is no row to end,
    /// the row is not running, or nothing was refreshed. The book is left
    /// as it is.
    pub(super) fn next(
        &self,
        party: &str,
        is_requester: bool,
        transition: Transition,
        now: u64,
    ) -> Option<ReconciliationStatus> {
        let existing = self.get(party, is_requester).cloned();
        let fresh = |session: SessionId, started: u64| {
            ReconciliationStatus::started(party, is_requester, session.to_string(), started)
        };
        let row = match transition {
            Transition::Began { session } => {
                let mut row = existing.unwrap_or_else(|| fresh(session, now));
                row.state_machine_id = session.to_string();
                row.last_reconciliation_time_started = Some(now);
                row.last_reconciliation_time_finished = None;
                row.last_reconciliation_status = StatusValue::InProgress;
                row.last_reconciliation_error.clear();
                row
            }
            Transition::Reconciled {
                missing,
                started_ms,
                session,
            } => {
                let row = existing.unwrap_or_else(|| fresh(session, started_ms));
                Self::reconciled(row, missing, started_ms, now)
            }
            Transition::Responded { status, error } => {
                let mut row = existing?;
                if status.is_success() {
                    row.last_successful_reconciliation_time_started =
                        row.last_reconciliation_time_started;
                    row.last_successful_reconciliation_time_finished = Some(now);
                    row.last_successful_reconciliation_status = Some(status);
                }
                Self::ended(row, status, error, now)
            }
            Transition::Failed { reason } => {
                Self::ended(existing?, StatusValue::Failed, reason, now)
            }
            Transition::Interrupted { reason } => existing?.interrupted(reason, now)?,
            Transition::Stopped { dropped_job } => {
                let mut row = existing?;
                let running = row.last_reconciliation_status == StatusValue::InProgress;
                // Never an incoming stop's old outgoing result.
                if !(running || (dropped_job && is_requester)) {
                    return None;
                }
                row.last_reconciliation_status = StatusValue::Stopped;
                row.last_reconciliation_time_finished = Some(now);
                row
            }
            Transition::Refreshed { still_missing } => Self::refreshed(existing?, still_missing)?,
        };
        Some(row)
    }

    /// An outgoing row decoded: `missing` is its result.
    fn reconciled(
        mut row: ReconciliationStatus,
        missing: Vec<TxId>,
        started_ms: u64,
        now: u64,
    ) -> ReconciliationStatus {
        let status = if missing.is_empty() {
            StatusValue::DifferencesNotFound
        } else {
            StatusValue::DifferencesFound
        };
        row.last_successful_reconciliation_time_started = Some(started_ms);
        row.last_successful_reconciliation_time_finished = Some(now);
        row.last_successful_reconciliation_status = Some(status);
        row.last_successful_reconciliation_result = missing;
        Self::ended(row, status, "", now)
    }

    /// The last reconciliation ended at `now` with `status` and `error`.
    fn ended(
        mut row: ReconciliationStatus,
        status: StatusValue,
        error: &str,
        now: u64,
    ) -> ReconciliationStatus {
        row.last_reconciliation_time_finished = Some(now);
        row.last_reconciliation_status = status;
        row.last_reconciliation_error = error.to_string();
        row
    }

    /// A row's result narrowed to what is `still_missing`; `None` if
    /// nothing reached the vault.
    fn refreshed(
        mut row: ReconciliationStatus,
        still_missing: Vec<TxId>,
    ) -> Option<ReconciliationStatus> {
        if still_missing.len() == row.last_successful_reconciliation_result.len() {
            return None;
        }
        if still_missing.is_empty() {
            row.last_successful_reconciliation_status = Some(StatusValue::DifferencesNotFound);
            if row.last_reconciliation_status == StatusValue::DifferencesFound {
                row.last_reconciliation_status = StatusValue::DifferencesNotFound;
            }
        }
        row.last_successful_reconciliation_result = still_missing;
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "O=PartyB, L=London, C=GB";

    fn session(n: u8) -> SessionId {
        SessionId([n; 16])
    }

    /// A book whose requester row with B went through `transitions`, each
    /// at the next millisecond from 10.
    fn through(transitions: Vec<Transition>) -> StatusBook {
        let mut book = StatusBook::default();
        for (i, t) in transitions.into_iter().enumerate() {
            if let Some(row) = book.next(B, true, t, 10 + i as u64) {
                book.put(row);
            }
        }
        book
    }

    fn row(book: &StatusBook) -> &ReconciliationStatus {
        book.get(B, true).expect("a row")
    }

    #[test]
    fn a_begun_row_is_in_progress_and_keeps_its_last_success() {
        let book = through(vec![
            Transition::Began {
                session: session(1),
            },
            Transition::Reconciled {
                missing: vec![[7; 32]],
                started_ms: 10,
                session: session(1),
            },
            Transition::Began {
                session: session(2),
            },
        ]);
        let r = row(&book);
        assert_eq!(r.last_reconciliation_status, StatusValue::InProgress);
        assert_eq!(r.state_machine_id, session(2).to_string());
        assert_eq!(
            (
                r.last_reconciliation_time_started,
                r.last_reconciliation_time_finished
            ),
            (Some(12), None)
        );
        assert_eq!(
            r.last_successful_reconciliation_status,
            Some(StatusValue::DifferencesFound)
        );
        assert_eq!(r.last_successful_reconciliation_result, vec![[7; 32]]);
    }

    #[test]
    fn a_reconciled_row_records_what_is_missing_or_that_nothing_is() {
        let found = through(vec![
            Transition::Began {
                session: session(1),
            },
            Transition::Reconciled {
                missing: vec![[7; 32]],
                started_ms: 10,
                session: session(1),
            },
        ]);
        let r = row(&found);
        assert_eq!(r.last_reconciliation_status, StatusValue::DifferencesFound);
        assert_eq!(
            (
                r.last_successful_reconciliation_time_started,
                r.last_successful_reconciliation_time_finished
            ),
            (Some(10), Some(11))
        );
        let none = through(vec![Transition::Reconciled {
            missing: vec![],
            started_ms: 3,
            session: session(1),
        }]);
        assert_eq!(
            row(&none).last_reconciliation_status,
            StatusValue::DifferencesNotFound
        );
        assert_eq!(row(&none).last_reconciliation_time_started, Some(3));
    }

    #[test]
    fn a_failure_keeps_the_last_success_and_says_why() {
        let book = through(vec![
            Transition::Began {
                session: session(1),
            },
            Transition::Reconciled {
                missing: vec![[7; 32]],
                started_ms: 10,
                session: session(1),
            },
            Transition::Began {
                session: session(2),
            },
            Transition::Failed {
                reason: "the party may be down",
            },
        ]);
        let r = row(&book);
        assert_eq!(r.last_reconciliation_status, StatusValue::Failed);
        assert_eq!(r.last_reconciliation_error, "the party may be down");
        assert_eq!(r.last_reconciliation_time_finished, Some(13));
        assert_eq!(r.last_successful_reconciliation_result, vec![[7; 32]]);
        assert_eq!(
            StatusBook::default().next(B, true, Transition::Failed { reason: "x" }, 1),
            None,
            "no row, nothing to fail"
        );
    }

    #[test]
    fn only_a_running_row_is_interrupted() {
        let running = through(vec![Transition::Began {
            session: session(1),
        }]);
        let r = running
            .next(
                B,
                true,
                Transition::Interrupted {
                    reason: "node restarted",
                },
                50,
            )
            .unwrap();
        assert_eq!(
            (
                r.last_reconciliation_status,
                r.last_reconciliation_error.as_str()
            ),
            (StatusValue::Failed, "node restarted")
        );
        let ended = through(vec![Transition::Reconciled {
            missing: vec![],
            started_ms: 1,
            session: session(1),
        }]);
        assert_eq!(
            ended.next(B, true, Transition::Interrupted { reason: "x" }, 50),
            None
        );
    }

    #[test]
    fn a_stop_ends_a_running_row_or_an_outgoing_row_whose_job_was_dropped() {
        let running = through(vec![Transition::Began {
            session: session(1),
        }]);
        let r = running
            .next(B, true, Transition::Stopped { dropped_job: false }, 50)
            .unwrap();
        assert_eq!(
            (
                r.last_reconciliation_status,
                r.last_reconciliation_time_finished
            ),
            (StatusValue::Stopped, Some(50))
        );
        let ended = through(vec![Transition::Reconciled {
            missing: vec![],
            started_ms: 1,
            session: session(1),
        }]);
        assert_eq!(
            ended.next(B, true, Transition::Stopped { dropped_job: false }, 50),
            None
        );
        assert!(
            ended
                .next(B, true, Transition::Stopped { dropped_job: true }, 50)
                .is_some()
        );
        let mut incoming = StatusBook::default();
        incoming.put(ReconciliationStatus::started(B, false, String::new(), 1));
        let mut done = incoming
            .next(
                B,
                false,
                Transition::Responded {
                    status: StatusValue::DifferencesNotFound,
                    error: "",
                },
                2,
            )
            .unwrap();
        incoming.put(done.clone());
        assert_eq!(
            incoming.next(B, false, Transition::Stopped { dropped_job: true }, 3),
            None,
            "never an incoming row that ended"
        );
        done.last_reconciliation_status = StatusValue::InProgress;
        incoming.put(done);
        assert!(
            incoming
                .next(B, false, Transition::Stopped { dropped_job: false }, 3)
                .is_some()
        );
    }

    #[test]
    fn a_responder_row_records_its_end_and_a_success_as_its_last() {
        let mut book = StatusBook::default();
        book.put(ReconciliationStatus::started(B, false, String::new(), 5));
        let ok = book
            .next(
                B,
                false,
                Transition::Responded {
                    status: StatusValue::DifferencesFound,
                    error: "",
                },
                9,
            )
            .unwrap();
        assert_eq!(
            (
                ok.last_successful_reconciliation_time_started,
                ok.last_successful_reconciliation_time_finished
            ),
            (Some(5), Some(9))
        );
        let failed = book
            .next(
                B,
                false,
                Transition::Responded {
                    status: StatusValue::Failed,
                    error: "aborted",
                },
                9,
            )
            .unwrap();
        assert_eq!(failed.last_successful_reconciliation_status, None);
        assert_eq!(failed.last_reconciliation_error, "aborted");
    }

    #[test]
    fn a_refresh_drops_ids_that_arrived_and_says_when_none_are_missing() {
        let book = through(vec![Transition::Reconciled {
            missing: vec![[1; 32], [2; 32]],
            started_ms: 1,
            session: session(1),
        }]);
        assert_eq!(
            book.next(
                B,
                true,
                Transition::Refreshed {
                    still_missing: vec![[1; 32], [2; 32]]
                },
                5
            ),
            None,
            "nothing arrived"
        );
        let some = book
            .next(
                B,
                true,
                Transition::Refreshed {
                    still_missing: vec![[2; 32]],
                },
                5,
            )
            .unwrap();
        assert_eq!(
            some.last_reconciliation_status,
            StatusValue::DifferencesFound
        );
        let none = book
            .next(
                B,
                true,
                Transition::Refreshed {
                    still_missing: vec![],
                },
                5,
            )
            .unwrap();
        assert_eq!(
            none.last_successful_reconciliation_status,
            Some(StatusValue::DifferencesNotFound)
        );
        assert_eq!(
            none.last_reconciliation_status,
            StatusValue::DifferencesNotFound
        );
    }
}
