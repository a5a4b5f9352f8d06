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

impl Default for Batching {
    fn default() -> Self {
        Batching {
            transactions: 10_000,
            bytes: 16 << 20,
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

/// Records `input` into `store`, a batch at a time; `progress` is called
/// after each batch.
pub fn record(
    store: &mut dyn NodeStore,
    input: impl BufRead,
    batching: Batching,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, RecordError> {
    let mut reader = Reader::new(input, batching.max_payload_bytes);
    let mut summary = Summary::default();
    let mut missing: HashSet<TxId> = HashSet::new();
    let mut batch: Vec<VaultTransaction> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    loop {
        batch.clear();
        lines.clear();
        let batch_start = reader.bytes_read();
        let batch_from = reader.line() + 1;
        while batch.len() < batching.transactions
            && reader.bytes_read() - batch_start < batching.bytes
        {
            match reader.next_transaction() {
                Ok(Some((line, t))) => {
                    lines.push(line);
                    batch.push(t);
                }
                Ok(None) => break,
                Err(error) => {
                    return Err(RecordError::Line {
                        error,
                        batch_from,
                        recorded: Box::new(summary),
                    });
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        let recorded = match store.record(&batch) {
            Ok(recorded) => recorded,
            Err(e) => {
                if let Some(conflict) = e.downcast_ref::<ConflictingTransaction>() {
                    let at = batch.iter().rposition(|t| t.id == conflict.id).unwrap_or(0);
                    return Err(RecordError::Conflict {
                        line: lines[at],
                        conflict: conflict.clone(),
                        recorded: Box::new(summary),
                    });
                }
                return Err(RecordError::Store {
                    from: lines[0],
                    to: *lines.last().expect("not empty"),
                    message: format!("{e:#}"),
                    recorded: Box::new(summary),
                });
            }
        };
        summary.read += batch.len() as u64;
        summary.new += recorded.new;
        summary.already += recorded.already;
        summary.batches += 1;
        summary.bytes = reader.bytes_read();
        summary.lines = *lines.last().expect("not empty");
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
    // A dependency recorded by a later batch is no longer missing.
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
    Ok(summary)
}
