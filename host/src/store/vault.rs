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
            let (mut deps, mut outputs, mut state) =
                (Vec::new(), OutputsBlob::default(), Vec::new());
            for t in txs {
                deps.clear();
                for d in &t.dependencies {
                    deps.extend_from_slice(d);
                }
                outputs.clear();
                for participants in &t.outputs {
                    state.clear();
                    for name in participants {
                        let handle = match handles.get(name) {
                            Some(h) => *h,
                            None => {
                                let h = vault.party_handle(name)?;
                                handles.insert(name.clone(), h);
                                h
                            }
                        };
                        state.push(handle);
                    }
                    outputs.push_output(&state);
                }
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
            let seq: i64 = row.get(0)?;
            let id = row.get_ref(1)?.as_blob()?;
            let deps = row.get_ref(2)?.as_blob()?;
            let outputs = row.get_ref(3)?.as_blob()?;
            anyhow::ensure!(
                id.len() == TX_ID_LEN && deps.len() % TX_ID_LEN == 0,
                "vault row {seq} is corrupt (id of {} bytes, dependencies of {} bytes)",
                id.len(),
                deps.len()
            );
            page.ids.extend_from_slice(id);
            page.dependency_counts.push((deps.len() / TX_ID_LEN) as u32);
            page.dependencies.extend_from_slice(deps);
            let count = OutputsBlob::read_into(outputs, &mut page)
                .with_context(|| format!("vault row {seq} has truncated outputs"))?;
            page.output_counts.push(count);
            page.cursor = seq as u64;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(n: u8, deps: &[u8], outputs: &[&[&str]]) -> VaultTransaction {
        VaultTransaction {
            id: [n; 32],
            dependencies: deps.iter().map(|d| [*d; 32]).collect(),
            outputs: outputs
                .iter()
                .map(|o| o.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn pages_round_trip_through_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("v.db")).unwrap();
        let vault = Vault::new(&conn);
        vault
            .record(&[
                tx(1, &[], &[&["A"]]),
                tx(2, &[1], &[&["A", "B"], &["B"]]),
                tx(3, &[2], &[]),
            ])
            .unwrap();
        let p1 = vault.read_page(0, 2).unwrap();
        assert_eq!(p1.ids.len(), 64);
        assert_eq!(p1.dependency_counts, vec![0, 1]);
        assert_eq!(p1.output_counts, vec![1, 2]);
        assert_eq!(p1.participant_counts, vec![1, 2, 1]);
        let a = vault.find_party("A").unwrap().unwrap();
        let b = vault.find_party("B").unwrap().unwrap();
        assert_eq!(p1.participants, vec![a, a, b, b]);
        let p2 = vault.read_page(p1.cursor, 2).unwrap();
        assert_eq!(p2.ids, vec![3; 32]);
        assert_eq!(p2.output_counts, vec![0]);
        let p3 = vault.read_page(p2.cursor, 2).unwrap();
        assert!(p3.ids.is_empty());
        assert_eq!(p3.cursor, p2.cursor);
        let past = vault.read_page(u64::MAX, 2).unwrap();
        assert!(past.is_empty() && past.cursor == u64::MAX);
        let mut ids = vec![1u8; 32];
        ids.extend_from_slice(&[9; 32]);
        assert_eq!(vault.contains(&ids).unwrap(), vec![true, false]);
        assert!(vault.contains(&[0; 33]).is_err());
        assert_eq!(vault.party_names(&[b, a]).unwrap(), vec!["B", "A"]);
        assert!(vault.party_names(&[999]).is_err());
        assert_eq!(vault.find_party("C").unwrap(), None);
    }
}
