//! The disaster workflow across real node processes on loopback, over
//! mutual TLS, driven through the admin API as an operator would. Every
//! wait polls with a deadline; every process is killed when the test ends.

use ledger_sync_node::bootstrap::{BootstrapOptions, bootstrap};
use ledger_sync_node::client::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const A: &str = "O=PartyA, L=London, C=GB";
const B: &str = "O=PartyB, L=London, C=GB";
const NOTARY: &str = "O=Notary, L=London, C=GB";

/// A node process, killed (SIGKILL) when dropped.
struct NodeProcess(Child);

impl NodeProcess {
    fn start(dir: &Path) -> NodeProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_ledger-sync"))
            .args(["node", "--dir", dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a node");
        NodeProcess(child)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 50 ms until it returns Some, for at most `limit`.
fn poll<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free base port for a network of three nodes (9 ports), from the OS.
fn free_base_port() -> u16 {
    loop {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base < 60_000
            && (0..9).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
}

fn network(dir: &Path, transactions: usize, lost: usize) -> (Vec<PathBuf>, Vec<[u8; 32]>) {
    let out = bootstrap(&BootstrapOptions {
        dir: dir.to_path_buf(),
        names: vec![A.into(), B.into(), NOTARY.into()],
        base_port: free_base_port(),
        max_message_size: 10 << 20,
        demo_ledger: Some((transactions, lost, 7)),
    })
    .unwrap();
    (out.node_dirs, out.expected)
}

/// Writes a node's plugin configuration file.
fn plugin_config(node: &Path, text: &str) {
    let file = node.join("plugins/config").join(format!(
        "ledger-sync-{}.conf",
        ledger_sync_node::CONTRACT_VERSION
    ));
    std::fs::write(file, text).unwrap();
}

/// Waits until the node's admin API answers.
fn wait_up(client: &Client) {
    poll(Duration::from_secs(60), "the node to answer", || {
        client
            .call("flow start IsReconciliationScheduledForPartyFlow party: \"O=X, L=Y, C=GB\"")
            .ok()
    });
}

fn status_line(party: &str) -> String {
    format!("flow start GetReconciliationStatusForPartyFlow party: \"{party}\", isRequester: true")
}

/// Waits until A's reconciliation with B has ended; returns its text.
fn wait_ended(client: &Client) -> String {
    poll(Duration::from_secs(60), "the reconciliation to end", || {
        let answer = client.call(&status_line(B)).ok()?;
        (answer.ok()
            && !answer.text.contains("lastReconciliationStatus=IN_PROGRESS")
            && answer.text.contains("ReconciliationStatus("))
        .then_some(answer.text)
    })
}

fn hex_ids(ids: &[[u8; 32]]) -> Vec<String> {
    ids.iter()
        .map(|id| id.iter().map(|b| format!("{b:02X}")).collect())
        .collect()
}

/// `GET /metrics` from a node.
fn scrape(dir: &Path) -> String {
    let config = ledger_sync_node::config::NodeConfig::load(dir).unwrap();
    ledger_sync_node::client::scrape_metrics(config.metrics_address).unwrap()
}

/// The seed's workflow across three node processes: A, restored from a
/// backup, schedules a reconciliation with B through the admin API and
/// finds exactly the lost transactions B holds.
#[test]
fn the_disaster_workflow_runs_across_three_node_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (dirs, expected) = network(dir.path(), 2_000, 40);
    assert!(!expected.is_empty());
    let _nodes: Vec<NodeProcess> = dirs.iter().map(|d| NodeProcess::start(d)).collect();
    let a = Client::for_node(&dirs[0]).unwrap();
    let b = Client::for_node(&dirs[1]).unwrap();
    wait_up(&a);
    wait_up(&b);
    let schedule = a
        .call(&format!(
            "flow start ScheduleReconciliationFlow parties: [\"{B}\"]"
        ))
        .unwrap();
    assert_eq!(schedule.text, "Flow completed with result: kotlin.Unit");
    let text = wait_ended(&a);
    assert!(
        text.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
        "{text}"
    );
    for id in hex_ids(&expected) {
        assert!(text.contains(&id), "{id} missing from {text}");
    }
    let found = text
        .lines()
        .filter(|l| l.trim().len() == 65 || l.trim().len() == 64)
        .count();
    assert_eq!(found, expected.len(), "{text}");

    // Prometheus sees the outcome.
    let metrics = scrape(&dirs[0]);
    for line in [
        "ledger_sync_reconciliations_completed_total{status=\"DIFFERENCES_FOUND\"} 1",
        "ledger_sync_party_with_difference{party=\"O=PartyB, L=London, C=GB\"} 1",
        "ledger_sync_ledger_graph_initialised 1",
        "ledger_sync_reconciliations_in_progress 0",
        "ledger_sync_reconciliation_duration_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    assert!(scrape(&dirs[1]).contains("ledger_sync_transport_delivered_messages_total"));

    // The admin API refuses calls without valid credentials.
    let config = ledger_sync_node::config::NodeConfig::load(&dirs[0]).unwrap();
    let wrong = Client::new(config.admin_address, "admin", "wrong password");
    assert_eq!(wrong.call(&status_line(B)).unwrap().status, 401);
    let nobody = Client::new(config.admin_address, "nobody", "");
    assert_eq!(nobody.call(&status_line(B)).unwrap().status, 401);
    // A refused flow answers 409 with the seed's exception name.
    let twice = a
        .call(&format!(
            "flow start ScheduleReconciliationFlow parties: [\"{A}\"]"
        ))
        .unwrap();
    assert_eq!(twice.status, 409, "{}", twice.text);
    assert!(
        twice.text.contains("SelfReconciliation") || twice.text.contains("itself"),
        "{}",
        twice.text
    );
    // A line that does not parse answers 400 with the reason.
    let bad = a.call("flow start Reconsile").unwrap();
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("the flows are"), "{}", bad.text);
}

/// The responder killed (SIGKILL): the requester records FAILED with the
/// reason within its inactivity timeout; after the responder restarts, a
/// new reconciliation succeeds and nothing stored was lost.
#[test]
fn a_killed_responder_fails_the_reconciliation_then_it_succeeds_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (dirs, expected) = network(dir.path(), 1_000, 20);
    plugin_config(&dirs[0], "reconciliationInactivityTimeout = 6S\n");
    let _a = NodeProcess::start(&dirs[0]);
    let b_process = NodeProcess::start(&dirs[1]);
    let a = Client::for_node(&dirs[0]).unwrap();
    let b = Client::for_node(&dirs[1]).unwrap();
    wait_up(&a);
    wait_up(&b);
    drop(b_process); // kill -9
    a.call(&format!(
        "flow start ScheduleReconciliationFlow parties: [\"{B}\"]"
    ))
    .unwrap();
    let text = wait_ended(&a);
    assert!(text.contains("lastReconciliationStatus=FAILED"), "{text}");
    assert!(
        text.contains("reconciliationInactivityTimeout = 6S"),
        "{text}"
    );
    let metrics = scrape(&dirs[0]);
    assert!(
        metrics.contains("ledger_sync_party_failed{party=\"O=PartyB, L=London, C=GB\"} 1"),
        "{metrics}"
    );
    let _b = NodeProcess::start(&dirs[1]);
    wait_up(&b);
    let again = a
        .call(&format!(
            "flow start ScheduleReconciliationFlow parties: [\"{B}\"]"
        ))
        .unwrap();
    assert!(again.ok(), "{}", again.text);
    let text = wait_ended(&a);
    assert!(
        text.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
        "{text}"
    );
    for id in hex_ids(&expected) {
        assert!(text.contains(&id), "{id} missing");
    }
}

/// The requester killed (SIGKILL) with one reconciliation running and one
/// queued: after its restart both finish, the interrupted one recorded
/// FAILED first and run again.
#[test]
fn a_killed_requester_finishes_its_queued_and_interrupted_jobs_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (dirs, expected) = network(dir.path(), 1_000, 20);
    plugin_config(&dirs[0], "maxNumberOfParallelReconciliationRequests = 1\n");
    let a_process = NodeProcess::start(&dirs[0]);
    let b_process = NodeProcess::start(&dirs[1]);
    let _notary = NodeProcess::start(&dirs[2]);
    let a = Client::for_node(&dirs[0]).unwrap();
    let b = Client::for_node(&dirs[1]).unwrap();
    wait_up(&a);
    wait_up(&b);
    // B is down: A's job with B runs (waiting on B); the notary's waits in
    // the queue behind it.
    drop(b_process);
    let schedule = a
        .call(&format!(
            "flow start ScheduleReconciliationFlow parties: [\"{B}\", \"{NOTARY}\"]"
        ))
        .unwrap();
    assert!(schedule.ok(), "{}", schedule.text);
    poll(Duration::from_secs(60), "A's job with B to run", || {
        let t = a.call(&status_line(B)).ok()?.text;
        t.contains("lastReconciliationStatus=IN_PROGRESS")
            .then_some(())
    });
    drop(a_process); // kill -9
    let _b = NodeProcess::start(&dirs[1]);
    let _a = NodeProcess::start(&dirs[0]);
    wait_up(&a);
    let with_b = poll(
        Duration::from_secs(60),
        "the interrupted job to finish",
        || {
            let t = a.call(&status_line(B)).ok()?.text;
            t.contains("lastReconciliationStatus=DIFFERENCES_FOUND")
                .then_some(t)
        },
    );
    for id in hex_ids(&expected) {
        assert!(with_b.contains(&id), "{id} missing");
    }
    poll(Duration::from_secs(60), "the queued job to finish", || {
        let t = a.call(&status_line(NOTARY)).ok()?.text;
        t.contains("lastReconciliationStatus=DIFFERENCES_NOT_FOUND")
            .then_some(())
    });
}

/// Every example line of the seed's documents runs against a live node
/// process through the admin API: it parses (never 400) and the plugin
/// answers (200, or 409 with the seed's words).
#[test]
fn every_seed_example_line_runs_against_a_node_process() {
    let dir = tempfile::tempdir().unwrap();
    let (dirs, _) = network(dir.path(), 300, 5);
    let _nodes: Vec<NodeProcess> = dirs.iter().map(|d| NodeProcess::start(d)).collect();
    let a = Client::for_node(&dirs[0]).unwrap();
    wait_up(&a);
    let lines = [
        r#"flow start ScheduleReconciliationFlow parties: ["O=PartyB, L=London, C=GB"]"#,
        r#"flow start ScheduleReconciliationFlow parties: ["O=PartyA, L=London, C=GB", "O=PartyB, L=Ottawa, C=CA"]"#,
        r#"flow start ScheduledReconciliationFlow parties: ["O=PartyA, L=London, C=GB", "O=PartyB, L=Ottawa, C=CA"]"#,
        "flow start GetReconciliationStatusesFlow isRequester: true",
        r#"flow start GetReconciliationStatusesFlow party: "O=PartyA, L=London, C=GB", isRequester: true"#,
        r#"flow start GetReconciliationStatusesFlow party: "O=PartyA, L=London, C=GB", lastReconciliationStatus: IN_PROGRESS, isRequester: true"#,
        "flow start GetReconciliationStatusesFlow lastReconciliationStatus: DIFFERENCES_FOUND, isRequester: true",
        r#"flow start GetReconciliationStatusForPartyFlow party: "O=PartyA, L=London, C=GB", isRequester: true"#,
        r#"flow start GetReconciliationStatusForPartyFlow party: "O=PartyB, L=London, C=GB", isRequester: true"#,
        "flow start RefreshReconciliationStatusesFlow",
        r#"flow start StopReconciliationForPartyFlow party: "O=PartyB, L=London, C=GB""#,
        r#"flow start IsReconciliationScheduledForPartyFlow party: "O=PartyA, L=London, C=GB""#,
        r#"flow start IsRespondingToReconciliationForPartyFlow party: "O=PartyA, L=London, C=GB""#,
        "run killFlow id: c243222b-1940-45df-8828-a8496196d274",
    ];
    for line in lines {
        let answer = a.call(line).unwrap();
        assert!(
            matches!(answer.status, 200 | 409),
            "{line}: {} {}",
            answer.status,
            answer.text
        );
    }
    // The seed's heading line without its argument says what it needs.
    let bare = a.call("flow start StopReconciliationForPartyFlow").unwrap();
    assert_eq!(bare.status, 400);
    assert!(bare.text.contains("needs party"), "{}", bare.text);
}

/// SIGTERM stops a node gracefully: it exits 0.
#[test]
fn a_node_stops_on_sigterm_with_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (dirs, _) = network(dir.path(), 100, 1);
    let mut node = NodeProcess::start(&dirs[0]);
    let a = Client::for_node(&dirs[0]).unwrap();
    wait_up(&a);
    let pid = node.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = poll(Duration::from_secs(30), "the node to exit", || {
        node.0.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
}
