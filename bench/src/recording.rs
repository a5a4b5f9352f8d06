//! `ledger-sync bench record`: how fast a ledger file of the seed's
//! profile is recorded into an empty vault through the path `vault record`
//! takes offline (`ledger_sync_host::recording`, default batches), on
//! SQLite or on a PostgreSQL server, and how fast the same file is
//! recorded again (every transaction already there: the idempotent path).
//! The file is written once; each run records it into a fresh database.

use crate::generator::Profile;
use anyhow::{Context, Result};
use ledger_sync_host::interchange;
use ledger_sync_host::recording::{self, Batching};
use ledger_sync_host::store::{self, Database, VaultTransaction};
use ledger_sync_sim::ledger::transaction_id;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub n: u64,
    /// Bytes of payload per transaction (0: none).
    pub payload_bytes: usize,
    pub runs: u32,
    pub seed: u64,
    /// Where the file and the SQLite databases go.
    pub dir: PathBuf,
    /// Record into schemas of this PostgreSQL server instead.
    pub database: Option<String>,
    /// Write the ledger file here and keep it (for measuring `vault
    /// record` itself, as `benchmarks/record-online.sh` does).
    pub ledger_file: Option<PathBuf>,
}

/// One measurement.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordRow {
    pub backend: &'static str,
    pub n: u64,
    pub payload_bytes: usize,
    pub file_bytes: u64,
    /// Median seconds to record the file into an empty vault.
    pub record_s: f64,
    pub tx_per_s: f64,
    /// Median seconds to record it again (all already there).
    pub again_s: f64,
    pub again_tx_per_s: f64,
}

impl RecordRow {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row serialises")
    }

    pub fn to_table_line(&self) -> String {
        format!(
            "record {:>10} n={:>9} payload={:>5} B file={:>7.1} MiB: {:>7.2} s = {:>9.0} tx/s; \
             again {:>6.2} s = {:>9.0} tx/s",
            self.backend,
            self.n,
            self.payload_bytes,
            self.file_bytes as f64 / (1 << 20) as f64,
            self.record_s,
            self.tx_per_s,
            self.again_s,
            self.again_tx_per_s
        )
    }
}

/// Writes `n` transactions of `profile` as a ledger file with payloads of
/// `payload_bytes`; returns its size.
pub fn write_ledger(profile: Profile, n: u64, payload_bytes: usize, path: &Path) -> Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    interchange::write_header(&mut out)?;
    let (mut deps, mut participants) = (Vec::new(), [0u32; 8]);
    let names: Vec<String> = (0..profile.parties).map(Profile::party_name).collect();
    for i in 0..n {
        profile.transaction(i, &mut deps, &mut participants);
        let id = transaction_id(profile.seed, i);
        let outputs = [
            &participants[0..2],
            &participants[2..5],
            &participants[5..8],
        ]
        .iter()
        .map(|state| state.iter().map(|p| names[*p as usize].clone()).collect())
        .collect();
        let payload =
            (payload_bytes > 0).then(|| id.iter().copied().cycle().take(payload_bytes).collect());
        let t = VaultTransaction {
            id,
            dependencies: deps
                .iter()
                .map(|d| transaction_id(profile.seed, *d))
                .collect(),
            outputs,
            payload,
        };
        interchange::write_transaction(&mut out, &t)?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the measurement.
pub fn run(options: &RecordOptions) -> Result<RecordRow> {
    let profile = Profile {
        seed: options.seed,
        ..Profile::default()
    };
    let file = options
        .ledger_file
        .clone()
        .unwrap_or_else(|| options.dir.join("ledger.jsonl"));
    let file_bytes = write_ledger(profile, options.n, options.payload_bytes, &file)?;
    let batching = Batching {
        max_payload_bytes: options
            .payload_bytes
            .max(interchange::DEFAULT_MAX_PAYLOAD_BYTES),
        ..Batching::default()
    };
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for run in 0..options.runs.max(1) {
        let (database, schema) = match &options.database {
            None => {
                let path = options.dir.join(format!("record-{run}.db"));
                (Database::Sqlite(path), None)
            }
            Some(server) => {
                let url = ledger_sync_sim::testkit::fresh_postgres_schema(server, "benchrecord")?;
                (Database::Postgres(url.clone()), Some(url))
            }
        };
        let mut db = store::connect(&database)?;
        for times in [&mut first, &mut again] {
            let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?);
            let started = Instant::now();
            let summary = recording::record(&mut *db, input, batching, |_| {})
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(started.elapsed().as_secs_f64());
            anyhow::ensure!(
                summary.read == options.n,
                "read {} of {}",
                summary.read,
                options.n
            );
        }
        drop(db);
        match (&database, schema) {
            (Database::Sqlite(path), _) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            (_, Some(url)) => ledger_sync_sim::testkit::drop_postgres_schema(&url),
            _ => {}
        }
    }
    if options.ledger_file.is_none() {
        let _ = std::fs::remove_file(&file);
    }
    let (record_s, again_s) = (median(first), median(again));
    Ok(RecordRow {
        backend: if options.database.is_some() {
            "postgresql"
        } else {
            "sqlite"
        },
        n: options.n,
        payload_bytes: options.payload_bytes,
        file_bytes,
        record_s,
        tx_per_s: options.n as f64 / record_s,
        again_s,
        again_tx_per_s: options.n as f64 / again_s,
    })
}
