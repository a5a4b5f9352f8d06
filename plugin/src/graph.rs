//! The ledger graph: every transaction in the vault, who took part in it, and
//! what it depends on — metadata only, packed for a million-transaction vault.
//!
//! Built from vault pages, in the vault's recording order, and caught up with
//! new pages before each reconciliation. A dependency that is not (yet) in the
//! vault is kept as *unresolved*; once the whole vault has been read, any left
//! make the graph not self-consistent, and the seed refuses to schedule
//! reconciliations from such a node.
//!
//! Layout: transaction `i` is a dense `u32` index. Ids, dependency lists and
//! participant lists live in chunked arrays (see [`crate::chunked`]) with
//! per-transaction start offsets; an id → index hash table holds only `u32`s.

use crate::chunked::ChunkedVec;
use crate::id::{TX_ID_LEN, TxId, to_hex};
use crate::keyed_hash::keyed_hash;
use hashbrown::{HashMap, HashTable};

pub use ledger_sync_vocabulary::page::TransactionPage;

/// A transaction's place in the graph: dense, in the vault's recording
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct TxIndex(pub u32);

/// A party as the vault names it (the handle `vault.find-party` gives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct PartyHandle(pub u32);

/// Marks a dependency whose transaction is not in the graph.
const UNRESOLVED: u32 = u32::MAX;

/// How many inconsistencies [`LedgerGraph::errors`] lists one by one.
const MAX_LISTED_ERRORS: usize = 20;

/// The in-memory ledger graph.
pub struct LedgerGraph {
    salt: u64,
    ids: ChunkedVec<TxId>,
    index: HashTable<u32>,
    dependency_start: ChunkedVec<u32>,
    dependencies: ChunkedVec<u32>,
    participant_start: ChunkedVec<u32>,
    participants: ChunkedVec<u32>,
    /// Dependency id not in the graph → (dependent transaction, slot in
    /// `dependencies`).
    unresolved: HashMap<TxId, Vec<(u32, u32)>>,
    duplicates: u64,
    cursor: u64,
}

impl LedgerGraph {
    /// An empty graph. `salt` keys the id hash table.
    pub fn new(salt: u64) -> Self {
        LedgerGraph {
            salt,
            ids: ChunkedVec::new(),
            index: HashTable::new(),
            dependency_start: ChunkedVec::new(),
            dependencies: ChunkedVec::new(),
            participant_start: ChunkedVec::new(),
            participants: ChunkedVec::new(),
            unresolved: HashMap::new(),
            duplicates: 0,
            cursor: 0,
        }
    }

    /// Transactions in the graph.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The vault position after the last page read.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    #[inline]
    fn hash(&self, id: &TxId) -> u64 {
        keyed_hash(id, self.salt)
    }

    /// The index of a transaction.
    pub fn find(&self, id: &TxId) -> Option<TxIndex> {
        let hash = self.hash(id);
        self.index
            .find(hash, |&i| self.ids.get(i as usize) == *id)
            .map(|&i| TxIndex(i))
    }

    /// The id of transaction `index`.
    pub fn id(&self, index: TxIndex) -> TxId {
        self.ids.get(index.0 as usize)
    }

    fn range(start: &ChunkedVec<u32>, total: usize, index: usize) -> (usize, usize) {
        let begin = start.get(index) as usize;
        let end = if index + 1 < start.len() {
            start.get(index + 1) as usize
        } else {
            total
        };
        (begin, end)
    }

    /// Adds a page of transactions. Pages must be fed in vault order.
    pub fn ingest(&mut self, page: &TransactionPage) -> Result<usize, String> {
        page.validate()?;
        let mut dep_at = 0usize;
        let mut out_at = 0usize;
        let mut part_at = 0usize;
        let mut scratch: Vec<u32> = Vec::new();
        let mut added = 0;
        for (t, id_bytes) in page.ids.chunks_exact(TX_ID_LEN).enumerate() {
            let id: TxId = id_bytes.try_into().expect("32-byte chunk");
            let dep_count = page.dependency_counts[t] as usize;
            let out_count = page.output_counts[t] as usize;
            let dep_bytes =
                &page.dependencies[dep_at * TX_ID_LEN..(dep_at + dep_count) * TX_ID_LEN];
            dep_at += dep_count;
            scratch.clear();
            for &n in &page.participant_counts[out_at..out_at + out_count] {
                scratch.extend_from_slice(&page.participants[part_at..part_at + n as usize]);
                part_at += n as usize;
            }
            out_at += out_count;
            if self.find(&id).is_some() {
                self.duplicates += 1;
                continue;
            }
            scratch.sort_unstable();
            scratch.dedup();
            self.insert(id, dep_bytes, &scratch)?;
            added += 1;
        }
        self.cursor = self.cursor.max(page.cursor);
        Ok(added)
    }

    fn insert(&mut self, id: TxId, dep_bytes: &[u8], parties: &[u32]) -> Result<(), String> {
        let index = u32::try_from(self.ids.len())
            .ok()
            .filter(|&i| i != UNRESOLVED)
            .ok_or("the ledger graph holds at most 4,294,967,294 transactions")?;
        let overflow = || "the ledger graph's dependency or participant lists exceed 2^32 entries";
        self.ids.push(id);
        let hash = self.hash(&id);
        let (ids, salt) = (&self.ids, self.salt);
        self.index
            .insert_unique(hash, index, |&i| keyed_hash(&ids.get(i as usize), salt));
        self.dependency_start
            .push(u32::try_from(self.dependencies.len()).map_err(|_| overflow())?);
        for dep in dep_bytes.chunks_exact(TX_ID_LEN) {
            let dep: TxId = dep.try_into().expect("32-byte chunk");
            let slot = u32::try_from(self.dependencies.len()).map_err(|_| overflow())?;
            match self.find(&dep) {
                Some(d) => self.dependencies.push(d.0),
                None => {
                    self.dependencies.push(UNRESOLVED);
                    self.unresolved.entry(dep).or_default().push((index, slot));
                }
            }
        }
        self.participant_start
            .push(u32::try_from(self.participants.len()).map_err(|_| overflow())?);
        for &p in parties {
            self.participants.push(p);
        }
        // Transactions that named this one as a dependency before it arrived.
        if let Some(waiting) = self.unresolved.remove(&id) {
            for (_, slot) in waiting {
                self.dependencies.set(slot as usize, index);
            }
        }
        Ok(())
    }

    /// True when every dependency of every transaction is in the graph.
    /// Every party handle that takes part in some transaction, ascending.
    pub fn parties(&self) -> Vec<PartyHandle> {
        let mut seen = hashbrown::HashSet::new();
        for k in 0..self.participants.len() {
            seen.insert(self.participants.get(k));
        }
        let mut parties: Vec<PartyHandle> = seen.into_iter().map(PartyHandle).collect();
        parties.sort_unstable();
        parties
    }

    pub fn is_self_consistent(&self) -> bool {
        self.unresolved.is_empty()
    }

    /// The inconsistencies, worded for the operator (at most a few listed,
    /// then a count).
    pub fn errors(&self) -> Vec<String> {
        let mut listed: Vec<(TxId, TxId)> = self
            .unresolved
            .iter()
            .flat_map(|(dep, users)| users.iter().map(move |(user, _)| (*dep, *user)))
            .map(|(dep, user)| (self.id(TxIndex(user)), dep))
            .collect();
        listed.sort();
        let total = listed.len();
        let mut errors: Vec<String> = listed
            .iter()
            .take(MAX_LISTED_ERRORS)
            .map(|(user, dep)| {
                format!(
                    "transaction {} depends on transaction {}, which is not in the vault \
                     (a broken back-chain)",
                    to_hex(user),
                    to_hex(dep)
                )
            })
            .collect();
        if total > MAX_LISTED_ERRORS {
            errors.push(format!(
                "... and {} more missing dependencies",
                total - MAX_LISTED_ERRORS
            ));
        }
        errors
    }

    /// Whether `a` and whether `b` are among transaction `t`'s participants
    /// (one scan of its list).
    fn involves(&self, t: usize, a: PartyHandle, b: Option<PartyHandle>) -> (bool, bool) {
        let (a, b) = (a.0, b.map(|b| b.0));
        let (begin, end) = Self::range(&self.participant_start, self.participants.len(), t);
        let (mut has_a, mut has_b) = (false, false);
        for k in begin..end {
            let p = self.participants.get(k);
            has_a |= p == a;
            has_b |= Some(p) == b;
            if has_a && (has_b || b.is_none()) {
                break;
            }
        }
        (has_a, has_b)
    }

    /// The seed's set to reconcile with a counterparty: every transaction
    /// with `party` among its participants, plus their whole back-chains.
    /// The reconciler builds it as [`responder_sets`](Self::responder_sets);
    /// this plain form is the tests' reference.
    #[cfg(test)]
    pub fn reconciliation_set(&self, party: Option<PartyHandle>) -> Vec<TxIndex> {
        self.party_set(party).members()
    }

    /// The seed's set for `party`, for membership queries (what a recovery
    /// responder may send `party`: `flows.shared-with`). One pass over the
    /// graph.
    pub fn party_set(&self, party: Option<PartyHandle>) -> TxSet {
        let mut set = SetBuilder::new(self);
        if let Some(party) = party {
            for t in 0..self.len() {
                if self.involves(t, party, None).0 {
                    set.add_with_back_chain(TxIndex(t as u32));
                }
            }
        }
        set.into_tx_set()
    }

    /// The responder's set for `requester` — exactly the seed's (every
    /// transaction involving the requester, with back-chains) — and its *roots
    /// beyond the pair*: the transactions in it that involve the requester
    /// but not `me` and are not already in the back-chain of one that
    /// involves both. The requester cannot tell which of its own
    /// transactions those are (it does not see the dealings that brought
    /// them to us), so the responder sends them as a [`crate::root_filter`].
    pub fn responder_sets(
        &self,
        requester: Option<PartyHandle>,
        me: Option<PartyHandle>,
    ) -> (TxSet, Vec<TxIndex>) {
        let mut set = SetBuilder::new(self);
        let roots = match requester {
            Some(requester) => self.add_party_since(&mut set, requester, me, 0),
            None => Vec::new(),
        };
        (set.into_tx_set(), roots)
    }

    /// The requester's set for `responder` before it hears the responder's
    /// roots: every transaction involving both `me` and the responder, with
    /// back-chains; and the *candidates*, the transactions involving `me`
    /// but not the responder that are outside that set — the ones the
    /// responder's roots filter is asked about — newest first. Without `me`
    /// in the graph (a vault that never involves this node), the seed's
    /// definition and no candidates.
    pub fn requester_core(
        &self,
        responder: Option<PartyHandle>,
        me: Option<PartyHandle>,
    ) -> (SetBuilder<'_>, Vec<TxIndex>) {
        let mut set = SetBuilder::new(self);
        let mut candidates = Vec::new();
        let Some(responder) = responder else {
            return (set, candidates);
        };
        for t in 0..self.len() {
            let t = TxIndex(t as u32);
            match self.involves(t.0 as usize, responder, me) {
                (true, true) => set.add_with_back_chain(t),
                (true, false) if me.is_none() => set.add_with_back_chain(t),
                (false, true) => candidates.push(t),
                _ => {}
            }
        }
        candidates.retain(|&t| !set.contains(t));
        candidates.reverse();
        (set, candidates)
    }

    /// Adds to `set` what our set for the pair with `responder` gained from
    /// transaction `from` on: each transaction there involving both `me`
    /// and the responder (any involving the responder, without `me` in the
    /// graph), with its back-chain. One pass over the transactions from
    /// `from`, not the whole graph.
    pub fn add_pair_since(
        &self,
        set: &mut SetBuilder<'_>,
        responder: Option<PartyHandle>,
        me: Option<PartyHandle>,
        from: usize,
    ) {
        let Some(responder) = responder else {
            return;
        };
        for t in from..self.len() {
            match self.involves(t, responder, me) {
                (true, true) => set.add_with_back_chain(TxIndex(t as u32)),
                (true, false) if me.is_none() => set.add_with_back_chain(TxIndex(t as u32)),
                _ => {}
            }
        }
    }

    /// Adds to `set` (the seed's set for `requester` as it stood at
    /// transaction `from`) what it gained from there on: each transaction
    /// with the requester among its participants, with its back-chain.
    /// Returns the roots beyond the pair among them, newest first — those
    /// not involving `me`, outside the back-chains of the pair's new
    /// dealings and of newer roots (a back-chain reaching the old set goes
    /// no further: the old set holds the rest). From 0 on an empty set it
    /// is [`responder_sets`](Self::responder_sets). One pass over the
    /// transactions from `from`.
    pub fn add_party_since(
        &self,
        set: &mut SetBuilder<'_>,
        requester: PartyHandle,
        me: Option<PartyHandle>,
        from: usize,
    ) -> Vec<TxIndex> {
        let mut beyond = Vec::new();
        for t in from..self.len() {
            match self.involves(t, requester, me) {
                (true, true) => set.add_with_back_chain(TxIndex(t as u32)),
                (true, false) => beyond.push(TxIndex(t as u32)),
                _ => {}
            }
        }
        // Newest first: an older root in a newer one's back-chain is covered
        // by it and need not be sent.
        let mut roots = Vec::new();
        for &t in beyond.iter().rev() {
            if !set.contains(t) {
                if me.is_some() {
                    roots.push(t);
                }
                set.add_with_back_chain(t);
            }
        }
        roots
    }

    /// Our transactions from graph position `from` on that a roots filter
    /// from `responder` would test against `set`: those involving `me` but
    /// not the responder, outside `set`, newest first (none without `me`
    /// in the graph). One pass over the transactions from `from`.
    pub fn candidates_since(
        &self,
        set: &TxSet,
        responder: Option<PartyHandle>,
        me: Option<PartyHandle>,
        from: usize,
    ) -> Vec<TxIndex> {
        let (Some(responder), Some(me)) = (responder, me) else {
            return Vec::new();
        };
        (from.min(self.len())..self.len())
            .rev()
            .map(|t| TxIndex(t as u32))
            .filter(|&t| {
                !set.contains(t)
                    && self.involves(t.0 as usize, me, Some(responder)) == (true, false)
            })
            .collect()
    }

    /// Our transactions a roots filter from `responder` would test against
    /// `set`: those involving `me` but not the responder, outside `set`,
    /// newest first (none without `me` in the graph).
    pub fn candidates_outside(
        &self,
        set: &TxSet,
        responder: Option<PartyHandle>,
        me: Option<PartyHandle>,
    ) -> Vec<TxIndex> {
        self.candidates_since(set, responder, me, 0)
    }

    /// Bytes the graph has reserved, by the graph's own accounting (the host
    /// measures linear memory, which also counts allocator overhead).
    pub fn reserved_bytes(&self) -> usize {
        self.ids.reserved_bytes()
            + self.index.capacity() * 5
            + self.dependency_start.reserved_bytes()
            + self.dependencies.reserved_bytes()
            + self.participant_start.reserved_bytes()
            + self.participants.reserved_bytes()
    }
}

/// A set of the graph's transactions, as a bitmap over their indices:
/// owned, so that a session can keep its set and extend it later (see
/// [`SetBuilder::extend`]). Indices are stable: the graph only grows.
#[derive(Clone, Debug, Default)]
pub struct TxSet {
    visited: Vec<u64>,
    len: usize,
}

impl TxSet {
    pub fn contains(&self, t: TxIndex) -> bool {
        self.visited
            .get(t.0 as usize / 64)
            .is_some_and(|word| word & (1 << (t.0 % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `t`; false if it was a member already.
    pub fn insert(&mut self, t: TxIndex) -> bool {
        let (word, bit) = (t.0 as usize / 64, t.0 % 64);
        if self.visited.len() <= word {
            self.visited.resize(word + 1, 0);
        }
        let was = self.visited[word] & (1 << bit) != 0;
        self.visited[word] |= 1 << bit;
        self.len += usize::from(!was);
        !was
    }

    /// Takes `t` out; false if it was not a member.
    pub fn remove(&mut self, t: TxIndex) -> bool {
        let (word, bit) = (t.0 as usize / 64, t.0 % 64);
        let Some(bits) = self.visited.get_mut(word) else {
            return false;
        };
        let was = *bits & (1 << bit) != 0;
        *bits &= !(1 << bit);
        self.len -= usize::from(was);
        was
    }

    /// Bytes the bitmap holds.
    pub fn reserved_bytes(&self) -> usize {
        self.visited.capacity() * 8
    }

    /// The bitmap as bytes (member `t` is bit `t % 8` of byte `t / 8`),
    /// up to the byte of the last member: a copy of its words, not a walk
    /// of its members.
    pub fn bitmap_bytes(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self.visited.iter().flat_map(|w| w.to_le_bytes()).collect();
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        bytes
    }

    /// The set whose bitmap is `bytes` (see [`TxSet::bitmap_bytes`]);
    /// `None` if it holds a member at or past `len`.
    pub fn from_bitmap_bytes(bytes: &[u8], len: u32) -> Option<TxSet> {
        let mut visited: Vec<u64> = bytes
            .chunks(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect();
        while visited.last() == Some(&0) {
            visited.pop();
        }
        if let Some(&top) = visited.last() {
            let highest = (visited.len() - 1) * 64 + 63 - top.leading_zeros() as usize;
            if highest >= len as usize {
                return None;
            }
        }
        let members = visited.iter().map(|w| w.count_ones() as usize).sum();
        Some(TxSet {
            visited,
            len: members,
        })
    }

    /// The members, in recording order, read off the bitmap.
    pub fn members(&self) -> Vec<TxIndex> {
        let mut set = Vec::with_capacity(self.len);
        for (word, &bits) in self.visited.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                set.push(TxIndex(word as u32 * 64 + bits.trailing_zeros()));
                bits &= bits - 1;
            }
        }
        set
    }
}

/// A reconciliation set being built: transactions with their whole
/// back-chains, each once (a [`TxSet`] marks what is in).
pub struct SetBuilder<'g> {
    graph: &'g LedgerGraph,
    set: TxSet,
    stack: Vec<u32>,
    /// Members added since [`SetBuilder::extend`], when extending.
    added: Option<Vec<TxIndex>>,
}

impl<'g> SetBuilder<'g> {
    pub fn new(graph: &'g LedgerGraph) -> Self {
        SetBuilder {
            graph,
            set: TxSet {
                visited: vec![0u64; graph.len().div_ceil(64)],
                len: 0,
            },
            stack: Vec::new(),
            added: None,
        }
    }

    /// Goes on building `set`, made earlier over `graph`; what is added
    /// from now on is listed (see [`SetBuilder::into_added`]).
    pub fn extend(graph: &'g LedgerGraph, mut set: TxSet) -> Self {
        set.visited.resize(graph.len().div_ceil(64), 0);
        SetBuilder {
            graph,
            set,
            stack: Vec::new(),
            added: Some(Vec::new()),
        }
    }

    pub fn contains(&self, t: TxIndex) -> bool {
        self.set.contains(t)
    }

    /// Adds transaction `t` and every transaction in its back-chain.
    pub fn add_with_back_chain(&mut self, t: TxIndex) {
        let graph = self.graph;
        let total_deps = graph.dependencies.len();
        self.stack.push(t.0);
        while let Some(t) = self.stack.pop() {
            let (word, bit) = (t as usize / 64, t % 64);
            if self.set.visited[word] & (1 << bit) != 0 {
                continue;
            }
            self.set.visited[word] |= 1 << bit;
            self.set.len += 1;
            if let Some(added) = &mut self.added {
                added.push(TxIndex(t));
            }
            let (begin, end) = LedgerGraph::range(&graph.dependency_start, total_deps, t as usize);
            for k in begin..end {
                let d = graph.dependencies.get(k);
                if d != UNRESOLVED {
                    self.stack.push(d);
                }
            }
        }
    }

    /// The set, in recording order, read off the bitmap: reading the
    /// members' ids then walks the graph front to back, and building keeps
    /// no list of members beside the bitmap.
    pub fn into_set(self) -> Vec<TxIndex> {
        self.set.members()
    }

    /// The set itself, to keep.
    pub fn into_tx_set(self) -> TxSet {
        self.set
    }

    /// The set, and what was added to it since [`SetBuilder::extend`].
    pub fn into_added(self) -> (TxSet, Vec<TxIndex>) {
        (self.set, self.added.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TxId {
        [n; 32]
    }

    /// (id, dependencies, each output's participants).
    type TestTx<'a> = (u8, &'a [u8], &'a [&'a [u32]]);

    fn page(txs: &[TestTx<'_>], cursor: u64) -> TransactionPage {
        let mut p = TransactionPage {
            cursor,
            ..Default::default()
        };
        for (t, deps, outputs) in txs {
            p.ids.extend_from_slice(&id(*t));
            p.dependency_counts.push(deps.len() as u32);
            for d in deps.iter() {
                p.dependencies.extend_from_slice(&id(*d));
            }
            p.output_counts.push(outputs.len() as u32);
            for o in outputs.iter() {
                p.participant_counts.push(o.len() as u32);
                p.participants.extend_from_slice(o);
            }
        }
        p
    }

    #[test]
    fn reconciliation_set_is_party_transactions_plus_back_chains() {
        let mut g = LedgerGraph::new(7);
        // 1: issuance to party 10; 2: 10 -> 20 consuming 1; 3: party 30 only;
        // 4: 20 -> 30 consuming 2 and 3.
        g.ingest(&page(
            &[
                (1, &[], &[&[10]]),
                (2, &[1], &[&[20], &[10]]),
                (3, &[], &[&[30]]),
            ],
            3,
        ))
        .unwrap();
        g.ingest(&page(&[(4, &[2, 3], &[&[30, 20]])], 4)).unwrap();
        assert!(g.is_self_consistent());
        let ids = |set: Vec<TxIndex>| {
            let mut v: Vec<u8> = set.into_iter().map(|i| g.id(i)[0]).collect();
            v.sort();
            v
        };
        assert_eq!(ids(g.reconciliation_set(Some(PartyHandle(10)))), vec![1, 2]);
        assert_eq!(
            ids(g.reconciliation_set(Some(PartyHandle(20)))),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            ids(g.reconciliation_set(Some(PartyHandle(30)))),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            ids(g.reconciliation_set(Some(PartyHandle(99)))),
            Vec::<u8>::new()
        );
        assert_eq!(g.cursor(), 4);
    }

    /// Party 10 (requester) and party 30 (responder) never deal with each
    /// other, yet 30 holds 10's transactions 1 and 2 as the back-chain of
    /// its dealing with 20: they are 30's roots beyond the pair, 1 covered
    /// by 2. The requester's candidates are exactly those, and adding the
    /// ones that pass makes its set the responder's.
    #[test]
    fn roots_beyond_the_pair_make_the_requester_set_the_responders() {
        let mut g = LedgerGraph::new(7);
        g.ingest(&page(
            &[
                (1, &[], &[&[10]]),
                (2, &[1], &[&[20], &[10]]),
                (3, &[], &[&[30]]),
                (4, &[2, 3], &[&[30, 20]]),
                (5, &[], &[&[10, 30]]),
            ],
            5,
        ))
        .unwrap();
        let ids = |set: &[TxIndex]| {
            let mut v: Vec<u8> = set.iter().map(|&i| g.id(i)[0]).collect();
            v.sort();
            v
        };
        let (set, roots) = g.responder_sets(Some(PartyHandle(10)), Some(PartyHandle(30)));
        let set = set.members();
        assert_eq!(ids(&set), ids(&g.reconciliation_set(Some(PartyHandle(10)))));
        assert_eq!(ids(&set), vec![1, 2, 5]);
        assert_eq!(
            ids(&roots),
            vec![2],
            "5 involves both; 1 is in 2's back-chain"
        );

        let (core, candidates) = g.requester_core(Some(PartyHandle(30)), Some(PartyHandle(10)));
        assert_eq!(ids(&core.into_set()), vec![5]);
        assert_eq!(ids(&candidates), vec![1, 2]);
        let (mut with_roots, candidates) =
            g.requester_core(Some(PartyHandle(30)), Some(PartyHandle(10)));
        for t in candidates {
            if roots.contains(&t) {
                with_roots.add_with_back_chain(t);
            }
        }
        assert_eq!(ids(&with_roots.into_set()), ids(&set));

        // Without our own handle the seed's definition, and no candidates.
        let (seed, none) = g.requester_core(Some(PartyHandle(30)), None);
        assert_eq!(
            ids(&seed.into_set()),
            ids(&g.reconciliation_set(Some(PartyHandle(30))))
        );
        assert!(none.is_empty());
    }

    #[test]
    fn missing_dependencies_make_the_graph_inconsistent_until_they_arrive() {
        let mut g = LedgerGraph::new(1);
        g.ingest(&page(&[(5, &[4], &[&[1]])], 1)).unwrap();
        assert!(!g.is_self_consistent());
        let errors = g.errors();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains(&to_hex(&id(4))), "{errors:?}");
        g.ingest(&page(&[(4, &[], &[&[2]])], 2)).unwrap();
        assert!(g.is_self_consistent());
        // The late dependency is now part of party 1's back-chain.
        assert_eq!(g.reconciliation_set(Some(PartyHandle(1))).len(), 2);
    }

    #[test]
    fn inconsistent_pages_are_rejected() {
        let mut p = page(&[(1, &[], &[&[1]])], 1);
        p.participants.push(3);
        assert!(LedgerGraph::new(0).ingest(&p).is_err());
    }

    #[test]
    fn duplicates_are_ignored() {
        let mut g = LedgerGraph::new(0);
        g.ingest(&page(&[(1, &[], &[&[1]])], 1)).unwrap();
        assert_eq!(g.ingest(&page(&[(1, &[], &[&[1]])], 2)).unwrap(), 0);
        assert_eq!(g.len(), 1);
    }
}
