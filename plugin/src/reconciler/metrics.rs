//! The seed's metrics: counts of what is queued and running, per-cycle
//! outcome counts, the parties that failed or found differences, and the
//! ledger graph's health.

use super::Reconciler;
use crate::host::Host;
use crate::status::{ReconciliationStatus, StatusValue};

pub use ledger_sync_vocabulary::metrics::Metrics;

/// Outcome counters for the current reconciliation cycle.
#[derive(Default)]
pub(super) struct Cycle {
    pub(super) failed: u32,
    pub(super) with_differences: u32,
    pub(super) without_differences: u32,
}

impl Cycle {
    /// The cycle a node was in when it stopped, from its stored outgoing
    /// rows: each party's latest outcome, so that the alert metrics do not
    /// drop to 0 at a restart while failures and differences remain.
    pub(super) fn from_rows<'a>(rows: impl Iterator<Item = &'a ReconciliationStatus>) -> Cycle {
        let mut cycle = Cycle::default();
        for row in rows.filter(|r| r.is_requester) {
            match row.last_reconciliation_status {
                StatusValue::Failed => cycle.failed += 1,
                StatusValue::DifferencesFound => cycle.with_differences += 1,
                StatusValue::DifferencesNotFound => cycle.without_differences += 1,
                _ => {}
            }
        }
        cycle
    }
}

impl<H: Host> Reconciler<H> {
    /// Every metric. A party is among the failed ones while its latest
    /// outgoing reconciliation is FAILED and it is on the network: its
    /// series clears when a later reconciliation with it succeeds, or when
    /// the network map no longer lists it (a name mistyped before names
    /// were checked, a node that left), so an alert on it does not fire
    /// forever.
    pub fn metrics(&mut self) -> Metrics {
        let failed: Vec<String> = self
            .book
            .rows()
            .filter(|r| r.is_requester && r.last_reconciliation_status == StatusValue::Failed)
            .map(|r| r.party_name.clone())
            .collect();
        let failed_parties = failed
            .into_iter()
            .filter(|p| self.host.is_network_party(p))
            .collect();
        let requester_rows = || self.book.rows().filter(|r| r.is_requester);
        Metrics {
            failed_parties,
            parties_with_difference: requester_rows()
                .filter(|r| {
                    r.last_successful_reconciliation_status == Some(StatusValue::DifferencesFound)
                })
                .map(|r| r.party_name.clone())
                .collect(),
            number_of_scheduled_reconciliations: self.queue.len() as u32,
            // A requester waiting to retry a busy party is still in progress.
            number_of_reconciliations_in_progress: (self.outgoing.len() + self.incoming.len())
                as u32,
            number_of_failed_reconciliations: self.cycle.failed,
            number_of_reconciliations_with_differences: self.cycle.with_differences,
            number_of_reconciliations_without_differences: self.cycle.without_differences,
            ledger_graph_is_initialized: self.graph_initialised,
            ledger_graph_is_self_consistent: self.graph_initialised
                && self.graph.is_self_consistent(),
            ledger_graph_errors: self
                .graph_error
                .iter()
                .cloned()
                .chain(self.graph.errors())
                .collect(),
            ledger_graph_transactions: self.graph.len() as u64,
        }
    }

    /// The ReconciliationStatus(party) metric: the outgoing status.
    pub fn reconciliation_status(&self, party: &str) -> Option<ReconciliationStatus> {
        self.book.get(party, true).cloned()
    }
}
