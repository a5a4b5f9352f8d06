//! A responder's cursor: where its set for a requester stood when it last
//! answered it, as an opaque token the requester hands back (protocol 6),
//! so that its next roots filter names only the roots recorded since.
//!
//! The position (how many transactions the responder's ledger graph held)
//! is sealed with a 64-bit block cipher under a key drawn when the plugin
//! first starts and kept beside the status rows (`cursor-key`), with a tag
//! bound to the requester: the requester learns nothing
//! of the responder's vault from it (neither its size nor how fast it
//! grows), and a token from another node, for another requester or made
//! up fails to open — the responder then sends all its roots, as to a
//! first reconciliation. A token that opens to a wrong position (the
//! responder's vault was restored since) costs bytes, never correctness:
//! the coded-symbol stream reconciles the whole sets whatever the filter
//! named.

use crate::host::Host;
use crate::keyed_hash::keyed_name_hash;
use ledger_sync_vocabulary::rng::mix64;

/// Where the key is kept (`status-store.save-value`).
const VALUE_KEY: &str = "cursor-key";

/// Rounds of the Feistel network (four make a pseudo-random permutation).
const ROUNDS: u64 = 4;

/// The key cursors are sealed under.
#[derive(Clone, Copy, Debug)]
pub(super) struct CursorKey(u64);

impl CursorKey {
    /// The node's key: the one kept beside the status rows, or a new one,
    /// kept there if the store takes it (else cursors given before a
    /// restart no longer open after it, and cost a full roots filter).
    pub(super) fn kept_or_new(host: &mut impl Host) -> CursorKey {
        let kept = host.load_value(VALUE_KEY).ok().flatten();
        if let Some(key) = kept.and_then(|bytes| <[u8; 8]>::try_from(bytes).ok()) {
            return CursorKey(u64::from_le_bytes(key));
        }
        let key = CursorKey(host.random_u64());
        let _ = host.save_value(VALUE_KEY, Some(&key.0.to_le_bytes()));
        key
    }

    /// 32 bits that bind a token to `requester`.
    fn tag(&self, requester: &str) -> u32 {
        keyed_name_hash(requester, self.0) as u32
    }

    fn round(&self, round: u64, half: u32) -> u32 {
        (mix64(self.0 ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ half as u64) >> 32) as u32
    }

    /// The token for `position`, for `requester`.
    pub(super) fn seal(&self, requester: &str, position: u32) -> u64 {
        let (mut left, mut right) = (position, self.tag(requester));
        for round in 0..ROUNDS {
            (left, right) = (right, left ^ self.round(round, right));
        }
        (left as u64) << 32 | right as u64
    }

    /// The position a token from `requester` was sealed with, if it was
    /// sealed by this key for this requester.
    pub(super) fn open(&self, requester: &str, token: u64) -> Option<u32> {
        let (mut left, mut right) = ((token >> 32) as u32, token as u32);
        for round in (0..ROUNDS).rev() {
            (left, right) = (right ^ self.round(round, left), left);
        }
        (right == self.tag(requester)).then_some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_only_under_its_key_for_its_requester() {
        let key = CursorKey(42);
        let token = key.seal("O=PartyA, L=London, C=GB", 1_000_000);
        assert_eq!(key.open("O=PartyA, L=London, C=GB", token), Some(1_000_000));
        assert_eq!(key.open("O=PartyC, L=Paris, C=FR", token), None);
        assert_eq!(CursorKey(43).open("O=PartyA, L=London, C=GB", token), None);
        assert_eq!(key.open("O=PartyA, L=London, C=GB", token ^ 1), None);
        // Positions close together give unrelated tokens.
        let next = key.seal("O=PartyA, L=London, C=GB", 1_000_001);
        assert!((token ^ next).count_ones() > 8, "{token:x} {next:x}");
    }
}
