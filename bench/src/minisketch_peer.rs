//! The `minisketch` peer: the Erlay design (Naumenko et al., CCS 2019) on
//! PinSketch (Dodis et al., the BCH-syndrome sketch that Wuille's minisketch
//! library implements), written here over GF(2^64) because the
//! `minisketch-rs` bindings need libclang and a 2019 bindgen at build time.
//!
//! Protocol, as the bench runs it:
//! 1. requester → responder: its set size and a salt (16 B).
//! 2. responder → requester: its own set size and the sketch geometry it
//!    wants — `buckets` × `capacity`, from the estimate |size difference| (the
//!    Erlay estimate with q = 0, exact for a one-sided loss) (8 B).
//! 3. requester → responder: one PinSketch per bucket of its 64-bit short ids
//!    (a keyed hash of the 32-byte id), `capacity` × 8 B each. A bucket is
//!    the short id modulo `buckets`, so a sketch's decoding cost stays
//!    quadratic in `capacity`, not in the whole difference.
//! 4. responder: adds its own short ids, decodes each bucket, and sends the
//!    full 32-byte ids it holds that the requester lacks. A bucket that does
//!    not decode (more differences than its capacity) is asked for again at
//!    twice the capacity — another round trip for that bucket only.
//!
//! Encoding costs one field multiplication per item per unit of capacity;
//! decoding a bucket of capacity c costs O(64·c²) multiplications (Berlekamp
//! trace root finding).

use crate::ibf_strata::Outcome;
use hashbrown::HashMap;
use ledger_sync_vocabulary::TxId;
use ledger_sync_vocabulary::rng::mix64;

/// Differences per bucket the geometry aims for: decoding is quadratic in a
/// bucket's capacity, bytes are linear in it.
const TARGET_PER_BUCKET: f64 = 24.0;

/// Arithmetic in GF(2^64) = GF(2)\[x\] / (x^64 + x^4 + x^3 + x + 1).
pub mod gf {
    /// Carry-less 64 × 64 → 128-bit product (high, low).
    #[inline]
    fn clmul(a: u64, b: u64) -> (u64, u64) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("pclmulqdq") {
                // SAFETY: the CPU supports the instruction, checked above.
                return unsafe { clmul_x86(a, b) };
            }
        }
        let (mut hi, mut lo) = (0u64, 0u64);
        for i in 0..64 {
            if (b >> i) & 1 == 1 {
                lo ^= a << i;
                if i > 0 {
                    hi ^= a >> (64 - i);
                }
            }
        }
        (hi, lo)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "pclmulqdq")]
    unsafe fn clmul_x86(a: u64, b: u64) -> (u64, u64) {
        use std::arch::x86_64::*;
        let product =
            _mm_clmulepi64_si128(_mm_set_epi64x(0, a as i64), _mm_set_epi64x(0, b as i64), 0);
        (
            _mm_cvtsi128_si64(_mm_unpackhi_epi64(product, product)) as u64,
            _mm_cvtsi128_si64(product) as u64,
        )
    }

    /// Reduces hi·x^64 + lo: x^64 = x^4 + x^3 + x + 1.
    #[inline]
    fn reduce(hi: u64, lo: u64) -> u64 {
        let fold = |h: u64| h ^ (h << 1) ^ (h << 3) ^ (h << 4);
        let overflow = (hi >> 63) ^ (hi >> 61) ^ (hi >> 60);
        lo ^ fold(hi) ^ fold(overflow)
    }

    #[inline]
    pub fn mul(a: u64, b: u64) -> u64 {
        let (hi, lo) = clmul(a, b);
        reduce(hi, lo)
    }

    #[inline]
    pub fn square(a: u64) -> u64 {
        mul(a, a)
    }

    /// a^(2^64 − 2) = a^-1 for a ≠ 0.
    pub fn inverse(a: u64) -> u64 {
        // 2^64 − 2 = 0b111…110: square-and-multiply over 63 ones then a 0.
        let mut result = 1u64;
        let mut power = square(a);
        for _ in 1..64 {
            result = mul(result, power);
            power = square(power);
        }
        result
    }
}

/// Polynomials over GF(2^64), coefficients from the constant term up.
mod poly {
    use super::gf;

    pub fn trim(p: &mut Vec<u64>) {
        while p.last() == Some(&0) {
            p.pop();
        }
    }

    /// `a` mod `m` (`m` monic, trimmed).
    pub fn rem(mut a: Vec<u64>, m: &[u64]) -> Vec<u64> {
        trim(&mut a);
        let dm = m.len() - 1;
        while a.len() > dm {
            let lead = *a.last().expect("non-empty");
            let shift = a.len() - 1 - dm;
            for (i, &c) in m.iter().enumerate() {
                a[shift + i] ^= gf::mul(lead, c);
            }
            trim(&mut a);
        }
        a
    }

    /// The monic version of `p`.
    pub fn monic(mut p: Vec<u64>) -> Vec<u64> {
        trim(&mut p);
        if let Some(&lead) = p.last()
            && lead != 1
        {
            let inv = gf::inverse(lead);
            for c in p.iter_mut() {
                *c = gf::mul(*c, inv);
            }
        }
        p
    }

    /// gcd of `a` and `b`, monic.
    pub fn gcd(a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
        let (mut a, mut b) = (monic(a), monic(b));
        while !b.is_empty() {
            let r = monic(rem(a, &b));
            a = b;
            b = r;
        }
        a
    }

    /// `a` / `m` for `m` monic dividing `a` exactly.
    pub fn div_exact(a: &[u64], m: &[u64]) -> Vec<u64> {
        let mut a = a.to_vec();
        trim(&mut a);
        let dm = m.len() - 1;
        let mut q = vec![0u64; a.len().saturating_sub(dm)];
        while a.len() > dm {
            let lead = *a.last().expect("non-empty");
            let shift = a.len() - 1 - dm;
            q[shift] = lead;
            for (i, &c) in m.iter().enumerate() {
                a[shift + i] ^= gf::mul(lead, c);
            }
            trim(&mut a);
        }
        q
    }

    /// `a`² mod `m`: in characteristic 2 squaring is coefficient-wise.
    pub fn square_mod(a: &[u64], m: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; a.len() * 2];
        for (i, &c) in a.iter().enumerate() {
            out[2 * i] = gf::square(c);
        }
        rem(out, m)
    }
}

/// A PinSketch of capacity `c`: the odd power sums s1, s3, …, s(2c−1) of
/// its elements (nonzero field elements). Adding is XOR, so the sum of two
/// sketches is the sketch of the symmetric difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sketch {
    syndromes: Vec<u64>,
}

impl Sketch {
    pub fn new(capacity: usize) -> Self {
        Sketch {
            syndromes: vec![0; capacity],
        }
    }

    pub fn capacity(&self) -> usize {
        self.syndromes.len()
    }

    /// Bytes on the wire.
    pub fn wire_len(&self) -> u64 {
        8 * self.syndromes.len() as u64
    }

    /// Toggles `x` (nonzero) in the sketch.
    pub fn add(&mut self, x: u64) {
        let x2 = gf::square(x);
        let mut power = x;
        for s in self.syndromes.iter_mut() {
            *s ^= power;
            power = gf::mul(power, x2);
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (a, b) in self.syndromes.iter_mut().zip(&other.syndromes) {
            *a ^= b;
        }
    }

    /// The elements of the sketched set, if there are at most `capacity`
    /// of them; `None` when there are more (detected with near certainty).
    pub fn decode(&self, rng: &mut u64) -> Option<Vec<u64>> {
        let c = self.capacity();
        // All power sums S1..S2c: S(2k) = S(k)².
        let mut s = vec![0u64; 2 * c + 1];
        for k in 0..c {
            s[2 * k + 1] = self.syndromes[k];
        }
        for k in 1..=c {
            s[2 * k] = gf::square(s[k]);
        }
        // Berlekamp–Massey: the shortest recurrence the sums obey.
        let mut conn = vec![1u64];
        let mut prev = vec![1u64];
        // The inverse of the discrepancy when `prev` was last replaced.
        let (mut len, mut gap, mut prev_inverse) = (0usize, 1usize, 1u64);
        for n in 0..2 * c {
            let mut discrepancy = s[n + 1];
            for i in 1..=len.min(conn.len() - 1) {
                discrepancy ^= gf::mul(conn[i], s[n + 1 - i]);
            }
            if discrepancy == 0 {
                gap += 1;
                continue;
            }
            let factor = gf::mul(discrepancy, prev_inverse);
            let before = conn.clone();
            if conn.len() < prev.len() + gap {
                conn.resize(prev.len() + gap, 0);
            }
            for (i, &b) in prev.iter().enumerate() {
                conn[i + gap] ^= gf::mul(factor, b);
            }
            if 2 * len <= n {
                len = n + 1 - len;
                prev = before;
                prev_inverse = gf::inverse(discrepancy);
                gap = 1;
            } else {
                gap += 1;
            }
        }
        if len > c {
            return None;
        }
        conn.resize(len + 1, 0);
        if conn[len] == 0 {
            return None; // a root at zero: not a set of nonzero elements
        }
        // The elements are the roots of the reversed connection polynomial.
        let locator = poly::monic(conn.into_iter().rev().collect());
        if locator.len() == 1 {
            return Some(Vec::new());
        }
        // It must split into distinct linear factors: z^(2^64) ≡ z.
        let mut z = vec![0u64, 1];
        for _ in 0..64 {
            z = poly::square_mod(&z, &locator);
        }
        if z != poly::rem(vec![0, 1], &locator) {
            return None;
        }
        let mut roots = Vec::with_capacity(len);
        split(locator, rng, &mut roots);
        (roots.len() == len).then_some(roots)
    }
}

/// Berlekamp's trace algorithm: splits `f` (monic, a product of distinct
/// linear factors) by gcd with Tr(βz) for random β.
fn split(f: Vec<u64>, rng: &mut u64, roots: &mut Vec<u64>) {
    match f.len() {
        0 | 1 => return,
        2 => {
            roots.push(f[0]);
            return;
        }
        _ => {}
    }
    for _ in 0..256 {
        *rng = mix64(rng.wrapping_add(0x9e37_79b9_7f4a_7c15));
        let beta = *rng | 1;
        let mut term = poly::rem(vec![0, beta], &f);
        let mut trace = term.clone();
        for _ in 1..64 {
            term = poly::square_mod(&term, &f);
            if trace.len() < term.len() {
                trace.resize(term.len(), 0);
            }
            for (a, b) in trace.iter_mut().zip(&term) {
                *a ^= b;
            }
        }
        poly::trim(&mut trace);
        let g = poly::gcd(f.clone(), trace);
        if g.len() > 1 && g.len() < f.len() {
            let h = poly::div_exact(&f, &g);
            split(g, rng, roots);
            split(h, rng, roots);
            return;
        }
    }
}

fn short_id(id: &TxId, salt: u64) -> u64 {
    let h = ledger_sync_plugin::keyed_hash::keyed_hash(id, salt);
    if h == 0 { 1 } else { h }
}

/// Sketches of capacity `capacity` of the short ids that fall in each of
/// `wanted`, one of `buckets` buckets (a short id's bucket is its value
/// modulo `buckets`).
fn sketch_buckets(
    shorts: &[u64],
    buckets: u64,
    capacity: usize,
    wanted: &[u64],
) -> HashMap<u64, Sketch> {
    let mut sketches: HashMap<u64, Sketch> =
        wanted.iter().map(|&b| (b, Sketch::new(capacity))).collect();
    for &short in shorts {
        if let Some(s) = sketches.get_mut(&(short % buckets)) {
            s.add(short);
        }
    }
    sketches
}

/// Reconciles `requester` against `responder` as described in the module
/// documentation; the outcome's `missing` are the full ids the requester
/// lacks.
pub fn reconcile(requester: &[TxId], responder: &[TxId], seed: u64) -> Outcome {
    let salt = mix64(seed ^ 0x6d69_6e69_736b_6574);
    // Round trip 1: sizes and salt, then the geometry; round trip 2: the
    // sketches, then the ids.
    let mut bytes = 16u64;
    let mut round_trips = 2;
    let ours: Vec<u64> = requester.iter().map(|id| short_id(id, salt)).collect();
    let theirs: Vec<u64> = responder.iter().map(|id| short_id(id, salt)).collect();
    // The responder's geometry from the estimate.
    let estimate = requester.len().abs_diff(responder.len()) as f64;
    let buckets = (estimate / TARGET_PER_BUCKET).ceil().max(1.0) as u64;
    let mean = estimate / buckets as f64;
    let mut capacity = (mean + 2.0 * mean.sqrt() + 2.0).ceil() as usize;
    bytes += 8;
    let mut pending: Vec<u64> = (0..buckets).collect();
    let mut decoded: Vec<u64> = Vec::new();
    let mut rng = salt;
    let by_short: HashMap<u64, usize> = theirs.iter().enumerate().map(|(i, &s)| (s, i)).collect();
    while !pending.is_empty() {
        let sent = sketch_buckets(&ours, buckets, capacity, &pending);
        bytes += sent.values().map(Sketch::wire_len).sum::<u64>();
        let own = sketch_buckets(&theirs, buckets, capacity, &pending);
        let mut failed = Vec::new();
        for b in pending {
            let mut sketch = own[&b].clone();
            sketch.merge(&sent[&b]);
            match sketch.decode(&mut rng) {
                Some(elements) => decoded.extend(elements),
                None => failed.push(b),
            }
        }
        pending = failed;
        if !pending.is_empty() {
            // Ask again for the failed buckets at twice the capacity.
            capacity *= 2;
            bytes += 4 + 4 * pending.len() as u64;
            round_trips += 1;
        }
    }
    // The responder sends the full ids of what it holds and the requester
    // lacks (short ids it does not hold are the requester's own extras).
    let missing: Vec<TxId> = decoded
        .iter()
        .filter_map(|s| by_short.get(s).map(|&i| responder[i]))
        .collect();
    bytes += 32 * missing.len() as u64 + 4;
    Outcome {
        missing,
        bytes,
        round_trips,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_has_inverses() {
        let mut x = 12345u64;
        for _ in 0..200 {
            x = mix64(x);
            let a = x | 1;
            assert_eq!(gf::mul(a, gf::inverse(a)), 1);
            assert_eq!(gf::mul(a, 1), a);
        }
        // x^(2^64) = x: the reduction polynomial is irreducible of degree 64
        // (with x^(2^32) ≠ x, no factor of degree dividing 32).
        let mut p = 2u64;
        for k in 1..=64 {
            p = gf::square(p);
            if k == 32 {
                assert_ne!(p, 2);
            }
        }
        assert_eq!(p, 2);
    }

    #[test]
    fn a_sketch_decodes_up_to_its_capacity() {
        let mut rng = 7u64;
        for count in [0usize, 1, 2, 5, 20, 40] {
            let mut sketch = Sketch::new(40);
            let mut want: Vec<u64> = (0..count as u64).map(|i| mix64(i + 99) | 1).collect();
            for &x in &want {
                sketch.add(x);
            }
            let mut got = sketch.decode(&mut rng).expect("within capacity");
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{count} elements");
        }
        let mut over = Sketch::new(10);
        for i in 0..25u64 {
            over.add(mix64(i) | 1);
        }
        assert_eq!(over.decode(&mut rng), None, "over capacity");
    }

    #[test]
    fn reconcile_finds_exactly_what_the_requester_lacks() {
        let ids: Vec<TxId> = (0..3000u64)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&mix64(i).to_le_bytes());
                id[8..16].copy_from_slice(&i.to_le_bytes());
                id
            })
            .collect();
        for d in [0usize, 1, 10, 200] {
            let outcome = reconcile(&ids[..3000 - d], &ids, 3);
            let mut got = outcome.missing.clone();
            got.sort();
            let mut want = ids[3000 - d..].to_vec();
            want.sort();
            assert_eq!(got, want, "d = {d}");
        }
    }
}
