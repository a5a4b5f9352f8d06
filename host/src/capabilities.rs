//! What a node host hands the reference host: its vault and its status
//! store, as capabilities. The `vault` and `status-store` imports depend on
//! these two traits only, so a host keeps its ledger wherever it already
//! does — its own tables, an in-memory index, a service — and implements
//! the handful of reads below over it.
//!
//! Provided implementations:
//! - ledger-sync's own tables on SQLite or PostgreSQL ([`Storage::Database`]:
//!   [`DatabaseVault`](crate::store::shared::DatabaseVault) and
//!   [`DatabaseStatusStore`](crate::store::shared::DatabaseStatusStore));
//! - an operator's PostgreSQL view read in place
//!   ([`ViewVault`](crate::store::view::ViewVault)).
//!
//! `examples/own_vault.rs` reconciles two nodes whose vaults live in a
//! plain in-memory structure.
//!
//! Both traits take `&self` and are `Send + Sync`: the host calls them from
//! the plugin's thread and from its vault readers at once (see
//! [`reader_pool`](crate::store::reader_pool)). A failure is an error the
//! plugin sees as the import's error string (it logs it and tries later);
//! it never ends the node.

use crate::store::Database;
use anyhow::Result;
use ledger_sync_vocabulary::ReconciliationStatus;
use ledger_sync_vocabulary::page::TransactionPage;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A node's vault, read-only, as the `vault` import needs it. The
/// contract is `wit/vault.wit`'s, restated here for implementers.
pub trait LedgerVault: Send + Sync {
    /// At most `limit` transactions recorded after cursor `after`, in
    /// recording order. Cursors are the vault's: strictly increasing along
    /// the order, 0 before the first transaction; a transaction recorded
    /// later sorts after every earlier one. Past the end: an empty page
    /// with `cursor = after`. Parties are given by handle.
    fn read_page(&self, after: u64, limit: u32) -> Result<TransactionPage>;
    /// Whether each 32-byte id in `ids` (concatenated) is held now.
    fn contains(&self, ids: &[u8]) -> Result<Vec<bool>>;
    /// The handle of a party some held transaction involves, if any.
    /// Handles are the vault's choice, stable for as long as the node runs.
    fn find_party(&self, name: &str) -> Result<Option<u32>>;
    /// The names of parties by handle; a handle never given is an error.
    fn party_names(&self, handles: &[u32]) -> Result<Vec<String>>;
}

/// Where the plugin keeps its CR_RECONCILIATION_STATUS rows and its queue
/// of scheduled reconciliations. Each write is atomic: one that fails
/// leaves what was stored as it was.
pub trait StatusStore: Send + Sync {
    /// Every row, ordered by party and side.
    fn load_statuses(&self) -> Result<Vec<ReconciliationStatus>>;
    /// Inserts or replaces the row of (party, side).
    fn save_status(&self, row: &ReconciliationStatus) -> Result<()>;
    /// The saved queue, in order.
    fn load_scheduled(&self) -> Result<Vec<String>>;
    /// Replaces the saved queue.
    fn save_scheduled(&self, parties: &[String]) -> Result<()>;
}

/// Where a node's vault and status store are.
#[derive(Clone)]
pub enum Storage {
    /// ledger-sync's own tables in this database, opened (and migrated)
    /// when the node starts.
    Database(Database),
    /// The node host's own.
    Provided {
        vault: Arc<dyn LedgerVault>,
        statuses: Arc<dyn StatusStore>,
    },
}

impl Storage {
    /// Opens the capabilities the imports use.
    pub fn open(&self) -> Result<(Arc<dyn LedgerVault>, Arc<dyn StatusStore>)> {
        match self {
            Storage::Database(database) => {
                // The status store's connection migrates the schema first.
                let statuses = crate::store::shared::DatabaseStatusStore::open(database)?;
                let vault = crate::store::shared::DatabaseVault::new(database.clone());
                Ok((Arc::new(vault), Arc::new(statuses)))
            }
            Storage::Provided { vault, statuses } => Ok((vault.clone(), statuses.clone())),
        }
    }

    /// The database, when the node keeps its tables in one.
    pub fn database(&self) -> Option<&Database> {
        match self {
            Storage::Database(database) => Some(database),
            Storage::Provided { .. } => None,
        }
    }
}

impl From<Database> for Storage {
    fn from(database: Database) -> Storage {
        Storage::Database(database)
    }
}

impl From<PathBuf> for Storage {
    fn from(path: PathBuf) -> Storage {
        Storage::Database(path.into())
    }
}

impl From<&Path> for Storage {
    fn from(path: &Path) -> Storage {
        Storage::Database(path.into())
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Database(database) => database.fmt(f),
            Storage::Provided { .. } => f.write_str("the node host's own vault"),
        }
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
