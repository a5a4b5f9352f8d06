//! What the real-process tests share: node processes that print their log
//! when a test fails, polling with a deadline, free ports, bootstrapped
//! networks and the admin API's answers.

#![allow(dead_code)] // each test file uses its own part of this.

use ledger_sync_node::bootstrap::{BootstrapOptions, bootstrap};
use ledger_sync_node::client::Client;
use ledger_sync_node::config::NodeConfFile;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const A: &str = "O=PartyA, L=London, C=GB";
pub const B: &str = "O=PartyB, L=London, C=GB";
pub const NOTARY: &str = "O=Notary, L=London, C=GB";

/// A node process, killed (SIGKILL) when dropped. What it prints goes to
/// `node.log` in its directory (appended across restarts), and when a test
/// fails that log is printed as the process is dropped, so every failure
/// shows what the node said.
pub struct NodeProcess(pub Child, pub PathBuf);

impl NodeProcess {
    pub fn start(dir: &Path) -> NodeProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ledger-sync"))
            .args(["node", "--dir", dir.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start a node");
        NodeProcess(child, dir.join("node.log"))
    }

    pub fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            eprintln!("--- {} ---\n{log}--- end of log ---", self.1.display());
        }
    }
}

/// Polls `check` every 50 ms until it returns Some, for at most `limit`.
pub fn poll<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free base port for a network of three nodes (9 ports).
pub fn free_base_port() -> u16 {
    // Below Linux's ephemeral range (32768-60999): a port the OS would hand
    // to some test's outgoing connection (the flood and connection-cap
    // tests open hundreds) is never chosen here, so a node cannot find its
    // port taken between this check and its bind. Candidates differ by
    // process and call, so parallel tests rarely probe the same ones.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = 10_000 + (seed.wrapping_add(n.wrapping_mul(7_919)) % 2_400) as u16 * 9;
        if (0..9).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

/// Bootstraps A, B and the notary in `dir`. Their nodes share one
/// compiled-plugin cache across every test (`pluginCache`), so a node
/// process compiles the plugin once per build, not once per start: on a
/// loaded machine compiling in each of dozens of processes made waits run
/// out.
pub fn network(dir: &Path, transactions: usize, lost: usize) -> (Vec<PathBuf>, Vec<[u8; 32]>) {
    bootstrapped(dir, Some((transactions, lost, 7)))
}

/// A, B and the notary with empty vaults, for a test that records its own
/// ledger.
pub fn empty_network(dir: &Path) -> Vec<PathBuf> {
    bootstrapped(dir, None).0
}

fn bootstrapped(
    dir: &Path,
    demo_ledger: Option<(usize, usize, u64)>,
) -> (Vec<PathBuf>, Vec<[u8; 32]>) {
    let out = bootstrap(&BootstrapOptions {
        dir: dir.to_path_buf(),
        names: vec![A.into(), B.into(), NOTARY.into()],
        base_port: free_base_port(),
        max_message_size: 10 << 20,
        demo_ledger,
        p2p_hosts: Vec::new(),
        state_bytes: ledger_sync_node::bootstrap::DEFAULT_STATE_BYTES,
    })
    .unwrap();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    for node in &out.node_dirs {
        edit_conf(node, |file| {
            file.plugin_cache = Some(cache.to_str().unwrap().to_string())
        });
    }
    (out.node_dirs, out.expected)
}

/// Changes a node's node.conf.
pub fn edit_conf(node: &Path, edit: impl FnOnce(&mut NodeConfFile)) {
    let conf = node.join("node.conf");
    let mut file: NodeConfFile = toml::from_str(&std::fs::read_to_string(&conf).unwrap()).unwrap();
    edit(&mut file);
    std::fs::write(&conf, toml::to_string(&file).unwrap()).unwrap();
}

/// Waits until the node's admin API answers.
pub fn wait_up(client: &Client) {
    poll(Duration::from_secs(60), "the node to answer", || {
        client
            .call("flow start IsReconciliationScheduledForPartyFlow party: \"O=X, L=Y, C=GB\"")
            .ok()
    });
}

pub fn status_line(party: &str) -> String {
    format!("flow start GetReconciliationStatusForPartyFlow party: \"{party}\", isRequester: true")
}

/// Waits until A's reconciliation with B has ended; returns its text.
pub fn wait_ended(client: &Client) -> String {
    wait_ended_within(client, Duration::from_secs(60))
}

/// [`wait_ended`], for at most `limit`.
pub fn wait_ended_within(client: &Client, limit: Duration) -> String {
    poll(limit, "the reconciliation to end", || {
        let answer = client.call(&status_line(B)).ok()?;
        (answer.ok()
            && !answer.text.contains("lastReconciliationStatus=IN_PROGRESS")
            && answer.text.contains("ReconciliationStatus("))
        .then_some(answer.text)
    })
}

pub fn hex_ids(ids: &[[u8; 32]]) -> Vec<String> {
    ids.iter()
        .map(|id| id.iter().map(|b| format!("{b:02X}")).collect())
        .collect()
}

/// Runs `ledger-sync node --dir` on a directory that must not start;
/// returns what it printed once it has exited non-zero (within 60 s).
pub fn refused_start(dir: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-sync"))
        .args(["node", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard_pid = child.id();
    let status = poll(
        Duration::from_secs(60),
        "the node to refuse to start",
        || child.try_wait().unwrap(),
    );
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "pid {guard_pid} started: {err}");
    err
}
