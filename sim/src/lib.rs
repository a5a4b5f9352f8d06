//! The simulated business network: nodes of the reference host on one
//! virtual clock, with deterministic delivery, so tests and the demo drive
//! time and messages step by step and never sleep.
//!
//! - [`clock`]: the virtual clock every simulated node reads.
//! - [`network`]: several nodes, their timers and the messages between them.
//! - [`ledger`]: generated ledgers with back-chains, and the reference
//!   answer to "what should a reconciliation find" (the
//!   `ledger-sync-ledgers` crate, re-exported).
//! - [`demo`]: the seed's disaster-recovery workflow, end to end.
//! - [`simulation`]: the seeded whole-network simulation with faults and
//!   invariants (`ledger-sync simulate`).
//! - [`testkit`]: a cluster of nodes for the integration tests.
//! - [`plugin_kit`]: any plugin component run in the simulated network
//!   (`ledger-sync plugin check`).

pub mod clock;
pub mod demo;
/// The ledger fixtures, now their own crate (the node uses them without
/// the simulator).
pub use ledger_sync_ledgers as ledger;
pub mod network;
pub mod plugin_kit;
pub mod simulation;
pub mod testkit;

use anyhow::Result;
use ledger_sync_host::PluginRuntime;
use std::sync::{Arc, Mutex, OnceLock};

/// The plugin built from this workspace, compiled once per process.
pub fn builtin_plugin() -> Result<Arc<PluginRuntime>> {
    component(ledger_sync_components::PLUGIN)
}

/// Components compiled so far in this process, by path.
type Compiled = Mutex<Vec<(&'static str, Arc<PluginRuntime>)>>;

/// The component at `path`, compiled once per process.
pub fn component(path: &'static str) -> Result<Arc<PluginRuntime>> {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    let compiled = COMPILED.get_or_init(Default::default);
    if let Some((_, rt)) = compiled
        .lock()
        .expect("component cache")
        .iter()
        .find(|(p, _)| *p == path)
    {
        return Ok(rt.clone());
    }
    let rt = PluginRuntime::from_file(std::path::Path::new(path))?;
    compiled
        .lock()
        .expect("component cache")
        .push((path, rt.clone()));
    Ok(rt)
}
