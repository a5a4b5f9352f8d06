//! `ledger-sync`: the reference host's command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ledger_sync_sim::demo::{self, DemoOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench_command;
mod plugin_command;

#[derive(Parser)]
#[command(
    name = "ledger-sync",
    version,
    about = "Find the transactions a counterparty holds that your node lost."
)]
struct Cli {
    /// How log lines are written to standard error: `text` (coloured only
    /// on a terminal) or `json` (one JSON object a line, for collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Dependencies whose debug output would drown the node's own (wasmtime
/// and Cranelift alone write ~31,000 lines compiling the plugin): kept at
/// `warn` unless RUST_LOG names them.
const QUIET_DEPENDENCIES: [&str; 10] = [
    "cranelift",
    "wasmtime",
    "regalloc2",
    "wasmparser",
    "wasm_encoder",
    "cap_std",
    "rustls",
    "hyper",
    "tokio_postgres",
    "postgres",
];

/// Logging to standard error. By default a node says at INFO what an
/// operator acts on (a reconciliation finished, a peer unreachable) and
/// everything else only from WARN; the simulation is quiet (it provokes
/// every warning on purpose). RUST_LOG overrides the default, never the
/// quieting of dependencies it does not name.
fn init_logging(cli: &Cli) {
    let default_filter = match cli.command {
        Command::Simulate { .. } => "off",
        Command::Node { .. } => "warn,ledger_sync=info",
        _ => "warn",
    };
    let mut filter = std::env::var("RUST_LOG").unwrap_or_else(|_| default_filter.to_string());
    for dependency in QUIET_DEPENDENCIES {
        if !filter.contains(dependency) {
            filter.push_str(&format!(",{dependency}=warn"));
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!(
            "ledger-sync: RUST_LOG `{filter}` is not a filter ({e}); using `{default_filter}`"
        );
        tracing_subscriber::EnvFilter::new(default_filter)
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Record a ledger file (the ledger interchange format: JSON lines, see
    /// the README) into a node's vault: through its admin API while it runs
    /// (an rpcUser with RecordTransactions or ALL), directly while it is
    /// stopped. Each batch is recorded whole or not at all.
    Record {
        /// The node directory.
        #[arg(long)]
        node: PathBuf,
        /// The ledger file; `-` (the default) reads standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// Read the ledger's native transactions instead, one base64
        /// transaction per line, through this ledger adapter: the node's
        /// `adapters/NAME.wasm`, or a path to an adapter component. The
        /// adapter derives each id, its dependencies and its participants
        /// from the bytes, which are kept as the payload.
        #[arg(long)]
        adapter: Option<String>,
    },
    /// Write a node's vault in the ledger interchange format to standard
    /// output (or --output), to record into another node or database.
    Export {
        #[arg(long)]
        node: PathBuf,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// List the transactions recovery verified but holds aside, outside
    /// the vault, until the vault has their dependencies: one line each,
    /// `<id> waits-on <dependency>,...`.
    Held {
        #[arg(long)]
        node: PathBuf,
    },
    /// Forget held-aside transactions: the ids given, or every one with
    /// --all (a back-chain no counterparty can supply).
    DropHeld {
        #[arg(long)]
        node: PathBuf,
        /// Every held-aside transaction.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Transaction ids (64 hexadecimal digits).
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Write a development network, like Corda's Network Bootstrapper: a
    /// root CA, one node directory per party (`DIR/<Organisation>/`) with its
    /// key, certificate, node.conf and an operator account, and the network
    /// map with every node's address and certificate fingerprint.
    Bootstrap {
        /// Where to write the network.
        #[arg(long)]
        dir: PathBuf,
        /// The parties' legal names, such as "O=PartyA, L=London, C=GB".
        #[arg(long, num_args = 1.., required = true)]
        nodes: Vec<String>,
        /// Node i listens on BASE + 3i (peer-to-peer), +1 (admin API), +2
        /// (metrics).
        #[arg(long, default_value_t = 10_000)]
        base_port: u16,
        /// Each party's machine address, in the order of --nodes: where its
        /// peer-to-peer address listens and where the network map sends its
        /// peers. Default: 127.0.0.1 for every node. The admin API and the
        /// metrics stay on 127.0.0.1.
        #[arg(long, num_args = 1..)]
        p2p_hosts: Vec<std::net::IpAddr>,
        /// The network's maxMessageSize parameter, in bytes.
        #[arg(long, default_value_t = 10 << 20)]
        max_message_size: u32,
        /// Fill the first two parties' vaults with a demo ledger of this many
        /// transactions.
        #[arg(long)]
        transactions: Option<usize>,
        /// With --transactions: the first party is restored from a backup
        /// that lacks its last LOST transactions.
        #[arg(long, default_value_t = 0)]
        lost: usize,
        /// Seed of the demo ledger.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Bytes of data in each output state of the demo ledger.
        #[arg(long, default_value_t = ledger_sync_node::bootstrap::DEFAULT_STATE_BYTES)]
        state_bytes: usize,
    },
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
        /// Run on the simulated network in this process (deterministic,
        /// virtual clock) instead of three node processes over TLS.
        #[arg(long)]
        simulated: bool,
    },
    /// Run a node: `ledger-sync node --dir NODE_DIR` serves until SIGTERM or
    /// SIGINT (see `network bootstrap` for node directories).
    Node {
        /// The node directory (node.conf, certificates/, plugins/, the
        /// database).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start a flow on a running node, in the Corda shell's syntax:
    /// `ledger-sync flow start 'GetReconciliationStatusForPartyFlow party:
    /// "O=PartyB, L=London, C=GB", isRequester: true' --node PartyA`.
    /// Exits 0 when the flow completed, 1 when it was refused or failed.
    Flow {
        /// `start`, the flow and its arguments (quote the arguments once, as
        /// one word, so the shell keeps their quotes), then `--node DIR`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        words: Vec<String>,
    },
    /// `ledger-sync run killFlow id: <state-machine-id> --node DIR`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        words: Vec<String>,
    },
    /// An interactive shell on a running node: one Corda shell line at a
    /// time (`flow start ...`, `run killFlow ...`), `exit` to leave.
    Shell {
        #[arg(long)]
        node: PathBuf,
        /// Call the admin API as this rpcUser, asking for its password
        /// (not echoed); without it, node.conf's first account is used.
        #[arg(long)]
        user: Option<String>,
    },
    /// Feed a node its ledger, or read it back (`vault record`, `vault
    /// export`).
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// The transactions the last successful reconciliation with each party
    /// found missing (the seed's lastSuccessfulReconciliationResult): ids
    /// one per line on standard output, a line per party on standard error.
    /// Exits 1 when --party names a party never reconciled with.
    Status {
        #[arg(long)]
        node: PathBuf,
        /// Only this party (an X.500 legal name).
        #[arg(long)]
        party: Option<String>,
        /// One JSON array of the requester rows, with the seed's field names.
        #[arg(long)]
        json: bool,
    },
    /// Set up a network of nodes (see `network bootstrap --help`).
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Seeded whole-network simulation: random ledgers, topologies, flows,
    /// configuration and faults (loss, delay, partitions, crashes, storage
    /// failures, clock jumps, a hostile peer), with every invariant checked
    /// against an independent oracle. Exits 0 only if every seed passed; a
    /// failing seed prints its one-line reproduction. See RELIABILITY.md.
    Simulate {
        /// How many seeds to run, from `--first`.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        first: u64,
        /// Run this one seed only (a reproduction).
        #[arg(long)]
        seed: Option<u64>,
        /// Only random message loss at this rate (0 to 1), no other fault.
        #[arg(long)]
        loss: Option<f64>,
        /// Worker threads (default: the machine's cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Run another build of the plugin component instead of the one
        /// built into this binary.
        #[arg(long)]
        plugin: Option<PathBuf>,
    },
    /// Measure ledger-graph memory and build time, and the bytes, round trips
    /// and time of one reconciliation against negentropy, ibf-strata and
    /// minisketch (PinSketch, the Erlay design), on vaults of the seed's
    /// profile; or another profile: `bench multi-party`, `bench cycle`,
    /// `bench record`. See BENCHMARKS.md.
    Bench(bench_command::BenchArgs),
    /// For plugin authors: `plugin new NAME` scaffolds a plugin crate
    /// written with the SDK; `plugin check FILE` runs a plugin component
    /// on two simulated nodes.
    Plugin(plugin_command::PluginArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ledger-sync: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `network bootstrap`.
fn network_command(command: NetworkCommand) -> Result<ExitCode> {
    let NetworkCommand::Bootstrap {
        dir,
        nodes,
        base_port,
        p2p_hosts,
        max_message_size,
        transactions,
        lost,
        seed,
        state_bytes,
    } = command;
    let options = ledger_sync_node::bootstrap::BootstrapOptions {
        dir,
        names: nodes,
        base_port,
        max_message_size,
        demo_ledger: transactions.map(|n| (n, lost, seed)),
        p2p_hosts,
        state_bytes,
    };
    bootstrap_network(&options)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Bench(args) => bench_command::run(args),
        Command::Plugin(args) => plugin_command::run(args),
        Command::Node { dir } => {
            ledger_sync_node::serve::serve(&dir).map_err(anyhow::Error::msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Vault {
            command:
                VaultCommand::Record {
                    node,
                    file,
                    adapter,
                },
        } => vault_record(&node, &file, adapter.as_deref()),
        Command::Vault {
            command: VaultCommand::Export { node, output },
        } => vault_export(&node, output),
        Command::Vault {
            command: VaultCommand::Held { node },
        } => {
            ledger_sync_node::ledger::held(
                &node,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
            .map_err(anyhow::Error::msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Vault {
            command: VaultCommand::DropHeld { node, all, ids },
        } => {
            let ids = (!all).then_some(ids.as_slice());
            let dropped =
                ledger_sync_node::ledger::drop_held(&node, ids).map_err(anyhow::Error::msg)?;
            eprintln!(
                "dropped {dropped} held-aside transaction{}",
                if dropped == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { node, party, json } => status(&node, party, json),
        Command::Flow { words } => one_call("flow", words),
        Command::Run { words } => one_call("run", words),
        Command::Shell { node, user } => shell(&node, user),
        Command::Network { command } => network_command(command),
        Command::Simulate {
            seeds,
            first,
            seed,
            loss,
            threads,
            plugin,
        } => simulate(seeds, first, seed, loss, threads, plugin),
        Command::Demo {
            transactions,
            lost,
            seed,
            config,
            max_message_size,
            simulated,
        } => {
            let config = match config {
                Some(path) => std::fs::read_to_string(&path).with_context(|| {
                    format!("reading the configuration file {}", path.display())
                })?,
                None => String::new(),
            };
            let options = DemoOptions {
                transactions,
                lost,
                seed,
                config,
                max_message_size,
                dir: PathBuf::new(),
            };
            if simulated {
                demo_simulated(options)
            } else {
                demo_processes(options)
            }
        }
    }
}

/// `vault record`: exit 1, saying why, when the recording stopped.
fn vault_record(
    node: &std::path::Path,
    file: &std::path::Path,
    adapter: Option<&str>,
) -> Result<ExitCode> {
    let input = ledger_sync_node::ledger::Input::open(file).map_err(anyhow::Error::msg)?;
    let recorded = match adapter {
        Some(adapter) => ledger_sync_node::ledger::record_native(node, input, adapter),
        None => ledger_sync_node::ledger::record(node, input),
    };
    match recorded {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("ledger-sync vault record: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `vault export`: to --output or standard output.
fn vault_export(node: &std::path::Path, output: Option<PathBuf>) -> Result<ExitCode> {
    let count = match output {
        Some(path) => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            ledger_sync_node::ledger::export(node, &mut out)
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            ledger_sync_node::ledger::export(node, &mut out)
        }
    }
    .map_err(anyhow::Error::msg)?;
    eprintln!("exported {count} transactions");
    Ok(ExitCode::SUCCESS)
}

/// `status`: exit 1 when --party names a party never reconciled with.
fn status(node: &std::path::Path, party: Option<String>, json: bool) -> Result<ExitCode> {
    let found = ledger_sync_node::ledger::status(
        node,
        party.as_deref(),
        json,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(if found {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `shell`: exit 1 when, piped, a flow failed.
fn shell(node: &std::path::Path, user: Option<String>) -> Result<ExitCode> {
    let login = match user {
        Some(user) => {
            let password =
                ledger_sync_node::console::read_password(&format!("password for {user}: "))
                    .context("reading the password")?;
            Some((user, password))
        }
        None => None,
    };
    let all_ok = ledger_sync_node::console::run(node, login).map_err(anyhow::Error::msg)?;
    // Interactively a failed flow was seen; piped, a script needs
    // the exit code to know.
    let piped = !std::io::IsTerminal::is_terminal(&std::io::stdin());
    Ok(if all_ok || !piped {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `network bootstrap`: what it wrote.
fn bootstrap_network(options: &ledger_sync_node::bootstrap::BootstrapOptions) -> Result<ExitCode> {
    let out = ledger_sync_node::bootstrap::bootstrap(options).map_err(anyhow::Error::msg)?;
    for node in &out.node_dirs {
        println!("node directory {}", node.display());
    }
    println!(
        "network map {}",
        options
            .dir
            .join(ledger_sync_node::config::NETWORK_MAP)
            .display()
    );
    if options.demo_ledger.is_some() {
        println!(
            "demo ledger: the first party lost {} transactions the second can supply",
            out.expected.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `demo`: three node processes over mutual TLS.
fn demo_processes(demo: DemoOptions) -> Result<ExitCode> {
    let lost = demo.lost;
    let options = ledger_sync_node::demo::DemoOptions {
        transactions: demo.transactions,
        lost,
        seed: demo.seed,
        config: demo.config,
        max_message_size: demo.max_message_size,
        exe: std::env::current_exe().context("finding this binary")?,
    };
    let report = ledger_sync_node::demo::run(&options).map_err(anyhow::Error::msg)?;
    println!(
        "PartyA, PartyB and a notary run as three node processes on loopback over \
         mutual TLS; PartyA was restored from a backup that lost {lost} transactions"
    );
    for entry in &report.transcript {
        println!("{entry}");
    }
    println!(
        "network: PartyA -> PartyB {} bytes, PartyB -> PartyA {} bytes (payloads); \
         the whole demo took {:.1} s",
        report.bytes_a_to_b,
        report.bytes_b_to_a,
        report.wall.as_secs_f64()
    );
    if !report.exact {
        println!(
            "WRONG: the reconciliation found {} ids, expected {}",
            report.found, report.expected
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "OK: the reconciliation found exactly the {} lost transactions PartyB holds",
        report.expected
    );
    if !(report.clean && report.restored && report.recovered == report.expected) {
        println!(
            "WRONG: recovered {} of {}; the second reconciliation {} and PartyA's vault {} what \
             it held before the disaster, less what PartyB could not supply",
            report.recovered,
            report.expected,
            if report.clean {
                "found nothing"
            } else {
                "still found differences"
            },
            if report.restored { "is" } else { "is not" }
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "OK: recovered all {} (each verified against its id by the merkle ledger adapter); the \
         second reconciliation found nothing; PartyA holds again everything it held before the \
         disaster that a counterparty could supply ({} transactions were PartyA's alone and are \
         gone for good)",
        report.recovered,
        report.lost - report.expected
    );
    Ok(ExitCode::SUCCESS)
}

/// `demo --simulated`: the simulated network, deterministic.
fn demo_simulated(mut options: DemoOptions) -> Result<ExitCode> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    options.dir = dir.path().to_path_buf();
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

/// "O=PartyA, L=London, C=GB" -> "PartyA".
fn short(name: &str) -> &str {
    name.split(',')
        .next()
        .and_then(|o| o.strip_prefix("O="))
        .unwrap_or(name)
}

/// `ledger-sync simulate`: runs the seeds and prints the figures.
fn simulate(
    seeds: u64,
    first: u64,
    one: Option<u64>,
    loss: Option<f64>,
    threads: Option<usize>,
    plugin: Option<PathBuf>,
) -> Result<ExitCode> {
    use ledger_sync_sim::simulation::{FaultMix, run_many};
    let mix = match loss {
        Some(p) if (0.0..=1.0).contains(&p) => FaultMix::LossOnly(p),
        Some(p) => {
            anyhow::bail!("--loss {p} is not accepted: give a rate from 0 to 1, such as 0.05")
        }
        None => FaultMix::All,
    };
    let range = match one {
        Some(s) => s..s + 1,
        None => first..first + seeds,
    };
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runtime = match &plugin {
        Some(path) => ledger_sync_host::PluginRuntime::from_file(path)
            .with_context(|| format!("loading the plugin component {}", path.display()))?,
        None => ledger_sync_sim::builtin_plugin()?,
    };
    let started = std::time::Instant::now();
    let loss_flag = loss.map(|p| format!(" --loss {p}")).unwrap_or_default();
    let single = one.is_some();
    let summary = run_many(&runtime, range, mix, threads, |report| {
        if single {
            println!(
                "seed {}: {} nodes, {} transactions; traffic digest {:016x}",
                report.seed, report.nodes, report.transactions, report.traffic_digest
            );
        }
        if let Some(first) = report.violations.first() {
            eprintln!(
                "FAILED seed {}: {first}\n  reproduce: ledger-sync simulate --seed {}{loss_flag}",
                report.seed, report.seed
            );
        }
    })?;
    let reconciliations = summary.completed + summary.failed() + summary.stopped;
    eprintln!("ran in {:.1} s", started.elapsed().as_secs_f64());
    println!(
        "{} seeds: {} reconciliations ended — {} completed ({:.2}%), {} failed, {} \
         stopped; {} results checked against the oracle; {} recoveries, each followed by a \
         second reconciliation, checked against it; {} messages, {} bytes",
        summary.seeds,
        reconciliations,
        summary.completed,
        100.0 * summary.completed as f64 / reconciliations.max(1) as f64,
        summary.failed(),
        summary.stopped,
        summary.results_checked,
        summary.recoveries_checked,
        summary.messages,
        summary.bytes
    );
    println!("failed by cause:");
    for (cause, n) in &summary.failed_by_cause {
        println!("  {n:>8}  {cause}");
    }
    println!("faults injected:");
    for (kind, n) in &summary.faults {
        println!("  {n:>8}  {kind}");
    }
    if summary.failed_seeds.is_empty() {
        println!("every invariant held on every seed: 0 wrong, 0 stuck, 0 traps");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} seeds FAILED:", summary.failed_seeds.len());
        for (seed, why) in &summary.failed_seeds {
            println!("  ledger-sync simulate --seed {seed}{loss_flag}    # {why}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// `flow ...` / `run ...` with `--node DIR` anywhere among the words: one
/// call to the node's admin API.
fn one_call(verb: &str, words: Vec<String>) -> Result<ExitCode> {
    let mut node = None;
    let mut rest = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        if word == "--node" {
            node = words.next();
        } else if let Some(dir) = word.strip_prefix("--node=") {
            node = Some(dir.to_string());
        } else {
            rest.push(word);
        }
    }
    let node = node.context("give the node directory with --node NODE_DIR")?;
    let client = ledger_sync_node::client::Client::for_node(std::path::Path::new(&node))
        .map_err(anyhow::Error::msg)?;
    let line = format!("{verb} {}", rest.join(" "));
    let answer = client.call(&line).map_err(anyhow::Error::msg)?;
    // A reader that went away (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{}", answer.text);
    Ok(if answer.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
