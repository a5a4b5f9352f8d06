//! A test guest for the `ledger-adapter` world that misbehaves on command,
//! so the integration tests can check that a broken or hostile adapter
//! gets a clear error and never takes the host down. The transaction's
//! bytes are the command:
//! - `spin`: loops forever (the CPU deadline must stop it);
//! - `grow`: allocates until the memory cap stops it;
//! - `panic`: panics;
//! - `stranger`: answers a participant that is not a legal name;
//! - anything else: a well-formed answer (id = the bytes, padded).

#![cfg(target_arch = "wasm32")]

use ledger_sync_plugin_api::adapter::{Decoded, LedgerAdapter};

struct Hostile;

impl LedgerAdapter for Hostile {
    const NAME: &'static str = "hostile";
    const VERSION: &'static str = "0.1.0";
    const FORMAT: &'static str = "commands";

    fn decode(transaction: &[u8]) -> Result<Decoded, String> {
        let mut id = [0u8; 32];
        let n = transaction.len().min(32);
        id[..n].copy_from_slice(&transaction[..n]);
        let ok = Decoded {
            id,
            dependencies: Vec::new(),
            outputs: vec![vec!["O=PartyA, L=London, C=GB".to_string()]],
            required_signers: Vec::new(),
            signatures: Vec::new(),
        };
        match transaction {
            b"spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            b"grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            b"panic" => panic!("the hostile adapter panics on purpose"),
            b"stranger" => Ok(Decoded {
                outputs: vec![vec!["PartyA".to_string()]],
                ..ok
            }),
            _ => Ok(ok),
        }
    }
}

// `short-id` cannot be said with the SDK's 32-byte `TxId`: the SDK keeps an
// adapter from answering it. The host's check of the id's length is unit
// tested on the answer itself.
ledger_sync_plugin_api::export_adapter!(Hostile);
