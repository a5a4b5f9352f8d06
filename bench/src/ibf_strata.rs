//! The baseline the seed's LedgerSync stands for: Eppstein, Goodrich, Uyeda
//! and Varghese, "What's the Difference? Efficient Set Reconciliation without
//! Prior Context" (SIGCOMM 2011).
//!
//! The requester sends a strata estimator of its set (32 strata, each an
//! invertible Bloom filter of 80 cells with 4 hash functions; an id goes to
//! the stratum numbered by the trailing zeros of its hash). The responder
//! subtracts its own, estimates the difference from the strata that decode,
//! and answers with an IBF of its set of twice the estimate (4 hash
//! functions). The requester subtracts its IBF and peels; if peeling fails it
//! asks again and the responder sends one of twice the size. Cells are 40
//! bytes on the wire: 32 (XOR of ids) + 4 (XOR of keyed id hashes) + 4
//! (count). Run natively: it is a yardstick, not a plugin.

use ledger_sync_plugin::keyed_hash::keyed_hash;
use ledger_sync_vocabulary::TxId;

const CELL_BYTES: u64 = 40;
const STRATA: usize = 32;
const STRATUM_CELLS: usize = 80;
const HASHES: usize = 4;
/// An IBF never has fewer cells than this, however small the estimate.
const MIN_CELLS: usize = 16;
/// A request for a (larger) IBF: a small header.
const REQUEST_BYTES: u64 = 8;

#[derive(Clone, Copy, Default)]
struct Cell {
    id_sum: TxId,
    hash_sum: u32,
    count: i32,
}

/// An invertible Bloom filter whose cells are split into one sub-table per
/// hash function, so an id never lands twice in one cell.
#[derive(Clone)]
struct Ibf {
    cells: Vec<Cell>,
    salt: u64,
}

impl Ibf {
    fn new(cells: usize, salt: u64) -> Self {
        let cells = cells.div_ceil(HASHES) * HASHES;
        Ibf {
            cells: vec![Cell::default(); cells],
            salt,
        }
    }

    fn check(&self, id: &TxId) -> u32 {
        keyed_hash(id, self.salt ^ 0x5eed) as u32
    }

    fn indices(&self, id: &TxId) -> [usize; HASHES] {
        let part = self.cells.len() / HASHES;
        let (a, b) = (keyed_hash(id, self.salt), keyed_hash(id, !self.salt));
        let mut out = [0; HASHES];
        for (j, slot) in out.iter_mut().enumerate() {
            let h = a.wrapping_add((j as u64).wrapping_mul(b | 1));
            *slot = j * part + ((h >> 16) % part as u64) as usize;
        }
        out
    }

    fn toggle(&mut self, id: &TxId, sign: i32) {
        let check = self.check(id);
        for i in self.indices(id) {
            let cell = &mut self.cells[i];
            for (s, b) in cell.id_sum.iter_mut().zip(id) {
                *s ^= b;
            }
            cell.hash_sum ^= check;
            cell.count += sign;
        }
    }

    fn subtract(&mut self, other: &Ibf) {
        for (c, o) in self.cells.iter_mut().zip(&other.cells) {
            for (s, b) in c.id_sum.iter_mut().zip(&o.id_sum) {
                *s ^= b;
            }
            c.hash_sum ^= o.hash_sum;
            c.count -= o.count;
        }
    }

    /// Peels a subtracted IBF: the ids only in the minuend's set, those
    /// only in the subtrahend's, or None if it does not fully decode.
    fn decode(mut self) -> Option<(Vec<TxId>, Vec<TxId>)> {
        let (mut plus, mut minus) = (Vec::new(), Vec::new());
        let mut queue: Vec<usize> = (0..self.cells.len()).collect();
        while let Some(i) = queue.pop() {
            let cell = self.cells[i];
            if !(cell.count == 1 || cell.count == -1) || cell.hash_sum != self.check(&cell.id_sum) {
                continue;
            }
            let id = cell.id_sum;
            if cell.count == 1 {
                plus.push(id);
            } else {
                minus.push(id);
            }
            self.toggle(&id, -cell.count);
            queue.extend(self.indices(&id));
        }
        self.cells
            .iter()
            .all(|c| c.count == 0 && c.hash_sum == 0 && c.id_sum == [0; 32])
            .then_some((plus, minus))
    }
}

struct Strata {
    strata: Vec<Ibf>,
}

impl Strata {
    fn new(ids: &[TxId], salt: u64) -> Self {
        let mut strata: Vec<Ibf> = (0..STRATA)
            .map(|s| Ibf::new(STRATUM_CELLS, salt ^ (s as u64 + 1) << 40))
            .collect();
        for id in ids {
            let level = (keyed_hash(id, salt).trailing_zeros() as usize).min(STRATA - 1);
            strata[level].toggle(id, 1);
        }
        Strata { strata }
    }

    /// The estimated size of the difference between two sets' estimators.
    fn estimate(mut self, other: &Strata) -> u64 {
        let mut count = 0u64;
        for level in (0..STRATA).rev() {
            let mut ibf = std::mem::replace(&mut self.strata[level], Ibf::new(0, 0));
            ibf.subtract(&other.strata[level]);
            match ibf.decode() {
                Some((a, b)) => count += (a.len() + b.len()) as u64,
                None => return (1u64 << (level + 1)) * count.max(1),
            }
        }
        count
    }
}

/// What one reconciliation cost.
pub struct Outcome {
    /// Ids the responder holds and the requester lacks.
    pub missing: Vec<TxId>,
    pub bytes: u64,
    pub round_trips: u32,
}

/// Reconciles: the requester holds `requester`, the responder `responder`.
pub fn reconcile(requester: &[TxId], responder: &[TxId], salt: u64) -> Outcome {
    let strata_bytes = (STRATA * STRATUM_CELLS) as u64 * CELL_BYTES;
    let estimate = Strata::new(responder, salt).estimate(&Strata::new(requester, salt));
    let mut bytes = strata_bytes;
    let mut round_trips = 1;
    let mut cells = (2 * estimate as usize).max(MIN_CELLS);
    loop {
        let ibf_salt = salt.wrapping_add(round_trips as u64);
        let mut theirs = Ibf::new(cells, ibf_salt);
        for id in responder {
            theirs.toggle(id, 1);
        }
        bytes += theirs.cells.len() as u64 * CELL_BYTES;
        let mut ours = Ibf::new(cells, ibf_salt);
        for id in requester {
            ours.toggle(id, 1);
        }
        theirs.subtract(&ours);
        if let Some((missing, _)) = theirs.decode() {
            return Outcome {
                missing,
                bytes,
                round_trips,
            };
        }
        bytes += REQUEST_BYTES;
        round_trips += 1;
        cells *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<u64>) -> Vec<TxId> {
        range
            .map(|i| ledger_sync_sim::ledger::transaction_id(9, i))
            .collect()
    }

    #[test]
    fn finds_exactly_the_missing_ids() {
        for d in [0u64, 1, 10, 100, 1_000] {
            let responder = ids(0..20_000);
            let requester = &responder[..(20_000 - d) as usize];
            let out = reconcile(requester, &responder, 7);
            let mut missing = out.missing;
            missing.sort_unstable();
            let mut want = responder[(20_000 - d) as usize..].to_vec();
            want.sort_unstable();
            assert_eq!(missing, want, "d = {d}");
            assert!(out.bytes >= 102_400);
        }
    }
}
