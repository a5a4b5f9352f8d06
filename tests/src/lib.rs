//! Integration tests only (in `tests/`); their shared kit is
//! `ledger_sync_sim::testkit`, re-exported here.

pub use ledger_sync_sim::testkit::*;
use ledger_sync_vocabulary::TxId;

use ledger_sync_adapter_merkle::format::{self, Output, Signature, StateRef, Transaction};
use ledger_sync_host::verified::SignerKeys;

/// A party's ledger key in the tests: derived from its name, so every
/// test agrees on it.
pub fn ledger_key(party: &str) -> ring::signature::Ed25519KeyPair {
    use sha2::Digest;
    let seed = sha2::Sha256::digest(party.as_bytes());
    ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("a 32-byte seed")
}

/// The network map's keys for `parties`, as a node pins them.
pub fn signer_keys(parties: &[&str]) -> SignerKeys {
    use ring::signature::KeyPair;
    SignerKeys::new(parties.iter().map(|p| {
        let key = ledger_key(p);
        (
            p.to_string(),
            key.public_key().as_ref().try_into().expect("32 bytes"),
        )
    }))
}

/// `bytes` (a merkle-v1 transaction) with signatures over its id by
/// `signers`' test keys appended.
pub fn signed_by(mut bytes: Vec<u8>, signers: &[&str]) -> Vec<u8> {
    let id = merkle_id(&bytes);
    let signatures: Vec<Signature> = (signers.iter())
        .map(|s| Signature {
            signer: s.to_string(),
            signature: ledger_key(s)
                .sign(&id)
                .as_ref()
                .try_into()
                .expect("64 bytes"),
        })
        .collect();
    format::append_signatures(&mut bytes, &signatures);
    bytes
}

/// A merkle-v1 transaction's bytes, unsigned: spending output 0 of `input`
/// (or issuing, with none), with one output for `participants`.
pub fn merkle_unsigned(input: Option<TxId>, participants: &[&str], data: &str) -> Vec<u8> {
    format::encode(&Transaction {
        inputs: input
            .map(|tx| StateRef { tx, index: 0 })
            .into_iter()
            .collect(),
        outputs: vec![Output {
            participants: participants.iter().map(|p| p.to_string()).collect(),
            data: data.as_bytes().to_vec(),
        }],
        references: vec![],
        commands: vec![b"Move".to_vec()],
        signatures: vec![],
    })
}

/// [`merkle_unsigned`], signed by every participant: what an honest
/// ledger holds.
pub fn merkle_transaction(input: Option<TxId>, participants: &[&str], data: &str) -> Vec<u8> {
    signed_by(merkle_unsigned(input, participants, data), participants)
}

/// A merkle-v1 transaction's id.
pub fn merkle_id(bytes: &[u8]) -> TxId {
    format::id(bytes).expect("a merkle-v1 transaction")
}
