//! The store, on both backends (SQLite always; PostgreSQL when
//! `LEDGER_SYNC_TEST_POSTGRES` names a server): vault pages, statuses and
//! the queue round trip; the migrations are recorded and a newer schema is
//! refused; both migration sets give the same tables and columns; a status
//! write that fails leaves the stored row as it was.

use ledger_sync_host::store::{self, Database, NodeStore};
use ledger_sync_sim::on_both_backends;
use ledger_sync_tests::*;
use ledger_sync_vocabulary::ReconciliationStatus;

/// A fresh database on `backend`, and the cluster that drops it.
fn fresh(backend: Backend, label: &str) -> (Cluster, Database, Box<dyn NodeStore>) {
    let mut cluster = Cluster::on(backend);
    let database = cluster.new_database(label);
    let store = store::connect(&database).expect("connect and migrate");
    (cluster, database, store)
}

/// Runs SQL on the database directly, beside the store.
fn execute(database: &Database, sql: &str) {
    match database {
        Database::Sqlite(path) => rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        Database::Postgres(url) => postgres::Client::connect(url, postgres::NoTls)
            .unwrap()
            .batch_execute(sql)
            .unwrap(),
    }
}

fn vault_pages_round_trip(backend: Backend) {
    let (_cluster, _, mut store) = fresh(backend, "pages");
    store
        .record(&[
            tx(1, &[], &[&["A"]]),
            tx(2, &[1], &[&["A", "B"], &["B"]]),
            tx(3, &[2], &[]),
        ])
        .unwrap();
    // Recording again with the same content is a no-op.
    let again = store
        .record(&[tx(2, &[1], &[&["A", "B"], &["B"]])])
        .unwrap();
    assert_eq!((again.new, again.already), (0, 1));
    assert_eq!(store.count().unwrap(), 3);
    let p1 = store.read_page(0, 2).unwrap();
    assert_eq!(p1.ids.len(), 64);
    assert_eq!(p1.dependency_counts, vec![0, 1]);
    assert_eq!(p1.output_counts, vec![1, 2]);
    assert_eq!(p1.participant_counts, vec![1, 2, 1]);
    let a = store.find_party("A").unwrap().unwrap();
    let b = store.find_party("B").unwrap().unwrap();
    assert_eq!(p1.participants, vec![a, a, b, b]);
    let p2 = store.read_page(p1.cursor, 2).unwrap();
    assert_eq!(p2.ids, id(3).to_vec());
    assert_eq!(p2.output_counts, vec![0]);
    let p3 = store.read_page(p2.cursor, 2).unwrap();
    assert!(p3.ids.is_empty());
    assert_eq!(p3.cursor, p2.cursor);
    let past = store.read_page(u64::MAX, 2).unwrap();
    assert!(past.is_empty() && past.cursor == u64::MAX);
    let mut ids = id(1).to_vec();
    ids.extend_from_slice(&[9; 32]);
    assert_eq!(store.contains(&ids).unwrap(), vec![true, false]);
    assert!(store.contains(&[0; 33]).is_err());
    assert_eq!(store.party_names(&[b, a]).unwrap(), vec!["B", "A"]);
    assert!(store.party_names(&[999]).is_err());
    assert_eq!(store.find_party("C").unwrap(), None);
    assert_eq!(
        store.parties().unwrap(),
        vec![(a, "A".to_string()), (b, "B".to_string())]
    );
    assert_eq!(store.all_ids().unwrap(), vec![id(1), id(2), id(3)]);
}

fn a_row() -> ReconciliationStatus {
    let mut row =
        ReconciliationStatus::started(B, true, "c243222b-1940-45df-8828-a8496196d274".into(), 1);
    row.last_successful_reconciliation_time_started = Some(1);
    row.last_successful_reconciliation_time_finished = Some(2);
    row.last_successful_reconciliation_status = Some(Status::DifferencesFound);
    row.last_successful_reconciliation_result = vec![[7; 32], [8; 32]];
    row
}

fn statuses_and_queue_round_trip(backend: Backend) {
    let (_cluster, _, mut store) = fresh(backend, "rows");
    let row = a_row();
    store.save_status(&row).unwrap();
    store.save_status(&row).unwrap();
    let mut other = row.clone();
    other.is_requester = false;
    other.last_reconciliation_error = "the party stopped answering".into();
    other.last_reconciliation_status = Status::Failed;
    store.save_status(&other).unwrap();
    assert_eq!(store.load_statuses().unwrap(), vec![other, row]);
    store.save_scheduled(&[B.into(), C.into()]).unwrap();
    assert_eq!(store.load_scheduled().unwrap(), vec![B, C]);
    store.save_scheduled(&[C.into()]).unwrap();
    assert_eq!(store.load_scheduled().unwrap(), vec![C]);
    store.save_scheduled(&[]).unwrap();
    assert!(store.load_scheduled().unwrap().is_empty());
}

/// A plugin's values (`status-store.save-value`): saved, replaced,
/// deleted, each key on its own; a new key past the most a node keeps is
/// refused and stores nothing, while an existing key is still replaced.
fn plugin_values_round_trip(backend: Backend) {
    use ledger_sync_host::capabilities::MAX_VALUE_KEYS;
    let sqlite = matches!(backend, Backend::Sqlite);
    let (_cluster, database, mut store) = fresh(backend, "values");
    assert_eq!(store.load_value("known-set:1").unwrap(), None);
    store.save_value("known-set:1", Some(&[1, 2, 3])).unwrap();
    store.save_value("cursor-key", Some(&[9; 8])).unwrap();
    store.save_value("known-set:1", Some(&[4])).unwrap();
    assert_eq!(store.load_value("known-set:1").unwrap(), Some(vec![4]));
    assert_eq!(store.load_value("cursor-key").unwrap(), Some(vec![9; 8]));
    store.save_value("known-set:1", None).unwrap();
    assert_eq!(store.load_value("known-set:1").unwrap(), None);
    store.save_value("never-saved", None).unwrap();
    // Fill up to the bound with one statement, then ask for one more.
    let fill = if sqlite {
        format!(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {}) \
             INSERT INTO CR_PLUGIN_VALUE (key, value) SELECT 'k' || n, x'00' FROM c",
            MAX_VALUE_KEYS - 1
        )
    } else {
        format!(
            "INSERT INTO CR_PLUGIN_VALUE (key, value) \
             SELECT 'k' || n, '\\x00'::bytea FROM generate_series(1, {}) AS n",
            MAX_VALUE_KEYS - 1
        )
    };
    execute(&database, &fill);
    let refused = store.save_value("one-too-many", Some(&[1])).unwrap_err();
    assert!(
        format!("{refused:#}").contains("the most a node keeps (4096)"),
        "{refused:#}"
    );
    assert_eq!(store.load_value("one-too-many").unwrap(), None);
    store.save_value("cursor-key", Some(&[7])).unwrap();
    assert_eq!(store.load_value("cursor-key").unwrap(), Some(vec![7]));
}

fn migrations_are_recorded_and_a_newer_schema_is_refused(backend: Backend) {
    let (_cluster, database, mut store) = fresh(backend, "versions");
    assert_eq!(store.schema_versions().unwrap(), vec![1, 2, 3, 4, 5]);
    drop(store);
    // Connecting again applies nothing twice.
    assert_eq!(
        store::connect(&database)
            .unwrap()
            .schema_versions()
            .unwrap(),
        vec![1, 2, 3, 4, 5]
    );
    execute(
        &database,
        "INSERT INTO ledger_sync_schema_version (version, description, applied_at_ms) \
         VALUES (99, 'from the future', 0)",
    );
    let refused = store::connect(&database)
        .err()
        .expect("a newer schema is refused");
    let text = format!("{refused:#}");
    assert!(
        text.contains("the schema is version 99")
            && text.contains("newer than this ledger-sync knows (version 5)"),
        "{text}"
    );
}

fn a_failed_status_write_leaves_the_stored_row_as_it_was(backend: Backend) {
    let (_cluster, database, mut store) = fresh(backend, "failedwrite");
    let row = a_row();
    store.save_status(&row).unwrap();
    // The database refuses every later write to the table.
    match &database {
        Database::Sqlite(_) => execute(
            &database,
            "CREATE TRIGGER refuse BEFORE INSERT ON CR_RECONCILIATION_STATUS \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        ),
        Database::Postgres(_) => execute(
            &database,
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ \
             LANGUAGE plpgsql; \
             CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON CR_RECONCILIATION_STATUS \
             FOR EACH ROW EXECUTE FUNCTION refuse();",
        ),
    }
    let mut changed = row.clone();
    changed.last_reconciliation_status = Status::Failed;
    changed.last_successful_reconciliation_result.clear();
    let e = store.save_status(&changed).unwrap_err();
    assert!(format!("{e:#}").contains("disk full"), "{e:#}");
    assert_eq!(store.load_statuses().unwrap(), vec![row]);
}

/// Ids are immutable: recording one again with other dependencies, other
/// outputs or another payload refuses the whole batch and stores nothing
/// of it; the same content is a no-op; a payload may be added to a
/// transaction recorded without one.
fn a_recorded_id_is_immutable_and_a_refused_batch_stores_nothing(backend: Backend) {
    let (_cluster, _, mut store) = fresh(backend, "immutable");
    let mut with_payload = tx(2, &[1], &[&["A"]]);
    with_payload.payload = Some(vec![1, 2, 3, 4, 5]);
    store
        .record(&[tx(1, &[], &[&["A"]]), with_payload.clone()])
        .unwrap();
    let mut other_payload = with_payload.clone();
    other_payload.payload = Some(vec![9]);
    for (changed, what) in [
        (tx(2, &[], &[&["A"]]), "dependencies"),
        (tx(2, &[1], &[&["B"]]), "outputs"),
        (other_payload, "payload"),
    ] {
        // A new transaction before the conflicting one in the same batch.
        let e = store
            .record(&[tx(3, &[2], &[&["C"]]), changed])
            .unwrap_err();
        let conflict = e
            .downcast_ref::<store::ConflictingTransaction>()
            .unwrap_or_else(|| panic!("not a conflict: {e:#}"));
        assert_eq!((conflict.id, conflict.what), (id(2), what));
        assert_eq!(store.count().unwrap(), 2, "nothing of the batch is stored");
        assert_eq!(store.find_party("C").unwrap(), None);
    }
    // The same content without its payload is the same transaction.
    let same = store.record(&[tx(2, &[1], &[&["A"]])]).unwrap();
    assert_eq!((same.new, same.already), (0, 1));
    // Within one batch too: a new id twice is one new and one already
    // there; twice with two payloads is a conflict, and stores nothing.
    let twice = store
        .record(&[tx(4, &[2], &[&["A"]]), tx(4, &[2], &[&["A"]])])
        .unwrap();
    assert_eq!((twice.new, twice.already), (1, 1));
    let (mut a, mut b) = (tx(5, &[2], &[&["A"]]), tx(5, &[2], &[&["A"]]));
    (a.payload, b.payload) = (Some(vec![1]), Some(vec![2]));
    let e = store.record(&[a, b]).unwrap_err();
    let conflict = e
        .downcast_ref::<store::ConflictingTransaction>()
        .unwrap_or_else(|| panic!("not a conflict: {e:#}"));
    assert_eq!((conflict.id, conflict.what), (id(5), "payload"));
    assert_eq!(store.count().unwrap(), 3, "id 5 is not stored");
    // A payload for a transaction recorded without one is kept.
    let mut first = tx(1, &[], &[&["A"]]);
    first.payload = Some(vec![7; 100]);
    store.record(&[first.clone()]).unwrap();
    let (records, _) = store.read_records(0, 10).unwrap();
    assert_eq!(
        records,
        vec![first.clone(), with_payload.clone(), tx(4, &[2], &[&["A"]])]
    );
    // Recovery reads the bytes back by id: none for an id not held.
    let bytes = store.payloads(&[id(2), id(9), id(1)].concat()).unwrap();
    assert_eq!(bytes, vec![with_payload.payload, None, first.payload]);
}

/// A dependency the vault lacks is recorded and reported, in order.
fn a_missing_dependency_is_recorded_and_reported(backend: Backend) {
    let (_cluster, _, mut store) = fresh(backend, "missing");
    let recorded = store
        .record(&[tx(2, &[1, 7], &[&["A"]]), tx(3, &[2, 1], &[&["A"]])])
        .unwrap();
    assert_eq!(recorded.new, 2);
    assert_eq!(recorded.missing_dependencies, vec![id(1), id(7), id(1)]);
    let later = store.record(&[tx(1, &[], &[&["A"]])]).unwrap();
    assert!(later.missing_dependencies.is_empty());
}

/// CR_RECOVERY_REQUEST and CR_RECOVERY_LOG round-trip: every request IN
/// PROGRESS comes back whatever the limit, the others newest first; a
/// request's log comes back oldest first, its newest lines if limited.
fn recovery_requests_and_logs_round_trip(backend: Backend) {
    use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest, RecoveryStatus};
    let (_cluster, _, mut store) = fresh(backend, "recovery");
    let mut requests = Vec::new();
    for k in 0..4u64 {
        let mut r = RecoveryRequest::started(
            format!("request-{k}"),
            "O=PartyB, L=London, C=GB",
            "AutomaticRecoveryFlow",
            vec![id(1), id(2), id(k as u32 + 3)],
            1_000 + k,
        );
        if k != 1 {
            r.outstanding = vec![id(2)];
            r.recovered = 2;
            r.bytes = 1_234;
            r.end(RecoveryStatus::Completed, 2_000 + k, "");
        }
        store.save_recovery_request(&r).unwrap();
        requests.push(r);
    }
    // Saved again: replaced, not added.
    requests[3].end(RecoveryStatus::Failed, 3_000, "the party went away");
    store.save_recovery_request(&requests[3]).unwrap();
    let loaded = store.load_recovery_requests(1).unwrap();
    assert_eq!(loaded, vec![requests[3].clone(), requests[1].clone()]);
    let all = store.load_recovery_requests(100).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], requests[3]);
    // Summed for the metrics page: by side and status.
    let totals = store.recovery_totals().unwrap();
    let by: Vec<(&str, u64, u64, u64)> = totals
        .iter()
        .map(|t| (t.status.as_str(), t.requests, t.transactions, t.bytes))
        .collect();
    assert_eq!(
        by,
        vec![
            ("COMPLETED", 2, 4, 2_468),
            ("FAILED", 1, 2, 1_234),
            ("IN_PROGRESS", 1, 0, 0)
        ]
    );

    for n in 0..5u64 {
        store
            .append_recovery_log(&RecoveryLogEntry {
                request_id: "request-1".into(),
                party_name: "O=PartyB, L=London, C=GB".into(),
                is_requester: true,
                time: n,
                level: "INFO".into(),
                message: format!("line {n}"),
            })
            .unwrap();
    }
    let log = store.load_recovery_log("request-1", 2).unwrap();
    let lines: Vec<&str> = log.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(lines, ["line 3", "line 4"]);
    assert!(store.load_recovery_log("request-9", 10).unwrap().is_empty());
}

/// CR_HELD_ASIDE: a held-aside transaction is stored whole beside a
/// recording, found by what it waits on, listed, released by the recording
/// that records it and dropped by the operator — each change in the same
/// database transaction as the batch it goes with.
fn held_aside_transactions_round_trip(backend: Backend) {
    use ledger_sync_host::store::{HeldAside, HeldChanges};
    let (_cluster, _, mut store) = fresh(backend, "held");
    let mut two = tx(2, &[1], &[&["A", "B"]]);
    two.payload = Some(b"two".to_vec());
    let mut three = tx(3, &[2, 1], &[&["A"], &["B", "C"]]);
    three.payload = Some(b"three".to_vec());
    let changes = HeldChanges {
        hold: vec![
            HeldAside {
                transaction: two.clone(),
                missing: vec![id(1)],
            },
            HeldAside {
                transaction: three.clone(),
                missing: vec![id(1), id(2)],
            },
        ],
        release: vec![],
    };
    store
        .record_holding(&[tx(9, &[], &[&["A"]])], &changes)
        .unwrap();
    assert_eq!(store.count().unwrap(), 1, "held aside, not in the vault");
    let (count, listed) = store.held_aside(1).unwrap();
    assert_eq!(count, 2);
    assert_eq!(listed.len(), 1);
    let mut waiting = store.held_waiting_on(&[id(2)]).unwrap();
    assert_eq!(waiting.len(), 1);
    let held = waiting.remove(0);
    assert_eq!(held.transaction, three, "stored whole, payload and outputs");
    assert_eq!(held.missing, sorted(vec![id(1), id(2)]));
    assert_eq!(store.held_waiting_on(&[id(1)]).unwrap().len(), 2);

    // Recording 1 and 2 releases 2; 3 is dropped by the operator.
    let release = HeldChanges {
        hold: vec![],
        release: vec![id(2)],
    };
    store
        .record_holding(&[tx(1, &[], &[&["A"]]), two], &release)
        .unwrap();
    assert_eq!(store.held_aside(10).unwrap().0, 1);
    assert_eq!(store.drop_held(Some(&[id(3), id(4)])).unwrap(), 1);
    assert_eq!(store.held_aside(10).unwrap(), (0, vec![]));
    assert!(store.held_waiting_on(&[id(1), id(2)]).unwrap().is_empty());
    assert_eq!(store.count().unwrap(), 3);
}

on_both_backends!(
    plugin_values_round_trip,
    held_aside_transactions_round_trip,
    recovery_requests_and_logs_round_trip,
    a_recorded_id_is_immutable_and_a_refused_batch_stores_nothing,
    a_missing_dependency_is_recorded_and_reported,
    vault_pages_round_trip,
    statuses_and_queue_round_trip,
    migrations_are_recorded_and_a_newer_schema_is_refused,
    a_failed_status_write_leaves_the_stored_row_as_it_was,
);

/// Both migration sets, applied, give the same tables with the same
/// columns in the same order, of the same kind and nullability.
#[test]
fn both_migration_sets_give_the_same_tables_and_columns() {
    let Some(postgres) = Backend::postgres() else {
        return;
    };
    let (_a, _, mut sqlite) = fresh(Backend::Sqlite, "compare");
    let (_b, _, mut server) = fresh(postgres, "compare");
    let sort = |mut columns: Vec<(String, String, &'static str, bool)>| {
        columns.sort_by(|x, y| x.0.cmp(&y.0));
        columns
    };
    let on_sqlite = sort(sqlite.describe_schema().unwrap());
    let on_postgres = sort(server.describe_schema().unwrap());
    assert_eq!(
        on_sqlite.len(),
        5 + 2 + 11 + 2 + 3 + 7 + 14 + 5 + 2 + 2,
        "{on_sqlite:#?}"
    );
    assert_eq!(on_sqlite, on_postgres);
}
