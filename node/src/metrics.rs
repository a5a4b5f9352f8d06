//! `GET /metrics` on `metricsAddress`, for Prometheus: the seed's JMX
//! metrics under Prometheus names, plus reconciliations completed (by
//! outcome) and their durations, and the transport's refusals.
//!
//! The page is written here, in either exposition format by content
//! negotiation: Prometheus text 0.0.4 (`text/plain; version=0.0.4`) by
//! default, OpenMetrics 1.0 when the scraper's `Accept` asks for
//! `application/openmetrics-text` (as Prometheus does). Label values are
//! escaped (`\`, `"`, newline), so no party name can break a scrape. A
//! scrape reads the plugin at most once a second ([`READ_EVERY`]): scrapers
//! queue behind one read and share it, so what scrapes cost the plugin
//! thread is bounded whatever their rate; the page's size is bounded by the
//! network map (a row per party and direction).
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
//! | — | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_start_time_seconds` (from `/proc/self`) |
//! | — | `ledger_sync_plugin_up{plugin="..."}`, `ledger_sync_plugin_restarts_total{plugin="..."}`, `ledger_sync_plugin_memory_bytes{plugin="..."}`, `ledger_sync_plugin_events_total{plugin="..."}`: each plugin of the node, kept by its thread (read without asking it) |
//! | — | `ledger_sync_transport_unknown_plugin_messages_total`, `ledger_sync_transport_over_share_messages_total` |
//! | — | `ledger_sync_recovery_requests{side,status}`, `ledger_sync_recovery_transactions_total{side}`, `ledger_sync_recovery_bytes_total{side}`, `ledger_sync_recovery_unavailable_transactions_total{side}`, `ledger_sync_recovery_refused_transactions_total{side}`: CR_RECOVERY_REQUEST summed, when a plugin is granted `recovery` |
//! | — | `ledger_sync_transport_refused_connections_total`, `ledger_sync_transport_delivered_messages_total`, `ledger_sync_transport_received_bytes_total`, `ledger_sync_transport_sent_bytes_total`, `ledger_sync_transport_inbound_paused_total`, `ledger_sync_transport_over_capacity_connections_total`, `ledger_sync_transport_over_inbox_quota_messages_total`, `ledger_sync_transport_evicted_handshakes_total` |

use crate::runtime::Event;
use crate::transport::TransportStats;
use ledger_sync_host::Node;
use ledger_sync_host::bindings::metrics::MetricsSnapshot;
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How old a reading of the plugin may be before a scrape reads again.
pub const READ_EVERY: Duration = Duration::from_secs(1);

/// Upper bounds of the duration histogram's buckets, in seconds.
const DURATION_BUCKETS: [f64; 10] = [
    0.01, 0.04, 0.16, 0.64, 2.56, 10.24, 40.96, 163.84, 655.36, 2621.44,
];

/// The exposition format a scraper asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl Format {
    /// From an `Accept` header: OpenMetrics only when asked for.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A page being written in one format.
struct Page {
    out: String,
    format: Format,
}

/// A label value or help text made safe for the exposition formats.
fn escape(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v, true)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn number(value: f64) -> String {
    if value.is_infinite() {
        "+Inf".to_string()
    } else {
        format!("{value}")
    }
}

impl Page {
    /// `# HELP` and `# TYPE` for a family; counters are named `…_total`
    /// in the text format and get the suffix on their samples in
    /// OpenMetrics.
    fn family(&mut self, name: &str, kind: &str, help: &str) -> String {
        let family = match (self.format, kind) {
            (Format::Text, "counter") => format!("{name}_total"),
            _ => name.to_string(),
        };
        let _ = writeln!(self.out, "# HELP {family} {}", escape(help, false));
        let _ = writeln!(self.out, "# TYPE {family} {kind}");
        match kind {
            "counter" => format!("{name}_total"),
            _ => name.to_string(),
        }
    }

    fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: f64) {
        let _ = writeln!(self.out, "{name}{} {}", labels(pairs), number(value));
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        let sample = self.family(name, "gauge", help);
        self.sample(&sample, &[], value);
    }

    fn counter(&mut self, name: &str, help: &str, value: f64) {
        let sample = self.family(name, "counter", help);
        self.sample(&sample, &[], value);
    }

    /// A gauge family of one series per party, each 1.
    fn parties(&mut self, name: &str, help: &str, parties: &[String]) {
        let sample = self.family(name, "gauge", help);
        for party in parties {
            self.sample(&sample, &[("party", party)], 1.0);
        }
    }

    fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// What one read of the plugin thread gives.
struct Reading {
    at: Instant,
    snapshot: MetricsSnapshot,
    rows: Vec<ReconciliationStatus>,
}

/// Every metric the page shows beyond the plugin's own, and what the
/// last read saw of each outgoing row.
pub struct Metrics {
    transport: Arc<TransportStats>,
    plugins: Vec<Arc<crate::runtime::Health>>,
    /// Where CR_RECOVERY_REQUEST is, and its totals at the last read.
    database: Option<ledger_sync_host::store::Database>,
    recovery: Vec<ledger_sync_host::store::recovery::RecoveryTotals>,
    /// Outgoing reconciliations ended, by status.
    completed: BTreeMap<&'static str, u64>,
    /// Duration histogram: cumulative counts per bucket, sum, count.
    buckets: [u64; DURATION_BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    /// Party → the finish time of its outgoing row last counted.
    seen: BTreeMap<String, u64>,
    last: Option<Reading>,
}

impl Metrics {
    pub fn new(
        transport: Arc<TransportStats>,
        plugins: Vec<Arc<crate::runtime::Health>>,
    ) -> Metrics {
        Metrics {
            transport,
            plugins,
            database: None,
            recovery: Vec::new(),
            completed: BTreeMap::new(),
            buckets: [0; DURATION_BUCKETS.len()],
            duration_sum: 0.0,
            duration_count: 0,
            seen: BTreeMap::new(),
            last: None,
        }
    }

    /// Reads the recovery tables of `database` at every scrape (at most
    /// once a second).
    pub fn with_recovery(mut self, database: ledger_sync_host::store::Database) -> Metrics {
        self.database = Some(database);
        self
    }

    /// Counts the outgoing rows that ended since the last read.
    fn update(&mut self, reading: Reading) {
        for row in &reading.rows {
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
            *self
                .completed
                .entry(row.last_reconciliation_status.as_str())
                .or_default() += 1;
            let seconds = finished.saturating_sub(started) as f64 / 1000.0;
            for (bucket, bound) in self.buckets.iter_mut().zip(DURATION_BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            self.duration_sum += seconds;
            self.duration_count += 1;
        }
        self.last = Some(reading);
    }

    /// The page, from the last reading.
    fn render(&self, format: Format) -> String {
        let mut page = Page {
            out: String::new(),
            format,
        };
        if let Some(reading) = &self.last {
            seed_metrics(&mut page, &reading.snapshot);
        }
        self.outcomes(&mut page);
        self.plugin_health(&mut page);
        self.recovery_metrics(&mut page);
        self.transport_counters(&mut page);
        process_metrics(&mut page);
        page.finish()
    }

    /// Outgoing reconciliations ended, by status, and their durations.
    fn outcomes(&self, page: &mut Page) {
        let sample = page.family(
            "ledger_sync_reconciliations_completed",
            "counter",
            "Outgoing reconciliations ended, by status",
        );
        for (status, n) in &self.completed {
            page.sample(&sample, &[("status", status)], *n as f64);
        }
        page.family(
            "ledger_sync_reconciliation_duration_seconds",
            "histogram",
            "Outgoing reconciliations' durations, start to end",
        );
        for (count, bound) in self.buckets.iter().zip(DURATION_BUCKETS) {
            page.sample(
                "ledger_sync_reconciliation_duration_seconds_bucket",
                &[("le", &number(bound))],
                *count as f64,
            );
        }
        page.sample(
            "ledger_sync_reconciliation_duration_seconds_bucket",
            &[("le", "+Inf")],
            self.duration_count as f64,
        );
        page.sample(
            "ledger_sync_reconciliation_duration_seconds_sum",
            &[],
            self.duration_sum,
        );
        page.sample(
            "ledger_sync_reconciliation_duration_seconds_count",
            &[],
            self.duration_count as f64,
        );
    }

    /// CR_RECOVERY_REQUEST's totals, by side (and status for requests).
    fn recovery_metrics(&self, page: &mut Page) {
        if self.database.is_none() {
            return;
        }
        let side = |t: &ledger_sync_host::store::recovery::RecoveryTotals| {
            if t.is_requester {
                "requester"
            } else {
                "responder"
            }
        };
        let sample = page.family(
            "ledger_sync_recovery_requests",
            "gauge",
            "Recovery requests in CR_RECOVERY_REQUEST, by side and status",
        );
        for t in &self.recovery {
            page.sample(
                &sample,
                &[("side", side(t)), ("status", &t.status)],
                t.requests as f64,
            );
        }
        type Read = fn(&ledger_sync_host::store::recovery::RecoveryTotals) -> u64;
        let families: [(&str, &str, Read); 4] = [
            (
                "ledger_sync_recovery_transactions",
                "Transactions recovered (requester: recorded; responder: sent)",
                |t| t.transactions,
            ),
            (
                "ledger_sync_recovery_bytes",
                "Bytes of transactions recovered (requester: received; responder: sent)",
                |t| t.bytes,
            ),
            (
                "ledger_sync_recovery_unavailable_transactions",
                "Transactions asked for that the responder would not send (not held, no bytes, or not shared with the requester)",
                |t| t.unavailable,
            ),
            (
                "ledger_sync_recovery_refused_transactions",
                "Transactions received that did not verify against their ids, not recorded",
                |t| t.refused,
            ),
        ];
        for (name, help, read) in families {
            let sample = page.family(name, "counter", help);
            for s in ["requester", "responder"] {
                let total: u64 = self
                    .recovery
                    .iter()
                    .filter(|t| side(t) == s)
                    .map(read)
                    .sum();
                page.sample(&sample, &[("side", s)], total as f64);
            }
        }
    }

    /// Each plugin's health, one series per plugin.
    fn plugin_health(&self, page: &mut Page) {
        type Read = fn(&crate::runtime::Health) -> f64;
        let families: [(&str, &str, &str, Read); 4] = [
            (
                "ledger_sync_plugin_up",
                "gauge",
                "1 while the plugin runs, 0 once it trapped too often to restart",
                |h| f64::from(u8::from(h.up.load(Ordering::Relaxed))),
            ),
            (
                "ledger_sync_plugin_restarts",
                "counter",
                "Instances of the plugin replaced after a trap",
                |h| h.restarts.load(Ordering::Relaxed) as f64,
            ),
            (
                "ledger_sync_plugin_memory_bytes",
                "gauge",
                "The plugin's linear memory",
                |h| h.memory_bytes.load(Ordering::Relaxed) as f64,
            ),
            (
                "ledger_sync_plugin_events",
                "counter",
                "Events handed to the plugin: messages, flow calls, reads, ended reconciliations",
                |h| h.events.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, kind, help, read) in families {
            let sample = page.family(name, kind, help);
            for health in &self.plugins {
                page.sample(&sample, &[("plugin", &health.plugin)], read(health));
            }
        }
    }

    /// The transport's counters.
    fn transport_counters(&self, page: &mut Page) {
        let t = &self.transport;
        for (name, help, value) in [
            (
                "ledger_sync_transport_refused_connections",
                "Inbound connections refused: another CA, an unpinned certificate, a party not \
                 in the network map, an oversize frame",
                &t.refused_connections,
            ),
            (
                "ledger_sync_transport_delivered_messages",
                "Messages received from peers",
                &t.delivered,
            ),
            (
                "ledger_sync_transport_received_bytes",
                "Payload bytes received from peers",
                &t.received_bytes,
            ),
            (
                "ledger_sync_transport_sent_bytes",
                "Payload bytes written to peers",
                &t.sent_bytes,
            ),
            (
                "ledger_sync_transport_inbound_paused",
                "Times a peer's connection was left unread because its whole inbox quota was \
                 waiting for the plugin (back-pressure on a peer sending faster than the node \
                 handles)",
                &t.inbound_paused,
            ),
            (
                "ledger_sync_transport_unknown_plugin_messages",
                "Messages for a plugin this node does not run, dropped",
                &t.unknown_plugin,
            ),
            (
                "ledger_sync_transport_over_share_messages",
                "Messages a plugin sent past its share of a peer's send queue, dropped",
                &t.over_share,
            ),
            (
                "ledger_sync_transport_evicted_handshakes",
                "Inbound connections closed in their TLS handshake to make room for a newer one \
                 (strangers that never finish a handshake never keep a peer out)",
                &t.evicted_handshakes,
            ),
            (
                "ledger_sync_transport_over_inbox_quota_messages",
                "Messages for a plugin other than the reconciliation plugin that arrived while \
                 its inbox quota was full, dropped (the connection is never paused for them)",
                &t.over_inbox_quota,
            ),
            (
                "ledger_sync_transport_over_capacity_connections",
                "Inbound connections closed on arrival: past the node's cap in all or for their \
                 source address",
                &t.over_capacity,
            ),
        ] {
            page.counter(name, help, value.load(Ordering::Relaxed) as f64);
        }
    }
}

/// The seed's metrics, from the plugin's snapshot.
fn seed_metrics(page: &mut Page, m: &MetricsSnapshot) {
    for (name, help, value) in [
        (
            "ledger_sync_scheduled_reconciliations",
            "Reconciliations queued, not yet running (NumberOfScheduledReconciliations)",
            m.number_of_scheduled_reconciliations,
        ),
        (
            "ledger_sync_reconciliations_in_progress",
            "Reconciliations running, both directions (NumberOfReconciliationsInProgress)",
            m.number_of_reconciliations_in_progress,
        ),
        (
            "ledger_sync_cycle_failed_reconciliations",
            "FAILED in the current reconciliation cycle (NumberOfFailedReconciliations)",
            m.number_of_failed_reconciliations,
        ),
        (
            "ledger_sync_cycle_reconciliations_with_differences",
            "DIFFERENCES_FOUND in the current cycle (NumberOfReconciliationsWithDifferences)",
            m.number_of_reconciliations_with_differences,
        ),
        (
            "ledger_sync_cycle_reconciliations_without_differences",
            "DIFFERENCES_NOT_FOUND in the current cycle \
                 (NumberOfReconciliationsWithoutDifferences)",
            m.number_of_reconciliations_without_differences,
        ),
    ] {
        page.gauge(name, help, value.into());
    }
    page.parties(
        "ledger_sync_party_failed",
        "1 for each party on the network whose latest outgoing reconciliation FAILED \
             (FailedParties)",
        &m.failed_parties,
    );
    page.parties(
        "ledger_sync_party_with_difference",
        "1 for each party whose latest successful reconciliation found differences \
             (PartiesWithDifference)",
        &m.parties_with_difference,
    );
    page.gauge(
        "ledger_sync_ledger_graph_initialised",
        "1 once the ledger graph is built (LedgerGraphIsInitialized)",
        u8::from(m.ledger_graph_is_initialized).into(),
    );
    page.gauge(
        "ledger_sync_ledger_graph_self_consistent",
        "1 when every back-chain in the vault is complete (LedgerGraphIsSelfConsistent)",
        u8::from(m.ledger_graph_is_self_consistent).into(),
    );
    page.gauge(
        "ledger_sync_ledger_graph_errors",
        "How many ledger graph problems there are (LedgerGraphErrors)",
        m.ledger_graph_errors.len() as f64,
    );
    page.gauge(
        "ledger_sync_ledger_graph_transactions",
        "Transactions in the ledger graph",
        m.ledger_graph_transactions as f64,
    );
}

/// The process metrics every Prometheus client exports, from `/proc/self`
/// (Linux; elsewhere they are left out).
fn process_metrics(page: &mut Page) {
    // The kernel reports times in USER_HZ, 100 per second on Linux.
    const TICKS: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the parenthesised command name, which may hold spaces.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> f64 {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    page.counter(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        (field(14) + field(15)) / TICKS,
    );
    page.gauge(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes",
        field(23),
    );
    page.gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        field(24) * 4096.0,
    );
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    page.gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds",
        boot + field(22) / TICKS,
    );
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        page.gauge(
            "process_open_fds",
            "Number of open file descriptors",
            fds.count() as f64,
        );
    }
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))?
                .split_whitespace()
                .nth(3)?
                .parse::<f64>()
                .ok()
        });
    if let Some(max) = max_fds {
        page.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors",
            max,
        );
    }
}

fn read(node: &mut Node) -> Option<Reading> {
    let snapshot = node.metrics().ok()?;
    let rows = node
        .get_reconciliation_statuses(None, None, true)
        .ok()?
        .ok()?;
    Some(Reading {
        at: Instant::now(),
        snapshot,
        rows,
    })
}

/// The `/metrics` route.
pub fn router(metrics: Metrics, events: std::sync::mpsc::Sender<Event>) -> axum::Router {
    // Scrapers queue on this lock: one of them reads the plugin when the
    // last reading is older than READ_EVERY, the others use it.
    let state = Arc::new((
        tokio::sync::Mutex::new(metrics),
        std::sync::Mutex::new(events),
    ));
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let state = state.clone();
            async move {
                let format = Format::negotiate(
                    headers
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok()),
                );
                let mut metrics = state.0.lock().await;
                let fresh = metrics
                    .last
                    .as_ref()
                    .is_some_and(|r| r.at.elapsed() < READ_EVERY);
                if !fresh {
                    let (reply, answer) = oneshot::channel();
                    let asked = state.1.lock().expect("events").send(Event::Read(Box::new(
                        move |node: &mut Node| {
                            let _ = reply.send(read(node));
                        },
                    )));
                    if let Some(database) = metrics.database.clone() {
                        let read = tokio::task::spawn_blocking(move || {
                            ledger_sync_host::store::connect_reader(&database)
                                .and_then(|mut db| db.recovery_totals())
                        });
                        if let Ok(Ok(totals)) = read.await {
                            metrics.recovery = totals;
                        }
                    }
                    match (asked, answer.await) {
                        (Ok(()), Ok(Some(reading))) => metrics.update(reading),
                        _ => {
                            return (
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "text/plain; charset=utf-8",
                                )],
                                "the plugin is not answering".to_string(),
                            );
                        }
                    }
                }
                (
                    axum::http::StatusCode::OK,
                    [(axum::http::header::CONTENT_TYPE, format.content_type())],
                    metrics.render(format),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&[("party", "O=A\\B \"C\"\nD")]),
            "{party=\"O=A\\\\B \\\"C\\\"\\nD\"}"
        );
    }

    #[test]
    fn the_format_follows_the_accept_header() {
        let prometheus =
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
    }
}
