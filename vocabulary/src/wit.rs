//! The conversions between the vocabulary and the contract's WIT types,
//! written once for every binding of the contract: the reference host's
//! (`wasmtime::component::bindgen!`), the plugin's and every test guest's
//! (`wit_bindgen::generate!`). Each binding has types of its own, so the
//! impls are made where the types are, by [`wit_conversions!`](crate::wit_conversions).

/// Implements `From`/`TryFrom` both ways between the vocabulary and one
/// binding's types: `StatusValue` and `reconciliation-status-value`,
/// `ReconciliationStatus` (a result that is not a whole number of 32-byte
/// ids is refused) and `reconciliation-status`, `FlowError` and
/// `flow-error`, `TransactionPage` and `vault.transaction-page`, `Metrics`
/// and `metrics.metrics-snapshot`. Give the module paths of the binding's
/// `types` interface, the interface holding `flow-error` (`types` since
/// 0.4.0, `flows` before), and its `vault` and `metrics` interfaces:
///
/// ```ignore
/// ledger_sync_vocabulary::wit_conversions!(
///     ledger_sync::plugin::types,
///     ledger_sync::plugin::types,
///     ledger_sync::plugin::vault,
///     exports::ledger_sync::plugin::metrics
/// );
/// ```
#[macro_export]
macro_rules! wit_conversions {
    ($($types:ident)::+, $($flows:ident)::+, $($vault:ident)::+, $($metrics:ident)::+) => {
        $crate::wit_metrics_conversions!($($metrics)::+);
        $crate::wit_status_conversions!($($types)::+);
        $crate::wit_flow_error_conversions!($($flows)::+);
        $crate::wit_page_conversions!($($vault)::+);
    };
}

/// The status part of [`wit_conversions!`](crate::wit_conversions), for a
/// binding's `types` interface alone.
#[macro_export]
macro_rules! wit_status_conversions {
    ($($types:ident)::+) => {
        impl From<$($types)::+::ReconciliationStatusValue> for $crate::StatusValue {
            fn from(v: $($types)::+::ReconciliationStatusValue) -> Self {
                use $($types)::+::ReconciliationStatusValue as W;
                match v {
                    W::DifferencesFound => $crate::StatusValue::DifferencesFound,
                    W::DifferencesNotFound => $crate::StatusValue::DifferencesNotFound,
                    W::InProgress => $crate::StatusValue::InProgress,
                    W::Failed => $crate::StatusValue::Failed,
                    W::Stopped => $crate::StatusValue::Stopped,
                }
            }
        }

        impl From<$crate::StatusValue> for $($types)::+::ReconciliationStatusValue {
            fn from(v: $crate::StatusValue) -> Self {
                use $($types)::+::ReconciliationStatusValue as W;
                match v {
                    $crate::StatusValue::DifferencesFound => W::DifferencesFound,
                    $crate::StatusValue::DifferencesNotFound => W::DifferencesNotFound,
                    $crate::StatusValue::InProgress => W::InProgress,
                    $crate::StatusValue::Failed => W::Failed,
                    $crate::StatusValue::Stopped => W::Stopped,
                }
            }
        }

        impl From<&$crate::ReconciliationStatus> for $($types)::+::ReconciliationStatus {
            fn from(s: &$crate::ReconciliationStatus) -> Self {
                $($types)::+::ReconciliationStatus {
                    party_name: s.party_name.clone(),
                    is_requester: s.is_requester,
                    state_machine_id: s.state_machine_id.clone(),
                    last_successful_reconciliation_time_started: s
                        .last_successful_reconciliation_time_started,
                    last_successful_reconciliation_time_finished: s
                        .last_successful_reconciliation_time_finished,
                    last_successful_reconciliation_status: s
                        .last_successful_reconciliation_status
                        .map(Into::into),
                    last_successful_reconciliation_result: $crate::id::join_ids(
                        &s.last_successful_reconciliation_result,
                    ),
                    last_reconciliation_time_started: s.last_reconciliation_time_started,
                    last_reconciliation_time_finished: s.last_reconciliation_time_finished,
                    last_reconciliation_status: s.last_reconciliation_status.into(),
                    last_reconciliation_error: s.last_reconciliation_error.clone(),
                }
            }
        }

        impl TryFrom<$($types)::+::ReconciliationStatus> for $crate::ReconciliationStatus {
            type Error = String;

            /// Fails when the result is not a whole number of 32-byte ids.
            fn try_from(s: $($types)::+::ReconciliationStatus) -> Result<Self, String> {
                let result = $crate::id::split_ids(&s.last_successful_reconciliation_result)
                    .ok_or_else(|| {
                        format!(
                            "the result for {} is {} bytes, not a whole number of 32-byte \
                             transaction ids",
                            s.party_name,
                            s.last_successful_reconciliation_result.len()
                        )
                    })?;
                Ok($crate::ReconciliationStatus {
                    party_name: s.party_name,
                    is_requester: s.is_requester,
                    state_machine_id: s.state_machine_id,
                    last_successful_reconciliation_time_started: s
                        .last_successful_reconciliation_time_started,
                    last_successful_reconciliation_time_finished: s
                        .last_successful_reconciliation_time_finished,
                    last_successful_reconciliation_status: s
                        .last_successful_reconciliation_status
                        .map(Into::into),
                    last_successful_reconciliation_result: result,
                    last_reconciliation_time_started: s.last_reconciliation_time_started,
                    last_reconciliation_time_finished: s.last_reconciliation_time_finished,
                    last_reconciliation_status: s.last_reconciliation_status.into(),
                    last_reconciliation_error: s.last_reconciliation_error,
                })
            }
        }

    };
}

/// The flow-error part of [`wit_conversions!`](crate::wit_conversions),
/// for a binding's `flows` interface alone.
#[macro_export]
macro_rules! wit_flow_error_conversions {
    ($($flows:ident)::+) => {
        impl From<$($flows)::+::FlowError> for $crate::FlowError {
            fn from(e: $($flows)::+::FlowError) -> Self {
                use $($flows)::+::FlowError as W;
                match e {
                    W::SelfReconciliation(p) => $crate::FlowError::SelfReconciliation(p),
                    W::ReconciliationAlreadyScheduled(p) => {
                        $crate::FlowError::ReconciliationAlreadyScheduled(p)
                    }
                    W::IncomingReconciliationInProgress(p) => {
                        $crate::FlowError::IncomingReconciliationInProgress(p)
                    }
                    W::LedgerGraphNotInitialised => $crate::FlowError::LedgerGraphNotInitialised,
                    W::LedgerGraphNotSelfConsistent(errors) => {
                        $crate::FlowError::LedgerGraphNotSelfConsistent(errors)
                    }
                    W::InvalidArgument(why) => $crate::FlowError::InvalidArgument(why),
                    W::Storage(why) => $crate::FlowError::Storage(why),
                }
            }
        }

        impl From<$crate::FlowError> for $($flows)::+::FlowError {
            fn from(e: $crate::FlowError) -> Self {
                use $($flows)::+::FlowError as W;
                match e {
                    $crate::FlowError::SelfReconciliation(p) => W::SelfReconciliation(p),
                    $crate::FlowError::ReconciliationAlreadyScheduled(p) => {
                        W::ReconciliationAlreadyScheduled(p)
                    }
                    $crate::FlowError::IncomingReconciliationInProgress(p) => {
                        W::IncomingReconciliationInProgress(p)
                    }
                    $crate::FlowError::LedgerGraphNotInitialised => W::LedgerGraphNotInitialised,
                    $crate::FlowError::LedgerGraphNotSelfConsistent(errors) => {
                        W::LedgerGraphNotSelfConsistent(errors)
                    }
                    $crate::FlowError::InvalidArgument(why) => W::InvalidArgument(why),
                    $crate::FlowError::Storage(why) => W::Storage(why),
                }
            }
        }
    };
}

/// The vault-page part of [`wit_conversions!`](crate::wit_conversions),
/// for a binding's `vault` interface alone.
#[macro_export]
macro_rules! wit_page_conversions {
    ($($vault:ident)::+) => {
        impl From<$($vault)::+::TransactionPage> for $crate::TransactionPage {
            fn from(p: $($vault)::+::TransactionPage) -> Self {
                $crate::TransactionPage {
                    ids: p.ids,
                    dependency_counts: p.dependency_counts,
                    dependencies: p.dependencies,
                    output_counts: p.output_counts,
                    participant_counts: p.participant_counts,
                    participants: p.participants,
                    cursor: p.cursor,
                }
            }
        }

        impl From<$crate::TransactionPage> for $($vault)::+::TransactionPage {
            fn from(p: $crate::TransactionPage) -> Self {
                $($vault)::+::TransactionPage {
                    ids: p.ids,
                    dependency_counts: p.dependency_counts,
                    dependencies: p.dependencies,
                    output_counts: p.output_counts,
                    participant_counts: p.participant_counts,
                    participants: p.participants,
                    cursor: p.cursor,
                }
            }
        }

    };
}

/// The metrics part of [`wit_conversions!`](crate::wit_conversions), for a
/// binding's `metrics` interface alone.
#[macro_export]
macro_rules! wit_metrics_conversions {
    ($($metrics:ident)::+) => {
        impl From<$($metrics)::+::MetricsSnapshot> for $crate::metrics::Metrics {
            fn from(m: $($metrics)::+::MetricsSnapshot) -> Self {
                $crate::metrics::Metrics {
                    failed_parties: m.failed_parties,
                    parties_with_difference: m.parties_with_difference,
                    number_of_scheduled_reconciliations: m.number_of_scheduled_reconciliations,
                    number_of_reconciliations_in_progress: m.number_of_reconciliations_in_progress,
                    number_of_failed_reconciliations: m.number_of_failed_reconciliations,
                    number_of_reconciliations_with_differences: m.number_of_reconciliations_with_differences,
                    number_of_reconciliations_without_differences: m.number_of_reconciliations_without_differences,
                    ledger_graph_is_initialized: m.ledger_graph_is_initialized,
                    ledger_graph_is_self_consistent: m.ledger_graph_is_self_consistent,
                    ledger_graph_errors: m.ledger_graph_errors,
                    ledger_graph_transactions: m.ledger_graph_transactions,
                }
            }
        }

        impl From<$crate::metrics::Metrics> for $($metrics)::+::MetricsSnapshot {
            fn from(m: $crate::metrics::Metrics) -> Self {
                $($metrics)::+::MetricsSnapshot {
                    failed_parties: m.failed_parties,
                    parties_with_difference: m.parties_with_difference,
                    number_of_scheduled_reconciliations: m.number_of_scheduled_reconciliations,
                    number_of_reconciliations_in_progress: m.number_of_reconciliations_in_progress,
                    number_of_failed_reconciliations: m.number_of_failed_reconciliations,
                    number_of_reconciliations_with_differences: m.number_of_reconciliations_with_differences,
                    number_of_reconciliations_without_differences: m.number_of_reconciliations_without_differences,
                    ledger_graph_is_initialized: m.ledger_graph_is_initialized,
                    ledger_graph_is_self_consistent: m.ledger_graph_is_self_consistent,
                    ledger_graph_errors: m.ledger_graph_errors,
                    ledger_graph_transactions: m.ledger_graph_transactions,
                }
            }
        }
    };
}

/// Implements `From`/`TryFrom` both ways between the vocabulary's recovery
/// rows ([`crate::recovery`]) and one binding's `recovery-store` types.
/// Give the module path of the binding's `recovery-store` interface.
#[macro_export]
macro_rules! wit_recovery_conversions {
    ($($store:ident)::+) => {
        impl From<$crate::recovery::RecoveryStatus> for $($store)::+::RecoveryStatus {
            fn from(v: $crate::recovery::RecoveryStatus) -> Self {
                use $crate::recovery::RecoveryStatus as V;
                match v {
                    V::InProgress => Self::InProgress,
                    V::Completed => Self::Completed,
                    V::Failed => Self::Failed,
                    V::Stopped => Self::Stopped,
                }
            }
        }

        impl From<$($store)::+::RecoveryStatus> for $crate::recovery::RecoveryStatus {
            fn from(v: $($store)::+::RecoveryStatus) -> Self {
                use $($store)::+::RecoveryStatus as W;
                match v {
                    W::InProgress => Self::InProgress,
                    W::Completed => Self::Completed,
                    W::Failed => Self::Failed,
                    W::Stopped => Self::Stopped,
                }
            }
        }

        impl From<&$crate::recovery::RecoveryRequest> for $($store)::+::RecoveryRequest {
            fn from(r: &$crate::recovery::RecoveryRequest) -> Self {
                $($store)::+::RecoveryRequest {
                    request_id: r.request_id.clone(),
                    party_name: r.party_name.clone(),
                    is_requester: r.is_requester,
                    flow_name: r.flow_name.clone(),
                    status: r.status.into(),
                    time_started: r.time_started,
                    time_finished: r.time_finished,
                    requested: r.requested.concat(),
                    outstanding: r.outstanding.concat(),
                    recovered: r.recovered,
                    unavailable: r.unavailable,
                    refused: r.refused,
                    bytes: r.bytes,
                    error: r.error.clone(),
                }
            }
        }

        impl TryFrom<$($store)::+::RecoveryRequest> for $crate::recovery::RecoveryRequest {
            type Error = String;

            /// Refuses id lists that are not whole 32-byte ids.
            fn try_from(r: $($store)::+::RecoveryRequest) -> Result<Self, String> {
                let ids = |what: &str, bytes: &[u8]| {
                    $crate::recovery::request_ids(&r.request_id, what, bytes)
                };
                Ok($crate::recovery::RecoveryRequest {
                    requested: ids("requested", &r.requested)?,
                    outstanding: ids("outstanding", &r.outstanding)?,
                    request_id: r.request_id,
                    party_name: r.party_name,
                    is_requester: r.is_requester,
                    flow_name: r.flow_name,
                    status: r.status.into(),
                    time_started: r.time_started,
                    time_finished: r.time_finished,
                    recovered: r.recovered,
                    unavailable: r.unavailable,
                    refused: r.refused,
                    bytes: r.bytes,
                    error: r.error,
                })
            }
        }

        impl From<&$crate::recovery::RecoveryLogEntry> for $($store)::+::RecoveryLogEntry {
            fn from(e: &$crate::recovery::RecoveryLogEntry) -> Self {
                $($store)::+::RecoveryLogEntry {
                    request_id: e.request_id.clone(),
                    party_name: e.party_name.clone(),
                    is_requester: e.is_requester,
                    time: e.time,
                    level: e.level.clone(),
                    message: e.message.clone(),
                }
            }
        }

        impl From<$($store)::+::RecoveryLogEntry> for $crate::recovery::RecoveryLogEntry {
            fn from(e: $($store)::+::RecoveryLogEntry) -> Self {
                $crate::recovery::RecoveryLogEntry {
                    request_id: e.request_id,
                    party_name: e.party_name,
                    is_requester: e.is_requester,
                    time: e.time,
                    level: e.level,
                    message: e.message,
                }
            }
        }
    };
}
