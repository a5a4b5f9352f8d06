//! `GET /metrics` on `metricsAddress`, for Prometheus: the seed's JMX
//! metrics under Prometheus names, plus reconciliations completed (by
//! outcome) and their durations, and the transport's refusals.
//!
//! | seed (JMX) | Prometheus |
//! | --- | --- |
//! | NumberOfScheduledReconciliations | `ledger_sync_scheduled_reconciliations` |
//! | NumberOfReconciliationsInProgress | `ledger_sync_reconciliations_in_progress` |
//! | NumberOfFailedReconciliations | `ledger_sync_cycle_failed_reconciliations` |
//! | NumberOfReconciliationsWithDifferences | `ledger_sync_cycle_reconciliations_with_differences` |
//! | NumberOfReconciliationsWithoutDifferences | `ledger_sync_cycle_reconciliations_without_differences` |
//! | FailedParties | `ledger_sync_party_failed{party="..."}` = 1 |
//! | PartiesWithDifference | `ledger_sync_party_with_difference{party="..."}` = 1 |
//! | LedgerGraphIsInitialized | `ledger_sync_ledger_graph_initialised` |
//! | LedgerGraphIsSelfConsistent | `ledger_sync_ledger_graph_self_consistent` |
//! | LedgerGraphErrors | `ledger_sync_ledger_graph_errors` (how many) |
//! | — | `ledger_sync_ledger_graph_transactions` |
//! | — | `ledger_sync_reconciliations_completed_total{status="..."}`, `ledger_sync_reconciliation_duration_seconds` (outgoing, seen at scrape time from the status rows) |
//! | — | `ledger_sync_transport_refused_connections_total`, `ledger_sync_transport_delivered_messages_total`, `ledger_sync_transport_received_bytes_total`, `ledger_sync_transport_sent_bytes_total`, `ledger_sync_transport_inbound_paused_total` |

use crate::runtime::Event;
use crate::transport::TransportStats;
use ledger_sync_host::Node;
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Labels = Vec<(String, String)>;

/// Every metric, and what the last scrape saw of each outgoing row.
pub struct Metrics {
    registry: Registry,
    scheduled: Gauge,
    in_progress: Gauge,
    cycle_failed: Gauge,
    cycle_with: Gauge,
    cycle_without: Gauge,
    party_failed: Family<Labels, Gauge>,
    party_with_difference: Family<Labels, Gauge>,
    graph_initialised: Gauge,
    graph_consistent: Gauge,
    graph_errors: Gauge,
    graph_transactions: Gauge,
    completed: Family<Labels, Counter>,
    duration: Histogram,
    refused: Counter,
    delivered: Counter,
    received_bytes: Counter,
    sent_bytes: Counter,
    inbound_paused: Counter,
    /// Party → the finish time of its outgoing row last counted.
    seen: BTreeMap<String, u64>,
    transport: Arc<TransportStats>,
}

/// What one scrape reads from the plugin thread.
struct Reading {
    snapshot: ledger_sync_host::bindings::metrics::MetricsSnapshot,
    rows: Vec<ReconciliationStatus>,
}

impl Metrics {
    pub fn new(transport: Arc<TransportStats>) -> Metrics {
        let mut registry = Registry::with_prefix("ledger_sync");
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let scheduled = gauge(
            &mut registry,
            "scheduled_reconciliations",
            "Reconciliations queued, not yet running (NumberOfScheduledReconciliations)",
        );
        let in_progress = gauge(
            &mut registry,
            "reconciliations_in_progress",
            "Reconciliations running, both directions (NumberOfReconciliationsInProgress)",
        );
        let cycle_failed = gauge(
            &mut registry,
            "cycle_failed_reconciliations",
            "FAILED in the current reconciliation cycle (NumberOfFailedReconciliations)",
        );
        let cycle_with = gauge(
            &mut registry,
            "cycle_reconciliations_with_differences",
            "DIFFERENCES_FOUND in the current cycle (NumberOfReconciliationsWithDifferences)",
        );
        let cycle_without = gauge(
            &mut registry,
            "cycle_reconciliations_without_differences",
            "DIFFERENCES_NOT_FOUND in the current cycle (NumberOfReconciliationsWithoutDifferences)",
        );
        let party_failed = Family::<Labels, Gauge>::default();
        registry.register(
            "party_failed",
            "1 for each party whose latest outgoing reconciliation FAILED (FailedParties)",
            party_failed.clone(),
        );
        let party_with_difference = Family::<Labels, Gauge>::default();
        registry.register("party_with_difference", "1 for each party whose latest successful reconciliation found differences (PartiesWithDifference)", party_with_difference.clone());
        let graph_initialised = gauge(
            &mut registry,
            "ledger_graph_initialised",
            "1 once the ledger graph is built (LedgerGraphIsInitialized)",
        );
        let graph_consistent = gauge(
            &mut registry,
            "ledger_graph_self_consistent",
            "1 when every back-chain in the vault is complete (LedgerGraphIsSelfConsistent)",
        );
        let graph_errors = gauge(
            &mut registry,
            "ledger_graph_errors",
            "How many ledger graph problems there are (LedgerGraphErrors)",
        );
        let graph_transactions = gauge(
            &mut registry,
            "ledger_graph_transactions",
            "Transactions in the ledger graph",
        );
        let completed = Family::<Labels, Counter>::default();
        registry.register(
            "reconciliations_completed",
            "Outgoing reconciliations ended, by status",
            completed.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.01, 4.0, 10));
        registry.register(
            "reconciliation_duration_seconds",
            "Outgoing reconciliations' durations, start to end",
            duration.clone(),
        );
        let refused = Counter::default();
        registry.register("transport_refused_connections", "Inbound connections refused: another CA, an unpinned certificate, a party not in the network map, an oversize frame", refused.clone());
        let delivered = Counter::default();
        registry.register(
            "transport_delivered_messages",
            "Messages received from peers",
            delivered.clone(),
        );
        let received_bytes = Counter::default();
        registry.register(
            "transport_received_bytes",
            "Payload bytes received from peers",
            received_bytes.clone(),
        );
        let sent_bytes = Counter::default();
        registry.register(
            "transport_sent_bytes",
            "Payload bytes written to peers",
            sent_bytes.clone(),
        );
        let inbound_paused = Counter::default();
        registry.register(
            "transport_inbound_paused",
            "Times a peer's connection was left unread because its whole inbox quota was waiting for the plugin (back-pressure on a peer sending faster than the node handles)",
            inbound_paused.clone(),
        );
        Metrics {
            registry,
            scheduled,
            in_progress,
            cycle_failed,
            cycle_with,
            cycle_without,
            party_failed,
            party_with_difference,
            graph_initialised,
            graph_consistent,
            graph_errors,
            graph_transactions,
            completed,
            duration,
            refused,
            delivered,
            received_bytes,
            sent_bytes,
            inbound_paused,
            seen: BTreeMap::new(),
            transport,
        }
    }

    fn update(&mut self, reading: Reading) {
        let m = reading.snapshot;
        self.scheduled
            .set(m.number_of_scheduled_reconciliations.into());
        self.in_progress
            .set(m.number_of_reconciliations_in_progress.into());
        self.cycle_failed
            .set(m.number_of_failed_reconciliations.into());
        self.cycle_with
            .set(m.number_of_reconciliations_with_differences.into());
        self.cycle_without
            .set(m.number_of_reconciliations_without_differences.into());
        self.party_failed.clear();
        for party in m.failed_parties {
            self.party_failed
                .get_or_create(&vec![("party".into(), party)])
                .set(1);
        }
        self.party_with_difference.clear();
        for party in m.parties_with_difference {
            self.party_with_difference
                .get_or_create(&vec![("party".into(), party)])
                .set(1);
        }
        self.graph_initialised
            .set(m.ledger_graph_is_initialized.into());
        self.graph_consistent
            .set(m.ledger_graph_is_self_consistent.into());
        self.graph_errors.set(m.ledger_graph_errors.len() as i64);
        self.graph_transactions
            .set(m.ledger_graph_transactions as i64);
        for row in reading.rows {
            let (Some(started), Some(finished)) = (
                row.last_reconciliation_time_started,
                row.last_reconciliation_time_finished,
            ) else {
                continue;
            };
            if row.last_reconciliation_status == StatusValue::InProgress
                || self.seen.get(&row.party_name) == Some(&finished)
            {
                continue;
            }
            self.seen.insert(row.party_name.clone(), finished);
            self.completed
                .get_or_create(&vec![(
                    "status".into(),
                    row.last_reconciliation_status.as_str().into(),
                )])
                .inc();
            self.duration
                .observe(finished.saturating_sub(started) as f64 / 1000.0);
        }
        let refused = self.transport.refused_connections.load(Ordering::Relaxed);
        self.refused
            .inc_by(refused.saturating_sub(self.refused.get()));
        for (counter, total) in [
            (&self.delivered, &self.transport.delivered),
            (&self.received_bytes, &self.transport.received_bytes),
            (&self.sent_bytes, &self.transport.sent_bytes),
            (&self.inbound_paused, &self.transport.inbound_paused),
        ] {
            let total = total.load(Ordering::Relaxed);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }
}

fn read(node: &mut Node) -> Option<Reading> {
    let snapshot = node.metrics().ok()?;
    let rows = node
        .get_reconciliation_statuses(None, None, true)
        .ok()?
        .ok()?;
    Some(Reading { snapshot, rows })
}

/// The `/metrics` route.
pub fn router(metrics: Metrics, events: std::sync::mpsc::Sender<Event>) -> axum::Router {
    let state = Arc::new((Mutex::new(metrics), Mutex::new(events)));
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                let asked = state.1.lock().expect("events").send(Event::Read(Box::new(
                    move |node: &mut Node| {
                        let _ = reply.send(read(node));
                    },
                )));
                let reading = match (asked, answer.await) {
                    (Ok(()), Ok(Some(reading))) => reading,
                    _ => {
                        return (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "the plugin is not answering".to_string(),
                        );
                    }
                };
                let mut metrics = state.0.lock().expect("metrics");
                metrics.update(reading);
                let mut text = String::new();
                let _ = encode(&mut text, &metrics.registry);
                (axum::http::StatusCode::OK, text)
            }
        }),
    )
}
