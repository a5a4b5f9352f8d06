//! The component's exports for a [`Plugin`]: the one value of it lives
//! here from `start` on, and each export is a method call on it. Used by
//! [`crate::export_plugin!`]; a plugin author never names it.

use crate::bindings::exports::ledger_sync::plugin::{extension, flows, handlers, metrics};
use crate::bindings::ledger_sync::plugin::types;
use crate::{Plugin, StatusValue};
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

thread_local! {
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` on the started plugin. An export called before `start`
/// succeeded breaks the contract: the instance traps.
fn with<P: Plugin, R>(f: impl FnOnce(&mut P) -> R) -> R {
    INSTANCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let plugin = slot
            .as_mut()
            .and_then(|p| p.downcast_mut::<P>())
            .expect("the host called an export before handlers.start succeeded");
        f(plugin)
    })
}

/// The exports of the plugin `P`.
pub struct Exports<P>(PhantomData<P>);

impl<P: Plugin> handlers::Guest for Exports<P> {
    fn describe() -> handlers::PluginInfo {
        handlers::PluginInfo {
            name: P::NAME.to_string(),
            version: P::VERSION.to_string(),
        }
    }

    fn start(
        config: String,
        restart_reason: Option<String>,
    ) -> Result<handlers::HostRequirements, String> {
        let plugin = P::start(&config, restart_reason.as_deref())?;
        let needs = plugin.host_requirements();
        INSTANCE.with(|cell| *cell.borrow_mut() = Some(Box::new(plugin)));
        Ok(handlers::HostRequirements {
            vault_readers: needs.vault_readers,
        })
    }

    fn on_message(sender: String, payload: Vec<u8>) {
        with(|p: &mut P| p.on_message(&sender, &payload))
    }

    fn on_timer(id: u64) {
        with(|p: &mut P| p.on_timer(id))
    }
}

type FlowResult<T> = Result<T, types::FlowError>;

impl<P: Plugin> flows::Guest for Exports<P> {
    fn schedule_reconciliation(parties: Vec<String>) -> FlowResult<()> {
        with(|p: &mut P| p.schedule_reconciliation(&parties)).map_err(Into::into)
    }

    fn get_reconciliation_statuses(
        party: Option<String>,
        status: Option<types::ReconciliationStatusValue>,
        is_requester: bool,
    ) -> FlowResult<Vec<types::ReconciliationStatus>> {
        let status = status.map(StatusValue::from);
        with(|p: &mut P| p.get_reconciliation_statuses(party.as_deref(), status, is_requester))
            .map(|rows| rows.iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn get_reconciliation_status_for_party(
        party: String,
        is_requester: bool,
    ) -> FlowResult<Option<types::ReconciliationStatus>> {
        with(|p: &mut P| p.get_reconciliation_status_for_party(&party, is_requester))
            .map(|row| row.as_ref().map(Into::into))
            .map_err(Into::into)
    }

    fn refresh_reconciliation_statuses() -> FlowResult<()> {
        with(|p: &mut P| p.refresh_reconciliation_statuses()).map_err(Into::into)
    }

    fn stop_reconciliation_for_party(party: String) -> FlowResult<()> {
        with(|p: &mut P| p.stop_reconciliation_for_party(&party)).map_err(Into::into)
    }

    fn is_reconciliation_scheduled_for_party(party: String) -> FlowResult<bool> {
        with(|p: &mut P| p.is_reconciliation_scheduled_for_party(&party)).map_err(Into::into)
    }

    fn is_responding_to_reconciliation_for_party(party: String) -> FlowResult<bool> {
        with(|p: &mut P| p.is_responding_to_reconciliation_for_party(&party)).map_err(Into::into)
    }

    fn shared_with(party: String, ids: Vec<u8>) -> FlowResult<Vec<bool>> {
        let Some(ids) = ledger_sync_vocabulary::id::split_ids(&ids) else {
            return Err(crate::FlowError::InvalidArgument(format!(
                "{} bytes of ids is not a whole number of 32-byte ids",
                ids.len()
            ))
            .into());
        };
        with(|p: &mut P| p.shared_with(&party, &ids)).map_err(Into::into)
    }
}

impl<P: Plugin> metrics::Guest for Exports<P> {
    fn snapshot() -> metrics::MetricsSnapshot {
        with(|p: &mut P| p.metrics()).into()
    }

    fn party_reconciliation_status(party: String) -> Option<types::ReconciliationStatus> {
        with(|p: &mut P| p.party_reconciliation_status(&party)).map(|row| (&row).into())
    }
}

impl<P: Plugin> extension::Guest for Exports<P> {
    fn custom_flows() -> Vec<extension::FlowDescription> {
        with(|p: &mut P| p.custom_flows())
            .into_iter()
            .map(|f| extension::FlowDescription {
                name: f.name,
                arguments: f.arguments,
                summary: f.summary,
            })
            .collect()
    }

    fn run_flow(name: String, arguments: Vec<(String, String)>) -> FlowResult<String> {
        with(|p: &mut P| p.run_flow(&name, &arguments)).map_err(Into::into)
    }

    fn reconciliation_ended(status: types::ReconciliationStatus) {
        // A row the host sends that is not whole ids is not passed on.
        if let Ok(row) = crate::ReconciliationStatus::try_from(status) {
            with(|p: &mut P| p.reconciliation_ended(&row))
        }
    }
}
