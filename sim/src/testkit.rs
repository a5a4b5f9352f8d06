//! The integration tests' kit: a [`Cluster`] of nodes running the real
//! plugin component on one simulated network, and ledger helpers.

use crate::network::Network;
use ledger_sync_host::NodeOptions;
use ledger_sync_host::store::vault::VaultTransaction;
use ledger_sync_host::store::{Database, NodeStore};
use ledger_sync_vocabulary::{ReconciliationStatus, TxId};

pub use ledger_sync_vocabulary::StatusValue as Status;

pub const A: &str = "O=PartyA, L=London, C=GB";
pub const B: &str = "O=PartyB, L=New York, C=US";
pub const C: &str = "O=PartyC, L=Paris, C=FR";
pub const D: &str = "O=PartyD, L=Zurich, C=CH";
pub const E: &str = "O=PartyE, L=Tokyo, C=JP";

/// The environment variable naming a PostgreSQL server for the tests: a
/// URL such as `postgresql://postgres@localhost:5432/postgres`. Each test
/// node gets a schema of its own there, dropped when the test ends.
pub const POSTGRES_ENV: &str = "LEDGER_SYNC_TEST_POSTGRES";

/// Where a cluster's nodes keep their databases.
#[derive(Clone, Debug)]
pub enum Backend {
    /// One SQLite file per node in the cluster's temporary directory.
    Sqlite,
    /// One schema per node on the PostgreSQL server at this URL.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL server of [`POSTGRES_ENV`]; without it, `None` after
    /// one line saying how to run the PostgreSQL tests.
    pub fn postgres() -> Option<Backend> {
        match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => Some(Backend::Postgres(url.trim().to_string())),
            _ => {
                eprintln!(
                    "skipped on PostgreSQL: set {POSTGRES_ENV}=postgresql://user@host:port/db \
                     to run this test there too (.ci/run starts a server and sets it)"
                );
                None
            }
        }
    }
}

/// A fresh, empty schema on the PostgreSQL server at `server`, and the URL
/// that makes it a connection's only schema.
pub fn fresh_postgres_schema(server: &str, label: &str) -> anyhow::Result<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "t_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        label
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase()
    );
    let mut client = postgres::Client::connect(server, postgres::NoTls)?;
    client.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))?;
    let separator = if server.contains('?') { '&' } else { '?' };
    // The connections carry the schema's name as their application name,
    // so that a test can find (and cut) exactly its own.
    Ok(format!(
        "{server}{separator}application_name={schema}&options=-csearch_path%3D{schema}"
    ))
}

/// The server URL and the schema of a URL made by [`fresh_postgres_schema`].
fn split_postgres_schema(url: &str) -> Option<(&str, &str)> {
    let (rest, schema) = url.rsplit_once("&options=-csearch_path%3D")?;
    let (server, _) = rest.rsplit_once("application_name=")?;
    Some((server.trim_end_matches(['?', '&']), schema))
}

/// Drops a schema made by [`fresh_postgres_schema`].
pub fn drop_postgres_schema(url: &str) {
    let Some((server, schema)) = split_postgres_schema(url) else {
        return;
    };
    if let Ok(mut client) = postgres::Client::connect(server, postgres::NoTls) {
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

/// Ends every server connection of the database at `url` (a URL made by
/// [`fresh_postgres_schema`]), as a server restart would; returns how many.
pub fn cut_postgres_connections(url: &str) -> anyhow::Result<u64> {
    let (server, schema) =
        split_postgres_schema(url).ok_or_else(|| anyhow::anyhow!("not a test schema URL"))?;
    let mut client = postgres::Client::connect(server, postgres::NoTls)?;
    let rows = client.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
        &[&schema],
    )?;
    Ok(rows.len() as u64)
}

/// Several nodes on one virtual clock, each with its own database: a file
/// in a temporary directory, or a schema on a PostgreSQL server.
pub struct Cluster {
    pub net: Network,
    dir: tempfile::TempDir,
    seed: u64,
    backend: Backend,
    schemas: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The nodes' connections are idle between steps: they hold no locks
        // that would keep a schema from being dropped.
        for url in self.schemas.drain(..) {
            drop_postgres_schema(&url);
        }
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    pub fn new() -> Self {
        Self::on(Backend::Sqlite)
    }

    /// A cluster whose nodes keep their databases on `backend`.
    pub fn on(backend: Backend) -> Self {
        Cluster {
            net: Network::new(crate::builtin_plugin().expect("the plugin component compiles")),
            dir: tempfile::tempdir().expect("a temporary directory"),
            seed: 0,
            backend,
            schemas: Vec::new(),
        }
    }

    /// A new, empty database for a node called `name`.
    pub fn new_database(&mut self, name: &str) -> Database {
        self.seed += 1;
        match &self.backend {
            Backend::Sqlite => {
                Database::Sqlite(self.dir.path().join(format!("node-{}.db", self.seed)))
            }
            Backend::Postgres(server) => {
                let url = fresh_postgres_schema(server, name).expect("a schema on the server");
                self.schemas.push(url.clone());
                Database::Postgres(url)
            }
        }
    }

    /// Options for a node whose vault holds `vault`, recorded in order.
    pub fn options(&mut self, name: &str, vault: &[VaultTransaction]) -> NodeOptions {
        let database = self.new_database(name);
        ledger_sync_host::store::connect(&database)
            .and_then(|mut store| store.record(vault))
            .expect("record the vault");
        let mut options = NodeOptions::new(name, database);
        options.seed = Some(self.seed);
        options.capture_logs = true;
        options
    }

    /// Adds a node whose vault holds `vault` and whose plugin configuration
    /// is `config` (`key = value` lines).
    pub fn add_with(&mut self, name: &str, vault: &[VaultTransaction], config: &str) -> &mut Self {
        let mut options = self.options(name, vault);
        options.config = config.to_string();
        self.net.add_node(options).expect("the node starts");
        self
    }

    /// A scratch directory that lives as long as the cluster.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `node` schedules reconciliations with `parties`; the flow must accept.
    pub fn schedule(&mut self, node: &str, parties: &[&str]) {
        let parties: Vec<String> = parties.iter().map(|p| p.to_string()).collect();
        self.net
            .node(node)
            .schedule_reconciliation(&parties)
            .expect("no trap")
            .expect("ScheduleReconciliation accepted");
    }

    /// Steps the network until `done` holds; panics if it never does.
    pub fn step_until(&mut self, mut done: impl FnMut(&mut Network) -> bool) {
        let horizon = self.net.now_ms() + 24 * 3_600_000;
        while !done(&mut self.net) {
            assert!(
                self.net.step_until(horizon),
                "the network went idle before the condition held"
            );
        }
    }

    /// Steps the network until `responder` is answering a reconciliation
    /// from `requester`.
    pub fn step_until_responding(&mut self, responder: &str, requester: &str) {
        self.step_until(|net| {
            net.node(responder)
                .is_responding_to_reconciliation_for_party(requester)
                .expect("no trap")
                .expect("the flow succeeds")
        });
    }

    /// A connection to a running node's database (vault and plugin tables).
    pub fn db(&mut self, node: &str) -> Box<dyn NodeStore> {
        ledger_sync_host::store::connect(
            self.net
                .node(node)
                .database()
                .expect("the simulation keeps each vault in a database"),
        )
        .expect("open the node database")
    }

    /// Records more transactions in a running node's vault, as if they had
    /// just arrived.
    pub fn record(&mut self, node: &str, txs: &[VaultTransaction]) {
        self.db(node).record(txs).expect("record in the vault");
    }

    /// Adds a node with default options whose vault holds `vault`.
    pub fn add(&mut self, name: &str, vault: &[VaultTransaction]) -> &mut Self {
        let options = self.options(name, vault);
        self.net.add_node(options).expect("the node starts");
        self
    }

    /// Runs until nothing is left to do.
    pub fn settle(&mut self) -> &mut Self {
        self.net.run_until_idle();
        self
    }

    /// `from` schedules a reconciliation with `with`; runs it to the end and
    /// returns `from`'s status for `with`.
    pub fn reconcile(&mut self, from: &str, with: &str) -> ReconciliationStatus {
        self.settle();
        self.net
            .node(from)
            .schedule_reconciliation(&[with.to_string()])
            .expect("no trap")
            .expect("ScheduleReconciliation accepted");
        self.settle();
        self.status(from, with, true).expect("a status row")
    }

    /// GetReconciliationStatusForParty.
    pub fn status(
        &mut self,
        node: &str,
        party: &str,
        is_requester: bool,
    ) -> Option<ReconciliationStatus> {
        self.net
            .node(node)
            .get_reconciliation_status_for_party(party, is_requester)
            .expect("no trap")
            .expect("the flow succeeds")
    }
}

/// Every row of a node's CR_RECONCILIATION_STATUS table, read from its
/// database (not through the plugin).
pub fn stored_statuses(net: &mut Network, node: &str) -> Vec<ReconciliationStatus> {
    ledger_sync_host::store::connect(
        net.node(node)
            .database()
            .expect("the simulation keeps each vault in a database"),
    )
    .and_then(|mut store| store.load_statuses())
    .expect("CR_RECONCILIATION_STATUS")
}

/// A transaction with id `[n; 32]`-ish (distinct per n), dependencies by
/// number, and each output's participants.
pub fn tx(n: u32, deps: &[u32], outputs: &[&[&str]]) -> VaultTransaction {
    VaultTransaction {
        id: id(n),
        dependencies: deps.iter().map(|d| id(*d)).collect(),
        outputs: outputs
            .iter()
            .map(|o| o.iter().map(|p| p.to_string()).collect())
            .collect(),
        payload: None,
    }
}

/// Transactions `first..first + count` between `a` and `b`, with no
/// dependencies: one output state each with both as participants.
pub fn shared(first: u32, count: u32, a: &str, b: &str) -> Vec<VaultTransaction> {
    (first..first + count)
        .map(|n| tx(n, &[], &[&[a, b]]))
        .collect()
}

/// The id of transaction number `n` in [`tx`].
pub fn id(n: u32) -> TxId {
    let mut id = [0u8; 32];
    for (i, b) in id.iter_mut().enumerate() {
        *b = (n.wrapping_mul(2_654_435_761).rotate_left(i as u32) as u8) ^ (i as u8);
    }
    id[..4].copy_from_slice(&n.to_be_bytes());
    id
}

/// The ids in a status's result, sorted.
pub fn result_ids(status: &ReconciliationStatus) -> Vec<TxId> {
    sorted(status.last_successful_reconciliation_result.clone())
}

/// Sorted ids.
pub fn sorted(mut ids: Vec<TxId>) -> Vec<TxId> {
    ids.sort_unstable();
    ids
}

/// Asserts the latest reconciliation ended with `status`.
pub fn assert_status(row: &ReconciliationStatus, status: Status) {
    assert_eq!(
        row.last_reconciliation_status, status,
        "status row: {row:#?}"
    );
}

/// Declares, for each function `name(backend: Backend)` given, two tests:
/// `name::on_sqlite` and `name::on_postgres` (which says how to enable it
/// and passes when no server is named).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn on_sqlite() {
                    super::$name($crate::testkit::Backend::Sqlite)
                }
                #[test]
                fn on_postgres() {
                    if let Some(backend) = $crate::testkit::Backend::postgres() {
                        super::$name(backend)
                    }
                }
            }
        )*
    };
}
