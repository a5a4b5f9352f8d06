//! The plugin author's test kit: any plugin component, run in the simulated
//! network (`ledger-sync plugin check FILE`). Two nodes sharing a small
//! ledger each run the plugin; they start it with the given configuration,
//! let it run a virtual minute, crash one node and start it again from what
//! the plugin stored, let it run another minute, hand the restarted one a
//! message it cannot expect, let it run a third minute, and call its flows
//! and metrics. The plugin passes when it starts on both, starts again after
//! the crash, and never traps nor breaks the contract.

use crate::network::Network;
use crate::testkit::{A, B, shared};
use anyhow::{Context, Result};
use ledger_sync_host::bindings::PluginInfo;
use ledger_sync_host::store::Database;
use ledger_sync_host::{NodeOptions, PluginRuntime};
use std::sync::Arc;

/// A message no plugin expects: a plugin must take any payload a peer
/// sends without trapping.
const UNEXPECTED: &[u8] = b"ledger-sync plugin check: a payload this plugin cannot expect";

/// What the check saw.
#[derive(Debug)]
pub struct KitReport {
    /// Who the plugin says it is, and the contract it was built for.
    pub info: PluginInfo,
    pub contract: String,
    /// Messages the two nodes' plugins sent each other.
    pub messages: u64,
    /// The flows it offers beyond the seven (`extension.custom-flows`).
    pub flows: Vec<String>,
    /// Log lines the plugins wrote, as `node: [level] message`.
    pub logs: Vec<String>,
    /// Every trap or contract breach, with the node and the event.
    pub failures: Vec<String>,
}

impl KitReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs the check on `runtime` with plugin configuration `config`; an
/// error is a plugin that did not start (the reason says why).
pub fn check(runtime: Arc<PluginRuntime>, config: &str) -> Result<KitReport> {
    let dir = tempfile::tempdir()?;
    let mut net = Network::new(runtime.clone());
    for (k, name) in [A, B].into_iter().enumerate() {
        let database = Database::Sqlite(dir.path().join(format!("node-{k}.db")));
        ledger_sync_host::store::connect(&database)?.record(&shared(0, 20, A, B))?;
        let mut options = NodeOptions::new(name, database);
        options.seed = Some(k as u64 + 1);
        options.capture_logs = true;
        options.config = config.to_string();
        net.add_node(options)
            .with_context(|| format!("the plugin did not start on node {name}"))?;
    }
    net.run_for(60_000);
    net.crash_node(A);
    net.restart_node(A, None)
        .with_context(|| format!("the plugin did not start again on node {A} after a crash"))?;
    net.run_for(60_000);
    net.inject(B, A, UNEXPECTED.to_vec());
    net.run_for(60_000);
    let mut failures: Vec<String> = (net.failures().iter())
        .map(|f| format!("{}: {}", f.node, f.failure))
        .collect();
    let offered = net.node(A).custom_flows().unwrap_or_default();
    for name in [A, B] {
        let node = net.node(name);
        let flows = [
            node.get_reconciliation_statuses(None, None, true).err(),
            node.metrics().err(),
            node.party_reconciliation_status(B).err(),
            node.custom_flows().err(),
        ];
        failures.extend(flows.into_iter().flatten().map(|e| format!("{name}: {e}")));
    }
    let logs = [A, B]
        .into_iter()
        .flat_map(|name| {
            let records = net.node(name).logs();
            records.into_iter().map(move |r| {
                let level = format!("{:?}", r.level);
                let level = level.trim_start_matches("Level::").to_lowercase();
                format!("{name}: [{level}] {}", r.message)
            })
        })
        .collect();
    Ok(KitReport {
        info: runtime.info().clone(),
        contract: runtime.contract_version().to_string(),
        messages: net.traffic().messages,
        flows: offered.into_iter().map(|f| f.name).collect(),
        logs,
        failures,
    })
}
