//! Configuration: where it is read from, what it accepts, and that each key
//! changes what the plugin does.

use ledger_sync_tests::*;

/// The configuration file is read from the node's plugin configuration
/// directory under the plugin artifact's name; without it, the defaults hold.
#[test]
fn the_configuration_file_is_read_from_the_plugin_config_directory() {
    let mut cluster = Cluster::new();
    let config_dir = cluster.dir().join("plugin-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    let file = ledger_sync_sim::builtin_plugin()
        .unwrap()
        .config_file_name();
    assert_eq!(
        file,
        format!("ledger-sync-{}.conf", env!("CARGO_PKG_VERSION")),
        "named after the plugin and its version (handlers.describe)"
    );
    std::fs::write(
        config_dir.join(&file),
        "# one reconciliation at a time, read with 7 readers\n\
         maxNumberOfParallelReconciliationRequests = 1\n\
         transactionReaderPoolSize = 7\n",
    )
    .unwrap();
    let mut vault = shared(0, 5, A, B);
    vault.extend(shared(10, 5, A, C));
    let mut options = cluster.options(A, &vault);
    options.plugin_config_dir = Some(config_dir.clone());
    cluster.net.add_node(options).unwrap();
    cluster
        .add(B, &shared(0, 5, A, B))
        .add(C, &shared(10, 5, A, C));
    assert_eq!(cluster.net.node(A).vault_reader_pool_size(), 7);
    assert_eq!(
        cluster.net.node(B).vault_reader_pool_size(),
        10,
        "the default"
    );

    cluster.settle();
    cluster.schedule(A, &[B, C]);
    let mut most_running = 0;
    cluster.step_until(|net| {
        let m = net.node(A).metrics().unwrap();
        most_running = most_running.max(m.number_of_reconciliations_in_progress);
        m.number_of_scheduled_reconciliations == 0 && m.number_of_reconciliations_in_progress == 0
    });
    assert_eq!(
        most_running, 1,
        "maxNumberOfParallelReconciliationRequests = 1"
    );

    // A missing file means the defaults.
    let empty_dir = cluster.dir().join("no-config-here");
    let mut options = cluster.options(D, &[]);
    options.plugin_config_dir = Some(empty_dir);
    cluster.net.add_node(options).unwrap();
    assert_eq!(cluster.net.node(D).vault_reader_pool_size(), 10);

    // A bad file stops the node, naming the key, the value and what is
    // accepted.
    std::fs::write(
        config_dir.join(&file),
        "maxReconciliationRetryAttemptTimeout = 1D\n",
    )
    .unwrap();
    let mut options = cluster.options(E, &[]);
    options.plugin_config_dir = Some(config_dir);
    let error = format!("{:#}", cluster.net.add_node(options).unwrap_err());
    for part in [
        "maxReconciliationRetryAttemptTimeout",
        "`1D`",
        "`5H3M2S`",
        "1H 30M",
    ] {
        assert!(error.contains(part), "{part:?} missing from: {error}");
    }
}

/// Every kind of bad configuration is refused with its own explanation.
#[test]
fn bad_configurations_are_refused_with_what_is_accepted() {
    let cases = [
        ("maxNumberOfIbfFilterFlows = 0", "1 to 15"),
        ("maxNumberOfIbfFilterFlows = 16", "1 to 15"),
        ("maxNumberOfParallelReconciliationRequests = 11", "1 to 10"),
        (
            "maxAllowedReconciliationRequestsPerTimeWindow = -1",
            "0 to 2147483647",
        ),
        ("transactionReaderPageSize = 9", "10 to 10000000"),
        ("transactionReaderPoolSize = 1001", "5 to 1000"),
        (
            "timeWindowForReconciliationRequestLimit = PT1H",
            "`P` is not allowed",
        ),
        (
            "maxReconciliationRetryAttemptTimeout = 1S1H",
            "out of order",
        ),
        ("reconciliationInactivityTimeout = 0S", "1S or more"),
        ("recurringReconciliationParties = many", "0 to 1000000"),
        ("maxNumberOfIbfFilterFlow = 5", "unknown configuration key"),
        ("maxNumberOfIbfFilterFlows 5", "is not `key = value`"),
        (
            "maxNumberOfIbfFilterFlows = 5\nmaxNumberOfIbfFilterFlows = 6",
            "given twice",
        ),
    ];
    let mut cluster = Cluster::new();
    for (text, accepted) in cases {
        let mut options = cluster.options(A, &[]);
        options.config = text.to_string();
        let error = format!("{:#}", cluster.net.add_node(options).unwrap_err());
        assert!(
            error.contains(accepted),
            "config {text:?}: expected {accepted:?} in: {error}"
        );
    }
    // Durations in either case, with spaces, are accepted.
    let mut options = cluster.options(A, &[]);
    options.config = "maxReconciliationRetryAttemptTimeout = 5h3m2s\n\
                      timeWindowForReconciliationRequestLimit = 1H 30M\n"
        .into();
    cluster.net.add_node(options).expect("valid durations");
}

/// maxNumberOfIbfFilterFlows bounds the coded-symbol batches a responder
/// serves: a difference too large for one batch fails with the reason.
#[test]
fn the_responder_serves_at_most_max_number_of_ibf_filter_flows_batches() {
    let b_vault = shared(0, 3_000, A, B);
    let run = |responder_config: &str| {
        let mut cluster = Cluster::new();
        cluster
            .add(A, &b_vault[..10])
            .add_with(B, &b_vault, responder_config);
        cluster.reconcile(A, B)
    };
    let row = run("maxNumberOfIbfFilterFlows = 1");
    assert_status(&row, Status::Failed);
    assert!(
        row.last_reconciliation_error
            .contains("maxNumberOfIbfFilterFlows"),
        "{}",
        row.last_reconciliation_error
    );
    let row = run("maxNumberOfIbfFilterFlows = 5");
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row).len(), 2_990);
}

/// transactionReaderPageSize is the page size the plugin reads the vault in.
#[test]
fn the_vault_is_read_in_pages_of_transaction_reader_page_size() {
    let vault = shared(0, 1_000, A, B);
    let mut cluster = Cluster::new();
    cluster
        .add_with(A, &vault, "transactionReaderPageSize = 10")
        .add_with(B, &vault, "transactionReaderPageSize = 1000")
        .settle();
    // Whole pages, plus the empty page that ends the vault.
    assert_eq!(cluster.net.node(A).vault_pages_read(), 101);
    assert_eq!(cluster.net.node(B).vault_pages_read(), 2);

    // The readers read ahead past the end of A's vault while it was built;
    // transactions recorded since must still reach the graph when a
    // reconciliation catches it up.
    let later = shared(1_000, 25, A, B);
    cluster.record(A, &later);
    cluster.record(B, &later);
    let row = cluster.reconcile(A, B);
    assert_status(&row, Status::DifferencesNotFound);
    let m = cluster.net.node(A).metrics().unwrap();
    assert_eq!(m.ledger_graph_transactions, 1_025);
}
