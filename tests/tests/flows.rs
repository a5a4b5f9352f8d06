//! The flows an operator calls, the status rows they read, the metrics and
//! the log markers.

use ledger_sync_host::bindings::ledger_sync::plugin::logging::Level;
use ledger_sync_sim::on_both_backends;
use ledger_sync_tests::*;
use ledger_sync_vocabulary::marker;

/// A (A, B, C) network: A lost 4 of its 10 transactions with B, and none of
/// its 5 with C.
fn three_parties() -> Cluster {
    three_parties_on(Backend::Sqlite)
}

/// The same network with its databases on `backend`.
fn three_parties_on(backend: Backend) -> Cluster {
    let ab = shared(0, 10, A, B);
    let ac = shared(100, 5, A, C);
    let mut a_vault = ab[..6].to_vec();
    a_vault.extend_from_slice(&ac);
    let mut cluster = Cluster::on(backend);
    cluster.add(A, &a_vault).add(B, &ab).add(C, &ac).settle();
    cluster
}

/// GetReconciliationStatuses filters by party, by status and by side.
fn get_reconciliation_statuses_filters_by_party_status_and_side(backend: Backend) {
    let mut cluster = three_parties_on(backend);
    cluster.schedule(A, &[B, C]);
    cluster.settle();
    let mut get = |node: &str, party: Option<&str>, status: Option<Status>, requester: bool| {
        let rows = cluster
            .net
            .node(node)
            .get_reconciliation_statuses(party, status, requester)
            .unwrap()
            .unwrap();
        let mut names: Vec<String> = rows.into_iter().map(|r| r.party_name).collect();
        names.sort();
        names
    };
    assert_eq!(get(A, None, None, true), [B, C]);
    assert_eq!(get(A, None, None, false), Vec::<String>::new());
    assert_eq!(get(A, Some(C), None, true), [C]);
    assert_eq!(get(A, None, Some(Status::DifferencesFound), true), [B]);
    assert_eq!(get(A, None, Some(Status::DifferencesNotFound), true), [C]);
    assert_eq!(
        get(A, Some(B), Some(Status::Failed), true),
        Vec::<String>::new()
    );
    assert_eq!(get(B, None, None, false), [A], "B's responder row");
    assert_eq!(get(B, None, None, true), Vec::<String>::new());
}

/// Refresh removes ids that have reached the vault, and turns
/// DIFFERENCES_FOUND into DIFFERENCES_NOT_FOUND when none remain.
#[test]
fn refresh_drops_recovered_transactions() {
    let mut cluster = three_parties();
    let row = cluster.reconcile(A, B);
    assert_eq!(result_ids(&row), sorted((6..10).map(id).collect()));

    cluster.record(A, &shared(6, 2, A, B));
    cluster
        .net
        .node(A)
        .refresh_reconciliation_statuses()
        .unwrap()
        .unwrap();
    let row = cluster.status(A, B, true).unwrap();
    assert_eq!(result_ids(&row), sorted(vec![id(8), id(9)]));
    assert_status(&row, Status::DifferencesFound);

    cluster.record(A, &shared(8, 2, A, B));
    cluster
        .net
        .node(A)
        .refresh_reconciliation_statuses()
        .unwrap()
        .unwrap();
    let row = cluster.status(A, B, true).unwrap();
    assert!(row.last_successful_reconciliation_result.is_empty());
    assert_status(&row, Status::DifferencesNotFound);
    assert_eq!(
        row.last_successful_reconciliation_status,
        Some(Status::DifferencesNotFound)
    );
    // What the flows report is what the table holds.
    let stored = stored_statuses(&mut cluster.net, A);
    assert!(stored.contains(&row));
}

/// Stop sets STOPPED, frees the slot and lets the party be scheduled again;
/// it also removes a job still waiting in the queue.
#[test]
fn stop_frees_the_slot_and_allows_a_new_schedule() {
    let mut cluster = three_parties();
    cluster.net.crash_node(B); // A's reconciliation with B will hang.
    cluster
        .net
        .node(A)
        .stop_reconciliation_for_party(B)
        .unwrap()
        .unwrap();
    cluster.schedule(A, &[B]);
    cluster.step_until(|net| {
        net.node(A)
            .metrics()
            .unwrap()
            .number_of_reconciliations_in_progress
            == 1
    });
    let node = cluster.net.node(A);
    assert!(
        node.is_reconciliation_scheduled_for_party(B)
            .unwrap()
            .unwrap()
    );
    node.stop_reconciliation_for_party(B).unwrap().unwrap();
    assert!(
        !node
            .is_reconciliation_scheduled_for_party(B)
            .unwrap()
            .unwrap()
    );
    assert_eq!(
        node.metrics()
            .unwrap()
            .number_of_reconciliations_in_progress,
        0
    );
    let row = cluster.status(A, B, true).unwrap();
    assert_status(&row, Status::Stopped);
    assert!(row.last_reconciliation_time_finished.is_some());

    // Scheduled again after a stop, and this time B answers.
    cluster.net.restart_node(B, None).unwrap();
    cluster.settle();
    assert_status(&cluster.reconcile(A, B), Status::DifferencesFound);

    // A queued job is removed by Stop before it starts.
    cluster
        .net
        .restart_node(
            A,
            Some("maxNumberOfParallelReconciliationRequests = 1".into()),
        )
        .unwrap();
    cluster.settle();
    cluster.schedule(A, &[B, C]);
    let node = cluster.net.node(A);
    node.stop_reconciliation_for_party(C).unwrap().unwrap();
    assert!(
        !node
            .is_reconciliation_scheduled_for_party(C)
            .unwrap()
            .unwrap()
    );
    assert!(
        node.is_reconciliation_scheduled_for_party(B)
            .unwrap()
            .unwrap()
    );
    cluster.settle();
    assert!(cluster.status(A, C, true).is_none(), "C never started");
}

/// IsReconciliationScheduledForParty and IsRespondingToReconciliationForParty
/// tell the truth before, during and after a reconciliation.
#[test]
fn is_scheduled_and_is_responding_follow_the_reconciliation() {
    let mut cluster = three_parties();
    let scheduled = |c: &mut Cluster| {
        c.net
            .node(A)
            .is_reconciliation_scheduled_for_party(B)
            .unwrap()
            .unwrap()
    };
    let responding = |c: &mut Cluster| {
        c.net
            .node(B)
            .is_responding_to_reconciliation_for_party(A)
            .unwrap()
            .unwrap()
    };
    assert!(!scheduled(&mut cluster) && !responding(&mut cluster));
    cluster.schedule(A, &[B]);
    assert!(scheduled(&mut cluster));
    cluster.step_until_responding(B, A);
    assert!(scheduled(&mut cluster), "running counts as scheduled");
    cluster.settle();
    assert!(!scheduled(&mut cluster) && !responding(&mut cluster));
}

/// Rows are written when a job becomes IN_PROGRESS and when it ends;
/// last_successful_* change only on success; FAILED carries its error.
fn status_rows_follow_the_seed_semantics(backend: Backend) {
    let mut cluster = three_parties_on(backend);
    cluster.schedule(A, &[B]);
    cluster.step_until(|net| stored_statuses(net, A).iter().any(|r| r.party_name == B));
    let stored = stored_statuses(&mut cluster.net, A);
    let row = stored.iter().find(|r| r.party_name == B).unwrap();
    assert_status(row, Status::InProgress);
    assert!(row.is_requester);
    assert_eq!(
        row.state_machine_id.len(),
        36,
        "a UUID: {}",
        row.state_machine_id
    );
    assert!(row.last_reconciliation_time_started.is_some());
    assert!(row.last_reconciliation_time_finished.is_none());
    assert!(row.last_successful_reconciliation_status.is_none());
    let first_machine = row.state_machine_id.clone();

    cluster.settle();
    let success = cluster.status(A, B, true).unwrap();
    assert_status(&success, Status::DifferencesFound);
    assert_eq!(success.state_machine_id, first_machine);
    assert_eq!(
        success.last_successful_reconciliation_status,
        Some(Status::DifferencesFound)
    );
    assert_eq!(result_ids(&success), sorted((6..10).map(id).collect()));
    assert!(success.last_reconciliation_error.is_empty());

    // Now a failure: B is gone, the reconciliation times out.
    cluster.net.crash_node(B);
    cluster.net.run_for(60_000);
    let failed = cluster.reconcile(A, B);
    assert_status(&failed, Status::Failed);
    assert_ne!(
        failed.state_machine_id, first_machine,
        "a new state machine"
    );
    assert!(failed.last_reconciliation_error.contains("no message from"));
    for (kept, was) in [
        (
            failed.last_successful_reconciliation_time_started,
            success.last_successful_reconciliation_time_started,
        ),
        (
            failed.last_successful_reconciliation_time_finished,
            success.last_successful_reconciliation_time_finished,
        ),
    ] {
        assert_eq!(kept, was, "last_successful_* unchanged by a failure");
    }
    assert_eq!(
        failed.last_successful_reconciliation_result,
        success.last_successful_reconciliation_result
    );
    assert!(failed.last_reconciliation_time_started > success.last_reconciliation_time_started);
    let stored = stored_statuses(&mut cluster.net, A);
    assert!(stored.contains(&failed), "the table holds the FAILED row");
}

/// Every metric, the ledger graph's health, and the per-cycle counters
/// resetting when a new cycle starts.
#[test]
fn metrics_report_outcomes_per_cycle_and_the_ledger_graph() {
    let mut cluster = three_parties();
    cluster.net.crash_node(C);
    let with_d = shared(200, 3, A, D);
    cluster.record(A, &with_d);
    cluster.add(D, &with_d);
    cluster.schedule(A, &[B, C, D]);
    cluster.settle();
    let m = cluster.net.node(A).metrics().unwrap();
    assert_eq!(m.failed_parties, [C]);
    assert_eq!(m.parties_with_difference, [B]);
    assert_eq!(m.number_of_failed_reconciliations, 1);
    assert_eq!(m.number_of_reconciliations_with_differences, 1);
    assert_eq!(m.number_of_reconciliations_without_differences, 1);
    assert_eq!(m.number_of_scheduled_reconciliations, 0);
    assert_eq!(m.number_of_reconciliations_in_progress, 0);
    assert!(m.ledger_graph_is_initialized && m.ledger_graph_is_self_consistent);
    assert!(m.ledger_graph_errors.is_empty());
    assert_eq!(m.ledger_graph_transactions, 14);
    let c_row = cluster
        .net
        .node(A)
        .party_reconciliation_status(C)
        .unwrap()
        .unwrap();
    assert_status(&c_row, Status::Failed);

    // The next cycle starts afresh.
    cluster.schedule(A, &[D]);
    cluster.settle();
    let m = cluster.net.node(A).metrics().unwrap();
    assert_eq!(m.number_of_failed_reconciliations, 0);
    assert_eq!(m.number_of_reconciliations_with_differences, 0);
    assert_eq!(m.number_of_reconciliations_without_differences, 1);
    assert_eq!(
        m.failed_parties,
        [C],
        "C's latest reconciliation still failed"
    );

    // A node whose vault lacks a dependency.
    cluster
        .add(E, &[tx(300, &[299], &[&[E, A]]), tx(301, &[], &[&[E]])])
        .settle();
    let m = cluster.net.node(E).metrics().unwrap();
    assert!(m.ledger_graph_is_initialized);
    assert!(!m.ledger_graph_is_self_consistent);
    let missing = ledger_sync_plugin::id::to_hex(&id(299));
    assert!(
        m.ledger_graph_errors.iter().any(|e| e.contains(&missing)),
        "{:?}",
        m.ledger_graph_errors
    );
}

/// Each flow logs under its marker.
#[test]
fn each_flow_logs_under_its_marker() {
    let mut cluster = three_parties();
    cluster.reconcile(A, B);
    let node = cluster.net.node(A);
    node.refresh_reconciliation_statuses().unwrap().unwrap();
    node.stop_reconciliation_for_party(B).unwrap().unwrap();
    let logs = cluster.net.node(A).logs().to_vec();
    let logged = |marker: &str, needle: &str| {
        logs.iter()
            .any(|l| l.marker == marker && l.message.contains(needle))
    };
    assert!(logged(
        marker::SCHEDULE_RECONCILIATION,
        "scheduled reconciliation with"
    ));
    assert!(logged(
        marker::RECONCILE_WITH_PARTY,
        "finished: DIFFERENCES_FOUND"
    ));
    assert!(logged(marker::REFRESH_RECONCILIATION_STATUSES, "refreshed"));
    assert!(logged(marker::STOP_RECONCILIATION_FOR_PARTY, B));
    assert!(
        logs.iter().all(|l| l.level != Level::Error),
        "no errors in a clean run"
    );
}

// The representative tests that run on PostgreSQL too.
on_both_backends!(
    get_reconciliation_statuses_filters_by_party_status_and_side,
    status_rows_follow_the_seed_semantics
);
