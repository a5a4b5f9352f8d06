//! The seed's metrics: counts of what is queued and running, per-cycle
//! outcome counts, the parties that failed or found differences, and the
//! ledger graph's health.

use super::*;

/// The seed's metrics; mirrors the WIT `metrics-snapshot`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    pub failed_parties: Vec<String>,
    pub parties_with_difference: Vec<String>,
    pub number_of_scheduled_reconciliations: u32,
    pub number_of_reconciliations_in_progress: u32,
    pub number_of_failed_reconciliations: u32,
    pub number_of_reconciliations_with_differences: u32,
    pub number_of_reconciliations_without_differences: u32,
    pub ledger_graph_is_initialized: bool,
    pub ledger_graph_is_self_consistent: bool,
    pub ledger_graph_errors: Vec<String>,
    pub ledger_graph_transactions: u64,
}

/// Outcome counters for the current reconciliation cycle.
#[derive(Default)]
pub(super) struct Cycle {
    pub(super) failed: u32,
    pub(super) with_differences: u32,
    pub(super) without_differences: u32,
}

impl<H: Host> Reconciler<H> {
    /// Every metric.
    pub fn metrics(&self) -> Metrics {
        let requester_rows = || self.statuses.values().filter(|r| r.is_requester);
        Metrics {
            failed_parties: requester_rows()
                .filter(|r| r.last_reconciliation_status == StatusValue::Failed)
                .map(|r| r.party_name.clone())
                .collect(),
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
        self.statuses.get(&(party.to_string(), true)).cloned()
    }
}
