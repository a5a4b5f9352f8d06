//! `ledger-sync`: the reference host's command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ledger_sync_bench::plot::bytes_per_difference_svg;
use ledger_sync_bench::{self as bench, BenchOptions};
use ledger_sync_sim::demo::{self, DemoOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ledger-sync",
    version,
    about = "Find the transactions a counterparty holds that your node lost."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the seed's disaster-recovery workflow: A restores from a backup,
    /// reconciles with B, and must find exactly what it lost.
    Demo {
        /// Transactions in the shared ledger.
        #[arg(long, default_value_t = 5000)]
        transactions: usize,
        /// Transactions A's backup lacks (A's last recorded ones).
        #[arg(long, default_value_t = 50)]
        lost: usize,
        /// Seed of the generated ledger.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A plugin configuration file (`key = value` lines) for every node.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The network's maximum message size in bytes.
        #[arg(long, default_value_t = 10 << 20)]
        max_message_size: u32,
    },
    /// Measure ledger-graph memory and build time, and the bytes, round trips
    /// and time of one reconciliation against negentropy and ibf-strata, on
    /// vaults of the seed's profile. See BENCHMARKS.md.
    Bench {
        /// Transactions in the responder's vault.
        #[arg(long, default_value_t = 1_000_000)]
        n: u64,
        /// Differences to measure: transactions the requester lacks.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "0,1,10,100,1000,10000,100000"
        )]
        d: Vec<u64>,
        /// Seed of the generated vaults.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Runs per measurement (times are medians).
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// One JSON object per line instead of the table.
        #[arg(long)]
        json: bool,
        /// Also write an SVG plot of bytes per difference against d.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Where to put the vault databases (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ledger-sync: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Bench {
            n,
            d,
            seed,
            runs,
            json,
            plot,
            dir,
        } => {
            let options = BenchOptions {
                n,
                ds: d,
                seed,
                runs,
                dir,
            };
            if !json {
                println!(
                    "ledger-sync bench: n = {n}, seed {seed}, median of {runs} runs; bytes both ways"
                );
            }
            let rows = bench::run(&options, |row| {
                println!(
                    "{}",
                    if json {
                        row.to_json()
                    } else {
                        row.to_table_line()
                    }
                );
            })?;
            if let Some(path) = plot {
                std::fs::write(&path, bytes_per_difference_svg(&rows))
                    .with_context(|| format!("writing the plot {}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            transactions,
            lost,
            seed,
            config,
            max_message_size,
        } => {
            let config = match config {
                Some(path) => std::fs::read_to_string(&path).with_context(|| {
                    format!("reading the configuration file {}", path.display())
                })?,
                None => String::new(),
            };
            let dir = tempfile::tempdir().context("creating a temporary directory")?;
            let options = DemoOptions {
                transactions,
                lost,
                seed,
                config,
                max_message_size,
                dir: dir.path().to_path_buf(),
            };
            let report = demo::run(&options)?;
            println!(
                "A's vault: {} transactions before the disaster, {} after the restore ({} lost, \
                 {} of them held by B)",
                report.vault_before,
                report.vault_after,
                report.vault_before - report.vault_after,
                report.expected.len()
            );
            println!(
                "flow start GetReconciliationStatusForPartyFlow party: \"{}\", isRequester: true",
                report.status.party_name
            );
            println!("Flow completed with result: {}", report.status);
            let t = &report.traffic;
            let routes: Vec<String> = t
                .bytes_by_route
                .iter()
                .map(|((from, to), bytes)| format!("{} -> {}: {bytes}", short(from), short(to)))
                .collect();
            println!(
                "network: {} bytes in {} messages ({}); floor 32 x {} = {} bytes",
                t.bytes,
                t.messages,
                routes.join(", "),
                report.expected.len(),
                32 * report.expected.len()
            );
            if report.matches() {
                println!(
                    "OK: found exactly the {} lost transactions B holds",
                    report.found.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "MISMATCH: expected {} missing transactions, the reconciliation reported {}",
                    report.expected.len(),
                    report.found.len()
                );
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// "O=PartyA, L=London, C=GB" -> "PartyA".
fn short(name: &str) -> &str {
    name.split(',')
        .next()
        .and_then(|o| o.strip_prefix("O="))
        .unwrap_or(name)
}
