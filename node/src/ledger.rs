//! Feeding a node its ledger and reading back what it found — the
//! operator's commands on a node directory:
//!
//! - `vault record --node DIR [FILE|-]`: a ledger file (the
//!   [interchange format](ledger_sync_host::interchange)) into the node's
//!   vault. With the node stopped, directly, holding the node's lock; with
//!   it running, through its admin API (`POST /vault/record`, permission
//!   `RecordTransactions`), a batch per request. Either way a batch is
//!   recorded whole or not at all, and memory stays bounded.
//! - `vault export --node DIR`: the vault in the same format.
//! - `status --node DIR [--party NAME] [--json]`: the ids the last
//!   successful reconciliation with each party found missing — the seed's
//!   `lastSuccessfulReconciliationStatus` read without a blob inspector.

use crate::client::Client;
use crate::config::{NodeConfig, RECORD_PERMISSION, VaultSource};
use crate::x500::LegalName;
use ledger_sync_host::adapter::{AdapterRuntime, NativeLines};
use ledger_sync_host::interchange::{self, Reader};
use ledger_sync_host::recording::{self, Batching, Progress, Summary};
use ledger_sync_host::store::{self, NodeStore};
use ledger_sync_vocabulary::ReconciliationStatus;
use ledger_sync_vocabulary::id::{TxId, from_hex, to_hex};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Transactions per admin API request (a request is one batch: see
/// `recording::Batching` for why batches are large).
const REQUEST_TRANSACTIONS: usize = 50_000;
/// Bytes of lines per admin API request (a request ends at the line that
/// reaches it).
pub const REQUEST_BYTES: usize = 24 << 20;
/// Missing dependencies the client remembers across requests.
const TRACKED_MISSING: usize = 100_000;
/// Missing dependencies the admin API names per request.
pub const NAMED_MISSING_PER_REQUEST: usize = 10_000;

/// Where `vault record` reads from, and how big it is (for progress).
pub struct Input {
    pub reader: Box<dyn BufRead + Send>,
    /// The input's size when known (a file, not a pipe).
    pub size: Option<u64>,
}

impl Input {
    /// `FILE`, or standard input for `-`.
    pub fn open(path: &Path) -> Result<Input, String> {
        if path == Path::new("-") {
            return Ok(Input {
                reader: Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())),
                size: None,
            });
        }
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read the ledger file {}: {e}", path.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        Ok(Input {
            reader: Box::new(std::io::BufReader::with_capacity(1 << 20, file)),
            size,
        })
    }
}

/// Progress on standard error, when it is a terminal: at most four
/// lines a second, overwritten in place.
struct Meter {
    on: bool,
    size: Option<u64>,
    last: Instant,
}

impl Meter {
    fn new(size: Option<u64>) -> Meter {
        Meter {
            on: std::io::stderr().is_terminal(),
            size,
            last: Instant::now(),
        }
    }

    fn show(&mut self, p: &Progress) {
        if !self.on || self.last.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last = Instant::now();
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let of = match self.size {
            Some(size) if size > 0 => format!(
                " of {:.1} MiB ({:.0}%)",
                mib(size),
                100.0 * p.bytes as f64 / size as f64
            ),
            _ => String::new(),
        };
        eprint!(
            "\r{} transactions, {:.1} MiB{of}   ",
            p.transactions,
            mib(p.bytes)
        );
    }

    fn done(&self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }
}

/// `vault record`: records `input` into the node in `dir`; the summary.
pub fn record(dir: &Path, input: Input) -> Result<String, String> {
    record_through(dir, input, None)
}

/// `vault record --adapter NAME`: `input` is the ledger's native
/// transactions, one base64 transaction per line, read through the ledger
/// adapter NAME (`DIR/adapters/NAME.wasm`, or a path to a component).
pub fn record_native(dir: &Path, input: Input, adapter: &str) -> Result<String, String> {
    record_through(dir, input, Some(adapter))
}

/// The `merkle` adapter built into the binary.
pub const BUILTIN_MERKLE: &str = "builtin:merkle";

/// The ledger adapter `name`: [`BUILTIN_MERKLE`], a path to a component,
/// or the node's `adapters/NAME.wasm`, which must call itself NAME.
pub fn load_adapter(dir: &Path, name: &str) -> Result<Arc<AdapterRuntime>, String> {
    if name == BUILTIN_MERKLE {
        return AdapterRuntime::new(ledger_sync_components::MERKLE_ADAPTER_BYTES)
            .map_err(|e| format!("{e:#}"));
    }
    let by_path = name.contains('/') || name.ends_with(".wasm");
    let path = if by_path {
        PathBuf::from(name)
    } else {
        dir.join("adapters").join(format!("{name}.wasm"))
    };
    if !path.exists() {
        return Err(format!(
            "no ledger adapter {name}: {} does not exist (put the adapter's component there, \
             or give its path)",
            path.display()
        ));
    }
    let runtime = AdapterRuntime::from_file(&path).map_err(|e| format!("{e:#}"))?;
    if !by_path && runtime.info().name != name {
        return Err(format!(
            "{} calls itself `{}`, not `{name}`",
            path.display(),
            runtime.info().name
        ));
    }
    Ok(runtime)
}

fn record_through(dir: &Path, mut input: Input, adapter: Option<&str>) -> Result<String, String> {
    let config = NodeConfig::load(dir)?;
    if let Some(name) = adapter {
        let runtime = load_adapter(dir, name)?;
        let max_line = ledger_sync_host::interchange::max_line_bytes(config.max_payload_bytes);
        input.reader = Box::new(BufReader::new(NativeLines::new(
            input.reader,
            runtime.decoder(),
            max_line,
        )));
        // Progress counts the translated lines' bytes, not the file's: show
        // no share of a size it would overrun.
        input.size = None;
    }
    if let VaultSource::View(view) = &config.vault {
        return Err(format!(
            "{} reads its vault in place from vaultView {view} of {}: record into your \
             ledger's own tables; the node reads what the view shows",
            config.legal_name, config.database
        ));
    }
    let batching = Batching {
        max_payload_bytes: config.max_payload_bytes,
        ..Batching::default()
    };
    let lock = store::lock::try_lock_node(dir, &config.legal_name.to_string(), &config.database)
        .map_err(|e| format!("{e:#}"))?;
    let mut meter = Meter::new(input.size);
    let outcome = match lock {
        Some(_lock) => {
            let mut db = store::connect(&config.database)
                .map_err(|e| format!("cannot open the node database: {e:#}"))?;
            recording::record(&mut *db, input.reader, batching, |p| meter.show(p))
                .map(|summary| {
                    format!(
                        "{}\n(into {} directly: the node is not running)",
                        summary.describe(),
                        config.database
                    )
                })
                .map_err(|e| e.to_string())
        }
        None => {
            let client = Client::for_node_with(dir, RECORD_PERMISSION)?;
            through_admin_api(&client, input.reader, batching, |p| meter.show(p)).map(|summary| {
                format!(
                    "{}\n(through the running node's admin API at {})",
                    summary.describe(),
                    config.admin_address
                )
            })
        }
    };
    meter.done();
    outcome
}

/// The admin API's answer to one batch.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct BatchAnswer {
    pub new: u64,
    pub already: u64,
    /// Dependencies the vault lacked after the batch (at most
    /// [`NAMED_MISSING_PER_REQUEST`]), hex.
    pub missing: Vec<String>,
    pub missing_count: u64,
}

impl BatchAnswer {
    pub fn of(summary: &Summary) -> BatchAnswer {
        BatchAnswer {
            new: summary.new,
            already: summary.already,
            missing: summary.missing.iter().map(to_hex).collect(),
            missing_count: summary.missing_count,
        }
    }
}

/// Reads and checks the input here (so errors name the file's lines), and
/// sends it a batch per request.
fn through_admin_api(
    client: &Client,
    input: Box<dyn BufRead + Send>,
    batching: Batching,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, String> {
    let mut reader = Reader::new(input, batching.max_payload_bytes);
    let mut summary = Summary::default();
    let mut missing: HashSet<TxId> = HashSet::new();
    let mut body = Vec::new();
    let mut batch: Vec<(u64, TxId)> = Vec::new();
    loop {
        body.clear();
        batch.clear();
        interchange::write_header(&mut body).expect("to memory");
        let batch_from = reader.line() + 1;
        fill_request(&mut reader, &mut body, &mut batch).map_err(|e| {
            format!(
                "{e}\nnothing of that batch (from line {batch_from}) was sent; {}",
                so_far(&summary)
            )
        })?;
        if batch.is_empty() {
            break;
        }
        let done = send_batch(client, &body, &batch, batch_from, &summary)?;
        for (_, id) in &batch {
            missing.remove(id);
        }
        for id in done.missing.iter().filter_map(|h| from_hex(h)) {
            if missing.len() < TRACKED_MISSING {
                missing.insert(id);
            } else {
                summary.missing_capped = true;
            }
        }
        summary.missing_capped |= done.missing_count > done.missing.len() as u64;
        summary.read += batch.len() as u64;
        summary.new += done.new;
        summary.already += done.already;
        summary.batches += 1;
        summary.bytes = reader.bytes_read();
        summary.lines = batch.last().expect("not empty").0;
        progress(&Progress {
            transactions: summary.read,
            bytes: summary.bytes,
        });
    }
    let mut still: Vec<TxId> = missing.into_iter().collect();
    still.sort_unstable();
    summary.missing_count = still.len() as u64;
    still.truncate(10);
    summary.missing = still;
    Ok(summary)
}

/// Fills one request's `body` (the interchange header and transactions)
/// and `batch` (each one's line and id) from `reader`, up to the request's
/// bounds; a bad line is the error.
fn fill_request(
    reader: &mut Reader<Box<dyn BufRead + Send>>,
    body: &mut Vec<u8>,
    batch: &mut Vec<(u64, TxId)>,
) -> Result<(), String> {
    while batch.len() < REQUEST_TRANSACTIONS && body.len() < REQUEST_BYTES {
        match reader.next_transaction() {
            Ok(Some((line, t))) => {
                interchange::write_transaction(body, &t).expect("to memory");
                batch.push((line, t.id));
            }
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Sends one batch to the running node; its summary, or why it was
/// refused (a conflict names the id: the error names its line).
fn send_batch(
    client: &Client,
    body: &[u8],
    batch: &[(u64, TxId)],
    batch_from: u64,
    summary: &Summary,
) -> Result<BatchAnswer, String> {
    let answer = client.post("/vault/record", "application/x-ndjson", body)?;
    if !answer.ok() {
        let line = batch
            .iter()
            .find(|(_, id)| answer.text.contains(&to_hex(id)))
            .map(|(line, _)| format!("line {line}: "))
            .unwrap_or_default();
        return Err(format!(
            "{line}the node refused the batch from line {batch_from} (HTTP {}): {}\n\
             nothing of that batch was recorded; {}",
            answer.status,
            answer.text.trim_end(),
            so_far(summary)
        ));
    }
    serde_json::from_str(&answer.text)
        .map_err(|e| format!("the node's answer is not a batch summary ({e})"))
}

fn so_far(s: &Summary) -> String {
    if s.batches == 0 {
        "nothing was recorded".to_string()
    } else {
        format!(
            "the {} batch(es) before it (up to line {}, {} new transactions) stay recorded",
            s.batches, s.lines, s.new
        )
    }
}

/// A read-only view of the node's vault, whichever it is.
enum VaultReader {
    Tables(Box<dyn NodeStore>),
    View(Box<ledger_sync_host::store::view::ViewVault>),
}

impl VaultReader {
    fn open(config: &NodeConfig) -> Result<VaultReader, String> {
        let opened = match (&config.vault, &config.database) {
            (VaultSource::View(view), store::Database::Postgres(url)) => {
                ledger_sync_host::store::view::ViewVault::open(url, view.clone())
                    .map(|v| VaultReader::View(Box::new(v)))
            }
            _ => reader_of(&config.database).map(VaultReader::Tables),
        };
        opened.map_err(|e| format!("cannot read the vault of {}: {e:#}", config.legal_name))
    }

    fn read_records(
        &mut self,
        after: u64,
        limit: u32,
    ) -> anyhow::Result<(Vec<store::VaultTransaction>, u64)> {
        match self {
            VaultReader::Tables(db) => db.read_records(after, limit),
            VaultReader::View(view) => view.read_records(after, limit),
        }
    }
}

/// A reading connection to a node's database that exists already.
fn reader_of(database: &store::Database) -> anyhow::Result<Box<dyn NodeStore>> {
    if let store::Database::Sqlite(path) = database {
        anyhow::ensure!(
            path.exists(),
            "{} does not exist: the node has not run and nothing was recorded",
            path.display()
        );
    }
    store::connect_reader(database)
}

/// `vault export`: writes the node's vault to `out`; how many transactions.
pub fn export(dir: &Path, out: &mut dyn Write) -> Result<u64, String> {
    let config = NodeConfig::load(dir)?;
    let mut vault = VaultReader::open(&config)?;
    let write = |e: std::io::Error| format!("writing the export: {e}");
    interchange::write_header(out).map_err(write)?;
    let (mut cursor, mut count) = (0, 0u64);
    loop {
        let (txs, next) = vault
            .read_records(cursor, 10_000)
            .map_err(|e| format!("reading the vault of {}: {e:#}", config.legal_name))?;
        if txs.is_empty() {
            break;
        }
        for t in &txs {
            interchange::write_transaction(out, t).map_err(write)?;
        }
        count += txs.len() as u64;
        cursor = next;
    }
    out.flush().map_err(write)?;
    Ok(count)
}

/// How many held-aside transactions `vault held` lists one by one.
const LISTED_HELD: u32 = 1_000;

/// `vault held`: the transactions recovery verified but holds aside until
/// the vault has their dependencies (CR_HELD_ASIDE), one line each — the
/// id, then the dependencies it waits on — after a count to `notes`.
pub fn held(dir: &Path, out: &mut dyn Write, notes: &mut dyn Write) -> Result<u64, String> {
    let config = NodeConfig::load(dir)?;
    let mut db = reader_of(&config.database).map_err(|e| format!("{e:#}"))?;
    let (count, listed) = db
        .held_aside(LISTED_HELD)
        .map_err(|e| format!("reading what {} holds aside: {e:#}", config.legal_name))?;
    let write = |e: std::io::Error| format!("writing the list: {e}");
    writeln!(
        notes,
        "{count} transaction{} held aside (verified, waiting for dependencies the vault lacks){}",
        if count == 1 { "" } else { "s" },
        if count > listed.len() as u64 {
            format!("; the first {} by id:", listed.len())
        } else {
            String::new()
        }
    )
    .map_err(write)?;
    for h in &listed {
        let waits: Vec<String> = h.missing.iter().map(to_hex).collect();
        writeln!(
            out,
            "{} waits-on {}",
            to_hex(&h.transaction.id),
            waits.join(",")
        )
        .map_err(write)?;
    }
    Ok(count)
}

/// `vault drop-held`: forgets held-aside transactions (`None`: every
/// one); how many were held. An id not held is not an error.
pub fn drop_held(dir: &Path, ids: Option<&[String]>) -> Result<u64, String> {
    let config = NodeConfig::load(dir)?;
    let ids: Option<Vec<TxId>> = match ids {
        None => None,
        Some(ids) => Some(
            ids.iter()
                .map(|t| {
                    from_hex(t).ok_or_else(|| {
                        format!("`{t}` is not a transaction id: 64 hexadecimal digits are accepted")
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let mut db = store::connect(&config.database).map_err(|e| format!("{e:#}"))?;
    db.drop_held(ids.as_deref())
        .map_err(|e| format!("dropping what {} holds aside: {e:#}", config.legal_name))
}

/// One party's row as `status --json` prints it (the seed's field names).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PartyStatus {
    party_name: String,
    last_successful_reconciliation_status: Option<&'static str>,
    last_successful_reconciliation_time_finished: Option<u64>,
    /// The ids the last successful reconciliation found missing.
    last_successful_reconciliation_result: Vec<String>,
    last_reconciliation_status: &'static str,
    last_reconciliation_error: String,
}

/// `status`: what the node's reconciliations as requester found, for one
/// party or all; ids to `out` (one per line, or JSON), and for a person
/// at a terminal, a line per party to `notes`. `Ok(false)` when `party`
/// has no row.
pub fn status(
    dir: &Path,
    party: Option<&str>,
    json: bool,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<bool, String> {
    let config = NodeConfig::load(dir)?;
    let wanted = party
        .map(|p| LegalName::parse(p).map(|n| n.to_string()))
        .transpose()
        .map_err(|e| format!("--party: {e}"))?;
    let rows = reader_of(&config.database)
        .and_then(|mut db| db.load_statuses())
        .map_err(|e| {
            format!(
                "cannot read the reconciliation statuses of {}: {e:#}",
                config.legal_name
            )
        })?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| r.is_requester)
        .filter(|r| {
            wanted
                .as_ref()
                .is_none_or(|w| LegalName::parse(&r.party_name).is_ok_and(|n| n.to_string() == *w))
        })
        .collect();
    let write = |e: std::io::Error| format!("writing the status: {e}");
    if json {
        print_json(&rows, out).map_err(write)?;
    } else {
        print_text(&rows, out, notes).map_err(write)?;
    }
    if rows.is_empty() {
        let whom = wanted.as_deref().unwrap_or("any party");
        writeln!(
            notes,
            "{} has no reconciliation as requester with {whom}; run ScheduleReconciliationFlow \
             first",
            config.legal_name
        )
        .map_err(write)?;
        return Ok(wanted.is_none());
    }
    Ok(true)
}

/// The requester rows as one JSON array with the seed's field names.
fn print_json(rows: &[ReconciliationStatus], out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<PartyStatus> = rows
        .iter()
        .map(|r| PartyStatus {
            party_name: r.party_name.clone(),
            last_successful_reconciliation_status: r
                .last_successful_reconciliation_status
                .map(|s| s.as_str()),
            last_successful_reconciliation_time_finished: r
                .last_successful_reconciliation_time_finished,
            last_successful_reconciliation_result: r
                .last_successful_reconciliation_result
                .iter()
                .map(to_hex)
                .collect(),
            last_reconciliation_status: r.last_reconciliation_status.as_str(),
            last_reconciliation_error: r.last_reconciliation_error.clone(),
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)
}

/// A line per party to `notes`, its missing ids one per line to `out`.
fn print_text(
    rows: &[ReconciliationStatus],
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> std::io::Result<()> {
    for r in rows {
        let found = &r.last_successful_reconciliation_result;
        let line = match r.last_successful_reconciliation_status {
            Some(s) => format!(
                "{}: {} ({} transaction{} missing, finished {})",
                r.party_name,
                s.as_str(),
                found.len(),
                if found.len() == 1 { "" } else { "s" },
                utc(r
                    .last_successful_reconciliation_time_finished
                    .unwrap_or_default())
            ),
            None => format!("{}: no successful reconciliation yet", r.party_name),
        };
        let last = if r.last_reconciliation_error.is_empty() {
            String::new()
        } else {
            format!(
                "; the last attempt ended {}: {}",
                r.last_reconciliation_status.as_str(),
                r.last_reconciliation_error
            )
        };
        writeln!(notes, "{line}{last}")?;
        for id in found {
            writeln!(out, "{}", to_hex(id))?;
        }
    }
    Ok(())
}

/// Milliseconds since the epoch as an RFC 3339 UTC time.
fn utc(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_print_as_utc() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc(1_796_006_060_039), "2026-11-30T02:34:20.039Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
