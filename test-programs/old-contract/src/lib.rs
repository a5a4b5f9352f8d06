//! A test guest built against `ledger-sync:plugin@0.1.0`, the contract
//! before `start` returned the plugin's host requirements: a host of
//! another contract version must refuse it, naming both versions.

#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    path: "wit",
    world: "reconciliation-plugin",
});

struct OldPlugin;

impl exports::ledger_sync::plugin::handlers::Guest for OldPlugin {
    fn start(_config: String, _restart_reason: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn on_message(_sender: String, _payload: Vec<u8>) {}

    fn on_timer(_id: u64) {}
}

export!(OldPlugin);
