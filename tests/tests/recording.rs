//! Recording a ledger file into a vault (`ledger_sync_host::recording`, the
//! path `vault record`, the admin API and `network bootstrap` share), on
//! both backends: batches are recorded whole or not at all, a bad line or
//! a conflicting id names its line, and dependencies the vault still lacks
//! at the end are reported.

use ledger_sync_host::interchange;
use ledger_sync_host::recording::{self, Batching, RecordError};
use ledger_sync_host::store::{self, NodeStore, VaultTransaction};
use ledger_sync_sim::on_both_backends;
use ledger_sync_tests::*;

fn file(txs: &[VaultTransaction]) -> Vec<u8> {
    let mut out = Vec::new();
    interchange::write_header(&mut out).unwrap();
    for t in txs {
        interchange::write_transaction(&mut out, t).unwrap();
    }
    out
}

fn named(n: u32, deps: &[u32]) -> VaultTransaction {
    tx(n, deps, &[&[A, B]])
}

const TEN: Batching = Batching {
    transactions: 10,
    bytes: 1 << 20,
    max_payload_bytes: 1024,
    named_missing: 10,
};

fn fresh(backend: Backend, label: &str) -> (Cluster, Box<dyn NodeStore>) {
    let mut cluster = Cluster::on(backend);
    let database = cluster.new_database(label);
    let store = store::connect(&database).expect("connect and migrate");
    (cluster, store)
}

fn a_bad_line_stores_nothing_of_its_batch(backend: Backend) {
    let (_cluster, mut store) = fresh(backend, "badline");
    let txs: Vec<_> = (1..=25).map(|n| named(n, &[])).collect();
    let mut text = String::from_utf8(file(&txs)).unwrap();
    // Line 1 is the header; transaction 16 is on line 17.
    let lines: Vec<&str> = text.lines().collect();
    let bad = lines[16].replace("\"outputs\"", "\"outputz\"");
    text = lines[..16].join("\n") + "\n" + &bad + "\n" + &lines[17..].join("\n");
    let e = recording::record(&mut *store, text.as_bytes(), TEN, |_| {}).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("line 17: `outputz`: is not a field of a transaction")
            && message.contains("nothing of that batch (from line 12) was stored")
            && message.contains("the 1 batch before it (up to line 11, 10 new transactions)"),
        "{message}"
    );
    assert_eq!(store.count().unwrap(), 10);
}

fn a_conflicting_id_names_its_line(backend: Backend) {
    let (_cluster, mut store) = fresh(backend, "conflict");
    recording::record(&mut *store, &file(&[named(1, &[])])[..], TEN, |_| {}).unwrap();
    let changed = tx(1, &[], &[&[A]]);
    let e = recording::record(
        &mut *store,
        &file(&[named(2, &[]), changed])[..],
        TEN,
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, RecordError::Conflict { line: 3, .. }), "{e}");
    let message = e.to_string();
    assert!(
        message.contains("line 3: transaction")
            && message.contains("is already recorded with other outputs"),
        "{message}"
    );
    assert_eq!(store.count().unwrap(), 1);
}

fn dependencies_still_missing_at_the_end_are_reported(backend: Backend) {
    let (_cluster, mut store) = fresh(backend, "missing");
    // 5 depends on 15, recorded in a later batch; 20 depends on 99, never
    // recorded.
    let mut txs: Vec<_> = (1..=25).map(|n| named(n, &[])).collect();
    txs[4] = named(5, &[15]);
    txs[19] = named(20, &[99, 1]);
    let mut batches = 0;
    let summary = recording::record(&mut *store, &file(&txs)[..], TEN, |_| batches += 1).unwrap();
    assert_eq!((summary.new, summary.already, summary.batches), (25, 0, 3));
    assert_eq!(batches, 3, "progress after each batch");
    assert_eq!(summary.missing, vec![id(99)]);
    assert_eq!(summary.missing_count, 1);
    assert!(summary.describe().contains("not self-consistent"));
    // Recording the same file again is a no-op.
    let again = recording::record(&mut *store, &file(&txs)[..], TEN, |_| {}).unwrap();
    assert_eq!((again.new, again.already), (0, 25));
    assert_eq!(store.count().unwrap(), 25);
}

on_both_backends!(
    a_bad_line_stores_nothing_of_its_batch,
    a_conflicting_id_names_its_line,
    dependencies_still_missing_at_the_end_are_reported,
);
