//! The responder's roots filter: which of the requester's own transactions
//! are in the responder's set although they do not involve the responder.
//!
//! On a multi-party ledger the responder's set for us holds transactions
//! that involve us and reached it only as back-chains of its dealings with
//! others. We hold them (unless we lost them) but cannot tell which they
//! are, so without help they are decoded as differences and then dropped by
//! the vault re-check — bytes spent on nothing. The responder sends those
//! roots as a Golomb–Rice coded set: each id is hashed (keyed by the
//! session's salt) to a position in `[0, count · 2^bits)`, the positions
//! are sorted, and each gap is written as its quotient by `2^bits` in unary
//! and its remainder in `bits` bits — about `bits + 1.5` bits per root. A
//! candidate whose position is among them passes; one that is not a root
//! passes with probability about `2^-bits`, which the requester sets from
//! how many candidates it will test (see [`bits_for`]).
//!
//! A false positive only adds to the requester's set a transaction (and its
//! back-chain) the responder may not hold: it costs symbols, never an id.
//! A root left out (the filter is cut to fit one message) only leaves a
//! difference to decode. What the requester finds is exact either way.

use crate::id::TxId;
use crate::keyed_hash::keyed_hash;
use serde::{Deserialize, Serialize};

/// The widest remainder a filter may use.
pub const MAX_BITS: u8 = 40;

/// Keeps filter positions independent of the symbol mapping under the same
/// salt.
const FILTER_KEY: u64 = 0x7f4a_7c15_9e37_79b9;

/// A coded set of root ids, as it travels in [`crate::protocol::Body::Roots`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFilter {
    /// Roots coded.
    pub count: u32,
    /// Remainder bits per root.
    pub bits: u8,
    /// The coded gaps.
    pub data: Vec<u8>,
}

/// The remainder width that keeps the expected false positives among
/// `candidates` tests under 1/32.
pub fn bits_for(candidates: u64) -> u8 {
    let log2 = 64 - candidates.leading_zeros() as u8;
    (log2 + 5).clamp(1, MAX_BITS)
}

/// The most roots a filter of `bits` remainder bits may code: twice the
/// most candidates a requester asking for that width can have, so what a
/// filter costs the requester to decode follows its own vault, never the
/// responder's say. Roots past it are left out (they only leave
/// differences to decode).
pub fn max_roots(bits: u8) -> u32 {
    1u32 << bits.clamp(5, 30).saturating_sub(4)
}

fn position(id: &TxId, salt: u64, range: u64) -> u64 {
    ((keyed_hash(id, salt ^ FILTER_KEY) as u128 * range as u128) >> 64) as u64
}

fn range_of(count: u32, bits: u8) -> Option<u64> {
    u64::from(count).checked_mul(1u64.checked_shl(bits as u32)?)
}

impl RootFilter {
    /// Codes `roots` with `bits` remainder bits, keeping as many as fit in
    /// `max_bytes` (the first ones given).
    pub fn build(roots: &[TxId], salt: u64, bits: u8, max_bytes: usize) -> RootFilter {
        let bits = bits.clamp(1, MAX_BITS);
        // Each root takes `bits` plus about 1.5 bits of unary quotient; shrink
        // until the coded set fits.
        let mut count = roots
            .len()
            .min(max_roots(bits) as usize)
            .min(max_bytes.saturating_mul(8) / (bits as usize + 2))
            .min(u32::MAX as usize / 2);
        loop {
            let filter = Self::code(&roots[..count], salt, bits);
            if filter.data.len() <= max_bytes || count == 0 {
                return filter;
            }
            count = count * 7 / 8;
        }
    }

    fn code(roots: &[TxId], salt: u64, bits: u8) -> RootFilter {
        let count = roots.len() as u32;
        let range = range_of(count, bits).expect("count and bits within range");
        let mut positions: Vec<u64> = roots.iter().map(|id| position(id, salt, range)).collect();
        positions.sort_unstable();
        let mut out = BitWriter::default();
        let mut last = 0;
        for p in positions {
            let gap = p - last;
            last = p;
            for _ in 0..gap >> bits {
                out.push(true);
            }
            out.push(false);
            for b in (0..bits).rev() {
                out.push(gap >> b & 1 == 1);
            }
        }
        RootFilter {
            count,
            bits,
            data: out.finish(),
        }
    }

    /// Decodes a filter from a peer, which may be anything: the work is
    /// bounded by its own length.
    pub fn matcher(&self, salt: u64) -> Result<RootMatcher, String> {
        if !(1..=MAX_BITS).contains(&self.bits) {
            return Err(format!(
                "a roots filter of {} remainder bits (1 to {MAX_BITS} are accepted)",
                self.bits
            ));
        }
        if self.count > max_roots(self.bits) {
            return Err(format!(
                "a roots filter of {} roots when one of {} bits codes at most {}",
                self.count,
                self.bits,
                max_roots(self.bits)
            ));
        }
        let available = self.data.len() as u64 * 8;
        if u64::from(self.count) * (self.bits as u64 + 1) > available {
            return Err(format!(
                "a roots filter claiming {} roots of {} bits in only {} bytes",
                self.count,
                self.bits,
                self.data.len()
            ));
        }
        let range = range_of(self.count, self.bits)
            .ok_or_else(|| format!("a roots filter of {} roots is too large", self.count))?;
        let mut reader = BitReader {
            data: &self.data,
            at: 0,
        };
        let mut positions = Vec::with_capacity(self.count as usize);
        let mut last = 0u64;
        for _ in 0..self.count {
            let mut quotient = 0u64;
            loop {
                match reader.next() {
                    Some(true) => quotient += 1,
                    Some(false) => break,
                    None => return Err("a roots filter that ends inside a root".to_string()),
                }
            }
            let mut remainder = 0u64;
            for _ in 0..self.bits {
                let bit = reader
                    .next()
                    .ok_or("a roots filter that ends inside a root")?;
                remainder = remainder << 1 | bit as u64;
            }
            last = quotient
                .checked_mul(1 << self.bits)
                .and_then(|q| last.checked_add(q | remainder))
                .filter(|&p| p < range)
                .ok_or("a roots filter with a position past its range")?;
            positions.push(last);
        }
        Ok(RootMatcher {
            positions,
            range,
            salt,
        })
    }
}

/// A decoded filter, for testing candidates.
#[derive(Debug)]
pub struct RootMatcher {
    positions: Vec<u64>,
    range: u64,
    salt: u64,
}

impl RootMatcher {
    /// Whether `id` may be one of the roots (never false for a root).
    pub fn contains(&self, id: &TxId) -> bool {
        !self.positions.is_empty()
            && self
                .positions
                .binary_search(&position(id, self.salt, self.range))
                .is_ok()
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    fn push(&mut self, bit: bool) {
        if self.bits.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit {
            *self.bytes.last_mut().expect("pushed above") |= 0x80 >> (self.bits % 8);
        }
        self.bits += 1;
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    at: usize,
}

impl BitReader<'_> {
    fn next(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.at / 8)?;
        let bit = byte & (0x80 >> (self.at % 8)) != 0;
        self.at += 1;
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniformly random-looking ids, as real ones (hashes) are.
    fn ids(from: u64, n: u64) -> Vec<TxId> {
        let mut rng = ledger_sync_vocabulary::rng::SplitMix64::new(from);
        (0..n)
            .map(|_| {
                let mut id = [0u8; 32];
                for chunk in id.chunks_exact_mut(8) {
                    chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
                }
                id
            })
            .collect()
    }

    #[test]
    fn every_root_passes_and_few_others_do() {
        let roots = ids(0, 2_000);
        let others = ids(1_000_000, 100_000);
        let bits = bits_for(others.len() as u64);
        assert_eq!(bits, 22);
        let filter = RootFilter::build(&roots, 9, bits, usize::MAX);
        assert_eq!(filter.count, 2_000);
        // About bits + 1.5 bits per root.
        let per_root = filter.data.len() as f64 * 8.0 / 2_000.0;
        assert!((22.5..25.0).contains(&per_root), "{per_root}");
        let matcher = filter.matcher(9).unwrap();
        assert!(roots.iter().all(|id| matcher.contains(id)));
        let false_positives = others.iter().filter(|id| matcher.contains(id)).count();
        assert!(false_positives <= 2, "{false_positives}");
        // Another salt places the roots elsewhere.
        let other_salt = filter.matcher(10).unwrap();
        assert!(roots.iter().filter(|id| other_salt.contains(id)).count() < 5);
    }

    #[test]
    fn a_filter_is_cut_to_fit_its_message() {
        let roots = ids(0, 10_000);
        let filter = RootFilter::build(&roots, 1, 20, 4_000);
        assert!(filter.data.len() <= 4_000);
        assert!(
            filter.count > 1_000 && filter.count < 10_000,
            "{}",
            filter.count
        );
        let matcher = filter.matcher(1).unwrap();
        let kept = &roots[..filter.count as usize];
        assert!(kept.iter().all(|id| matcher.contains(id)));
        assert!(RootFilter::build(&roots, 1, 20, 0).count == 0);
    }

    #[test]
    fn hostile_filters_are_refused_not_trusted() {
        let empty = RootFilter::default();
        assert!(empty.matcher(0).is_err(), "0 bits");
        let filter = RootFilter::build(&ids(0, 100), 3, 12, usize::MAX);
        let mut claims_more = filter.clone();
        claims_more.count = 100_000;
        assert!(claims_more.matcher(3).unwrap_err().contains("100000 roots"));
        let mut cut = filter.clone();
        // Long enough for 50 roots of 13 bits at the shortest, too short
        // for the 50 coded: the data ends inside a root.
        cut.count = 50;
        cut.data.truncate(50 * 13 / 8 + 1);
        assert!(cut.matcher(3).unwrap_err().contains("ends inside a root"));
        let mut wide = filter.clone();
        wide.bits = MAX_BITS + 1;
        assert!(wide.matcher(3).unwrap_err().contains("1 to 40"));
        // All ones: every quotient runs to the end of the data.
        let ones = RootFilter {
            count: 2,
            bits: 8,
            data: vec![0xff; 64],
        };
        assert!(ones.matcher(3).is_err());
        assert!(
            RootFilter::build(&[], 3, 12, 100)
                .matcher(3)
                .unwrap()
                .is_empty()
        );
    }
}
