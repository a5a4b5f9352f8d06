//! The vault's transaction metadata in SQLite: recording transactions,
//! reading pages in recording order, and the look-ups the `vault` import
//! answers. Usable without any guest (the benchmark and the tests record
//! vaults with it).
//!
//! A row's `outputs` column holds each output state's participants as an
//! [`OutputsBlob`]; this module is the only place that writes or reads it.

use anyhow::{Context, Result};
use hashbrown::HashMap;
use ledger_sync_vocabulary::id::{TX_ID_LEN, TxId};
use ledger_sync_vocabulary::page::TransactionPage;
use rusqlite::{Connection, OptionalExtension, params};

/// A transaction to record, as a node's vault would hold its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultTransaction {
    pub id: TxId,
    /// Ids of the transactions whose outputs this one consumes or references.
    pub dependencies: Vec<TxId>,
    /// Each output state's participants, by legal name.
    pub outputs: Vec<Vec<String>>,
}

/// The `outputs` column: per output state, a little-endian `u32`
/// participant count, then that many little-endian `u32` party handles.
#[derive(Default)]
pub struct OutputsBlob(Vec<u8>);

impl OutputsBlob {
    /// Starts an empty blob, reusing this one's buffer.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Appends one output state with these participants.
    pub fn push_output(&mut self, handles: &[u32]) {
        self.0
            .extend_from_slice(&(handles.len() as u32).to_le_bytes());
        for h in handles {
            self.0.extend_from_slice(&h.to_le_bytes());
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Appends the outputs in `blob` to `page`; returns how many there were.
    fn read_into(blob: &[u8], page: &mut TransactionPage) -> Option<u32> {
        let word = |i: usize| {
            blob.get(i..i + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        };
        let (mut at, mut outputs) = (0, 0);
        while at < blob.len() {
            let n = word(at)? as usize;
            at += 4;
            page.participant_counts.push(n as u32);
            for _ in 0..n {
                page.participants.push(word(at)?);
                at += 4;
            }
            outputs += 1;
        }
        Some(outputs)
    }
}

/// Appends one `vault_transaction` row (its columns as stored, whichever
/// backend read them) to `page`, checking its shape.
pub(crate) fn push_row(
    page: &mut TransactionPage,
    seq: i64,
    id: &[u8],
    deps: &[u8],
    outputs: &[u8],
) -> Result<()> {
    anyhow::ensure!(
        id.len() == TX_ID_LEN && deps.len().is_multiple_of(TX_ID_LEN),
        "vault row {seq} is corrupt (id of {} bytes, dependencies of {} bytes)",
        id.len(),
        deps.len()
    );
    page.ids.extend_from_slice(id);
    page.dependency_counts.push((deps.len() / TX_ID_LEN) as u32);
    page.dependencies.extend_from_slice(deps);
    let count = OutputsBlob::read_into(outputs, page)
        .with_context(|| format!("vault row {seq} has truncated outputs"))?;
    page.output_counts.push(count);
    page.cursor = seq as u64;
    Ok(())
}

/// A transaction's `dependencies` and `outputs` columns, with parties by
/// handle (`handle` gives each name's).
pub(crate) fn encode_columns(
    t: &VaultTransaction,
    mut handle: impl FnMut(&str) -> Result<u32>,
) -> Result<(Vec<u8>, OutputsBlob)> {
    let mut deps = Vec::with_capacity(t.dependencies.len() * TX_ID_LEN);
    for d in &t.dependencies {
        deps.extend_from_slice(d);
    }
    let mut outputs = OutputsBlob::default();
    let mut state = Vec::new();
    for participants in &t.outputs {
        state.clear();
        for name in participants {
            state.push(handle(name)?);
        }
        outputs.push_output(&state);
    }
    Ok((deps, outputs))
}

/// Read and write access to one node's vault tables.
pub struct Vault<'a> {
    conn: &'a Connection,
}

impl<'a> Vault<'a> {
    pub fn new(conn: &'a Connection) -> Self {
        Vault { conn }
    }

    /// Records a party if it is new; returns its handle.
    pub fn party_handle(&self, name: &str) -> Result<u32> {
        if let Some(h) = self.find_party(name)? {
            return Ok(h);
        }
        self.conn
            .prepare_cached("INSERT INTO party (name) VALUES (?1)")?
            .execute([name])?;
        Ok(self.conn.last_insert_rowid() as u32)
    }

    /// Records transactions in order, in one database transaction. A
    /// transaction already recorded is skipped.
    pub fn record(&self, txs: &[VaultTransaction]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let vault = Vault::new(&tx);
            let mut handles: HashMap<String, u32> = HashMap::new();
            let mut add = tx.prepare_cached(
                "INSERT OR IGNORE INTO vault_transaction (tx_id, dependencies, outputs) \
                 VALUES (?1, ?2, ?3)",
            )?;
            for t in txs {
                let (deps, outputs) = encode_columns(t, |name| match handles.get(name) {
                    Some(h) => Ok(*h),
                    None => {
                        let h = vault.party_handle(name)?;
                        handles.insert(name.to_string(), h);
                        Ok(h)
                    }
                })?;
                add.execute(params![&t.id[..], &deps, outputs.as_bytes()])?;
            }
        }
        tx.commit().context("recording transactions in the vault")
    }

    /// Reads a page of at most `limit` transactions after cursor `after`.
    pub fn read_page(&self, after: u64, limit: u32) -> Result<TransactionPage> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, tx_id, dependencies, outputs FROM vault_transaction \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut page = TransactionPage::empty(after);
        let mut rows = stmt.query(params![after.min(i64::MAX as u64) as i64, limit as i64])?;
        while let Some(row) = rows.next()? {
            push_row(
                &mut page,
                row.get(0)?,
                row.get_ref(1)?.as_blob()?,
                row.get_ref(2)?.as_blob()?,
                row.get_ref(3)?.as_blob()?,
            )?;
        }
        Ok(page)
    }

    /// Whether each id is recorded.
    pub fn contains(&self, ids: &[u8]) -> Result<Vec<bool>> {
        anyhow::ensure!(
            ids.len().is_multiple_of(TX_ID_LEN),
            "{} bytes of ids is not a whole number of 32-byte transaction ids",
            ids.len()
        );
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM vault_transaction WHERE tx_id = ?1")?;
        ids.chunks_exact(TX_ID_LEN)
            .map(|id| Ok(stmt.exists([id])?))
            .collect()
    }

    /// The handle of a party, if any transaction involves it.
    pub fn find_party(&self, name: &str) -> Result<Option<u32>> {
        Ok(self
            .conn
            .prepare_cached("SELECT handle FROM party WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    /// Every party: (handle, name), by handle.
    pub fn parties(&self) -> Result<Vec<(u32, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT handle, name FROM party ORDER BY handle")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Names of parties by handle.
    pub fn party_names(&self, handles: &[u32]) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM party WHERE handle = ?1")?;
        handles
            .iter()
            .map(|h| {
                stmt.query_row([h], |r| r.get(0))
                    .optional()?
                    .with_context(|| format!("no party has handle {h}"))
            })
            .collect()
    }

    /// Every recorded id, in recording order.
    pub fn all_ids(&self) -> Result<Vec<TxId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tx_id FROM vault_transaction ORDER BY seq")?;
        stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?
            .map(|b| {
                let b = b?;
                TxId::try_from(b.as_slice()).context("corrupt transaction id")
            })
            .collect()
    }

    /// Number of recorded transactions.
    pub fn count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM vault_transaction", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }
}
