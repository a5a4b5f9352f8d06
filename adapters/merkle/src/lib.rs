//! A ledger adapter for the `merkle-v1` format: a transaction is a list of
//! component groups, and its id is the Merkle root over them, as Corda
//! computes a `WireTransaction`'s id (simplified: no nonces, no privacy
//! salt). Written with the SDK only; [`format`](mod@format) is plain Rust, so a test
//! can write transactions of this ledger natively.

pub mod format;

use ledger_sync_plugin_api::adapter::{Decoded, LedgerAdapter};

/// The adapter.
pub struct Merkle;

impl LedgerAdapter for Merkle {
    const NAME: &'static str = "merkle";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const FORMAT: &'static str = "merkle-v1: component groups (inputs, outputs, references, \
                                  commands); id = SHA-256 Merkle root over the groups; \
                                  Ed25519 signatures of every participant over the id";

    fn decode(transaction: &[u8]) -> Result<Decoded, String> {
        let tx = format::decode(transaction)?;
        let mut dependencies = Vec::new();
        for state in tx.inputs.iter().chain(&tx.references) {
            if !dependencies.contains(&state.tx) {
                dependencies.push(state.tx);
            }
        }
        Ok(Decoded {
            id: format::id(transaction)?,
            dependencies,
            required_signers: tx.required_signers(),
            outputs: tx.outputs.into_iter().map(|o| o.participants).collect(),
            signatures: (tx.signatures.into_iter())
                .map(|s| (s.signer, s.signature.to_vec()))
                .collect(),
        })
    }
}

#[cfg(target_arch = "wasm32")]
ledger_sync_plugin_api::export_adapter!(Merkle);
