//! The keyed hash of a transaction id, which the codec, the ledger graph's
//! index and the roots filter all use: one function, so that they agree.

use crate::id::TxId;
use ledger_sync_vocabulary::rng::mix64;

/// A keyed 64-bit hash of a name (a party's legal name): where a value
/// about that party is kept, and what binds a cursor to its requester.
pub fn keyed_name_hash(name: &str, key: u64) -> u64 {
    let mut h = key ^ 0x243f_6a88_85a3_08d3;
    for chunk in name.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix64(h ^ u64::from_le_bytes(word));
    }
    mix64(h ^ name.len() as u64)
}

/// A keyed 64-bit hash of an id. The key (the session's salt, chosen by the
/// requester) keeps a hostile peer from precomputing colliding ids.
#[inline]
pub fn keyed_hash(id: &TxId, salt: u64) -> u64 {
    let mut h = salt ^ 0x6a09_e667_f3bc_c908;
    for chunk in id.chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        h = mix64(h ^ word);
    }
    h
}
