//! `ledger-sync demo`: the seed's whole disaster-recovery workflow on real
//! node processes. It bootstraps PartyA, PartyB and a notary in a temporary
//! directory (PartyA restored from a backup that lost its last
//! transactions; every node running LedgerRecover beside ledger-sync),
//! starts the three nodes as separate processes on loopback, and through
//! the admin API — exactly the lines an operator types in the shell —
//! reconciles PartyA with PartyB (DIFFERENCES_FOUND), recovers what was
//! found (AutomaticRecoveryFlow, each transaction verified by the merkle
//! ledger adapter), and reconciles again (DIFFERENCES_NOT_FOUND). It prints
//! that transcript and the bytes that crossed the network, stops the nodes
//! with SIGTERM, and says whether the ids found were exactly the lost
//! transactions PartyB can supply and whether PartyA's vault is then what
//! it held before the disaster, less what no counterparty could supply.
//!
//! SIGTERM or SIGINT to the demo ends it as an error does: its nodes are
//! stopped and its directory removed (a process killed outright by a
//! signal would leave both behind).

use crate::bootstrap::{BootstrapOptions, bootstrap};
use crate::client::Client;
use crate::config::NodeConfig;
use ledger_sync_ledgers::{NOTARY, PARTY_A, PARTY_B};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set once SIGTERM or SIGINT reaches the demo: every wait ends, and the
/// demo unwinds, stopping its nodes and removing its directory.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Handles SIGTERM and SIGINT from now on, on a thread of its own, by
/// setting [`STOPPED`].
fn stop_on_signals() -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime for signal handling: {e}"))?;
    let (mut term, mut int) = {
        let _entered = runtime.enter();
        let handler = |kind| signal(kind).map_err(|e| format!("a signal handler: {e}"));
        (
            handler(SignalKind::terminate())?,
            handler(SignalKind::interrupt())?,
        )
    };
    std::thread::spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        STOPPED.store(true, Ordering::SeqCst);
    });
    Ok(())
}

/// An error once a signal came.
fn check_stopped() -> Result<(), String> {
    match STOPPED.load(Ordering::SeqCst) {
        true => Err(
            "stopped by a signal (SIGTERM or SIGINT): the nodes were stopped and the \
                     demo's directory removed"
                .into(),
        ),
        false => Ok(()),
    }
}

/// What to run.
pub struct DemoOptions {
    pub transactions: usize,
    pub lost: usize,
    pub seed: u64,
    /// Plugin configuration text for every node.
    pub config: String,
    pub max_message_size: u32,
    /// The `ledger-sync` binary that runs each node.
    pub exe: PathBuf,
}

/// What happened.
pub struct DemoReport {
    /// The shell lines and their answers, as an operator would see them.
    pub transcript: Vec<String>,
    pub expected: usize,
    /// Transactions the backup lost.
    pub lost: usize,
    pub found: usize,
    pub exact: bool,
    /// Transactions the recovery recorded.
    pub recovered: usize,
    /// The second reconciliation found nothing.
    pub clean: bool,
    /// PartyA's vault is what it held before the disaster, less what
    /// PartyB could not supply.
    pub restored: bool,
    /// Payload bytes A sent to B and B sent to A.
    pub bytes_a_to_b: u64,
    pub bytes_b_to_a: u64,
    pub wall: Duration,
}

/// A node process; stopped with SIGTERM (then SIGKILL) when dropped.
struct NodeProcess(Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return; // it has exited already
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_base_port(count: u16) -> Result<u16, String> {
    for _ in 0..100 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let base = probe.local_addr().map_err(|e| e.to_string())?.port();
        drop(probe);
        if base < 60_000
            && (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return Ok(base);
        }
    }
    Err("found no free loopback ports for the nodes".into())
}

/// Reads one counter from a node's `/metrics`.
fn counter(config: &NodeConfig, name: &str) -> Result<u64, String> {
    crate::client::scrape_metrics(config.metrics_address)?
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .ok_or_else(|| format!("no {name} in the node's metrics"))
}

/// Runs the workflow.
pub fn run(options: &DemoOptions) -> Result<DemoReport, String> {
    let started = Instant::now();
    stop_on_signals()?;
    eprintln!(
        "demo: LedgerRecover's limits on this throw-away network are raised to the top of \
         Corda's ranges (1,000 transactions an ask, 1,000 asks and 10,000,000 bytes a minute); \
         a real node keeps Corda's defaults (30 asks of 30, and 3,000,000 bytes, an hour) \
         unless its operator raises them in {}",
        crate::RECOVERY_CONFIG_FILE
    );
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let out = bootstrap(&BootstrapOptions {
        dir: dir.path().to_path_buf(),
        names: vec![PARTY_A.into(), PARTY_B.into(), NOTARY.into()],
        base_port: free_base_port(9)?,
        max_message_size: options.max_message_size,
        demo_ledger: Some((options.transactions, options.lost, options.seed)),
        p2p_hosts: Vec::new(),
        state_bytes: crate::bootstrap::DEFAULT_STATE_BYTES,
    })?;
    check_stopped()?;
    let mut nodes = start_nodes(options, &out.node_dirs)?;
    let a_config = NodeConfig::load(&out.node_dirs[0])?;
    let b_config = NodeConfig::load(&out.node_dirs[1])?;
    let a = Client::for_node(&out.node_dirs[0])?;
    let dirs = &out.node_dirs;
    wait_until_ready(&mut nodes, dirs, &a, [&a_config, &b_config])?;
    let (transcript, text) = reconcile(&mut nodes, dirs, &a)?;
    let found: Vec<String> = text
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = out
        .expected
        .iter()
        .map(|id| id.iter().map(|b| format!("{b:02X}")).collect())
        .collect();
    let kept = held(&a_config)?;
    let mut transcript = transcript;
    let (lines, recovered) = recover(&mut nodes, dirs, &a)?;
    transcript.extend(lines);
    let (second, text) = reconcile(&mut nodes, dirs, &a)?;
    transcript.extend(second);
    let clean = text.contains("lastReconciliationStatus=DIFFERENCES_NOT_FOUND");
    let bytes_a_to_b = counter(&a_config, "ledger_sync_transport_sent_bytes_total")?;
    let bytes_b_to_a = counter(&a_config, "ledger_sync_transport_received_bytes_total")?;
    drop(nodes);
    let mut restored: Vec<_> = kept.iter().chain(&out.expected).copied().collect();
    restored.sort_unstable();
    let now = held(&a_config)?;
    Ok(DemoReport {
        lost: out.before.len() - kept.len(),
        recovered,
        clean,
        restored: now == restored && now.iter().all(|id| out.before.binary_search(id).is_ok()),
        exact: found == expected,
        expected: expected.len(),
        found: found.len(),
        transcript,
        bytes_a_to_b,
        bytes_b_to_a,
        wall: started.elapsed(),
    })
}

/// LedgerRecover's limits on the demo's throw-away network: the top of
/// Corda's ranges, so that a large demo loss is not held for hours by
/// Corda's defaults (30 asks of 30 transactions, and 3 MB, an hour). The
/// demo says so when it starts.
pub const DEMO_RECOVERY_CONFIG: &str = "maxAllowedTransactions = 1000\n\
     maxAllowedRequests = 1000\n\
     timeWindowForMaxAllowedRequests = 1M\n\
     maxAllowedSizeInBytes = 10000000\n\
     timeWindowForMaxAllowedSize = 1M\n";

/// Writes every node's plugin configurations and starts its process,
/// logging to `node.log` in its directory.
fn start_nodes(options: &DemoOptions, dirs: &[PathBuf]) -> Result<Vec<NodeProcess>, String> {
    let mut nodes = Vec::new();
    for node in dirs {
        let file = node.join("plugins/config").join(crate::PLUGIN_CONFIG_FILE);
        std::fs::write(&file, &options.config).map_err(|e| format!("{}: {e}", file.display()))?;
        let file = node
            .join("plugins/config")
            .join(crate::RECOVERY_CONFIG_FILE);
        std::fs::write(&file, DEMO_RECOVERY_CONFIG)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let log = std::fs::File::create(node.join("node.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&options.exe)
            .args(["node", "--dir"])
            .arg(node)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start a node process: {e}"))?;
        nodes.push(NodeProcess(child));
    }
    Ok(nodes)
}

/// Waits for PartyA's node to answer its shell and for both ledger graphs
/// to be built, as an operator would check the metrics.
fn wait_until_ready(
    nodes: &mut [NodeProcess],
    dirs: &[PathBuf],
    a: &Client,
    [a_config, b_config]: [&NodeConfig; 2],
) -> Result<(), String> {
    let ready = format!("flow start IsReconciliationScheduledForPartyFlow party: \"{PARTY_B}\"");
    poll(
        nodes,
        dirs,
        Duration::from_secs(120),
        "PartyA's node to start",
        || a.call(&ready).ok().filter(|answer| answer.ok()),
    )?;
    // The nodes answer before their ledger graphs are built: wait for
    // PartyB's too, as an operator would check its metrics.
    poll(
        nodes,
        dirs,
        Duration::from_secs(120),
        "PartyB's ledger graph",
        || (counter(b_config, "ledger_sync_ledger_graph_initialised").ok()? == 1).then_some(()),
    )?;
    poll(
        nodes,
        dirs,
        Duration::from_secs(120),
        "PartyA's ledger graph",
        || (counter(a_config, "ledger_sync_ledger_graph_initialised").ok()? == 1).then_some(()),
    )?;
    Ok(())
}

/// Schedules PartyA's reconciliation with PartyB and waits for its end;
/// returns the shell transcript and the status's text.
fn reconcile(
    nodes: &mut [NodeProcess],
    dirs: &[PathBuf],
    a: &Client,
) -> Result<(Vec<String>, String), String> {
    let mut transcript = Vec::new();
    let status = format!(
        "flow start GetReconciliationStatusForPartyFlow party: \"{PARTY_B}\", isRequester: true"
    );
    // The row of an earlier reconciliation is not this one's end.
    let previous = a.call(&status).ok().and_then(|answer| run_id(&answer.text));
    let schedule = format!("flow start ScheduleReconciliationFlow parties: [\"{PARTY_B}\"]");
    let answer = a.call(&schedule)?;
    transcript.push(format!(">>> {schedule}\n{}", answer.text));
    if !answer.ok() {
        return Err(format!(
            "ScheduleReconciliationFlow was refused: {}",
            answer.text
        ));
    }
    let text = poll(
        nodes,
        dirs,
        Duration::from_secs(600),
        "the reconciliation to end",
        || {
            let answer = a.call(&status).ok()?;
            let ended = answer.ok()
                && !answer.text.contains("lastReconciliationStatus=IN_PROGRESS")
                && run_id(&answer.text) != previous;
            ended.then_some(answer.text)
        },
    )?;
    transcript.push(format!(">>> {status}\n{text}"));
    Ok((transcript, text))
}

/// The state machine run id in a status row's text.
fn run_id(text: &str) -> Option<String> {
    let at = text.find("stateMachineRunId=\"")? + "stateMachineRunId=\"".len();
    Some(text[at..].split('"').next()?.to_string())
}

/// PartyA's vault ids, sorted.
fn held(config: &NodeConfig) -> Result<Vec<ledger_sync_vocabulary::TxId>, String> {
    let mut ids = ledger_sync_host::store::connect_reader(&config.database)
        .and_then(|mut db| db.all_ids())
        .map_err(|e| format!("reading PartyA's vault: {e:#}"))?;
    ids.sort_unstable();
    Ok(ids)
}

/// Runs AutomaticRecoveryFlow on PartyA and waits for the recovery to end;
/// returns the transcript and how many transactions it recorded.
fn recover(
    nodes: &mut [NodeProcess],
    dirs: &[PathBuf],
    a: &Client,
) -> Result<(Vec<String>, usize), String> {
    let mut transcript = Vec::new();
    let start = format!("flow start AutomaticRecoveryFlow party: \"{PARTY_B}\"");
    let answer = a.call(&start)?;
    transcript.push(format!(">>> {start}\n{}", answer.text));
    if !answer.ok() {
        return Err(format!(
            "AutomaticRecoveryFlow was refused: {}",
            answer.text
        ));
    }
    let list = format!("flow start GetRecoveryRequestsFlow party: \"{PARTY_B}\"");
    let mut said = Instant::now();
    let text = poll(
        nodes,
        dirs,
        Duration::from_secs(600),
        "the recovery to end",
        || {
            let answer = a.call(&list).ok()?;
            if answer.ok() && !answer.text.contains("status=IN_PROGRESS") {
                return Some(answer.text);
            }
            if said.elapsed() >= PROGRESS_EVERY {
                said = Instant::now();
                eprintln!("recovery in progress: {}", progress(&answer.text));
            }
            None
        },
    )?;
    transcript.push(format!(">>> {list}\n{text}"));
    if !text.contains("status=COMPLETED") {
        return Err(format!("the recovery did not complete:\n{text}"));
    }
    let recovered = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("recovered=")?
                .trim_end_matches(',')
                .parse()
                .ok()
        })
        .unwrap_or(0);
    Ok((transcript, recovered))
}

/// How often the demo says how a recovery is going.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A recovery request's progress, from GetRecoveryRequestsFlow's text:
/// recovered, and still outstanding.
fn progress(text: &str) -> String {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim_end_matches(',').to_string())
    };
    let outstanding = text
        .lines()
        .skip_while(|l| !l.trim().starts_with("outstanding="))
        .skip(1)
        .take_while(|l| !l.trim().starts_with(']'))
        .filter(|l| l.trim().len() >= 64)
        .count();
    let unknown = || "?".to_string();
    format!(
        "{} of {} recovered, {outstanding} outstanding",
        field("recovered=").unwrap_or_else(unknown),
        field("requested=").unwrap_or_else(unknown),
    )
}

/// If a node process has exited, why: the end of its log.
fn stopped_nodes(nodes: &mut [NodeProcess], dirs: &[PathBuf]) -> Option<String> {
    for (node, dir) in nodes.iter_mut().zip(dirs) {
        if let Ok(Some(status)) = node.0.try_wait() {
            let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Some(format!(
                "the node in {} stopped ({status}): {}",
                dir.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
    }
    None
}

/// Polls `check` every 50 ms for at most `limit`; a node process that
/// exits meanwhile ends the wait at once with the end of its log, and a
/// signal to the demo ends it too.
fn poll<T>(
    nodes: &mut [NodeProcess],
    dirs: &[PathBuf],
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        check_stopped()?;
        if let Some(value) = check() {
            return Ok(value);
        }
        if let Some(stopped) = stopped_nodes(nodes, dirs) {
            return Err(stopped);
        }
        if Instant::now() >= deadline {
            return Err(format!("gave up waiting for {what} after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_sync_vocabulary::recovery::RecoveryRequest;

    /// The progress line reads the shell's own text of a request.
    #[test]
    fn progress_is_read_off_the_shells_text_of_a_request() {
        let mut row = RecoveryRequest::started(
            "r-1".into(),
            PARTY_B,
            "AutomaticRecoveryFlow",
            vec![[1; 32], [2; 32], [3; 32]],
            0,
        );
        row.recovered = 1;
        row.outstanding.remove(0);
        let text = format!("[{row}]");
        assert_eq!(progress(&text), "1 of 3 recovered, 2 outstanding");
    }
}
