//! One seed from start to figures — draw, set up, act, settle, check —
//! and many seeds on threads.

use super::faults::{QueuedAtCrash, restart, step_fault};
use super::invariants::{check_dones, final_checks};
use super::scenario::{Run, Scenario};
use super::{FaultMix, SeedReport, Summary};
use crate::ledger::rng;
use anyhow::{Context, Result};
use ledger_sync_host::PluginRuntime;
use ledger_sync_vocabulary::rng::SplitMix64;
use std::sync::Arc;

/// How long the operators act, in virtual time, and at most how many steps.
const ACTING_MS: u64 = 30 * 60_000;
const MAX_STEPS: u64 = 100_000;

/// Runs one seed and checks every invariant.
pub fn run_seed(runtime: &Arc<PluginRuntime>, seed: u64, mix: FaultMix) -> Result<SeedReport> {
    let mut r = rng(seed ^ 0x5eed_5eed);
    let mut report = SeedReport {
        seed,
        ..SeedReport::default()
    };
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let scenario = Scenario::draw(seed, &mut r);
    report.nodes = scenario.parties.len();
    report.transactions = scenario.transactions;
    let mut run = Run::set_up(runtime, &scenario, mix, seed, &mut r, dir.path())?;
    // Let the graphs build, then act for a while of virtual time.
    run.net.run_for(1_000);
    let start = run.net.now_ms();
    let mut queued_at_crash = QueuedAtCrash::new();
    act(
        &mut run,
        &scenario,
        &mut r,
        &mut queued_at_crash,
        &mut report,
    )?;
    settle(
        &mut run,
        &scenario,
        start,
        &mut queued_at_crash,
        &mut report,
    )?;
    final_checks(
        &mut run.net,
        &scenario.parties,
        &scenario.held,
        &scenario.vaults,
        &run.faults,
        &mut report,
    );
    for (kind, n) in &run.faults.borrow().counts {
        *report.faults.entry(kind).or_default() += n;
    }
    // The reconciliations' figures, before recovery adds its own traffic.
    report.traffic_digest = run.faults.borrow().digest;
    report.messages = run.net.traffic().messages;
    report.bytes = run.net.traffic().bytes;
    super::recovery::recovery_step(&mut run, &scenario, dir.path(), &mut report)?;
    Ok(report)
}

/// The operators act, and faults strike, one random step at a time (most
/// steps nothing), checking each `Done` as it is sent.
fn act(
    run: &mut Run,
    scenario: &Scenario,
    r: &mut SplitMix64,
    queued_at_crash: &mut QueuedAtCrash,
    report: &mut SeedReport,
) -> Result<()> {
    let parties = &scenario.parties;
    let start = run.net.now_ms();
    let mut steps = 0u64;
    while run.net.now_ms() < start + ACTING_MS && steps < MAX_STEPS {
        steps += 1;
        *run.clock.borrow_mut() = run.net.now_ms();
        let roll = r.below(1_000);
        let node = parties[r.below(parties.len() as u64) as usize].clone();
        if let Some(failure) = operator_acts(run, &node, roll, parties, r) {
            report.violation(format!("a flow trapped in {node}: {failure:?}"));
        }
        step_fault(run, &node, roll, parties, r, queued_at_crash, report)?;
        let horizon = run.net.now_ms() + 1 + r.below(5_000);
        if !run.net.step_until(horizon) {
            run.net.run_for(horizon - run.net.now_ms());
        }
        let held = (&scenario.held, &scenario.vaults);
        check_dones(&mut run.net, &run.faults, held.0, held.1, report);
    }
    Ok(())
}

/// The operator's flow of one step, if `roll` names one: schedule some
/// parties, stop one, or refresh. A call that trapped, if one did.
fn operator_acts(
    run: &mut Run,
    node: &str,
    roll: u64,
    parties: &[String],
    r: &mut SplitMix64,
) -> Option<ledger_sync_host::PluginFailure> {
    let net = &mut run.net;
    match roll {
        0..=14 if net.is_running(node) => {
            let others: Vec<String> = parties
                .iter()
                .filter(|p| **p != node && r.chance(0.6))
                .cloned()
                .collect();
            if others.is_empty() {
                None
            } else {
                net.node(node).schedule_reconciliation(&others).err()
            }
        }
        15 if net.is_running(node) => {
            let other = parties[r.below(parties.len() as u64) as usize].clone();
            net.node(node).stop_reconciliation_for_party(&other).err()
        }
        16 if net.is_running(node) => net.node(node).refresh_reconciliation_statuses().err(),
        _ => None,
    }
}

/// Heals everything and lets every reconciliation end: three quiet spells
/// of twice the longest timeout in a row, or two virtual days.
fn settle(
    run: &mut Run,
    scenario: &Scenario,
    start: u64,
    queued_at_crash: &mut QueuedAtCrash,
    report: &mut SeedReport,
) -> Result<()> {
    {
        let mut faults = run.faults.borrow_mut();
        faults.partitions.clear();
        faults.loss = 0.0;
        faults.lose_next = None;
    }
    for p in &scenario.parties {
        if !run.net.is_running(p) {
            restart(&mut run.net, p, &scenario.parties, queued_at_crash, report)?;
        }
        run.net.set_write_fault(p, None);
    }
    let mut quiet = 0;
    while quiet < 3 {
        *run.clock.borrow_mut() = run.net.now_ms();
        run.net.run_for(run.max_timeout * 2);
        check_dones(
            &mut run.net,
            &run.faults,
            &scenario.held,
            &scenario.vaults,
            report,
        );
        let busy = scenario.parties.iter().any(|p| {
            let m = run.net.node(p).metrics();
            m.is_ok_and(|m| {
                m.number_of_scheduled_reconciliations + m.number_of_reconciliations_in_progress > 0
            })
        });
        quiet = if busy { 0 } else { quiet + 1 };
        if run.net.now_ms() > start + 48 * 3_600_000 {
            break;
        }
    }
    Ok(())
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
