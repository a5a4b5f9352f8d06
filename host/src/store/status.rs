//! CR_RECONCILIATION_STATUS and CR_RECONCILIATION_QUEUE in SQLite, in the
//! shared vocabulary's types (status spellings come from
//! [`StatusValue::as_str`], nowhere else).

use anyhow::{Context, Result};
use ledger_sync_vocabulary::id::{join_ids, split_ids};
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue};
use rusqlite::{Connection, params};

/// Every row of CR_RECONCILIATION_STATUS, ordered by party and side.
pub fn load_statuses(conn: &Connection) -> Result<Vec<ReconciliationStatus>> {
    let mut stmt = conn.prepare_cached(
        "SELECT party_name, is_requester, state_machine_id, \
         last_successful_reconciliation_time_started, last_successful_reconciliation_time_finished, \
         last_successful_reconciliation_status, last_successful_reconciliation_result, \
         last_reconciliation_time_started, last_reconciliation_time_finished, \
         last_reconciliation_status, last_reconciliation_error \
         FROM CR_RECONCILIATION_STATUS ORDER BY party_name, is_requester",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Vec<u8>>(6)?,
            r.get::<_, Option<i64>>(7)?,
            r.get::<_, Option<i64>>(8)?,
            r.get::<_, String>(9)?,
            r.get::<_, String>(10)?,
        ))
    })?;
    let millis = |v: Option<i64>| v.map(|m| m as u64);
    rows.map(|row| {
        let (party, req, smid, ss, sf, sst, result, ls, lf, lst, err) = row?;
        let status = |v: &str| {
            StatusValue::from_seed_name(v).with_context(|| {
                format!("CR_RECONCILIATION_STATUS row for {party} has an unknown status `{v}`")
            })
        };
        Ok(ReconciliationStatus {
            last_successful_reconciliation_status: sst.as_deref().map(status).transpose()?,
            last_reconciliation_status: status(&lst)?,
            last_successful_reconciliation_result: split_ids(&result).with_context(|| {
                format!("CR_RECONCILIATION_STATUS row for {party} has a ragged result")
            })?,
            party_name: party,
            is_requester: req,
            state_machine_id: smid,
            last_successful_reconciliation_time_started: millis(ss),
            last_successful_reconciliation_time_finished: millis(sf),
            last_reconciliation_time_started: millis(ls),
            last_reconciliation_time_finished: millis(lf),
            last_reconciliation_error: err,
        })
    })
    .collect()
}

/// Inserts or replaces one row.
pub fn save_status(conn: &Connection, s: &ReconciliationStatus) -> Result<()> {
    let millis = |v: Option<u64>| v.map(|m| m as i64);
    conn.prepare_cached(
        "INSERT OR REPLACE INTO CR_RECONCILIATION_STATUS (party_name, is_requester, \
         state_machine_id, last_successful_reconciliation_time_started, \
         last_successful_reconciliation_time_finished, last_successful_reconciliation_status, \
         last_successful_reconciliation_result, last_reconciliation_time_started, \
         last_reconciliation_time_finished, last_reconciliation_status, last_reconciliation_error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        s.party_name,
        s.is_requester,
        s.state_machine_id,
        millis(s.last_successful_reconciliation_time_started),
        millis(s.last_successful_reconciliation_time_finished),
        s.last_successful_reconciliation_status
            .map(StatusValue::as_str),
        join_ids(&s.last_successful_reconciliation_result),
        millis(s.last_reconciliation_time_started),
        millis(s.last_reconciliation_time_finished),
        s.last_reconciliation_status.as_str(),
        s.last_reconciliation_error,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_queue_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("s.db")).unwrap();
        let mut row = ReconciliationStatus::started(
            "O=PartyB, L=London, C=GB",
            true,
            "c243222b-1940-45df-8828-a8496196d274".into(),
            1,
        );
        row.last_successful_reconciliation_time_started = Some(1);
        row.last_successful_reconciliation_time_finished = Some(2);
        row.last_successful_reconciliation_status = Some(StatusValue::DifferencesFound);
        row.last_successful_reconciliation_result = vec![[7; 32], [8; 32]];
        save_status(&conn, &row).unwrap();
        save_status(&conn, &row).unwrap();
        assert_eq!(load_statuses(&conn).unwrap(), vec![row]);
        save_scheduled(&conn, &["B".into(), "C".into()]).unwrap();
        assert_eq!(load_scheduled(&conn).unwrap(), vec!["B", "C"]);
        save_scheduled(&conn, &[]).unwrap();
        assert!(load_scheduled(&conn).unwrap().is_empty());
    }
}
