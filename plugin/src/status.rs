//! Reconciliation statuses: the rows of CR_RECONCILIATION_STATUS and their
//! status values, in the seed's vocabulary.

use crate::id::TxId;
use std::fmt;

/// A status column's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusValue {
    DifferencesFound,
    DifferencesNotFound,
    InProgress,
    Failed,
    Stopped,
}

impl StatusValue {
    /// The seed's spelling, as stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusValue::DifferencesFound => "DIFFERENCES_FOUND",
            StatusValue::DifferencesNotFound => "DIFFERENCES_NOT_FOUND",
            StatusValue::InProgress => "IN_PROGRESS",
            StatusValue::Failed => "FAILED",
            StatusValue::Stopped => "STOPPED",
        }
    }

    /// Parses the seed's spelling.
    pub fn parse(text: &str) -> Option<StatusValue> {
        [
            StatusValue::DifferencesFound,
            StatusValue::DifferencesNotFound,
            StatusValue::InProgress,
            StatusValue::Failed,
            StatusValue::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// True for the two outcomes of a successful reconciliation.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            StatusValue::DifferencesFound | StatusValue::DifferencesNotFound
        )
    }
}

impl fmt::Display for StatusValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of CR_RECONCILIATION_STATUS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconciliationStatus {
    pub party_name: String,
    pub is_requester: bool,
    pub state_machine_id: String,
    pub last_successful_reconciliation_time_started: Option<u64>,
    pub last_successful_reconciliation_time_finished: Option<u64>,
    pub last_successful_reconciliation_status: Option<StatusValue>,
    pub last_successful_reconciliation_result: Vec<TxId>,
    pub last_reconciliation_time_started: Option<u64>,
    pub last_reconciliation_time_finished: Option<u64>,
    pub last_reconciliation_status: StatusValue,
    pub last_reconciliation_error: String,
}

impl ReconciliationStatus {
    /// A fresh row for a reconciliation that starts now.
    pub fn started(party: &str, is_requester: bool, state_machine_id: String, now: u64) -> Self {
        ReconciliationStatus {
            party_name: party.to_string(),
            is_requester,
            state_machine_id,
            last_successful_reconciliation_time_started: None,
            last_successful_reconciliation_time_finished: None,
            last_successful_reconciliation_status: None,
            last_successful_reconciliation_result: Vec::new(),
            last_reconciliation_time_started: Some(now),
            last_reconciliation_time_finished: None,
            last_reconciliation_status: StatusValue::InProgress,
            last_reconciliation_error: String::new(),
        }
    }
}
