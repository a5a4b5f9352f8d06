//! The `logging` import: plugin logs become `tracing` events on the
//! `ledger_sync::plugin` target, with the node's name and the flow's marker
//! as fields, so a filter such as
//! `RUST_LOG='ledger_sync::plugin[{marker=ReconcileWithPartyFlow}]=debug'`
//! selects one flow's logs.
//!
//! A guest cannot make the host hold much: a message is cut at
//! [`crate::Limits::max_log_message_bytes`], control characters (a peer's
//! text may be quoted) are escaped so one call is one log line, and captured
//! lines are a ring of [`crate::Limits::max_captured_logs`].

use crate::bindings::ledger_sync::plugin::logging::{self, Level};
use std::collections::VecDeque;

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
}

impl LoggingImport {
    pub fn new(node: &str, max_message_bytes: usize, capture: Option<usize>) -> Self {
        LoggingImport {
            node: node.to_string(),
            max_message_bytes,
            captured: capture.map(|_| VecDeque::new()),
            capture_limit: capture.unwrap_or(0),
        }
    }

    /// Captured log lines, oldest first (empty unless capturing).
    pub fn captured(&self) -> impl Iterator<Item = &LogRecord> {
        self.captured.iter().flatten()
    }
}

pub use ledger_sync_vocabulary::text::bounded;

impl logging::Host for LoggingImport {
    fn log(&mut self, level: Level, marker: String, message: String) {
        let message = bounded(&message, self.max_message_bytes);
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
