//! The bodies of the fuzz targets (`fuzz/`), here so that the stable test
//! suite replays their seed corpus through exactly the same code
//! (`plugin/tests/fuzz_corpus.rs`). Each takes arbitrary bytes and must
//! neither panic nor break the invariant it names.

use crate::config::Config;
use crate::fake::{FakeHost, FakeNetwork};
use crate::protocol::Frame;
use crate::riblt::{CodedSymbol, Decoder, WIRE_SYMBOL_LEN};
use ledger_sync_vocabulary::{StatusValue, TxId};

/// The frame decoder: anything decodes or is rejected; what decodes
/// survives a round trip. (Postcard accepts over-long varints, so the bytes
/// need not be the canonical ones: harmless, a frame means what it decodes
/// to.)
pub fn frame_decoder(data: &[u8]) {
    if let Ok(frame) = Frame::decode(data) {
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }
}

/// The symbol decoder: arbitrary coded symbols against a small local set
/// never panic and stay bounded (found by this target: a forged stream used
/// to peel the same ids forever), and it reports no id twice.
pub fn symbol_decoder(data: &[u8]) {
    let ours: Vec<TxId> = (0..8u8).map(|n| [n; 32]).collect();
    let mut decoder = Decoder::new(ours.iter().copied(), 0x5eed);
    for chunk in data.chunks(WIRE_SYMBOL_LEN * 16) {
        let symbols: Vec<CodedSymbol> = chunk
            .chunks_exact(WIRE_SYMBOL_LEN)
            .map(CodedSymbol::read_from)
            .collect();
        decoder.add_symbols(&symbols);
    }
    let decoded = decoder.decoded();
    assert!(decoded.len() <= decoder.received() as usize);
    let distinct: std::collections::HashSet<&TxId> = decoded.iter().map(|(id, _)| id).collect();
    assert_eq!(distinct.len(), decoded.len(), "an id decoded twice");
}

/// The configuration parser: any text parses or is refused with a message;
/// what parses satisfies every documented range.
pub fn config_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(c) => {
            assert!((1..=15).contains(&c.max_number_of_ibf_filter_flows));
            assert!((1..=10).contains(&c.max_number_of_parallel_reconciliation_requests));
            assert!(c.reconciliation_inactivity_timeout_ms >= 1_000);
            assert!(c.max_reconciliation_differences >= 1);
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
}

const A: &str = "O=PartyA, L=London, C=GB";
const B: &str = "O=PartyB, L=New York, C=US";
const MALLORY: &str = "O=Mallory, L=Nowhere, C=XX";

/// The reconciler against a scripted hostile peer: the bytes are a script
/// of frames Mallory sends to A or B (each prefixed by its target and
/// length) while A reconciles with B. Whatever Mallory says, A's result is
/// exact, nothing is left IN_PROGRESS, and no row names a stranger.
pub fn hostile_peer(data: &[u8]) {
    let id = |n: u32| -> TxId {
        let mut id = [0x33; 32];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id
    };
    let mut net = FakeNetwork::default();
    let mut a = FakeHost::new(A, 1);
    let mut b = FakeHost::new(B, 2);
    for n in 0..40 {
        b.vault.record(id(n), &[], &[&[A, B]]);
        if n < 30 {
            a.vault.record(id(n), &[], &[&[A, B]]);
        }
        if n % 4 == 0 {
            b.vault.record(id(1000 + n), &[], &[&[B, MALLORY]]);
        }
    }
    let config = "reconciliationInactivityTimeout = 30S\nmaxReconciliationDifferences = 1000\n";
    net.add(a, config).expect("A starts");
    net.add(b, config).expect("B starts");
    net.add_external(MALLORY);
    net.run_until_idle();
    net.node(A)
        .schedule_reconciliation(&[B.to_string()])
        .expect("scheduled");
    let mut rest = data;
    let mut steps = 0u64;
    while rest.len() >= 2 && steps < 64 {
        steps += 1;
        let target = if rest[0] & 1 == 0 { A } else { B };
        let len = (rest[1] as usize).min(rest.len() - 2);
        let payload = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        net.inject(MALLORY, target, payload);
        net.run_for((steps % 7) * 100);
    }
    net.run_until_idle();
    let row = net.node(A).reconciliation_status(B).expect("A's row");
    assert_eq!(
        row.last_reconciliation_status,
        StatusValue::DifferencesFound
    );
    let expected: Vec<TxId> = (30..40).map(id).collect();
    assert_eq!(row.last_successful_reconciliation_result, expected);
    for node in [A, B] {
        for requester in [true, false] {
            for row in net
                .node(node)
                .get_reconciliation_statuses(None, None, requester)
                .expect("statuses")
            {
                assert_ne!(row.last_reconciliation_status, StatusValue::InProgress);
                assert!([A, B, MALLORY].contains(&row.party_name.as_str()));
                assert_ne!(row.party_name, node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Replays every file of the fuzz targets' corpus (`fuzz/corpus/<target>/`)
    //! through the bodies the fuzzer runs, so the stable suite keeps every
    //! input the fuzzer found interesting and every crash it once found.
    use super::*;
    use crate::protocol::{Body, Refusal, SessionId, StreamHeader};
    use std::path::{Path, PathBuf};

    /// A fuzz target's name and body.
    type Target = (&'static str, fn(&[u8]));

    const TARGETS: [Target; 4] = [
        ("frame_decoder", frame_decoder),
        ("symbol_decoder", symbol_decoder),
        ("config_parser", config_parser),
        ("hostile_peer", hostile_peer),
    ];

    fn corpus(target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target)
    }

    #[test]
    fn every_corpus_file_replays() {
        for (target, body) in TARGETS {
            let dir = corpus(target);
            let mut files = 0;
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                body(&std::fs::read(entry.unwrap().path()).unwrap());
                files += 1;
            }
            assert!(files > 0, "{} has no corpus", dir.display());
        }
    }

    fn frames() -> Vec<Frame> {
        let s = SessionId::from_random(1, 2);
        vec![
            Frame::new(
                s,
                Body::Request {
                    salt: 9,
                    until: 16,
                    digest: None,
                    roots_bits: 3,
                    set_size: 0,
                    since: None,
                    base: None,
                },
            ),
            Frame::new(
                s,
                Body::Roots {
                    filter: crate::root_filter::RootFilter::build(&[[1; 32], [2; 32]], 9, 5, 100),
                },
            ),
            Frame::new(
                s,
                Body::Want {
                    from: 16,
                    until: 64,
                },
            ),
            Frame::new(s, Body::Progress { received: 40 }),
            Frame::new(s, Body::Done),
            Frame::new(s, Body::Refused(Refusal::StreamLimitReached { limit: 124 })),
            Frame::new(s, Body::Refused(Refusal::UnknownSession)),
            Frame::new(
                s,
                Body::Abort {
                    to_responder: false,
                    reason: "why\n".into(),
                },
            ),
            Frame::new(
                s,
                Body::Symbols {
                    start: 0,
                    header: Some(StreamHeader {
                        responder_set_size: 1 << 31,
                        stream_limit: u32::MAX,
                        cursor: None,
                        changes: false,
                    }),
                    symbols: vec![7; WIRE_SYMBOL_LEN * 3],
                },
            ),
            // Protocol 6's cursors (written in version 5 they are dropped).
            Frame::new(
                s,
                Body::Request {
                    salt: 9,
                    until: 16,
                    digest: Some(3),
                    roots_bits: 0,
                    set_size: 10,
                    since: Some(u64::MAX),
                    base: None,
                },
            ),
            Frame::new(
                s,
                Body::Identical {
                    cursor: Some(1 << 40),
                },
            ),
            Frame::new(
                s,
                Body::Symbols {
                    start: 0,
                    header: Some(StreamHeader {
                        responder_set_size: 7,
                        stream_limit: 70,
                        cursor: Some(5),
                        changes: false,
                    }),
                    symbols: vec![9; WIRE_SYMBOL_LEN],
                },
            ),
            // Protocol 7's base and stream of changes.
            Frame::new(
                s,
                Body::Request {
                    salt: 9,
                    until: 16,
                    digest: Some(3),
                    roots_bits: 2,
                    set_size: 10,
                    since: Some(4),
                    base: Some(u64::MAX),
                },
            ),
            Frame::new(
                s,
                Body::Symbols {
                    start: 0,
                    header: Some(StreamHeader {
                        responder_set_size: 2,
                        stream_limit: 20,
                        cursor: Some(5),
                        changes: true,
                    }),
                    symbols: vec![9; WIRE_SYMBOL_LEN * 2],
                },
            ),
        ]
    }

    /// Writes the seed corpus: `cargo test -p ledger-sync-plugin --
    /// --ignored write_the_seed_corpus`.
    #[test]
    #[ignore]
    fn write_the_seed_corpus() {
        let write = |target: &str, name: String, bytes: &[u8]| {
            let dir = corpus(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        for (i, frame) in frames().into_iter().enumerate() {
            let v5 = Frame::in_version(5, frame.session, frame.body.clone());
            write("frame_decoder", format!("frame-{i}"), &v5.encode());
            let v6 = Frame::in_version(6, frame.session, frame.body.clone());
            write("frame_decoder", format!("frame-v6-{i}"), &v6.encode());
            write("frame_decoder", format!("frame-v7-{i}"), &frame.encode());
        }
        write("frame_decoder", "garbage".into(), &[2, 0xff, 0xff, 0xff]);
        write("symbol_decoder", "zeros".into(), &[0; WIRE_SYMBOL_LEN * 4]);
        let mut stream = Vec::new();
        let mut encoder = crate::riblt::Encoder::new((0..12u8).map(|n| [n; 32]), 0x5eed);
        for s in encoder.produce(40) {
            s.write_to(&mut stream);
        }
        write("symbol_decoder", "a-real-stream".into(), &stream);
        write(
            "config_parser",
            "all-keys".into(),
            b"maxNumberOfIbfFilterFlows = 15\nreconciliationInactivityTimeout = 1H 30M\n\
              maxReconciliationDifferences = 1000\n# comment\n",
        );
        write(
            "config_parser",
            "bad".into(),
            b"maxNumberOfIbfFilterFlows = 16\n",
        );
        let mut script = Vec::new();
        for (i, frame) in frames().iter().enumerate() {
            let bytes = frame.encode();
            script.push(i as u8);
            script.push(bytes.len() as u8);
            script.extend_from_slice(&bytes);
        }
        write("hostile_peer", "every-frame-kind".into(), &script);
        write("hostile_peer", "nothing".into(), &[]);
    }
}
