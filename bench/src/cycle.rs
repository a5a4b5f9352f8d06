//! The reconciliation cycle (`ledger-sync bench cycle`): one node
//! reconciling with all of its counterparties, as the operations guide's
//! recurring reconciliation does after a restore.
//!
//! The ledger is the seed's profile seen from one node
//! ([`crate::generator::Profile::counterparties`]): party 0 — the node — is
//! in every transaction; the first output's other participant is one of
//! `counterparties` parties, and the other six are drawn from all 100,000.
//! Each counterparty holds what the seed defines for it: the transactions
//! it is a party to and their back-chains. Back-chains run deep in this
//! profile, so every counterparty's set is about a third of the ledger
//! (mostly the same third), and the node's set for it is the same set but
//! for what the node lost. The node is restored from a backup that lacks
//! its last `lost_per_counterparty × counterparties` transactions (a few
//! per counterparty), schedules every counterparty in one
//! `ScheduleReconciliationFlow` call and runs the cycle under the default
//! configuration (3 in parallel).
//!
//! Nothing per counterparty is kept for the whole run: a counterparty's
//! vault is copied from the full ledger when the node's first message
//! reaches it ([`Network::set_on_demand`]), its node starts and builds its
//! graph then, and it is stopped (its database deleted) once the node has
//! finished with it. That start-up is timed apart and left out of the
//! cycle's time: on a real network every counterparty runs before the
//! cycle begins.
//!
//! Every result is checked against the oracle (the counterparty's set
//! minus the node's backup), and the three peers run on the same per-party
//! sets, one counterparty after the other.

use crate::generator::{Profile, VaultWriter};
use crate::{IMPLS, PEERS, reconcile_with_peer};
use anyhow::{Context, Result, ensure};
use hashbrown::{HashMap, HashSet};
use ledger_sync_host::NodeOptions;
use ledger_sync_host::store::Database;
use ledger_sync_sim::network::Network;
use ledger_sync_vocabulary::{StatusValue, TxId};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct CycleOptions {
    /// Transactions in the ledger (the node's vault before the disaster).
    pub n: u64,
    pub counterparties: u32,
    /// The node's backup lacks its last `lost_per_counterparty ×
    /// counterparties` transactions.
    pub lost_per_counterparty: u64,
    pub seed: u64,
    /// Where the databases go.
    pub dir: PathBuf,
}

/// Counterparty nodes kept running at once: enough for the node's three
/// parallel reconciliations and the ones whose last message is in flight.
const RUNNING_COUNTERPARTIES: usize = 8;

/// The row of ledger-sync's second cycle: every check a routine one, from
/// the parties' sets the node kept in the first.
pub const ROUTINE: &str = "ledger-sync-routine";

/// One implementation's whole cycle (`case` "cycle" in JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "case", rename = "cycle")]
pub struct CycleRow {
    #[serde(rename = "impl")]
    pub implementation: &'static str,
    pub n: u64,
    pub counterparties: u32,
    /// Transactions the node's backup lacks.
    pub lost: u64,
    /// Ids found, summed over the counterparties (a lost transaction in
    /// several counterparties' sets is found by each).
    pub found: u64,
    /// Every counterparty found exactly its lost ids (the run fails
    /// otherwise, so a row always says true).
    pub exact: bool,
    /// Items of the counterparties' sets for the node, summed: the work
    /// any set reconciliation has to look at.
    pub set_items: u64,
    /// Items of the counterparties' sets missing from the node's sets for
    /// them, summed: the difference every implementation has to resolve.
    /// More than `found`: the node's set lacks the back-chains of what it
    /// lost, which it mostly holds.
    pub set_difference: u64,
    pub bytes: u64,
    /// The whole cycle. For ledger-sync: from the schedule call until the
    /// last counterparty is done, counterparties' start-up excluded; the
    /// node and its counterparties share this one thread, so it is the sum
    /// of both sides' CPU and the network's own work. For a peer: its
    /// reconciliations one after the other, both sides.
    pub wall_s: f64,
    /// ledger-sync: CPU seconds in the node's calls, and in its
    /// counterparties' calls (summed).
    pub node_cpu_s: Option<f64>,
    pub counterparties_cpu_s: Option<f64>,
    /// ledger-sync: the counterparties' start-up (vault copy, graph build)
    /// and the bench's bookkeeping (asking the node which counterparties it
    /// is done with, stopping them), summed; not part of `wall_s`.
    pub setup_s: Option<f64>,
    /// ledger-sync: the most counterparty nodes running at once.
    pub most_running: Option<u32>,
}

impl CycleRow {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row serialises")
    }

    pub fn to_table_line(&self) -> String {
        let cpu = match (self.node_cpu_s, self.counterparties_cpu_s, self.setup_s) {
            (Some(node), Some(them), Some(startup)) => format!(
                "; CPU node {node:.2} s, counterparties {them:.2} s (start-up and bookkeeping {startup:.1} s apart)"
            ),
            _ => String::new(),
        };
        format!(
            "cycle {:<11} {} counterparties: {} found (exact; sets differing by {}), {} B = \
             {:.1} B/found, {:.2} s{cpu}",
            self.implementation,
            self.counterparties,
            self.found,
            self.set_difference,
            self.bytes,
            self.bytes as f64 / self.found.max(1) as f64,
            self.wall_s,
        )
    }
}

/// The ledger's shape in indices, to compute each counterparty's set
/// without holding its vault.
struct Shape {
    /// `deps[dep_start[i]..dep_start[i + 1]]`: what transaction `i`
    /// consumes.
    dep_start: Vec<u32>,
    deps: Vec<u32>,
    /// The transactions each counterparty (index `k - 1`) is a party to.
    direct: Vec<Vec<u32>>,
    /// Visit marks for [`Shape::set_of`], one epoch per call.
    marks: Vec<u32>,
    epoch: u32,
}

impl Shape {
    fn new(profile: &Profile, n: u64) -> Shape {
        let mut dep_start = Vec::with_capacity(n as usize + 1);
        let mut deps = Vec::with_capacity(n as usize * 6 / 5);
        let mut direct = vec![Vec::new(); profile.counterparties as usize];
        let (mut d, mut participants) = (Vec::new(), [0u32; 8]);
        for i in 0..n {
            dep_start.push(deps.len() as u32);
            profile.transaction(i, &mut d, &mut participants);
            deps.extend(d.iter().map(|&x| x as u32));
            let mut seen = [0u32; 8];
            for (slot, &p) in participants[1..].iter().enumerate() {
                if (1..=profile.counterparties).contains(&p) && !seen[..slot].contains(&p) {
                    direct[p as usize - 1].push(i as u32);
                }
                seen[slot] = p;
            }
        }
        dep_start.push(deps.len() as u32);
        Shape {
            dep_start,
            deps,
            direct,
            marks: vec![0; n as usize],
            epoch: 0,
        }
    }

    /// Counterparty `k`'s set: its transactions numbered below `held`
    /// and their back-chains, in recording order. With `held = n`, its
    /// own set for the node; with the node's backup, the node's set for it.
    fn set_of(&mut self, k: u32, held: u32) -> Vec<u32> {
        self.epoch += 1;
        let epoch = self.epoch;
        let marks = &mut self.marks;
        let (dep_start, deps) = (&self.dep_start, &self.deps);
        let mut set = ledger_sync_ledgers::back_chain_closure(
            self.direct[k as usize - 1]
                .iter()
                .copied()
                .filter(|&i| i < held),
            |i| std::mem::replace(&mut marks[i as usize], epoch) != epoch,
            |i, out| {
                let (from, to) = (dep_start[i as usize], dep_start[i as usize + 1]);
                out.extend_from_slice(&deps[from as usize..to as usize]);
            },
        );
        set.sort_unstable();
        set
    }
}

/// What the bench knows while the cycle runs: how to start a counterparty,
/// and what each one must find.
struct Counterparties {
    shape: Shape,
    ledger_db: PathBuf,
    dir: PathBuf,
    seed: u64,
    /// The node's backup holds transactions `0..kept`.
    kept: u32,
    number: HashMap<String, u32>,
    /// Per counterparty started: the lost ids in its set, its set's size,
    /// and how many of its items the node's set for it lacks.
    expected: HashMap<String, (HashSet<TxId>, u64, u64)>,
    started: Vec<String>,
    /// Time the bench spent outside the cycle's work: copying vaults,
    /// computing sets, asking the node which counterparties it is done
    /// with and stopping those.
    preparing: Duration,
}

impl Counterparties {
    fn database(&self, name: &str) -> PathBuf {
        self.dir
            .join(format!("counterparty-{}.db", self.number[name]))
    }

    /// Writes counterparty `name`'s vault and gives its node's options.
    fn start(&mut self, name: &str) -> Result<NodeOptions> {
        let started = Instant::now();
        let k = *self
            .number
            .get(name)
            .with_context(|| format!("{name} is not a counterparty of the cycle"))?;
        let set = self.shape.set_of(k, u32::MAX);
        let lost: HashSet<TxId> = set
            .iter()
            .filter(|&&i| i >= self.kept)
            .map(|&i| ledger_sync_sim::ledger::transaction_id(self.seed, i as u64))
            .collect();
        let ours = self.shape.set_of(k, self.kept).len() as u64;
        let path = self.database(name);
        copy_rows(&self.ledger_db, &path, &set)?;
        self.expected.insert(
            name.to_string(),
            (lost, set.len() as u64, set.len() as u64 - ours),
        );
        self.started.push(name.to_string());
        let mut options = NodeOptions::new(name, Database::Sqlite(path));
        options.seed = Some(self.seed.wrapping_add(k as u64 + 1));
        self.preparing += started.elapsed();
        Ok(options)
    }
}

/// Writes into a fresh SQLite vault at `path` the rows `members` (numbered
/// from 0, in order) of the vault at `ledger`, with every party.
fn copy_rows(ledger: &Path, path: &Path, members: &[u32]) -> Result<()> {
    remove_database(path);
    let conn = ledger_sync_host::store::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute(
        "ATTACH DATABASE ?1 AS ledger",
        [ledger
            .to_str()
            .context("a database path that is not UTF-8")?],
    )?;
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO party (handle, name) SELECT handle, name FROM ledger.party",
        [],
    )?;
    tx.execute("CREATE TEMP TABLE members (seq INTEGER PRIMARY KEY)", [])?;
    {
        let mut add = tx.prepare("INSERT INTO temp.members (seq) VALUES (?1)")?;
        for &i in members {
            add.execute([i as i64 + 1])?;
        }
    }
    tx.execute(
        "INSERT INTO vault_transaction (tx_id, dependencies, outputs) \
         SELECT t.tx_id, t.dependencies, t.outputs FROM temp.members m \
         JOIN ledger.vault_transaction t ON t.seq = m.seq ORDER BY m.seq",
        [],
    )?;
    tx.execute("DROP TABLE temp.members", [])?;
    tx.commit()?;
    conn.execute("DETACH DATABASE ledger", [])?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// What one cycle runs over: the sizes, the profile, the two databases
/// and the parties.
struct Plan {
    n: u64,
    c: u32,
    lost: u64,
    seed: u64,
    profile: Profile,
    dir: PathBuf,
    ledger_db: PathBuf,
    node_db: PathBuf,
    names: Vec<String>,
    node_name: String,
}

/// What the ledger-sync pass leaves for the peers and the rows: the
/// counterparties' state, and the summed set sizes and differences.
struct Pass {
    state: Counterparties,
    set_items: u64,
    set_difference: u64,
}

/// Runs the cycle with ledger-sync, then with each peer on the same sets.
pub fn run(options: &CycleOptions, mut emit: impl FnMut(&CycleRow)) -> Result<Vec<CycleRow>> {
    let plan = Plan::new(options)?;
    plan.write_vaults()?;
    let mut rows = Vec::new();
    let mut out = |row: CycleRow| {
        emit(&row);
        rows.push(row);
    };
    let pass = plan.run_ledger_sync(IMPLS[0], &mut out)?;
    // The next cycle, as a recurring reconciliation runs it: the node
    // restarts on its database (the parties' sets it kept are there), and
    // each counterparty starts again on the same vault and seed (so its
    // cursor key opens the cursors it gave); nothing changed, and the node
    // still lacks what it lost.
    plan.run_ledger_sync(ROUTINE, &mut out)?;
    remove_database(&plan.node_db);
    plan.run_peers(pass, &mut out)?;
    remove_database(&plan.ledger_db);
    Ok(rows)
}

impl Plan {
    fn new(options: &CycleOptions) -> Result<Plan> {
        let (n, c) = (options.n, options.counterparties);
        ensure!(c >= 1, "--counterparties must be at least 1");
        ensure!(
            n <= u32::MAX as u64,
            "the cycle numbers transactions in 32 bits: n = {n} is too large"
        );
        let lost = options.lost_per_counterparty * c as u64;
        ensure!(
            lost <= n,
            "{lost} lost transactions ({} per counterparty) is more than n = {n}",
            options.lost_per_counterparty
        );
        let profile = Profile {
            counterparties: c,
            seed: options.seed,
            ..Profile::default()
        };
        ensure!(
            c < profile.parties,
            "--counterparties must be below the profile's {} parties",
            profile.parties
        );
        let file = |what: &str| {
            options
                .dir
                .join(format!("cycle-{what}-{n}-{c}-{}.db", options.seed))
        };
        Ok(Plan {
            n,
            c,
            lost,
            seed: options.seed,
            profile,
            dir: options.dir.clone(),
            ledger_db: file("ledger"),
            node_db: file("node"),
            names: (1..=c).map(Profile::party_name).collect(),
            node_name: Profile::party_name(0),
        })
    }

    /// A row of this cycle, without the figures only ledger-sync's has.
    fn row(
        &self,
        implementation: &'static str,
        found: u64,
        (set_items, set_difference): (u64, u64),
        bytes: u64,
        wall_s: f64,
    ) -> CycleRow {
        CycleRow {
            implementation,
            n: self.n,
            counterparties: self.c,
            lost: self.lost,
            found,
            exact: true,
            set_items,
            set_difference,
            bytes,
            wall_s,
            node_cpu_s: None,
            counterparties_cpu_s: None,
            setup_s: None,
            most_running: None,
        }
    }

    /// The whole ledger, and the node's vault without what it lost.
    fn write_vaults(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        for (path, rows) in [
            (&self.ledger_db, self.n),
            (&self.node_db, self.n - self.lost),
        ] {
            remove_database(path);
            let conn = ledger_sync_host::store::open(path)?;
            VaultWriter::new(&conn, self.profile)?.extend_to(rows)?;
        }
        Ok(())
    }

    /// The node reconciles with every counterparty, each started on demand
    /// and stopped once the node is done with it; then every counterparty's
    /// result is checked against the set definition.
    fn run_ledger_sync(
        &self,
        implementation: &'static str,
        out: &mut impl FnMut(CycleRow),
    ) -> Result<Pass> {
        let state = Rc::new(RefCell::new(Counterparties {
            shape: Shape::new(&self.profile, self.n),
            ledger_db: self.ledger_db.clone(),
            dir: self.dir.clone(),
            seed: self.seed,
            kept: (self.n - self.lost) as u32,
            number: (self.names.iter().enumerate())
                .map(|(k, name)| (name.clone(), k as u32 + 1))
                .collect(),
            expected: HashMap::new(),
            started: Vec::new(),
            preparing: Duration::ZERO,
        }));
        let mut net = self.network(&state)?;
        let node_name = &self.node_name;
        let node_before = net.busy().get(node_name).copied().unwrap_or_default();
        let started = Instant::now();
        net.node(node_name)
            .schedule_reconciliation(&self.names)?
            .map_err(|e| anyhow::anyhow!("scheduling the cycle: {e:?}"))?;
        let most_running = run_cycle(&mut net, node_name, &state)?;
        let elapsed = started.elapsed();
        net.set_on_demand(|_| None);
        let state = Rc::try_unwrap(state)
            .ok()
            .expect("only the network held the factory")
            .into_inner();
        let (found, set_items, set_difference) = self.check_found(&mut net, &state)?;
        let busy = |name: &str| net.busy().get(name).copied().unwrap_or_default();
        let startup: Duration = (self.names.iter())
            .filter_map(|name| net.startup().get(name))
            .sum::<Duration>()
            + state.preparing;
        let wall_s = elapsed.saturating_sub(startup).as_secs_f64();
        let sets = (set_items, set_difference);
        out(CycleRow {
            node_cpu_s: Some((busy(node_name) - node_before).as_secs_f64()),
            counterparties_cpu_s: Some(
                (self.names.iter().map(|n| busy(n)))
                    .sum::<Duration>()
                    .as_secs_f64(),
            ),
            setup_s: Some(startup.as_secs_f64()),
            most_running: Some(most_running as u32),
            ..self.row(implementation, found, sets, net.traffic().bytes, wall_s)
        });
        Ok(Pass {
            state,
            set_items,
            set_difference,
        })
    }

    /// The simulated network: the node, and every counterparty known and
    /// started on demand from `state`.
    fn network(&self, state: &Rc<RefCell<Counterparties>>) -> Result<Network> {
        let mut net = Network::new(ledger_sync_sim::builtin_plugin()?);
        let mut node = NodeOptions::new(&self.node_name, Database::Sqlite(self.node_db.clone()));
        node.seed = Some(self.seed);
        net.add_node(node)?;
        net.run_until_idle();
        for name in &self.names {
            net.add_known_party(name);
        }
        let factory = state.clone();
        net.set_on_demand(move |name| match factory.borrow_mut().start(name) {
            Ok(options) => Some(options),
            Err(e) => {
                eprintln!("ledger-sync bench cycle: cannot start {name}: {e:#}");
                None
            }
        });
        Ok(net)
    }

    /// Every counterparty: exactly its lost ids. Returns the ids found and
    /// the summed set sizes and differences.
    fn check_found(&self, net: &mut Network, state: &Counterparties) -> Result<(u64, u64, u64)> {
        let (mut found, mut set_items, mut set_difference) = (0u64, 0u64, 0u64);
        for name in &self.names {
            let (expected, size, difference) = state
                .expected
                .get(name)
                .with_context(|| format!("the node never reached {name}"))?;
            let row = net
                .node(&self.node_name)
                .get_reconciliation_status_for_party(name, true)??
                .with_context(|| format!("no status row for {name}"))?;
            let got: HashSet<TxId> = (row.last_successful_reconciliation_result.iter())
                .copied()
                .collect();
            ensure!(
                row.last_reconciliation_status != StatusValue::Failed && got == *expected,
                "ledger-sync found {} transactions with {name}, the set definition {} ({:?}: {})",
                got.len(),
                expected.len(),
                row.last_reconciliation_status,
                row.last_reconciliation_error
            );
            found += got.len() as u64;
            set_items += size;
            set_difference += difference;
        }
        Ok((found, set_items, set_difference))
    }

    /// The peers, on the same sets: the counterparty's, and the node's
    /// (its transactions with the counterparty that it still holds, with
    /// their back-chains — which lack the back-chains of what it lost, as
    /// ledger-sync's requester set does). What they find passes the same
    /// re-check against the node's vault.
    fn run_peers(&self, pass: Pass, out: &mut impl FnMut(CycleRow)) -> Result<()> {
        let Pass {
            state,
            set_items,
            set_difference,
        } = pass;
        let ids: Vec<TxId> = (0..self.n)
            .map(|i| ledger_sync_sim::ledger::transaction_id(self.seed, i))
            .collect();
        let held: HashSet<TxId> = ids[..state.kept as usize].iter().copied().collect();
        let mut shape = state.shape;
        let mut totals = [(Duration::ZERO, 0u64, 0u64); 3];
        for (k, name) in (1..=self.c).zip(&self.names) {
            let mut set = |kept| -> Vec<TxId> {
                let members = shape.set_of(k, kept);
                members.iter().map(|&i| ids[i as usize]).collect()
            };
            let theirs = set(u32::MAX);
            let ours = set(state.kept);
            let expected = &state.expected[name].0;
            for (implementation, total) in PEERS.into_iter().zip(totals.iter_mut()) {
                let started = Instant::now();
                let outcome =
                    reconcile_with_peer(implementation, &ours, &theirs, self.seed + k as u64)?;
                let got: HashSet<TxId> = (outcome.missing.iter())
                    .filter(|id| !held.contains(*id))
                    .copied()
                    .collect();
                total.0 += started.elapsed();
                ensure!(
                    got == *expected,
                    "{implementation} found {} transactions with {name}, the set definition {}",
                    got.len(),
                    expected.len()
                );
                total.1 += outcome.bytes;
                total.2 += got.len() as u64;
            }
        }
        for (implementation, (wall, bytes, found)) in PEERS.into_iter().zip(totals) {
            let sets = (set_items, set_difference);
            out(self.row(implementation, found, sets, bytes, wall.as_secs_f64()));
        }
        Ok(())
    }
}

/// Steps the network until the cycle is over, stopping finished
/// counterparties whenever [`RUNNING_COUNTERPARTIES`] run; returns the
/// most that ran at once.
fn run_cycle(
    net: &mut Network,
    node_name: &str,
    state: &Rc<RefCell<Counterparties>>,
) -> Result<usize> {
    let horizon = net.now_ms() + 7 * 24 * 3_600_000;
    let mut running: VecDeque<String> = VecDeque::new();
    let (mut seen, mut most_running) = (0, 0);
    while net.step_until(horizon) {
        let newly: Vec<String> = state.borrow().started[seen..].to_vec();
        if newly.is_empty() {
            continue;
        }
        seen += newly.len();
        running.extend(newly);
        most_running = most_running.max(running.len());
        if running.len() >= RUNNING_COUNTERPARTIES {
            let stopping = Instant::now();
            stop_finished(net, node_name, &mut running, &state.borrow())?;
            state.borrow_mut().preparing += stopping.elapsed();
        }
    }
    stop_finished(net, node_name, &mut running, &state.borrow())?;
    Ok(most_running)
}

/// Stops the running counterparties the node has finished with (its status
/// for them is no longer in progress) and deletes their databases.
fn stop_finished(
    net: &mut Network,
    node: &str,
    running: &mut VecDeque<String>,
    state: &Counterparties,
) -> Result<()> {
    let mut still = VecDeque::new();
    while let Some(name) = running.pop_front() {
        let row = net
            .node(node)
            .get_reconciliation_status_for_party(&name, true)??;
        let finished = row.is_some_and(|r| r.last_reconciliation_status != StatusValue::InProgress);
        if finished {
            net.crash_node(&name);
            remove_database(&state.database(&name));
        } else {
            still.push_back(name);
        }
    }
    *running = still;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counterparty's set holds its transactions and is closed under
    /// dependencies; the node's set for it is the same closure from the
    /// transactions it still holds, so it lies inside the counterparty's and
    /// lacks at least the lost transactions of the pair.
    #[test]
    fn sets_are_closures_of_the_partys_transactions() {
        let profile = Profile {
            counterparties: 10,
            seed: 5,
            ..Profile::default()
        };
        let n = 3_000;
        let kept = 2_970;
        let mut shape = Shape::new(&profile, n);
        for k in 1..=10 {
            let theirs = shape.set_of(k, u32::MAX);
            let ours = shape.set_of(k, kept);
            let members: HashSet<u32> = theirs.iter().copied().collect();
            assert!(theirs.windows(2).all(|w| w[0] < w[1]), "recording order");
            assert!(
                shape.direct[k as usize - 1]
                    .iter()
                    .all(|t| members.contains(t))
            );
            for &t in &theirs {
                let deps = &shape.deps[shape.dep_start[t as usize] as usize
                    ..shape.dep_start[t as usize + 1] as usize];
                assert!(deps.iter().all(|d| members.contains(d)), "closed");
            }
            assert!(ours.iter().all(|t| members.contains(t)));
            let lost_direct = shape.direct[k as usize - 1]
                .iter()
                .filter(|&&t| t >= kept)
                .count();
            assert!(theirs.len() - ours.len() >= lost_direct);
            assert!(!shape.direct[k as usize - 1].is_empty());
        }
    }
}
