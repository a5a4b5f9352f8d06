//! The scheduler: the pool, the refusals, retries of a busy responder and the
//! responder's request-rate window.

use ledger_sync_tests::*;
use ledger_sync_vocabulary::FlowError;

fn schedule_error(cluster: &mut Cluster, node: &str, parties: &[&str]) -> FlowError {
    let parties: Vec<String> = parties.iter().map(|p| p.to_string()).collect();
    cluster
        .net
        .node(node)
        .schedule_reconciliation(&parties)
        .expect("no trap")
        .expect_err("ScheduleReconciliation should refuse")
}

/// ScheduleReconciliation returns at once; no more than
/// maxNumberOfParallelReconciliationRequests run together, the rest wait.
#[test]
fn at_most_the_configured_number_of_reconciliations_run_at_once() {
    let counterparties = [B, C, D, E];
    let mut a_vault = Vec::new();
    let mut cluster = Cluster::new();
    for (k, party) in counterparties.iter().enumerate() {
        let txs = shared(100 * k as u32, 20, A, party);
        a_vault.extend_from_slice(&txs[..15]);
        cluster.add(party, &txs);
    }
    cluster.add_with(A, &a_vault, "maxNumberOfParallelReconciliationRequests = 2");
    cluster.settle();
    cluster.schedule(A, &counterparties);
    let m = cluster.net.node(A).metrics().unwrap();
    assert_eq!(
        (
            m.number_of_scheduled_reconciliations,
            m.number_of_reconciliations_in_progress
        ),
        (4, 0),
        "scheduling only queues"
    );
    let (mut most_running, mut waited) = (0, false);
    cluster.step_until(|net| {
        let m = net.node(A).metrics().unwrap();
        most_running = most_running.max(m.number_of_reconciliations_in_progress);
        waited |= m.number_of_reconciliations_in_progress == 2
            && m.number_of_scheduled_reconciliations > 0;
        m.number_of_scheduled_reconciliations + m.number_of_reconciliations_in_progress == 0
    });
    assert_eq!(most_running, 2);
    assert!(waited, "jobs waited for a slot");
    for party in counterparties {
        let row = cluster.status(A, party, true).unwrap();
        assert_status(&row, Status::DifferencesFound);
        assert_eq!(result_ids(&row).len(), 5);
    }
}

/// Each refusal has its own error.
#[test]
fn schedule_reconciliation_refuses_what_it_cannot_do() {
    // A lacks one of B's transactions, so B streams (and is seen responding).
    let mut cluster = Cluster::new();
    cluster
        .add(A, &shared(0, 9, A, B))
        .add(B, &shared(0, 10, A, B));
    // Before the first graph-building step has run.
    assert_eq!(
        schedule_error(&mut cluster, A, &[B]),
        FlowError::LedgerGraphNotInitialised
    );
    cluster.settle();
    assert_eq!(
        schedule_error(&mut cluster, A, &[A]),
        FlowError::SelfReconciliation(A.into())
    );
    assert!(matches!(
        schedule_error(&mut cluster, A, &[]),
        FlowError::InvalidArgument(why) if why.contains("at least one party")
    ));
    assert!(matches!(
        schedule_error(&mut cluster, A, &[B, B]),
        FlowError::InvalidArgument(why) if why.contains("listed twice")
    ));
    assert!(matches!(
        schedule_error(&mut cluster, A, &["  "]),
        FlowError::InvalidArgument(why) if why.contains("legal name")
    ));
    cluster.schedule(A, &[B]);
    assert_eq!(
        schedule_error(&mut cluster, A, &[B]),
        FlowError::ReconciliationAlreadyScheduled(B.into())
    );
    // While A's request is being answered, B may not start one with A.
    cluster.step_until_responding(B, A);
    assert_eq!(
        schedule_error(&mut cluster, B, &[A]),
        FlowError::IncomingReconciliationInProgress(A.into())
    );
    cluster.settle();
    cluster.schedule(B, &[A]);

    // A vault whose transaction depends on one it does not hold.
    cluster.add(C, &[tx(50, &[49], &[&[C, A]])]).settle();
    match schedule_error(&mut cluster, C, &[A]) {
        FlowError::LedgerGraphNotSelfConsistent(errors) => {
            let missing = ledger_sync_plugin::id::to_hex(&id(49));
            assert!(errors.iter().any(|e| e.contains(&missing)), "{errors:?}");
        }
        other => panic!("expected LedgerGraphNotSelfConsistent, got {other:?}"),
    }
}

/// Keeps `responder` busy: `holder` asks it for a reconciliation and then
/// vanishes, so the responder's only slot stays taken until its inactivity
/// timeout. `holder` must lack something of the responder's set (identical
/// sets end at the request).
fn occupy(cluster: &mut Cluster, responder: &str, holder: &str) {
    cluster.schedule(holder, &[responder]);
    cluster.step_until_responding(responder, holder);
    cluster.net.crash_node(holder);
}

/// The retry delays a requester logged, in ms.
fn retry_delays(cluster: &mut Cluster, node: &str) -> Vec<u64> {
    cluster
        .net
        .node(node)
        .logs()
        .iter()
        .filter(|l| l.message.contains("is busy"))
        .map(|l| {
            let delay = l.message.rsplit(" in ").next().unwrap();
            match delay.strip_suffix("ms") {
                Some(ms) => ms.parse().unwrap(),
                None => ledger_sync_plugin::config::parse_duration_ms(delay).unwrap(),
            }
        })
        .collect()
}

/// A responder whose pool is full answers MaxIncomingSessionsExceeded; the
/// requester retries with growing, jittered back-off and gets through once
/// the responder has room.
#[test]
fn a_busy_responder_is_retried_with_growing_jittered_back_off() {
    let mut cluster = Cluster::new();
    let mut b_vault = shared(0, 30, A, B);
    b_vault.extend(shared(100, 30, D, B));
    b_vault.extend(shared(200, 5, C, B));
    cluster
        .add(A, &b_vault[..20])
        .add(D, &b_vault[30..50])
        .add(C, &b_vault[61..])
        .add_with(
            B,
            &b_vault,
            "maxNumberOfParallelReconciliationRequests = 1\nreconciliationInactivityTimeout = 10M",
        )
        .settle();
    occupy(&mut cluster, B, C);
    let busy_from = cluster.net.now_ms();
    cluster.schedule(A, &[B]);
    cluster.schedule(D, &[B]);
    cluster.settle();

    let row = cluster.status(A, B, true).unwrap();
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row).len(), 10);
    assert_status(
        &cluster.status(D, B, true).unwrap(),
        Status::DifferencesFound,
    );
    // The slot was freed by B's inactivity timeout with the vanished C.
    let held = cluster.status(B, C, false).unwrap();
    assert_status(&held, Status::Failed);
    assert!(held.last_reconciliation_error.contains("no message from"));
    assert!(row.last_successful_reconciliation_time_finished.unwrap() >= busy_from + 600_000);

    let (a, d) = (retry_delays(&mut cluster, A), retry_delays(&mut cluster, D));
    assert!(a.len() >= 4, "A retried {} times", a.len());
    // Retry i waits between half and all of min(1S·2^i, 5M): growing,
    // capped, jittered.
    for (i, delay) in a.iter().enumerate() {
        let ceiling = (1_000u64 << i.min(20)).min(300_000);
        assert!(
            (ceiling / 2..=ceiling).contains(delay),
            "retry {i} waited {delay} ms: {a:?}"
        );
    }
    assert_ne!(a, d, "jittered: two requesters do not retry in step");
}

/// A requester gives up after maxReconciliationRetryAttemptTimeout and
/// records FAILED with the responder's reason.
#[test]
fn retries_stop_after_max_reconciliation_retry_attempt_timeout() {
    let mut cluster = Cluster::new();
    let mut b_vault = shared(0, 10, A, B);
    b_vault.extend(shared(100, 10, C, B));
    cluster
        .add_with(
            A,
            &b_vault[..5],
            "maxReconciliationRetryAttemptTimeout = 2M",
        )
        .add(C, &b_vault[10..15])
        .add_with(B, &b_vault, "maxNumberOfParallelReconciliationRequests = 1")
        .settle();
    occupy(&mut cluster, B, C);
    cluster.schedule(A, &[B]);
    cluster.settle();
    let row = cluster.status(A, B, true).unwrap();
    assert_status(&row, Status::Failed);
    let error = &row.last_reconciliation_error;
    assert!(
        error.contains("MaxIncomingSessionsExceeded")
            && error.contains("maxReconciliationRetryAttemptTimeout = 2M"),
        "{error}"
    );
    let took = row.last_reconciliation_time_finished.unwrap()
        - row.last_reconciliation_time_started.unwrap();
    assert_eq!(took, 120_000, "gave up exactly at the timeout");
    assert!(row.last_successful_reconciliation_status.is_none());
}

/// A responder answers at most maxAllowedReconciliationRequestsPerTimeWindow
/// requests in a sliding timeWindowForReconciliationRequestLimit, and at
/// most half of them from any one party, so that one party cannot lock the
/// others out.
#[test]
fn a_responder_limits_requests_per_sliding_window_with_a_fair_share_per_party() {
    let vault = shared(0, 10, A, B);
    let mut cluster = Cluster::new();
    cluster.add(A, &vault[..8]).add(C, &[]).add_with(
        B,
        &vault,
        "maxAllowedReconciliationRequestsPerTimeWindow = 4\n\
             timeWindowForReconciliationRequestLimit = 1H",
    );
    assert_status(&cluster.reconcile(A, B), Status::DifferencesFound);
    cluster.net.run_for(30 * 60_000);
    assert_status(&cluster.reconcile(A, B), Status::DifferencesFound);
    let refused = cluster.reconcile(A, B);
    assert_status(&refused, Status::Failed);
    assert!(
        refused.last_reconciliation_error.contains("at most 4")
            && refused
                .last_reconciliation_error
                .contains("at most 2 of them from any one party")
            && refused.last_reconciliation_error.contains("1H"),
        "{}",
        refused.last_reconciliation_error
    );
    // A used its share; another party still gets in.
    assert_status(&cluster.reconcile(C, B), Status::DifferencesNotFound);
    // The window slides: an hour after A's first request, one of its slots
    // is free again, but not two.
    cluster.net.run_for(31 * 60_000);
    assert_status(&cluster.reconcile(A, B), Status::DifferencesFound);
    assert_status(&cluster.reconcile(A, B), Status::Failed);
}

/// A's vault names a party the network map does not know (it left the
/// network). The recurring reconciliation skips it, says so once, and
/// reconciles with every other party — the whole schedule used to be
/// refused, every run, for every party.
#[test]
fn a_party_off_the_network_map_is_skipped_by_the_recurring_run() {
    const GONE: &str = "O=Gone, L=Nowhere, C=GB";
    let mut vault = shared(0, 10, A, B);
    vault.extend(shared(10, 5, A, GONE));
    let mut theirs = shared(0, 10, A, B);
    theirs.extend(shared(20, 2, A, B));
    let mut cluster = Cluster::new();
    cluster
        .add_with(A, &vault, "recurringReconciliationInterval = 1H")
        .add(B, &theirs)
        .settle();
    cluster.net.run_for(2 * 3_600_000 + 1);
    let row = cluster.status(A, B, true).expect("B reconciled");
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row), vec![id(20), id(21)]);
    assert!(cluster.status(A, GONE, true).is_none());
    let skipped = cluster
        .net
        .node(A)
        .logs()
        .iter()
        .filter(|l| l.message.contains("recurring reconciliation skips O=Gone"))
        .count();
    assert_eq!(skipped, 1, "said once over two runs");
}
