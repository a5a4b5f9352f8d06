//! CR_RECONCILIATION_STATUS and CR_RECONCILIATION_QUEUE in SQLite, in the
//! shared vocabulary's types (status spellings come from
//! [`StatusValue::as_str`], nowhere else).

use crate::capabilities::MAX_VALUE_KEYS;
use anyhow::{Context, Result};
use ledger_sync_vocabulary::id::{join_ids, split_ids};
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue};
use rusqlite::{Connection, params};

/// The columns of CR_RECONCILIATION_STATUS (SELECT and INSERT), in order.
pub(crate) const COLUMNS: &str = "party_name, is_requester, state_machine_id, \
     last_successful_reconciliation_time_started, last_successful_reconciliation_time_finished, \
     last_successful_reconciliation_status, last_successful_reconciliation_result, \
     last_reconciliation_time_started, last_reconciliation_time_finished, \
     last_reconciliation_status, last_reconciliation_error";

/// One row as either backend stores it, column by column: statuses as the
/// seed spells them, times in milliseconds, the result as joined ids.
pub(crate) struct StoredRow {
    pub party_name: String,
    pub is_requester: bool,
    pub state_machine_id: String,
    pub successful_started: Option<i64>,
    pub successful_finished: Option<i64>,
    pub successful_status: Option<String>,
    pub successful_result: Vec<u8>,
    pub started: Option<i64>,
    pub finished: Option<i64>,
    pub status: String,
    pub error: String,
}

impl StoredRow {
    pub fn from_status(s: &ReconciliationStatus) -> StoredRow {
        let millis = |v: Option<u64>| v.map(|m| m.min(i64::MAX as u64) as i64);
        StoredRow {
            party_name: s.party_name.clone(),
            is_requester: s.is_requester,
            state_machine_id: s.state_machine_id.clone(),
            successful_started: millis(s.last_successful_reconciliation_time_started),
            successful_finished: millis(s.last_successful_reconciliation_time_finished),
            successful_status: s
                .last_successful_reconciliation_status
                .map(|v| v.as_str().to_string()),
            successful_result: join_ids(&s.last_successful_reconciliation_result),
            started: millis(s.last_reconciliation_time_started),
            finished: millis(s.last_reconciliation_time_finished),
            status: s.last_reconciliation_status.as_str().to_string(),
            error: s.last_reconciliation_error.clone(),
        }
    }

    pub fn into_status(self) -> Result<ReconciliationStatus> {
        let party = self.party_name;
        let status = |v: &str| {
            StatusValue::from_seed_name(v).with_context(|| {
                format!("CR_RECONCILIATION_STATUS row for {party} has an unknown status `{v}`")
            })
        };
        let millis = |v: Option<i64>| v.map(|m| m.max(0) as u64);
        Ok(ReconciliationStatus {
            last_successful_reconciliation_status: self
                .successful_status
                .as_deref()
                .map(status)
                .transpose()?,
            last_reconciliation_status: status(&self.status)?,
            last_successful_reconciliation_result: split_ids(&self.successful_result)
                .with_context(|| {
                    format!("CR_RECONCILIATION_STATUS row for {party} has a ragged result")
                })?,
            is_requester: self.is_requester,
            state_machine_id: self.state_machine_id,
            last_successful_reconciliation_time_started: millis(self.successful_started),
            last_successful_reconciliation_time_finished: millis(self.successful_finished),
            last_reconciliation_time_started: millis(self.started),
            last_reconciliation_time_finished: millis(self.finished),
            last_reconciliation_error: self.error,
            party_name: party,
        })
    }
}

/// Every row of CR_RECONCILIATION_STATUS, ordered by party and side.
pub fn load_statuses(conn: &Connection) -> Result<Vec<ReconciliationStatus>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM CR_RECONCILIATION_STATUS ORDER BY party_name, is_requester"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok(StoredRow {
            party_name: r.get(0)?,
            is_requester: r.get(1)?,
            state_machine_id: r.get(2)?,
            successful_started: r.get(3)?,
            successful_finished: r.get(4)?,
            successful_status: r.get(5)?,
            successful_result: r.get(6)?,
            started: r.get(7)?,
            finished: r.get(8)?,
            status: r.get(9)?,
            error: r.get(10)?,
        })
    })?;
    rows.map(|row| row?.into_status()).collect()
}

/// Inserts or replaces one row.
pub fn save_status(conn: &Connection, s: &ReconciliationStatus) -> Result<()> {
    let r = StoredRow::from_status(s);
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO CR_RECONCILIATION_STATUS ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        r.party_name,
        r.is_requester,
        r.state_machine_id,
        r.successful_started,
        r.successful_finished,
        r.successful_status,
        r.successful_result,
        r.started,
        r.finished,
        r.status,
        r.error,
    ])
    .with_context(|| format!("saving the reconciliation status for {}", s.party_name))?;
    Ok(())
}

/// The saved queue of scheduled reconciliations.
pub fn load_scheduled(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT party_name FROM CR_RECONCILIATION_QUEUE ORDER BY position")?;
    let parties = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(parties)
}

/// CR_PLUGIN_VALUE: the value under `key`, if any.
pub fn load_value(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    let mut stmt = conn.prepare_cached("SELECT value FROM CR_PLUGIN_VALUE WHERE key = ?1")?;
    let mut rows = stmt.query(params![key])?;
    Ok(match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

/// Saves `value` under `key`, or deletes the key, atomically; a new key
/// past [`MAX_VALUE_KEYS`] is refused.
pub fn save_value(conn: &Connection, key: &str, value: Option<&[u8]>) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    match value {
        None => {
            tx.execute("DELETE FROM CR_PLUGIN_VALUE WHERE key = ?1", params![key])?;
        }
        Some(value) => {
            let (keys, exists): (i64, bool) = tx.query_row(
                "SELECT count(*), coalesce(max(key = ?1), 0) FROM CR_PLUGIN_VALUE",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if !exists && keys as u64 >= MAX_VALUE_KEYS {
                anyhow::bail!(
                    "the plugin keeps values under {keys} keys, the most a node keeps \
                     ({MAX_VALUE_KEYS}); {key:?} was not saved"
                );
            }
            tx.execute(
                "INSERT INTO CR_PLUGIN_VALUE (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
    }
    tx.commit()
        .with_context(|| format!("saving the plugin value {key:?}"))
}

/// Replaces the saved queue, atomically.
pub fn save_scheduled(conn: &Connection, parties: &[String]) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM CR_RECONCILIATION_QUEUE", [])?;
    {
        let mut add = tx.prepare_cached(
            "INSERT INTO CR_RECONCILIATION_QUEUE (position, party_name) VALUES (?1, ?2)",
        )?;
        for (i, p) in parties.iter().enumerate() {
            add.execute(params![i as i64, p])?;
        }
    }
    tx.commit().context("saving the reconciliation queue")
}
