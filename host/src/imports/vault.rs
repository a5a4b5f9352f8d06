//! The `vault` import: pages from the reader pool, look-ups straight from
//! the node's [`LedgerVault`] capability.

use crate::bindings::ledger_sync::plugin::vault::{self, TransactionPage};
use crate::capabilities::LedgerVault;
use crate::store::reader_pool::ReaderPool;
use anyhow::Result;
use std::sync::Arc;

/// Most vault readers a host runs for one node, whatever the plugin asks.
pub const MAX_READERS: u32 = 64;

/// The `vault` import's state.
pub struct VaultImport {
    vault: Arc<dyn LedgerVault>,
    readers: ReaderPool,
    pages_read: u64,
}

impl VaultImport {
    /// Reads `vault` with one reader until the plugin asks for more.
    pub fn new(vault: Arc<dyn LedgerVault>) -> Result<Self> {
        Ok(VaultImport {
            readers: ReaderPool::start(&vault, 1)?,
            vault,
            pages_read: 0,
        })
    }

    /// Runs `wanted` readers (at most [`MAX_READERS`]), as the plugin's
    /// `host-requirements` ask.
    pub fn set_readers(&mut self, wanted: u32) -> Result<()> {
        let wanted = wanted.clamp(1, MAX_READERS) as usize;
        if wanted != self.readers.pool_size() {
            self.readers = ReaderPool::start(&self.vault, wanted)?;
        }
        Ok(())
    }

    /// How many readers run now.
    pub fn readers(&self) -> usize {
        self.readers.pool_size()
    }

    /// Pages the plugin has read.
    pub fn pages_read(&self) -> u64 {
        self.pages_read
    }
}

/// The most ids one `read-transaction-bytes` call may name.
pub const MAX_BYTES_IDS: usize = 1_000;

fn describe(e: anyhow::Error) -> String {
    format!("{e:#}")
}

impl vault::Host for VaultImport {
    fn read_transactions(&mut self, after: u64, limit: u32) -> Result<TransactionPage, String> {
        self.pages_read += 1;
        self.readers.read_page(after, limit.max(1)).map(Into::into)
    }

    fn read_transaction_bytes(&mut self, ids: Vec<u8>) -> Result<Vec<Option<Vec<u8>>>, String> {
        let asked = ids.len() / ledger_sync_vocabulary::TX_ID_LEN;
        if asked > MAX_BYTES_IDS {
            return Err(format!(
                "{asked} ids in one call; read-transaction-bytes takes at most {MAX_BYTES_IDS}"
            ));
        }
        self.vault.transaction_bytes(&ids).map_err(describe)
    }

    fn contains_transactions(&mut self, ids: Vec<u8>) -> Result<Vec<bool>, String> {
        self.vault.contains(&ids).map_err(describe)
    }

    fn find_party(&mut self, name: String) -> Result<Option<u32>, String> {
        self.vault.find_party(&name).map_err(describe)
    }

    fn party_names(&mut self, handles: Vec<u32>) -> Result<Vec<String>, String> {
        self.vault.party_names(&handles).map_err(describe)
    }
}
