//! Write a ledger adapter (the WIT `ledger-adapter` world): implement
//! [`LedgerAdapter`] and [`export_adapter!`](crate::export_adapter) it.
//! Build the crate with this SDK's `adapter` feature and without its
//! default `plugin` one.

/// What ledger-sync needs of one transaction, derived from its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The id, computed from the bytes by the ledger's rules.
    pub id: crate::TxId,
    /// The transactions it consumes or references, each once.
    pub dependencies: Vec<crate::TxId>,
    /// Each output state's participants, by legal name.
    pub outputs: Vec<Vec<String>>,
    /// Whose signatures the ledger's rules require, each once.
    pub required_signers: Vec<String>,
    /// The signatures the bytes carry: (signer's legal name, Ed25519
    /// signature over the id). The host checks them, not the adapter.
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// A ledger adapter: a pure function from a ledger's native transaction
/// bytes to [`Decoded`].
pub trait LedgerAdapter: 'static {
    /// The adapter's name: lower-case letters, digits and `-`.
    const NAME: &'static str;
    /// Its version, `X.Y.Z`.
    const VERSION: &'static str;
    /// The ledger format it reads, in one line.
    const FORMAT: &'static str;

    /// Decodes one transaction, or says what is wrong with its bytes.
    fn decode(transaction: &[u8]) -> Result<Decoded, String>;
}

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.5.0",
        world: "ledger-adapter",
        pub_export_macro: true,
        export_macro_name: "__export_ledger_adapter",
        default_bindings_module: "ledger_sync_plugin_api::adapter::bindings",
    });
}

#[doc(hidden)]
pub mod glue {
    use super::LedgerAdapter;
    use super::bindings::exports::ledger_sync::plugin::adapter;
    use std::marker::PhantomData;

    /// The exports of the adapter `A`.
    pub struct Exports<A>(PhantomData<A>);

    impl<A: LedgerAdapter> adapter::Guest for Exports<A> {
        fn describe() -> adapter::AdapterInfo {
            adapter::AdapterInfo {
                name: A::NAME.to_string(),
                version: A::VERSION.to_string(),
                format: A::FORMAT.to_string(),
            }
        }

        fn decode(transaction: Vec<u8>) -> Result<adapter::DecodedTransaction, String> {
            let decoded = A::decode(&transaction)?;
            Ok(adapter::DecodedTransaction {
                id: decoded.id.to_vec(),
                dependencies: ledger_sync_vocabulary::id::join_ids(&decoded.dependencies),
                outputs: decoded.outputs,
                required_signers: decoded.required_signers,
                signatures: (decoded.signatures.into_iter())
                    .map(|(signer, signature)| adapter::Signature { signer, signature })
                    .collect(),
            })
        }
    }
}

/// Makes `$adapter` (a type implementing [`LedgerAdapter`]) the
/// component's export. Use it once, in the `cdylib` crate.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ty) => {
        #[doc(hidden)]
        type __LedgerSyncAdapterExports = $crate::adapter::glue::Exports<$adapter>;
        $crate::adapter::bindings::__export_ledger_adapter!(
            __LedgerSyncAdapterExports with_types_in $crate::adapter::bindings
        );
    };
}
