//! Reconciliation statuses: the rows of CR_RECONCILIATION_STATUS, their
//! status values spelt as the seed spells them, and the seed shell's
//! `ReconciliationStatus(...)` layout.

use crate::id::{TxId, to_hex};
use std::fmt::{self, Write};

/// A status column's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusValue {
    DifferencesFound,
    DifferencesNotFound,
    InProgress,
    Failed,
    Stopped,
}

impl StatusValue {
    /// Every value, in the order the WIT enum declares them.
    pub const ALL: [StatusValue; 5] = [
        StatusValue::DifferencesFound,
        StatusValue::DifferencesNotFound,
        StatusValue::InProgress,
        StatusValue::Failed,
        StatusValue::Stopped,
    ];

    /// The seed's spelling, as stored in the table and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusValue::DifferencesFound => "DIFFERENCES_FOUND",
            StatusValue::DifferencesNotFound => "DIFFERENCES_NOT_FOUND",
            StatusValue::InProgress => "IN_PROGRESS",
            StatusValue::Failed => "FAILED",
            StatusValue::Stopped => "STOPPED",
        }
    }

    /// The value with the seed's spelling `text`, if any.
    pub fn from_seed_name(text: &str) -> Option<StatusValue> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
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

/// One row of CR_RECONCILIATION_STATUS: the latest reconciliation with one
/// party in one direction. See the WIT `reconciliation-status` record.
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

    /// What a restart makes of the row: one left IN_PROGRESS (its
    /// reconciliation was interrupted) ends FAILED at `now` with `reason`,
    /// its last success kept; any other row is left as it is (`None`).
    pub fn interrupted(mut self, reason: &str, now: u64) -> Option<Self> {
        if self.last_reconciliation_status != StatusValue::InProgress {
            return None;
        }
        self.last_reconciliation_status = StatusValue::Failed;
        self.last_reconciliation_error = reason.to_string();
        self.last_reconciliation_time_finished = Some(now);
        Some(self)
    }
}

impl fmt::Display for ReconciliationStatus {
    /// The row as the seed's shell prints it, ids as 64 upper-case hex
    /// digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = |v: Option<u64>| v.map_or("null".to_string(), |m| m.to_string());
        let mut out = String::new();
        let _ = writeln!(out, "ReconciliationStatus(");
        let _ = writeln!(out, "    partyName=\"{}\",", self.party_name);
        let _ = writeln!(out, "    isRequester={},", self.is_requester);
        let _ = writeln!(out, "    stateMachineRunId=\"{}\",", self.state_machine_id);
        let _ = writeln!(
            out,
            "    lastSuccessfulReconciliationTimeStarted={},",
            millis(self.last_successful_reconciliation_time_started)
        );
        let _ = writeln!(
            out,
            "    lastSuccessfulReconciliationTimeFinished={},",
            millis(self.last_successful_reconciliation_time_finished)
        );
        let _ = writeln!(
            out,
            "    lastSuccessfulReconciliationStatus={},",
            self.last_successful_reconciliation_status
                .map_or("null", StatusValue::as_str)
        );
        let _ = writeln!(out, "    lastSuccessfulReconciliationResult=[");
        let ids: Vec<String> = self
            .last_successful_reconciliation_result
            .iter()
            .map(to_hex)
            .collect();
        let _ = writeln!(out, "        {}", ids.join(",\n        "));
        let _ = writeln!(out, "    ],");
        let _ = writeln!(
            out,
            "    lastReconciliationTimeStarted={},",
            millis(self.last_reconciliation_time_started)
        );
        let _ = writeln!(
            out,
            "    lastReconciliationTimeFinished={},",
            millis(self.last_reconciliation_time_finished)
        );
        let _ = writeln!(
            out,
            "    lastReconciliationStatus={},",
            self.last_reconciliation_status
        );
        let _ = writeln!(
            out,
            "    lastReconciliationError=\"{}\"",
            self.last_reconciliation_error
        );
        out.push(')');
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_spellings_round_trip() {
        for v in StatusValue::ALL {
            assert_eq!(StatusValue::from_seed_name(v.as_str()), Some(v));
        }
        assert_eq!(StatusValue::from_seed_name("DONE"), None);
    }

    #[test]
    fn rows_print_in_the_seed_layout() {
        let mut row =
            ReconciliationStatus::started("O=PartyB, L=London, C=GB", true, "x".into(), 5);
        row.last_successful_reconciliation_result = vec![[0xab; 32]];
        let text = row.to_string();
        assert!(text.starts_with("ReconciliationStatus(\n    partyName=\"O=PartyB"));
        assert!(text.contains(&"AB".repeat(32)));
        assert!(text.contains("lastReconciliationStatus=IN_PROGRESS,"));
        assert!(text.ends_with(')'));
    }
}
