//! Log routing, alone in its test binary: `tracing` caches per-callsite
//! interest process-wide, so a thread-scoped subscriber is only reliable when
//! no other test thread is logging at the same time.

use ledger_sync_tests::*;
use ledger_sync_vocabulary::marker;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer that keeps what tracing writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The harness routes plugin logs into `tracing` with the marker as a field
/// that an `EnvFilter` directive can select.
#[test]
fn a_tracing_filter_selects_one_flows_logs_by_marker() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "{}[{{marker={}}}]=info",
            ledger_sync_host::imports::logging::TARGET,
            marker::SCHEDULE_RECONCILIATION
        )))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let ab = shared(0, 10, A, B);
        let mut cluster = Cluster::new();
        cluster.add(A, &ab[..6]).add(B, &ab);
        assert_status(&cluster.reconcile(A, B), Status::DifferencesFound);
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("scheduled reconciliation with"), "{text}");
    assert!(text.contains(marker::SCHEDULE_RECONCILIATION), "{text}");
    assert!(
        !text.contains("finished"),
        "other markers filtered out: {text}"
    );
    assert!(!text.contains("ledger graph initialised"), "{text}");
}
