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

use crate::graph::{LedgerGraph, TxIndex, TxSet};
use crate::id::TxId;
use crate::riblt::Side;
use hashbrown::HashMap;

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
    /// out.
    pub(super) fn apply(&mut self, graph: &LedgerGraph, decoded: &[(TxId, Side)]) {
        for (id, side) in decoded {
            match (side, graph.find(id)) {
                (Side::RemoteOnly, Some(t)) => {
                    self.members.insert(t);
                }
                (Side::RemoteOnly, None) => self.lacked.push(*id),
                (Side::LocalOnly, found) => {
                    let before = self.lacked.len();
                    self.lacked.retain(|held| held != id);
                    if self.lacked.len() == before
                        && let Some(t) = found
                    {
                        self.members.remove(t);
                    }
                }
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
    /// When it was kept, in reconciliations ended (for eviction).
    kept_at: u64,
}

impl Known {
    fn bytes(&self) -> usize {
        let members = match &self.members {
            Members::Bitmap(set) => set.reserved_bytes(),
            Members::Sorted(list) => list.capacity() * 4,
        };
        members + self.lacked.capacity() * 32
    }
}

/// The parties' sets as last reconciled, by party.
#[derive(Debug, Default)]
pub(super) struct KnownSets {
    by_party: HashMap<String, Known>,
    bytes: usize,
    kept: u64,
}

impl KnownSets {
    /// The party's set as last reconciled, if one is kept, with what the
    /// graph has gained since moved into its members; the length of the
    /// graph when the set it was learnt from was built; and the party's
    /// cursor then.
    pub(super) fn get(
        &self,
        party: &str,
        graph: &LedgerGraph,
    ) -> Option<(ReconciledSet, usize, Option<u64>)> {
        let known = self.by_party.get(party)?;
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
        Some((set, known.built_at, known.cursor))
    }

    /// Keeps `set` as the party's, with the party's `cursor` for it, in
    /// the smaller of the two forms, then drops the oldest sets until all
    /// fit in [`MAX_KNOWN_SET_BYTES`].
    pub(super) fn keep(&mut self, party: &str, set: ReconciledSet, cursor: Option<u64>) {
        self.forget(party);
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
        self.kept += 1;
        let known = Known {
            members,
            lacked,
            built_at,
            cursor,
            kept_at: self.kept,
        };
        let bytes = known.bytes();
        if bytes > MAX_KNOWN_SET_BYTES {
            return;
        }
        while self.bytes + bytes > MAX_KNOWN_SET_BYTES {
            let oldest = self
                .by_party
                .iter()
                .min_by_key(|(_, k)| k.kept_at)
                .map(|(p, _)| p.clone());
            match oldest {
                Some(oldest) => self.forget(&oldest),
                None => break,
            }
        }
        self.bytes += bytes;
        self.by_party.insert(party.to_string(), known);
    }

    /// Drops the party's set: its next reconciliation starts from ours.
    pub(super) fn forget(&mut self, party: &str) {
        if let Some(known) = self.by_party.remove(party) {
            self.bytes -= known.bytes();
        }
    }

    /// Bytes the kept sets take, and how many parties they are for.
    pub(super) fn usage(&self) -> (usize, usize) {
        (self.bytes, self.by_party.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_set_comes_back_with_what_the_graph_gained() {
        let graph = LedgerGraph::new(1);
        let mut known = KnownSets::default();
        let mut members = TxSet::default();
        members.insert(TxIndex(3));
        members.insert(TxIndex(700));
        let set = ReconciledSet {
            members,
            lacked: vec![[9; 32]],
            built_at: 800,
        };
        known.keep("P", set, Some(5));
        let (back, built_at, cursor) = known.get("P", &graph).expect("kept");
        assert_eq!((built_at, cursor), (800, Some(5)));
        assert_eq!(back.members.members(), [TxIndex(3), TxIndex(700)]);
        assert_eq!(back.lacked, [[9; 32]]);
        assert_eq!(known.usage().1, 1);
        known.forget("P");
        assert_eq!(known.usage(), (0, 0));
    }
}
