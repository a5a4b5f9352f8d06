//! The contract's generated bindings, one module per version of
//! `ledger-sync:plugin` the host supports (`wit/since_vX.Y.Z/`), as Zed
//! keeps its extension API:
//! - [`v0_5`], the latest (not yet published): what the host's imports
//!   implement; its types are re-exported here and are what the rest of
//!   the host uses;
//! - [`v0_4`] and [`v0_3`]: the 0.4.0 and 0.3.0 contracts, adapted to the
//!   latest.
//!
//! [`Plugin`] is an instance of either, called the same way: each call is
//! made in the instance's own version and its answer handed back in the
//! latest types. [`SUPPORTED`] is the window.

pub mod v0_3;
pub mod v0_4;
pub mod v0_5;

pub use v0_5::*;

use crate::state::NodeState;
use anyhow::Result;
use wasmtime::Store;
use wasmtime::component::InstancePre;

/// The versions of `ledger-sync:plugin` this host supports, oldest (the
/// window's MIN) first, latest (MAX) last. A component built for a version
/// compatible with one of them (the same major version; before 1.0, the
/// same minor too) loads.
pub const SUPPORTED: [&str; 3] = ["0.3.0", "0.4.0", "0.5.0"];

/// Who a plugin is, as `handlers.describe` says (see [`v0_3::PLUGIN_INFO`]
/// for a 0.3.0 plugin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
}

/// A plugin compiled and linked for one supported version, ready to
/// instantiate.
pub enum PluginPre {
    V0_3(v0_3::ReconciliationPluginPre<NodeState>),
    V0_4(v0_4::ReconciliationPluginPre<NodeState>),
    V0_5(v0_5::ReconciliationPluginPre<NodeState>),
}

/// One instance of a plugin, of any supported version.
pub enum Plugin {
    V0_3(v0_3::ReconciliationPlugin),
    V0_4(v0_4::ReconciliationPlugin),
    V0_5(v0_5::ReconciliationPlugin),
}

impl PluginPre {
    /// The typed form of `pre` for a component built for `version` (one
    /// compatible with a [`SUPPORTED`] version).
    pub fn new(version: &str, pre: InstancePre<NodeState>) -> Result<PluginPre> {
        Ok(if compatible(version, SUPPORTED[0]) {
            PluginPre::V0_3(v0_3::ReconciliationPluginPre::new(pre)?)
        } else if compatible(version, SUPPORTED[1]) {
            PluginPre::V0_4(v0_4::ReconciliationPluginPre::new(pre)?)
        } else {
            PluginPre::V0_5(v0_5::ReconciliationPluginPre::new(pre)?)
        })
    }

    pub fn instantiate(&self, store: &mut Store<NodeState>) -> Result<Plugin> {
        Ok(match self {
            PluginPre::V0_3(pre) => Plugin::V0_3(pre.instantiate(store)?),
            PluginPre::V0_4(pre) => Plugin::V0_4(pre.instantiate(store)?),
            PluginPre::V0_5(pre) => Plugin::V0_5(pre.instantiate(store)?),
        })
    }
}

/// Calls export `$call` of interface `$iface` on any version; `$adapt`
/// turns an older version's answer into the latest types (it is expanded
/// once per version, so it may be generic).
macro_rules! dispatch {
    ($plugin:expr, $store:expr, $iface:ident.$call:ident($($arg:expr),*), $adapt:expr) => {
        match $plugin {
            Plugin::V0_3(p) => p.$iface().$call($store, $($arg),*).map($adapt),
            Plugin::V0_4(p) => p.$iface().$call($store, $($arg),*).map($adapt),
            Plugin::V0_5(p) => p.$iface().$call($store, $($arg),*),
        }
    };
}

type Answer<T> = wasmtime::Result<Result<T, types::FlowError>>;

/// An older version's flow answer in the latest types.
fn flow<T, E: Into<ledger_sync_vocabulary::FlowError>>(
    answer: Result<T, E>,
) -> Result<T, types::FlowError> {
    answer.map_err(|e| e.into().into())
}

/// An older version's metrics snapshot in the latest type.
fn snapshot<M: Into<ledger_sync_vocabulary::metrics::Metrics>>(m: M) -> metrics::MetricsSnapshot {
    m.into().into()
}

impl Plugin {
    /// `handlers.describe`; a 0.3.0 plugin is [`v0_3::PLUGIN_INFO`].
    pub fn describe(&self, store: &mut Store<NodeState>) -> wasmtime::Result<PluginInfo> {
        match self {
            Plugin::V0_3(_) => Ok(PluginInfo {
                name: v0_3::PLUGIN_INFO.0.to_string(),
                version: v0_3::PLUGIN_INFO.1.to_string(),
            }),
            Plugin::V0_4(p) => {
                let info = p.ledger_sync_plugin_handlers().call_describe(store)?;
                Ok(PluginInfo {
                    name: info.name,
                    version: info.version,
                })
            }
            Plugin::V0_5(p) => {
                let info = p.ledger_sync_plugin_handlers().call_describe(store)?;
                Ok(PluginInfo {
                    name: info.name,
                    version: info.version,
                })
            }
        }
    }

    pub fn start(
        &self,
        store: &mut Store<NodeState>,
        config: &str,
        restart_reason: Option<&str>,
    ) -> wasmtime::Result<Result<handlers::HostRequirements, String>> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_handlers.call_start(config, restart_reason),
            |r| r.map(|h| handlers::HostRequirements {
                vault_readers: h.vault_readers
            })
        )
    }

    pub fn on_message(
        &self,
        store: &mut Store<NodeState>,
        sender: &str,
        payload: &[u8],
    ) -> wasmtime::Result<()> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_handlers.call_on_message(&sender.to_string(), payload),
            |r| r
        )
    }

    pub fn on_timer(&self, store: &mut Store<NodeState>, id: u64) -> wasmtime::Result<()> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_handlers.call_on_timer(id),
            |r| r
        )
    }

    pub fn schedule_reconciliation(
        &self,
        store: &mut Store<NodeState>,
        parties: &[String],
    ) -> Answer<()> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_flows.call_schedule_reconciliation(parties),
            flow
        )
    }

    pub fn get_reconciliation_statuses(
        &self,
        store: &mut Store<NodeState>,
        party: Option<&String>,
        status: Option<types::ReconciliationStatusValue>,
        is_requester: bool,
    ) -> Answer<Vec<types::ReconciliationStatus>> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_flows.call_get_reconciliation_statuses(party, status, is_requester),
            flow
        )
    }

    pub fn get_reconciliation_status_for_party(
        &self,
        store: &mut Store<NodeState>,
        party: &str,
        is_requester: bool,
    ) -> Answer<Option<types::ReconciliationStatus>> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_flows
                .call_get_reconciliation_status_for_party(&party.to_string(), is_requester),
            flow
        )
    }

    pub fn refresh_reconciliation_statuses(&self, store: &mut Store<NodeState>) -> Answer<()> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_flows.call_refresh_reconciliation_statuses(),
            flow
        )
    }

    pub fn stop_reconciliation_for_party(
        &self,
        store: &mut Store<NodeState>,
        party: &str,
    ) -> Answer<()> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_flows.call_stop_reconciliation_for_party(&party.to_string()),
            flow
        )
    }

    pub fn is_reconciliation_scheduled_for_party(
        &self,
        store: &mut Store<NodeState>,
        party: &str,
    ) -> Answer<bool> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_flows.call_is_reconciliation_scheduled_for_party(&party.to_string()),
            flow
        )
    }

    pub fn is_responding_to_reconciliation_for_party(
        &self,
        store: &mut Store<NodeState>,
        party: &str,
    ) -> Answer<bool> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_flows
                .call_is_responding_to_reconciliation_for_party(&party.to_string()),
            flow
        )
    }

    /// `flows.shared-with`; a 0.3.0 plugin does not answer it.
    pub fn shared_with(
        &self,
        store: &mut Store<NodeState>,
        party: &String,
        ids: &[u8],
    ) -> Answer<Vec<bool>> {
        match self {
            Plugin::V0_3(_) => Ok(Err(types::FlowError::InvalidArgument(
                "a 0.3.0 reconciliation plugin does not answer shared-with".to_string(),
            ))),
            Plugin::V0_4(p) => p
                .ledger_sync_plugin_flows()
                .call_shared_with(store, party, ids),
            Plugin::V0_5(p) => p
                .ledger_sync_plugin_flows()
                .call_shared_with(store, party, ids),
        }
    }

    /// `extension.custom-flows`; a 0.3.0 plugin offers none.
    pub fn custom_flows(
        &self,
        store: &mut Store<NodeState>,
    ) -> wasmtime::Result<Vec<extension::FlowDescription>> {
        match self {
            Plugin::V0_3(_) => Ok(Vec::new()),
            Plugin::V0_4(p) => Ok(p
                .ledger_sync_plugin_extension()
                .call_custom_flows(store)?
                .into_iter()
                .map(v0_4::flow_description)
                .collect()),
            Plugin::V0_5(p) => p.ledger_sync_plugin_extension().call_custom_flows(store),
        }
    }

    /// `extension.run-flow`; a 0.3.0 plugin has no flow to run.
    pub fn run_flow(
        &self,
        store: &mut Store<NodeState>,
        name: &str,
        arguments: &[(String, String)],
    ) -> Answer<String> {
        match self {
            Plugin::V0_3(_) => Ok(Err(types::FlowError::InvalidArgument(format!(
                "a 0.3.0 plugin offers no flow called {name}"
            )))),
            Plugin::V0_4(p) => p
                .ledger_sync_plugin_extension()
                .call_run_flow(store, name, arguments),
            Plugin::V0_5(p) => p
                .ledger_sync_plugin_extension()
                .call_run_flow(store, name, arguments),
        }
    }

    /// `extension.reconciliation-ended`; a 0.3.0 plugin is not told.
    pub fn reconciliation_ended(
        &self,
        store: &mut Store<NodeState>,
        row: &types::ReconciliationStatus,
    ) -> wasmtime::Result<()> {
        match self {
            Plugin::V0_3(_) => Ok(()),
            Plugin::V0_4(p) => p
                .ledger_sync_plugin_extension()
                .call_reconciliation_ended(store, row),
            Plugin::V0_5(p) => p
                .ledger_sync_plugin_extension()
                .call_reconciliation_ended(store, row),
        }
    }

    pub fn snapshot(
        &self,
        store: &mut Store<NodeState>,
    ) -> wasmtime::Result<metrics::MetricsSnapshot> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_metrics.call_snapshot(),
            snapshot
        )
    }

    pub fn party_reconciliation_status(
        &self,
        store: &mut Store<NodeState>,
        party: &str,
    ) -> wasmtime::Result<Option<types::ReconciliationStatus>> {
        dispatch!(
            self,
            store,
            ledger_sync_plugin_metrics.call_party_reconciliation_status(&party.to_string()),
            |r| r
        )
    }
}

/// Semver compatibility as the WIT package promises it: same major, and
/// before 1.0 the same minor too.
pub fn compatible(theirs: &str, ours: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parts(theirs), parts(ours)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b && a > 0,
        _ => false,
    }
}
