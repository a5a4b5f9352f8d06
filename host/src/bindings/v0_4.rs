//! The 0.4.0 contract (`wit/since_v0.4.0`), adapted, so that a plugin
//! built for it still loads. Its imports are served by the latest
//! implementations: each 0.4.0 import delegates to its 0.5.0 twin (the same
//! functions; only the generated Rust types differ), and `types` *is* the
//! latest module (unchanged since). One answer has no 0.4.0 words: a
//! transaction `recording` holds aside (0.5.0) is `refused` to a 0.4.0
//! plugin, saying it is held aside — it is not recorded, which is what
//! 0.4.0's `refused` promises. Its exports are called through
//! [`super::Plugin`], which converts their answers to the latest types.

use super::v0_5::ledger_sync::plugin as latest;
use crate::imports::{
    clock::ClockImport, identity::IdentityImport, logging::LoggingImport,
    messaging::MessagingImport, reconciliation::ReconciliationImport, recording::RecordingImport,
    recovery_store::RecoveryStoreImport, status_store::StatusStoreImport, timers::TimersImport,
    vault::VaultImport,
};
use ledger_sync_vocabulary::TransactionPage;
use ledger_sync_vocabulary::id::{split_ids, to_hex};
use ledger_sync_vocabulary::recovery as vocabulary;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.4.0",
    world: "reconciliation-plugin",
    imports: {
        "ledger-sync:plugin/timers.set-timer": trappable,
    },
    with: {
        "ledger-sync:plugin/types@0.4.0": crate::bindings::v0_5::types,
    },
});

pub use exports::ledger_sync::plugin::{extension, handlers, metrics};
use ledger_sync::plugin::{
    clock, identity, logging, messaging, reconciliation, recording, recovery_store, status_store,
    timers, vault,
};

ledger_sync_vocabulary::wit_page_conversions!(ledger_sync::plugin::vault);
ledger_sync_vocabulary::wit_metrics_conversions!(exports::ledger_sync::plugin::metrics);
ledger_sync_vocabulary::wit_recovery_conversions!(ledger_sync::plugin::recovery_store);

type Status = crate::bindings::v0_5::types::ReconciliationStatus;
type FlowError = crate::bindings::v0_5::types::FlowError;

impl vault::Host for VaultImport {
    fn read_transactions(
        &mut self,
        after: u64,
        limit: u32,
    ) -> Result<vault::TransactionPage, String> {
        latest::vault::Host::read_transactions(self, after, limit)
            .map(|page| TransactionPage::from(page).into())
    }

    fn read_transaction_bytes(&mut self, ids: Vec<u8>) -> Result<Vec<Option<Vec<u8>>>, String> {
        latest::vault::Host::read_transaction_bytes(self, ids)
    }

    fn contains_transactions(&mut self, ids: Vec<u8>) -> Result<Vec<bool>, String> {
        latest::vault::Host::contains_transactions(self, ids)
    }

    fn find_party(&mut self, name: String) -> Result<Option<u32>, String> {
        latest::vault::Host::find_party(self, name)
    }

    fn party_names(&mut self, handles: Vec<u32>) -> Result<Vec<String>, String> {
        latest::vault::Host::party_names(self, handles)
    }
}

impl reconciliation::Host for ReconciliationImport {
    fn statuses(&mut self) -> Result<Vec<Status>, FlowError> {
        latest::reconciliation::Host::statuses(self)
    }

    fn schedule(&mut self, parties: Vec<String>) -> Result<(), FlowError> {
        latest::reconciliation::Host::schedule(self, parties)
    }

    fn refresh(&mut self) -> Result<(), FlowError> {
        latest::reconciliation::Host::refresh(self)
    }

    fn shared_with(&mut self, party: String, ids: Vec<u8>) -> Result<Vec<bool>, FlowError> {
        latest::reconciliation::Host::shared_with(self, party, ids)
    }
}

impl recording::Host for RecordingImport {
    fn record_verified(
        &mut self,
        transactions: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<recording::Recorded>, String> {
        use latest::recording::Recorded as Latest;
        use recording::Recorded as Old;
        let outcomes = latest::recording::Host::record_verified(self, transactions)?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Latest::New => Old::New(Vec::new()),
                Latest::AlreadyHeld => Old::AlreadyHeld,
                Latest::HeldAside(missing) => {
                    let names: Vec<String> = (split_ids(&missing).unwrap_or_default().iter())
                        .map(to_hex)
                        .collect();
                    Old::Refused(format!(
                        "held aside, not recorded: the vault lacks its dependencies {}; it is \
                         recorded as soon as they are",
                        names.join(", ")
                    ))
                }
                Latest::NotVerified(why) | Latest::Refused(why) => Old::Refused(why),
            })
            .collect())
    }
}

impl recovery_store::Host for RecoveryStoreImport {
    fn load_requests(
        &mut self,
        limit: u32,
    ) -> Result<Vec<recovery_store::RecoveryRequest>, String> {
        let rows = latest::recovery_store::Host::load_requests(self, limit)?;
        rows.into_iter()
            .map(|r| vocabulary::RecoveryRequest::try_from(r).map(|r| (&r).into()))
            .collect()
    }

    fn save_request(&mut self, request: recovery_store::RecoveryRequest) -> Result<(), String> {
        let request = vocabulary::RecoveryRequest::try_from(request)?;
        latest::recovery_store::Host::save_request(self, (&request).into())
    }

    fn append_log(&mut self, entry: recovery_store::RecoveryLogEntry) -> Result<(), String> {
        let entry = vocabulary::RecoveryLogEntry::from(entry);
        latest::recovery_store::Host::append_log(self, (&entry).into())
    }

    fn load_log(
        &mut self,
        request_id: String,
        limit: u32,
    ) -> Result<Vec<recovery_store::RecoveryLogEntry>, String> {
        let rows = latest::recovery_store::Host::load_log(self, request_id, limit)?;
        Ok(rows
            .into_iter()
            .map(|e| (&vocabulary::RecoveryLogEntry::from(e)).into())
            .collect())
    }
}

impl messaging::Host for MessagingImport {
    fn max_message_size(&mut self) -> u32 {
        latest::messaging::Host::max_message_size(self)
    }

    fn send(&mut self, to: String, payload: Vec<u8>) -> Result<(), messaging::SendError> {
        use latest::messaging::SendError as Latest;
        latest::messaging::Host::send(self, to, payload).map_err(|e| match e {
            Latest::MessageTooLarge(max) => messaging::SendError::MessageTooLarge(max),
            Latest::UnknownParty(party) => messaging::SendError::UnknownParty(party),
            Latest::Unavailable(why) => messaging::SendError::Unavailable(why),
        })
    }

    fn is_network_party(&mut self, name: String) -> bool {
        latest::messaging::Host::is_network_party(self, name)
    }
}

impl timers::Host for TimersImport {
    fn set_timer(&mut self, id: u64, delay_ms: u64) -> wasmtime::Result<()> {
        latest::timers::Host::set_timer(self, id, delay_ms)
    }

    fn cancel_timer(&mut self, id: u64) {
        latest::timers::Host::cancel_timer(self, id)
    }
}

impl clock::Host for ClockImport {
    fn now_ms(&mut self) -> u64 {
        latest::clock::Host::now_ms(self)
    }
}

impl identity::Host for IdentityImport {
    fn our_name(&mut self) -> String {
        latest::identity::Host::our_name(self)
    }
}

impl logging::Host for LoggingImport {
    fn log(&mut self, level: logging::Level, marker: String, message: String) {
        use latest::logging::Level as Latest;
        let level = match level {
            logging::Level::Trace => Latest::Trace,
            logging::Level::Debug => Latest::Debug,
            logging::Level::Info => Latest::Info,
            logging::Level::Warn => Latest::Warn,
            logging::Level::Error => Latest::Error,
        };
        latest::logging::Host::log(self, level, marker, message)
    }
}

impl status_store::Host for StatusStoreImport {
    fn load_statuses(&mut self) -> Result<Vec<Status>, String> {
        latest::status_store::Host::load_statuses(self)
    }

    fn save_status(&mut self, row: Status) -> Result<(), String> {
        latest::status_store::Host::save_status(self, row)
    }

    fn load_scheduled(&mut self) -> Result<Vec<String>, String> {
        latest::status_store::Host::load_scheduled(self)
    }

    fn save_scheduled(&mut self, parties: Vec<String>) -> Result<(), String> {
        latest::status_store::Host::save_scheduled(self, parties)
    }
}

/// A 0.4.0 flow description in the latest type.
pub(super) fn flow_description(
    d: extension::FlowDescription,
) -> super::v0_5::extension::FlowDescription {
    super::v0_5::extension::FlowDescription {
        name: d.name,
        arguments: d.arguments,
        summary: d.summary,
    }
}
