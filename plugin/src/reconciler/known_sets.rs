//! Each party's set for us as last reconciled: what a reconciliation that
//! decoded learnt the party holds for us, kept so that the next one with
//! that party starts from it instead of from our own set.
//!
//! Why: our set for the pair (transactions involving both, with
//! back-chains) differs from the party's set for us by our dealings with
//! others that reached it as back-chains (its *roots beyond the pair*),
//! which we cannot tell apart. A first reconciliation learns them through
//! the roots filter (35 KB on a 1M-transaction ledger even when nothing
//! was lost). Once a reconciliation has decoded, we know the party's set
//! exactly: ours at the time, plus what it held that we lacked, less what
//! we held that it did not. A later reconciliation that reconciles *that*
//! set against the party's current one is `Identical` at once when nothing
//! changed, and otherwise streams what changed since: its cost follows
//! the party's changes, not how its view and ours differ.
//!
//! Privacy: the set kept is the party's own, as its symbols described it,
//! whatever our vault holds; so a request made from it (its digest, its
//! size, no roots asked for) and how many symbols it then needs tell the
//! party nothing of our vault (RELIABILITY.md promise 5).
//!
//! Memory: a set is kept as a bitmap over the graph or a sorted list of
//! graph indices, whichever is smaller (at most one bit per transaction in
//! the graph, or 4 B per member), plus 32 B per id of the party's that the
//! graph lacked. At most [`MAX_KNOWN_SET_BYTES`] are kept in all; past that
//! the set of the party reconciled with longest ago is dropped, and its
//! next reconciliation starts from our own set again. Nothing is kept
//! across a restart: the first reconciliation after one pays the roots
//! filter again.

use super::by_party::{ByParty, Weighed};
use crate::graph::{LedgerGraph, TxIndex, TxSet};
use crate::host::Host;
use crate::id::TxId;
use crate::keyed_hash::keyed_name_hash;
use crate::riblt::{RunningDigest, Side};

/// All the parties' sets kept take at most this many bytes.
pub(super) const MAX_KNOWN_SET_BYTES: usize = 64 << 20;

/// The set a requester reconciles over: members of the ledger graph, and
/// ids the graph lacks (the party's, as last reconciled, that we did not
/// hold); and how long the graph was when it was built.
#[derive(Clone, Debug, Default)]
pub(super) struct ReconciledSet {
    pub(super) members: TxSet,
    pub(super) lacked: Vec<TxId>,
    /// Transactions in the graph when the set was built: our set for the
    /// pair is taken as it stood then, so what it gains from here on is
    /// added to the party's set as last reconciled the next time.
    pub(super) built_at: usize,
}

impl ReconciledSet {
    /// A set of graph members only, built over `graph` as it stands.
    pub(super) fn of(members: TxSet, graph: &LedgerGraph) -> Self {
        ReconciledSet {
            members,
            lacked: Vec::new(),
            built_at: graph.len(),
        }
    }

    /// How many ids the set holds.
    pub(super) fn len(&self) -> usize {
        self.members.len() + self.lacked.len()
    }

    /// Its ids: the members' in recording order, then those the graph
    /// lacks.
    pub(super) fn ids(&self, graph: &LedgerGraph) -> Vec<TxId> {
        let mut ids: Vec<TxId> = self
            .members
            .members()
            .into_iter()
            .map(|t| graph.id(t))
            .collect();
        ids.extend_from_slice(&self.lacked);
        ids
    }

    /// Moves the ids the graph has gained since into the members.
    pub(super) fn settle(&mut self, graph: &LedgerGraph) {
        let members = &mut self.members;
        self.lacked.retain(|id| match graph.find(id) {
            Some(t) => {
                members.insert(t);
                false
            }
            None => true,
        });
    }

    /// The party's set, from ours and the difference decoded: ids it holds
    /// that we did not are added, ids we held that it does not are taken
    /// out, and `digest` (of ours) follows.
    pub(super) fn apply(
        &mut self,
        graph: &LedgerGraph,
        decoded: &[(TxId, Side)],
        digest: &mut RunningDigest,
    ) {
        for (id, side) in decoded {
            let changed = match (side, graph.find(id)) {
                (Side::RemoteOnly, Some(t)) => self.members.insert(t),
                (Side::RemoteOnly, None) => {
                    self.lacked.push(*id);
                    true
                }
                (Side::LocalOnly, found) => {
                    let before = self.lacked.len();
                    self.lacked.retain(|held| held != id);
                    self.lacked.len() != before || found.is_some_and(|t| self.members.remove(t))
                }
            };
            match (changed, side) {
                (true, Side::RemoteOnly) => digest.insert(id),
                (true, Side::LocalOnly) => digest.remove(id),
                _ => {}
            }
        }
    }
}

/// How a kept set's members are stored: whichever is smaller.
#[derive(Debug)]
enum Members {
    Bitmap(TxSet),
    Sorted(Vec<TxIndex>),
}

#[derive(Debug)]
struct Known {
    members: Members,
    lacked: Vec<TxId>,
    /// [`ReconciledSet::built_at`] of the set it was learnt from.
    built_at: usize,
    /// The party's cursor then (protocol 6), if it gave one.
    cursor: Option<u64>,
    /// The set's digest under the salt it was learnt with.
    digest: Option<RunningDigest>,
    /// How many of our transactions a roots filter would test, as last
    /// counted (sizes the next filter asked for).
    candidates: u64,
    /// Whether the status store holds it (as read, or as last saved).
    stored: bool,
}

/// A kept set as a reconciliation starts from it (see [`KnownSets::get`]).
pub(super) struct Kept {
    pub(super) set: ReconciledSet,
    /// The graph's length when the set it was learnt from was built.
    pub(super) built_at: usize,
    pub(super) cursor: Option<u64>,
    pub(super) digest: Option<RunningDigest>,
    pub(super) candidates: u64,
}

impl Weighed for Known {
    fn bytes(&self) -> usize {
        let members = match &self.members {
            Members::Bitmap(set) => set.reserved_bytes(),
            Members::Sorted(list) => list.capacity() * 4,
        };
        members + self.lacked.capacity() * 32
    }
}

impl Known {
    fn of(set: ReconciledSet, learnt: Learnt) -> Known {
        let ReconciledSet {
            members,
            mut lacked,
            built_at,
        } = set;
        lacked.shrink_to_fit();
        let members = if members.len() * 4 < members.reserved_bytes() {
            Members::Sorted(members.members())
        } else {
            Members::Bitmap(members)
        };
        Known {
            members,
            lacked,
            built_at,
            cursor: learnt.cursor,
            digest: learnt.digest,
            candidates: learnt.candidates,
            stored: false,
        }
    }

    /// Whether `self` holds the same ids, digest and cursor as `other`
    /// (only how they are held, `built_at` or the candidates' count may
    /// differ): the value stored for `other` serves for `self` too.
    fn same_as_stored(&self, other: &Known) -> bool {
        other.stored
            && self.cursor == other.cursor
            && self.digest.is_some()
            && self.digest == other.digest
            && self.lacked.len() <= other.lacked.len()
    }
}

/// What a reconciliation learnt beside the party's set: its cursor, the
/// set's digest, and our candidates' count.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Learnt {
    pub(super) cursor: Option<u64>,
    pub(super) digest: Option<RunningDigest>,
    pub(super) candidates: u64,
}

/// A party's set as last reconciled, as it is kept beside the status rows
/// (`status-store.save-value`, postcard): with the length of the graph it
/// was saved over and the id of its last transaction, so that a set saved
/// over another vault (restored from an older backup, or replaced) is
/// told apart and not used.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Saved {
    format: u8,
    party: String,
    graph_len: u32,
    last_id: Option<TxId>,
    built_at: u32,
    cursor: Option<u64>,
    /// [`RunningDigest::parts`].
    digest: Option<(u64, TxId, u32, u8, u64)>,
    candidates: u64,
    members: SavedMembers,
    lacked: Vec<TxId>,
}

/// [`Saved::format`] this build writes and reads.
const SAVED_FORMAT: u8 = 1;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum SavedMembers {
    /// Sorted graph indices as gaps (the first from 0): a byte or two each
    /// when the set is sparse.
    Gaps(Vec<u32>),
    /// A bitmap over the graph, 64 members to 8 little-endian bytes
    /// (written and read as one run of bytes, not byte by byte).
    Bitmap(#[serde(serialize_with = "bytes::write", deserialize_with = "bytes::read")] Vec<u8>),
}

/// A bitmap's bytes as postcard writes any `Vec<u8>` (its length, then the
/// bytes), in one piece: the format is unchanged, the pass per byte gone.
mod bytes {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub(super) fn write<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(super) fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a bitmap's bytes")
            }
            fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                Ok(bytes.to_vec())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut bytes = Vec::new();
                while let Some(byte) = seq.next_element()? {
                    bytes.push(byte);
                }
                Ok(bytes)
            }
        }
        deserializer.deserialize_bytes(Bytes)
    }
}

impl SavedMembers {
    fn of(members: &Members) -> SavedMembers {
        let sorted = match members {
            Members::Sorted(list) => list.clone(),
            Members::Bitmap(set) => {
                let bitmap = set.bitmap_bytes();
                if set.len() * 2 > bitmap.len() {
                    return SavedMembers::Bitmap(bitmap);
                }
                set.members()
            }
        };
        let bitmap_bytes = sorted.last().map_or(0, |t| t.0 as usize / 8 + 1);
        // A gap under 128 takes one byte, under 16,384 two.
        if sorted.len() * 2 <= bitmap_bytes {
            let mut last = 0;
            SavedMembers::Gaps(
                sorted
                    .iter()
                    .map(|t| {
                        let gap = t.0 - last;
                        last = t.0;
                        gap
                    })
                    .collect(),
            )
        } else {
            let mut bytes = vec![0u8; bitmap_bytes];
            for t in sorted {
                bytes[t.0 as usize / 8] |= 1 << (t.0 % 8);
            }
            SavedMembers::Bitmap(bytes)
        }
    }

    /// The members, each under `len`; `None` if one is not.
    fn members(&self, len: u32) -> Option<TxSet> {
        let mut set = TxSet::default();
        match self {
            SavedMembers::Gaps(gaps) => {
                let mut at = 0u32;
                for &gap in gaps {
                    at = at.checked_add(gap)?;
                    if at >= len {
                        return None;
                    }
                    set.insert(TxIndex(at));
                }
            }
            SavedMembers::Bitmap(bytes) => return TxSet::from_bitmap_bytes(bytes, len),
        }
        Some(set)
    }
}

/// The key a party's set is kept under (`status-store.save-value`): a
/// hash of its name (a legal name can be longer than a key may be); the
/// value names the party. Deleting it makes the next reconciliation with
/// the party after a restart a first one (the benches do, to measure one).
pub fn value_key(party: &str) -> String {
    format!(
        "known-set/{:016x}",
        keyed_name_hash(party, 0x6b6e_6f77_6e2d_7365)
    )
}

/// The parties' sets as last reconciled, by party: in memory, and kept
/// beside the status rows so that they outlive a restart.
#[derive(Debug, Default)]
pub(super) struct KnownSets {
    sets: ByParty<Known, MAX_KNOWN_SET_BYTES>,
    /// Parties whose kept value was read since the plugin started (or
    /// written): for them memory is what is kept. Bounded by the parties
    /// reconciled with.
    read: hashbrown::HashSet<String>,
}

impl KnownSets {
    /// The party's set as last reconciled, if one is kept (read from the
    /// status store the first time), with what the graph has gained since
    /// moved into its members; the length of the graph when the set it was
    /// learnt from was built; and the party's cursor then. A kept value
    /// that does not match the graph is dropped, and said so in `notes`.
    pub(super) fn get(
        &mut self,
        party: &str,
        graph: &LedgerGraph,
        host: &mut impl Host,
        notes: &mut Vec<String>,
    ) -> Option<Kept> {
        if !self.read.contains(party) {
            self.read.insert(party.to_string());
            match host.load_value(&value_key(party)) {
                Ok(Some(bytes)) => match restore(party, &bytes, graph) {
                    // As if never used: the first to go for room.
                    Ok(set) => self.insert(party, set, false),
                    Err(why) => {
                        notes.push(format!(
                            "the set of {party} as last reconciled, kept beside the statuses, \
                             is not used: {why}; this reconciliation starts from our own set"
                        ));
                        let _ = host.save_value(&value_key(party), None);
                    }
                },
                Ok(None) => {}
                Err(e) => notes.push(format!(
                    "could not read the set of {party} as last reconciled from the status \
                     store ({e}); this reconciliation starts from our own set"
                )),
            }
        }
        let known = self.sets.get(party)?;
        let members = match &known.members {
            Members::Bitmap(set) => set.clone(),
            Members::Sorted(list) => {
                let mut set = TxSet::default();
                for &t in list {
                    set.insert(t);
                }
                set
            }
        };
        let mut set = ReconciledSet {
            members,
            lacked: known.lacked.clone(),
            built_at: graph.len(),
        };
        set.settle(graph);
        Some(Kept {
            set,
            built_at: known.built_at,
            cursor: known.cursor,
            digest: known.digest,
            candidates: known.candidates,
        })
    }

    /// Keeps `set` as the party's, with what was `learnt` beside it: in
    /// memory, in the smaller of the two forms (dropping the oldest sets
    /// until all fit in [`MAX_KNOWN_SET_BYTES`]), and beside the status
    /// rows. An error says why it could not be saved there (memory still
    /// has it).
    pub(super) fn keep(
        &mut self,
        party: &str,
        set: ReconciledSet,
        learnt: Learnt,
        graph: &LedgerGraph,
        host: &mut impl Host,
    ) -> Result<(), String> {
        let mut known = Known::of(set, learnt);
        self.read.insert(party.to_string());
        // A check that changed nothing (the set's digest and the party's
        // cursor as stored) writes nothing: what is stored serves after a
        // restart as well (its older `built_at` only rescans a little).
        let unchanged = self
            .sets
            .get(party)
            .is_some_and(|old| known.same_as_stored(old));
        let result = if unchanged {
            Ok(())
        } else {
            let saved = save(party, &known, graph);
            host.save_value(&value_key(party), Some(&saved))
        };
        known.stored = result.is_ok();
        self.insert(party, known, true);
        result
    }

    /// Keeps `known` in memory; the sets dropped to make room are read
    /// again from the store when next needed.
    fn insert(&mut self, party: &str, known: Known, recent: bool) {
        for dropped in self.sets.insert(party, known, recent) {
            self.read.remove(&dropped);
        }
    }

    /// Drops the party's set, in memory and beside the status rows: its
    /// next reconciliation starts from ours.
    pub(super) fn forget(&mut self, party: &str, host: &mut impl Host) -> Result<(), String> {
        self.sets.remove(party);
        self.read.insert(party.to_string());
        host.save_value(&value_key(party), None)
    }

    /// Bytes the kept sets take in memory, and how many parties they are
    /// for.
    pub(super) fn usage(&self) -> (usize, usize) {
        self.sets.usage()
    }
}

/// The value a set is kept as.
fn save(party: &str, known: &Known, graph: &LedgerGraph) -> Vec<u8> {
    let graph_len = graph.len() as u32;
    let saved = Saved {
        format: SAVED_FORMAT,
        party: party.to_string(),
        graph_len,
        last_id: graph_len.checked_sub(1).map(|t| graph.id(TxIndex(t))),
        built_at: known.built_at as u32,
        cursor: known.cursor,
        digest: known.digest.map(|d| d.parts()),
        candidates: known.candidates,
        members: SavedMembers::of(&known.members),
        lacked: known.lacked.clone(),
    };
    postcard::to_allocvec(&saved).expect("a set serialises")
}

/// A kept value back as a set, if it was saved for `party` over the graph
/// as it stands (the same transactions up to the length it was saved at).
fn restore(party: &str, bytes: &[u8], graph: &LedgerGraph) -> Result<Known, String> {
    let saved: Saved =
        postcard::from_bytes(bytes).map_err(|e| format!("it cannot be read ({e})"))?;
    if saved.format != SAVED_FORMAT {
        return Err(format!(
            "it was written in format {}, this plugin reads {SAVED_FORMAT}",
            saved.format
        ));
    }
    if saved.party != party {
        return Err(format!("it is {}'s", saved.party));
    }
    let len = saved.graph_len;
    let same_graph = (len as usize) <= graph.len()
        && saved.last_id == len.checked_sub(1).map(|t| graph.id(TxIndex(t)));
    if !same_graph || saved.built_at > len {
        return Err(format!(
            "it was saved over a vault of {len} transactions that this one ({}) does not \
             begin with (restored from an older backup, or replaced)",
            graph.len()
        ));
    }
    let members = saved
        .members
        .members(len)
        .ok_or("it names a transaction past the vault it was saved over")?;
    Ok(Known::of(
        ReconciledSet {
            members,
            lacked: saved.lacked,
            built_at: saved.built_at as usize,
        },
        Learnt {
            cursor: saved.cursor,
            digest: saved.digest.map(RunningDigest::from_parts),
            candidates: saved.candidates,
        },
    ))
    .map(|mut known| {
        known.stored = true;
        known
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHost, FakeVault};

    /// A graph of `n` transactions with no dependencies.
    fn graph(n: u32) -> LedgerGraph {
        let mut vault = FakeVault::default();
        for k in 0..n {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&k.to_be_bytes());
            vault.record(id, &[], &[&["A"]]);
        }
        let mut graph = LedgerGraph::new(1);
        graph.ingest(&vault.read(0, n)).expect("a page");
        graph
    }

    fn a_set() -> ReconciledSet {
        let mut members = TxSet::default();
        members.insert(TxIndex(3));
        members.insert(TxIndex(70));
        ReconciledSet {
            members,
            lacked: vec![[200; 32]],
            built_at: 60,
        }
    }

    #[test]
    fn a_kept_set_outlives_a_restart_over_the_same_vault_only() {
        let mut host = FakeHost::new("A", 1);
        let g = graph(80);
        let mut known = KnownSets::default();
        let learnt = Learnt {
            cursor: Some(5),
            digest: Some(RunningDigest::new(9)),
            candidates: 12,
        };
        known.keep("P", a_set(), learnt, &g, &mut host).unwrap();
        assert_eq!(known.usage().1, 1);

        // A restarted plugin reads it back.
        let mut notes = Vec::new();
        let mut again = KnownSets::default();
        let kept = again.get("P", &g, &mut host, &mut notes).expect("kept");
        assert_eq!(kept.set.members.members(), [TxIndex(3), TxIndex(70)]);
        assert_eq!(kept.set.lacked, [[200; 32]]);
        assert_eq!(
            (kept.built_at, kept.cursor, kept.candidates),
            (60, Some(5), 12)
        );
        assert_eq!(kept.digest, Some(RunningDigest::new(9)));
        assert!(notes.is_empty(), "{notes:?}");
        assert!(again.get("Q", &g, &mut host, &mut notes).is_none());

        // Over a vault that does not begin with the one it was saved over
        // (a backup older than the set), it is dropped and said so.
        let mut older = KnownSets::default();
        assert!(older.get("P", &graph(50), &mut host, &mut notes).is_none());
        assert!(
            notes[0].contains("restored from an older backup"),
            "{notes:?}"
        );
        assert!(host.values.is_empty(), "the kept value is deleted");
    }

    #[test]
    fn a_check_that_changed_nothing_writes_nothing() {
        let mut host = FakeHost::new("A", 1);
        let g = graph(80);
        let mut known = KnownSets::default();
        let learnt = |salt| Learnt {
            cursor: Some(5),
            digest: Some(RunningDigest::of(&[[1; 32]], salt)),
            candidates: 3,
        };
        known.keep("P", a_set(), learnt(9), &g, &mut host).unwrap();
        // The store now refuses writes: the same set again needs none.
        host.failing_store = Some("the disk is full".into());
        known.keep("P", a_set(), learnt(9), &g, &mut host).unwrap();
        // Another set must be written, and the refusal is said.
        let refused = known.keep("P", a_set(), learnt(10), &g, &mut host);
        assert_eq!(refused, Err("the disk is full".to_string()));
        // Until it is stored, the next keep writes again.
        host.failing_store = None;
        known.keep("P", a_set(), learnt(10), &g, &mut host).unwrap();
        let saved: Saved = postcard::from_bytes(&host.values[&value_key("P")]).unwrap();
        assert_eq!(saved.digest.map(|d| d.0), Some(10));
    }

    #[test]
    fn a_dense_set_is_kept_as_a_bitmap_and_a_sparse_one_as_gaps() {
        let mut dense = TxSet::default();
        let mut sparse = TxSet::default();
        for t in 0..1000 {
            dense.insert(TxIndex(t));
        }
        sparse.insert(TxIndex(5));
        sparse.insert(TxIndex(999));
        let of = |members: TxSet| {
            SavedMembers::of(
                &Known::of(
                    ReconciledSet {
                        members,
                        lacked: Vec::new(),
                        built_at: 0,
                    },
                    Learnt::default(),
                )
                .members,
            )
        };
        assert!(matches!(of(dense), SavedMembers::Bitmap(b) if b.len() == 125));
        assert!(matches!(of(sparse), SavedMembers::Gaps(g) if g == [5, 994]));
    }

    /// A bitmap is copied off the set's words and written as one run of
    /// bytes, in the format a byte-by-byte writer used (values saved by
    /// the last release still read); one naming a member past the graph
    /// is refused.
    #[test]
    fn a_bitmap_is_kept_in_the_same_format_and_read_back_whole() {
        let mut set = TxSet::default();
        for t in (0..700).filter(|t| t % 3 != 0) {
            set.insert(TxIndex(t));
        }
        let SavedMembers::Bitmap(bytes) = SavedMembers::of(&Members::Bitmap(set.clone())) else {
            panic!("a dense set is a bitmap");
        };
        let mut expected = vec![0u8; 699 / 8 + 1];
        for t in set.members() {
            expected[t.0 as usize / 8] |= 1 << (t.0 % 8);
        }
        assert_eq!(bytes, expected);
        let written = postcard::to_allocvec(&SavedMembers::Bitmap(bytes.clone())).unwrap();
        #[derive(serde::Serialize)]
        enum ByteByByte {
            _Gaps(Vec<u32>),
            Bitmap(Vec<u8>),
        }
        assert_eq!(
            written,
            postcard::to_allocvec(&ByteByByte::Bitmap(bytes.clone())).unwrap()
        );
        let read: SavedMembers = postcard::from_bytes(&written).unwrap();
        let back = read.members(700).expect("every member under 700");
        assert_eq!(back.members(), set.members());
        assert_eq!(back.len(), set.len());
        assert!(
            read.members(698).is_none(),
            "member 698 is past a graph of 698"
        );
    }
}
