//! The multi-party profile: bytes on a ledger where parties trade with
//! several others and back-chains cross parties.
//!
//! The seed-profile pair ([`crate::generator`]) shares every transaction, so
//! the two sides' sets are equal but for what was lost. On a real network
//! they are not: the responder's set for us holds transactions that involve
//! us which it holds only as back-chains of its dealings with others. This
//! profile measures what finding the lost ids costs there.
//!
//! The ledger is the simulator's ([`ledger_sync_sim::ledger::multi_party_vaults`]):
//! each transaction has one to three of `parties` as participants and
//! consumes recent outputs of one of them. Party 0 is restored from a backup
//! that lacks its last `d` recorded transactions and reconciles with every
//! other party in turn; every result must be exactly what the seed's set
//! definition finds (the responder's transactions that involve party 0, with
//! their back-chains, that party 0 lost), checked by an independent oracle.

use crate::median;
use anyhow::{Context, Result, ensure};
use hashbrown::HashSet;
use ledger_sync_host::NodeOptions;
use ledger_sync_host::store::Database;
use ledger_sync_host::store::vault::VaultTransaction;
use ledger_sync_sim::ledger::{multi_party_vaults, reconciliation_set};
use ledger_sync_sim::network::Network;
use ledger_sync_vocabulary::TxId;
use std::path::Path;
use std::time::{Duration, Instant};

/// What one multi-party run measured, summed over the counterparties
/// (`case` "multi-party" in JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "case", rename = "multi-party")]
pub struct MultiPartyRow {
    pub n: u64,
    pub parties: u32,
    /// Transactions party 0's backup lacks.
    pub d: u64,
    /// Ids found, summed over the counterparties (one lost id held by two
    /// counterparties counts twice: each reconciliation finds it).
    pub found: u64,
    pub bytes: u64,
    /// Ids the requester decoded as held only by the responder.
    pub decoded: u64,
    /// Of those, ids the requester already held (dropped by the vault
    /// re-check): bytes spent on nothing.
    pub already_held: u64,
    /// The largest, over the counterparties, of bytes / (4 × 32 × found +
    /// 1 KiB): the target is ≤ 1.
    pub worst_target_ratio: f64,
    /// Median over the counterparties of one reconciliation's wall time.
    pub median_wall_s: f64,
}

impl MultiPartyRow {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row serialises")
    }

    pub fn to_table_line(&self) -> String {
        format!(
            "multi-party d={:<5} {} counterparties: {} found, {} B = {:.1} B/found; decoded {} \
             ({} already held); worst bytes/(4·32·found + 1 KiB) {:.2}; {:.3} s each",
            self.d,
            self.parties - 1,
            self.found,
            self.bytes,
            self.bytes_per_found(),
            self.decoded,
            self.already_held,
            self.worst_target_ratio,
            self.median_wall_s
        )
    }

    pub fn bytes_per_found(&self) -> f64 {
        self.bytes as f64 / self.found.max(1) as f64
    }
}

/// The name of party `k` of the profile.
pub fn party_name(k: u32) -> String {
    format!("O=Trader{k:03}, L=London, C=GB")
}

/// Runs the profile for each `d`: a ledger of `n` transactions among
/// `parties`, party 0 restored without its last `d`, reconciling with each
/// other party.
pub fn run(
    n: u64,
    parties: u32,
    ds: &[u64],
    seed: u64,
    dir: &Path,
    mut emit: impl FnMut(&MultiPartyRow),
) -> Result<Vec<MultiPartyRow>> {
    ensure!(
        parties >= 2,
        "the multi-party profile needs at least 2 parties, not {parties}"
    );
    let names: Vec<String> = (0..parties).map(party_name).collect();
    let vaults = multi_party_vaults(&names, n as usize, seed);
    let requester = &names[0];
    let mut rows = Vec::new();
    for &d in ds {
        let full = &vaults[0];
        ensure!(
            d as usize <= full.len(),
            "d = {d} is more than party 0's {} transactions",
            full.len()
        );
        let backup = &full[..full.len() - d as usize];
        let lost: HashSet<TxId> = full[backup.len()..].iter().map(|t| t.id).collect();

        let run_dir = dir.join(format!("multi-party-{n}-{seed}-{d}"));
        let mut net = network(&run_dir, &names, &vaults, backup, seed)?;
        let mut row = MultiPartyRow {
            n,
            parties,
            d,
            found: 0,
            bytes: 0,
            decoded: 0,
            already_held: 0,
            worst_target_ratio: 0.0,
            median_wall_s: 0.0,
        };
        let mut walls = Vec::new();
        for (k, responder) in names.iter().enumerate().skip(1) {
            let expected: HashSet<TxId> = reconciliation_set(&vaults[k], requester)
                .intersection(&lost)
                .copied()
                .collect();
            let Reconciled { found, wall_s, .. } =
                reconcile(&mut net, requester, responder, d, &expected)?;
            walls.push(wall_s);
            let bytes = net.traffic().bytes;
            let (decoded, held) = decoded_and_held(&net.node(requester).logs(), responder)?;
            row.found += found.len() as u64;
            row.bytes += bytes;
            row.decoded += decoded;
            row.already_held += held;
            let target = 4.0 * 32.0 * found.len() as f64 + 1024.0;
            row.worst_target_ratio = row.worst_target_ratio.max(bytes as f64 / target);
        }
        row.median_wall_s = median(walls);
        let _ = std::fs::remove_dir_all(&run_dir);
        emit(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// The network for one `d`: party 0 on its `backup`, every other party on
/// its whole vault, each in an SQLite file under `run_dir` (made afresh).
pub(crate) fn network(
    run_dir: &Path,
    names: &[String],
    vaults: &[Vec<VaultTransaction>],
    backup: &[VaultTransaction],
    seed: u64,
) -> Result<Network> {
    let _ = std::fs::remove_dir_all(run_dir);
    std::fs::create_dir_all(run_dir)?;
    let mut net = Network::new(ledger_sync_sim::builtin_plugin()?);
    for (k, name) in names.iter().enumerate() {
        let vault = if k == 0 { backup } else { &vaults[k][..] };
        let database = Database::Sqlite(run_dir.join(format!("party{k}.db")));
        ledger_sync_host::store::connect(&database)?
            .record(vault)
            .with_context(|| format!("writing the vault of {name}"))?;
        let mut options = NodeOptions::new(name, database);
        options.seed = Some(seed + k as u64);
        options.capture_logs = k == 0;
        net.add_node(options)?;
    }
    net.run_until_idle();
    Ok(net)
}

/// `node`'s ledger graph catching up with its vault (an empty
/// `shared-with` about `party`): how long it took.
pub(crate) fn catch_up(net: &mut Network, node: &str, party: &str) -> Result<Duration> {
    let started = Instant::now();
    net.node(node)
        .shared_with(party, &[])?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(started.elapsed())
}

/// What one reconciliation found, and what it took.
pub(crate) struct Reconciled {
    pub(crate) found: HashSet<TxId>,
    /// Its wall time on the simulated network.
    pub(crate) wall_s: f64,
    /// Time each side spent in its plugin's calls (the requester's
    /// `schedule-reconciliation` included): each node's guest runs on one
    /// thread, so this is its CPU.
    pub(crate) requester_cpu_s: f64,
    pub(crate) responder_cpu_s: f64,
}

/// One reconciliation of `requester` with `responder`, which must find
/// exactly `expected`.
pub(crate) fn reconcile(
    net: &mut Network,
    requester: &str,
    responder: &String,
    d: u64,
    expected: &HashSet<TxId>,
) -> Result<Reconciled> {
    net.reset_traffic();
    let busy = |net: &Network, name: &str| net.busy().get(name).copied().unwrap_or_default();
    let before = (busy(net, requester), busy(net, responder));
    let started = Instant::now();
    net.node(requester)
        .schedule_reconciliation(std::slice::from_ref(responder))?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let scheduling = started.elapsed();
    net.run_until_idle();
    let wall_s = started.elapsed().as_secs_f64();
    let requester_cpu_s = (busy(net, requester) - before.0 + scheduling).as_secs_f64();
    let responder_cpu_s = (busy(net, responder) - before.1).as_secs_f64();
    let status = net
        .node(requester)
        .get_reconciliation_status_for_party(responder, true)??
        .context("no status row")?;
    let found: HashSet<TxId> = status
        .last_successful_reconciliation_result
        .iter()
        .copied()
        .collect();
    ensure!(
        found == *expected,
        "ledger-sync found {} transactions with {responder} for d = {d}, the set \
         definition {} ({:?}: {})",
        found.len(),
        expected.len(),
        status.last_reconciliation_status,
        status.last_reconciliation_error
    );
    Ok(Reconciled {
        found,
        wall_s,
        requester_cpu_s,
        responder_cpu_s,
    })
}

/// From the requester's log line for its last reconciliation with `party`:
/// how many ids it decoded as the party's alone, and how many of those it
/// already held.
fn decoded_and_held(
    logs: &[ledger_sync_host::imports::logging::LogRecord],
    party: &str,
) -> Result<(u64, u64)> {
    let line = logs
        .iter()
        .rev()
        .map(|r| r.message.as_str())
        .find(|m| m.contains(party) && m.contains("finished:"))
        .with_context(|| format!("no log line for the reconciliation with {party}"))?;
    let number_before = |word: &str| -> Option<u64> {
        let at = line.find(word)?;
        line[..at].split(['(', ' ']).next_back()?.parse().ok()
    };
    match (
        number_before(" decoded"),
        number_before(" already in the vault"),
    ) {
        (Some(decoded), Some(held)) => Ok((decoded, held)),
        _ => anyhow::bail!("cannot read the decoded counts from {line:?}"),
    }
}
