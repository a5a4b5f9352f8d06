//! The PostgreSQL backend, for nodes whose vault or operations outgrow one
//! SQLite file. The tables are the same as on SQLite (see [`migrations`]);
//! the queries are written for the server: batches go as arrays
//! (`unnest`), look-ups as `= ANY($1)`, statements are prepared once per
//! connection.
//!
//! Faults: a node whose server is not up yet waits for it at start-up
//! ([`START_WAIT`], back-off from 100 ms to 5 s, a log line per attempt
//! saying what it waits for). A connection the server drops (a restart, a
//! failover) is made again on the next call; the call that found it broken
//! is tried once more on the new connection — every call is idempotent and
//! atomic, so a retry never doubles a write — and if that fails too, the
//! error goes back to the caller (the plugin records a storage error and
//! writes the row again later), leaving the stored row as it was.

use super::held::{self, HeldAside, HeldChanges};
use super::migrations::{self, MIGRATIONS, POSTGRES_VERSION_TABLE};
use super::recovery::{KEEP_LOG_LINES, REQUEST_COLUMNS, StoredRequest, kept_message};
use super::status::{COLUMNS, StoredRow};
use super::vault::{OutputsBlob, decode_record, encode_columns, push_row};
use super::{ConflictingTransaction, NodeStore, Recorded, VaultTransaction, redact};
use crate::capabilities::MAX_VALUE_KEYS;
use anyhow::{Context, Result};
use hashbrown::{HashMap, HashSet};
use ledger_sync_vocabulary::ReconciliationStatus;
use ledger_sync_vocabulary::id::{TX_ID_LEN, TxId};
use ledger_sync_vocabulary::page::TransactionPage;
use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, Config, NoTls, Statement};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// How long a node waits at start-up for its PostgreSQL server.
pub const START_WAIT: Duration = Duration::from_secs(300);
const WAIT_FIRST: Duration = Duration::from_millis(100);
const WAIT_MAX: Duration = Duration::from_secs(5);
/// Rows per statement when recording or looking up in bulk.
const BATCH: usize = 10_000;

/// A node's database on a PostgreSQL server.
pub struct PostgresStore {
    config: Config,
    /// The URL without its password, for messages.
    shown: String,
    client: Option<Client>,
    /// Prepared statements of the current connection, by their SQL.
    statements: HashMap<&'static str, Statement>,
    /// Parties' handles as committed (a handle never changes), so that a
    /// recording sends the server only the names it has not seen: at most
    /// [`PARTY_CACHE`], emptied when full.
    party_handles: HashMap<String, u32>,
}

/// Parties whose handles a store remembers (the seed's profile has
/// 100,000; this bounds the cache at a few tens of MB).
const PARTY_CACHE: usize = 262_144;

/// Whether a failed connection attempt may succeed later: the server is not
/// listening yet, or says it is starting or shutting down.
fn worth_waiting(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    match e.code() {
        None => true,
        Some(code) => {
            *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::TOO_MANY_CONNECTIONS
        }
    }
}

impl PostgresStore {
    fn new(url: &str) -> Result<PostgresStore> {
        let config: Config = url
            .parse()
            .with_context(|| format!("`{}` is not a PostgreSQL URL", redact(url)))?;
        Ok(PostgresStore {
            config,
            shown: redact(url),
            client: None,
            statements: HashMap::new(),
            party_handles: HashMap::new(),
        })
    }

    /// Connects (waiting up to [`START_WAIT`] for the server) and brings the
    /// schema up to date.
    pub fn connect(url: &str) -> Result<PostgresStore> {
        Self::connect_within(url, START_WAIT)
    }

    /// [`connect`](Self::connect), waiting at most `wait` for the server.
    pub fn connect_within(url: &str, wait: Duration) -> Result<PostgresStore> {
        let mut store = Self::new(url)?;
        store.wait_for_server(wait)?;
        store
            .migrate()
            .with_context(|| format!("migrating the node database {}", store.shown))?;
        Ok(store)
    }

    /// A bare connection to the server (waiting up to `wait` for it),
    /// outside any store: the node's lock holds one.
    pub fn connect_plain(url: &str, wait: Duration) -> Result<Client> {
        let mut store = Self::new(url)?;
        store.wait_for_server(wait)?;
        Ok(store.client.take().expect("connected"))
    }

    /// Another connection to a database already migrated.
    pub fn connect_reader(url: &str) -> Result<PostgresStore> {
        let mut store = Self::new(url)?;
        store.wait_for_server(START_WAIT)?;
        Ok(store)
    }

    fn wait_for_server(&mut self, wait: Duration) -> Result<()> {
        let deadline = Instant::now() + wait;
        let mut backoff = WAIT_FIRST;
        loop {
            match self.config.connect(NoTls) {
                Ok(client) => {
                    self.client = Some(client);
                    self.statements.clear();
                    return Ok(());
                }
                Err(e) if worth_waiting(&e) && Instant::now() + backoff < deadline => {
                    // The whole chain: "error connecting to server" alone
                    // does not say whether nothing listens or the host is
                    // unreachable.
                    let mut cause = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(inner) = source {
                        let text = inner.to_string();
                        if !cause.contains(&text) {
                            cause.push_str(&format!(": {text}"));
                        }
                        source = inner.source();
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    tracing::warn!(
                        target: "ledger_sync::store",
                        "waiting for the PostgreSQL server at {} ({cause}); trying again in \
                         {backoff:?}, for {}s more before giving up (check that the server runs \
                         and that node.conf's `database` names it)",
                        self.shown,
                        left.as_secs()
                    );
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(WAIT_MAX);
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot connect to the PostgreSQL server at {}", self.shown)
                    });
                }
            }
        }
    }

    /// Runs `op` on a live connection, making one if the last was lost; an
    /// `op` that fails because the connection broke runs once more on a
    /// new one.
    fn run<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut Client, &mut HashMap<&'static str, Statement>) -> Result<T>,
    ) -> Result<T> {
        for attempt in 0..2 {
            if self.client.as_ref().is_none_or(Client::is_closed) {
                self.statements.clear();
                let client = self.config.connect(NoTls).with_context(|| {
                    format!(
                        "{what}: cannot reach the PostgreSQL server at {}",
                        self.shown
                    )
                })?;
                self.client = Some(client);
            }
            let client = self.client.as_mut().expect("connected above");
            match op(client, &mut self.statements) {
                Ok(value) => return Ok(value),
                Err(e) if attempt == 0 && client.is_closed() => {
                    tracing::warn!(
                        target: "ledger_sync::store",
                        "lost the connection to the PostgreSQL server at {} ({e:#}); reconnecting",
                        self.shown
                    );
                }
                Err(e) => return Err(e).context(what.to_string()),
            }
        }
        unreachable!("the second attempt returns")
    }

    fn migrate(&mut self) -> Result<()> {
        let shown = self.shown.clone();
        let client = self.client.as_mut().context("not connected")?;
        let mut tx = client.transaction()?;
        tx.batch_execute(POSTGRES_VERSION_TABLE)?;
        // One migrating node at a time per database.
        tx.batch_execute("LOCK TABLE ledger_sync_schema_version IN ACCESS EXCLUSIVE MODE")?;
        let current: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM ledger_sync_schema_version",
                &[],
            )?
            .get(0);
        let current = current.max(0) as u32;
        anyhow::ensure!(
            current <= migrations::latest(),
            "{}",
            migrations::too_new(current, &shown)
        );
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            tx.batch_execute(m.postgres)
                .with_context(|| format!("applying migration {} ({})", m.version, m.description))?;
            tx.execute(
                "INSERT INTO ledger_sync_schema_version (version, description, applied_at_ms) \
                 VALUES ($1, $2, $3)",
                &[&(m.version as i32), &m.description, &migrations::now_ms()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// A statement prepared on this connection, once.
fn prepared(
    client: &mut Client,
    cache: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
) -> Result<Statement> {
    if let Some(statement) = cache.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    cache.insert(sql, statement.clone());
    Ok(statement)
}

const READ_PAGE: &str = "SELECT seq, tx_id, dependencies, outputs FROM vault_transaction \
     WHERE seq > $1 ORDER BY seq LIMIT $2";
const CONTAINS: &str = "SELECT tx_id FROM vault_transaction WHERE tx_id = ANY($1)";
const PAYLOADS: &str = "SELECT tx_id, payload FROM vault_transaction WHERE tx_id = ANY($1)";
const FIND_PARTY: &str = "SELECT handle FROM party WHERE name = $1";
/// An upsert of one CR_RECONCILIATION_STATUS row: every column of
/// [`COLUMNS`], the key (party, side) choosing the row.
static SAVE_STATUS: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = COLUMNS.split(',').map(str::trim).collect();
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !matches!(**c, "party_name" | "is_requester"))
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect();
    format!(
        "INSERT INTO CR_RECONCILIATION_STATUS ({COLUMNS}) VALUES ({}) \
         ON CONFLICT (party_name, is_requester) DO UPDATE SET {}",
        values.join(", "),
        updates.join(", ")
    )
});

/// Records the parties named (new ones get handles in order) and returns
/// every one's handle.
fn record_parties(
    tx: &mut postgres::Transaction<'_>,
    names: &[&str],
) -> Result<HashMap<String, u32>> {
    tx.execute(
        "INSERT INTO party (name) SELECT name FROM unnest($1::text[]) WITH ORDINALITY \
         AS t(name, n) ORDER BY n ON CONFLICT (name) DO NOTHING",
        &[&names],
    )?;
    let mut handles: HashMap<String, u32> = HashMap::new();
    for row in tx.query(
        "SELECT handle, name FROM party WHERE name = ANY($1)",
        &[&names],
    )? {
        handles.insert(row.get(1), row.get::<_, i32>(0) as u32);
    }
    Ok(handles)
}

/// Transactions staged per `COPY`, then inserted, compared and checked
/// by one statement each.
const COPY_BATCH: usize = 50_000;

/// The staging tables a recording copies into: gone when its database
/// transaction ends.
const STAGING: &str = "CREATE TEMP TABLE staged_transaction (n bigint, tx_id bytea, \
     dependencies bytea, outputs bytea, payload bytea) ON COMMIT DROP; \
     CREATE TEMP TABLE staged_dependency (n bigint, d bytea) ON COMMIT DROP";

/// One `COPY`'s worth of transactions, recorded: copied straight into the
/// vault when every id is new (the common case, and the fastest path the
/// server has); when one is not — a unique violation rolls that copy back —
/// copied into the staging table instead, inserted where new (in the order
/// sent, so the identity column numbers them as sent), a payload given
/// later filled in, and every row compared with what its id holds, all on
/// the server. Then their dependencies not in the vault are reported.
fn record_chunk(
    tx: &mut postgres::Transaction<'_>,
    chunk: &[VaultTransaction],
    handle: &dyn Fn(&str) -> Option<u32>,
    recorded: &mut Recorded,
) -> Result<()> {
    let mut rows = Vec::with_capacity(chunk.len());
    for t in chunk {
        let (d, o) = encode_columns(t, |name| {
            handle(name).with_context(|| format!("party {name} was not recorded"))
        })?;
        rows.push((&t.id[..], d, o, t.payload.as_deref()));
    }
    tx.batch_execute("TRUNCATE staged_transaction, staged_dependency; SAVEPOINT direct")?;
    // A batch recorded again (its first id is stored) goes the staged way
    // at once, without sending the rows for a copy bound to fail.
    let first: &[u8] = &chunk[0].id;
    let again: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM vault_transaction WHERE tx_id = $1)",
            &[&first],
        )?
        .get(0);
    let direct = match again {
        true => Err(None),
        false => copy_rows(
            tx,
            "COPY vault_transaction (tx_id, dependencies, outputs, payload) FROM STDIN BINARY",
            &rows,
            false,
        )
        .map_err(Some),
    };
    let unique_violation =
        |e: &postgres::Error| e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION);
    match direct {
        Ok(()) => {
            tx.batch_execute("RELEASE SAVEPOINT direct")?;
            recorded.new += chunk.len() as u64;
        }
        Err(Some(e)) if !unique_violation(&e) => return Err(e.into()),
        Err(_) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT direct")?;
            copy_rows(
                tx,
                "COPY staged_transaction (n, tx_id, dependencies, outputs, payload) \
                 FROM STDIN BINARY",
                &rows,
                true,
            )?;
            let new = tx.execute(
                "INSERT INTO vault_transaction (tx_id, dependencies, outputs, payload) \
                 SELECT tx_id, dependencies, outputs, payload FROM staged_transaction \
                 ORDER BY n ON CONFLICT (tx_id) DO NOTHING",
                &[],
            )?;
            recorded.new += new;
            recorded.already += chunk.len() as u64 - new;
            fill_and_compare(tx)?;
        }
    }
    let sink = tx.copy_in("COPY staged_dependency (n, d) FROM STDIN BINARY")?;
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::BYTEA]);
    let dependencies = chunk.iter().flat_map(|t| t.dependencies.iter());
    for (n, d) in dependencies.enumerate() {
        writer.write(&[&(n as i64), &&d[..]])?;
    }
    writer.finish()?;
    for row in tx.query(
        "SELECT d FROM staged_dependency t \
         WHERE NOT EXISTS (SELECT 1 FROM vault_transaction v WHERE v.tx_id = t.d) \
         ORDER BY n",
        &[],
    )? {
        let d: &[u8] = row.get(0);
        recorded
            .missing_dependencies
            .push(d.try_into().context("corrupt dependency id")?);
    }
    Ok(())
}

/// A transaction's columns as copied: id, dependencies, outputs, payload.
type Row<'a> = (&'a [u8], Vec<u8>, OutputsBlob, Option<&'a [u8]>);

/// Copies `rows` in the binary format with `sql` (`numbered`: each with its
/// place in the batch first).
fn copy_rows(
    tx: &mut postgres::Transaction<'_>,
    sql: &str,
    rows: &[Row<'_>],
    numbered: bool,
) -> Result<(), postgres::Error> {
    let sink = tx.copy_in(sql)?;
    let columns = [Type::BYTEA, Type::BYTEA, Type::BYTEA, Type::BYTEA];
    if numbered {
        let types = [&[Type::INT8][..], &columns].concat();
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        for (n, (id, d, o, p)) in rows.iter().enumerate() {
            writer.write(&[&(n as i64), id, d, &o.as_bytes(), p])?;
        }
        writer.finish()?;
    } else {
        let mut writer = BinaryCopyInWriter::new(sink, &columns);
        for (id, d, o, p) in rows {
            writer.write(&[id, d, &o.as_bytes(), p])?;
        }
        writer.finish()?;
    }
    Ok(())
}

/// For a staged batch some of whose rows were not inserted (their id was
/// stored already, or given twice): a row stored without a payload takes
/// the one given now; then every row given must equal what its id holds
/// (another payload, given in the same batch or before, is a conflict
/// too). A batch whose every row was inserted needs neither.
fn fill_and_compare(tx: &mut postgres::Transaction<'_>) -> Result<()> {
    tx.execute(
        "UPDATE vault_transaction v SET payload = s.payload FROM staged_transaction s \
         WHERE v.tx_id = s.tx_id AND v.payload IS NULL AND s.payload IS NOT NULL",
        &[],
    )?;
    if let Some(row) = tx
        .query(
            "SELECT s.tx_id, s.dependencies <> v.dependencies, s.outputs <> v.outputs \
             FROM staged_transaction s JOIN vault_transaction v ON v.tx_id = s.tx_id \
             WHERE s.dependencies <> v.dependencies OR s.outputs <> v.outputs \
             OR s.payload <> v.payload ORDER BY s.n LIMIT 1",
            &[],
        )?
        .first()
    {
        let id: &[u8] = row.get(0);
        let what = match (row.get::<_, bool>(1), row.get::<_, bool>(2)) {
            (true, _) => "dependencies",
            (false, true) => "outputs",
            (false, false) => "payload",
        };
        return Err(ConflictingTransaction {
            id: id.try_into().context("corrupt transaction id")?,
            what,
        }
        .into());
    }
    Ok(())
}

impl NodeStore for PostgresStore {
    fn record_holding(
        &mut self,
        txs: &[VaultTransaction],
        changes: &HeldChanges,
    ) -> Result<Recorded> {
        // Parties first (those whose handles are not remembered), in order
        // of first appearance, then the rows in recording order (the
        // identity column numbers them as sent).
        let mut names: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for t in txs {
            for name in t.outputs.iter().flatten() {
                if !self.party_handles.contains_key(name.as_str()) && seen.insert(name) {
                    names.push(name);
                }
            }
        }
        let known = std::mem::take(&mut self.party_handles);
        let result = self.run("recording transactions in the vault", |client, _| {
            let mut tx = client.transaction()?;
            let handles = record_parties(&mut tx, &names)?;
            let handle = |name: &str| known.get(name).or_else(|| handles.get(name)).copied();
            let mut recorded = Recorded::default();
            if !txs.is_empty() {
                tx.batch_execute(STAGING)?;
            }
            for chunk in txs.chunks(COPY_BATCH) {
                record_chunk(&mut tx, chunk, &handle, &mut recorded)?;
            }
            if !changes.is_empty() {
                held::apply_postgres(&mut tx, changes, migrations::now_ms())?;
            }
            tx.commit()?;
            Ok((recorded, handles))
        });
        // Only handles of a committed transaction are remembered.
        self.party_handles = known;
        let (recorded, handles) = result?;
        if self.party_handles.len() + handles.len() > PARTY_CACHE {
            self.party_handles.clear();
        }
        if handles.len() <= PARTY_CACHE {
            self.party_handles.extend(handles);
        }
        Ok(recorded)
    }

    fn held_waiting_on(&mut self, ids: &[TxId]) -> Result<Vec<HeldAside>> {
        self.run("reading held-aside transactions", |client, _| {
            held::waiting_on_postgres(client, ids)
        })
    }

    fn held_aside(&mut self, limit: u32) -> Result<(u64, Vec<HeldAside>)> {
        self.run("listing held-aside transactions", |client, _| {
            held::list_postgres(client, limit)
        })
    }

    fn drop_held(&mut self, ids: Option<&[TxId]>) -> Result<u64> {
        self.run("dropping held-aside transactions", |client, _| {
            held::drop_postgres(client, ids)
        })
    }

    fn read_records(&mut self, after: u64, limit: u32) -> Result<(Vec<VaultTransaction>, u64)> {
        let names: HashMap<u32, String> = self.parties()?.into_iter().collect();
        let after_arg = after.min(i64::MAX as u64) as i64;
        self.run("reading vault transactions", |client, _| {
            let (mut txs, mut cursor) = (Vec::new(), after);
            for row in client.query(
                "SELECT seq, tx_id, dependencies, outputs, payload FROM vault_transaction \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after_arg, &(limit as i64)],
            )? {
                let seq: i64 = row.get(0);
                txs.push(decode_record(
                    seq,
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                    &names,
                )?);
                cursor = seq as u64;
            }
            Ok((txs, cursor))
        })
    }

    fn read_page(&mut self, after: u64, limit: u32) -> Result<TransactionPage> {
        let after_arg = after.min(i64::MAX as u64) as i64;
        self.run("reading a vault page", |client, cache| {
            let statement = prepared(client, cache, READ_PAGE)?;
            let mut page = TransactionPage::empty(after);
            for row in client.query(&statement, &[&after_arg, &(limit as i64)])? {
                push_row(&mut page, row.get(0), row.get(1), row.get(2), row.get(3))?;
            }
            Ok(page)
        })
    }

    fn payloads(&mut self, ids: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        super::vault::check_ids(ids)?;
        let wanted: Vec<&[u8]> = ids.chunks_exact(TX_ID_LEN).collect();
        let found = self.run("reading transactions' bytes", |client, cache| {
            let statement = prepared(client, cache, PAYLOADS)?;
            let mut found: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
            for chunk in wanted.chunks(BATCH) {
                for row in client.query(&statement, &[&chunk])? {
                    found.insert(row.get(0), row.get(1));
                }
            }
            Ok(found)
        })?;
        Ok(wanted
            .iter()
            .map(|id| found.get(*id).cloned().flatten())
            .collect())
    }

    fn contains(&mut self, ids: &[u8]) -> Result<Vec<bool>> {
        super::vault::check_ids(ids)?;
        let wanted: Vec<&[u8]> = ids.chunks_exact(TX_ID_LEN).collect();
        let found = self.run("looking up transactions in the vault", |client, cache| {
            let statement = prepared(client, cache, CONTAINS)?;
            let mut found: HashSet<Vec<u8>> = HashSet::new();
            for chunk in wanted.chunks(BATCH) {
                for row in client.query(&statement, &[&chunk])? {
                    found.insert(row.get(0));
                }
            }
            Ok(found)
        })?;
        Ok(wanted.iter().map(|id| found.contains(*id)).collect())
    }

    fn find_party(&mut self, name: &str) -> Result<Option<u32>> {
        self.run("looking up a party", |client, cache| {
            let statement = prepared(client, cache, FIND_PARTY)?;
            Ok(client
                .query_opt(&statement, &[&name])?
                .map(|row| row.get::<_, i32>(0) as u32))
        })
    }

    fn party_names(&mut self, handles: &[u32]) -> Result<Vec<String>> {
        let keys: Vec<i32> = handles.iter().map(|h| *h as i32).collect();
        let names = self.run("naming parties", |client, _| {
            let mut names: HashMap<u32, String> = HashMap::new();
            for row in client.query(
                "SELECT handle, name FROM party WHERE handle = ANY($1)",
                &[&keys],
            )? {
                names.insert(row.get::<_, i32>(0) as u32, row.get(1));
            }
            Ok(names)
        })?;
        handles
            .iter()
            .map(|h| {
                names
                    .get(h)
                    .cloned()
                    .with_context(|| format!("no party has handle {h}"))
            })
            .collect()
    }

    fn parties(&mut self) -> Result<Vec<(u32, String)>> {
        self.run("listing parties", |client, _| {
            Ok(client
                .query("SELECT handle, name FROM party ORDER BY handle", &[])?
                .iter()
                .map(|row| (row.get::<_, i32>(0) as u32, row.get(1)))
                .collect())
        })
    }

    fn all_ids(&mut self) -> Result<Vec<TxId>> {
        self.run("listing transaction ids", |client, _| {
            client
                .query("SELECT tx_id FROM vault_transaction ORDER BY seq", &[])?
                .iter()
                .map(|row| TxId::try_from(row.get::<_, &[u8]>(0)).context("corrupt transaction id"))
                .collect()
        })
    }

    fn count(&mut self) -> Result<u64> {
        self.run("counting transactions", |client, _| {
            let n: i64 = client
                .query_one("SELECT count(*) FROM vault_transaction", &[])?
                .get(0);
            Ok(n as u64)
        })
    }

    fn load_statuses(&mut self) -> Result<Vec<ReconciliationStatus>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM CR_RECONCILIATION_STATUS ORDER BY party_name, is_requester"
        );
        self.run("loading CR_RECONCILIATION_STATUS", |client, _| {
            client
                .query(&sql, &[])?
                .into_iter()
                .map(|r| {
                    StoredRow {
                        party_name: r.get(0),
                        is_requester: r.get(1),
                        state_machine_id: r.get(2),
                        successful_started: r.get(3),
                        successful_finished: r.get(4),
                        successful_status: r.get(5),
                        successful_result: r.get(6),
                        started: r.get(7),
                        finished: r.get(8),
                        status: r.get(9),
                        error: r.get(10),
                    }
                    .into_status()
                })
                .collect()
        })
    }

    fn save_status(&mut self, row: &ReconciliationStatus) -> Result<()> {
        let r = StoredRow::from_status(row);
        let what = format!("saving the reconciliation status for {}", row.party_name);
        self.run(&what, |client, cache| {
            let statement = prepared(client, cache, SAVE_STATUS.as_str())?;
            client.execute(
                &statement,
                &[
                    &r.party_name,
                    &r.is_requester,
                    &r.state_machine_id,
                    &r.successful_started,
                    &r.successful_finished,
                    &r.successful_status,
                    &r.successful_result,
                    &r.started,
                    &r.finished,
                    &r.status,
                    &r.error,
                ],
            )?;
            Ok(())
        })
    }

    fn load_recovery_requests(&mut self, limit: u32) -> Result<Vec<RecoveryRequest>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM CR_RECOVERY_REQUEST WHERE status = 'IN_PROGRESS' \
             UNION ALL (SELECT {REQUEST_COLUMNS} FROM CR_RECOVERY_REQUEST WHERE status <> \
             'IN_PROGRESS' ORDER BY time_started DESC LIMIT $1) ORDER BY time_started DESC"
        );
        let rows = self.run("loading CR_RECOVERY_REQUEST", |client, _| {
            Ok(client.query(&sql, &[&i64::from(limit)])?)
        })?;
        rows.into_iter()
            .map(|r| {
                StoredRequest {
                    request_id: r.get(0),
                    party_name: r.get(1),
                    is_requester: r.get(2),
                    flow_name: r.get(3),
                    status: r.get(4),
                    time_started: r.get(5),
                    time_finished: r.get(6),
                    requested: r.get(7),
                    outstanding: r.get(8),
                    recovered: r.get(9),
                    unavailable: r.get(10),
                    refused: r.get(11),
                    bytes: r.get(12),
                    error: r.get(13),
                }
                .into_request()
            })
            .collect()
    }

    fn save_recovery_request(&mut self, request: &RecoveryRequest) -> Result<()> {
        let r = StoredRequest::from_request(request);
        let sql = format!(
            "INSERT INTO CR_RECOVERY_REQUEST ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (party_name, is_requester, \
             request_id) DO UPDATE SET flow_name = $4, status = $5, time_started = $6, \
             time_finished = $7, requested = $8, outstanding = $9, recovered = $10, \
             unavailable = $11, refused = $12, bytes = $13, error = $14"
        );
        self.run("saving a recovery request", |client, _| {
            client.execute(
                &sql,
                &[
                    &r.request_id,
                    &r.party_name,
                    &r.is_requester,
                    &r.flow_name,
                    &r.status,
                    &r.time_started,
                    &r.time_finished,
                    &r.requested,
                    &r.outstanding,
                    &r.recovered,
                    &r.unavailable,
                    &r.refused,
                    &r.bytes,
                    &r.error,
                ],
            )?;
            Ok(())
        })
    }

    fn recovery_totals(&mut self) -> Result<Vec<super::recovery::RecoveryTotals>> {
        let rows = self.run("summing CR_RECOVERY_REQUEST", |client, _| {
            Ok(client.query(super::recovery::TOTALS, &[])?)
        })?;
        Ok(rows
            .into_iter()
            .map(|r| super::recovery::RecoveryTotals {
                is_requester: r.get(0),
                status: r.get(1),
                requests: r.get::<_, i64>(2) as u64,
                transactions: r.get::<_, i64>(3) as u64,
                unavailable: r.get::<_, i64>(4) as u64,
                refused: r.get::<_, i64>(5) as u64,
                bytes: r.get::<_, i64>(6) as u64,
            })
            .collect())
    }

    fn append_recovery_log(&mut self, entry: &RecoveryLogEntry) -> Result<()> {
        let message = kept_message(&entry.message);
        self.run("appending to CR_RECOVERY_LOG", |client, _| {
            let mut tx = client.transaction()?;
            tx.execute(
                "INSERT INTO CR_RECOVERY_LOG (request_id, party_name, is_requester, time, level, \
                 message) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &entry.request_id,
                    &entry.party_name,
                    &entry.is_requester,
                    &(entry.time as i64),
                    &entry.level,
                    &message,
                ],
            )?;
            tx.execute(
                "DELETE FROM CR_RECOVERY_LOG WHERE seq <= (SELECT MAX(seq) FROM CR_RECOVERY_LOG) \
                 - $1",
                &[&KEEP_LOG_LINES],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn load_recovery_log(&mut self, request_id: &str, limit: u32) -> Result<Vec<RecoveryLogEntry>> {
        self.run("loading CR_RECOVERY_LOG", |client, _| {
            Ok(client
                .query(
                    "SELECT request_id, party_name, is_requester, time, level, message FROM \
                     (SELECT * FROM CR_RECOVERY_LOG WHERE request_id = $1 ORDER BY seq DESC \
                     LIMIT $2) AS newest ORDER BY seq",
                    &[&request_id, &i64::from(limit)],
                )?
                .into_iter()
                .map(|r| RecoveryLogEntry {
                    request_id: r.get(0),
                    party_name: r.get(1),
                    is_requester: r.get(2),
                    time: r.get::<_, i64>(3) as u64,
                    level: r.get(4),
                    message: r.get(5),
                })
                .collect())
        })
    }

    fn load_scheduled(&mut self) -> Result<Vec<String>> {
        self.run("loading CR_RECONCILIATION_QUEUE", |client, _| {
            Ok(client
                .query(
                    "SELECT party_name FROM CR_RECONCILIATION_QUEUE ORDER BY position",
                    &[],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect())
        })
    }

    fn save_scheduled(&mut self, parties: &[String]) -> Result<()> {
        self.run("saving the reconciliation queue", |client, _| {
            let mut tx = client.transaction()?;
            tx.execute("DELETE FROM CR_RECONCILIATION_QUEUE", &[])?;
            tx.execute(
                "INSERT INTO CR_RECONCILIATION_QUEUE (position, party_name) \
                 SELECT n, p FROM unnest($1::text[]) WITH ORDINALITY AS t(p, n)",
                &[&parties],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn load_value(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        self.run("loading CR_PLUGIN_VALUE", |client, _| {
            Ok(client
                .query_opt("SELECT value FROM CR_PLUGIN_VALUE WHERE key = $1", &[&key])?
                .map(|row| row.get(0)))
        })
    }

    fn save_value(&mut self, key: &str, value: Option<&[u8]>) -> Result<()> {
        self.run("saving CR_PLUGIN_VALUE", |client, _| {
            let mut tx = client.transaction()?;
            match value {
                None => {
                    tx.execute("DELETE FROM CR_PLUGIN_VALUE WHERE key = $1", &[&key])?;
                }
                Some(value) => {
                    // Serialises concurrent saves of new keys (the count).
                    tx.execute(
                        "LOCK TABLE CR_PLUGIN_VALUE IN SHARE ROW EXCLUSIVE MODE",
                        &[],
                    )?;
                    let row = tx.query_one(
                        "SELECT count(*), coalesce(bool_or(key = $1), false) FROM CR_PLUGIN_VALUE",
                        &[&key],
                    )?;
                    let (keys, exists): (i64, bool) = (row.get(0), row.get(1));
                    if !exists && keys as u64 >= MAX_VALUE_KEYS {
                        anyhow::bail!(
                            "the plugin keeps values under {keys} keys, the most a node keeps \
                             ({MAX_VALUE_KEYS}); {key:?} was not saved"
                        );
                    }
                    tx.execute(
                        "INSERT INTO CR_PLUGIN_VALUE (key, value) VALUES ($1, $2) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        &[&key, &value],
                    )?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn schema_versions(&mut self) -> Result<Vec<u32>> {
        self.run("reading the schema version", |client, _| {
            Ok(client
                .query(
                    "SELECT version FROM ledger_sync_schema_version ORDER BY version",
                    &[],
                )?
                .iter()
                .map(|row| row.get::<_, i32>(0) as u32)
                .collect())
        })
    }

    fn describe_schema(&mut self) -> Result<Vec<(String, String, &'static str, bool)>> {
        self.run("describing the schema", |client, _| {
            let rows = client.query(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                 c.is_nullable::text FROM information_schema.columns c \
                 JOIN information_schema.tables t \
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                 ORDER BY c.table_name, c.ordinal_position",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|row| {
                    let kind: String = row.get(2);
                    let class = match kind.as_str() {
                        "integer" | "bigint" | "smallint" | "boolean" => "integer",
                        "bytea" => "bytes",
                        _ => "text",
                    };
                    let nullable: String = row.get(3);
                    (row.get(0), row.get(1), class, nullable == "YES")
                })
                .collect())
        })
    }
}
