//! ledger-sync's own tables as the capabilities a node runs on
//! ([`LedgerVault`], [`StatusStore`]): connections shared by the plugin's
//! thread and the vault readers.

use super::{Database, NodeStore, connect, connect_reader};
use crate::capabilities::{LedgerVault, StatusStore};
use anyhow::Result;
use ledger_sync_vocabulary::ReconciliationStatus;
use ledger_sync_vocabulary::page::TransactionPage;
use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest};
use std::sync::Mutex;

/// Idle read connections kept for reuse; more are opened while more
/// readers read at once, and closed when they are done.
const IDLE_READERS: usize = 72;

/// The vault in ledger-sync's tables: read-only connections (on SQLite),
/// one per concurrent caller, reused.
pub struct DatabaseVault {
    database: Database,
    idle: Mutex<Vec<Box<dyn NodeStore>>>,
}

impl DatabaseVault {
    /// The vault in `database`, whose schema is already migrated.
    pub fn new(database: Database) -> DatabaseVault {
        DatabaseVault {
            database,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, op: impl FnOnce(&mut dyn NodeStore) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().expect("idle readers").pop();
        let mut conn = match taken {
            Some(conn) => conn,
            None => connect_reader(&self.database)?,
        };
        let result = op(&mut *conn);
        let mut idle = self.idle.lock().expect("idle readers");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

impl LedgerVault for DatabaseVault {
    fn read_page(&self, after: u64, limit: u32) -> Result<TransactionPage> {
        self.with(|c| c.read_page(after, limit))
    }
    fn contains(&self, ids: &[u8]) -> Result<Vec<bool>> {
        self.with(|c| c.contains(ids))
    }
    fn transaction_bytes(&self, ids: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        self.with(|c| c.payloads(ids))
    }
    fn find_party(&self, name: &str) -> Result<Option<u32>> {
        self.with(|c| c.find_party(name))
    }
    fn party_names(&self, handles: &[u32]) -> Result<Vec<String>> {
        self.with(|c| c.party_names(handles))
    }
}

/// The status tables, on one connection.
pub struct DatabaseStatusStore {
    conn: Mutex<Box<dyn NodeStore>>,
}

impl DatabaseStatusStore {
    /// Connects to `database`, creating or migrating its schema.
    pub fn open(database: &Database) -> Result<DatabaseStatusStore> {
        Ok(DatabaseStatusStore {
            conn: Mutex::new(connect(database)?),
        })
    }
}

impl StatusStore for DatabaseStatusStore {
    fn load_statuses(&self) -> Result<Vec<ReconciliationStatus>> {
        self.conn.lock().expect("status store").load_statuses()
    }
    fn save_status(&self, row: &ReconciliationStatus) -> Result<()> {
        self.conn.lock().expect("status store").save_status(row)
    }
    fn load_scheduled(&self) -> Result<Vec<String>> {
        self.conn.lock().expect("status store").load_scheduled()
    }
    fn save_scheduled(&self, parties: &[String]) -> Result<()> {
        self.conn
            .lock()
            .expect("status store")
            .save_scheduled(parties)
    }
    fn load_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.conn.lock().expect("status store").load_value(key)
    }
    fn save_value(&self, key: &str, value: Option<&[u8]>) -> Result<()> {
        self.conn
            .lock()
            .expect("status store")
            .save_value(key, value)
    }
}

/// The recovery tables, on one connection.
pub struct DatabaseRecoveryStore {
    conn: Mutex<Box<dyn NodeStore>>,
}

impl DatabaseRecoveryStore {
    /// Connects to `database`, creating or migrating its schema.
    pub fn open(database: &Database) -> Result<DatabaseRecoveryStore> {
        Ok(DatabaseRecoveryStore {
            conn: Mutex::new(connect(database)?),
        })
    }
}

impl crate::capabilities::RecoveryStore for DatabaseRecoveryStore {
    fn load_requests(&self, limit: u32) -> Result<Vec<RecoveryRequest>> {
        self.conn
            .lock()
            .expect("recovery store")
            .load_recovery_requests(limit)
    }
    fn save_request(&self, request: &RecoveryRequest) -> Result<()> {
        self.conn
            .lock()
            .expect("recovery store")
            .save_recovery_request(request)
    }
    fn append_log(&self, entry: &RecoveryLogEntry) -> Result<()> {
        self.conn
            .lock()
            .expect("recovery store")
            .append_recovery_log(entry)
    }
    fn load_log(&self, request_id: &str, limit: u32) -> Result<Vec<RecoveryLogEntry>> {
        self.conn
            .lock()
            .expect("recovery store")
            .load_recovery_log(request_id, limit)
    }
}
