//! The seeded whole-network simulation behind `ledger-sync simulate`, in the
//! style of FoundationDB's simulation and TigerBeetle's VOPR.
//!
//! A seed names everything: a random multi-party ledger with back-chains, a
//! node restored from a backup, each node's configuration, the flows the
//! operators start and when, and the faults — message loss (random and
//! targeted), delay and jitter that keep per-pair order, partitions and
//! heals, crashes and restarts at any event, storage write failures, clock
//! jumps, and a hostile peer sending garbage, replays, forged sessions,
//! oversize claims and floods. The real component runs in every node.
//!
//! Invariants are checked as the run goes and at its end, against an oracle
//! computed here, independently of the plugin ([`crate::ledger::reconciliation_set`]):
//! - no wrong id list is ever recorded (checked at every `Done`, when the
//!   requester records its result, and at the end);
//! - no reconciliation is left IN_PROGRESS once the network is quiet for
//!   longer than the inactivity timeout (none stuck);
//! - no trap and no host error;
//! - guest memory stays within a stated bound;
//! - no status row names the node itself or a party the network does not
//!   know;
//! - `Done` carries nothing (the responder learns nothing of the requester's
//!   gaps);
//! - every job queued or running when a node crashes is scheduled again
//!   after its restart.
//!
//! The same seed replays byte for byte: nothing here reads the wall clock or
//! the system's randomness.

use crate::ledger::{multi_party_ledger, reconciliation_set, rng};
use crate::network::{Envelope, Fate, Network};
use anyhow::{Context, Result};
use ledger_sync_host::store::vault::{Vault, VaultTransaction};
use ledger_sync_host::{NodeOptions, PluginRuntime};
use ledger_sync_plugin::protocol::{Body, Frame, SessionId, StreamHeader};
use ledger_sync_vocabulary::rng::{SplitMix64, mix64};
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue, TxId};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;
use std::sync::Arc;

/// The hostile peer every simulated network has: known to the network, it
/// runs no plugin and says whatever the seed makes it say.
pub const MALLORY: &str = "O=Mallory, L=Nowhere, C=XX";

/// A name the network does not know, used as a forged sender.
const NOBODY: &str = "O=Nobody, L=Nowhere, C=XX";

/// Guest memory no simulated node may exceed (its ledgers are small).
pub const MEMORY_BOUND_BYTES: usize = 64 << 20;

/// What kind of faults a run injects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultMix {
    /// Every kind, each seed picking its own rates.
    All,
    /// Only random message loss at this rate, for measuring completion
    /// under loss.
    LossOnly(f64),
}

/// One seed's figures.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    pub seed: u64,
    pub nodes: usize,
    pub transactions: usize,
    /// Reconciliations that ended (outgoing rows), by outcome.
    pub completed: u64,
    pub failed_by_cause: BTreeMap<String, u64>,
    pub stopped: u64,
    /// Results checked against the oracle.
    pub results_checked: u64,
    pub faults: BTreeMap<&'static str, u64>,
    /// Invariant violations: empty when the seed passed.
    pub violations: Vec<String>,
    pub messages: u64,
    pub bytes: u64,
    /// A digest of every message sent, in order: the same seed gives the
    /// same digest (replays are byte for byte).
    pub traffic_digest: u64,
}

impl SeedReport {
    fn fault(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < 20 {
            self.violations.push(what);
        }
    }
}

/// Sums of many seeds.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seeds: u64,
    pub failed_seeds: Vec<(u64, String)>,
    pub completed: u64,
    pub failed_by_cause: BTreeMap<String, u64>,
    pub stopped: u64,
    pub results_checked: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub messages: u64,
    pub bytes: u64,
}

impl Summary {
    pub fn add(&mut self, report: &SeedReport) {
        self.seeds += 1;
        if let Some(first) = report.violations.first() {
            self.failed_seeds.push((report.seed, first.clone()));
        }
        self.completed += report.completed;
        for (cause, n) in &report.failed_by_cause {
            *self.failed_by_cause.entry(cause.clone()).or_default() += n;
        }
        self.stopped += report.stopped;
        self.results_checked += report.results_checked;
        for (kind, n) in &report.faults {
            *self.faults.entry(kind).or_default() += n;
        }
        self.messages += report.messages;
        self.bytes += report.bytes;
    }

    pub fn failed(&self) -> u64 {
        self.failed_by_cause.values().sum()
    }
}

/// A short name for a FAILED row's cause, for the figures.
fn cause_of(error: &str) -> String {
    let causes = [
        ("no message from", "inactivity timeout"),
        ("timed out waiting", "inactivity timeout at the party"),
        ("not decoded within", "not decoded within its bounds"),
        ("is busy", "party busy"),
        ("gave up after", "party busy past the retry timeout"),
        (
            "MaxIncomingSessionsExceeded",
            "party busy past the retry timeout",
        ),
        ("requests per", "request window"),
        ("restarted", "node restarted mid-reconciliation"),
        ("could not save", "storage fault"),
        ("storage", "storage fault"),
        ("stopped", "stopped by the party"),
        ("re-sending", "resend budget"),
        ("no record of this reconciliation", "party lost the session"),
        ("not initialised", "ledger graph not initialised"),
        ("protocol violation", "protocol violation"),
    ];
    if let Some((_, why)) = error.split_once(" aborted: ") {
        return format!("aborted by the party: {}", cause_of(why));
    }
    causes
        .iter()
        .find(|(needle, _)| error.contains(needle))
        .map_or_else(
            || format!("other: {}", error.chars().take(80).collect::<String>()),
            |(_, cause)| cause.to_string(),
        )
}

/// What the fault hook consults: the rates a seed picked and the partition
/// in force.
struct FaultState {
    rng: SplitMix64,
    loss: f64,
    jitter_ms: u64,
    /// Pairs cut until the given time.
    partitions: Vec<(String, String, u64)>,
    /// Targeted loss: the next message of this kind is lost.
    lose_next: Option<&'static str>,
    now: Rc<RefCell<u64>>,
    counts: BTreeMap<&'static str, u64>,
    /// Frames seen, for the hostile peer's replays (bounded).
    captured: Vec<Vec<u8>>,
    /// (requester, responder) pairs that just sent `Done`.
    dones: Vec<(String, String)>,
    /// A `Done` with a body other than nothing.
    leaky_done: Option<String>,
    /// Folds every message sent, in order.
    digest: u64,
}

fn kind_of(payload: &[u8]) -> &'static str {
    match Frame::decode(payload).map(|f| f.body) {
        Ok(Body::Request { .. }) => "request",
        Ok(Body::Symbols { .. }) => "symbols",
        Ok(Body::Want { .. }) => "want",
        Ok(Body::Progress { .. }) => "progress",
        Ok(Body::Done) => "done",
        Ok(Body::Identical) => "identical",
        Ok(Body::Roots { .. }) => "roots",
        Ok(Body::Refused(_)) => "refused",
        Ok(Body::Abort { .. }) => "abort",
        Err(_) => "garbage",
    }
}

impl FaultState {
    fn decide(&mut self, envelope: &Envelope) -> Fate {
        for part in [
            envelope.from.as_bytes(),
            envelope.to.as_bytes(),
            &envelope.payload,
        ] {
            for chunk in part.chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                self.digest = mix64(self.digest ^ u64::from_le_bytes(word));
            }
            self.digest = mix64(self.digest ^ part.len() as u64);
        }
        let kind = kind_of(&envelope.payload);
        if kind == "done" {
            self.dones
                .push((envelope.from.clone(), envelope.to.clone()));
            // A `Done` is the version, the session id and the tag: nothing
            // that could depend on the requester's vault.
            let bare = Frame::new(SessionId([0; 16]), Body::Done).encode().len();
            if envelope.payload.len() != bare {
                self.leaky_done = Some(envelope.from.clone());
            }
        }
        if self.captured.len() < 64 && envelope.from != MALLORY {
            self.captured.push(envelope.payload.clone());
        }
        let now = *self.now.borrow();
        if self.partitions.iter().any(|(a, b, until)| {
            now < *until
                && ((envelope.from == *a && envelope.to == *b)
                    || (envelope.from == *b && envelope.to == *a))
        }) {
            *self.counts.entry("partition drop").or_default() += 1;
            return Fate::Drop;
        }
        if self.lose_next == Some(kind) {
            self.lose_next = None;
            *self.counts.entry("targeted loss").or_default() += 1;
            return Fate::Drop;
        }
        if self.loss > 0.0 && self.rng.chance(self.loss) {
            *self.counts.entry("random loss").or_default() += 1;
            return Fate::Drop;
        }
        if self.jitter_ms > 0 {
            let delay = self.rng.below(self.jitter_ms + 1);
            if delay > 0 {
                *self.counts.entry("delay").or_default() += 1;
            }
            return Fate::Delay(delay);
        }
        Fate::Deliver
    }
}

/// Runs one seed and checks every invariant.
pub fn run_seed(runtime: &Arc<PluginRuntime>, seed: u64, mix: FaultMix) -> Result<SeedReport> {
    let mut r = rng(seed ^ 0x5eed_5eed);
    let mut report = SeedReport {
        seed,
        ..SeedReport::default()
    };
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let node_count = 2 + r.below(3) as usize;
    let parties: Vec<String> = (0..node_count)
        .map(|i| format!("O=Party{i}, L=Sim, C=GB"))
        .collect();
    let n = 30 + r.below(270) as usize;
    let ledger = multi_party_ledger(&parties, n, seed, &mut r);
    report.nodes = node_count;
    report.transactions = n;

    // Party 0 restores from a backup: it lost the last `lost` transactions
    // it had recorded.
    let mut vaults: BTreeMap<String, Vec<VaultTransaction>> = BTreeMap::new();
    for p in &parties {
        vaults.insert(p.clone(), ledger.vault_of(p));
    }
    let restored = parties[0].clone();
    {
        let vault = vaults.get_mut(&restored).expect("party 0");
        let lost = r.below(vault.len() as u64 / 2 + 1) as usize;
        vault.truncate(vault.len() - lost);
    }
    let held: BTreeMap<String, HashSet<TxId>> = vaults
        .iter()
        .map(|(p, v)| (p.clone(), v.iter().map(|t| t.id).collect()))
        .collect();

    let mut net = Network::new(runtime.clone());
    let (loss, jitter, all_faults) = match mix {
        FaultMix::All => {
            let loss = [0.0, 0.0, 0.01, 0.05, 0.1][r.below(5) as usize];
            let jitter = [0, 0, 5, 50, 2_000][r.below(5) as usize];
            (loss, jitter, true)
        }
        FaultMix::LossOnly(p) => (p, 0, false),
    };
    let latency = [0, 1, 10, 100][r.below(4) as usize];
    net.set_latency(latency);
    let mut timeouts = BTreeMap::new();
    for (i, p) in parties.iter().enumerate() {
        let path = dir.path().join(format!("node-{i}.db"));
        let conn = ledger_sync_host::store::open(&path)?;
        Vault::new(&conn).record(&vaults[p])?;
        drop(conn);
        let timeout_s = [30, 120, 600][r.below(3) as usize];
        timeouts.insert(p.clone(), timeout_s * 1000);
        let mut options = NodeOptions::new(p, path);
        options.seed = Some(seed.wrapping_mul(31).wrapping_add(i as u64));
        options.config = format!(
            "maxNumberOfParallelReconciliationRequests = {}\n\
             maxNumberOfIbfFilterFlows = {}\n\
             reconciliationInactivityTimeout = {timeout_s}S\n\
             maxReconciliationRetryAttemptTimeout = {}S\n\
             transactionReaderPageSize = {}\n",
            1 + r.below(4),
            [3, 5, 15][r.below(3) as usize],
            if all_faults {
                [0, 60, 600][r.below(3) as usize]
            } else {
                3_600
            },
            [10, 100][r.below(2) as usize],
        );
        net.add_node(options)?;
    }
    net.add_external_party(MALLORY);
    let max_timeout = timeouts.values().copied().max().unwrap_or(600_000);

    let clock = Rc::new(RefCell::new(net.now_ms()));
    let faults = Rc::new(RefCell::new(FaultState {
        rng: rng(seed ^ 0xfa_017),
        loss,
        jitter_ms: jitter,
        partitions: Vec::new(),
        lose_next: None,
        now: clock.clone(),
        counts: BTreeMap::new(),
        captured: Vec::new(),
        dones: Vec::new(),
        leaky_done: None,
        digest: 0,
    }));
    let hook = faults.clone();
    net.set_faults(move |envelope| hook.borrow_mut().decide(envelope));

    // Let the graphs build, then act for a while of virtual time.
    net.run_for(1_000);
    let start = net.now_ms();
    let acting_ms = 30 * 60_000;
    let mut queued_at_crash: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut steps = 0u64;
    while net.now_ms() < start + acting_ms && steps < 100_000 {
        steps += 1;
        *clock.borrow_mut() = net.now_ms();
        // One random action per step, most steps none.
        let roll = r.below(1_000);
        let node = parties[r.below(parties.len() as u64) as usize].clone();
        let flow_trap = match roll {
            0..=14 if net.is_running(&node) => {
                let others: Vec<String> = parties
                    .iter()
                    .filter(|p| **p != node && r.chance(0.6))
                    .cloned()
                    .collect();
                if others.is_empty() {
                    None
                } else {
                    net.node(&node).schedule_reconciliation(&others).err()
                }
            }
            15 if net.is_running(&node) => {
                let other = parties[r.below(parties.len() as u64) as usize].clone();
                net.node(&node).stop_reconciliation_for_party(&other).err()
            }
            16 if net.is_running(&node) => net.node(&node).refresh_reconciliation_statuses().err(),
            _ => None,
        };
        if let Some(failure) = flow_trap {
            report.violation(format!("a flow trapped in {node}: {failure:?}"));
        }
        match roll {
            17..=18 if all_faults && net.is_running(&node) => {
                report.fault("crash and restart");
                let queue = pending_jobs(&mut net, &node)?;
                net.crash_node(&node);
                queued_at_crash.insert(node.clone(), queue);
                if r.chance(0.5) {
                    restart(&mut net, &node, &mut queued_at_crash, &mut report)?;
                }
            }
            19..=20 if all_faults && !net.is_running(&node) => {
                restart(&mut net, &node, &mut queued_at_crash, &mut report)?;
            }
            21 if all_faults => {
                let other = parties[r.below(parties.len() as u64) as usize].clone();
                if other != node {
                    report.fault("partition");
                    let until = net.now_ms() + r.below(3 * max_timeout);
                    faults.borrow_mut().partitions.push((node, other, until));
                }
            }
            22 if all_faults => {
                report.fault("storage failure");
                net.set_storage_fault(&node, Some("simulated disk failure".into()));
            }
            23..=25 if all_faults => net.set_storage_fault(&node, None),
            26 if all_faults => {
                report.fault("clock jump");
                let jump = r.below(2 * max_timeout) as i64 - max_timeout as i64;
                net.jump_clock(&node, jump);
            }
            27 if all_faults => {
                report.fault("targeted loss");
                let kind = ["request", "symbols", "want", "done", "refused"][r.below(5) as usize];
                faults.borrow_mut().lose_next = Some(kind);
            }
            28..=33 if all_faults => {
                hostile(&mut net, &node, &mut r, &faults, &mut report);
            }
            _ => {}
        }
        let horizon = net.now_ms() + 1 + r.below(5_000);
        if !net.step_until(horizon) {
            net.run_for(horizon - net.now_ms());
        }
        check_dones(&mut net, &faults, &held, &vaults, &mut report);
    }

    // Heal everything and let every reconciliation end.
    faults.borrow_mut().partitions.clear();
    faults.borrow_mut().loss = 0.0;
    faults.borrow_mut().lose_next = None;
    for p in &parties {
        if !net.is_running(p) {
            restart(&mut net, p, &mut queued_at_crash, &mut report)?;
        }
        net.set_storage_fault(p, None);
    }
    let mut quiet = 0;
    while quiet < 3 {
        *clock.borrow_mut() = net.now_ms();
        net.run_for(max_timeout * 2);
        check_dones(&mut net, &faults, &held, &vaults, &mut report);
        let busy = parties.iter().any(|p| {
            let m = net.node(p).metrics();
            m.is_ok_and(|m| {
                m.number_of_scheduled_reconciliations + m.number_of_reconciliations_in_progress > 0
            })
        });
        quiet = if busy { 0 } else { quiet + 1 };
        if net.now_ms() > start + 48 * 3_600_000 {
            break;
        }
    }

    final_checks(&mut net, &parties, &held, &vaults, &faults, &mut report);
    for (kind, n) in &faults.borrow().counts {
        *report.faults.entry(kind).or_default() += n;
    }
    report.traffic_digest = faults.borrow().digest;
    report.messages = net.traffic().messages;
    report.bytes = net.traffic().bytes;
    Ok(report)
}

/// Parties a node has queued or running outgoing, from its database and
/// its rows: what must be scheduled again after a crash.
fn pending_jobs(net: &mut Network, node: &str) -> Result<Vec<String>> {
    let mut store = ledger_sync_host::store::connect(
        net.node(node)
            .database()
            .expect("the simulation keeps each vault in a database"),
    )?;
    let mut jobs = store.load_scheduled()?;
    for row in store.load_statuses()? {
        if row.is_requester && row.last_reconciliation_status == StatusValue::InProgress {
            jobs.push(row.party_name);
        }
    }
    Ok(jobs)
}

fn restart(
    net: &mut Network,
    node: &str,
    queued_at_crash: &mut BTreeMap<String, Vec<String>>,
    report: &mut SeedReport,
) -> Result<()> {
    net.restart_node(node, None)?;
    for party in queued_at_crash.remove(node).unwrap_or_default() {
        let scheduled = net
            .node(node)
            .is_reconciliation_scheduled_for_party(&party)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .unwrap_or(false);
        if !scheduled {
            report.violation(format!(
                "{node} lost its job for {party} across a restart (queued or running at the crash)"
            ));
        }
    }
    Ok(())
}

/// The hostile peer acts: garbage, a replay, a forged session, an oversize
/// claim, a flood, or a message under a name the network does not know.
fn hostile(
    net: &mut Network,
    node: &str,
    r: &mut SplitMix64,
    faults: &Rc<RefCell<FaultState>>,
    report: &mut SeedReport,
) {
    let session = SessionId::from_random(r.next_u64(), r.next_u64());
    match r.below(7) {
        0 => {
            report.fault("hostile: garbage");
            let mut junk = vec![0u8; r.below(200) as usize];
            r.fill_bytes(&mut junk);
            net.inject(MALLORY, node, junk);
        }
        1 => {
            let frame = {
                let captured = &faults.borrow().captured;
                (!captured.is_empty())
                    .then(|| captured[r.below(captured.len() as u64) as usize].clone())
            };
            if let Some(frame) = frame {
                report.fault("hostile: replay");
                net.inject(MALLORY, node, frame);
            }
        }
        2 => {
            report.fault("hostile: forged session");
            let body = match r.below(4) {
                0 => Body::Want {
                    from: 0,
                    until: u32::MAX,
                },
                1 => Body::Done,
                2 => Body::Abort {
                    to_responder: r.chance(0.5),
                    reason: "forged".into(),
                },
                _ => Body::Symbols {
                    start: 0,
                    header: None,
                    symbols: vec![0; 37 * 4],
                },
            };
            net.inject(MALLORY, node, Frame::new(session, body).encode());
        }
        3 => {
            report.fault("hostile: oversize claim");
            let body = if r.chance(0.5) {
                Body::Request {
                    salt: r.next_u64(),
                    until: u32::MAX,
                    digest: Some(r.next_u64()),
                    roots_bits: u8::MAX,
                    set_size: u64::MAX,
                }
            } else if r.chance(0.5) {
                Body::Roots {
                    filter: ledger_sync_plugin::root_filter::RootFilter {
                        count: u32::MAX,
                        bits: 40,
                        data: vec![0xff; 4_000],
                    },
                }
            } else {
                Body::Symbols {
                    start: 0,
                    header: Some(StreamHeader {
                        responder_set_size: 1 << 31,
                        stream_limit: u32::MAX,
                    }),
                    symbols: vec![1; 37 * 100],
                }
            };
            net.inject(MALLORY, node, Frame::new(session, body).encode());
        }
        4 => {
            report.fault("hostile: flood");
            for k in 0..200 {
                let frame = Frame::new(
                    SessionId::from_random(r.next_u64(), k),
                    Body::Request {
                        salt: k,
                        until: 1 << 20,
                        digest: None,
                        roots_bits: 0,
                        set_size: 0,
                    },
                );
                net.inject(MALLORY, node, frame.encode());
            }
        }
        5 => {
            report.fault("hostile: unknown sender");
            net.inject(NOBODY, node, plain_request(session));
        }
        _ => {
            report.fault("hostile: sender is the node itself");
            net.inject(node, node, plain_request(session));
        }
    }
}

/// An ordinary first request, for the cases where only its sender is wrong.
fn plain_request(session: SessionId) -> Vec<u8> {
    let body = Body::Request {
        salt: 1,
        until: 16,
        digest: None,
        roots_bits: 0,
        set_size: 0,
    };
    Frame::new(session, body).encode()
}

/// The oracle: what `requester` lacks of what `party` holds for it.
fn expected_missing(
    requester: &str,
    party: &str,
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
) -> Vec<TxId> {
    let mut ids: Vec<TxId> = reconciliation_set(&vaults[party], requester)
        .into_iter()
        .filter(|id| !held[requester].contains(id))
        .collect();
    ids.sort_unstable();
    ids
}

fn check_row(
    row: &ReconciliationStatus,
    requester: &str,
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
    report: &mut SeedReport,
) {
    let Some(status) = row.last_successful_reconciliation_status else {
        return;
    };
    if !vaults.contains_key(&row.party_name) {
        return; // Mallory's answers are whatever she says
    }
    let want = expected_missing(requester, &row.party_name, held, vaults);
    report.results_checked += 1;
    let got = &row.last_successful_reconciliation_result;
    let consistent = match status {
        StatusValue::DifferencesFound => !got.is_empty(),
        _ => got.is_empty(),
    };
    if *got != want || !consistent {
        report.violation(format!(
            "WRONG RESULT at {requester} for {}: {status} with {} ids, the oracle says {}",
            row.party_name,
            got.len(),
            want.len()
        ));
    }
}

/// Checks the result every requester that just sent `Done` recorded.
fn check_dones(
    net: &mut Network,
    faults: &Rc<RefCell<FaultState>>,
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
    report: &mut SeedReport,
) {
    let dones = std::mem::take(&mut faults.borrow_mut().dones);
    for (requester, party) in dones {
        if !net.is_running(&requester) {
            continue;
        }
        if let Ok(Ok(Some(row))) = net
            .node(&requester)
            .get_reconciliation_status_for_party(&party, true)
        {
            check_row(&row, &requester, held, vaults, report);
        }
    }
}

fn final_checks(
    net: &mut Network,
    parties: &[String],
    held: &BTreeMap<String, HashSet<TxId>>,
    vaults: &BTreeMap<String, Vec<VaultTransaction>>,
    faults: &Rc<RefCell<FaultState>>,
    report: &mut SeedReport,
) {
    let known: BTreeSet<&str> = parties
        .iter()
        .map(String::as_str)
        .chain([MALLORY])
        .collect();
    if let Some(who) = faults.borrow().leaky_done.clone() {
        report.violation(format!("{who} sent a Done that says more than Done"));
    }
    for failure in net.failures() {
        report.violation(format!("trap in {}: {:?}", failure.node, failure.failure));
    }
    for p in parties {
        let memory = net.node(p).peak_memory_bytes();
        if memory > MEMORY_BOUND_BYTES {
            report.violation(format!("{p} used {memory} bytes of guest memory"));
        }
        let rows = crate::testkit::stored_statuses(net, p);
        for row in rows {
            if row.party_name == *p || !known.contains(row.party_name.as_str()) {
                report.violation(format!(
                    "{p} has a status row for {}, {}",
                    row.party_name,
                    if row.party_name == *p {
                        "itself"
                    } else {
                        "a party the network does not know"
                    }
                ));
            }
            if row.last_reconciliation_status == StatusValue::InProgress {
                report.violation(format!(
                    "STUCK: {p}'s row for {} (requester: {}) is IN_PROGRESS after the network \
                     went quiet",
                    row.party_name, row.is_requester
                ));
            }
            if !row.is_requester {
                continue;
            }
            match row.last_reconciliation_status {
                StatusValue::DifferencesFound | StatusValue::DifferencesNotFound => {
                    report.completed += 1
                }
                StatusValue::Failed => {
                    *report
                        .failed_by_cause
                        .entry(cause_of(&row.last_reconciliation_error))
                        .or_default() += 1
                }
                StatusValue::Stopped => report.stopped += 1,
                StatusValue::InProgress => {}
            }
            check_row(&row, p, held, vaults, report);
        }
    }
}

/// Runs `seeds` on `threads` threads, each seed on its own network.
pub fn run_many(
    runtime: &Arc<PluginRuntime>,
    seeds: impl Iterator<Item = u64> + Send,
    mix: FaultMix,
    threads: usize,
    mut progress: impl FnMut(&SeedReport) + Send,
) -> Result<Summary> {
    let seeds = std::sync::Mutex::new(seeds);
    let (tx, rx) = std::sync::mpsc::channel::<Result<SeedReport>>();
    let mut summary = Summary::default();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let tx = tx.clone();
            let seeds = &seeds;
            scope.spawn(move || {
                loop {
                    let Some(seed) = seeds.lock().expect("seeds").next() else {
                        break;
                    };
                    let result = run_seed(runtime, seed, mix);
                    if tx.send(result).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for result in rx {
            let report = result?;
            progress(&report);
            summary.add(&report);
        }
        Ok::<(), anyhow::Error>(())
    })?;
    summary.failed_seeds.sort();
    Ok(summary)
}
