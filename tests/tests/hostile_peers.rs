//! Hostile peers, scripted message by message against the real component:
//! whatever a peer claims or asks, what a reconciliation costs is bounded
//! by the node's own set and configuration; sessions cannot collide; a
//! stranger gets no row; the responder learns nothing of the requester's
//! vault; a peer's text is bounded and escaped.

use ledger_sync_plugin::protocol::{Body, Frame, Refusal, SessionId, StreamHeader, pack_symbols};
use ledger_sync_plugin::riblt::{CodedSymbol, Encoder, WIRE_SYMBOL_LEN};
use ledger_sync_plugin::root_filter::RootFilter;
use ledger_sync_tests::*;
use std::cell::Cell;
use std::rc::Rc;

const MALLORY: &str = "O=Mallory, L=Nowhere, C=XX";

/// Runs the network, letting `script` answer every frame delivered to
/// `peer` (an external party), until nothing is left to do or `max_steps`.
fn run_script(
    net: &mut ledger_sync_sim::network::Network,
    peer: &str,
    mut script: impl FnMut(&str, &Frame) -> Vec<Frame>,
) -> Vec<Frame> {
    let mut seen = Vec::new();
    let horizon = net.now_ms() + 24 * 3_600_000;
    for _ in 0..200_000 {
        let stepped = net.step_until(horizon);
        let mail = net.take_mail(peer);
        for envelope in &mail {
            let frame = Frame::decode(&envelope.payload).expect("the node sends valid frames");
            for answer in script(&envelope.from, &frame) {
                net.inject(peer, &envelope.from, answer.encode());
            }
            seen.push(frame);
        }
        if !stepped && mail.is_empty() {
            return seen;
        }
    }
    panic!("the script did not end");
}

fn request(session: SessionId, salt: u64, until: u32) -> Frame {
    Frame::new(
        session,
        Body::Request {
            salt,
            until,
            digest: None,
            roots_bits: 0,
            set_size: 0,
            since: None,
            base: None,
        },
    )
}

fn refusals(frames: &[Frame]) -> Vec<Refusal> {
    frames
        .iter()
        .filter_map(|f| match &f.body {
            Body::Refused(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn symbols_sent(frames: &[Frame]) -> u64 {
    frames
        .iter()
        .map(|f| match &f.body {
            Body::Symbols { symbols, .. } => (symbols.len() / WIRE_SYMBOL_LEN) as u64,
            _ => 0,
        })
        .sum()
}

/// A requester asks a node that shares 10 transactions with it for every
/// symbol there could be, again and again from index 0. The node streams
/// what its own set justifies, re-sends within its budget, then refuses
/// with the cause; it never traps and serves others afterwards.
#[test]
fn a_hostile_requester_cannot_make_a_responder_stream_without_bound() {
    let vault = [shared(0, 10, B, MALLORY), shared(10, 10, A, B)].concat();
    let mut cluster = Cluster::new();
    cluster.add(B, &vault).add(A, &vault[10..15]).settle();
    cluster.net.add_external_party(MALLORY);
    let session = SessionId::from_random(1, 2);
    cluster
        .net
        .inject(MALLORY, B, request(session, 7, u32::MAX).encode());
    let frames = run_script(&mut cluster.net, MALLORY, |_, frame| match frame.body {
        Body::Symbols { .. } => vec![Frame::new(
            session,
            Body::Want {
                from: 0,
                until: u32::MAX,
            },
        )],
        _ => vec![],
    });
    // B's set for Mallory has 10 transactions: at most 6·10 + 64 = 124
    // symbols streamed, and 3·124 + 1024 more re-sent.
    let sent = symbols_sent(&frames);
    assert!(sent <= 124 + 3 * 124 + 1024, "{sent} symbols streamed");
    assert!(
        cluster.net.traffic().bytes < 100_000,
        "{} bytes",
        cluster.net.traffic().bytes
    );
    assert_eq!(
        refusals(&frames),
        [Refusal::ResendLimitReached { sent }],
        "the node says why it stops"
    );
    let row = cluster.status(B, MALLORY, false).expect("a row");
    assert_status(&row, Status::Failed);
    assert!(
        row.last_reconciliation_error.contains("re-sending"),
        "{row:?}"
    );
    assert!(cluster.net.failures().is_empty(), "no trap");
    assert_status(&cluster.reconcile(A, B), Status::DifferencesFound);
}

/// A responder claims a set of 2³¹ and streams junk for whatever it is
/// asked. The requester asks for no more than its own
/// maxReconciliationDifferences allows, keeps no more, and ends FAILED with
/// the cause — no trap.
#[test]
fn a_responder_claiming_a_huge_set_cannot_exhaust_a_requester() {
    let mut cluster = Cluster::new();
    cluster
        .add_with(
            A,
            &shared(0, 10, A, MALLORY),
            "maxReconciliationDifferences = 1000\nmaxNumberOfIbfFilterFlows = 15",
        )
        .settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    let mut asked = 0u64;
    let junk = |from: u32, until: u32, session: SessionId| -> Vec<Frame> {
        (from..until)
            .step_by(100)
            .map(|start| {
                let n = (until - start).min(100);
                let symbols: Vec<CodedSymbol> = (0..n)
                    .map(|i| {
                        let mut s = CodedSymbol::default();
                        s.sum[0] = (start + i) as u8;
                        s.count = 7;
                        s
                    })
                    .collect();
                Frame::new(
                    session,
                    Body::Symbols {
                        start,
                        header: (start == 0).then_some(StreamHeader {
                            responder_set_size: 1 << 31,
                            stream_limit: u32::MAX,
                            cursor: None,
                            changes: false,
                        }),
                        symbols: pack_symbols(&symbols),
                    },
                )
            })
            .collect()
    };
    run_script(&mut cluster.net, MALLORY, |_, frame| match frame.body {
        Body::Request { until, .. } => {
            asked = until as u64;
            junk(0, until, frame.session)
        }
        Body::Want { from, until } => {
            asked = until as u64;
            junk(from, until, frame.session)
        }
        _ => vec![],
    });
    assert!(asked <= 2 * 1000 + 64, "asked for {asked} symbols");
    let row = cluster.status(A, MALLORY, true).expect("a row");
    assert_status(&row, Status::Failed);
    assert!(
        row.last_reconciliation_error
            .contains("maxReconciliationDifferences = 1000"),
        "{}",
        row.last_reconciliation_error
    );
    assert!(cluster.net.failures().is_empty(), "no trap");
}

/// Protocol 7: a stream of changes answers only a request that offered a
/// `base` (the digest of the responder's set as the requester last
/// reconciled it). A responder that claims one to a first reconciliation —
/// so that the requester would peel it against an empty set and take the
/// responder's stream for its whole set — fails it, naming the violation;
/// no trap, and nothing recorded as found.
#[test]
fn a_stream_of_changes_never_offered_fails_the_reconciliation() {
    let mut cluster = Cluster::new();
    cluster.add(A, &shared(0, 10, A, MALLORY)).settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    let forged: Vec<[u8; 32]> = shared(100, 3, A, MALLORY).iter().map(|t| t.id).collect();
    let mut offered = None;
    run_script(&mut cluster.net, MALLORY, |_, frame| match frame.body {
        Body::Request {
            until, base, salt, ..
        } => {
            offered = Some(base);
            let mut encoder = Encoder::new(forged.iter().copied(), salt);
            vec![Frame::new(
                frame.session,
                Body::Symbols {
                    start: 0,
                    header: Some(StreamHeader {
                        responder_set_size: 3,
                        stream_limit: 100,
                        cursor: None,
                        changes: true,
                    }),
                    symbols: pack_symbols(&encoder.produce(until.min(8))),
                },
            )]
        }
        _ => vec![],
    });
    assert_eq!(offered, Some(None), "a first reconciliation offers no base");
    let row = cluster.status(A, MALLORY, true).expect("a row");
    assert_status(&row, Status::Failed);
    assert!(
        row.last_reconciliation_error
            .contains("a stream of its changes since a set we did not say we hold"),
        "{}",
        row.last_reconciliation_error
    );
    assert!(row.last_successful_reconciliation_result.is_empty());
    assert!(cluster.net.failures().is_empty(), "no trap");
}

/// Steps until `node` has sent a `Request`; returns its session id.
fn catch_request(cluster: &mut Cluster, node: &'static str) -> SessionId {
    let caught = Rc::new(Cell::new(None));
    let seen = caught.clone();
    cluster.net.set_tap(move |envelope| {
        if envelope.from == node
            && let Ok(frame) = Frame::decode(&envelope.payload)
            && matches!(frame.body, Body::Request { .. })
        {
            seen.set(Some(frame.session));
        }
    });
    cluster.step_until(|_| caught.get().is_some());
    caught.get().expect("caught")
}

/// No row is left IN_PROGRESS once the network is idle.
fn assert_no_row_in_progress(cluster: &mut Cluster, node: &str) {
    for row in stored_statuses(&mut cluster.net, node) {
        assert_ne!(
            row.last_reconciliation_status,
            Status::InProgress,
            "{row:?}"
        );
    }
}

/// A request from another party reusing a live session's id is a session of
/// its own: the first runs to the end and no row outlives its session.
#[test]
fn a_reused_session_id_from_another_party_touches_nothing() {
    let vault = shared(0, 200, A, B);
    let config = "reconciliationInactivityTimeout = 1M";
    let mut cluster = Cluster::new();
    cluster
        .add_with(A, &vault[..150], config)
        .add_with(B, &vault, config)
        .settle();
    cluster.net.add_external_party(MALLORY);
    cluster.net.set_latency(20);
    cluster.schedule(A, &[B]);
    let stolen = catch_request(&mut cluster, A);
    cluster
        .net
        .inject(MALLORY, B, request(stolen, 99, 16).encode());
    run_script(&mut cluster.net, MALLORY, |_, _| vec![]);
    let row = cluster.status(A, B, true).expect("a row");
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row), (150..200).map(id).collect::<Vec<_>>());
    let theirs = cluster.status(B, A, false).expect("a row");
    assert_status(&theirs, Status::DifferencesNotFound);
    let mallorys = cluster.status(B, MALLORY, false).expect("a row");
    assert_status(&mallorys, Status::Failed);
    assert_no_row_in_progress(&mut cluster, B);
}

/// The same party reusing its own live id for a different request is
/// refused; the session it already has goes on.
#[test]
fn a_second_request_on_a_live_id_is_refused() {
    let mut cluster = Cluster::new();
    cluster
        .add_with(
            B,
            &shared(0, 50, B, MALLORY),
            "reconciliationInactivityTimeout = 1M",
        )
        .settle();
    cluster.net.add_external_party(MALLORY);
    let session = SessionId::from_random(3, 4);
    cluster
        .net
        .inject(MALLORY, B, request(session, 1, 16).encode());
    cluster
        .net
        .inject(MALLORY, B, request(session, 2, 16).encode());
    cluster.net.run_for(1_000);
    let frames: Vec<Frame> = cluster
        .net
        .take_mail(MALLORY)
        .iter()
        .map(|e| Frame::decode(&e.payload).unwrap())
        .collect();
    assert_eq!(refusals(&frames), [Refusal::SessionIdInUse]);
    assert_eq!(symbols_sent(&frames), 16, "the first request is served");
    assert!(
        cluster
            .net
            .node(B)
            .is_responding_to_reconciliation_for_party(MALLORY)
            .unwrap()
            .unwrap()
    );
    cluster.settle();
    assert_no_row_in_progress(&mut cluster, B);
}

/// Two nodes drawing the same random stream pick the same session ids; they
/// reconcile with each other at the same moment, both ways, and both finish.
#[test]
fn nodes_with_the_same_random_stream_reconcile_both_ways_at_once() {
    let mut cluster = Cluster::new();
    let a_vault = [shared(0, 100, A, B), shared(100, 5, A, B)].concat();
    let b_vault = [shared(0, 100, A, B), shared(200, 7, A, B)].concat();
    let mut a = cluster.options(A, &a_vault);
    let mut b = cluster.options(B, &b_vault);
    a.seed = Some(42);
    b.seed = Some(42);
    cluster.net.add_node(a).unwrap();
    cluster.net.add_node(b).unwrap();
    cluster.settle();
    let both = |c: &mut Cluster, node: &str, party: &str| {
        c.net
            .node(node)
            .schedule_reconciliation(&[party.to_string()])
            .unwrap()
            .unwrap()
    };
    both(&mut cluster, A, B);
    both(&mut cluster, B, A);
    cluster.settle();
    let at_a = cluster.status(A, B, true).unwrap();
    let at_b = cluster.status(B, A, true).unwrap();
    assert_eq!(at_a.state_machine_id, at_b.state_machine_id, "ids collide");
    assert_status(&at_a, Status::DifferencesFound);
    assert_eq!(result_ids(&at_a), (200..207).map(id).collect::<Vec<_>>());
    assert_status(&at_b, Status::DifferencesFound);
    assert_eq!(result_ids(&at_b), (100..105).map(id).collect::<Vec<_>>());
    assert_no_row_in_progress(&mut cluster, A);
    assert_no_row_in_progress(&mut cluster, B);
}

/// The node itself, or a name the network does not know, gets no row and no
/// answer, and is logged once however often it writes.
#[test]
fn a_stranger_gets_no_row_and_one_log_line() {
    const NOBODY: &str = "O=Nobody, L=Nowhere, C=XX";
    let mut cluster = Cluster::new();
    cluster.add(B, &shared(0, 10, A, B)).settle();
    for n in 0..100u64 {
        for sender in [B, NOBODY] {
            let frame = request(SessionId::from_random(n, 1), n, 16);
            cluster.net.inject(sender, B, frame.encode());
        }
    }
    cluster.settle();
    assert!(stored_statuses(&mut cluster.net, B).is_empty());
    assert_eq!(cluster.net.traffic().messages, 0, "nothing answered");
    let logs = cluster.net.node(B).logs();
    for sender in [B, NOBODY] {
        let lines = logs
            .iter()
            .filter(|l| {
                l.message.contains("dropped a reconciliation message from")
                    && l.message.contains(sender)
            })
            .count();
        assert_eq!(lines, 1, "{sender}");
    }
}

/// How Mallory answers the routine checks after the first reconciliation.
#[derive(Clone, Copy)]
enum Later {
    /// `Identical`.
    Identical,
    /// A stream of changes (protocol 7) to the request's `base`: its set
    /// gained probe 901 since.
    Changes,
}

/// A's vault — ten of its dealings with C, and probes 900 and 901 (others)
/// if `holds_probe` — and what A sends Mallory over `rounds`
/// reconciliations: Mallory streams the symbols of a set holding only
/// probe 900 the first time, and answers as `later` says after. Every
/// frame A sent, and A's row after each round.
fn probed(holds_probe: bool, rounds: usize, later: Later) -> (Vec<Vec<u8>>, Vec<Status>) {
    let mut cluster = Cluster::new();
    let mut vault = shared(0, 10, A, C);
    if holds_probe {
        vault.push(tx(900, &[], &[&[A, C]]));
        vault.push(tx(901, &[], &[&[A, C]]));
    }
    cluster.add(A, &vault).settle();
    cluster.net.add_external_party(MALLORY);
    let mut payloads = Vec::new();
    let mut statuses = Vec::new();
    for round in 0..rounds {
        cluster.schedule(A, &[MALLORY]);
        run_script(&mut cluster.net, MALLORY, |_, frame| {
            payloads.push(frame.encode());
            let (salt, until, base) = match frame.body {
                Body::Request {
                    salt, until, base, ..
                } => (salt, until, base),
                _ => return vec![],
            };
            let changes = match (round, later) {
                (0, _) => false,
                (_, Later::Identical) => {
                    return vec![Frame::new(frame.session, Body::Identical { cursor: None })];
                }
                (_, Later::Changes) => {
                    assert!(base.is_some(), "a routine check offers its base");
                    true
                }
            };
            let probe = if changes { id(901) } else { id(900) };
            let mut encoder = Encoder::new([probe], salt);
            let symbols = encoder.produce(until);
            vec![Frame::new(
                frame.session,
                Body::Symbols {
                    start: 0,
                    header: Some(StreamHeader {
                        responder_set_size: 1,
                        stream_limit: 70,
                        cursor: None,
                        changes,
                    }),
                    symbols: pack_symbols(&symbols),
                },
            )]
        });
        let row = cluster.status(A, MALLORY, true).expect("a row");
        statuses.push(row.last_reconciliation_status);
    }
    (payloads, statuses)
}

/// The responder plants an id the requester holds outside the set they
/// reconcile (or does not hold). What the requester sends back is the same
/// byte for byte either way: the responder cannot probe its vault.
#[test]
fn the_responder_cannot_probe_the_requesters_vault() {
    let (with_probe, status_with) = probed(true, 1, Later::Identical);
    let (without, status_without) = probed(false, 1, Later::Identical);
    assert_eq!(status_with, [Status::DifferencesNotFound]);
    assert_eq!(status_without, [Status::DifferencesFound]);
    assert_eq!(
        with_probe, without,
        "the responder hears the same either way"
    );
    assert!(
        with_probe
            .iter()
            .any(|p| Frame::decode(p).unwrap().body == Body::Done)
    );
}

/// A routine check starts from the responder's set as last reconciled
/// (what its symbols described), not from the requester's vault. Mallory
/// plants an id of A's dealings with C in its stream; A holds it or not.
/// Everything A sends in the first reconciliation and in the next one —
/// whose request is made from the set Mallory described, and which Mallory
/// answers `Identical` or with a stream of its changes since (planting
/// probe 901 there, which A holds or not) — is the same byte for byte
/// either way; only A's own rows differ.
#[test]
fn the_responder_cannot_probe_the_requesters_vault_through_a_set_as_last_reconciled() {
    for later in [Later::Identical, Later::Changes] {
        let (with_probe, statuses_with) = probed(true, 2, later);
        let (without, statuses_without) = probed(false, 2, later);
        assert_eq!(
            statuses_with,
            [Status::DifferencesNotFound, Status::DifferencesNotFound]
        );
        assert_eq!(
            statuses_without,
            [Status::DifferencesFound, Status::DifferencesFound],
            "what Mallory's set held and A lacks is still reported"
        );
        assert_eq!(
            with_probe, without,
            "the responder hears the same either way, in both reconciliations"
        );
        let requests = with_probe
            .iter()
            .filter(|p| matches!(Frame::decode(p).unwrap().body, Body::Request { .. }))
            .count();
        assert!(requests >= 2, "{requests} requests");
    }
}

/// A requester's cursor (protocol 6) is only a hint to the responder: a
/// made-up one, or one sealed for another requester, does not open, and
/// the responder sends all its roots beyond the pair, as to a first
/// reconciliation; the one it gave Mallory itself opens, and with nothing
/// recorded since, no filter is sent. Nothing traps.
#[test]
fn a_made_up_cursor_gets_all_roots_and_the_responders_own_gets_new_ones() {
    // B holds Mallory's dealings with C as the back-chain of its own with
    // C: two roots beyond the pair for Mallory.
    let vault = vec![
        tx(1, &[], &[&[MALLORY, C]]),
        tx(2, &[], &[&[MALLORY, C]]),
        tx(3, &[1, 2], &[&[B, C]]),
        tx(4, &[], &[&[B, MALLORY]]),
    ];
    let mut cluster = Cluster::new();
    cluster.add(B, &vault).settle();
    cluster.net.add_external_party(MALLORY);
    let ask = |cluster: &mut Cluster, k: u64, since: Option<u64>| -> Vec<Frame> {
        let session = SessionId::from_random(k, k);
        let body = Body::Request {
            salt: k,
            until: 16,
            digest: None,
            roots_bits: 4,
            set_size: 1,
            since,
            base: None,
        };
        cluster
            .net
            .inject(MALLORY, B, Frame::new(session, body).encode());
        run_script(&mut cluster.net, MALLORY, |_, frame| match &frame.body {
            Body::Roots { .. } => {
                vec![Frame::new(frame.session, Body::Want { from: 0, until: 16 })]
            }
            Body::Symbols { .. } => vec![Frame::new(frame.session, Body::Done)],
            _ => vec![],
        })
    };
    let roots = |frames: &[Frame]| {
        frames.iter().find_map(|f| match &f.body {
            Body::Roots { filter } => Some(filter.count),
            _ => None,
        })
    };
    let cursor = |frames: &[Frame]| {
        frames.iter().find_map(|f| match &f.body {
            Body::Symbols {
                header: Some(h), ..
            } => h.cursor,
            _ => None,
        })
    };
    let made_up = ask(&mut cluster, 1, Some(0x0bad_c0de_0bad_c0de));
    assert_eq!(roots(&made_up), Some(2), "a made-up cursor gets all roots");
    let given = cursor(&made_up).expect("the stream's header carries B's cursor");
    let again = ask(&mut cluster, 2, Some(given));
    assert_eq!(roots(&again), None, "nothing recorded since B's own cursor");
    assert!(cursor(&again).is_some());
    assert!(cluster.net.failures().is_empty(), "no trap");
}

/// A requester asking past the responder's stream limit is refused with the
/// cause; a real requester whose difference with a responder is past what
/// the responder's maxReconciliationDifferences allows records the
/// responder's limit as its cause.
#[test]
fn asking_past_the_stream_limit_is_refused_with_the_cause() {
    let mut cluster = Cluster::new();
    cluster
        .add_with(
            B,
            &[shared(2_000, 10, B, MALLORY), shared(0, 10, A, B)].concat(),
            "maxReconciliationDifferences = 100",
        )
        .add(A, &shared(0, 1_000, A, B))
        .settle();
    cluster.net.add_external_party(MALLORY);
    let session = SessionId::from_random(5, 6);
    cluster
        .net
        .inject(MALLORY, B, request(session, 3, 16).encode());
    let mut limit = None;
    let frames = run_script(&mut cluster.net, MALLORY, |_, frame| match &frame.body {
        Body::Symbols {
            start,
            header,
            symbols,
        } => {
            if let Some(h) = header {
                limit = Some(h.stream_limit);
            }
            let end = start + (symbols.len() / WIRE_SYMBOL_LEN) as u32;
            let limit = limit.expect("the first frame has the header");
            let next = if end == 16 || end == limit {
                Body::Want {
                    from: end,
                    until: limit + 10,
                }
            } else {
                Body::Progress { received: end }
            };
            vec![Frame::new(session, next)]
        }
        _ => vec![],
    });
    let limit = limit.unwrap();
    assert_eq!(limit, 6 * 10 + 64);
    assert_eq!(symbols_sent(&frames), limit as u64);
    assert_eq!(refusals(&frames), [Refusal::StreamLimitReached { limit }]);
    let row = cluster.status(B, MALLORY, false).unwrap();
    assert!(
        row.last_reconciliation_error
            .contains("streams at most 124"),
        "{row:?}"
    );

    // B lost 990 of the 1,000 transactions it shares with A: A cannot decode
    // within the 2 · 100 + 64 symbols B's configuration allows, and says so.
    let row = cluster.reconcile(A, B);
    assert_status(&row, Status::Failed);
    assert!(
        row.last_reconciliation_error
            .contains("streams at most 264"),
        "{}",
        row.last_reconciliation_error
    );
}

/// A peer's abort reason is stored and logged bounded and escaped: no log
/// forging, no megabytes in the status table.
#[test]
fn a_peers_abort_reason_is_bounded_and_escaped() {
    let mut cluster = Cluster::new();
    cluster.add(A, &shared(0, 10, A, MALLORY)).settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    let reason = format!("{}\nFAKE LOG LINE\u{1b}[2J", "x".repeat(1 << 20));
    run_script(&mut cluster.net, MALLORY, |_, frame| match frame.body {
        Body::Request { .. } => vec![Frame::new(
            frame.session,
            Body::Abort {
                to_responder: false,
                reason: reason.clone(),
            },
        )],
        _ => vec![],
    });
    let row = cluster.status(A, MALLORY, true).unwrap();
    assert_status(&row, Status::Failed);
    let error = &row.last_reconciliation_error;
    assert!(error.len() < 1_200, "{} bytes stored", error.len());
    assert!(
        !error.contains('\n') && !error.contains('\u{1b}'),
        "{error}"
    );
    assert!(error.contains("more bytes cut"), "{error}");
    for line in cluster.net.node(A).logs() {
        assert!(!line.message.contains('\n'), "{}", line.message);
    }
}

/// A ScheduleReconciliation list is checked in linear time and bounded: the
/// largest accepted list runs at once, a longer one is refused saying so.
/// Names the network map does not list are refused at the flow: 10,000
/// made-up names used to become 10,000 status rows and metric series.
#[test]
fn a_long_party_list_is_bounded_and_checked_quickly() {
    let mut cluster = Cluster::new();
    cluster.add(A, &shared(0, 10, A, B)).settle();
    let names: Vec<String> = (0..40_000)
        .map(|n| format!("O=Party{n}, L=London, C=GB"))
        .collect();
    let made_up = cluster
        .net
        .node(A)
        .schedule_reconciliation(&names[..10_000])
        .expect("no trap")
        .expect_err("names not on the network are refused");
    assert!(
        made_up
            .to_string()
            .contains("party \"O=Party0, L=London, C=GB\" is not on the network"),
        "{made_up}"
    );
    cluster.settle();
    assert!(stored_statuses(&mut cluster.net, A).is_empty(), "no rows");
    for name in &names[..10_000] {
        cluster.net.add_known_party(name);
    }
    let refused = cluster
        .net
        .node(A)
        .schedule_reconciliation(&names)
        .expect("no trap")
        .expect_err("refused");
    assert!(refused.to_string().contains("at most 10000"), "{refused}");
    cluster
        .net
        .node(A)
        .schedule_reconciliation(&names[..10_000])
        .expect("no trap")
        .expect("accepted");
    assert_eq!(
        cluster
            .net
            .node(A)
            .metrics()
            .unwrap()
            .number_of_scheduled_reconciliations,
        10_000
    );
}

/// Mallory streaming the set `theirs` honestly under `salt`: the frame of
/// symbols `[from, until)`, with the stream's header when it starts at 0.
fn honest_symbols(
    theirs: &[[u8; 32]],
    session: SessionId,
    salt: u64,
    from: u32,
    until: u32,
) -> Frame {
    let mut encoder = Encoder::new(theirs.iter().copied(), salt);
    Frame::new(
        session,
        Body::Symbols {
            start: from,
            header: (from == 0).then_some(StreamHeader {
                responder_set_size: theirs.len() as u64,
                stream_limit: 1_000,
                cursor: None,
                changes: false,
            }),
            symbols: pack_symbols(&encoder.produce(until)[from as usize..]),
        },
    )
}

/// A responder's `Identical` ends a reconciliation only as the answer to a
/// request with no symbols yet: one sent after symbols, or for a session
/// the requester never opened, is ignored, and the requester goes on to
/// find exactly what the responder holds.
#[test]
fn an_identical_claim_after_symbols_is_ignored() {
    let mut cluster = Cluster::new();
    cluster.add(A, &shared(0, 10, A, MALLORY)).settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    // Mallory's set shares nothing with A's: 40 differences, more than the
    // first batch decodes.
    let theirs: Vec<_> = (500..530).map(id).collect();
    claims_after_symbols_are_ignored(&mut cluster, &theirs, |session, _| {
        vec![
            Frame::new(session, Body::Identical { cursor: None }),
            Frame::new(
                SessionId::from_random(7, 7),
                Body::Identical { cursor: None },
            ),
        ]
    });
}

/// Mallory answers A's request by streaming `theirs` honestly, its first
/// symbols followed at once by the frames `claims` gives for the session and
/// salt; A must ignore those claims and find exactly `theirs`, without a
/// trap.
fn claims_after_symbols_are_ignored(
    cluster: &mut Cluster,
    theirs: &[[u8; 32]],
    mut claims: impl FnMut(SessionId, u64) -> Vec<Frame>,
) {
    let mut salt = 0;
    run_script(&mut cluster.net, MALLORY, |_, frame| match frame.body {
        Body::Request { salt: s, .. } => {
            salt = s;
            let mut frames = vec![honest_symbols(theirs, frame.session, salt, 0, 8)];
            frames.extend(claims(frame.session, salt));
            frames
        }
        Body::Want { from, until } => {
            vec![honest_symbols(theirs, frame.session, salt, from, until)]
        }
        _ => vec![],
    });
    let row = cluster.status(A, MALLORY, true).expect("a row");
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row), sorted(theirs.to_vec()));
    assert!(cluster.net.failures().is_empty(), "no trap");
}

/// A's vault for the roots tests: ten transactions with Mallory, and two
/// with C alone (outside the pair: A asks for a roots filter of
/// `bits_for(2)` = 7 bits to test them).
fn roots_vault() -> Vec<ledger_sync_host::store::vault::VaultTransaction> {
    let mut vault = shared(0, 10, A, MALLORY);
    vault.push(tx(901, &[], &[&[A, C]]));
    vault.push(tx(902, &[], &[&[A, C]]));
    vault
}

/// Mallory answers A's request with `filter`; A's reconciliation must end
/// FAILED with `cause` (naming Mallory), nothing trapping and no row left
/// in progress.
fn a_roots_filter_fails_the_reconciliation(filter: RootFilter, cause: &str) {
    let mut cluster = Cluster::new();
    cluster.add(A, &roots_vault()).settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    run_script(&mut cluster.net, MALLORY, |_, frame| match frame.body {
        Body::Request { roots_bits, .. } => {
            assert_eq!(
                roots_bits, 7,
                "A asks for a filter to test its 2 candidates"
            );
            vec![Frame::new(
                frame.session,
                Body::Roots {
                    filter: filter.clone(),
                },
            )]
        }
        _ => vec![],
    });
    let row = cluster.status(A, MALLORY, true).expect("a row");
    assert_status(&row, Status::Failed);
    assert!(
        row.last_reconciliation_error
            .contains(&format!("protocol violation by {MALLORY}: {cause}")),
        "{}",
        row.last_reconciliation_error
    );
    assert!(cluster.net.failures().is_empty(), "no trap");
    assert_no_row_in_progress(&mut cluster, A);
}

/// A roots filter that cannot be decoded (it claims more roots than its
/// bytes can hold) fails the reconciliation with the cause.
#[test]
fn a_forged_roots_filter_fails_the_reconciliation_with_its_cause() {
    a_roots_filter_fails_the_reconciliation(
        RootFilter {
            count: 8,
            bits: 7,
            data: vec![0xff; 4],
        },
        "a roots filter claiming 8 roots of 7 bits in only 4 bytes",
    );
}

/// A roots filter wider or larger than A asked for is refused before it is
/// decoded: a 1-bit filter of 4 MiB (2.7 million roots, which used to cost
/// the requester hundreds of MiB), and one of the asked width claiming more
/// roots than twice A's candidates.
#[test]
fn a_roots_filter_past_what_was_asked_is_refused_undecoded() {
    a_roots_filter_fails_the_reconciliation(
        RootFilter {
            count: 2_700_000,
            bits: 1,
            data: vec![0x55; 4 << 20],
        },
        "a roots filter of 1 remainder bits, when 7 were asked for",
    );
    a_roots_filter_fails_the_reconciliation(
        RootFilter {
            count: 100_000,
            bits: 7,
            data: vec![0x55; 1 << 20],
        },
        "a roots filter of 100000 roots when one of 7 bits codes at most 8",
    );
}

/// The responder puts a transaction X that involves A and C (not itself)
/// in its roots filter, then streams the shared set with X — the probe the
/// review found: A used to end at once with `Done` when it held X and ask
/// for symbols when it did not. Now what A sends is the same byte for byte
/// either way.
#[test]
fn the_responder_cannot_probe_the_requesters_vault_through_roots() {
    let probe = tx(900, &[], &[&[A, C]]);
    let run = |holds_probe: bool| -> (Vec<Vec<u8>>, Status, Vec<[u8; 32]>) {
        let mut cluster = Cluster::new();
        let mut vault = roots_vault();
        if holds_probe {
            vault.push(probe.clone());
        }
        cluster.add(A, &vault).settle();
        cluster.net.add_external_party(MALLORY);
        cluster.schedule(A, &[MALLORY]);
        let theirs: Vec<_> = (0..10).map(id).chain([probe.id]).collect();
        let mut payloads = Vec::new();
        let mut salt = 0;
        run_script(&mut cluster.net, MALLORY, |_, frame| {
            payloads.push(frame.encode());
            match frame.body {
                Body::Request {
                    salt: s,
                    roots_bits,
                    ..
                } => {
                    salt = s;
                    let filter = RootFilter::build(&[probe.id], salt, roots_bits, 1_000);
                    vec![Frame::new(frame.session, Body::Roots { filter })]
                }
                Body::Want { from, until } => {
                    vec![honest_symbols(&theirs, frame.session, salt, from, until)]
                }
                _ => vec![],
            }
        });
        let row = cluster.status(A, MALLORY, true).expect("a row");
        (payloads, row.last_reconciliation_status, result_ids(&row))
    };
    let (with_probe, status_with, _) = run(true);
    let (without, status_without, found) = run(false);
    assert_eq!(status_with, Status::DifferencesNotFound);
    assert_eq!(status_without, Status::DifferencesFound);
    assert_eq!(found, [probe.id]);
    assert_eq!(
        with_probe, without,
        "the responder hears the same either way"
    );
    let kinds: Vec<_> = with_probe
        .iter()
        .map(|p| Frame::decode(p).unwrap().body)
        .collect();
    assert!(matches!(kinds[0], Body::Request { roots_bits: 7, .. }));
    assert!(matches!(kinds[1], Body::Want { from: 0, .. }));
    assert_eq!(kinds.last(), Some(&Body::Done));
}

/// A requester that makes the responder go back for symbols again and
/// again, far into its stream, costs it no more encoding than one pass:
/// symbols already produced are replayed, not computed again. (Each
/// rewind used to walk the whole set again: 60,000 of them cost a real
/// node 103 s of CPU.)
#[test]
fn rewinding_a_stream_again_and_again_costs_no_more_encoding() {
    const FAR: u32 = 3_000;
    const REWINDS: u32 = 5_000;
    let vault = shared(0, 1_000, B, MALLORY);
    let mut cluster = Cluster::new();
    cluster.add(B, &vault).settle();
    cluster.net.add_external_party(MALLORY);
    let session = SessionId::from_random(1, 2);
    cluster
        .net
        .inject(MALLORY, B, request(session, 7, 16).encode());
    let mut rewinds = 0;
    let mut replayed: Vec<Vec<u8>> = Vec::new();
    let frames = run_script(&mut cluster.net, MALLORY, |_, frame| {
        let Body::Symbols { start, symbols, .. } = &frame.body else {
            return vec![];
        };
        let end = *start + (symbols.len() / WIRE_SYMBOL_LEN) as u32;
        let next = if end == 16 {
            Body::Want {
                from: 16,
                until: FAR,
            }
        } else if end < FAR {
            Body::Progress { received: end }
        } else if rewinds < REWINDS {
            rewinds += 1;
            if *start == FAR - 1 {
                replayed.push(symbols.clone());
            }
            Body::Want {
                from: FAR - 1,
                until: FAR,
            }
        } else {
            Body::Done
        };
        vec![Frame::new(session, next)]
    });
    assert_eq!(rewinds, REWINDS);
    assert!(symbols_sent(&frames) > REWINDS as u64);
    // Every replay of the last symbol is the symbol itself.
    let mut encoder = Encoder::new(vault.iter().map(|t| t.id), 7);
    let one_pass = encoder.produce(FAR);
    let last = pack_symbols(&one_pass[FAR as usize - 1..]);
    assert!(replayed.len() as u32 >= REWINDS - 1);
    assert!(replayed.iter().all(|r| *r == last));
    assert_status(
        &cluster.status(B, MALLORY, false).expect("B's row"),
        Status::DifferencesNotFound,
    );
    let work: u64 = cluster
        .net
        .node(B)
        .logs()
        .iter()
        .find_map(|l| {
            let (_, tail) = l.message.split_once("encoding work ")?;
            tail.split(' ').next()?.parse().ok()
        })
        .expect("B logs the session's encoding work");
    assert!(
        work <= 2 * encoder.mappings(),
        "{work} item mappings for {REWINDS} rewinds; one pass to symbol {FAR} is {}",
        encoder.mappings()
    );
}

/// `Roots` counts only before the first symbol: one sent after symbols,
/// even naming every transaction the requester holds, is ignored, and the
/// requester finds exactly what the responder holds.
#[test]
fn a_roots_answer_after_symbols_is_ignored() {
    let mut cluster = Cluster::new();
    let mine = shared(0, 10, A, MALLORY);
    cluster.add(A, &mine).settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    let theirs: Vec<_> = (500..530).map(id).collect();
    claims_after_symbols_are_ignored(&mut cluster, &theirs, |session, salt| {
        let mine_ids: Vec<_> = mine.iter().map(|t| t.id).collect();
        vec![Frame::new(
            session,
            Body::Roots {
                filter: RootFilter::build(&mine_ids, salt, 8, 100),
            },
        )]
    });
}

/// A party that answers with garbage: A's reconciliation ends FAILED at
/// its inactivity timeout naming the undecodable messages (it used to say
/// only that the party may be down), and A's log holds at most one line a
/// minute for them, each saying how many went unlogged (every one of the
/// 6,100 frames used to be a WARN line).
#[test]
fn a_party_answering_with_garbage_is_named_and_its_garbage_logged_sparingly() {
    let mut cluster = Cluster::new();
    cluster
        .add_with(
            A,
            &shared(0, 10, A, MALLORY),
            "reconciliationInactivityTimeout = 5M",
        )
        .settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    let mut garbage = 0;
    run_script(&mut cluster.net, MALLORY, |_, frame| {
        if !matches!(frame.body, Body::Request { .. }) {
            return vec![];
        }
        garbage += 100;
        (0..100)
            .map(|k| Frame::new(frame.session, Body::Done).encode()[..3 + k % 5].to_vec())
            .map(|bytes| Frame {
                protocol: 0,
                session: frame.session,
                body: Body::Abort {
                    to_responder: false,
                    reason: String::from_utf8_lossy(&bytes).into(),
                },
            })
            .collect()
    });
    assert!(garbage >= 3_000, "{garbage} garbage frames sent");
    let row = cluster.status(A, MALLORY, true).expect("a row");
    assert_status(&row, Status::Failed);
    let error = &row.last_reconciliation_error;
    assert!(
        error.contains(&format!("no message this node could decode from {MALLORY}"))
            && error.contains(&format!("({garbage} undecodable messages from it in all")),
        "{error}"
    );
    let logs = cluster.net.node(A).logs();
    let lines: Vec<_> = logs
        .iter()
        .filter(|l| l.message.contains("this node cannot decode"))
        .collect();
    assert!(
        (2..=7).contains(&lines.len()),
        "{} lines for {garbage} frames",
        lines.len()
    );
    assert!(lines[1].message.contains("more since the last such line"));
}

/// A requester that claims an enormous set and acknowledges nothing gets
/// no more than the flow-control window, or the responder's own set,
/// unasked: the claim's size difference never opens the window past our
/// own set (a first version streamed 2 × maxReconciliationDifferences
/// symbols on such a claim, 6.7 GB over 300 simulated seeds).
#[test]
fn a_huge_set_size_claim_opens_no_more_than_our_own_set() {
    let vault = shared(0, 300, B, MALLORY);
    let mut cluster = Cluster::new();
    cluster.add(B, &vault).settle();
    cluster.net.add_external_party(MALLORY);
    let session = SessionId::from_random(3, 4);
    let claim = Frame::new(
        session,
        Body::Request {
            salt: 9,
            until: u32::MAX,
            digest: None,
            roots_bits: 0,
            set_size: u64::MAX,
            since: None,
            base: None,
        },
    );
    cluster.net.inject(MALLORY, B, claim.encode());
    let frames = run_script(&mut cluster.net, MALLORY, |_, _| vec![]);
    let sent = symbols_sent(&frames);
    // The window (128) or our own set (300) unasked, plus the re-sent last
    // symbol of each silence before B times out.
    assert!(sent <= 300 + 64, "{sent} symbols streamed on a claim");
    assert!(sent >= 128, "{sent}: the stream did start");
}

/// A requester that heard nothing repeats its request, and its `Want` for
/// what follows the symbols it did get crosses that repeat on the wire:
/// the responder has rewound its stream to the start when the `Want`
/// arrives. Frames crossing are not a violation: the responder skips
/// ahead to where the requester is and serves the rest.
#[test]
fn a_want_crossing_a_repeated_request_is_served_not_called_a_violation() {
    let mut cluster = Cluster::new();
    cluster
        .add_with(
            B,
            &shared(0, 50, B, MALLORY),
            "reconciliationInactivityTimeout = 1M\nmaxNumberOfIbfFilterFlows = 15",
        )
        .settle();
    cluster.net.add_external_party(MALLORY);
    let session = SessionId::from_random(5, 6);
    cluster
        .net
        .inject(MALLORY, B, request(session, 9, 16).encode());
    let mut crossed = false;
    let frames = run_script(&mut cluster.net, MALLORY, |_, frame| {
        let Body::Symbols { start, symbols, .. } = &frame.body else {
            return vec![];
        };
        let end = *start + (symbols.len() / WIRE_SYMBOL_LEN) as u32;
        match end {
            16 if !crossed => {
                crossed = true;
                // The repeat and the next `Want`, back to back: B rewinds
                // on the first and reads the second before it has streamed
                // the first 16 symbols again.
                vec![
                    request(session, 9, 16),
                    Frame::new(
                        session,
                        Body::Want {
                            from: 16,
                            until: 64,
                        },
                    ),
                ]
            }
            64 => vec![Frame::new(session, Body::Done)],
            _ => vec![],
        }
    });
    assert!(crossed);
    let aborts: Vec<&Frame> = frames
        .iter()
        .filter(|f| matches!(f.body, Body::Abort { .. } | Body::Refused(_)))
        .collect();
    assert!(
        aborts.is_empty(),
        "B aborted an honest requester: {aborts:?}"
    );
    let row = cluster.status(B, MALLORY, false).expect("B's row");
    assert_ne!(
        row.last_reconciliation_status,
        Status::Failed,
        "{}",
        row.last_reconciliation_error
    );
    assert!(cluster.net.failures().is_empty(), "no trap");
}

/// Mallory answers every ask of A's with frames past the first symbols but
/// "loses" those first symbols four times before it sends them. A party
/// that answers is never timed out for silence: A keeps asking for the gap
/// itself and finds exactly Mallory's set.
#[test]
fn a_party_that_keeps_answering_past_a_gap_is_not_timed_out() {
    let theirs: Vec<_> = (500..530).map(id).collect();
    let row = answer_past_the_gap(&theirs, 4);
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row), sorted(theirs.to_vec()));
}

/// The same party never sending the gap: answering without progress ends
/// the reconciliation FAILED, naming the index asked for, within a bounded
/// time — talking is not a way to hold a requester's slot for ever.
#[test]
fn a_party_that_answers_without_progress_ends_failed_naming_the_gap() {
    let theirs: Vec<_> = (500..530).map(id).collect();
    let row = answer_past_the_gap(&theirs, u32::MAX);
    assert_status(&row, Status::Failed);
    let error = &row.last_reconciliation_error;
    assert!(error.contains("kept answering"), "{error}");
    assert!(error.contains("from index 0"), "{error}");
}

/// Runs A (inactivity timeout 30 s) against Mallory streaming `theirs`,
/// whose answers to A's first `lose` asks leave out the symbols asked for
/// and send only the ones after them; A's row at the end.
fn answer_past_the_gap(
    theirs: &[[u8; 32]],
    lose: u32,
) -> ledger_sync_vocabulary::ReconciliationStatus {
    let mut cluster = Cluster::new();
    cluster
        .add_with(
            A,
            &shared(0, 10, A, MALLORY),
            "reconciliationInactivityTimeout = 30S\nmaxNumberOfIbfFilterFlows = 15",
        )
        .settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    let mut salt = 0;
    let mut asks = 0u32;
    run_script(&mut cluster.net, MALLORY, |_, frame| {
        let (from, until) = match frame.body {
            Body::Request { salt: s, until, .. } => {
                salt = s;
                (0, until)
            }
            Body::Want { from, until } => (from, until),
            _ => return vec![],
        };
        asks += 1;
        let skip = if asks <= lose { 4 } else { 0 };
        let start = (from + skip).min(until);
        if start == until {
            return vec![];
        }
        vec![honest_symbols(theirs, frame.session, salt, start, until)]
    });
    assert!(cluster.net.failures().is_empty(), "no trap");
    cluster.status(A, MALLORY, true).expect("a row")
}

/// The first stream ends at Mallory's stream limit before the difference
/// decodes — a rateless code's rare tail. A starts again under a new salt
/// (a new session) instead of recording FAILED, and finds exactly
/// Mallory's set.
#[test]
fn a_stream_limit_before_decoding_is_retried_under_a_new_salt() {
    let mut cluster = Cluster::new();
    cluster.add(A, &shared(0, 10, A, MALLORY)).settle();
    cluster.net.add_external_party(MALLORY);
    cluster.schedule(A, &[MALLORY]);
    let theirs: Vec<_> = (500..530).map(id).collect();
    let mut sessions: Vec<(SessionId, u64)> = Vec::new();
    run_script(&mut cluster.net, MALLORY, |_, frame| match frame.body {
        Body::Request { salt, until, .. } => {
            if !sessions.iter().any(|(s, _)| *s == frame.session) {
                sessions.push((frame.session, salt));
            }
            if sessions.len() == 1 {
                let refusal = Refusal::StreamLimitReached { limit: until };
                vec![Frame::new(frame.session, Body::Refused(refusal))]
            } else {
                vec![honest_symbols(&theirs, frame.session, salt, 0, until)]
            }
        }
        Body::Want { from, until } => {
            let salt = sessions.last().map_or(0, |(_, salt)| *salt);
            vec![honest_symbols(&theirs, frame.session, salt, from, until)]
        }
        _ => vec![],
    });
    assert_eq!(sessions.len(), 2, "one new session: {sessions:?}");
    assert_ne!(sessions[0].1, sessions[1].1, "under a new salt");
    let row = cluster.status(A, MALLORY, true).expect("a row");
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row), sorted(theirs.to_vec()));
    assert_eq!(row.state_machine_id, sessions[1].0.to_string());
    assert!(cluster.net.failures().is_empty(), "no trap");
}
