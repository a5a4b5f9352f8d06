//! CR_RECOVERY_REQUEST and CR_RECOVERY_LOG (migration 3): a recovery
//! plugin's requests and their logs. The row shape is written once
//! ([`StoredRequest`]); the SQL per dialect is in `sqlite.rs` (here, below)
//! and `postgres.rs`.

use anyhow::{Result, bail};
use ledger_sync_vocabulary::recovery::{
    RecoveryLogEntry, RecoveryRequest, RecoveryStatus, request_ids,
};
use rusqlite::{Connection, params};

/// Lines the log keeps, in all (the oldest go first).
pub const KEEP_LOG_LINES: i64 = 100_000;
/// Bytes of a log message kept.
pub const MAX_LOG_MESSAGE: usize = 4096;

/// The columns, in the order both dialects select and insert them.
pub const REQUEST_COLUMNS: &str = "request_id, party_name, is_requester, flow_name, status, \
     time_started, time_finished, requested, outstanding, recovered, unavailable, refused, bytes, \
     error";

/// A request as stored: integers as the databases hold them.
pub struct StoredRequest {
    pub request_id: String,
    pub party_name: String,
    pub is_requester: bool,
    pub flow_name: String,
    pub status: String,
    pub time_started: i64,
    pub time_finished: Option<i64>,
    pub requested: Vec<u8>,
    pub outstanding: Vec<u8>,
    pub recovered: i64,
    pub unavailable: i64,
    pub refused: i64,
    pub bytes: i64,
    pub error: String,
}

impl StoredRequest {
    pub fn from_request(r: &RecoveryRequest) -> StoredRequest {
        StoredRequest {
            request_id: r.request_id.clone(),
            party_name: r.party_name.clone(),
            is_requester: r.is_requester,
            flow_name: r.flow_name.clone(),
            status: r.status.as_str().to_string(),
            time_started: r.time_started as i64,
            time_finished: r.time_finished.map(|t| t as i64),
            requested: r.requested.concat(),
            outstanding: r.outstanding.concat(),
            recovered: i64::from(r.recovered),
            unavailable: i64::from(r.unavailable),
            refused: i64::from(r.refused),
            bytes: r.bytes as i64,
            error: r.error.clone(),
        }
    }

    /// The request, or an error naming what in the row is malformed.
    pub fn into_request(self) -> Result<RecoveryRequest> {
        let Some(status) = RecoveryStatus::from_name(&self.status) else {
            bail!(
                "CR_RECOVERY_REQUEST {}: status `{}` is not one of IN_PROGRESS, COMPLETED, \
                 FAILED, STOPPED",
                self.request_id,
                self.status
            );
        };
        let ids = |column: &str, bytes: &[u8]| {
            request_ids(&self.request_id, column, bytes)
                .map_err(|why| anyhow::anyhow!("CR_RECOVERY_REQUEST: {why}"))
        };
        Ok(RecoveryRequest {
            requested: ids("requested", &self.requested)?,
            outstanding: ids("outstanding", &self.outstanding)?,
            request_id: self.request_id,
            party_name: self.party_name,
            is_requester: self.is_requester,
            flow_name: self.flow_name,
            status,
            time_started: self.time_started as u64,
            time_finished: self.time_finished.map(|t| t as u64),
            recovered: self.recovered as u32,
            unavailable: self.unavailable as u32,
            refused: self.refused as u32,
            bytes: self.bytes as u64,
            error: self.error,
        })
    }
}

/// CR_RECOVERY_REQUEST summed over the rows of one side and status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryTotals {
    pub is_requester: bool,
    pub status: String,
    pub requests: u64,
    /// Transactions recorded (requester) or sent (responder).
    pub transactions: u64,
    pub unavailable: u64,
    pub refused: u64,
    pub bytes: u64,
}

/// The totals query; `CAST` keeps PostgreSQL's sums integers.
pub const TOTALS: &str = "SELECT is_requester, status, COUNT(*), \
     CAST(COALESCE(SUM(recovered), 0) AS BIGINT), CAST(COALESCE(SUM(unavailable), 0) AS BIGINT), \
     CAST(COALESCE(SUM(refused), 0) AS BIGINT), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) \
     FROM CR_RECOVERY_REQUEST GROUP BY is_requester, status ORDER BY is_requester, status";

pub fn totals(conn: &Connection) -> Result<Vec<RecoveryTotals>> {
    let mut stmt = conn.prepare_cached(TOTALS)?;
    let rows = stmt.query_map([], |r| {
        Ok(RecoveryTotals {
            is_requester: r.get(0)?,
            status: r.get(1)?,
            requests: r.get::<_, i64>(2)? as u64,
            transactions: r.get::<_, i64>(3)? as u64,
            unavailable: r.get::<_, i64>(4)? as u64,
            refused: r.get::<_, i64>(5)? as u64,
            bytes: r.get::<_, i64>(6)? as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A log message cut to [`MAX_LOG_MESSAGE`] bytes.
pub fn kept_message(message: &str) -> String {
    ledger_sync_vocabulary::text::bounded(message, MAX_LOG_MESSAGE)
}

const LOAD_REQUESTS_SQLITE: &str = "SELECT request_id, party_name, is_requester, flow_name, \
     status, time_started, time_finished, requested, outstanding, recovered, unavailable, \
     refused, bytes, error FROM CR_RECOVERY_REQUEST \
     WHERE status = 'IN_PROGRESS' OR rowid IN (SELECT rowid FROM CR_RECOVERY_REQUEST \
     WHERE status <> 'IN_PROGRESS' ORDER BY time_started DESC LIMIT ?1) \
     ORDER BY time_started DESC";

pub fn load_requests(conn: &Connection, limit: u32) -> Result<Vec<RecoveryRequest>> {
    let mut stmt = conn.prepare_cached(LOAD_REQUESTS_SQLITE)?;
    let rows = stmt.query_map([limit], |r| {
        Ok(StoredRequest {
            request_id: r.get(0)?,
            party_name: r.get(1)?,
            is_requester: r.get(2)?,
            flow_name: r.get(3)?,
            status: r.get(4)?,
            time_started: r.get(5)?,
            time_finished: r.get(6)?,
            requested: r.get(7)?,
            outstanding: r.get(8)?,
            recovered: r.get(9)?,
            unavailable: r.get(10)?,
            refused: r.get(11)?,
            bytes: r.get(12)?,
            error: r.get(13)?,
        })
    })?;
    rows.map(|row| row?.into_request()).collect()
}

pub fn save_request(conn: &Connection, request: &RecoveryRequest) -> Result<()> {
    let r = StoredRequest::from_request(request);
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO CR_RECOVERY_REQUEST ({REQUEST_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?
    .execute(params![
        r.request_id,
        r.party_name,
        r.is_requester,
        r.flow_name,
        r.status,
        r.time_started,
        r.time_finished,
        r.requested,
        r.outstanding,
        r.recovered,
        r.unavailable,
        r.refused,
        r.bytes,
        r.error
    ])?;
    Ok(())
}

pub fn append_log(conn: &mut Connection, entry: &RecoveryLogEntry) -> Result<()> {
    let tx = conn.transaction()?;
    tx.prepare_cached(
        "INSERT INTO CR_RECOVERY_LOG (request_id, party_name, is_requester, time, level, message) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry.request_id,
        entry.party_name,
        entry.is_requester,
        entry.time as i64,
        entry.level,
        kept_message(&entry.message)
    ])?;
    tx.prepare_cached(
        "DELETE FROM CR_RECOVERY_LOG WHERE seq <= (SELECT MAX(seq) FROM CR_RECOVERY_LOG) - ?1",
    )?
    .execute([KEEP_LOG_LINES])?;
    tx.commit()?;
    Ok(())
}

pub fn load_log(conn: &Connection, request_id: &str, limit: u32) -> Result<Vec<RecoveryLogEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT request_id, party_name, is_requester, time, level, message FROM \
         (SELECT * FROM CR_RECOVERY_LOG WHERE request_id = ?1 ORDER BY seq DESC LIMIT ?2) \
         ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![request_id, limit], |r| {
        Ok(RecoveryLogEntry {
            request_id: r.get(0)?,
            party_name: r.get(1)?,
            is_requester: r.get(2)?,
            time: r.get::<_, i64>(3)? as u64,
            level: r.get(4)?,
            message: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
