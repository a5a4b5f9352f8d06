//! The node's database: the vault's transaction metadata (`party`,
//! `vault_transaction`) and the plugin's tables (`CR_RECONCILIATION_STATUS`,
//! `CR_RECONCILIATION_QUEUE`), on embedded SQLite (the default, one file per
//! node) or on a PostgreSQL server, chosen by a [`Database`] URL.
//!
//! - [`NodeStore`]: what the `vault` and `status-store` imports, the reader
//!   pool, the tests and the bench ask of a database; both backends
//!   implement it.
//! - [`migrations`]: the schema, numbered alike for both dialects.
//! - [`held`]: CR_HELD_ASIDE, transactions verified but waiting for their
//!   dependencies, both dialects.
//! - [`sqlite`] ([`vault`], [`status`] hold its queries) and [`postgres`].
//! - [`reader_pool`]: connections that read vault pages ahead.

pub mod held;
pub mod lock;
pub mod migrations;
pub mod postgres;
pub mod reader_pool;
pub mod recovery;
pub mod shared;
pub mod sqlite;
pub mod status;
pub mod vault;
pub mod view;

use anyhow::Result;
pub use held::{HeldAside, HeldChanges};
use ledger_sync_vocabulary::ReconciliationStatus;
use ledger_sync_vocabulary::id::TxId;
use ledger_sync_vocabulary::page::TransactionPage;
use std::fmt;
use std::path::{Path, PathBuf};
pub use vault::{ConflictingTransaction, Recorded, VaultTransaction};

/// Opens (creating if needed) a node's SQLite database and brings its
/// schema up to date.
pub use sqlite::open;

/// Where a node's database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server: a `postgresql://` URL (libpq's syntax, such as
    /// `postgresql://user:password@host:5432/dbname?options=-csearch_path%3Dnode_a`).
    Postgres(String),
}

impl Database {
    /// Reads a database setting: `postgresql://…` (or `postgres://…`),
    /// `sqlite:PATH`, or a bare PATH (SQLite). A relative path is taken
    /// from `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Database, String> {
        let text = text.trim();
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            text.parse::<::postgres::Config>().map_err(|e| {
                format!(
                    "`{}` is not a PostgreSQL URL the client accepts ({e}); give \
                     postgresql://user:password@host:port/database",
                    redact(text)
                )
            })?;
            return Ok(Database::Postgres(text.to_string()));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        if path.is_empty() || path.contains("://") {
            return Err(format!(
                "`{}` is not a database this node knows: give sqlite:PATH (or a PATH) or \
                 postgresql://user:password@host:port/database",
                redact(text)
            ));
        }
        Ok(Database::Sqlite(dir.join(path)))
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Database {
        Database::Sqlite(path)
    }
}

impl From<&Path> for Database {
    fn from(path: &Path) -> Database {
        Database::Sqlite(path.to_path_buf())
    }
}

/// A URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// Shown in messages and logs: the path, or the URL without its password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Database::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A node's database, whichever backend holds it. Every method is one
/// atomic step: a write that fails leaves what was stored as it was.
pub trait NodeStore: Send {
    /// Records transactions in order, in one database transaction: all or,
    /// on any error, none. One already recorded with the same content is a
    /// no-op; with other content the batch is refused with
    /// [`ConflictingTransaction`].
    fn record(&mut self, txs: &[VaultTransaction]) -> Result<Recorded> {
        self.record_holding(txs, &HeldChanges::default())
    }
    /// [`NodeStore::record`], and in the same database transaction the
    /// `changes` to CR_HELD_ASIDE ([`held`]).
    fn record_holding(
        &mut self,
        txs: &[VaultTransaction],
        changes: &HeldChanges,
    ) -> Result<Recorded>;
    /// The held-aside transactions waiting on any of `ids`.
    fn held_waiting_on(&mut self, ids: &[TxId]) -> Result<Vec<HeldAside>>;
    /// How many transactions are held aside, and the first `limit` by id.
    fn held_aside(&mut self, limit: u32) -> Result<(u64, Vec<HeldAside>)>;
    /// Forgets held-aside transactions (`None`: all of them); how many
    /// there were.
    fn drop_held(&mut self, ids: Option<&[TxId]>) -> Result<u64>;
    /// At most `limit` whole transactions (parties by name, payloads) after
    /// cursor `after`, with the cursor of the last (`after` when none).
    fn read_records(&mut self, after: u64, limit: u32) -> Result<(Vec<VaultTransaction>, u64)>;
    /// The page of at most `limit` transactions after cursor `after`.
    fn read_page(&mut self, after: u64, limit: u32) -> Result<TransactionPage>;
    /// Whether each 32-byte id in `ids` is recorded.
    fn contains(&mut self, ids: &[u8]) -> Result<Vec<bool>>;
    /// Each id's bytes (the payload), if it is recorded with them.
    fn payloads(&mut self, ids: &[u8]) -> Result<Vec<Option<Vec<u8>>>>;
    /// The handle of a party, if any transaction involves it.
    fn find_party(&mut self, name: &str) -> Result<Option<u32>>;
    /// Names of parties by handle; an unknown handle is an error.
    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>>;
    /// Every party: (handle, name), by handle.
    fn parties(&mut self) -> Result<Vec<(u32, String)>>;
    /// Every recorded id, in recording order.
    fn all_ids(&mut self) -> Result<Vec<TxId>>;
    /// Number of recorded transactions.
    fn count(&mut self) -> Result<u64>;

    /// Every row of CR_RECONCILIATION_STATUS, ordered by party and side.
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>>;
    /// Inserts or replaces one row.
    fn save_status(&mut self, row: &ReconciliationStatus) -> Result<()>;
    /// The saved queue of scheduled reconciliations.
    fn load_scheduled(&mut self) -> Result<Vec<String>>;
    /// Replaces the saved queue, atomically.
    fn save_scheduled(&mut self, parties: &[String]) -> Result<()>;
    /// CR_PLUGIN_VALUE: the value under `key`, if any.
    fn load_value(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Saves `value` under `key` or deletes the key (`None`), atomically;
    /// a new key past [`crate::capabilities::MAX_VALUE_KEYS`] is refused.
    fn save_value(&mut self, key: &str, value: Option<&[u8]>) -> Result<()>;

    /// CR_RECOVERY_REQUEST: the requests IN_PROGRESS and the newest
    /// `limit` others, newest first.
    fn load_recovery_requests(
        &mut self,
        limit: u32,
    ) -> Result<Vec<ledger_sync_vocabulary::recovery::RecoveryRequest>>;
    /// Inserts or replaces a request's row.
    fn save_recovery_request(
        &mut self,
        request: &ledger_sync_vocabulary::recovery::RecoveryRequest,
    ) -> Result<()>;
    /// Appends a CR_RECOVERY_LOG line, keeping the newest
    /// [`recovery::KEEP_LOG_LINES`].
    fn append_recovery_log(
        &mut self,
        entry: &ledger_sync_vocabulary::recovery::RecoveryLogEntry,
    ) -> Result<()>;
    /// CR_RECOVERY_REQUEST summed by side and status, for metrics.
    fn recovery_totals(&mut self) -> Result<Vec<recovery::RecoveryTotals>>;
    /// A request's newest `limit` log lines, oldest first.
    fn load_recovery_log(
        &mut self,
        request_id: &str,
        limit: u32,
    ) -> Result<Vec<ledger_sync_vocabulary::recovery::RecoveryLogEntry>>;

    /// The applied schema versions, in order (from the version table).
    fn schema_versions(&mut self) -> Result<Vec<u32>>;
    /// Every table's columns as (table, column, type class, nullable), in
    /// the order the schema declares them; table names in lower case, type
    /// classes `integer`, `text` or `bytes` whatever the dialect calls them.
    fn describe_schema(&mut self) -> Result<Vec<(String, String, &'static str, bool)>>;
}

/// Connects to a node's database, creating or migrating its schema.
pub fn connect(database: &Database) -> Result<Box<dyn NodeStore>> {
    Ok(match database {
        Database::Sqlite(path) => Box::new(sqlite::SqliteStore::open(path)?),
        Database::Postgres(url) => Box::new(postgres::PostgresStore::connect(url)?),
    })
}

/// Another connection to a database already migrated (by [`connect`]), for
/// reading: the reader pool's.
pub fn connect_reader(database: &Database) -> Result<Box<dyn NodeStore>> {
    Ok(match database {
        Database::Sqlite(path) => Box::new(sqlite::SqliteStore::open_read_only(path)?),
        Database::Postgres(url) => Box::new(postgres::PostgresStore::connect_reader(url)?),
    })
}
