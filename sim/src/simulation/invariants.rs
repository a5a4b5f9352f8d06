//! The invariants, checked against an oracle computed independently of the
//! plugin ([`crate::ledger::reconciliation_set`]).

use super::faults::FaultState;
use super::hostile::MALLORY;
use super::{SeedReport, cause_of};
use crate::ledger::reconciliation_set;
use crate::network::Network;
use ledger_sync_host::store::vault::VaultTransaction;
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue, TxId};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;

/// Guest memory no simulated node may exceed (its ledgers are small).
pub const MEMORY_BOUND_BYTES: usize = 64 << 20;

/// The oracle: what `requester` lacks of what `party` holds for it.
pub(super) fn expected_missing(
    requester: &str,
    party: &str,
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
) -> Vec<TxId> {
    let mut ids: Vec<TxId> = reconciliation_set(&vaults[party], requester)
        .into_iter()
        .filter(|id| !held[requester].contains(id))
        .collect();
    ids.sort_unstable();
    ids
}

fn check_row(
    row: &ReconciliationStatus,
    requester: &str,
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
    report: &mut SeedReport,
) {
    let Some(status) = row.last_successful_reconciliation_status else {
        return;
    };
    if !vaults.contains_key(&row.party_name) {
        return; // Mallory's answers are whatever she says
    }
    let want = expected_missing(requester, &row.party_name, held, vaults);
    report.results_checked += 1;
    let got = &row.last_successful_reconciliation_result;
    let consistent = match status {
        StatusValue::DifferencesFound => !got.is_empty(),
        _ => got.is_empty(),
    };
    if *got != want || !consistent {
        report.violation(format!(
            "WRONG RESULT at {requester} for {}: {status} with {} ids, the oracle says {}",
            row.party_name,
            got.len(),
            want.len()
        ));
    }
}

/// Checks the result every requester that just sent `Done` recorded.
pub(super) fn check_dones(
    net: &mut Network,
    faults: &Rc<RefCell<FaultState>>,
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
    report: &mut SeedReport,
) {
    let dones = std::mem::take(&mut faults.borrow_mut().dones);
    for (requester, party) in dones {
        if !net.is_running(&requester) {
            continue;
        }
        if let Ok(Ok(Some(row))) = net
            .node(&requester)
            .get_reconciliation_status_for_party(&party, true)
        {
            check_row(&row, &requester, held, vaults, report);
        }
    }
}

pub(super) fn final_checks(
    net: &mut Network,
    parties: &[String],
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
    faults: &Rc<RefCell<FaultState>>,
    report: &mut SeedReport,
) {
    let known: BTreeSet<&str> = parties
        .iter()
        .map(String::as_str)
        .chain([MALLORY])
        .collect();
    if let Some(who) = faults.borrow().leaky_done.clone() {
        report.violation(format!("{who} sent a Done that says more than Done"));
    }
    for failure in net.failures() {
        report.violation(format!("trap in {}: {:?}", failure.node, failure.failure));
    }
    for p in parties {
        let memory = net.node(p).peak_memory_bytes();
        if memory > MEMORY_BOUND_BYTES {
            report.violation(format!("{p} used {memory} bytes of guest memory"));
        }
        let rows = crate::testkit::stored_statuses(net, p);
        for row in rows {
            if row.party_name == *p || !known.contains(row.party_name.as_str()) {
                report.violation(format!(
                    "{p} has a status row for {}, {}",
                    row.party_name,
                    if row.party_name == *p {
                        "itself"
                    } else {
                        "a party the network does not know"
                    }
                ));
            }
            // Honest nodes never call each other violators, whatever the
            // network does to their frames (loss, delay, duplicates that
            // cross on the wire).
            if row.party_name != MALLORY
                && row.last_reconciliation_error.contains("protocol violation")
            {
                report.violation(format!(
                    "{p} recorded a protocol violation with {}, an honest node: {}",
                    row.party_name, row.last_reconciliation_error
                ));
            }
            if row.last_reconciliation_status == StatusValue::InProgress {
                report.violation(format!(
                    "STUCK: {p}'s row for {} (requester: {}) is IN_PROGRESS after the network \
                     went quiet",
                    row.party_name, row.is_requester
                ));
            }
            if !row.is_requester {
                continue;
            }
            match row.last_reconciliation_status {
                StatusValue::DifferencesFound | StatusValue::DifferencesNotFound => {
                    report.completed += 1
                }
                StatusValue::Failed => {
                    *report
                        .failed_by_cause
                        .entry(cause_of(&row.last_reconciliation_error))
                        .or_default() += 1
                }
                StatusValue::Stopped => report.stopped += 1,
                StatusValue::InProgress => {}
            }
            check_row(&row, p, held, vaults, report);
        }
    }
}
