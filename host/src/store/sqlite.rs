//! The SQLite backend: one file per node, in WAL mode. Its queries live in
//! [`super::vault`] and [`super::status`]; this module opens and migrates
//! the file and puts those queries behind [`NodeStore`].

use super::held::{self, HeldAside, HeldChanges};
use super::migrations::{self, MIGRATIONS, SQLITE_VERSION_TABLE};
use super::{NodeStore, Recorded, VaultTransaction, status, vault::Vault};
use anyhow::{Context, Result};
use ledger_sync_vocabulary::ReconciliationStatus;
use ledger_sync_vocabulary::id::TxId;
use ledger_sync_vocabulary::page::TransactionPage;
use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest};
use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;

/// How long a write waits for another connection's to finish.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens (creating if needed) a node database and brings its schema up to
/// date.
pub fn open(path: &Path) -> Result<Connection> {
    let new = !path.exists();
    if new {
        // The vault is the node's alone: the file is created owner-only
        // before SQLite opens it (its -wal and -shm files take its mode).
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
            .open(path)
            .with_context(|| format!("creating node database {}", path.display()))?;
    }
    let mut conn = Connection::open(path)
        .with_context(|| format!("opening node database {}", path.display()))?;
    // Several connections write to one node database — the status store,
    // the recovery tables, verified recording, the admin API's recorder —
    // each from its own thread: one waits for another's write rather than
    // failing with "database is locked".
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    migrate(&mut conn).with_context(|| format!("migrating node database {}", path.display()))?;
    Ok(conn)
}

/// Applies the migrations the file lacks, in one transaction.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(SQLITE_VERSION_TABLE)?;
    let mut current: u32 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM ledger_sync_schema_version",
        [],
        |r| r.get(0),
    )?;
    // Files from before the version table counted in `user_version`.
    let user_version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current == 0 && user_version > 0 {
        for m in MIGRATIONS.iter().take(user_version as usize) {
            record(&tx, m.version, m.description)?;
        }
        current = user_version;
    }
    anyhow::ensure!(
        current <= migrations::latest(),
        "{}",
        migrations::too_new(current, "the SQLite database")
    );
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sqlite)
            .with_context(|| format!("applying migration {} ({})", m.version, m.description))?;
        record(&tx, m.version, m.description)?;
    }
    tx.commit()?;
    Ok(())
}

fn record(conn: &Connection, version: u32, description: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO ledger_sync_schema_version (version, description, applied_at_ms) \
         VALUES (?1, ?2, ?3)",
        params![version, description, migrations::now_ms()],
    )?;
    Ok(())
}

/// A node's SQLite database behind [`NodeStore`].
pub struct SqliteStore {
    conn: Connection,
    /// Party handles of committed batches, so a large recording looks each
    /// party up once.
    known_parties: hashbrown::HashMap<String, u32>,
}

impl SqliteStore {
    /// Opens and migrates the file.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Ok(SqliteStore {
            conn: open(path)?,
            known_parties: Default::default(),
        })
    }

    /// A read-only connection to a file already migrated.
    pub fn open_read_only(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening a vault reader on {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "cache_size", -16384)?;
        Ok(SqliteStore {
            conn,
            known_parties: Default::default(),
        })
    }
}

impl NodeStore for SqliteStore {
    fn record_holding(
        &mut self,
        txs: &[VaultTransaction],
        changes: &HeldChanges,
    ) -> Result<Recorded> {
        Vault::new(&self.conn).record_with(txs, &mut self.known_parties, changes)
    }
    fn held_waiting_on(&mut self, ids: &[TxId]) -> Result<Vec<HeldAside>> {
        held::waiting_on_sqlite(&self.conn, ids)
    }
    fn held_aside(&mut self, limit: u32) -> Result<(u64, Vec<HeldAside>)> {
        held::list_sqlite(&self.conn, limit)
    }
    fn drop_held(&mut self, ids: Option<&[TxId]>) -> Result<u64> {
        held::drop_sqlite(&self.conn, ids)
    }
    fn read_records(&mut self, after: u64, limit: u32) -> Result<(Vec<VaultTransaction>, u64)> {
        Vault::new(&self.conn).read_records(after, limit)
    }
    fn read_page(&mut self, after: u64, limit: u32) -> Result<TransactionPage> {
        Vault::new(&self.conn).read_page(after, limit)
    }
    fn contains(&mut self, ids: &[u8]) -> Result<Vec<bool>> {
        Vault::new(&self.conn).contains(ids)
    }
    fn payloads(&mut self, ids: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        Vault::new(&self.conn).payloads(ids)
    }
    fn find_party(&mut self, name: &str) -> Result<Option<u32>> {
        Vault::new(&self.conn).find_party(name)
    }
    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>> {
        Vault::new(&self.conn).party_names(handles)
    }
    fn parties(&mut self) -> Result<Vec<(u32, String)>> {
        Vault::new(&self.conn).parties()
    }
    fn all_ids(&mut self) -> Result<Vec<TxId>> {
        Vault::new(&self.conn).all_ids()
    }
    fn count(&mut self) -> Result<u64> {
        Vault::new(&self.conn).count()
    }
    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>> {
        status::load_statuses(&self.conn)
    }
    fn save_status(&mut self, row: &ReconciliationStatus) -> Result<()> {
        status::save_status(&self.conn, row)
    }
    fn load_scheduled(&mut self) -> Result<Vec<String>> {
        status::load_scheduled(&self.conn)
    }
    fn save_scheduled(&mut self, parties: &[String]) -> Result<()> {
        status::save_scheduled(&self.conn, parties)
    }
    fn load_value(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        status::load_value(&self.conn, key)
    }
    fn save_value(&mut self, key: &str, value: Option<&[u8]>) -> Result<()> {
        status::save_value(&self.conn, key, value)
    }

    fn load_recovery_requests(&mut self, limit: u32) -> Result<Vec<RecoveryRequest>> {
        super::recovery::load_requests(&self.conn, limit)
    }
    fn save_recovery_request(&mut self, request: &RecoveryRequest) -> Result<()> {
        super::recovery::save_request(&self.conn, request)
    }
    fn recovery_totals(&mut self) -> Result<Vec<super::recovery::RecoveryTotals>> {
        super::recovery::totals(&self.conn)
    }
    fn append_recovery_log(&mut self, entry: &RecoveryLogEntry) -> Result<()> {
        super::recovery::append_log(&mut self.conn, entry)
    }
    fn load_recovery_log(&mut self, request_id: &str, limit: u32) -> Result<Vec<RecoveryLogEntry>> {
        super::recovery::load_log(&self.conn, request_id, limit)
    }

    fn schema_versions(&mut self) -> Result<Vec<u32>> {
        let mut stmt = self
            .conn
            .prepare("SELECT version FROM ledger_sync_schema_version ORDER BY version")?;
        let versions = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(versions)
    }

    fn describe_schema(&mut self) -> Result<Vec<(String, String, &'static str, bool)>> {
        let tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut columns = Vec::new();
        for table in tables {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            for row in rows {
                let (name, kind, not_null, pk) = row?;
                let class = match kind.to_ascii_uppercase().as_str() {
                    "INTEGER" => "integer",
                    "BLOB" => "bytes",
                    _ => "text",
                };
                // An INTEGER PRIMARY KEY is never NULL (it is the rowid).
                let nullable = !(not_null || pk > 0);
                columns.push((table.to_ascii_lowercase(), name, class, nullable));
            }
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        drop(open(&path).unwrap());
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_versions().unwrap(), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_file_counted_in_user_version_is_recorded_not_migrated_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0].sqlite).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO vault_transaction (tx_id, dependencies, outputs) \
                 VALUES (?1, x'', x'')",
                [&[1u8; 32][..]],
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_versions().unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(store.count().unwrap(), 1);
    }
}
