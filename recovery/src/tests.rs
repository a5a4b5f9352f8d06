//! The recovery core natively, on in-memory nodes and a virtual clock: two
//! nodes' recoverers exchange messages through a queue that may lose
//! them; the "ledger adapter" is the rule that a transaction's bytes start
//! with its id.

use crate::Recoverer;
use crate::node::Node;
use crate::protocol::Message;
use ledger_sync_plugin_api::platform::{Level, Recorded};
use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest, RecoveryStatus};
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus, StatusValue, TxId};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

const A: &str = "O=PartyA, L=London, C=GB";
const B: &str = "O=PartyB, L=London, C=GB";

#[derive(Default)]
struct World {
    now: u64,
    queue: VecDeque<(String, String, Vec<u8>)>,
    timers: Vec<(u64, String, u64)>,
    /// Drop every n-th message (0: none).
    lose_every: u64,
    sent: u64,
    asks: Vec<usize>,
    /// Bytes of transactions read from the vaults.
    bytes_read: u64,
    /// Transactions as they entered A's vault.
    recorded: Vec<TxId>,
}

#[derive(Default)]
struct Store {
    requests: Vec<RecoveryRequest>,
    log: Vec<RecoveryLogEntry>,
    /// Rows saved in all.
    saves: u64,
}

struct Fake {
    name: String,
    world: Rc<RefCell<World>>,
    vault: Rc<RefCell<HashMap<TxId, Vec<u8>>>>,
    /// Ids in this node's set for the other party.
    shared: HashSet<TxId>,
    /// The last reconciliation's result with the other party.
    found: Vec<TxId>,
    store: Rc<RefCell<Store>>,
    seed: u64,
    /// Each transaction's dependencies, where it has any: one arriving
    /// before them is held aside, and recorded once they are.
    deps: HashMap<TxId, Vec<TxId>>,
    held: Vec<TxId>,
}

fn tx(n: u32) -> TxId {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id
}

/// A transaction's bytes under the test's rule: its id, then data.
fn bytes(id: &TxId, len: usize) -> Vec<u8> {
    let mut b = id.to_vec();
    b.resize(32 + len, 7);
    b
}

impl Node for Fake {
    fn now_ms(&mut self) -> u64 {
        self.world.borrow().now
    }
    fn our_name(&mut self) -> String {
        self.name.clone()
    }
    fn random_u64(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed
    }
    fn max_message_size(&mut self) -> u32 {
        64 * 1024
    }
    fn is_network_party(&mut self, name: &str) -> bool {
        name == A || name == B
    }
    fn send(&mut self, to: &str, payload: &[u8]) -> Result<(), String> {
        let mut world = self.world.borrow_mut();
        world.sent += 1;
        if let Ok(Message::Ask { ids, .. }) = Message::decode(payload) {
            world.asks.push(ids.len());
        }
        if world.lose_every > 0 && world.sent.is_multiple_of(world.lose_every) {
            return Ok(());
        }
        world
            .queue
            .push_back((self.name.clone(), to.to_string(), payload.to_vec()));
        Ok(())
    }
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        let mut world = self.world.borrow_mut();
        let due = world.now + delay_ms;
        world.timers.push((due, self.name.clone(), id));
    }
    fn log(&mut self, _: Level, _: &str) {}
    fn reconciliation_statuses(&mut self) -> Result<Vec<ReconciliationStatus>, FlowError> {
        let mut row = ReconciliationStatus::started(B, true, "run".into(), 0);
        row.last_successful_reconciliation_status = Some(StatusValue::DifferencesFound);
        row.last_successful_reconciliation_result = self.found.clone();
        Ok(vec![row])
    }
    fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError> {
        Ok(())
    }
    fn shared_with(&mut self, _: &str, ids: &[TxId]) -> Result<Vec<bool>, FlowError> {
        Ok(ids.iter().map(|id| self.shared.contains(id)).collect())
    }
    fn contains(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String> {
        let vault = self.vault.borrow();
        Ok(ids.iter().map(|id| vault.contains_key(id)).collect())
    }
    fn transaction_bytes(&mut self, ids: &[TxId]) -> Result<Vec<Option<Vec<u8>>>, String> {
        let vault = self.vault.borrow();
        let read: Vec<Option<Vec<u8>>> = ids.iter().map(|id| vault.get(id).cloned()).collect();
        let bytes: usize = read.iter().flatten().map(Vec::len).sum();
        self.world.borrow_mut().bytes_read += bytes as u64;
        Ok(read)
    }
    fn record_verified(&mut self, txs: &[(TxId, Vec<u8>)]) -> Result<Vec<Recorded>, String> {
        let mut vault = self.vault.borrow_mut();
        let mut world = self.world.borrow_mut();
        let outcomes = txs
            .iter()
            .map(|(id, b)| {
                let missing: Vec<TxId> = (self.deps.get(id).into_iter().flatten())
                    .filter(|d| !vault.contains_key(*d))
                    .copied()
                    .collect();
                if b.len() < 32 || b[..32] != id[..] {
                    Recorded::Refused("the bytes are another transaction".into())
                } else if vault.contains_key(id) {
                    Recorded::AlreadyHeld
                } else if !missing.is_empty() {
                    self.held.push(*id);
                    Recorded::HeldAside(missing)
                } else {
                    vault.insert(*id, b.clone());
                    world.recorded.push(*id);
                    Recorded::New
                }
            })
            .collect();
        // What was held aside is recorded once its dependencies are.
        loop {
            let ready = self.held.iter().position(|h| {
                (self.deps.get(h).into_iter().flatten()).all(|d| vault.contains_key(d))
            });
            let Some(at) = ready else { break };
            let id = self.held.remove(at);
            vault.insert(id, bytes(&id, 1000));
            world.recorded.push(id);
        }
        Ok(outcomes)
    }
    fn load_requests(&mut self, _: u32) -> Result<Vec<RecoveryRequest>, String> {
        Ok(self.store.borrow().requests.clone())
    }
    fn save_request(&mut self, r: &RecoveryRequest) -> Result<(), String> {
        let mut store = self.store.borrow_mut();
        store
            .requests
            .retain(|o| (&o.request_id, o.is_requester) != (&r.request_id, r.is_requester));
        store.requests.push(r.clone());
        store.saves += 1;
        Ok(())
    }
    fn append_log(&mut self, e: &RecoveryLogEntry) -> Result<(), String> {
        self.store.borrow_mut().log.push(e.clone());
        Ok(())
    }
    fn load_log(&mut self, id: &str, _: u32) -> Result<Vec<RecoveryLogEntry>, String> {
        let log = self.store.borrow();
        Ok(log
            .log
            .iter()
            .filter(|e| e.request_id == id)
            .cloned()
            .collect())
    }
}

/// A (restored, lacking `lost`) and B (holding everything, sharing
/// `shared`), on one world.
struct Pair {
    world: Rc<RefCell<World>>,
    a: Recoverer<Fake>,
    b: Recoverer<Fake>,
    a_vault: Rc<RefCell<HashMap<TxId, Vec<u8>>>>,
    a_store: Rc<RefCell<Store>>,
}

fn pair(found: &[TxId], b_holds: &[TxId], shared: &[TxId], config: &str) -> Pair {
    let world = Rc::new(RefCell::new(World::default()));
    let a_vault = Rc::new(RefCell::new(HashMap::new()));
    let a_store = Rc::new(RefCell::new(Store::default()));
    let b_vault: HashMap<TxId, Vec<u8>> = b_holds.iter().map(|id| (*id, bytes(id, 1000))).collect();
    let fake = |name: &str, vault, store, shared: &[TxId]| Fake {
        name: name.into(),
        world: world.clone(),
        vault,
        shared: shared.iter().copied().collect(),
        found: found.to_vec(),
        store,
        seed: name.len() as u64,
        deps: HashMap::new(),
        held: Vec::new(),
    };
    let a = Recoverer::start(fake(A, a_vault.clone(), a_store.clone(), &[]), config, None).unwrap();
    let b_node = fake(B, Rc::new(RefCell::new(b_vault)), Rc::default(), shared);
    let b = Recoverer::start(b_node, config, None).unwrap();
    Pair {
        world,
        a,
        b,
        a_vault,
        a_store,
    }
}

impl Pair {
    /// Delivers messages and fires timers until nothing is left or
    /// `limit_ms` of virtual time has passed.
    fn run(&mut self, limit_ms: u64) {
        let end = self.world.borrow().now + limit_ms;
        loop {
            let next = self.world.borrow_mut().queue.pop_front();
            if let Some((from, to, payload)) = next {
                let to = if to == A { &mut self.a } else { &mut self.b };
                to.on_message(&from, &payload);
                continue;
            }
            let mut world = self.world.borrow_mut();
            world.timers.sort();
            if world.timers.is_empty() || world.timers[0].0 > end {
                return;
            }
            let (due, node, id) = world.timers.remove(0);
            world.now = world.now.max(due);
            drop(world);
            let node = if node == A { &mut self.a } else { &mut self.b };
            node.on_timer(id);
        }
    }

    fn row(&self) -> RecoveryRequest {
        let store = self.a_store.borrow();
        store
            .requests
            .iter()
            .find(|r| r.is_requester)
            .cloned()
            .unwrap()
    }
}

fn automatic(a: &mut Recoverer<Fake>) -> String {
    a.run_flow("AutomaticRecoveryFlow", &[("party".into(), B.into())])
        .unwrap()
}

#[test]
fn it_recovers_what_is_shared_and_learns_nothing_of_the_rest() {
    let lost: Vec<TxId> = (0..100).map(tx).collect();
    let probe: Vec<TxId> = (200..210).map(tx).collect();
    // B holds the 100 and the probes, and shares 80 of the 100.
    let holds: Vec<TxId> = lost.iter().chain(&probe).copied().collect();
    let mut p = pair(&lost, &holds, &lost[..80], "");
    let started = automatic(&mut p.a);
    assert!(started.contains("status=IN_PROGRESS"), "{started}");
    p.run(3_600_000);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Completed, "{row}");
    assert_eq!((row.recovered, row.unavailable, row.refused), (80, 20, 0));
    let vault = p.a_vault.borrow();
    assert!(lost[..80].iter().all(|id| vault.contains_key(id)));
    assert!(
        lost[80..].iter().all(|id| !vault.contains_key(id)),
        "nothing unshared is sent"
    );
    // Every ask kept to the default 30.
    assert!(p.world.borrow().asks.iter().all(|n| *n <= 30));
    drop(vault);
    // A probe for ids outside A's set gets the answer an unknown id gets.
    let manual = format!(
        "[{}]",
        probe
            .iter()
            .map(ledger_sync_vocabulary::id::to_hex)
            .collect::<Vec<_>>()
            .join(", ")
    );
    p.a.run_flow(
        "InitiateManualRecoveryFlow",
        &[
            ("party".into(), B.into()),
            ("transactionIds".into(), manual),
        ],
    )
    .unwrap();
    p.run(3_600_000);
    let probed = p.a_store.borrow().requests.last().cloned().unwrap();
    assert_eq!((probed.recovered, probed.unavailable), (0, 10), "{probed}");
}

#[test]
fn the_size_limit_defers_and_the_requester_asks_again_later() {
    let lost: Vec<TxId> = (0..10).map(tx).collect();
    // 1 KiB each; 3,000 bytes an hour-long window... a minute here.
    let config = "maxAllowedSizeInBytes = 3000\ntimeWindowForMaxAllowedSize = 1M";
    let mut p = pair(&lost, &lost, &lost, config);
    automatic(&mut p.a);
    p.run(60_000 * 5);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Completed, "{row}");
    assert_eq!(row.recovered, 10);
    assert!(
        p.world.borrow().now >= 3 * 60_000,
        "it had to wait for the window"
    );
}

#[test]
fn lost_messages_are_asked_for_again() {
    let lost: Vec<TxId> = (0..60).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "maxAllowedRequests = 1000");
    p.world.borrow_mut().lose_every = 3;
    automatic(&mut p.a);
    p.run(3_600_000);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Completed, "{row}");
    assert_eq!(row.recovered, 60);
}

#[test]
fn forged_bytes_end_the_recovery_with_the_cause() {
    let lost: Vec<TxId> = (0..5).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "");
    // B's copy of the third is another transaction's bytes.
    let forged = bytes(&tx(99), 10);
    p.b.node_mut().vault.borrow_mut().insert(lost[2], forged);
    automatic(&mut p.a);
    p.run(3_600_000);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Failed, "{row}");
    assert!(
        row.error
            .contains("was refused: the bytes are another transaction"),
        "{row}"
    );
    assert_eq!(row.refused, 1);
    assert!(!p.a_vault.borrow().contains_key(&lost[2]));
}

#[test]
fn a_flood_of_asks_is_refused_past_the_request_limit() {
    let lost: Vec<TxId> = (0..5).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "maxAllowedRequests = 3");
    for k in 0..10u8 {
        let ask = Message::Ask {
            request: [k; 16],
            ask: 1,
            ids: lost.clone(),
        };
        p.b.on_message(A, &ask.encode());
    }
    let queue = std::mem::take(&mut p.world.borrow_mut().queue);
    let refused = queue
        .iter()
        .filter(|(_, _, m)| matches!(Message::decode(m), Ok(Message::Refused { .. })))
        .count();
    assert_eq!(refused, 7);
    let too_many = Message::Ask {
        request: [42; 16],
        ask: 1,
        ids: (0..31).map(tx).collect(),
    };
    let mut q = pair(&lost, &lost, &lost, "");
    q.b.on_message(A, &too_many.encode());
    let answer = q.world.borrow_mut().queue.pop_front().unwrap().2;
    assert!(matches!(
        Message::decode(&answer),
        Ok(Message::Refused {
            refusal: crate::protocol::Refusal::TooManyTransactions { max: 30 },
            ..
        })
    ));
}

/// A responder's windows survive its restart (or a trap): asks answered
/// before count after. Round 4: 29 + 30 asks were answered in one window
/// of 30 an hour, across a restart.
#[test]
fn a_restarted_responder_keeps_its_windows() {
    let lost: Vec<TxId> = (0..5).map(tx).collect();
    let config =
        "maxAllowedRequests = 3\nmaxAllowedSizeInBytes = 2500\ntimeWindowForMaxAllowedSize = 24H";
    let mut p = pair(&lost, &lost, &lost, config);
    let flood = |b: &mut Recoverer<Fake>, from: u8| {
        for k in from..from + 5 {
            let ask = Message::Ask {
                request: [k; 16],
                ask: 1,
                ids: lost.clone(),
            };
            b.on_message(A, &ask.encode());
        }
    };
    let answered = |world: &Rc<RefCell<World>>| {
        let queue = std::mem::take(&mut world.borrow_mut().queue);
        let done: Vec<Message> = (queue.iter())
            .filter_map(|(_, _, m)| Message::decode(m).ok())
            .filter(|m| matches!(m, Message::Done { .. }))
            .collect();
        let sent: u32 = (done.iter())
            .map(|m| match m {
                Message::Done { sent, .. } => *sent,
                _ => 0,
            })
            .sum();
        (done.len(), sent)
    };
    flood(&mut p.b, 0);
    assert_eq!(answered(&p.world), (3, 2), "3 asks answered, 2 KB sent");
    // B restarts (a new instance over the same store), in the same window.
    let b = p.b.node_mut();
    let again = Fake {
        name: b.name.clone(),
        world: b.world.clone(),
        vault: b.vault.clone(),
        shared: b.shared.clone(),
        found: b.found.clone(),
        store: b.store.clone(),
        seed: b.seed + 1,
        deps: HashMap::new(),
        held: Vec::new(),
    };
    p.b = Recoverer::start(again, config, Some("restarted")).unwrap();
    p.world.borrow_mut().now += 60_000;
    flood(&mut p.b, 10);
    assert_eq!(answered(&p.world), (0, 0), "the window is still spent");
    // An hour on, the request window has room again, and the size window
    // (a day here) still counts the 2 KB sent before the restart.
    p.world.borrow_mut().now += 3_600_000;
    flood(&mut p.b, 20);
    assert_eq!(answered(&p.world), (3, 0), "asks answered, bytes deferred");
}

/// A responder's row, saved after every ask, lists at most the first
/// 1,000 ids asked while its counts count on: what each ask rewrites is
/// bounded (round 4: 100,000 ids, 3.2 MB rewritten per ask).
#[test]
fn a_responders_row_lists_a_bounded_number_of_ids() {
    let asked: Vec<TxId> = (0..1_000).map(tx).collect();
    let config = "maxAllowedTransactions = 1000\nmaxAllowedRequests = 10";
    let mut p = pair(&[], &[], &[], config);
    for k in 0..3u32 {
        let ask = Message::Ask {
            request: [7; 16],
            ask: k,
            ids: asked.clone(),
        };
        p.b.on_message(A, &ask.encode());
    }
    let store = p.b.node_mut().store.clone();
    let store = store.borrow();
    let row = store.requests.iter().find(|r| !r.is_requester).unwrap();
    assert_eq!(row.requested.len(), 1_000);
    assert_eq!(row.unavailable, 3_000, "counts count on");
}

#[test]
fn a_restarted_requester_resumes_what_is_outstanding() {
    let lost: Vec<TxId> = (0..50).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "");
    automatic(&mut p.a);
    // The first ask is answered, then A "crashes" before asking again.
    p.world.borrow_mut().timers.clear();
    loop {
        let next = p.world.borrow_mut().queue.pop_front();
        let Some((from, to, payload)) = next else {
            break;
        };
        if to == A {
            p.a.on_message(&from, &payload);
        } else {
            p.b.on_message(&from, &payload);
        }
        if p.a_vault.borrow().len() >= 30 {
            break;
        }
    }
    p.world.borrow_mut().queue.clear();
    p.world.borrow_mut().timers.clear();
    let node = Fake {
        name: A.into(),
        world: p.world.clone(),
        vault: p.a_vault.clone(),
        shared: HashSet::new(),
        found: lost.clone(),
        store: p.a_store.clone(),
        seed: 5,
        deps: HashMap::new(),
        held: Vec::new(),
    };
    p.a = Recoverer::start(node, "", None).unwrap();
    p.run(3_600_000);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Completed, "{row}");
    assert_eq!(p.a_vault.borrow().len(), 50);
    assert_eq!(
        p.a_store
            .borrow()
            .requests
            .iter()
            .filter(|r| r.is_requester)
            .count(),
        1
    );
}

#[test]
fn flows_refuse_what_they_cannot_do_in_the_shells_words() {
    let lost: Vec<TxId> = (0..5).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "");
    let run = |p: &mut Pair, flow: &str, args: &[(&str, &str)]| {
        let args: Vec<(String, String)> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        p.a.run_flow(flow, &args)
    };
    let me = run(&mut p, "AutomaticRecoveryFlow", &[("party", A)]).unwrap_err();
    assert!(me.to_string().contains("is this node"), "{me}");
    automatic(&mut p.a);
    let again = run(&mut p, "AutomaticRecoveryFlow", &[("party", B)]).unwrap_err();
    assert!(
        again
            .to_string()
            .contains("RecoveryAlreadyInProgressException"),
        "{again}"
    );
    let bad = run(
        &mut p,
        "InitiateManualRecoveryFlow",
        &[("party", B), ("transactionIds", "[\"AB\"]")],
    )
    .unwrap_err();
    assert!(bad.to_string().contains("64 hex digits"), "{bad}");
    let id = p.row().request_id;
    assert_eq!(
        run(&mut p, "StopRecoveryFlow", &[("requestId", &id)]).unwrap(),
        "kotlin.Unit"
    );
    assert_eq!(p.row().status, RecoveryStatus::Stopped);
    let listed = run(&mut p, "GetRecoveryRequestsFlow", &[("status", "STOPPED")]).unwrap();
    assert!(listed.contains(&id), "{listed}");
    let log = run(&mut p, "GetRecoveryLogsFlow", &[("requestId", &id)]).unwrap();
    assert!(log.contains("stopped by the operator"), "{log}");
}

#[test]
fn a_late_answer_after_a_re_ask_is_recorded_once_not_taken_for_a_stray() {
    let lost: Vec<TxId> = (0..50).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "maxAllowedRequests = 1000");
    automatic(&mut p.a);
    // B is slow: A's first ask waits past A's inactivity timeout.
    let first = p.world.borrow_mut().queue.pop_front().unwrap();
    for _ in 0..31 {
        let now = p.world.borrow().now + 1_000;
        p.world.borrow_mut().now = now;
        p.world.borrow_mut().timers.clear();
        p.a.on_timer(crate::TICK);
    }
    let again = p.world.borrow_mut().queue.pop_front().unwrap();
    assert!(matches!(
        Message::decode(&again.2),
        Ok(Message::Ask { ask: 2, .. })
    ));
    // Then both asks reach B, which answers both.
    p.b.on_message(&first.0, &first.2);
    p.b.on_message(&again.0, &again.2);
    p.run(3_600_000);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Completed, "{row}");
    assert_eq!((row.recovered, row.refused), (50, 0));
}

/// B answers every ask with an empty `Done{}`: nothing sent, deferred or
/// ruled out. A asks again only at its own pace — never at once, as it
/// used to (2,500 asks a second, the whole row saved each time) — and
/// after five answers that moved nothing on ends FAILED with that cause,
/// its row saved no more often than it changed.
#[test]
fn a_party_answering_every_ask_with_nothing_is_paced_then_failed() {
    let lost: Vec<TxId> = (0..50).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "maxAllowedRequests = 3");
    automatic(&mut p.a);
    let saves_before = p.a_store.borrow().saves;
    let mut asks_seen = Vec::new();
    for _ in 0..10_000 {
        let next = p.world.borrow_mut().queue.pop_front();
        if let Some((_, to, payload)) = next {
            assert_eq!(to, B, "only A asks");
            let Ok(Message::Ask { request, ask, .. }) = Message::decode(&payload) else {
                panic!("an ask");
            };
            asks_seen.push(p.world.borrow().now);
            let done = Message::Done {
                request,
                ask,
                sent: 0,
                unavailable: vec![],
                deferred: vec![],
                retry_after_ms: 0,
            };
            p.a.on_message(B, &done.encode());
            continue;
        }
        let mut world = p.world.borrow_mut();
        world.timers.sort();
        if world.timers.is_empty() || p.row().status != RecoveryStatus::InProgress {
            break;
        }
        let (due, node, id) = world.timers.remove(0);
        world.now = world.now.max(due);
        drop(world);
        if node == A {
            p.a.on_timer(id);
        }
    }
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Failed, "{row}");
    assert!(row.error.contains("5 asks in a row"), "{}", row.error);
    assert_eq!(asks_seen.len(), 5, "asks: {asks_seen:?}");
    // Three asks an hour: the fourth waits for the window.
    assert!(
        asks_seen[3] - asks_seen[0] >= 3_600_000,
        "asks at {asks_seen:?}"
    );
    // The end is the one save: nothing else changed.
    let saves = p.a_store.borrow().saves - saves_before;
    assert!(saves <= 1, "{saves} saves of a row that did not change");
}

/// A recovery that cannot finish — the party defers everything, forever —
/// ends FAILED at `maxRecoveryDuration`, saying what is still outstanding.
#[test]
fn a_recovery_ends_at_its_overall_deadline() {
    let lost: Vec<TxId> = (0..5).map(tx).collect();
    let mut p = pair(
        &lost,
        &lost,
        &lost,
        "maxAllowedSizeInBytes = 1500\nmaxRecoveryDuration = 2H",
    );
    automatic(&mut p.a);
    p.run(3 * 3_600_000);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Failed, "{row}");
    assert!(
        row.error.contains("maxRecoveryDuration = 2 h"),
        "{}",
        row.error
    );
    assert!(row.error.contains("still outstanding"), "{}", row.error);
    assert!(row.recovered < 5, "{row}");
}

/// A responder reads no more transactions' bytes than it may send, give or
/// take one small read: once the party's size window is spent, the rest of
/// an ask is deferred unread. (It read every asked transaction first: 30
/// asks of 9 MB transactions exhausted the guest's memory.)
#[test]
fn a_responder_reads_no_more_bytes_than_its_size_window_sends() {
    let lost: Vec<TxId> = (0..30).map(tx).collect();
    let mut p = pair(
        &lost,
        &lost,
        &lost,
        "maxAllowedTransactions = 30\nmaxAllowedSizeInBytes = 3000",
    );
    automatic(&mut p.a);
    // Deliver the first ask only, and B's answer.
    let ask = p.world.borrow_mut().queue.pop_front().unwrap();
    p.b.on_message(&ask.0, &ask.2);
    let read = p.world.borrow().bytes_read;
    // Each transaction is 1,032 bytes; two fit the window, and one read is
    // at most eight transactions.
    assert!(read <= 8 * 1_032, "{read} bytes read to send at most 3,000");
    let mut sent = 0;
    let mut deferred = 0;
    while let Some((_, _, payload)) = p.world.borrow_mut().queue.pop_front() {
        match Message::decode(&payload).unwrap() {
            Message::Transactions { transactions, .. } => sent += transactions.len(),
            Message::Done { deferred: d, .. } => deferred = d.len(),
            _ => {}
        }
    }
    assert_eq!((sent, deferred), (2, 28));
}

/// A transaction that arrives before its dependency is held aside, and
/// the dependency it waits on is asked for next, before the rest of what
/// is outstanding: the back-chain closes at the next ask, not at the end.
#[test]
fn what_a_held_transaction_waits_on_is_asked_for_next() {
    let lost: Vec<TxId> = (1..=6).map(tx).collect();
    let mut p = pair(&lost, &lost, &lost, "maxAllowedTransactions = 1");
    // 2 spends 6, the last in the order the reconciliation found them.
    p.a.node_mut().deps.insert(tx(2), vec![tx(6)]);
    automatic(&mut p.a);
    p.run(3_600_000);
    let row = p.row();
    assert_eq!(row.status, RecoveryStatus::Completed, "{row}");
    assert_eq!(row.recovered, 6, "{row}");
    let order = p.world.borrow().recorded.clone();
    assert_eq!(
        order,
        [tx(1), tx(6), tx(2), tx(3), tx(4), tx(5)],
        "6 asked for right after 2 was held aside, 2 recorded with it"
    );
}
