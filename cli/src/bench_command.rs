//! `ledger-sync bench [PROFILE]`: the benchmarks, one subcommand per
//! profile. Without one, the pair profile: one reconciliation between two
//! nodes at each difference, beside the peers (BENCHMARKS.md).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ledger_sync_bench::plot::bytes_per_difference_svg;
use ledger_sync_bench::{self as bench, BenchOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    profile: Option<Profile>,
    #[command(flatten)]
    pair: PairArgs,
}

#[derive(Subcommand)]
enum Profile {
    /// A ledger among --parties parties whose back-chains cross parties;
    /// party 0, restored without its last d transactions, reconciles with
    /// each other party. Reports bytes per id found and the ids decoded
    /// that it already held.
    MultiParty(MultiPartyArgs),
    /// The real ledger (what `network bootstrap` and `demo` generate):
    /// PartyA and PartyB transact and each deals alone, so B's set for A
    /// differs from A's even when nothing was lost. A, restored without
    /// the last d transactions of its vault, reconciles with B; bytes
    /// against the targets (≤ 100 B at d = 0, ≤ 1.3 × 32·found +
    /// 1 KiB). Then the routine checks of a node that reconciled with B
    /// before (--routine).
    Real(RealArgs),
    /// A whole reconciliation cycle: a node of --n transactions, restored
    /// from a backup that lacks a few transactions per counterparty,
    /// reconciles with all --counterparties under the default
    /// configuration; each pair's sets are what the seed defines for that
    /// party. Reports the cycle's time, both sides' CPU and bytes, and the
    /// peers on the same sets.
    Cycle(CycleArgs),
    /// Recording throughput: a ledger file of --n transactions of the
    /// seed's profile, recorded as `vault record` does offline into an
    /// empty vault (SQLite, or --database), then again (every transaction
    /// already there).
    Record(RecordArgs),
}

/// What every profile takes.
#[derive(Args)]
struct Common {
    /// Seed of the generated vaults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs per measurement (times are medians).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// One JSON object per line instead of the table.
    #[arg(long)]
    json: bool,
    /// Where to put the vault databases (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

impl Common {
    /// The directory to work in, and the temporary one that holds it when
    /// none was given (kept alive by the caller).
    fn dir(&self) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
        match &self.dir {
            Some(dir) => Ok((dir.clone(), None)),
            None => {
                let temp = tempfile::tempdir()?;
                Ok((temp.path().to_path_buf(), Some(temp)))
            }
        }
    }

    /// A row, as JSON or as a line of the table. A reader that went away
    /// (`| head`) is not worth a panic: the rest of the rows are dropped.
    fn print(&self, as_json: String, as_line: String) {
        let row = if self.json { as_json } else { as_line };
        let _ = writeln!(std::io::stdout(), "{row}");
    }

    /// The table's heading (none with --json).
    fn heading(&self, text: String) {
        if !self.json {
            let _ = writeln!(std::io::stdout(), "{text}");
        }
    }
}

#[derive(Args)]
struct PairArgs {
    /// Transactions in the responder's vault.
    #[arg(long, default_value_t = 1_000_000)]
    n: u64,
    /// Differences to measure: transactions the requester lacks.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 10, 100, 1_000, 10_000, 100_000])]
    d: Vec<u64>,
    /// Recurring reconciliations to measure after the first ones: the
    /// responder records d new transactions the requester lacks, and the
    /// requester, which reconciled with it before, checks again; each
    /// side's CPU and the cost of keeping up per recorded transaction (on
    /// SQLite vaults; none with --database). An empty list measures none.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 10, 100, 1_000])]
    recurring: Vec<u64>,
    /// Also write an SVG plot of bytes per difference against d.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Run both nodes on this PostgreSQL server (postgresql://…): the
    /// vaults are copied into schemas of their own, dropped at the end.
    #[arg(long)]
    database: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct MultiPartyArgs {
    /// Transactions in the whole ledger.
    #[arg(long, default_value_t = 10_000)]
    n: u64,
    /// Parties of the ledger.
    #[arg(long, default_value_t = 8)]
    parties: u32,
    /// Transactions party 0's backup lacks, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 100, 1_000])]
    d: Vec<u64>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct RealArgs {
    /// Transactions in the whole ledger.
    #[arg(long, default_value_t = 100_000)]
    n: u64,
    /// Transactions A's backup lacks, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 10, 100, 1_000, 10_000])]
    d: Vec<u64>,
    /// Routine checks, as SINCE:D: A reconciled with B when the ledger
    /// stood SINCE transactions ago, both recorded those since, A lost the
    /// last D of its own, and A checks again. SINCE:restored is the seed's
    /// disaster after a routine check: A restarts from a backup of that
    /// time, losing all of its own since. One run each. [default:
    /// 0:0,1000:0,1000:10,10000:100,1000:restored, those with SINCE under
    /// --n]
    #[arg(long, value_delimiter = ',', value_parser = routine_check)]
    routine: Option<Vec<bench::real_ledger::Check>>,
    #[command(flatten)]
    common: Common,
}

/// A routine check's `SINCE:D` or `SINCE:restored`.
fn routine_check(text: &str) -> Result<bench::real_ledger::Check, String> {
    use bench::real_ledger::Check;
    let (since, d) = text.split_once(':').ok_or_else(|| {
        format!("{text:?}: a routine check is SINCE:D or SINCE:restored, such as 1000:10")
    })?;
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|e| format!("{text:?}: {s:?} is not a count of transactions ({e})"))
    };
    let since = number(since)?;
    Ok(match d.trim() {
        "restored" => Check::Restored { since },
        d => Check::Lost {
            since,
            d: number(d)?,
        },
    })
}

#[derive(Args)]
struct CycleArgs {
    /// Transactions in the node's vault.
    #[arg(long, default_value_t = 1_000_000)]
    n: u64,
    /// Counterparties of the cycle.
    #[arg(long, default_value_t = 1_000)]
    counterparties: u32,
    /// Transactions the node's backup lacks, per counterparty.
    #[arg(long, default_value_t = 3)]
    lost_per_counterparty: u64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct RecordArgs {
    /// Transactions in the ledger file.
    #[arg(long, default_value_t = 1_000_000)]
    n: u64,
    /// Bytes of payload per transaction.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Write the ledger file here and keep it.
    #[arg(long)]
    ledger_file: Option<PathBuf>,
    /// Record into schemas of this PostgreSQL server (postgresql://…)
    /// instead of SQLite files.
    #[arg(long)]
    database: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Runs the profile asked for.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    match args.profile {
        None => pair(args.pair),
        Some(Profile::MultiParty(a)) => multi_party(a),
        Some(Profile::Real(a)) => real(a),
        Some(Profile::Cycle(a)) => cycle(a),
        Some(Profile::Record(a)) => record(a),
    }
}

fn pair(a: PairArgs) -> Result<ExitCode> {
    let c = &a.common;
    let options = BenchOptions {
        n: a.n,
        ds: a.d.clone(),
        seed: c.seed,
        runs: c.runs,
        dir: c.dir.clone(),
        database: a.database.clone(),
        recurring: match &a.database {
            Some(_) => Vec::new(),
            None => a.recurring.clone(),
        },
    };
    c.heading(format!(
        "ledger-sync bench: n = {}, seed {}, median of {} runs; bytes both ways",
        a.n, c.seed, c.runs
    ));
    let rows = bench::run(&options, |row| c.print(row.to_json(), row.to_table_line()))?;
    if let Some(path) = &a.plot {
        std::fs::write(path, bytes_per_difference_svg(&rows))
            .with_context(|| format!("writing the plot {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn multi_party(a: MultiPartyArgs) -> Result<ExitCode> {
    let c = &a.common;
    let (dir, _temp) = c.dir()?;
    c.heading(format!(
        "ledger-sync bench multi-party: n = {} among {} parties, seed {}; bytes both ways, \
         summed over party 0's counterparties",
        a.n, a.parties, c.seed
    ));
    bench::multi_party::run(a.n, a.parties, &a.d, c.seed, &dir, |row| {
        c.print(row.to_json(), row.to_table_line())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn real(a: RealArgs) -> Result<ExitCode> {
    let c = &a.common;
    let (dir, _temp) = c.dir()?;
    c.heading(format!(
        "ledger-sync bench real: the bootstrap ledger of n = {} between PartyA and PartyB, seed \
         {}; bytes both ways",
        a.n, c.seed
    ));
    let ledger = bench::real_ledger::RealLedger::new(a.n, c.seed);
    ledger.run(&a.d, &dir, |row| {
        c.print(row.to_json(), row.to_table_line())
    })?;
    let routine = a.routine.unwrap_or_else(|| {
        use bench::real_ledger::Check::{Lost, Restored};
        let defaults = [
            Lost { since: 0, d: 0 },
            Lost { since: 1000, d: 0 },
            Lost { since: 1000, d: 10 },
            Lost {
                since: 10_000,
                d: 100,
            },
            Restored { since: 1000 },
        ];
        defaults.into_iter().filter(|c| c.since() < a.n).collect()
    });
    ledger.run_routine(&routine, &dir, |row| {
        c.print(row.to_json(), row.to_table_line())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn cycle(a: CycleArgs) -> Result<ExitCode> {
    let c = &a.common;
    let (dir, _temp) = c.dir()?;
    let options = bench::cycle::CycleOptions {
        n: a.n,
        counterparties: a.counterparties,
        lost_per_counterparty: a.lost_per_counterparty,
        seed: c.seed,
        dir,
    };
    c.heading(format!(
        "ledger-sync bench cycle: a node of n = {} with {} counterparties, {} lost per \
         counterparty, seed {}",
        a.n, a.counterparties, a.lost_per_counterparty, c.seed
    ));
    bench::cycle::run(&options, |row| c.print(row.to_json(), row.to_table_line()))?;
    Ok(ExitCode::SUCCESS)
}

fn record(a: RecordArgs) -> Result<ExitCode> {
    let c = &a.common;
    let (dir, _temp) = c.dir()?;
    let row = bench::recording::run(&bench::recording::RecordOptions {
        n: a.n,
        payload_bytes: a.payload_bytes,
        runs: c.runs,
        seed: c.seed,
        dir,
        database: a.database,
        ledger_file: a.ledger_file,
    })?;
    c.print(row.to_json(), row.to_table_line());
    Ok(ExitCode::SUCCESS)
}
