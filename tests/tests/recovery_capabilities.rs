//! What the host gives a recovery plugin, through the real components: the
//! reconciliation plugin answers which transactions are shared with a
//! party (exactly the seed's set, so recovery can never send more than
//! reconciliation could reveal), the vault gives a transaction's bytes,
//! and the verified recorder takes a counterparty's bytes only when the
//! ledger adapter derives the id asked for from them.

use ledger_sync_adapter_merkle::format::{self, Output, StateRef, Transaction};
use ledger_sync_host::adapter::AdapterRuntime;
use ledger_sync_host::capabilities::{LedgerVault, RecordOutcome, VerifiedRecorder};
use ledger_sync_host::store::shared::DatabaseVault;
use ledger_sync_host::verified::VerifiedRecording;
use ledger_sync_tests::*;
use std::path::Path;

/// A merkle-v1 transaction spending `input` (or issuing), with one output
/// for `participants`.
fn native(input: Option<&Vec<u8>>, participants: &[&str], data: &str) -> Vec<u8> {
    format::encode(&Transaction {
        inputs: input
            .map(|bytes| StateRef {
                tx: format::id(bytes).unwrap(),
                index: 0,
            })
            .into_iter()
            .collect(),
        outputs: vec![Output {
            participants: participants.iter().map(|p| p.to_string()).collect(),
            data: data.as_bytes().to_vec(),
        }],
        references: vec![],
        commands: vec![b"Move".to_vec()],
    })
}

#[test]
fn the_reconciliation_plugin_answers_exactly_the_seeds_set_for_a_party() {
    // 1-2-3 between A and B; 4 issued to A alone spends nothing shared; 5
    // between A and C spends 2 (so 2 is in C's back-chain too).
    let vault = vec![
        tx(1, &[], &[&[A, B]]),
        tx(2, &[1], &[&[A, B]]),
        tx(3, &[2], &[&[A, B]]),
        tx(4, &[], &[&[A]]),
        tx(5, &[2], &[&[A, C]]),
    ];
    let mut cluster = Cluster::new();
    cluster.add(A, &vault);
    cluster.settle();
    let asked: Vec<u8> = (1..=6).flat_map(id).collect();
    let node = cluster.net.node(A);
    let for_b = node.shared_with(B, &asked).unwrap().unwrap();
    assert_eq!(for_b, vec![true, true, true, false, false, false]);
    let for_c = node.shared_with(C, &asked).unwrap().unwrap();
    assert_eq!(for_c, vec![true, true, false, false, true, false]);
    let stranger = node
        .shared_with("O=Nobody, L=Nowhere, C=GB", &asked)
        .unwrap()
        .unwrap();
    assert_eq!(stranger, vec![false; 6]);
    let refused = node.shared_with(B, &asked[..40]).unwrap();
    assert!(
        matches!(
            refused,
            Err(ledger_sync_vocabulary::FlowError::InvalidArgument(_))
        ),
        "{refused:?}"
    );
}

#[test]
fn only_bytes_that_hash_to_the_id_asked_for_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let database = ledger_sync_host::store::Database::Sqlite(dir.path().join("node.db"));
    ledger_sync_host::store::connect(&database).unwrap();
    let adapter =
        AdapterRuntime::from_file(Path::new(ledger_sync_components::MERKLE_ADAPTER)).unwrap();
    let recorder = VerifiedRecording::new(&adapter, database.clone());

    let first = native(None, &[A, B], "100 GBP");
    let second = native(Some(&first), &[A, B], "90 GBP");
    let other = native(None, &[A, B], "1 GBP");
    let (first_id, second_id) = (format::id(&first).unwrap(), format::id(&second).unwrap());
    let outcomes = recorder
        .record_verified(&[
            // The second before its dependency: recorded, the gap named.
            (second_id.to_vec(), second.clone()),
            // Another transaction's bytes under the first's id: forged.
            (first_id.to_vec(), other.clone()),
            (first_id.to_vec(), b"not a transaction".to_vec()),
            (vec![1, 2, 3], first.clone()),
        ])
        .unwrap();
    assert_eq!(
        outcomes[0],
        RecordOutcome::New {
            missing: vec![first_id]
        }
    );
    for (k, why) in [
        (1, "by the ledger's rules: forged or mistaken"),
        (2, "merkle"),
        (3, "an id of 3 bytes"),
    ] {
        match &outcomes[k] {
            RecordOutcome::Refused(text) => assert!(text.contains(why), "{k}: {text}"),
            other => panic!("{k}: {other:?}"),
        }
    }
    let again = recorder
        .record_verified(&[
            (first_id.to_vec(), first.clone()),
            (second_id.to_vec(), second),
        ])
        .unwrap();
    assert_eq!(
        again,
        vec![
            RecordOutcome::New { missing: vec![] },
            RecordOutcome::AlreadyHeld
        ]
    );

    // What was recorded is what the bytes say, and the bytes are kept.
    let vault = DatabaseVault::new(database);
    let wanted: Vec<u8> = [first_id, second_id, format::id(&other).unwrap()].concat();
    let bytes = vault.transaction_bytes(&wanted).unwrap();
    assert_eq!(bytes[0].as_deref(), Some(first.as_slice()));
    assert!(bytes[1].is_some());
    assert_eq!(bytes[2], None, "the forged bytes were never recorded");
}

/// A hostile ledger adapter that spins on every transaction gets one CPU
/// budget per `record-verified` call, all its transactions together: the
/// first is stopped at what is left of the budget and named, the rest are
/// refused unverified, saying the budget was spent — the call returns well
/// within a plugin's own deadline instead of taking the adapter's 10 s per
/// transaction (5 took 51 s, and LedgerRecover trapped). Nothing is
/// recorded.
#[test]
fn a_slow_adapter_has_one_budget_per_call_not_one_per_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let database = ledger_sync_host::store::Database::Sqlite(dir.path().join("node.db"));
    ledger_sync_host::store::connect(&database).unwrap();
    let adapter =
        AdapterRuntime::from_file(Path::new(ledger_sync_components::HOSTILE_ADAPTER)).unwrap();
    let recorder = VerifiedRecording::new(&adapter, database.clone());
    let asked: Vec<(Vec<u8>, Vec<u8>)> =
        (0..5u8).map(|n| (vec![n; 32], b"spin".to_vec())).collect();
    let outcomes = recorder.record_verified(&asked).unwrap();
    let RecordOutcome::Refused(first) = &outcomes[0] else {
        panic!("{:?}", outcomes[0]);
    };
    assert!(first.contains("CPU deadline"), "{first}");
    for outcome in &outcomes[1..] {
        let RecordOutcome::Refused(why) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(why.contains("used this call's budget"), "{why}");
    }
    let mut store = ledger_sync_host::store::connect(&database).unwrap();
    assert_eq!(store.contains(&[0u8; 32]).unwrap(), vec![false]);
}
