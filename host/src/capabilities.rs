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
use ledger_sync_vocabulary::page::TransactionPage;
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus};
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
    /// Each 32-byte id's bytes in its ledger's own format, if the vault
    /// holds the transaction with them (for recovery). A vault that keeps
    /// no bytes need not implement it: recovery then has nothing to send.
    fn transaction_bytes(&self, ids: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        let _ = ids;
        anyhow::bail!("this vault keeps no transaction bytes; recovery cannot send from it")
    }
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
    /// The plugin's value under `key`, if any (`status-store.load-value`).
    /// A store that keeps no values need not implement it: `None`.
    fn load_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let _ = key;
        Ok(None)
    }
    /// Saves the plugin's `value` under `key`, or deletes the key (`None`).
    /// The import has checked the key's and the value's size; a store
    /// refuses a new key past [`MAX_VALUE_KEYS`]. A store that keeps no
    /// values need not implement it: every save is refused, saying so.
    fn save_value(&self, key: &str, value: Option<&[u8]>) -> Result<()> {
        let _ = (key, value);
        anyhow::bail!("this node's status store keeps no plugin values")
    }
}

/// The most keys a plugin may keep values under (`status-store.save-value`).
pub const MAX_VALUE_KEYS: u64 = 4_096;
/// The longest key, in bytes.
pub const MAX_VALUE_KEY_LEN: usize = 128;
/// The largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 16 << 20;

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
                Ok((self.vault(), Arc::new(statuses)))
            }
            Storage::Provided { vault, statuses } => Ok((vault.clone(), statuses.clone())),
        }
    }

    /// The vault capability alone, for another plugin of the same node:
    /// no status store is opened (nor the schema migrated) for it.
    pub fn vault(&self) -> Arc<dyn LedgerVault> {
        match self {
            Storage::Database(database) => {
                Arc::new(crate::store::shared::DatabaseVault::new(database.clone()))
            }
            Storage::Provided { vault, .. } => vault.clone(),
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

/// A capability a plugin was not given: every call is refused with why.
/// The vault of a plugin node.conf does not grant `vault`, and both
/// capabilities of an instance that is only asked who it is.
pub struct Denied(pub String);

impl LedgerVault for Denied {
    fn read_page(&self, _: u64, _: u32) -> Result<TransactionPage> {
        anyhow::bail!("{}", self.0)
    }
    fn contains(&self, _: &[u8]) -> Result<Vec<bool>> {
        anyhow::bail!("{}", self.0)
    }
    fn find_party(&self, _: &str) -> Result<Option<u32>> {
        anyhow::bail!("{}", self.0)
    }
    fn party_names(&self, _: &[u32]) -> Result<Vec<String>> {
        anyhow::bail!("{}", self.0)
    }
    fn transaction_bytes(&self, _: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        anyhow::bail!("{}", self.0)
    }
}

impl StatusStore for Denied {
    fn load_statuses(&self) -> Result<Vec<ReconciliationStatus>> {
        anyhow::bail!("{}", self.0)
    }
    fn save_status(&self, _: &ReconciliationStatus) -> Result<()> {
        anyhow::bail!("{}", self.0)
    }
    fn load_scheduled(&self) -> Result<Vec<String>> {
        anyhow::bail!("{}", self.0)
    }
    fn save_scheduled(&self, _: &[String]) -> Result<()> {
        anyhow::bail!("{}", self.0)
    }
    fn load_value(&self, _: &str) -> Result<Option<Vec<u8>>> {
        anyhow::bail!("{}", self.0)
    }
    fn save_value(&self, _: &str, _: Option<&[u8]>) -> Result<()> {
        anyhow::bail!("{}", self.0)
    }
}

/// The reconciliation plugin's results and flows, as another plugin sees
/// them through the `reconciliation` import (`wit/since_v0.4.0/extension.wit`).
/// The node process answers it by asking the reconciliation plugin's
/// thread; a test may answer it directly.
pub trait ReconciliationResults: Send + Sync {
    /// Every status row, outgoing then incoming.
    fn statuses(&self) -> Result<Vec<ReconciliationStatus>, FlowError>;
    /// ScheduleReconciliationFlow.
    fn schedule(&self, parties: &[String]) -> Result<(), FlowError>;
    /// RefreshReconciliationStatusesFlow.
    fn refresh(&self) -> Result<(), FlowError>;
    /// Whether each 32-byte id of `ids` is in the node's reconciliation
    /// set for `party` (`flows.shared-with`).
    fn shared_with(&self, party: &str, ids: &[u8]) -> Result<Vec<bool>, FlowError>;
}

/// What became of one transaction a [`VerifiedRecorder`] was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recorded now, with every transaction it depends on in the vault.
    New,
    /// Already held with the same content.
    AlreadyHeld,
    /// Verified, but held aside (CR_HELD_ASIDE) until the vault holds
    /// these dependencies.
    HeldAside {
        missing: Vec<ledger_sync_vocabulary::TxId>,
    },
    /// Not verified: the ledger adapter's budget for the call ran out
    /// before it; worth sending again.
    NotVerified(String),
    /// Not recorded, and why.
    Refused(String),
}

/// Records transactions a counterparty sent, each verified first: the
/// `recording` import (`wit/since_v0.5.0/recording.wit`), for a plugin
/// granted `record`. The reference implementation decodes with the node's
/// ledger adapter ([`crate::verified::VerifiedRecording`]).
pub trait VerifiedRecorder: Send + Sync {
    /// One outcome per (id asked for, bytes received), in order; an error
    /// is why nothing was recorded.
    fn record_verified(&self, transactions: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<RecordOutcome>>;
}

/// CR_RECOVERY_REQUEST and CR_RECOVERY_LOG, as the `recovery-store`
/// import needs them (`wit/since_v0.4.0/recovery-store.wit`), for a plugin
/// granted `recovery`. ledger-sync's tables implement it
/// ([`DatabaseRecoveryStore`](crate::store::shared::DatabaseRecoveryStore)).
pub trait RecoveryStore: Send + Sync {
    fn load_requests(
        &self,
        limit: u32,
    ) -> Result<Vec<ledger_sync_vocabulary::recovery::RecoveryRequest>>;
    fn save_request(
        &self,
        request: &ledger_sync_vocabulary::recovery::RecoveryRequest,
    ) -> Result<()>;
    fn append_log(&self, entry: &ledger_sync_vocabulary::recovery::RecoveryLogEntry) -> Result<()>;
    fn load_log(
        &self,
        request_id: &str,
        limit: u32,
    ) -> Result<Vec<ledger_sync_vocabulary::recovery::RecoveryLogEntry>>;
}

/// What node.conf grants a plugin beyond what every plugin has (the
/// network, timers, the clock, its name, its log, its own status store).
#[derive(Clone, Default)]
pub struct Grants {
    /// `vault`: read the node's vault. Without it every read is refused.
    pub vault: bool,
    /// `reconciliation`: the reconciliation plugin's results and flows, and
    /// `reconciliation-ended` calls.
    pub reconciliation: Option<Arc<dyn ReconciliationResults>>,
    /// `record`: record transactions into the vault, each verified by the
    /// node's ledger adapter.
    pub record: Option<Arc<dyn VerifiedRecorder>>,
    /// `recovery`: the recovery tables.
    pub recovery: Option<Arc<dyn RecoveryStore>>,
}

impl Grants {
    /// What the reconciliation plugin is granted: its vault.
    pub fn reconciliation_plugin() -> Grants {
        Grants {
            vault: true,
            reconciliation: None,
            record: None,
            recovery: None,
        }
    }

    /// The grants' names, as node.conf spells them.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.vault {
            names.push(GRANT_VAULT);
        }
        if self.reconciliation.is_some() {
            names.push(GRANT_RECONCILIATION);
        }
        if self.record.is_some() {
            names.push(GRANT_RECORD);
        }
        if self.recovery.is_some() {
            names.push(GRANT_RECOVERY);
        }
        names
    }
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.names())
    }
}

/// node.conf's name of the grant to read the vault.
pub const GRANT_VAULT: &str = "vault";
/// node.conf's name of the grant to the reconciliation plugin's results.
pub const GRANT_RECONCILIATION: &str = "reconciliation";
/// node.conf's name of the grant to record verified transactions.
pub const GRANT_RECORD: &str = "record";
/// node.conf's name of the grant to the recovery tables.
pub const GRANT_RECOVERY: &str = "recovery";
/// Every grant node.conf accepts.
pub const GRANTS: [&str; 4] = [
    GRANT_VAULT,
    GRANT_RECONCILIATION,
    GRANT_RECORD,
    GRANT_RECOVERY,
];

/// Why a plugin's call to a capability it was not granted is refused.
pub fn not_granted(plugin: &str, grant: &str) -> String {
    format!(
        "the plugin {plugin} is not granted `{grant}`: add \"{grant}\" to its grants in node.conf \
         ([[plugins]] ... grants = [\"{grant}\"]) to allow it"
    )
}
