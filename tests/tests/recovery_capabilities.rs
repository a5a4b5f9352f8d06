//! What the host gives a recovery plugin, through the real components: the
//! reconciliation plugin answers which transactions are shared with a
//! party (exactly the seed's set, so recovery can never send more than
//! reconciliation could reveal), the vault gives a transaction's bytes,
//! and the verified recorder takes a counterparty's bytes only when the
//! ledger adapter derives the id asked for from them.

use ledger_sync_adapter_merkle::format;
use ledger_sync_host::adapter::AdapterRuntime;
use ledger_sync_host::capabilities::{LedgerVault, RecordOutcome, VerifiedRecorder};
use ledger_sync_host::store::Database;
use ledger_sync_host::store::shared::DatabaseVault;
use ledger_sync_host::verified::VerifiedRecording;
use ledger_sync_tests::*;
use std::path::Path;

/// A merkle-v1 transaction spending `input` (or issuing), with one output
/// for `participants`.
fn native(input: Option<&Vec<u8>>, participants: &[&str], data: &str) -> Vec<u8> {
    merkle_transaction(input.map(|bytes| merkle_id(bytes)), participants, data)
}

/// A fresh vault database, and a verified recorder into it through the
/// adapter at `adapter_path`, with the test keys of A, B and C pinned.
fn recorder(adapter_path: &str) -> (tempfile::TempDir, Database, VerifiedRecording) {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::Sqlite(dir.path().join("node.db"));
    ledger_sync_host::store::connect(&database).unwrap();
    let adapter = AdapterRuntime::from_file(Path::new(adapter_path)).unwrap();
    let recorder = VerifiedRecording::new(&adapter, signer_keys(&[A, B, C]), database.clone());
    (dir, database, recorder)
}

/// `shared-with` answers exactly the seed's set for each party, and keeps
/// answering it as the vault grows (the set is kept, not built per
/// question, and brought up to date).
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
    // Each party's set is built once and kept while the node serves it;
    // what is recorded later joins it: 6 between A and C spends 4 (so 4
    // is in C's set now), 7 between A and B spends 6 (so 4 and 6 are in
    // B's too).
    cluster.record(A, &[tx(6, &[4], &[&[A, C]]), tx(7, &[6], &[&[A, B]])]);
    let asked: Vec<u8> = (1..=8).flat_map(id).collect();
    let node = cluster.net.node(A);
    let for_b = node.shared_with(B, &asked).unwrap().unwrap();
    assert_eq!(
        for_b,
        vec![true, true, true, true, false, true, true, false]
    );
    let for_c = node.shared_with(C, &asked).unwrap().unwrap();
    assert_eq!(
        for_c,
        vec![true, true, false, true, true, true, false, false]
    );
}

#[test]
fn only_bytes_that_hash_to_the_id_asked_for_are_recorded() {
    let (_dir, database, recorder) = recorder(ledger_sync_components::MERKLE_ADAPTER);

    let first = native(None, &[A, B], "100 GBP");
    let second = native(Some(&first), &[A, B], "90 GBP");
    let other = native(None, &[A, B], "1 GBP");
    let (first_id, second_id) = (format::id(&first).unwrap(), format::id(&second).unwrap());
    let outcomes = recorder
        .record_verified(&[
            // The second before its dependency: held aside, the gap named.
            (second_id.to_vec(), second.clone()),
            // Another transaction's bytes under the first's id: forged.
            (first_id.to_vec(), other.clone()),
            (first_id.to_vec(), b"not a transaction".to_vec()),
            (vec![1, 2, 3], first.clone()),
        ])
        .unwrap();
    assert_eq!(
        outcomes[0],
        RecordOutcome::HeldAside {
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
    assert_eq!(again, vec![RecordOutcome::New, RecordOutcome::New]);
    let mut store = ledger_sync_host::store::connect(&database).unwrap();
    assert_eq!(
        store.held_aside(10).unwrap().0,
        0,
        "nothing is held aside now"
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
    let (_dir, database, recorder) = recorder(ledger_sync_components::HOSTILE_ADAPTER);
    let asked: Vec<(Vec<u8>, Vec<u8>)> =
        (0..5u8).map(|n| (vec![n; 32], b"spin".to_vec())).collect();
    let outcomes = recorder.record_verified(&asked).unwrap();
    let RecordOutcome::Refused(first) = &outcomes[0] else {
        panic!("{:?}", outcomes[0]);
    };
    assert!(first.contains("CPU deadline"), "{first}");
    for outcome in &outcomes[1..] {
        let RecordOutcome::NotVerified(why) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(why.contains("used this call's budget"), "{why}");
    }
    let mut store = ledger_sync_host::store::connect(&database).unwrap();
    assert_eq!(store.contains(&[0u8; 32]).unwrap(), vec![false]);
}

/// The vault never holds a transaction without its back-chain: a chain
/// sent newest first is held aside link by link (the vault unchanged, the
/// ledger graph self-consistent), and the call that brings its root
/// records the whole chain, dependencies first, in one step — and empties
/// CR_HELD_ASIDE. Without hold-aside each link was recorded at once with a
/// missing dependency, and the graph was not self-consistent.
#[test]
fn a_back_chain_sent_newest_first_waits_aside_and_is_recorded_in_order() {
    let (_dir, database, recorder) = recorder(ledger_sync_components::MERKLE_ADAPTER);
    let a = native(None, &[A, B], "100 GBP");
    let b = native(Some(&a), &[A, B], "90 GBP");
    let c = native(Some(&b), &[A, B], "80 GBP");
    let [ia, ib, ic] = [&a, &b, &c].map(|t| format::id(t).unwrap());

    let first = recorder
        .record_verified(&[(ic.to_vec(), c.clone())])
        .unwrap();
    assert_eq!(first, vec![RecordOutcome::HeldAside { missing: vec![ib] }]);
    let second = recorder
        .record_verified(&[(ib.to_vec(), b.clone())])
        .unwrap();
    assert_eq!(second, vec![RecordOutcome::HeldAside { missing: vec![ia] }]);
    let mut store = ledger_sync_host::store::connect(&database).unwrap();
    assert_eq!(
        store.count().unwrap(),
        0,
        "the vault holds none of the chain"
    );
    let (held, listed) = store.held_aside(10).unwrap();
    assert_eq!(held, 2);
    let waiting: Vec<_> = listed
        .iter()
        .map(|h| (h.transaction.id, h.missing.clone()))
        .collect();
    let mut expected = vec![(ib, vec![ia]), (ic, vec![ib])];
    expected.sort();
    assert_eq!(waiting, expected);
    // Sending a held transaction again holds it again, once.
    let again = recorder
        .record_verified(&[(ic.to_vec(), c.clone())])
        .unwrap();
    assert_eq!(again, vec![RecordOutcome::HeldAside { missing: vec![ib] }]);
    assert_eq!(store.held_aside(0).unwrap().0, 2);

    let root = recorder
        .record_verified(&[(ia.to_vec(), a.clone())])
        .unwrap();
    assert_eq!(root, vec![RecordOutcome::New]);
    assert_eq!(
        store.all_ids().unwrap(),
        vec![ia, ib, ic],
        "recorded dependencies first"
    );
    assert_eq!(store.held_aside(10).unwrap().0, 0);
    let bytes = DatabaseVault::new(database).transaction_bytes(&ic).unwrap();
    assert_eq!(
        bytes[0].as_deref(),
        Some(c.as_slice()),
        "the held bytes were kept"
    );
}

/// An operator drops what is held aside; dropping forgets it whole (the
/// dependency arriving later records nothing of it).
#[test]
fn an_operator_drops_what_is_held_aside() {
    let (_dir, database, recorder) = recorder(ledger_sync_components::MERKLE_ADAPTER);
    let a = native(None, &[A, B], "100 GBP");
    let b = native(Some(&a), &[A, B], "90 GBP");
    let [ia, ib] = [&a, &b].map(|t| format::id(t).unwrap());
    recorder.record_verified(&[(ib.to_vec(), b)]).unwrap();
    let mut store = ledger_sync_host::store::connect(&database).unwrap();
    assert_eq!(store.drop_held(Some(&[ib])).unwrap(), 1);
    assert_eq!(store.drop_held(None).unwrap(), 0);
    let root = recorder.record_verified(&[(ia.to_vec(), a)]).unwrap();
    assert_eq!(root, vec![RecordOutcome::New]);
    assert_eq!(store.all_ids().unwrap(), vec![ia]);
}

/// Recovery records only what the ledger vouches for: every participant
/// (merkle-v1's required signers) signed the id with the key the network
/// map pins. A transaction missing a signer, signed with another key,
/// naming a party with no pinned key, or decoded by an adapter built for
/// 0.4.0 (no signatures) is refused, naming the signer or the adapter;
/// nothing of it is recorded or held. Before, a counterparty's made-up
/// transaction naming A and C was recorded by A, and spread to C.
#[test]
fn only_transactions_every_required_signer_signed_are_recorded() {
    let (_dir, database, recorder) = recorder(ledger_sync_components::MERKLE_ADAPTER);
    let honest = merkle_transaction(None, &[A, B], "honest");
    let made_up = signed_by(merkle_unsigned(None, &[A, C], "made up by B"), &[B, A]);
    let forged = {
        // A's signature, and C's name on a signature made with B's key.
        let mut tx =
            format::decode(&signed_by(merkle_unsigned(None, &[A, C], "forged"), &[A])).unwrap();
        let id = merkle_id(&format::encode(&tx));
        tx.signatures.push(format::Signature {
            signer: C.to_string(),
            signature: ledger_key(B).sign(&id).as_ref().try_into().unwrap(),
        });
        format::encode(&tx)
    };
    let stranger = merkle_transaction(None, &[A, "O=Stranger, L=Paris, C=FR"], "unknown");
    let asked: Vec<(Vec<u8>, Vec<u8>)> = [&honest, &made_up, &forged, &stranger]
        .iter()
        .map(|b| (merkle_id(b).to_vec(), (*b).clone()))
        .collect();
    let outcomes = recorder.record_verified(&asked).unwrap();
    assert_eq!(outcomes[0], RecordOutcome::New);
    for (k, why) in [
        (1, "not signed by O=PartyC"),
        (
            2,
            "the signature of O=PartyC, L=Paris, C=FR does not verify",
        ),
        (3, "pins no ledger key for O=Stranger"),
    ] {
        match &outcomes[k] {
            RecordOutcome::Refused(text) => assert!(text.contains(why), "{k}: {text}"),
            other => panic!("{k}: {other:?}"),
        }
    }
    let mut store = ledger_sync_host::store::connect(&database).unwrap();
    assert_eq!(store.all_ids().unwrap(), vec![merkle_id(&honest)]);
    assert_eq!(store.held_aside(1).unwrap().0, 0);
}

/// The merkle adapter as it was built for contract 0.4.0 (kept in
/// `tests/artifacts/`): it still loads and decodes an operator's own
/// ledger, but it reports no signatures, so recovery refuses what it
/// decodes, naming the adapter and the version to build it for.
#[test]
fn an_adapter_built_for_0_4_0_records_own_ledgers_but_not_recovery() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/merkle-adapter-0.4.0.wasm");
    let adapter = AdapterRuntime::from_file(&path).unwrap();
    assert_eq!(adapter.contract_version(), "0.4.0");
    let honest = merkle_unsigned(None, &[A, B], "100 GBP");
    let decoded = adapter.decoder().decode(&honest).unwrap();
    assert_eq!(decoded.id, merkle_id(&honest));
    assert_eq!(decoded.outputs, vec![vec![A.to_string(), B.to_string()]]);

    let dir = tempfile::tempdir().unwrap();
    let database = Database::Sqlite(dir.path().join("node.db"));
    ledger_sync_host::store::connect(&database).unwrap();
    let recorder = VerifiedRecording::new(&adapter, signer_keys(&[A, B]), database.clone());
    // (Signed bytes do not even parse for it: the signatures came later.)
    let outcomes = recorder
        .record_verified(&[(merkle_id(&honest).to_vec(), honest)])
        .unwrap();
    let RecordOutcome::Refused(why) = &outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert!(
        why.contains("built for contract 0.4.0") && why.contains("built for 0.5.0"),
        "{why}"
    );
}
