//! Our set for each requester as we last served it, with its digest under
//! the salt the requester used: a routine check comes back under the same
//! salt (the one its set as last reconciled was learnt with), and is
//! answered `Identical` after adding what the graph gained since — not a
//! pass over the graph and the set.
//!
//! Memory: a bitmap over the graph per requester (one bit per
//! transaction), at most [`MAX_SERVED_BYTES`] in all; past that the
//! requester served longest ago is dropped, and its next check costs the
//! pass again. Nothing is kept across a restart.

use super::by_party::{ByParty, Weighed};
use crate::graph::{LedgerGraph, PartyHandle, SetBuilder, TxSet};
use crate::riblt::RunningDigest;

/// All the sets kept take at most this many bytes.
pub(super) const MAX_SERVED_BYTES: usize = 64 << 20;

#[derive(Debug)]
struct Served {
    members: TxSet,
    /// The graph's length when `members` was last brought up to date.
    built_at: usize,
    digest: RunningDigest,
}

impl Weighed for Served {
    fn bytes(&self) -> usize {
        self.members.reserved_bytes()
    }
}

/// Our sets for the requesters we served, by requester.
#[derive(Debug, Default)]
pub(super) struct ServedSets {
    sets: ByParty<Served, MAX_SERVED_BYTES>,
}

impl ServedSets {
    /// The digest of our set for `party` (whose graph handle is
    /// `requester`) under `salt`, brought up to date with what `graph`
    /// gained since, if a set is kept for it under that salt.
    pub(super) fn digest(
        &mut self,
        party: &str,
        salt: u64,
        requester: Option<PartyHandle>,
        graph: &LedgerGraph,
    ) -> Option<u64> {
        if self.sets.get(party)?.digest.salt() != salt {
            return None;
        }
        self.sets.update(party, |served| {
            if let Some(requester) = requester
                && served.built_at < graph.len()
            {
                let mut set = SetBuilder::extend(graph, std::mem::take(&mut served.members));
                graph.add_party_since(&mut set, requester, served.built_at);
                let (members, added) = set.into_added();
                for t in added {
                    served.digest.insert(&graph.id(t));
                }
                served.members = members;
            }
            served.built_at = graph.len();
            served.digest.value()
        })
    }

    /// Keeps our set for `party`, built over the graph's first `built_at`
    /// transactions, with its digest; drops the sets served longest ago
    /// until all fit.
    pub(super) fn keep(
        &mut self,
        party: &str,
        members: TxSet,
        built_at: usize,
        digest: RunningDigest,
    ) {
        let served = Served {
            members,
            built_at,
            digest,
        };
        self.sets.insert(party, served, true);
    }
}
