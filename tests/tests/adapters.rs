//! Ledger adapters: the `merkle` adapter (a component written with the SDK)
//! turns a ledger's native transactions into ids, dependencies and
//! participants derived from their bytes, in a sandbox of its own; a ledger
//! in that format is recorded through it and reconciled.

use ledger_sync_adapter_merkle::format::{self, Output, StateRef, Transaction};
use ledger_sync_host::adapter::{AdapterError, AdapterRuntime};
use ledger_sync_tests::*;
use std::path::Path;
use std::sync::Arc;

fn merkle() -> Arc<AdapterRuntime> {
    AdapterRuntime::from_file(Path::new(ledger_sync_components::MERKLE_ADAPTER))
        .expect("the merkle adapter loads")
}

/// A chain of `n` native transactions between `a` and `b`: each spends the
/// previous one's output and references the first.
fn chain(n: usize, a: &str, b: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for k in 0..n {
        let state = |bytes: &Vec<u8>| StateRef {
            tx: format::id(bytes).unwrap(),
            index: 0,
        };
        let tx = Transaction {
            inputs: out.last().map(state).into_iter().collect(),
            references: if k > 1 { vec![state(&out[0])] } else { vec![] },
            outputs: vec![Output {
                // Spelt as an operator might: the adapter's answer is
                // canonicalised by the host.
                participants: vec![a.replace(", ", ","), b.to_string()],
                data: format!("{k} GBP").into_bytes(),
            }],
            commands: vec![b"Move".to_vec()],
            signatures: vec![],
        };
        out.push(format::encode(&tx));
    }
    out
}

#[test]
fn the_merkle_adapter_derives_every_field_from_the_bytes() {
    let runtime = merkle();
    assert_eq!(runtime.info().name, "merkle");
    assert!(
        runtime.info().format.starts_with("merkle-v1"),
        "{:?}",
        runtime.info()
    );
    let native = chain(3, A, B);
    let mut decoder = runtime.decoder();
    let third = decoder.decode(&native[2]).unwrap();
    assert_eq!(third.id, format::id(&native[2]).unwrap());
    assert_eq!(
        third.dependencies,
        vec![
            format::id(&native[1]).unwrap(),
            format::id(&native[0]).unwrap()
        ],
        "the input, then the reference"
    );
    assert_eq!(third.outputs, vec![vec![A.to_string(), B.to_string()]]);
    assert_eq!(third.payload.as_deref(), Some(&native[2][..]));
    // Change one byte of the data: another id, not the one it had.
    let mut forged = native[2].clone();
    *forged.last_mut().unwrap() ^= 1;
    assert_ne!(decoder.decode(&forged).unwrap().id, third.id);
}

#[test]
fn bytes_the_adapter_cannot_read_are_refused_with_its_reason() {
    let mut decoder = merkle().decoder();
    let native = chain(1, A, B);
    let error = decoder.decode(&native[0][..10]).unwrap_err();
    assert!(
        matches!(&error, AdapterError::Refused { adapter, why } if adapter == "merkle" && why.contains("needs")),
        "{error}"
    );
    assert!(
        error.to_string().contains("refused the transaction"),
        "{error}"
    );
    // The instance is still good.
    assert!(decoder.decode(&native[0]).is_ok());
}

#[test]
fn a_plugin_is_not_an_adapter() {
    let error = AdapterRuntime::from_file(Path::new(ledger_sync_components::PLUGIN))
        .err()
        .expect("refused");
    assert!(
        format!("{error:#}").contains("not a ledger adapter"),
        "{error:#}"
    );
}

/// The done-when test: a ledger in the merkle format, recorded through the
/// adapter into two vaults (A's backup lacks the last five), reconciles to
/// exactly those five ids — the ids the ledger's own rules give them.
#[test]
fn a_ledger_in_its_own_format_is_recorded_and_reconciled() {
    let native = chain(30, A, B);
    let mut decoder = merkle().decoder();
    let ledger: Vec<_> = native
        .iter()
        .map(|bytes| decoder.decode(bytes).unwrap())
        .collect();
    let mut cluster = Cluster::new();
    cluster.add(A, &ledger[..25]).add(B, &ledger).settle();
    let found = cluster.reconcile(A, B);
    assert_status(&found, Status::DifferencesFound);
    let lost: Vec<_> = native[25..]
        .iter()
        .map(|b| format::id(b).unwrap())
        .collect();
    assert_eq!(result_ids(&found), sorted(lost));
}

/// A broken or hostile adapter gets a clear error naming it, and the next
/// call is served by a fresh instance: the host never goes down with it.
#[test]
fn a_hostile_adapter_is_stopped_and_named_and_the_next_call_served() {
    let runtime = AdapterRuntime::from_file(Path::new(ledger_sync_components::HOSTILE_ADAPTER))
        .expect("the hostile adapter loads");
    let mut decoder = runtime
        .decoder()
        .with_limits(64 << 20, std::time::Duration::from_millis(200));
    for (command, expected) in [
        (&b"spin"[..], "exceeded its CPU deadline of 200ms"),
        (b"grow", "memory allocation"),
        (b"panic", "the hostile adapter panics on purpose"),
    ] {
        let error = decoder.decode(command).unwrap_err();
        let said = error.to_string();
        assert!(
            matches!(error, AdapterError::Broken { .. })
                && said.contains("the ledger adapter hostile failed: it trapped")
                && said.contains(expected),
            "{}: {said}",
            String::from_utf8_lossy(command)
        );
        let fine = decoder.decode(b"fine").expect("a fresh instance answers");
        assert_eq!(&fine.id[..4], b"fine");
    }
    let error = decoder.decode(b"stranger").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`PartyA` that is not a legal name"),
        "{error}"
    );
}
