//! A responder's cursor: where its set for a requester stood when it last
//! answered it, as an opaque token the requester hands back (protocol 6),
//! so that its next roots filter names only the roots recorded since.
//!
//! The position (how many transactions the responder's ledger graph held)
//! is sealed with a 64-bit block cipher under a key drawn when the plugin
//! starts, with a tag bound to the requester: the requester learns nothing
//! of the responder's vault from it (neither its size nor how fast it
//! grows), and a token from before a restart, for another requester or
//! made up fails to open — the responder then sends all its roots, as to a
//! first reconciliation. A token that opens to a wrong position (the
//! responder's vault was restored since) costs bytes, never correctness:
//! the coded-symbol stream reconciles the whole sets whatever the filter
//! named.

use ledger_sync_vocabulary::rng::mix64;

/// Rounds of the Feistel network (four make a pseudo-random permutation).
const ROUNDS: u64 = 4;

/// The key cursors are sealed under.
#[derive(Clone, Copy, Debug)]
pub(super) struct CursorKey(u64);

impl CursorKey {
    pub(super) fn new(key: u64) -> Self {
        CursorKey(key)
    }

    /// 32 bits that bind a token to `requester`.
    fn tag(&self, requester: &str) -> u32 {
        let mut h = self.0 ^ 0x243f_6a88_85a3_08d3;
        for chunk in requester.as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = mix64(h ^ u64::from_le_bytes(word));
        }
        mix64(h ^ requester.len() as u64) as u32
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
        let key = CursorKey::new(42);
        let token = key.seal("O=PartyA, L=London, C=GB", 1_000_000);
        assert_eq!(key.open("O=PartyA, L=London, C=GB", token), Some(1_000_000));
        assert_eq!(key.open("O=PartyC, L=Paris, C=FR", token), None);
        assert_eq!(
            CursorKey::new(43).open("O=PartyA, L=London, C=GB", token),
            None
        );
        assert_eq!(key.open("O=PartyA, L=London, C=GB", token ^ 1), None);
        // Positions close together give unrelated tokens.
        let next = key.seal("O=PartyA, L=London, C=GB", 1_000_001);
        assert!((token ^ next).count_ones() > 8, "{token:x} {next:x}");
    }
}
