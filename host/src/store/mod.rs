//! The node's embedded SQLite database.
//!
//! One file per node holds the vault's transaction metadata (`party`,
//! `vault_transaction`, see [`vault`]) and the plugin's tables
//! (`CR_RECONCILIATION_STATUS`, `CR_RECONCILIATION_QUEUE`, see [`status`]).
//! Migrations are numbered by SQLite's `user_version` and applied in order,
//! each in its own transaction; [`reader_pool`] reads vault pages ahead on
//! read-only connections.

pub mod reader_pool;
pub mod status;
pub mod vault;

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::Path;

/// Schema migrations, applied in order. Never edit one that has shipped; add
/// a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the vault's transaction metadata and the reconciliation tables.
    r#"
    CREATE TABLE party (
        handle INTEGER PRIMARY KEY,
        name   TEXT NOT NULL UNIQUE
    );
    -- One row per recorded transaction, in recording order (seq is the vault
    -- cursor). dependencies: 32 bytes per dependency id. outputs: see
    -- store::vault::OutputsBlob.
    CREATE TABLE vault_transaction (
        seq          INTEGER PRIMARY KEY,
        tx_id        BLOB NOT NULL UNIQUE CHECK (length(tx_id) = 32),
        dependencies BLOB NOT NULL,
        outputs      BLOB NOT NULL
    );
    CREATE TABLE CR_RECONCILIATION_STATUS (
        party_name                                   TEXT NOT NULL,
        is_requester                                 INTEGER NOT NULL CHECK (is_requester IN (0, 1)),
        state_machine_id                             TEXT NOT NULL,
        last_successful_reconciliation_time_started  INTEGER,
        last_successful_reconciliation_time_finished INTEGER,
        last_successful_reconciliation_status        TEXT,
        last_successful_reconciliation_result        BLOB NOT NULL,
        last_reconciliation_time_started             INTEGER,
        last_reconciliation_time_finished            INTEGER,
        last_reconciliation_status                   TEXT NOT NULL,
        last_reconciliation_error                    TEXT NOT NULL,
        PRIMARY KEY (party_name, is_requester)
    );
    -- Outgoing reconciliations scheduled but not yet started, in order.
    CREATE TABLE CR_RECONCILIATION_QUEUE (
        position   INTEGER PRIMARY KEY,
        party_name TEXT NOT NULL
    );
    "#,
];

/// Opens (creating if needed) a node database and brings its schema up to
/// date.
pub fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)
        .with_context(|| format!("opening node database {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    migrate(&mut conn).with_context(|| format!("migrating node database {}", path.display()))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    anyhow::ensure!(
        current <= MIGRATIONS.len(),
        "the database schema is version {current}, newer than this ledger-sync ({})",
        MIGRATIONS.len()
    );
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        drop(open(&path).unwrap());
        let conn = open(&path).unwrap();
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }
}
