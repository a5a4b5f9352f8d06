//! What the node gives every plugin (the WIT `platform` world), with the
//! vocabulary's types: the network, timers, the time, its name, its log,
//! the plugin's own status store and, where node.conf grants them, the
//! vault (read only) and the reconciliation plugin's results. Each
//! function is one call to the host; none blocks for long, none re-enters
//! the plugin.

use crate::bindings::ledger_sync::plugin::{
    clock, identity, logging, messaging, reconciliation, recording, recovery_store, status_store,
    timers, vault,
};
pub use crate::{Level, SendError};
use ledger_sync_vocabulary::id::join_ids;
use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest};
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus, TransactionPage, TxId};

/// Up to `limit` transactions recorded after `after` (a page's cursor; 0
/// for the start of the vault). An empty page is the end.
pub fn read_transactions(after: u64, limit: u32) -> Result<TransactionPage, String> {
    vault::read_transactions(after, limit).map(Into::into)
}

/// Whether the vault holds each of `ids`, in order.
pub fn contains_transactions(ids: &[TxId]) -> Result<Vec<bool>, String> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let answer = vault::contains_transactions(&join_ids(ids))?;
    if answer.len() != ids.len() {
        return Err(format!(
            "the vault answered {} of {} look-ups",
            answer.len(),
            ids.len()
        ));
    }
    Ok(answer)
}

/// The vault's handle for the party `name`, if it knows it.
pub fn find_party(name: &str) -> Result<Option<u32>, String> {
    vault::find_party(name)
}

/// The names of the parties with these handles, in order.
pub fn party_names(handles: &[u32]) -> Result<Vec<String>, String> {
    vault::party_names(handles)
}

/// The network's maximum message size, in bytes.
pub fn max_message_size() -> u32 {
    messaging::max_message_size()
}

/// Sends `payload` to `to`'s counterpart of this plugin. Delivery is not
/// promised: repair loss with timers.
pub fn send(to: &str, payload: &[u8]) -> Result<(), SendError> {
    messaging::send(to, payload).map_err(|e| match e {
        messaging::SendError::MessageTooLarge(max) => SendError::MessageTooLarge(max),
        messaging::SendError::UnknownParty(party) => SendError::UnknownParty(party),
        messaging::SendError::Unavailable(why) => SendError::Unavailable(why),
    })
}

/// Whether `name` is a node of the network other than this one.
pub fn is_network_party(name: &str) -> bool {
    messaging::is_network_party(name)
}

/// Fires timer `id` after `delay_ms` (setting it again replaces it). The
/// host caps pending timers; past the cap the instance traps.
pub fn set_timer(id: u64, delay_ms: u64) {
    timers::set_timer(id, delay_ms)
}

/// Forgets timer `id`, if pending.
pub fn cancel_timer(id: u64) {
    timers::cancel_timer(id)
}

/// The node's time, in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    clock::now_ms()
}

/// This node's legal name.
pub fn our_name() -> String {
    identity::our_name()
}

/// Writes a line to the node's log under `marker` (a flow's name, or
/// empty). The host bounds its length.
pub fn log(level: Level, marker: &str, message: &str) {
    let level = match level {
        Level::Trace => logging::Level::Trace,
        Level::Debug => logging::Level::Debug,
        Level::Info => logging::Level::Info,
        Level::Warn => logging::Level::Warn,
        Level::Error => logging::Level::Error,
    };
    logging::log(level, marker, message)
}

/// Every status row the plugin saved. A row the store holds that is not a
/// whole number of ids is an error naming it.
pub fn load_statuses() -> Result<Vec<ReconciliationStatus>, String> {
    status_store::load_statuses()?
        .into_iter()
        .map(ReconciliationStatus::try_from)
        .collect()
}

/// Saves a status row (replacing the row of its party and side).
pub fn save_status(row: &ReconciliationStatus) -> Result<(), String> {
    status_store::save_status(&row.into())
}

/// The saved queue of scheduled parties.
pub fn load_scheduled() -> Result<Vec<String>, String> {
    status_store::load_scheduled()
}

/// Saves the queue of scheduled parties.
pub fn save_scheduled(parties: &[String]) -> Result<(), String> {
    status_store::save_scheduled(parties)
}

/// The plugin's own value under `key`, if it saved one (kept beside its
/// status rows, restored with them).
pub fn load_value(key: &str) -> Result<Option<Vec<u8>>, String> {
    status_store::load_value(key)
}

/// Saves the plugin's own `value` under `key`, or deletes it (`None`).
pub fn save_value(key: &str, value: Option<&[u8]>) -> Result<(), String> {
    status_store::save_value(key, value)
}

/// This node's reconciliation statuses, outgoing and incoming (grant
/// `reconciliation`; without it, `InvalidArgument` naming the grant).
pub fn reconciliation_statuses() -> Result<Vec<ReconciliationStatus>, FlowError> {
    reconciliation::statuses()?
        .into_iter()
        .map(|row| ReconciliationStatus::try_from(row).map_err(FlowError::InvalidArgument))
        .collect()
}

/// ScheduleReconciliationFlow on this node's reconciliation plugin (grant
/// `reconciliation`), with its refusals.
pub fn schedule_reconciliation(parties: &[String]) -> Result<(), FlowError> {
    reconciliation::schedule(parties).map_err(Into::into)
}

/// RefreshReconciliationStatusesFlow on this node's reconciliation plugin
/// (grant `reconciliation`): after recording transactions a counterparty
/// sent, every result is checked again against the vault.
pub fn refresh_reconciliation_statuses() -> Result<(), FlowError> {
    reconciliation::refresh().map_err(Into::into)
}

/// Whether each of `ids` is in this node's reconciliation set for `party`
/// (grant `reconciliation`): what a recovery responder may send `party`.
pub fn shared_with(party: &str, ids: &[TxId]) -> Result<Vec<bool>, FlowError> {
    let answer = reconciliation::shared_with(party, &join_ids(ids))?;
    if answer.len() != ids.len() {
        return Err(FlowError::Storage(format!(
            "the reconciliation plugin answered {} of {} ids",
            answer.len(),
            ids.len()
        )));
    }
    Ok(answer)
}

/// Each of `ids`' bytes in its ledger's own format, if the vault holds it
/// with them (grant `vault`). At most 1,000 ids a call.
pub fn read_transaction_bytes(ids: &[TxId]) -> Result<Vec<Option<Vec<u8>>>, String> {
    let answer = vault::read_transaction_bytes(&join_ids(ids))?;
    if answer.len() != ids.len() {
        return Err(format!(
            "the vault answered {} of {} ids",
            answer.len(),
            ids.len()
        ));
    }
    Ok(answer)
}

/// What became of a transaction given to [`record_verified`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now, with everything it depends on.
    New,
    /// The vault already held it.
    AlreadyHeld,
    /// Verified but held aside until the vault holds these dependencies
    /// (then the host records it): worth recovering.
    HeldAside(Vec<TxId>),
    /// Not verified by this call (the ledger adapter's budget ran out
    /// before it): send it again.
    NotVerified(String),
    /// Not recorded (the bytes do not decode, are another transaction,
    /// conflict with the vault, or the node holds as many aside as it
    /// will): why.
    Refused(String),
}

/// Records `transactions` — (the id asked for, the bytes received) — each
/// verified by the node's ledger adapter first (grant `record`). One
/// answer per transaction; an error is why none was recorded. At most
/// 1,000 a call.
pub fn record_verified(transactions: &[(TxId, Vec<u8>)]) -> Result<Vec<Recorded>, String> {
    let asked: Vec<(Vec<u8>, Vec<u8>)> = transactions
        .iter()
        .map(|(id, bytes)| (id.to_vec(), bytes.clone()))
        .collect();
    let answers = recording::record_verified(&asked)?;
    answers
        .into_iter()
        .map(|answer| match answer {
            recording::Recorded::New => Ok(Recorded::New),
            recording::Recorded::HeldAside(missing) => {
                ledger_sync_vocabulary::id::split_ids(&missing)
                    .map(Recorded::HeldAside)
                    .ok_or_else(|| {
                        "the host named missing dependencies that are not ids".to_string()
                    })
            }
            recording::Recorded::NotVerified(why) => Ok(Recorded::NotVerified(why)),
            recording::Recorded::AlreadyHeld => Ok(Recorded::AlreadyHeld),
            recording::Recorded::Refused(why) => Ok(Recorded::Refused(why)),
        })
        .collect()
}

/// CR_RECOVERY_REQUEST (grant `recovery`): the requests IN_PROGRESS and
/// the newest `limit` others, newest first.
pub fn load_recovery_requests(limit: u32) -> Result<Vec<RecoveryRequest>, String> {
    recovery_store::load_requests(limit)?
        .into_iter()
        .map(RecoveryRequest::try_from)
        .collect()
}

/// Saves a request's row (grant `recovery`).
pub fn save_recovery_request(request: &RecoveryRequest) -> Result<(), String> {
    recovery_store::save_request(&request.into())
}

/// Appends a line to CR_RECOVERY_LOG (grant `recovery`).
pub fn append_recovery_log(entry: &RecoveryLogEntry) -> Result<(), String> {
    recovery_store::append_log(&entry.into())
}

/// A request's newest `limit` log lines, oldest first (grant `recovery`).
pub fn load_recovery_log(request_id: &str, limit: u32) -> Result<Vec<RecoveryLogEntry>, String> {
    Ok(recovery_store::load_log(request_id, limit)?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// 64 random bits from the host's `wasi:random`.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // Every component host provides wasi:random; without it no Rust
    // component runs at all.
    getrandom::fill(&mut bytes).expect("the host provides wasi:random");
    u64::from_le_bytes(bytes)
}
