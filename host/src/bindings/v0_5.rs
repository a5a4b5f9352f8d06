//! The latest contract, `ledger-sync:plugin@0.5.0` (`wit/since_v0.5.0`,
//! not yet published): generated Rust types for every WIT type, a `Host`
//! trait per imported interface (the host's imports implement these),
//! typed calls into the exports — and the conversions between its types
//! and the shared [`ledger_sync_vocabulary`], so the rest of the host
//! speaks the vocabulary.

wasmtime::component::bindgen!({
    path: "../wit/since_v0.5.0",
    world: "reconciliation-plugin",
    imports: {
        // A plugin that passes the host's cap on pending timers is trapped.
        "ledger-sync:plugin/timers.set-timer": trappable,
    },
    additional_derives: [PartialEq],
});

pub use exports::ledger_sync::plugin::{extension, flows, handlers, metrics};
pub use ledger_sync::plugin::types;

ledger_sync_vocabulary::wit_conversions!(
    ledger_sync::plugin::types,
    ledger_sync::plugin::types,
    ledger_sync::plugin::vault,
    exports::ledger_sync::plugin::metrics
);

ledger_sync_vocabulary::wit_recovery_conversions!(ledger_sync::plugin::recovery_store);
