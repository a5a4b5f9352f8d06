//! The plugin's reconciliation core compiled natively, for the benchmark's
//! guest/native ratio: the same `Reconciler` the component runs, on the
//! plugin crate's own in-memory host ([`ledger_sync_plugin::fake`]), with
//! the vaults copied from the benchmark's SQLite files. Nothing here is
//! sandboxed; it exists only to show what the sandbox costs.

use anyhow::{Result, anyhow};
use ledger_sync_host::store::vault::Vault;
use ledger_sync_plugin::fake::{FakeHost, FakeNetwork, FakeVault};
use rusqlite::Connection;

/// Vault transactions copied per page.
const COPY_PAGE: u32 = 100_000;

/// Copies into `vault` the transactions of the SQLite vault `conn` that it
/// does not hold yet (both record in the same order, so its length is the
/// SQLite cursor to read on from). The benchmark's vaults record every
/// party before any transaction, so [`add_node`] names them once.
pub fn sync(vault: &mut FakeVault, conn: &Connection) -> Result<()> {
    let sqlite = Vault::new(conn);
    loop {
        let page = sqlite.read_page(vault.len() as u64, COPY_PAGE)?;
        if page.is_empty() {
            return Ok(());
        }
        vault.append_page(&page);
    }
}

/// A native node on `network` whose vault is a copy of `conn`'s.
pub fn add_node(network: &mut FakeNetwork, name: &str, conn: &Connection, seed: u64) -> Result<()> {
    let mut host = FakeHost::new(name, seed);
    for (handle, party) in Vault::new(conn).parties()? {
        host.vault.name_party(handle, &party);
    }
    sync(&mut host.vault, conn)?;
    network.add(host, "").map_err(|e| anyhow!(e))
}
