//! The seed's metrics, as a plugin reports them: what is queued and
//! running, the current cycle's outcomes, the parties that failed or found
//! differences, and the ledger graph's health. The WIT
//! `metrics.metrics-snapshot` is the same record (see
//! [`wit_metrics_conversions!`](crate::wit_metrics_conversions)).

/// The seed's metrics (the names are the seed's, in snake case).
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
