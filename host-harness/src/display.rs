//! Operator-facing text: statuses in the seed's `ReconciliationStatus(...)`
//! layout, and flow errors in the seed's words.

use crate::bindings::flows::FlowError;
use crate::bindings::types::ReconciliationStatus;
use crate::status_store::status_name;
use ledger_sync_plugin::id::{TX_ID_LEN, to_hex};
use std::fmt::Write;

/// A status as the seed's shell prints it, ids as 64 upper-case hex digits.
pub fn format_status(s: &ReconciliationStatus) -> String {
    let millis = |v: Option<u64>| v.map_or("null".to_string(), |m| m.to_string());
    let mut out = String::new();
    let _ = writeln!(out, "ReconciliationStatus(");
    let _ = writeln!(out, "    partyName=\"{}\",", s.party_name);
    let _ = writeln!(out, "    isRequester={},", s.is_requester);
    let _ = writeln!(out, "    stateMachineRunId=\"{}\",", s.state_machine_id);
    let _ = writeln!(
        out,
        "    lastSuccessfulReconciliationTimeStarted={},",
        millis(s.last_successful_reconciliation_time_started)
    );
    let _ = writeln!(
        out,
        "    lastSuccessfulReconciliationTimeFinished={},",
        millis(s.last_successful_reconciliation_time_finished)
    );
    let _ = writeln!(
        out,
        "    lastSuccessfulReconciliationStatus={},",
        s.last_successful_reconciliation_status
            .map_or("null", status_name)
    );
    let _ = writeln!(out, "    lastSuccessfulReconciliationResult=[");
    let ids = ids_hex(&s.last_successful_reconciliation_result);
    let _ = writeln!(out, "        {}", ids.join(",\n        "));
    let _ = writeln!(out, "    ],");
    let _ = writeln!(
        out,
        "    lastReconciliationTimeStarted={},",
        millis(s.last_reconciliation_time_started)
    );
    let _ = writeln!(
        out,
        "    lastReconciliationTimeFinished={},",
        millis(s.last_reconciliation_time_finished)
    );
    let _ = writeln!(
        out,
        "    lastReconciliationStatus={},",
        status_name(s.last_reconciliation_status)
    );
    let _ = writeln!(
        out,
        "    lastReconciliationError=\"{}\"",
        s.last_reconciliation_error
    );
    out.push(')');
    out
}

/// A flow error in the seed's words.
pub fn format_flow_error(e: &FlowError) -> String {
    match e {
        FlowError::SelfReconciliation(p) => format!("a party cannot reconcile with itself ({p})"),
        FlowError::ReconciliationAlreadyScheduled(p) => format!(
            "ReconciliationAlreadyScheduledException: a reconciliation with {p} is already \
             scheduled or running"
        ),
        FlowError::IncomingReconciliationInProgress(p) => {
            format!("{p} is reconciling with this node right now")
        }
        FlowError::LedgerGraphNotInitialised => "the ledger graph is not initialised yet".into(),
        FlowError::LedgerGraphNotSelfConsistent(errors) => format!(
            "the ledger graph is not self-consistent: {}",
            errors.join("; ")
        ),
        FlowError::InvalidArgument(why) => format!("invalid argument: {why}"),
        FlowError::NotImplemented(what) => format!("not implemented: {what}"),
        FlowError::Storage(why) => format!("storage failure: {why}"),
    }
}

/// Concatenated ids as hex strings.
pub fn ids_hex(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks_exact(TX_ID_LEN)
        .map(|c| to_hex(c.try_into().expect("32-byte id")))
        .collect()
}
