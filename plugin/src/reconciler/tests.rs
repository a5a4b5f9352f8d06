//! The reconciler's unit tests, natively, through [`crate::fake`]: each
//! concern's behaviour on a small in-memory network.

use crate::fake::{FakeHost, FakeNetwork};
use crate::reconciler::FlowError;
use ledger_sync_vocabulary::{StatusValue, TxId};

const A: &str = "O=PartyA, L=London, C=GB";
const B: &str = "O=PartyB, L=New York, C=US";
const C: &str = "O=PartyC, L=Paris, C=FR";

fn id(n: u32) -> TxId {
    let mut id = [0x5a; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[31] = n as u8;
    id
}

/// A host for `name` holding transactions `range` shared between A and B.
fn host(name: &str, seed: u64, range: std::ops::Range<u32>) -> FakeHost {
    let mut host = FakeHost::new(name, seed);
    for n in range {
        host.vault.record(id(n), &[], &[&[A, B]]);
    }
    host
}

/// A lost the last `lost` of `total` transactions B holds.
fn pair(total: u32, lost: u32, config: &str) -> FakeNetwork {
    let mut net = FakeNetwork::default();
    net.add(host(A, 1, 0..total - lost), config).unwrap();
    net.add(host(B, 2, 0..total), config).unwrap();
    net.run_until_idle();
    net
}

fn schedule(net: &mut FakeNetwork, from: &str, to: &[&str]) -> Result<(), FlowError> {
    let to: Vec<String> = to.iter().map(|p| p.to_string()).collect();
    net.node(from).schedule_reconciliation(&to)
}

fn status(net: &mut FakeNetwork, node: &str, party: &str, requester: bool) -> StatusValue {
    net.node(node)
        .get_reconciliation_status_for_party(party, requester)
        .unwrap()
        .expect("a row")
        .last_reconciliation_status
}

#[test]
fn the_requester_finds_exactly_what_it_lacks_and_the_responder_learns_nothing() {
    let mut net = pair(200, 7, "");
    schedule(&mut net, A, &[B]).unwrap();
    net.run_until_idle();
    let row = net.node(A).reconciliation_status(B).unwrap();
    assert_eq!(
        row.last_reconciliation_status,
        StatusValue::DifferencesFound
    );
    let expected: Vec<TxId> = (193..200).map(id).collect();
    assert_eq!(
        row.last_successful_reconciliation_result, expected,
        "sorted"
    );
    let theirs = net.node(B).get_reconciliation_status_for_party(A, false);
    let theirs = theirs.unwrap().unwrap();
    // The responder is told neither which nor how many transactions the
    // requester lacks: nothing was found for it.
    assert_eq!(
        theirs.last_reconciliation_status,
        StatusValue::DifferencesNotFound
    );
    assert!(theirs.last_successful_reconciliation_result.is_empty());
}

#[test]
fn the_pool_never_runs_more_than_configured() {
    let mut net = FakeNetwork::default();
    let config = "maxNumberOfParallelReconciliationRequests = 1\n";
    let mut a = FakeHost::new(A, 1);
    a.vault.record(id(1), &[], &[&[A, B, C]]);
    net.add(a, config).unwrap();
    net.add(host(B, 2, 0..3), "").unwrap();
    let mut c = FakeHost::new(C, 3);
    c.vault.record(id(9), &[], &[&[A, C]]);
    net.add(c, "").unwrap();
    net.run_until_idle();
    schedule(&mut net, A, &[B, C]).unwrap();
    let mut most = 0;
    let horizon = net.now_ms() + 3_600_000;
    while net.step_until(horizon) {
        most = most.max(net.node(A).metrics().number_of_reconciliations_in_progress);
    }
    assert_eq!(most, 1);
    assert_eq!(status(&mut net, A, B, true), StatusValue::DifferencesFound);
    assert_eq!(status(&mut net, A, C, true), StatusValue::DifferencesFound);
}

#[test]
fn a_busy_party_is_retried_with_back_off_then_given_up() {
    let config = "maxNumberOfParallelReconciliationRequests = 1\n\
                  maxReconciliationRetryAttemptTimeout = 1M\n";
    let mut net = pair(20, 2, config);
    // B's one slot is held by a reconciliation with C, a node that never
    // answers.
    net.node(B).host_mut().vault.record(id(99), &[], &[&[B, C]]);
    net.node(B).host_mut().peers.insert(C.to_string());
    schedule(&mut net, B, &[C]).unwrap();
    net.step_until(net.now_ms());
    schedule(&mut net, A, &[B]).unwrap();
    net.run_for(5 * 60_000);
    let row = net.node(A).reconciliation_status(B).unwrap();
    assert_eq!(row.last_reconciliation_status, StatusValue::Failed);
    let error = &row.last_reconciliation_error;
    assert!(
        error.contains("MaxIncomingSessionsExceededException"),
        "{error}"
    );
    assert!(
        error.contains("maxReconciliationRetryAttemptTimeout = 1M"),
        "{error}"
    );
    let retries = net
        .node(A)
        .host()
        .logs
        .iter()
        .filter(|l| l.2.contains("is busy"))
        .count();
    assert!((3..=8).contains(&retries), "{retries} retries in a minute");
}

#[test]
fn a_restart_records_interrupted_reconciliations_failed_and_queues_them_again() {
    let mut net = pair(50, 3, "");
    net.latency_ms = 100;
    schedule(&mut net, A, &[B]).unwrap();
    net.step_until(net.now_ms());
    assert_eq!(status(&mut net, A, B, true), StatusValue::InProgress);
    net.restart(A, Some("out of fuel")).unwrap();
    let row = net.node(A).reconciliation_status(B).unwrap();
    assert_eq!(row.last_reconciliation_status, StatusValue::Failed);
    assert_eq!(
        row.last_reconciliation_error,
        "the plugin was restarted after it failed: out of fuel"
    );
    assert!(
        net.node(A)
            .is_reconciliation_scheduled_for_party(B)
            .unwrap()
    );
    assert_eq!(net.node(A).host().scheduled, vec![B.to_string()]);
    net.run_until_idle();
    assert_eq!(status(&mut net, A, B, true), StatusValue::DifferencesFound);
}

#[test]
fn schedule_refuses_what_it_cannot_do_and_queues_nothing() {
    let mut net = FakeNetwork::default();
    net.add(host(A, 1, 0..5), "").unwrap();
    net.add(host(B, 2, 0..5), "").unwrap();
    assert_eq!(
        schedule(&mut net, A, &[B]),
        Err(FlowError::LedgerGraphNotInitialised)
    );
    net.run_until_idle();
    assert_eq!(
        schedule(&mut net, A, &[A]),
        Err(FlowError::SelfReconciliation(A.into()))
    );
    assert!(matches!(
        schedule(&mut net, A, &[]),
        Err(FlowError::InvalidArgument(_))
    ));
    assert!(matches!(
        schedule(&mut net, A, &[" "]),
        Err(FlowError::InvalidArgument(_))
    ));
    assert!(matches!(
        schedule(&mut net, A, &[B, C, B]),
        Err(FlowError::InvalidArgument(_))
    ));
    assert!(net.node(A).host().scheduled.is_empty(), "nothing queued");
    schedule(&mut net, A, &[B]).unwrap();
    assert_eq!(
        schedule(&mut net, A, &[B]),
        Err(FlowError::ReconciliationAlreadyScheduled(B.into()))
    );
    assert!(
        matches!(
            schedule(&mut net, B, &[C]),
            Err(FlowError::InvalidArgument(e)) if e.contains("is not on the network")
        ),
        "a name the network map does not list"
    );
    net.node(B).host_mut().failing_store = Some("disk full".into());
    let refused = schedule(&mut net, B, &[A]);
    assert_eq!(
        refused,
        Err(FlowError::Storage(
            "could not save the scheduled reconciliations: disk full".into()
        ))
    );
}

#[test]
fn stopping_an_incoming_reconciliation_leaves_the_outgoing_row_alone() {
    let mut net = pair(30, 2, "");
    schedule(&mut net, A, &[B]).unwrap();
    net.run_until_idle();
    assert_eq!(status(&mut net, A, B, true), StatusValue::DifferencesFound);
    // B now reconciles with A; A stops it while it answers.
    net.latency_ms = 100;
    schedule(&mut net, B, &[A]).unwrap();
    while !net
        .node(A)
        .is_responding_to_reconciliation_for_party(B)
        .unwrap()
    {
        assert!(net.step_until(u64::MAX));
    }
    net.node(A).stop_reconciliation_for_party(B).unwrap();
    assert_eq!(status(&mut net, A, B, false), StatusValue::Stopped);
    assert_eq!(status(&mut net, A, B, true), StatusValue::DifferencesFound);
    assert!(
        !net.node(A)
            .is_responding_to_reconciliation_for_party(B)
            .unwrap()
    );
}

#[test]
fn refresh_drops_ids_that_reached_the_vault() {
    let mut net = pair(30, 2, "");
    schedule(&mut net, A, &[B]).unwrap();
    net.run_until_idle();
    let before = net.node(A).reconciliation_status(B).unwrap();
    for n in 28..30 {
        net.node(A).host_mut().vault.record(id(n), &[], &[&[A, B]]);
    }
    net.node(A).refresh_reconciliation_statuses().unwrap();
    let after = net.node(A).reconciliation_status(B).unwrap();
    assert!(after.last_successful_reconciliation_result.is_empty());
    assert_eq!(
        after.last_reconciliation_status,
        StatusValue::DifferencesNotFound
    );
    assert_eq!(
        after.last_reconciliation_time_finished, before.last_reconciliation_time_finished,
        "times do not change"
    );
}

#[test]
fn the_graph_catches_up_with_transactions_recorded_after_start() {
    let mut net = pair(10, 0, "");
    for n in 10..15 {
        net.node(B).host_mut().vault.record(id(n), &[], &[&[A, B]]);
    }
    schedule(&mut net, A, &[B]).unwrap();
    net.run_until_idle();
    let row = net.node(A).reconciliation_status(B).unwrap();
    assert_eq!(
        row.last_successful_reconciliation_result,
        (10..15).map(id).collect::<Vec<_>>()
    );
}

#[test]
fn per_cycle_counts_restart_when_work_is_scheduled_while_idle() {
    let mut net = pair(10, 1, "");
    schedule(&mut net, A, &[B]).unwrap();
    net.run_until_idle();
    assert_eq!(
        net.node(A)
            .metrics()
            .number_of_reconciliations_with_differences,
        1
    );
    schedule(&mut net, A, &[B]).unwrap();
    assert_eq!(
        net.node(A)
            .metrics()
            .number_of_reconciliations_with_differences,
        0
    );
    net.run_until_idle();
    let m = net.node(A).metrics();
    assert_eq!(m.number_of_reconciliations_with_differences, 1);
    assert_eq!(m.parties_with_difference, vec![B.to_string()]);
    assert!(m.ledger_graph_is_initialized && m.ledger_graph_is_self_consistent);
}

#[test]
fn the_responder_answers_at_most_its_window_allowance() {
    let config = "maxAllowedReconciliationRequestsPerTimeWindow = 1\n\
                  timeWindowForReconciliationRequestLimit = 1H\n";
    let mut net = pair(10, 1, config);
    schedule(&mut net, A, &[B]).unwrap();
    net.run_until_idle();
    schedule(&mut net, A, &[B]).unwrap();
    net.run_until_idle();
    let row = net.node(A).reconciliation_status(B).unwrap();
    assert_eq!(row.last_reconciliation_status, StatusValue::Failed);
    assert!(
        row.last_reconciliation_error
            .contains("at most 1 reconciliation requests per 1H"),
        "{}",
        row.last_reconciliation_error
    );
    assert_eq!(
        row.last_successful_reconciliation_status,
        Some(StatusValue::DifferencesFound)
    );
}

#[test]
fn a_disabled_request_window_keeps_no_bookkeeping() {
    let config = "timeWindowForReconciliationRequestLimit = 0S\n";
    let mut net = pair(10, 1, config);
    for _ in 0..5 {
        schedule(&mut net, A, &[B]).unwrap();
        net.run_until_idle();
        assert_eq!(status(&mut net, A, B, true), StatusValue::DifferencesFound);
    }
    let responder = net.node(B);
    assert!(responder.accepted_requests.is_empty());
    assert!(responder.accepted_by_party.is_empty());
}

#[test]
fn a_party_list_is_accepted_up_to_its_bound_and_refused_past_it() {
    let mut net = pair(10, 1, "");
    let many: Vec<String> = (0..10_000)
        .map(|n| format!("O=Party{n}, L=London, C=GB"))
        .collect();
    for node in [A, B] {
        net.node(node).host_mut().peers.extend(many.iter().cloned());
    }
    net.node(A).schedule_reconciliation(&many).unwrap();
    let mut more = many.clone();
    more.push("O=OneTooMany, L=London, C=GB".into());
    let error = net.node(B).schedule_reconciliation(&more).unwrap_err();
    assert!(error.to_string().contains("at most 10000"), "{error}");
}

/// The phases A's outgoing job went through, one reading after each event
/// until the network is idle (`None` once it ended).
fn phases_of(net: &mut FakeNetwork) -> Vec<Option<super::requester::Phase>> {
    let mut seen = Vec::new();
    while net.step_until(u64::MAX) {
        let phase = net
            .node(A)
            .outgoing
            .values()
            .next()
            .map(|live| live.session.phase());
        if seen.last() != Some(&phase) {
            seen.push(phase);
        }
    }
    seen
}

#[test]
fn a_requester_is_requested_then_streaming_then_done() {
    use super::requester::Phase;
    let mut net = pair(200, 7, "");
    schedule(&mut net, A, &[B]).unwrap();
    let phases = phases_of(&mut net);
    assert_eq!(
        phases,
        vec![Some(Phase::Requested), Some(Phase::Streaming), None],
        "no roots filter: A holds nothing outside its set for B"
    );
    assert_eq!(status(&mut net, A, B, true), StatusValue::DifferencesFound);
}

/// A and B where B's set for A has a root beyond the pair that A holds
/// outside its set for B, so B answers with a roots filter; A lost most
/// of its dealings with B.
fn roots_scenario() -> FakeNetwork {
    // id(0) is A's and C's, and B holds it in the back-chain of its own
    // dealing with C, id(1): a root of B's set for A beyond the pair, which
    // A holds outside its set for B. B's transactions with A, id(2..60),
    // A lost.
    let mut net = FakeNetwork::default();
    let mut a = FakeHost::new(A, 1);
    let mut b = FakeHost::new(B, 2);
    for host in [&mut a, &mut b] {
        host.vault.record(id(0), &[], &[&[A, C]]);
    }
    b.vault.record(id(1), &[id(0)], &[&[B, C]]);
    for n in 2..60 {
        let deps: &[TxId] = if n == 2 { &[] } else { &[id(n - 1)] };
        b.vault.record(id(n), deps, &[&[A, B]]);
    }
    a.vault.record(id(2), &[], &[&[A, B]]);
    net.add(a, "").unwrap();
    net.add(b, "").unwrap();
    net.run_until_idle();
    net
}

#[test]
fn a_roots_filter_puts_the_requester_in_the_filtered_phase_before_the_stream() {
    use super::requester::Phase;
    let mut net = roots_scenario();
    schedule(&mut net, A, &[B]).unwrap();
    let phases = phases_of(&mut net);
    assert_eq!(
        phases,
        vec![
            Some(Phase::Requested),
            Some(Phase::Filtered),
            Some(Phase::Streaming),
            None
        ]
    );
    let row = net.node(A).reconciliation_status(B).unwrap();
    let mut lost: Vec<TxId> = (3..60).map(id).collect();
    lost.sort_unstable();
    assert_eq!(row.last_successful_reconciliation_result, lost);
}

#[test]
fn a_busy_responder_puts_the_requester_in_backing_off_holding_no_slot() {
    use super::requester::Phase;
    use crate::protocol::{Body, Frame, Refusal};
    let mut net = pair(200, 7, "");
    schedule(&mut net, A, &[B]).unwrap();
    // A's request is out; B answers busy before it does.
    net.step_until(net.now_ms());
    let session = net.node(A).outgoing.keys().next().expect("a job").id;
    assert_eq!(net.node(A).running(), 1);
    let busy = Frame::new(session, Body::Refused(Refusal::MaxIncomingSessionsExceeded));
    net.inject(B, A, busy.encode());
    let mut backed_off = false;
    while net.step_until(u64::MAX) {
        let phase = net
            .node(A)
            .outgoing
            .values()
            .next()
            .map(|live| live.session.phase());
        if phase == Some(Phase::BackingOff) {
            backed_off = true;
            assert_eq!(net.node(A).running(), 0, "a job backing off holds no slot");
        }
    }
    assert!(backed_off);
    assert_eq!(status(&mut net, A, B, true), StatusValue::DifferencesFound);
}

#[test]
fn a_responder_sends_its_roots_then_streams_when_asked() {
    use super::responder::Phase;
    let mut net = roots_scenario();
    schedule(&mut net, A, &[B]).unwrap();
    let mut phases = Vec::new();
    while net.step_until(u64::MAX) {
        let phase = net
            .node(B)
            .incoming
            .values()
            .next()
            .map(|live| live.session.phase());
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
    }
    assert_eq!(
        phases,
        vec![None, Some(Phase::RootsSent), Some(Phase::Streaming), None]
    );
}
