//! The vault's transaction metadata in SQLite: recording transactions,
//! reading pages in recording order, and the look-ups the `vault` import
//! answers. Usable without any guest (the benchmark and the tests record
//! vaults with it).
//!
//! A row's `outputs` column holds each output state's participants as an
//! [`OutputsBlob`]; this module is the only place that writes or reads it.

use super::HeldChanges;
use anyhow::{Context, Result};
use hashbrown::HashMap;
use ledger_sync_vocabulary::id::{TX_ID_LEN, TxId};
use ledger_sync_vocabulary::page::TransactionPage;
use rusqlite::{Connection, OptionalExtension, params};

/// Refuses concatenated ids that are not whole 32-byte ids.
pub fn check_ids(ids: &[u8]) -> Result<()> {
    anyhow::ensure!(
        ids.len().is_multiple_of(TX_ID_LEN),
        "{} bytes of ids is not a whole number of 32-byte transaction ids",
        ids.len()
    );
    Ok(())
}

/// A transaction to record, as a node's vault would hold its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultTransaction {
    pub id: TxId,
    /// Ids of the transactions whose outputs this one consumes or references.
    pub dependencies: Vec<TxId>,
    /// Each output state's participants, by legal name.
    pub outputs: Vec<Vec<String>>,
    /// The transaction's own bytes, if the vault keeps them: opaque to
    /// reconciliation (never read to build the graph), kept for recovery.
    pub payload: Option<Vec<u8>>,
}

/// What recording one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Transactions the vault did not hold before.
    pub new: u64,
    /// Transactions it already held with the same content (no-ops; a
    /// payload given now for one recorded without it is kept).
    pub already: u64,
    /// Dependencies the vault did not hold when their dependant was
    /// recorded, in the order met (a dependency may be named twice). The
    /// graph is then not self-consistent, as after a restore.
    pub missing_dependencies: Vec<TxId>,
}

impl Recorded {
    /// Adds another batch's outcome to this one.
    pub fn add(&mut self, other: Recorded) {
        self.new += other.new;
        self.already += other.already;
        self.missing_dependencies.extend(other.missing_dependencies);
    }
}

/// Recording an id again with other content: ids are immutable, so the
/// whole batch is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "transaction {} is already recorded with other {what}; a transaction id names one \
     transaction forever",
    ledger_sync_vocabulary::id::to_hex(id)
)]
pub struct ConflictingTransaction {
    pub id: TxId,
    /// What differs: `dependencies`, `outputs` or `payload`.
    pub what: &'static str,
}

/// Compares a transaction about to be recorded with the row its id already
/// has (columns as stored): `Ok(true)` when the stored row lacks the payload
/// the new one brings (the caller stores it), `Ok(false)` for the same
/// content, otherwise the conflict.
pub(crate) fn compare_stored(
    id: &TxId,
    new: (&[u8], &[u8], Option<&[u8]>),
    stored: (&[u8], &[u8], Option<&[u8]>),
) -> Result<bool, ConflictingTransaction> {
    let conflict = |what| ConflictingTransaction { id: *id, what };
    if new.0 != stored.0 {
        return Err(conflict("dependencies"));
    }
    if new.1 != stored.1 {
        return Err(conflict("outputs"));
    }
    match (new.2, stored.2) {
        (Some(a), Some(b)) if a != b => Err(conflict("payload")),
        (Some(_), None) => Ok(true),
        _ => Ok(false),
    }
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

/// A whole transaction from its stored columns, parties by name.
pub(crate) fn decode_record(
    seq: i64,
    id: &[u8],
    deps: &[u8],
    outputs: &[u8],
    payload: Option<Vec<u8>>,
    names: &HashMap<u32, String>,
) -> Result<VaultTransaction> {
    let mut page = TransactionPage::empty(0);
    push_row(&mut page, seq, id, deps, outputs)?;
    let mut participants = page.participants.iter();
    let outputs = page
        .participant_counts
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    let h = participants.next().expect("counted");
                    names.get(h).cloned().with_context(|| {
                        format!("vault row {seq} names party handle {h}, which no party has")
                    })
                })
                .collect::<Result<Vec<String>>>()
        })
        .collect::<Result<_>>()?;
    Ok(VaultTransaction {
        id: id.try_into().expect("checked by push_row"),
        dependencies: deps
            .chunks_exact(TX_ID_LEN)
            .map(|d| d.try_into().expect("32 bytes"))
            .collect(),
        outputs,
        payload,
    })
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

/// Most party handles a connection remembers between batches.
const MAX_KNOWN_PARTIES: usize = 1 << 20;

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

    /// Records transactions in order, in one database transaction: all of
    /// them or, on any error, none. One already recorded with the same
    /// content is a no-op; with other content the batch is refused
    /// ([`ConflictingTransaction`]).
    pub fn record(&self, txs: &[VaultTransaction]) -> Result<Recorded> {
        self.record_with(txs, &mut HashMap::new(), &HeldChanges::default())
    }

    /// [`Vault::record`], with `known` parties' handles remembered across
    /// calls (only those of committed batches are added to it), and the
    /// `held` changes to CR_HELD_ASIDE in the same database transaction.
    pub fn record_with(
        &self,
        txs: &[VaultTransaction],
        known: &mut HashMap<String, u32>,
        held: &HeldChanges,
    ) -> Result<Recorded> {
        let tx = self.conn.unchecked_transaction()?;
        let mut recorded = Recorded::default();
        let mut fresh: HashMap<String, u32> = HashMap::new();
        {
            let vault = Vault::new(&tx);
            let mut add = tx.prepare_cached(
                "INSERT INTO vault_transaction (tx_id, dependencies, outputs, payload) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tx_id) DO NOTHING",
            )?;
            let mut stored = tx.prepare_cached(
                "SELECT dependencies, outputs, payload FROM vault_transaction WHERE tx_id = ?1",
            )?;
            let mut fill =
                tx.prepare_cached("UPDATE vault_transaction SET payload = ?2 WHERE tx_id = ?1")?;
            let mut held = tx.prepare_cached("SELECT 1 FROM vault_transaction WHERE tx_id = ?1")?;
            // Ids of this batch, recorded above: most dependencies are
            // recent, and this spares their look-up.
            let mut batch: hashbrown::HashSet<&TxId> = hashbrown::HashSet::with_capacity(txs.len());
            for t in txs {
                let (deps, outputs) =
                    encode_columns(t, |name| match known.get(name).or(fresh.get(name)) {
                        Some(h) => Ok(*h),
                        None => {
                            let h = vault.party_handle(name)?;
                            fresh.insert(name.to_string(), h);
                            Ok(h)
                        }
                    })?;
                let payload = t.payload.as_deref();
                if add.execute(params![&t.id[..], &deps, outputs.as_bytes(), payload])? == 1 {
                    recorded.new += 1;
                } else {
                    let (d, o, p): (Vec<u8>, Vec<u8>, Option<Vec<u8>>) =
                        stored.query_row([&t.id[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    let missing_payload = compare_stored(
                        &t.id,
                        (&deps, outputs.as_bytes(), payload),
                        (&d, &o, p.as_deref()),
                    )?;
                    if missing_payload {
                        fill.execute(params![&t.id[..], payload])?;
                    }
                    recorded.already += 1;
                }
                for d in &t.dependencies {
                    if !batch.contains(d) && !held.exists([&d[..]])? {
                        recorded.missing_dependencies.push(*d);
                    }
                }
                batch.insert(&t.id);
            }
        }
        if !held.is_empty() {
            super::held::apply_sqlite(&tx, held, super::migrations::now_ms())?;
        }
        tx.commit().context("recording transactions in the vault")?;
        if known.len() + fresh.len() <= MAX_KNOWN_PARTIES {
            known.extend(fresh);
        }
        Ok(recorded)
    }

    /// At most `limit` whole transactions (names, payloads) after cursor
    /// `after`, and the cursor of the last one (`after` when none).
    pub fn read_records(&self, after: u64, limit: u32) -> Result<(Vec<VaultTransaction>, u64)> {
        let names: HashMap<u32, String> = self.parties()?.into_iter().collect();
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, tx_id, dependencies, outputs, payload FROM vault_transaction \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![after.min(i64::MAX as u64) as i64, limit as i64])?;
        let (mut txs, mut cursor) = (Vec::new(), after);
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            txs.push(decode_record(
                seq,
                row.get_ref(1)?.as_blob()?,
                row.get_ref(2)?.as_blob()?,
                row.get_ref(3)?.as_blob()?,
                row.get(4)?,
                &names,
            )?);
            cursor = seq as u64;
        }
        Ok((txs, cursor))
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
        check_ids(ids)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM vault_transaction WHERE tx_id = ?1")?;
        ids.chunks_exact(TX_ID_LEN)
            .map(|id| Ok(stmt.exists([id])?))
            .collect()
    }

    /// Each id's bytes, if it is recorded with them.
    pub fn payloads(&self, ids: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        check_ids(ids)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT payload FROM vault_transaction WHERE tx_id = ?1")?;
        ids.chunks_exact(TX_ID_LEN)
            .map(|id| {
                let row: Option<Option<Vec<u8>>> = stmt.query_row([id], |r| r.get(0)).optional()?;
                Ok(row.flatten())
            })
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
