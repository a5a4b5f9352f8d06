//! The `logging` import: plugin logs become `tracing` events on the
//! `ledger_sync::plugin` target, with the node's name and the flow's marker
//! as fields, so a filter such as
//! `RUST_LOG='ledger_sync::plugin[{marker=ReconcileWithPartyFlow}]=debug'`
//! selects one flow's logs.

use crate::bindings::ledger_sync::plugin::logging::{self, Level};
use crate::node::NodeState;

/// The tracing target of plugin logs.
pub const TARGET: &str = "ledger_sync::plugin";

impl logging::Host for NodeState {
    fn log(&mut self, level: Level, marker: String, message: String) {
        let node = self.name.as_str();
        let marker = marker.as_str();
        // The fields sit on a span around the event, because `EnvFilter`
        // matches field values on spans: `[{marker=...}]` then selects the
        // events inside. The span's level is the most severe so that it never
        // hides an event the filter lets through.
        let span = tracing::error_span!(target: TARGET, "plugin", node, marker);
        let _in_span = span.enter();
        match level {
            Level::Trace => tracing::trace!(target: TARGET, "{message}"),
            Level::Debug => tracing::debug!(target: TARGET, "{message}"),
            Level::Info => tracing::info!(target: TARGET, "{message}"),
            Level::Warn => tracing::warn!(target: TARGET, "{message}"),
            Level::Error => tracing::error!(target: TARGET, "{message}"),
        }
        if self.capture_logs {
            self.logs.push(crate::node::LogRecord {
                level,
                marker: marker.to_string(),
                message,
            });
        }
    }
}
