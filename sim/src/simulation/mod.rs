//! The seeded whole-network simulation behind `ledger-sync simulate`, in the
//! style of FoundationDB's simulation and TigerBeetle's VOPR.
//!
//! A seed names everything: a random multi-party ledger with back-chains, a
//! node restored from a backup, each node's configuration, the flows the
//! operators start and when, and the faults — message loss (random and
//! targeted), delay and jitter that keep per-pair order, duplicates (the
//! copy later, so frames cross on the wire), partitions and heals, crashes
//! and restarts at any event (several in a row), storage write failures
//! (all writes, or rows or the queue only, kept across restarts), clock
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
//!   after its restart, and none whose outcome was stored runs again;
//! - no honest node records a protocol violation with another, whatever
//!   the network does to their frames.
//!
//! The same seed replays byte for byte: nothing here reads the wall clock or
//! the system's randomness.

//!
//! One file per job:
//! - [`scenario`]: what a seed draws — the ledger, the restored node, each
//!   node's configuration — and the network set up from it;
//! - [`faults`]: the fault hook on every message (loss, delay, partitions,
//!   targeted loss), the operators' actions and faults of one step, and
//!   restarts;
//! - [`hostile`]: what the hostile peer sends;
//! - [`invariants`]: the oracle and every check;
//! - [`runner`]: one seed from start to figures, and many on threads.

use std::collections::BTreeMap;

mod faults;
mod hostile;
mod invariants;
mod recovery;
mod runner;
mod scenario;

pub use hostile::MALLORY;
pub use invariants::MEMORY_BOUND_BYTES;
pub use runner::{run_many, run_seed};

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
    /// Recoveries run and checked against the oracle (the last step).
    pub recoveries_checked: u64,
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
    pub(crate) fn fault(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    pub(crate) fn violation(&mut self, what: String) {
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
    pub recoveries_checked: u64,
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
        self.recoveries_checked += report.recoveries_checked;
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
pub(crate) fn cause_of(error: &str) -> String {
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
