//! The one `bindgen!` for the plugin's WIT world — generated Rust types for
//! every WIT type, a `Host` trait per imported interface, typed calls into
//! the exports — and the conversions between its types and the shared
//! [`ledger_sync_vocabulary`], so the rest of the host speaks the vocabulary.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "reconciliation-plugin",
    imports: {
        // A plugin that passes the host's cap on pending timers is trapped.
        "ledger-sync:plugin/timers.set-timer": trappable,
    },
    additional_derives: [PartialEq],
});

pub use exports::ledger_sync::plugin::{flows, handlers, metrics};
pub use ledger_sync::plugin::types;

use ledger_sync_vocabulary::{FlowError, ReconciliationStatus, StatusValue, TransactionPage, id};
use types::ReconciliationStatusValue as WitValue;

impl From<WitValue> for StatusValue {
    fn from(v: WitValue) -> Self {
        match v {
            WitValue::DifferencesFound => StatusValue::DifferencesFound,
            WitValue::DifferencesNotFound => StatusValue::DifferencesNotFound,
            WitValue::InProgress => StatusValue::InProgress,
            WitValue::Failed => StatusValue::Failed,
            WitValue::Stopped => StatusValue::Stopped,
        }
    }
}

impl From<StatusValue> for WitValue {
    fn from(v: StatusValue) -> Self {
        match v {
            StatusValue::DifferencesFound => WitValue::DifferencesFound,
            StatusValue::DifferencesNotFound => WitValue::DifferencesNotFound,
            StatusValue::InProgress => WitValue::InProgress,
            StatusValue::Failed => WitValue::Failed,
            StatusValue::Stopped => WitValue::Stopped,
        }
    }
}

impl From<&ReconciliationStatus> for types::ReconciliationStatus {
    fn from(s: &ReconciliationStatus) -> Self {
        types::ReconciliationStatus {
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
            last_successful_reconciliation_result: id::join_ids(
                &s.last_successful_reconciliation_result,
            ),
            last_reconciliation_time_started: s.last_reconciliation_time_started,
            last_reconciliation_time_finished: s.last_reconciliation_time_finished,
            last_reconciliation_status: s.last_reconciliation_status.into(),
            last_reconciliation_error: s.last_reconciliation_error.clone(),
        }
    }
}

impl TryFrom<types::ReconciliationStatus> for ReconciliationStatus {
    type Error = String;

    /// Fails when the result is not a whole number of 32-byte ids.
    fn try_from(s: types::ReconciliationStatus) -> Result<Self, String> {
        let result = id::split_ids(&s.last_successful_reconciliation_result).ok_or_else(|| {
            format!(
                "the result for {} is {} bytes, not a whole number of 32-byte transaction ids",
                s.party_name,
                s.last_successful_reconciliation_result.len()
            )
        })?;
        Ok(ReconciliationStatus {
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

impl From<flows::FlowError> for FlowError {
    fn from(e: flows::FlowError) -> Self {
        use flows::FlowError as W;
        match e {
            W::SelfReconciliation(p) => FlowError::SelfReconciliation(p),
            W::ReconciliationAlreadyScheduled(p) => FlowError::ReconciliationAlreadyScheduled(p),
            W::IncomingReconciliationInProgress(p) => {
                FlowError::IncomingReconciliationInProgress(p)
            }
            W::LedgerGraphNotInitialised => FlowError::LedgerGraphNotInitialised,
            W::LedgerGraphNotSelfConsistent(errors) => {
                FlowError::LedgerGraphNotSelfConsistent(errors)
            }
            W::InvalidArgument(why) => FlowError::InvalidArgument(why),
            W::Storage(why) => FlowError::Storage(why),
        }
    }
}

impl From<TransactionPage> for ledger_sync::plugin::vault::TransactionPage {
    fn from(p: TransactionPage) -> Self {
        ledger_sync::plugin::vault::TransactionPage {
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
