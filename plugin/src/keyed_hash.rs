//! The keyed hash of a transaction id, which the codec, the ledger graph's
//! index and the roots filter all use: one function, so that they agree.

use crate::id::TxId;
use ledger_sync_vocabulary::rng::mix64;

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
