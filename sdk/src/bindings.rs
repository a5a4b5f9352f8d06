//! The generated bindings of the `reconciliation-plugin` world (0.5.0),
//! once, for every plugin; with the conversions to the vocabulary. A plugin
//! author uses [`crate::platform`] and [`crate::Plugin`] instead.

wit_bindgen::generate!({
    path: "../wit/since_v0.5.0",
    world: "reconciliation-plugin",
    pub_export_macro: true,
    export_macro_name: "__export_reconciliation_plugin",
    default_bindings_module: "ledger_sync_plugin_api::bindings",
});

ledger_sync_vocabulary::wit_conversions!(
    ledger_sync::plugin::types,
    ledger_sync::plugin::types,
    ledger_sync::plugin::vault,
    exports::ledger_sync::plugin::metrics
);

ledger_sync_vocabulary::wit_recovery_conversions!(ledger_sync::plugin::recovery_store);
