//! The `logging` import: plugin logs become `tracing` events on the
//! `ledger_sync::plugin` target, with the node's name and the flow's marker
//! as fields, so a filter such as
//! `RUST_LOG='ledger_sync::plugin[{marker=ReconcileWithPartyFlow}]=debug'`
//! selects one flow's logs.
//!
//! A guest cannot make the host hold or write much: a message is cut at
//! [`crate::Limits::max_log_message_bytes`], control characters (a peer's
//! text may be quoted) are escaped so one call is one log line, lines past
//! [`crate::Limits::max_log_lines_per_minute`] (a token bucket on the
//! node's clock) are dropped and counted, and captured lines are a ring of
//! [`crate::Limits::max_captured_logs`].

use crate::bindings::ledger_sync::plugin::logging::{self, Level};
use crate::imports::clock::Clock;
use std::collections::VecDeque;
use std::sync::Arc;

/// The tracing target of plugin logs.
pub const TARGET: &str = "ledger_sync::plugin";

/// Longest marker kept (the seed's markers are under 40 bytes).
const MAX_MARKER_BYTES: usize = 64;

/// A plugin log line, kept when the node captures logs.
#[derive(Clone, Debug)]
pub struct LogRecord {
    pub level: Level,
    pub marker: String,
    pub message: String,
}

/// The `logging` import's state.
pub struct LoggingImport {
    node: String,
    max_message_bytes: usize,
    /// Captured lines (tests), oldest first, at most `capture_limit`.
    captured: Option<VecDeque<LogRecord>>,
    capture_limit: usize,
    rate: LineRate,
}

/// A token bucket of log lines on the node's clock.
struct LineRate {
    clock: Arc<dyn Clock>,
    per_minute: u64,
    /// Lines that may be written now (thousandths of a line).
    tokens_milli: u64,
    /// When the bucket was last filled.
    filled_ms: u64,
    /// Lines dropped since the last one written, and in all.
    dropped: u64,
    dropped_total: u64,
}

impl LineRate {
    /// Whether a line may be written now; if so, how many were dropped
    /// before it.
    fn take(&mut self) -> Option<u64> {
        let now = self.clock.now_ms();
        let full = self.per_minute.saturating_mul(1000);
        let elapsed = now.saturating_sub(self.filled_ms);
        // per_minute lines per 60,000 ms: per_minute thousandths per 60 ms.
        let refill = elapsed.saturating_mul(self.per_minute) / 60;
        self.tokens_milli = self.tokens_milli.saturating_add(refill).min(full);
        self.filled_ms = now.max(self.filled_ms);
        if self.tokens_milli < 1000 {
            self.dropped += 1;
            self.dropped_total += 1;
            return None;
        }
        self.tokens_milli -= 1000;
        Some(std::mem::take(&mut self.dropped))
    }
}

impl LoggingImport {
    /// `lines_per_minute` bounds what the plugin may write (see
    /// [`crate::Limits::max_log_lines_per_minute`]), on `clock`.
    pub fn new(
        node: &str,
        max_message_bytes: usize,
        capture: Option<usize>,
        clock: Arc<dyn Clock>,
        lines_per_minute: u64,
    ) -> Self {
        let filled_ms = clock.now_ms();
        LoggingImport {
            node: node.to_string(),
            max_message_bytes,
            captured: capture.map(|_| VecDeque::new()),
            capture_limit: capture.unwrap_or(0),
            rate: LineRate {
                clock,
                per_minute: lines_per_minute,
                tokens_milli: lines_per_minute.saturating_mul(1000),
                filled_ms,
                dropped: 0,
                dropped_total: 0,
            },
        }
    }

    /// Lines the plugin wrote past its rate, dropped, in all.
    pub fn dropped_lines(&self) -> u64 {
        self.rate.dropped_total
    }

    /// Captured log lines, oldest first (empty unless capturing).
    pub fn captured(&self) -> impl Iterator<Item = &LogRecord> {
        self.captured.iter().flatten()
    }
}

pub use ledger_sync_vocabulary::text::bounded;

impl logging::Host for LoggingImport {
    fn log(&mut self, level: Level, marker: String, message: String) {
        let Some(dropped) = self.rate.take() else {
            return;
        };
        let mut message = bounded(&message, self.max_message_bytes);
        if dropped > 0 {
            message.push_str(&format!(
                " ({dropped} lines of this plugin were dropped before this one: it may write \
                 {} a minute)",
                self.rate.per_minute
            ));
        }
        let marker = bounded(&marker, MAX_MARKER_BYTES);
        let node = self.node.as_str();
        let marker_field = marker.as_str();
        // The fields sit on a span around the event, because `EnvFilter`
        // matches field values on spans: `[{marker=...}]` then selects the
        // events inside. The span's level is the most severe so that it never
        // hides an event the filter lets through.
        let span = tracing::error_span!(target: TARGET, "plugin", node, marker = marker_field);
        let _in_span = span.enter();
        match level {
            Level::Trace => tracing::trace!(target: TARGET, "{message}"),
            Level::Debug => tracing::debug!(target: TARGET, "{message}"),
            Level::Info => tracing::info!(target: TARGET, "{message}"),
            Level::Warn => tracing::warn!(target: TARGET, "{message}"),
            Level::Error => tracing::error!(target: TARGET, "{message}"),
        }
        if let Some(captured) = self.captured.as_mut() {
            if captured.len() >= self.capture_limit {
                captured.pop_front();
            }
            captured.push_back(LogRecord {
                level,
                marker,
                message,
            });
        }
    }
}
