//! Recovery's words: the rows of CR_RECOVERY_REQUEST and CR_RECOVERY_LOG,
//! their status values, and how the shell prints a request
//! (`RecoveryRequest(...)`, in the layout of the seed's
//! `ReconciliationStatus(...)`).

use crate::id::{TxId, to_hex};
use std::fmt::{self, Write};

/// A recovery request's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecoveryStatus {
    InProgress,
    /// Every transaction asked for was recorded, or the counterparty
    /// could not supply it (counted as unavailable).
    Completed,
    Failed,
    Stopped,
}

impl RecoveryStatus {
    pub const ALL: [RecoveryStatus; 4] = [
        RecoveryStatus::InProgress,
        RecoveryStatus::Completed,
        RecoveryStatus::Failed,
        RecoveryStatus::Stopped,
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryStatus::InProgress => "IN_PROGRESS",
            RecoveryStatus::Completed => "COMPLETED",
            RecoveryStatus::Failed => "FAILED",
            RecoveryStatus::Stopped => "STOPPED",
        }
    }

    pub fn from_name(text: &str) -> Option<RecoveryStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl fmt::Display for RecoveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of CR_RECOVERY_REQUEST: one recovery of transactions from one
/// party, on the side that asked (`is_requester`) or the side that sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryRequest {
    /// A UUID, chosen by the requester.
    pub request_id: String,
    pub party_name: String,
    pub is_requester: bool,
    /// The flow that started it: `AutomaticRecoveryFlow` or
    /// `InitiateManualRecoveryFlow` (the responder's side: the requester's).
    pub flow_name: String,
    pub status: RecoveryStatus,
    pub time_started: u64,
    pub time_finished: Option<u64>,
    /// The ids asked for.
    pub requested: Vec<TxId>,
    /// The ids not yet recorded (requester) or sent (responder), resumed
    /// from after a restart.
    pub outstanding: Vec<TxId>,
    /// Transactions recorded (requester) or sent (responder).
    pub recovered: u32,
    /// Transactions the counterparty could not supply: not held, held
    /// without their bytes, or not shared with the requester (a requester
    /// is never told which).
    pub unavailable: u32,
    /// Transactions received that did not verify, and were not recorded.
    pub refused: u32,
    /// Bytes of transactions received (requester) or sent (responder).
    pub bytes: u64,
    /// Why it failed; empty unless FAILED.
    pub error: String,
}

/// One of a request's id lists (`column`), from concatenated 32-byte ids,
/// or an error naming the request and the column.
pub fn request_ids(request_id: &str, column: &str, bytes: &[u8]) -> Result<Vec<TxId>, String> {
    crate::id::split_ids(bytes)
        .ok_or_else(|| format!("recovery request {request_id}: {column} is not whole 32-byte ids"))
}

impl RecoveryRequest {
    /// A request started now by this node.
    pub fn started(
        request_id: String,
        party: &str,
        flow_name: &str,
        requested: Vec<TxId>,
        now: u64,
    ) -> RecoveryRequest {
        RecoveryRequest {
            request_id,
            party_name: party.to_string(),
            is_requester: true,
            flow_name: flow_name.to_string(),
            status: RecoveryStatus::InProgress,
            time_started: now,
            time_finished: None,
            outstanding: requested.clone(),
            requested,
            recovered: 0,
            unavailable: 0,
            refused: 0,
            bytes: 0,
            error: String::new(),
        }
    }

    /// Ends the request with `status` at `now`; `error` is kept only for
    /// FAILED.
    pub fn end(&mut self, status: RecoveryStatus, now: u64, error: &str) {
        self.status = status;
        self.time_finished = Some(now);
        self.error = if status == RecoveryStatus::Failed {
            error.to_string()
        } else {
            String::new()
        };
    }
}

impl fmt::Display for RecoveryRequest {
    /// The row as the shell prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = writeln!(out, "RecoveryRequest(");
        let _ = writeln!(out, "    requestId=\"{}\",", self.request_id);
        let _ = writeln!(out, "    partyName=\"{}\",", self.party_name);
        let _ = writeln!(out, "    isRequester={},", self.is_requester);
        let _ = writeln!(out, "    flowName={},", self.flow_name);
        let _ = writeln!(out, "    status={},", self.status);
        let _ = writeln!(out, "    timeStarted={},", self.time_started);
        let finished = self.time_finished.map_or("null".into(), |t| t.to_string());
        let _ = writeln!(out, "    timeFinished={finished},");
        let _ = writeln!(out, "    requested={},", self.requested.len());
        let _ = writeln!(out, "    recovered={},", self.recovered);
        let _ = writeln!(out, "    unavailable={},", self.unavailable);
        let _ = writeln!(out, "    refused={},", self.refused);
        let _ = writeln!(out, "    bytes={},", self.bytes);
        let _ = writeln!(out, "    outstanding=[");
        let ids: Vec<String> = self.outstanding.iter().map(to_hex).collect();
        let _ = writeln!(out, "        {}", ids.join(",\n        "));
        let _ = writeln!(out, "    ],");
        let _ = writeln!(out, "    error=\"{}\"", self.error);
        out.push(')');
        f.write_str(&out)
    }
}

/// One line of CR_RECOVERY_LOG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryLogEntry {
    pub request_id: String,
    pub party_name: String,
    pub is_requester: bool,
    pub time: u64,
    /// `INFO`, `WARN` or `ERROR`.
    pub level: String,
    pub message: String,
}

impl fmt::Display for RecoveryLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RecoveryLog(requestId=\"{}\", partyName=\"{}\", isRequester={}, time={}, level={}, \
             message=\"{}\")",
            self.request_id,
            self.party_name,
            self.is_requester,
            self.time,
            self.level,
            self.message
        )
    }
}
