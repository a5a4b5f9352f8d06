//! `ledger-sync bench`: ledger-graph memory and build time, and the cost of
//! one reconciliation — bytes both ways, round trips, wall time — for
//! ledger-sync through the real component, the same core compiled natively,
//! and three peers on the same sets in the same run: `negentropy`
//! (range-based reconciliation, the `negentropy` crate), `ibf-strata`
//! (Eppstein et al. 2011, the approach of the seed's LedgerSync; see
//! [`crate::ibf_strata`]) and `minisketch` (PinSketch sketches of 64-bit
//! short ids, the Erlay design; see [`crate::minisketch_peer`]).
//!
//! The vaults follow the seed's profile ([`crate::generator`]): the
//! responder holds `n` transactions and the requester, restored from a
//! backup, the first `n - d`. Both are parties to every transaction, so the
//! set reconciled is the whole vault. Times are medians of `runs` runs.
//!
//! - [`generator`]: the seed-profile vaults.
//! - [`native`]: the plugin's core run natively, for guest/native.
//! - One module per peer: [`negentropy_peer`], [`ibf_strata`],
//!   [`minisketch_peer`].
//! - [`cycle`]: one node reconciling with its 1,000 counterparties, each
//!   on the set the seed defines for it.
//! - [`multi_party`]: the multi-party profile, where the two sides' sets
//!   differ by more than what was lost.
//! - [`real_ledger`]: the bootstrap ledger (the seed's disaster scenario),
//!   where they differ even when nothing was lost.
//! - [`plot`]: bytes per difference against d, as SVG.

pub mod cycle;
pub mod generator;
pub mod ibf_strata;
pub mod minisketch_peer;
pub mod multi_party;
pub mod native;
pub mod negentropy_peer;
pub mod plot;
pub mod real_ledger;
pub mod recording;

use crate::generator::{Profile, VaultWriter};
use anyhow::{Context, Result, ensure};
use hashbrown::HashSet;
use ledger_sync_host::NodeOptions;
use ledger_sync_host::store::Database;
use ledger_sync_plugin::fake::FakeNetwork;
use ledger_sync_sim::network::Network;
use ledger_sync_vocabulary::TxId;
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub n: u64,
    pub ds: Vec<u64>,
    pub seed: u64,
    /// Runs per measurement; times are their median.
    pub runs: u32,
    /// Where the vault databases go (a temporary directory if none).
    pub dir: Option<PathBuf>,
    /// A PostgreSQL server (`postgresql://…`) to hold the nodes' databases
    /// instead of SQLite files: the vaults are generated as usual, copied
    /// there into schemas of their own (dropped at the end), and both nodes
    /// run on them.
    pub database: Option<String>,
    /// Recurring reconciliations to measure after the first ones, one per
    /// `d`: the responder records `d` new transactions the requester lacks
    /// and the requester, which reconciled with it before, checks again
    /// ([`Row::Recurring`]; SQLite vaults only).
    pub recurring: Vec<u64>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            n: 1_000_000,
            ds: vec![0, 1, 10, 100, 1_000, 10_000, 100_000],
            seed: 1,
            runs: 3,
            dir: None,
            database: None,
            recurring: vec![0, 1, 10, 100, 1_000],
        }
    }
}

/// The implementations compared.
pub const IMPLS: [&str; 4] = ["ledger-sync", "negentropy", "ibf-strata", "minisketch"];

/// One measurement; `--json` prints it as one object, its `case` the
/// variant's name.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "case", rename_all = "snake_case")]
pub enum Row {
    /// Writing the seed-profile vault.
    Generate { n: u64, tx_per_s: f64 },
    /// Building the ledger graph from the vault inside the component.
    Graph {
        n: u64,
        /// `sqlite` or `postgresql`: where the vault was read from.
        backend: &'static str,
        memory_bytes: u64,
        bytes_per_tx: f64,
        build_s: f64,
    },
    /// One reconciliation.
    Reconcile {
        #[serde(rename = "impl")]
        implementation: &'static str,
        n: u64,
        d: u64,
        bytes: u64,
        floor_ratio: Option<f64>,
        round_trips: u32,
        wall_s: f64,
        native_wall_s: Option<f64>,
    },
    /// One recurring reconciliation: the requester reconciled with the
    /// responder before, the responder recorded `d` new transactions since
    /// (the requester lacks them), and the requester checks again. Each
    /// side's time in its plugin's calls (its CPU), medians of `runs`.
    Recurring {
        n: u64,
        d: u64,
        bytes: u64,
        requester_cpu_s: f64,
        responder_cpu_s: f64,
        /// Both ledger graphs catching up with what their vaults recorded
        /// since (an empty `shared-with`), per transaction recorded: the
        /// responder's `d` and, after the check, the requester's `d`
        /// recovered. `None` when nothing was recorded.
        maintenance_us_per_tx: Option<f64>,
    },
}

impl Row {
    /// One JSON object, on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row serialises")
    }

    /// One line of the readable table.
    pub fn to_table_line(&self) -> String {
        match self {
            Row::Generate { n, tx_per_s } => {
                format!("vault       n={n:<9} written at {tx_per_s:.0} tx/s")
            }
            Row::Graph {
                n,
                backend,
                memory_bytes,
                bytes_per_tx,
                build_s,
            } => format!(
                "graph       n={n:<9} guest memory {:.1} MB = {bytes_per_tx:.1} B/tx, built in {build_s:.2} s from {backend}",
                *memory_bytes as f64 / 1e6
            ),
            Row::Reconcile {
                implementation,
                d,
                bytes,
                floor_ratio,
                round_trips,
                wall_s,
                native_wall_s,
                ..
            } => format!(
                "{implementation:<11} d={d:<7} {bytes:>11} B  {:>10}  {:>6}  {round_trips:>3} rt  {wall_s:>8.3} s  {}",
                if *d > 0 {
                    format!("{:.1} B/diff", *bytes as f64 / *d as f64)
                } else {
                    "-".into()
                },
                floor_ratio.map_or("-".into(), |r| format!("{r:.2}x")),
                native_wall_s.map_or(String::new(), |s| format!(
                    "native {s:.3} s (guest/native {:.2})",
                    wall_s / s
                )),
            ),
            Row::Recurring {
                d,
                bytes,
                requester_cpu_s,
                responder_cpu_s,
                maintenance_us_per_tx,
                ..
            } => format!(
                "recurring   d={d:<7} {bytes:>11} B  CPU requester {:.4} s, responder {:.4} s; \
                 keeping up {}",
                requester_cpu_s,
                responder_cpu_s,
                maintenance_us_per_tx.map_or("-".into(), |us| format!("{us:.2} µs/tx"))
            ),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the benchmark, handing each row to `emit` as soon as it is measured.
pub fn run(options: &BenchOptions, mut emit: impl FnMut(&Row)) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut out = |row: Row| {
        emit(&row);
        rows.push(row);
    };
    let n = options.n;
    let mut ds = options.ds.clone();
    ds.sort_unstable_by(|a, b| b.cmp(a));
    ds.dedup();
    let d_max = ds.first().copied().unwrap_or(0);
    ensure!(d_max <= n, "d = {d_max} is larger than n = {n}");
    ensure!(options.runs >= 1, "--runs must be at least 1");
    let (_temp, [responder_db, requester_db]) = vault_files(options)?;
    let profile = Profile {
        seed: options.seed,
        ..Profile::default()
    };
    // Schemas made on a PostgreSQL server, dropped however the run ends.
    let mut schemas = DropSchemas(Vec::new());
    // The vaults.
    let responder_conn = ledger_sync_host::store::open(&responder_db)?;
    let mut responder_vault = VaultWriter::new(&responder_conn, profile)?;
    let started = Instant::now();
    responder_vault.extend_to(n)?;
    out(Row::Generate {
        n,
        tx_per_s: n as f64 / started.elapsed().as_secs_f64(),
    });
    let requester_conn = ledger_sync_host::store::open(&requester_db)?;
    let mut requester_vault = VaultWriter::new(&requester_conn, profile)?;
    requester_vault.extend_to(n - d_max)?;
    let [responder_database, requester_database] = match &options.database {
        None => [responder_db, requester_db].map(Database::Sqlite),
        Some(server) => {
            let conns = [&responder_conn, &requester_conn];
            copy_to_server(server, conns, &mut schemas)?
        }
    };
    let backend = backend_name(&responder_database);
    let mut rig = Rig::new(options, responder_database, &mut out)?;
    rig.add_requester(
        requester_database.clone(),
        [&responder_conn, &requester_conn],
    )?;
    let all_ids: Vec<TxId> = (0..n).map(|i| responder_vault.id(i)).collect();
    for &d in &ds {
        requester_vault.extend_to(n - d)?;
        if backend == "postgresql" {
            copy_vault(&requester_conn, &requester_database)?;
        }
        let native_vault = &mut rig.native.node(&rig.requester).host_mut().vault;
        native::sync(native_vault, &requester_conn)?;
        let lost: HashSet<TxId> = all_ids[(n - d) as usize..].iter().copied().collect();
        out(rig.measure(d, &lost)?);
        let requester_ids = &all_ids[..(n - d) as usize];
        let peer = Peer {
            n,
            d,
            runs: options.runs,
            lost: &lost,
        };
        for implementation in PEERS {
            out(peer.measure(implementation, |run| {
                let salt = options.seed + run as u64;
                reconcile_with_peer(implementation, requester_ids, &all_ids, salt)
            })?);
        }
    }
    if !options.recurring.is_empty() {
        ensure!(
            backend == "sqlite",
            "recurring reconciliations are measured on SQLite vaults only"
        );
        let vaults = [&mut responder_vault, &mut requester_vault];
        for row in rig.recurring(&options.recurring, vaults)? {
            out(row);
        }
    }
    Ok(rows)
}

/// Where the two vaults go (any old ones removed), and the temporary
/// directory holding them when `--dir` is not given (removed when dropped).
fn vault_files(options: &BenchOptions) -> Result<(Option<tempfile::TempDir>, [PathBuf; 2])> {
    let (temp, dir) = match &options.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (None, dir.clone())
        }
        None => {
            let temp = tempfile::tempdir()?;
            let dir = temp.path().to_path_buf();
            (Some(temp), dir)
        }
    };
    let (n, seed) = (options.n, options.seed);
    let paths = ["responder", "requester"].map(|side| {
        let path = dir.join(format!("{side}-{n}-{seed}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        path
    });
    Ok((temp, paths))
}

/// The bench rows' name for where a node's database is.
fn backend_name(database: &Database) -> &'static str {
    match database {
        Database::Sqlite(_) => "sqlite",
        Database::Postgres(_) => "postgresql",
    }
}

/// The same vaults, copied to schemas of their own on a PostgreSQL server.
fn copy_to_server(
    server: &str,
    conns: [&rusqlite::Connection; 2],
    schemas: &mut DropSchemas,
) -> Result<[Database; 2]> {
    let mut copied = Vec::new();
    for (conn, label) in conns.into_iter().zip(["responder", "requester"]) {
        let url =
            ledger_sync_sim::testkit::fresh_postgres_schema(server, &format!("bench{label}"))?;
        schemas.0.push(url.clone());
        let database = Database::Postgres(url);
        copy_vault(conn, &database)?;
        copied.push(database);
    }
    let requester = copied.pop().expect("two");
    Ok([copied.pop().expect("two"), requester])
}

/// The two nodes through the component on a simulated network, the same
/// two natively, and a count of the requester's messages (round trips).
struct Rig {
    net: Network,
    native: FakeNetwork,
    responder: String,
    requester: String,
    n: u64,
    seed: u64,
    runs: u32,
    sent_by_requester: Rc<Cell<u32>>,
}

impl Rig {
    /// Starts the responder `runs` times on `database` and hands `out` the
    /// ledger graph's memory and median build time.
    fn new(options: &BenchOptions, database: Database, out: &mut impl FnMut(Row)) -> Result<Rig> {
        let n = options.n;
        let backend = backend_name(&database);
        let mut net = Network::new(ledger_sync_sim::builtin_plugin()?);
        let responder_name = Profile::party_name(1);
        let mut responder = NodeOptions::new(&responder_name, database);
        responder.seed = Some(options.seed);
        let mut builds = Vec::new();
        let mut memory_bytes = 0;
        for run in 0..options.runs {
            let started = Instant::now();
            if run == 0 {
                net.add_node(responder.clone())?;
            } else {
                net.restart_node(&responder_name, None)?;
            }
            net.run_until_idle();
            builds.push(started.elapsed().as_secs_f64());
            let node = net.node(&responder_name);
            let metrics = node.metrics()?;
            ensure!(
                metrics.ledger_graph_is_initialized && metrics.ledger_graph_transactions == n,
                "the responder's ledger graph holds {} of {n} transactions",
                metrics.ledger_graph_transactions
            );
            memory_bytes = node.memory_bytes() as u64;
        }
        out(Row::Graph {
            n,
            backend,
            memory_bytes,
            bytes_per_tx: memory_bytes as f64 / n.max(1) as f64,
            build_s: median(builds),
        });
        Ok(Rig {
            net,
            native: FakeNetwork::default(),
            responder: responder_name,
            requester: Profile::party_name(0),
            n,
            seed: options.seed,
            runs: options.runs,
            sent_by_requester: Rc::new(Cell::new(0)),
        })
    }

    /// Adds the requester on `database`, and both nodes natively from their
    /// SQLite vaults (`conns`: the responder's, the requester's).
    fn add_requester(
        &mut self,
        database: Database,
        conns: [&rusqlite::Connection; 2],
    ) -> Result<()> {
        let mut requester = NodeOptions::new(&self.requester, database);
        requester.seed = Some(self.seed + 1);
        self.net.add_node(requester)?;
        self.net.run_until_idle();
        native::add_node(&mut self.native, &self.responder, conns[0], 11)?;
        native::add_node(&mut self.native, &self.requester, conns[1], 12)?;
        self.native.run_until_idle();
        let counter = self.sent_by_requester.clone();
        let from = self.requester.clone();
        self.net.set_tap(move |e| {
            if e.from == from {
                counter.set(counter.get() + 1);
            }
        });
        Ok(())
    }

    /// Makes the requester's next reconciliation a first one, on both
    /// rigs: it restarts without the responder's set as last reconciled
    /// (deleted from its status store), so it starts from its own set and
    /// asks for the roots filter, as a node with no history does. What the
    /// routine check costs is `bench real --routine`'s to measure.
    fn forget_history(&mut self) -> Result<()> {
        let key = ledger_sync_plugin::reconciler::known_set_key(&self.responder);
        let database = self
            .net
            .node(&self.requester)
            .database()
            .cloned()
            .context("the requester keeps its rows in a database")?;
        self.net.crash_node(&self.requester);
        ledger_sync_host::store::connect(&database)?.save_value(&key, None)?;
        self.net.restart_node(&self.requester, None)?;
        self.net.run_until_idle();
        self.native
            .node(&self.requester)
            .host_mut()
            .values
            .remove(&key);
        self.native
            .restart(&self.requester, None)
            .map_err(|e| anyhow::anyhow!(e))?;
        self.native.run_until_idle();
        Ok(())
    }

    /// One reconciliation at difference `d`, through the component and
    /// natively, `runs` times; each must find exactly `lost`, and each is a
    /// first reconciliation ([`Rig::forget_history`]).
    fn measure(&mut self, d: u64, lost: &HashSet<TxId>) -> Result<Row> {
        let (mut walls, mut native_walls) = (Vec::new(), Vec::new());
        let (mut bytes, mut round_trips) = (0, 0);
        for _ in 0..self.runs {
            self.forget_history()?;
            self.net.reset_traffic();
            self.sent_by_requester.set(0);
            let started = Instant::now();
            self.net
                .node(&self.requester)
                .schedule_reconciliation(std::slice::from_ref(&self.responder))?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            self.net.run_until_idle();
            walls.push(started.elapsed().as_secs_f64());
            let row = self
                .net
                .node(&self.requester)
                .get_reconciliation_status_for_party(&self.responder, true)??
                .context("no status row")?;
            let found: HashSet<TxId> = (row.last_successful_reconciliation_result.iter())
                .copied()
                .collect();
            ensure!(
                found == *lost,
                "ledger-sync found {} transactions for d = {d} ({:?}: {})",
                found.len(),
                row.last_reconciliation_status,
                row.last_reconciliation_error
            );
            bytes = self.net.traffic().bytes;
            round_trips = self.sent_by_requester.get().saturating_sub(1);
            native_walls.push(self.measure_native(d)?);
        }
        let floor = (d > 0).then_some(32.0 * d as f64);
        Ok(Row::Reconcile {
            implementation: IMPLS[0],
            n: self.n,
            d,
            bytes,
            floor_ratio: floor.map(|f| bytes as f64 / f),
            round_trips,
            wall_s: median(walls),
            native_wall_s: Some(median(native_walls)),
        })
    }

    /// The recurring reconciliations, `runs` of each `d`: the requester
    /// first recovers what it lacked and reconciles once (so that both
    /// sides keep the sets of that reconciliation); then, per run, the
    /// responder records `d` new transactions, both graphs catch up, the
    /// requester checks again and must find exactly those, and recovers
    /// them.
    fn recurring(&mut self, ds: &[u64], vaults: [&mut VaultWriter; 2]) -> Result<Vec<Row>> {
        let [responder_vault, requester_vault] = vaults;
        let (requester, responder) = (self.requester.clone(), self.responder.clone());
        let mut held = responder_vault.written();
        requester_vault.extend_to(held)?;
        multi_party::reconcile(&mut self.net, &requester, &responder, 0, &HashSet::new())?;
        let mut rows = Vec::new();
        for &d in ds {
            let (mut bytes, mut cpu, mut keeping_up) = (0, [Vec::new(), Vec::new()], Vec::new());
            for _ in 0..self.runs {
                responder_vault.extend_to(held + d)?;
                let caught_up = self.catch_up()?;
                let lost: HashSet<TxId> = (held..held + d).map(|i| responder_vault.id(i)).collect();
                let checked =
                    multi_party::reconcile(&mut self.net, &requester, &responder, d, &lost)?;
                bytes = self.net.traffic().bytes;
                cpu[0].push(checked.requester_cpu_s);
                cpu[1].push(checked.responder_cpu_s);
                held += d;
                requester_vault.extend_to(held)?;
                let recovered = self.catch_up()?;
                if d > 0 {
                    keeping_up.push((caught_up + recovered) * 1e6 / (2 * d) as f64);
                }
            }
            let [requester_cpu, responder_cpu] = cpu;
            rows.push(Row::Recurring {
                n: self.n,
                d,
                bytes,
                requester_cpu_s: median(requester_cpu),
                responder_cpu_s: median(responder_cpu),
                maintenance_us_per_tx: (!keeping_up.is_empty()).then(|| median(keeping_up)),
            });
        }
        Ok(rows)
    }

    /// Both nodes' ledger graphs catch up with their vaults; the seconds
    /// it took.
    fn catch_up(&mut self) -> Result<f64> {
        let (requester, responder) = (&self.requester, &self.responder);
        let took = multi_party::catch_up(&mut self.net, requester, responder)?
            + multi_party::catch_up(&mut self.net, responder, requester)?;
        Ok(took.as_secs_f64())
    }

    /// One reconciliation by the native core; its wall time in seconds.
    fn measure_native(&mut self, d: u64) -> Result<f64> {
        let started = Instant::now();
        self.native
            .node(&self.requester)
            .schedule_reconciliation(std::slice::from_ref(&self.responder))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        self.native.run_until_idle();
        let wall = started.elapsed().as_secs_f64();
        let status = self
            .native
            .node(&self.requester)
            .reconciliation_status(&self.responder)
            .context("no native status")?;
        let found = status.last_successful_reconciliation_result.len() as u64;
        ensure!(found == d, "the native core found {found} of {d}");
        Ok(wall)
    }
}

/// The peers, in [`IMPLS`] order.
pub const PEERS: [&str; 3] = [IMPLS[1], IMPLS[2], IMPLS[3]];

/// One reconciliation by the peer called `implementation` (one of
/// [`PEERS`]) of the requester's ids against the responder's; `salt` seeds
/// the peers that hash with one.
pub fn reconcile_with_peer(
    implementation: &str,
    requester: &[TxId],
    responder: &[TxId],
    salt: u64,
) -> Result<ibf_strata::Outcome> {
    match implementation {
        "negentropy" => negentropy_peer::reconcile(requester, responder),
        "ibf-strata" => Ok(ibf_strata::reconcile(requester, responder, salt)),
        "minisketch" => Ok(minisketch_peer::reconcile(requester, responder, salt)),
        other => anyhow::bail!("no peer called {other}; the peers are {PEERS:?}"),
    }
}

/// One reconciliation case for the peers, which run natively on in-memory
/// id lists.
struct Peer<'a> {
    n: u64,
    d: u64,
    runs: u32,
    lost: &'a HashSet<TxId>,
}

impl Peer<'_> {
    /// Runs `reconcile` (given the run number) `runs` times, checks it finds
    /// exactly the lost ids, and reports the median time.
    fn measure(
        &self,
        implementation: &'static str,
        mut reconcile: impl FnMut(u32) -> Result<ibf_strata::Outcome>,
    ) -> Result<Row> {
        let (mut walls, mut bytes, mut round_trips) = (Vec::new(), 0, 0);
        for run in 0..self.runs {
            let started = Instant::now();
            let outcome = reconcile(run)?;
            walls.push(started.elapsed().as_secs_f64());
            ensure!(
                outcome.missing.iter().copied().collect::<HashSet<_>>() == *self.lost,
                "{implementation} found {} for d = {}",
                outcome.missing.len(),
                self.d
            );
            (bytes, round_trips) = (outcome.bytes, outcome.round_trips);
        }
        Ok(Row::Reconcile {
            implementation,
            n: self.n,
            d: self.d,
            bytes,
            floor_ratio: (self.d > 0).then_some(bytes as f64 / (32.0 * self.d as f64)),
            round_trips,
            wall_s: median(walls),
            native_wall_s: None,
        })
    }
}

/// PostgreSQL schemas the bench made, dropped when it ends.
struct DropSchemas(Vec<String>);

impl Drop for DropSchemas {
    fn drop(&mut self) {
        for url in self.0.drain(..) {
            ledger_sync_sim::testkit::drop_postgres_schema(&url);
        }
    }
}

/// Copies into `to` the transactions of the SQLite vault `conn` it does not
/// hold yet (both record in the same order, and SQLite's cursor is dense,
/// so its count is the cursor to read on from).
fn copy_vault(conn: &rusqlite::Connection, to: &Database) -> Result<()> {
    use ledger_sync_host::store::vault::{Vault, VaultTransaction};
    let from = Vault::new(conn);
    let names: std::collections::HashMap<u32, String> = from.parties()?.into_iter().collect();
    let mut store = ledger_sync_host::store::connect(to)?;
    let mut cursor = store.count()?;
    loop {
        let page = from.read_page(cursor, 10_000)?;
        if page.is_empty() {
            return Ok(());
        }
        cursor = page.cursor;
        let (mut dep, mut out, mut participant) = (0, 0, 0);
        let mut txs = Vec::with_capacity(page.len());
        for (i, id) in page.ids.chunks_exact(32).enumerate() {
            let deps = page.dependency_counts[i] as usize;
            let dependencies = page.dependencies[dep * 32..(dep + deps) * 32]
                .chunks_exact(32)
                .map(|d| d.try_into().expect("32 bytes"))
                .collect();
            dep += deps;
            let mut outputs = Vec::new();
            for _ in 0..page.output_counts[i] {
                let count = page.participant_counts[out] as usize;
                out += 1;
                outputs.push(
                    page.participants[participant..participant + count]
                        .iter()
                        .map(|h| names[h].clone())
                        .collect(),
                );
                participant += count;
            }
            txs.push(VaultTransaction {
                id: id.try_into().expect("32 bytes"),
                dependencies,
                outputs,
                payload: None,
            });
        }
        store.record(&txs)?;
    }
}
