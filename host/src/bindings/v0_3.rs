//! The 0.3.0 contract (`wit/since_v0.3.0`), adapted, so that a plugin built
//! for it still loads. Its imports are served by the latest implementations:
//! each 0.3.0 import delegates to its 0.4.0 twin (the two are the same
//! functions; only the generated Rust types differ; the 0.4.0 twin
//! delegates in turn to the latest), and `types` *is* the latest module
//! (unchanged since). Its exports are called through
//! [`super::Plugin`], which converts their answers to the latest types and
//! answers `describe` for it: 0.3.0 had none (see [`PLUGIN_INFO`]).

use super::v0_4::ledger_sync::plugin as v0_4;
use crate::imports::{
    clock::ClockImport, identity::IdentityImport, logging::LoggingImport,
    messaging::MessagingImport, status_store::StatusStoreImport, timers::TimersImport,
    vault::VaultImport,
};
use ledger_sync_vocabulary::TransactionPage;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.3.0",
    world: "reconciliation-plugin",
    imports: {
        "ledger-sync:plugin/timers.set-timer": trappable,
    },
    with: {
        "ledger-sync:plugin/types@0.3.0": crate::bindings::v0_5::types,
    },
});

pub use exports::ledger_sync::plugin::{flows, handlers, metrics};
use ledger_sync::plugin::{clock, identity, logging, messaging, status_store, timers, vault};

ledger_sync_vocabulary::wit_flow_error_conversions!(exports::ledger_sync::plugin::flows);
ledger_sync_vocabulary::wit_page_conversions!(ledger_sync::plugin::vault);
ledger_sync_vocabulary::wit_metrics_conversions!(exports::ledger_sync::plugin::metrics);

/// Who a 0.3.0 plugin is: the contract said its configuration file is
/// `ledger-sync-0.3.0.conf`, which is what this names.
pub const PLUGIN_INFO: (&str, &str) = ("ledger-sync", "0.3.0");

impl vault::Host for VaultImport {
    fn read_transactions(
        &mut self,
        after: u64,
        limit: u32,
    ) -> Result<vault::TransactionPage, String> {
        v0_4::vault::Host::read_transactions(self, after, limit)
            .map(|page| TransactionPage::from(page).into())
    }

    fn contains_transactions(&mut self, ids: Vec<u8>) -> Result<Vec<bool>, String> {
        v0_4::vault::Host::contains_transactions(self, ids)
    }

    fn find_party(&mut self, name: String) -> Result<Option<u32>, String> {
        v0_4::vault::Host::find_party(self, name)
    }

    fn party_names(&mut self, handles: Vec<u32>) -> Result<Vec<String>, String> {
        v0_4::vault::Host::party_names(self, handles)
    }
}

impl messaging::Host for MessagingImport {
    fn max_message_size(&mut self) -> u32 {
        v0_4::messaging::Host::max_message_size(self)
    }

    fn send(&mut self, to: String, payload: Vec<u8>) -> Result<(), messaging::SendError> {
        use v0_4::messaging::SendError as Latest;
        v0_4::messaging::Host::send(self, to, payload).map_err(|e| match e {
            Latest::MessageTooLarge(max) => messaging::SendError::MessageTooLarge(max),
            Latest::UnknownParty(party) => messaging::SendError::UnknownParty(party),
            Latest::Unavailable(why) => messaging::SendError::Unavailable(why),
        })
    }

    fn is_network_party(&mut self, name: String) -> bool {
        v0_4::messaging::Host::is_network_party(self, name)
    }
}

impl timers::Host for TimersImport {
    fn set_timer(&mut self, id: u64, delay_ms: u64) -> wasmtime::Result<()> {
        v0_4::timers::Host::set_timer(self, id, delay_ms)
    }

    fn cancel_timer(&mut self, id: u64) {
        v0_4::timers::Host::cancel_timer(self, id)
    }
}

impl clock::Host for ClockImport {
    fn now_ms(&mut self) -> u64 {
        v0_4::clock::Host::now_ms(self)
    }
}

impl identity::Host for IdentityImport {
    fn our_name(&mut self) -> String {
        v0_4::identity::Host::our_name(self)
    }
}

impl logging::Host for LoggingImport {
    fn log(&mut self, level: logging::Level, marker: String, message: String) {
        use v0_4::logging::Level as Latest;
        let level = match level {
            logging::Level::Trace => Latest::Trace,
            logging::Level::Debug => Latest::Debug,
            logging::Level::Info => Latest::Info,
            logging::Level::Warn => Latest::Warn,
            logging::Level::Error => Latest::Error,
        };
        v0_4::logging::Host::log(self, level, marker, message)
    }
}

impl status_store::Host for StatusStoreImport {
    fn load_statuses(&mut self) -> Result<Vec<v0_4::types::ReconciliationStatus>, String> {
        v0_4::status_store::Host::load_statuses(self)
    }

    fn save_status(&mut self, row: v0_4::types::ReconciliationStatus) -> Result<(), String> {
        v0_4::status_store::Host::save_status(self, row)
    }

    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        v0_4::status_store::Host::load_scheduled(self)
    }

    fn save_scheduled(&mut self, parties: Vec<String>) -> Result<(), String> {
        v0_4::status_store::Host::save_scheduled(self, parties)
    }
}
