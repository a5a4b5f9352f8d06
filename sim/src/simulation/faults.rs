//! Faults: the hook every message passes (what it does to each), and
//! crashes and restarts.

use super::SeedReport;
use super::hostile::MALLORY;
use crate::network::{Envelope, Fate, Network};
use anyhow::Result;
use ledger_sync_host::WriteFault;
use ledger_sync_plugin::protocol::{Body, Frame, SessionId};
use ledger_sync_vocabulary::rng::{SplitMix64, mix64};
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// What the fault hook consults: the rates a seed picked and the partition
/// in force.
pub(super) struct FaultState {
    pub(super) rng: SplitMix64,
    pub(super) loss: f64,
    /// Messages delivered twice, the copy later (see `Fate::Duplicate`).
    pub(super) duplicate: f64,
    pub(super) jitter_ms: u64,
    /// Pairs cut until the given time.
    pub(super) partitions: Vec<(String, String, u64)>,
    /// Targeted loss: the next message of this kind is lost.
    pub(super) lose_next: Option<&'static str>,
    pub(super) now: Rc<RefCell<u64>>,
    pub(super) counts: BTreeMap<&'static str, u64>,
    /// Frames seen, for the hostile peer's replays (bounded).
    pub(super) captured: Vec<Vec<u8>>,
    /// (requester, responder) pairs that just sent `Done`.
    pub(super) dones: Vec<(String, String)>,
    /// A `Done` with a body other than nothing.
    pub(super) leaky_done: Option<String>,
    /// Folds every message sent, in order.
    pub(super) digest: u64,
}

fn kind_of(payload: &[u8]) -> &'static str {
    match Frame::decode(payload).map(|f| f.body) {
        Ok(Body::Request { .. }) => "request",
        Ok(Body::Symbols { .. }) => "symbols",
        Ok(Body::Want { .. }) => "want",
        Ok(Body::Progress { .. }) => "progress",
        Ok(Body::Done) => "done",
        Ok(Body::Identical { .. }) => "identical",
        Ok(Body::Roots { .. }) => "roots",
        Ok(Body::Refused(_)) => "refused",
        Ok(Body::Abort { .. }) => "abort",
        Err(_) => "garbage",
    }
}

impl FaultState {
    pub(super) fn decide(&mut self, envelope: &Envelope) -> Fate {
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
        if self.duplicate > 0.0 && self.rng.chance(self.duplicate) {
            *self.counts.entry("duplicate, the copy later").or_default() += 1;
            return Fate::Duplicate(1 + self.rng.below(3_000));
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

/// What a node held when it crashed, to check its restart against.
#[derive(Default)]
pub(super) struct AtCrash {
    /// Parties it had queued or running outgoing, as the plugin itself saw
    /// them (a job whose writes the store refused is still its job):
    /// each must be scheduled again after the restart.
    pending: BTreeSet<String>,
    /// Parties whose outgoing row the store held differently from the
    /// plugin (the outcome, or the start, was not stored): running such a
    /// job again is the restart rule, not a second run. `None` when the
    /// plugin could not be asked (it had failed): then nothing is known.
    unstored: Option<BTreeSet<String>>,
}

/// What `node` holds before it crashes: its jobs from the plugin's own
/// view (or, if the plugin cannot answer, from its database: the saved
/// queue and the outgoing rows IN_PROGRESS), and which outgoing rows its
/// store held otherwise than the plugin.
pub(super) fn at_crash(net: &mut Network, node: &str, parties: &[String]) -> Result<AtCrash> {
    let mut store = ledger_sync_host::store::connect(
        net.node(node)
            .database()
            .expect("the simulation keeps each vault in a database"),
    )?;
    let stored: BTreeMap<String, ReconciliationStatus> = store
        .load_statuses()?
        .into_iter()
        .filter(|row| row.is_requester)
        .map(|row| (row.party_name.clone(), row))
        .collect();
    let mut seen = AtCrash::default();
    let mut unstored = BTreeSet::new();
    let live = net.node(node).get_reconciliation_statuses(None, None, true);
    for party in parties.iter().filter(|p| *p != node) {
        match net.node(node).is_reconciliation_scheduled_for_party(party) {
            Ok(Ok(true)) => {
                seen.pending.insert(party.clone());
            }
            Ok(Ok(false)) => {}
            _ => return from_database(&mut store, stored),
        }
    }
    let Ok(Ok(rows)) = live else {
        return from_database(&mut store, stored);
    };
    for row in rows.into_iter().filter(|row| row.is_requester) {
        let same = stored.get(&row.party_name).is_some_and(|s| {
            s.state_machine_id == row.state_machine_id
                && s.last_reconciliation_status == row.last_reconciliation_status
                && s.last_reconciliation_time_finished == row.last_reconciliation_time_finished
        });
        if !same {
            unstored.insert(row.party_name);
        }
    }
    seen.unstored = Some(unstored);
    Ok(seen)
}

/// A failed plugin's jobs, from its database alone.
fn from_database(
    store: &mut Box<dyn ledger_sync_host::store::NodeStore>,
    stored: BTreeMap<String, ReconciliationStatus>,
) -> Result<AtCrash> {
    let mut pending: BTreeSet<String> = store.load_scheduled()?.into_iter().collect();
    pending.extend(
        stored
            .into_values()
            .filter(|row| row.last_reconciliation_status == StatusValue::InProgress)
            .map(|row| row.party_name),
    );
    Ok(AtCrash {
        pending,
        unstored: None,
    })
}

/// Crashes `node`, noting what it held.
pub(super) fn crash(
    net: &mut Network,
    node: &str,
    parties: &[String],
    at_crash: &mut QueuedAtCrash,
) -> Result<()> {
    let seen = self::at_crash(net, node, parties)?;
    net.crash_node(node);
    at_crash.insert(node.to_string(), seen);
    Ok(())
}

/// Starts a crashed node again and checks the restart rule: every job it
/// held is scheduled again, and no job whose outcome was stored runs a
/// second time.
pub(super) fn restart(
    net: &mut Network,
    node: &str,
    parties: &[String],
    queued_at_crash: &mut BTreeMap<String, AtCrash>,
    report: &mut SeedReport,
) -> Result<()> {
    net.restart_node(node, None)?;
    let seen = queued_at_crash.remove(node).unwrap_or_default();
    let mut scheduled = BTreeSet::new();
    for party in parties.iter().filter(|p| *p != node) {
        let is = net
            .node(node)
            .is_reconciliation_scheduled_for_party(party)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .unwrap_or(false);
        if is {
            scheduled.insert(party.clone());
        }
    }
    for party in seen.pending.difference(&scheduled) {
        report.violation(format!(
            "{node} lost its job for {party} across a restart (queued or running at the crash)"
        ));
    }
    if let Some(unstored) = &seen.unstored {
        for party in scheduled.difference(&seen.pending) {
            if !unstored.contains(party) {
                report.violation(format!(
                    "{node} runs its job for {party} twice: its outcome was stored and it was \
                     neither queued nor running at the crash, yet it is queued after the restart"
                ));
            }
        }
    }
    Ok(())
}

/// What each crashed node held, to check after its restart.
pub(super) type QueuedAtCrash = BTreeMap<String, AtCrash>;

/// The fault of one step, if `roll` names one (a crash, a restart, a
/// partition, a storage failure or its end, a clock jump, a targeted loss,
/// the hostile peer acting): one in about 60 steps.
pub(super) fn step_fault(
    run: &mut super::scenario::Run,
    node: &str,
    roll: u64,
    parties: &[String],
    r: &mut SplitMix64,
    queued_at_crash: &mut QueuedAtCrash,
    report: &mut SeedReport,
) -> Result<()> {
    let net = &mut run.net;
    match roll {
        17..=18 if run.all_faults && net.is_running(node) => {
            report.fault("crash and restart");
            crash(net, node, parties, queued_at_crash)?;
            if r.chance(0.5) {
                restart(net, node, parties, queued_at_crash, report)?;
            }
        }
        19..=20 if run.all_faults && !net.is_running(node) => {
            restart(net, node, parties, queued_at_crash, report)?;
        }
        21 if run.all_faults => {
            let other = parties[r.below(parties.len() as u64) as usize].clone();
            if other != node {
                report.fault("partition");
                let until = net.now_ms() + r.below(3 * run.max_timeout);
                run.faults
                    .borrow_mut()
                    .partitions
                    .push((node.to_string(), other, until));
            }
        }
        22 if run.all_faults => {
            report.fault("storage failure");
            net.set_storage_fault(node, Some("simulated disk failure".into()));
        }
        23..=25 if run.all_faults => net.set_write_fault(node, None),
        26 if run.all_faults => {
            report.fault("clock jump");
            let jump = r.below(2 * run.max_timeout) as i64 - run.max_timeout as i64;
            net.jump_clock(node, jump);
        }
        27 if run.all_faults => {
            report.fault("targeted loss");
            let kind = ["request", "symbols", "want", "done", "refused"][r.below(5) as usize];
            run.faults.borrow_mut().lose_next = Some(kind);
        }
        34 if run.all_faults => {
            // One kind of write refused — rows or the queue — and kept
            // across restarts, as a full disk is.
            report.fault("storage failure of one kind");
            let rows = r.chance(0.5);
            let fault = WriteFault {
                message: "simulated disk failure".into(),
                rows,
                queue: !rows,
            };
            net.set_write_fault(node, Some(fault));
        }
        35..=36 if run.all_faults && net.is_running(node) => {
            // Restarts in a row, each before the store retry could run.
            report.fault("repeated restarts");
            for _ in 0..2 + r.below(2) {
                crash(net, node, parties, queued_at_crash)?;
                restart(net, node, parties, queued_at_crash, report)?;
            }
        }
        28..=33 if run.all_faults => {
            super::hostile::hostile(net, node, r, &run.faults, report);
        }
        _ => {}
    }
    Ok(())
}
