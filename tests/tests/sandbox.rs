//! The sandbox's promises, each broken on purpose against the real plugin:
//! hostile peers, a memory cap, a trapping plugin, a bad configuration.

use ledger_sync_host::network::Network;
use ledger_sync_host::node::{NodeOptions, PluginFailure};
use ledger_sync_host::sandbox::PluginRuntime;
use ledger_sync_host::status_store;
use ledger_sync_tests::*;

/// Garbage, truncated frames, future protocol versions and symbols for a
/// reconciliation that does not exist: all dropped or refused; the node keeps
/// working and its stored statuses are untouched.
#[test]
fn hostile_messages_do_not_disturb_a_node() {
    let vault = vec![tx(1, &[], &[&[A, B]]), tx(2, &[1], &[&[A, B]])];
    let mut cluster = Cluster::new();
    cluster.add(A, &vault[..1]).add(B, &vault);
    let before = cluster.reconcile(A, B);
    assert_status(&before, Status::DifferencesFound);

    let mut hostile: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        vec![1, 0, 0],
        (0..=255u8).collect(),
        vec![0x01; 10_000],
    ];
    // A frame of a protocol version from the future.
    hostile.push([vec![0x09], vec![0x42; 16], vec![0x02, 0x00]].concat());
    // Well-formed symbols for a session nobody started.
    hostile.push([vec![0x01], vec![0x17; 16], vec![0x01, 0x00, 0x00, 0x00]].concat());
    for payload in hostile {
        cluster.net.inject(B, A, payload.clone());
        cluster.net.inject(A, B, payload);
    }
    cluster.settle();
    assert!(
        cluster.net.failures().is_empty(),
        "{:?}",
        cluster.net.failures()
    );
    assert_eq!(cluster.status(A, B, true).as_ref(), Some(&before));
    // Both still reconcile.
    let after = cluster.reconcile(A, B);
    assert_eq!(result_ids(&after), vec![id(2)]);
    let warned = cluster
        .net
        .node(A)
        .logs()
        .iter()
        .any(|l| l.message.contains("dropped a message from"));
    assert!(warned, "garbage is logged");
}

/// A plugin that exceeds its memory cap traps; the host survives, records the
/// reconciliation it was running FAILED with the reason, and stops restarting
/// a plugin that keeps trapping.
#[test]
fn a_trap_becomes_a_failed_status_with_its_reason() {
    let mut cluster = Cluster::new();
    cluster.add(B, &[tx(1, &[], &[&[A, B]])]);
    let mut options = cluster.options(A, &[tx(1, &[], &[&[A, B]])]);
    options.limits.memory_bytes = 12 << 20;
    let db_path = options.db_path.clone();
    cluster.net.add_node(options).unwrap();
    cluster.settle();
    // Transactions arrive in A's vault: far more than 12 MiB of ledger graph.
    {
        let conn = ledger_sync_host::db::open(&db_path).unwrap();
        let many: Vec<_> = (100..400_100).map(|n| tx(n, &[], &[&[A, B]])).collect();
        ledger_sync_host::vault::Vault::new(&conn)
            .record(&many)
            .unwrap();
    }
    cluster
        .net
        .node(A)
        .schedule_reconciliation(&[B.to_string()])
        .unwrap()
        .unwrap();
    cluster.settle();
    let failures = cluster.net.failures();
    assert!(!failures.is_empty(), "the plugin should have trapped");
    assert!(matches!(failures[0].failure, PluginFailure::Trapped(_)));
    let conn = ledger_sync_host::db::open(&db_path).unwrap();
    let rows = status_store::load_statuses(&conn).unwrap();
    let row = rows
        .iter()
        .find(|r| r.party_name == B && r.is_requester)
        .expect("a row for B");
    assert_status(row, Status::Failed);
    assert!(
        row.last_reconciliation_error
            .contains("restarted after it failed"),
        "{}",
        row.last_reconciliation_error
    );
    assert!(
        cluster.net.node(A).dead().is_some(),
        "a plugin that keeps trapping is given up on"
    );
}

/// A configuration the plugin rejects stops the node from starting, with the
/// key, the value and what is accepted in the error.
#[test]
fn a_bad_configuration_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Network::new(PluginRuntime::builtin().unwrap());
    let mut options = NodeOptions::new(A, dir.path().join("a.db"));
    options.config = "maxNumberOfParallelReconciliationRequests = 11\n".into();
    let error = format!("{:#}", net.add_node(options).unwrap_err());
    assert!(
        error.contains("maxNumberOfParallelReconciliationRequests"),
        "{error}"
    );
    assert!(error.contains("11") && error.contains("1 to 10"), "{error}");
}
