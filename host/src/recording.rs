//! Recording a ledger into a vault: the one path `vault record` (offline
//! and through the admin API), `network bootstrap` and the tests use.
//!
//! The input (the [`interchange`](crate::interchange) format) is read a
//! batch at a time — at most [`Batching::transactions`] transactions and
//! [`Batching::bytes`] bytes — so memory stays bounded whatever its size.
//! Each batch is one database transaction: recorded whole or not at all. A
//! bad line or a conflicting id stops the recording at its batch; the
//! batches before it stay recorded (the error says how far it got).
//!
//! A dependency the vault does not hold is allowed (a restored vault is in
//! that state) and reported: the graph is then not self-consistent.

use crate::interchange::{ReadError, Reader};
use crate::store::{ConflictingTransaction, NodeStore, VaultTransaction};
use ledger_sync_vocabulary::id::{TxId, to_hex};
use std::collections::HashSet;
use std::io::BufRead;

/// How input is cut into batches.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    pub transactions: usize,
    /// Input bytes per batch (a batch ends at the line that reaches it).
    pub bytes: u64,
    /// The largest payload accepted.
    pub max_payload_bytes: usize,
    /// Missing dependencies named in the summary.
    pub named_missing: usize,
}

/// Batches are large because a batch is one database transaction, and on
/// a large vault each commits a fresh copy of most pages of the id index
/// (ids are hashes, so a batch's inserts land all over it): at 1,000,000
/// transactions of the seed's profile on SQLite, batches of 10,000 record
/// 62,000 tx/s, of 50,000 108,000 tx/s (BENCHMARKS.md).
impl Default for Batching {
    fn default() -> Self {
        Batching {
            transactions: 50_000,
            bytes: 32 << 20,
            max_payload_bytes: crate::interchange::DEFAULT_MAX_PAYLOAD_BYTES,
            named_missing: 10,
        }
    }
}

/// Missing dependencies remembered to check again at the end; past this
/// many the summary says "at least".
const MAX_TRACKED_MISSING: usize = 100_000;

/// What a recording did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Transactions read.
    pub read: u64,
    /// Newly recorded.
    pub new: u64,
    /// Already recorded with the same content.
    pub already: u64,
    /// Batches committed.
    pub batches: u64,
    /// Input bytes read.
    pub bytes: u64,
    /// The last line of the last batch recorded.
    pub lines: u64,
    /// Dependencies the vault still lacks at the end (checked again then),
    /// the first few of them; `missing_count` counts them all, at least.
    pub missing: Vec<TxId>,
    pub missing_count: u64,
    /// More dependencies were missing than could be tracked: the count is
    /// a lower bound.
    pub missing_capped: bool,
}

impl Summary {
    /// The operator's words for it.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "recorded {} new transaction{} ({} already recorded) in {} batch{}",
            self.new,
            plural(self.new),
            self.already,
            self.batches,
            if self.batches == 1 { "" } else { "es" },
        );
        if self.missing_count > 0 {
            let names: Vec<String> = self.missing.iter().map(to_hex).collect();
            text.push_str(&format!(
                "\n{}{} dependenc{} not in the vault: the ledger graph is not self-consistent \
                 (as after a restore); reconciliation works on it, and recording the missing \
                 transactions later completes it. First: {}",
                if self.missing_capped { "at least " } else { "" },
                self.missing_count,
                if self.missing_count == 1 {
                    "y is"
                } else {
                    "ies are"
                },
                names.join(", ")
            ));
        }
        text
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Why a recording stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A line was refused; nothing of its batch was stored.
    #[error("{error}\nnothing of that batch (from line {batch_from}) was stored; {}", so_far(.recorded))]
    Line {
        error: ReadError,
        batch_from: u64,
        recorded: Box<Summary>,
    },
    /// An id is already recorded with other content.
    #[error("line {line}: {conflict}\nnothing of that batch was stored; {}", so_far(.recorded))]
    Conflict {
        line: u64,
        conflict: ConflictingTransaction,
        recorded: Box<Summary>,
    },
    /// The database refused the batch.
    #[error("recording lines {from}–{to} failed: {message}; nothing of that batch was stored; {}", so_far(.recorded))]
    Store {
        from: u64,
        to: u64,
        message: String,
        recorded: Box<Summary>,
    },
}

fn so_far(s: &Summary) -> String {
    if s.batches == 0 {
        "nothing was recorded".to_string()
    } else {
        format!(
            "the {} batch{} before it (up to line {}, {} new transaction{}) stay recorded",
            s.batches,
            if s.batches == 1 { "" } else { "es" },
            s.lines,
            s.new,
            plural(s.new)
        )
    }
}

/// Progress, for a terminal: transactions and bytes read so far.
pub struct Progress {
    pub transactions: u64,
    pub bytes: u64,
}

/// A batch read from the input, or why reading stopped.
struct Read {
    txs: Vec<VaultTransaction>,
    /// Each transaction's line.
    lines: Vec<u64>,
    /// The first line of the batch.
    from: u64,
    /// Input bytes read up to its end.
    bytes: u64,
}

/// Reads batches from `input` into `out` until the end, an error, or the
/// receiver hanging up.
fn read_batches(
    input: impl BufRead,
    batching: Batching,
    out: std::sync::mpsc::SyncSender<Result<Read, (ReadError, u64)>>,
) {
    let mut reader = Reader::new(input, batching.max_payload_bytes);
    loop {
        let start = reader.bytes_read();
        let mut batch = Read {
            txs: Vec::new(),
            lines: Vec::new(),
            from: reader.line() + 1,
            bytes: 0,
        };
        while batch.txs.len() < batching.transactions
            && reader.bytes_read() - start < batching.bytes
        {
            match reader.next_transaction() {
                Ok(Some((line, t))) => {
                    batch.lines.push(line);
                    batch.txs.push(t);
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = out.send(Err((e, batch.from)));
                    return;
                }
            }
        }
        if batch.txs.is_empty() {
            return;
        }
        batch.bytes = reader.bytes_read();
        if out.send(Ok(batch)).is_err() {
            return;
        }
    }
}

/// Records `input` into `store`, a batch at a time; `progress` is called
/// after each batch. The input is read and checked on a thread of its own,
/// one batch ahead of the database (so at most two batches are in memory).
pub fn record(
    store: &mut dyn NodeStore,
    input: impl BufRead + Send,
    batching: Batching,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, RecordError> {
    let mut summary = Summary::default();
    let mut missing: HashSet<TxId> = HashSet::new();
    std::thread::scope(|scope| {
        let (ahead, batches) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || read_batches(input, batching, ahead));
        for read in batches {
            let batch = match read {
                Ok(batch) => batch,
                Err((error, batch_from)) => {
                    return Err(RecordError::Line {
                        error,
                        batch_from,
                        recorded: Box::new(summary.clone()),
                    });
                }
            };
            let recorded = store
                .record(&batch.txs)
                .map_err(|e| refused(&batch, &e, &summary))?;
            summary.read += batch.txs.len() as u64;
            summary.new += recorded.new;
            summary.already += recorded.already;
            summary.batches += 1;
            summary.bytes = batch.bytes;
            summary.lines = *batch.lines.last().expect("not empty");
            for d in recorded.missing_dependencies {
                if missing.len() < MAX_TRACKED_MISSING {
                    missing.insert(d);
                } else if !missing.contains(&d) {
                    summary.missing_capped = true;
                }
            }
            progress(&Progress {
                transactions: summary.read,
                bytes: summary.bytes,
            });
        }
        Ok(())
    })?;
    check_again(store, missing, batching, &mut summary)?;
    Ok(summary)
}

/// Why the store refused `batch`: an id recorded with other content (on
/// its line), or the store's own error.
fn refused(batch: &Read, e: &anyhow::Error, summary: &Summary) -> RecordError {
    let lines = &batch.lines;
    if let Some(conflict) = e.downcast_ref::<ConflictingTransaction>() {
        let at = batch
            .txs
            .iter()
            .rposition(|t| t.id == conflict.id)
            .unwrap_or(0);
        return RecordError::Conflict {
            line: lines[at],
            conflict: conflict.clone(),
            recorded: Box::new(summary.clone()),
        };
    }
    RecordError::Store {
        from: lines[0],
        to: *lines.last().expect("not empty"),
        message: format!("{e:#}"),
        recorded: Box::new(summary.clone()),
    }
}

/// Checks the dependencies found missing again at the end: one recorded
/// by a later batch is no longer missing. The rest go in the summary.
fn check_again(
    store: &mut dyn NodeStore,
    missing: HashSet<TxId>,
    batching: Batching,
    summary: &mut Summary,
) -> Result<(), RecordError> {
    let mut still: Vec<TxId> = missing.into_iter().collect();
    still.sort_unstable();
    for chunk in still.chunks(10_000) {
        let ids = ledger_sync_vocabulary::id::join_ids(chunk);
        let held = store.contains(&ids).map_err(|e| RecordError::Store {
            from: 1,
            to: summary.read,
            message: format!("checking dependencies after recording: {e:#}"),
            recorded: Box::new(summary.clone()),
        })?;
        for (id, held) in chunk.iter().zip(held) {
            if !held {
                summary.missing_count += 1;
                if summary.missing.len() < batching.named_missing {
                    summary.missing.push(*id);
                }
            }
        }
    }
    Ok(())
}
