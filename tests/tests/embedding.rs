//! The README's "Embedding the host" example, run as a test: a node host
//! whose vault and status store are its own in-memory structures
//! reconciles two nodes through the reference host and the real plugin.

#[path = "../../host/examples/own_vault.rs"]
mod own_vault;

#[test]
fn a_host_with_its_own_vault_reconciles_two_nodes() {
    own_vault::main().expect("the example finds exactly what A lost");
}
