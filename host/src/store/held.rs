//! CR_HELD_ASIDE: verified transactions the vault cannot hold yet, because
//! it lacks some of their dependencies (`wit/since_v0.5.0/recording.wit`).
//! The vault never holds a transaction without its back-chain; what a
//! counterparty sends ahead of its dependencies waits here, outside the
//! ledger graph, until a later recording completes them (then it is
//! recorded in the same database transaction, see
//! [`crate::verified`]) or the operator drops it.
//!
//! Both dialects side by side: each function takes an open SQLite
//! transaction or PostgreSQL transaction, so a backend runs it inside the
//! database transaction that records the batch.

use super::VaultTransaction;
use anyhow::{Context, Result};
use ledger_sync_vocabulary::id::{TxId, split_ids};
use rusqlite::params;

/// A held-aside transaction: everything the vault would record of it, and
/// the dependencies it was missing when it was held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldAside {
    pub transaction: VaultTransaction,
    pub missing: Vec<TxId>,
}

/// What a recording changes in CR_HELD_ASIDE, in the same database
/// transaction as the transactions it records.
#[derive(Clone, Debug, Default)]
pub struct HeldChanges {
    /// Held aside now (or again: a transaction held already is replaced).
    pub hold: Vec<HeldAside>,
    /// No longer held: recorded by this same transaction.
    pub release: Vec<TxId>,
}

impl HeldChanges {
    pub fn is_empty(&self) -> bool {
        self.hold.is_empty() && self.release.is_empty()
    }
}

fn outputs_text(t: &VaultTransaction) -> Result<String> {
    serde_json::to_string(&t.outputs).context("encoding a held-aside transaction's outputs")
}

fn ids_blob(ids: &[TxId]) -> Vec<u8> {
    ids.concat()
}

fn split(blob: &[u8], what: &str) -> Result<Vec<TxId>> {
    split_ids(blob).with_context(|| {
        format!(
            "a held-aside transaction's {what} column is corrupt ({} bytes)",
            blob.len()
        )
    })
}

/// One stored row, read back.
fn decode(
    id: &[u8],
    deps: &[u8],
    outputs: &str,
    payload: Vec<u8>,
    missing: Vec<TxId>,
) -> Result<HeldAside> {
    let id: TxId = id
        .try_into()
        .map_err(|_| anyhow::anyhow!("a held-aside row's id is {} bytes", id.len()))?;
    let outputs: Vec<Vec<String>> =
        serde_json::from_str(outputs).context("a held-aside row's outputs are corrupt")?;
    Ok(HeldAside {
        transaction: VaultTransaction {
            id,
            dependencies: split(deps, "dependencies")?,
            outputs,
            payload: Some(payload),
        },
        missing,
    })
}

/// SQLite: applies `changes` inside the open transaction `conn`.
pub fn apply_sqlite(conn: &rusqlite::Connection, changes: &HeldChanges, now_ms: i64) -> Result<()> {
    for id in &changes.release {
        forget_sqlite(conn, id)?;
    }
    for h in &changes.hold {
        let t = &h.transaction;
        forget_sqlite(conn, &t.id)?;
        conn.prepare_cached(
            "INSERT INTO CR_HELD_ASIDE (tx_id, dependencies, outputs, payload, held_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            &t.id[..],
            ids_blob(&t.dependencies),
            outputs_text(t)?,
            t.payload.as_deref().unwrap_or_default(),
            now_ms
        ])?;
        let mut wait = conn.prepare_cached(
            "INSERT OR IGNORE INTO CR_HELD_ASIDE_WAIT (dependency, tx_id) VALUES (?1, ?2)",
        )?;
        for d in &h.missing {
            wait.execute(params![&d[..], &t.id[..]])?;
        }
    }
    Ok(())
}

fn forget_sqlite(conn: &rusqlite::Connection, id: &TxId) -> Result<usize> {
    conn.prepare_cached("DELETE FROM CR_HELD_ASIDE_WAIT WHERE tx_id = ?1")?
        .execute([&id[..]])?;
    Ok(conn
        .prepare_cached("DELETE FROM CR_HELD_ASIDE WHERE tx_id = ?1")?
        .execute([&id[..]])?)
}

fn missing_sqlite(conn: &rusqlite::Connection, id: &[u8]) -> Result<Vec<TxId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT dependency FROM CR_HELD_ASIDE_WAIT WHERE tx_id = ?1 ORDER BY dependency",
    )?;
    let rows = stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for d in rows {
        out.extend(split(&d?, "dependency")?);
    }
    Ok(out)
}

fn read_sqlite(conn: &rusqlite::Connection, id: &[u8]) -> Result<Option<HeldAside>> {
    use rusqlite::OptionalExtension;
    let row: Option<(Vec<u8>, String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT dependencies, outputs, payload FROM CR_HELD_ASIDE WHERE tx_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((deps, outputs, payload)) = row else {
        return Ok(None);
    };
    let missing = missing_sqlite(conn, id)?;
    decode(id, &deps, &outputs, payload, missing).map(Some)
}

/// SQLite: the held-aside transactions waiting on any of `ids`.
pub fn waiting_on_sqlite(conn: &rusqlite::Connection, ids: &[TxId]) -> Result<Vec<HeldAside>> {
    let mut waiting: Vec<Vec<u8>> = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT tx_id FROM CR_HELD_ASIDE_WAIT WHERE dependency = ?1")?;
    for id in ids {
        for t in stmt.query_map([&id[..]], |r| r.get::<_, Vec<u8>>(0))? {
            waiting.push(t?);
        }
    }
    waiting.sort();
    waiting.dedup();
    let mut out = Vec::with_capacity(waiting.len());
    for t in waiting {
        out.extend(read_sqlite(conn, &t)?);
    }
    Ok(out)
}

/// SQLite: how many are held aside, and the first `limit` by id.
pub fn list_sqlite(conn: &rusqlite::Connection, limit: u32) -> Result<(u64, Vec<HeldAside>)> {
    let count: i64 = conn.query_row("SELECT count(*) FROM CR_HELD_ASIDE", [], |r| r.get(0))?;
    let mut stmt =
        conn.prepare_cached("SELECT tx_id FROM CR_HELD_ASIDE ORDER BY tx_id LIMIT ?1")?;
    let ids: Vec<Vec<u8>> = stmt
        .query_map([limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(read_sqlite(conn, &id)?);
    }
    Ok((count as u64, out))
}

/// SQLite: forgets `ids` (every held-aside transaction when `None`);
/// returns how many were held.
pub fn drop_sqlite(conn: &rusqlite::Connection, ids: Option<&[TxId]>) -> Result<u64> {
    let tx = conn.unchecked_transaction()?;
    let dropped = match ids {
        None => {
            tx.execute("DELETE FROM CR_HELD_ASIDE_WAIT", [])?;
            tx.execute("DELETE FROM CR_HELD_ASIDE", [])? as u64
        }
        Some(ids) => {
            let mut n = 0;
            for id in ids {
                n += forget_sqlite(&tx, id)? as u64;
            }
            n
        }
    };
    tx.commit().context("dropping held-aside transactions")?;
    Ok(dropped)
}

/// PostgreSQL: applies `changes` inside the open transaction `tx`.
pub fn apply_postgres(
    tx: &mut postgres::Transaction<'_>,
    changes: &HeldChanges,
    now_ms: i64,
) -> Result<()> {
    for id in &changes.release {
        forget_postgres(tx, id)?;
    }
    for h in &changes.hold {
        let t = &h.transaction;
        forget_postgres(tx, &t.id)?;
        tx.execute(
            "INSERT INTO CR_HELD_ASIDE (tx_id, dependencies, outputs, payload, held_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &&t.id[..],
                &ids_blob(&t.dependencies),
                &outputs_text(t)?,
                &t.payload.as_deref().unwrap_or_default(),
                &now_ms,
            ],
        )?;
        for d in &h.missing {
            tx.execute(
                "INSERT INTO CR_HELD_ASIDE_WAIT (dependency, tx_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                &[&&d[..], &&t.id[..]],
            )?;
        }
    }
    Ok(())
}

fn forget_postgres(tx: &mut postgres::Transaction<'_>, id: &TxId) -> Result<u64> {
    tx.execute(
        "DELETE FROM CR_HELD_ASIDE_WAIT WHERE tx_id = $1",
        &[&&id[..]],
    )?;
    Ok(tx.execute("DELETE FROM CR_HELD_ASIDE WHERE tx_id = $1", &[&&id[..]])?)
}

fn read_postgres(
    client: &mut impl postgres::GenericClient,
    id: &[u8],
) -> Result<Option<HeldAside>> {
    let Some(row) = client.query_opt(
        "SELECT dependencies, outputs, payload FROM CR_HELD_ASIDE WHERE tx_id = $1",
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let mut missing = Vec::new();
    for m in client.query(
        "SELECT dependency FROM CR_HELD_ASIDE_WAIT WHERE tx_id = $1 ORDER BY dependency",
        &[&id],
    )? {
        missing.extend(split(m.get(0), "dependency")?);
    }
    let deps: Vec<u8> = row.get(0);
    let outputs: String = row.get(1);
    decode(id, &deps, &outputs, row.get(2), missing).map(Some)
}

/// PostgreSQL: the held-aside transactions waiting on any of `ids`.
pub fn waiting_on_postgres(
    client: &mut impl postgres::GenericClient,
    ids: &[TxId],
) -> Result<Vec<HeldAside>> {
    let wanted: Vec<&[u8]> = ids.iter().map(|i| &i[..]).collect();
    let mut waiting: Vec<Vec<u8>> = client
        .query(
            "SELECT DISTINCT tx_id FROM CR_HELD_ASIDE_WAIT WHERE dependency = ANY($1)",
            &[&wanted],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    waiting.sort();
    let mut out = Vec::with_capacity(waiting.len());
    for t in waiting {
        out.extend(read_postgres(client, &t)?);
    }
    Ok(out)
}

/// PostgreSQL: how many are held aside, and the first `limit` by id.
pub fn list_postgres(
    client: &mut impl postgres::GenericClient,
    limit: u32,
) -> Result<(u64, Vec<HeldAside>)> {
    let count: i64 = client
        .query_one("SELECT count(*) FROM CR_HELD_ASIDE", &[])?
        .get(0);
    let ids: Vec<Vec<u8>> = client
        .query(
            "SELECT tx_id FROM CR_HELD_ASIDE ORDER BY tx_id LIMIT $1",
            &[&(limit as i64)],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(read_postgres(client, &id)?);
    }
    Ok((count as u64, out))
}

/// PostgreSQL: forgets `ids` (every one when `None`); returns how many
/// were held.
pub fn drop_postgres(client: &mut postgres::Client, ids: Option<&[TxId]>) -> Result<u64> {
    let mut tx = client.transaction()?;
    let dropped = match ids {
        None => {
            tx.execute("DELETE FROM CR_HELD_ASIDE_WAIT", &[])?;
            tx.execute("DELETE FROM CR_HELD_ASIDE", &[])?
        }
        Some(ids) => {
            let mut n = 0;
            for id in ids {
                n += forget_postgres(&mut tx, id)?;
            }
            n
        }
    };
    tx.commit().context("dropping held-aside transactions")?;
    Ok(dropped)
}
