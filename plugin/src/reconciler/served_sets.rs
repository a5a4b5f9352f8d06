//! Our set for each requester as we last served it, with its digest under
//! the salt the requester used: a routine check comes back under the same
//! salt (the one its set as last reconciled was learnt with). Brought up
//! to date with what the graph gained since — not a pass over the graph
//! and the set — it answers `Identical` when the requester holds it, or,
//! when the requester holds it as we served it last (its `base`), streams
//! only what it gained since (protocol 7).
//!
//! The same set answers a recovery responder's `shared-with` questions
//! about that party (is each id in our set for it?) without a pass over
//! the graph per question; a party never reconciled with has its set built
//! once by the first question and kept (without a digest) for the next.
//!
//! Memory: a bitmap over the graph per requester (one bit per
//! transaction), at most [`MAX_SERVED_BYTES`] in all; past that the
//! requester served longest ago is dropped, and its next check costs the
//! pass again. Nothing is kept across a restart.

use super::by_party::{ByParty, Weighed};
use crate::graph::{LedgerGraph, PartyHandle, SetBuilder, TxIndex, TxSet};
use crate::id::TxId;
use crate::riblt::RunningDigest;

/// All the sets kept take at most this many bytes.
pub(super) const MAX_SERVED_BYTES: usize = 64 << 20;

#[derive(Debug)]
struct Served {
    members: TxSet,
    /// The graph's length when `members` was last brought up to date.
    built_at: usize,
    /// Under the salt of the request it was served for; none for a set
    /// built for `shared-with`.
    digest: Option<RunningDigest>,
}

impl Served {
    /// Adds what the seed's set for `requester` gained since `built_at`
    /// (its digest follows); the roots beyond the pair among what it
    /// gained (see [`LedgerGraph::add_party_since`]), and what it gained.
    fn bring_up_to_date(
        &mut self,
        (requester, me): (Option<PartyHandle>, Option<PartyHandle>),
        graph: &LedgerGraph,
    ) -> (Vec<TxIndex>, Vec<TxIndex>) {
        let (mut gained, mut roots) = (Vec::new(), Vec::new());
        if let Some(requester) = requester
            && self.built_at < graph.len()
        {
            let mut set = SetBuilder::extend(graph, std::mem::take(&mut self.members));
            roots = graph.add_party_since(&mut set, requester, me, self.built_at);
            let (members, added) = set.into_added();
            if let Some(digest) = &mut self.digest {
                for &t in &added {
                    digest.insert(&graph.id(t));
                }
            }
            self.members = members;
            gained = added;
        }
        self.built_at = graph.len();
        (gained, roots)
    }
}

impl Weighed for Served {
    fn bytes(&self) -> usize {
        self.members.reserved_bytes()
    }
}

/// Our set for a requester as we served it last, brought up to date.
#[derive(Debug)]
pub(super) struct BroughtUpToDate {
    /// Its digest as we served it last: what a requester that learnt it
    /// then gives as its `base`.
    pub(super) served_digest: u64,
    /// How many transactions it held then.
    pub(super) served_size: u64,
    /// Its digest now.
    pub(super) digest: u64,
    /// What it gained since.
    pub(super) gained: Vec<TxIndex>,
    /// The roots beyond the pair among those, newest first.
    pub(super) roots: Vec<TxIndex>,
}

/// Our sets for the requesters we served, by requester.
#[derive(Debug, Default)]
pub(super) struct ServedSets {
    sets: ByParty<Served, MAX_SERVED_BYTES>,
}

impl ServedSets {
    /// Our set for `party` (whose graph handle is `requester`; ours is
    /// `me`) under `salt`, brought up to date with what `graph` gained
    /// since, if a set is kept for it under that salt. What it gained is
    /// its part of what the graph gained: the cost follows the graph's
    /// growth, not the set.
    pub(super) fn bring_up_to_date(
        &mut self,
        party: &str,
        salt: u64,
        handles: (Option<PartyHandle>, Option<PartyHandle>),
        graph: &LedgerGraph,
    ) -> Option<BroughtUpToDate> {
        let digest = self.sets.get(party)?.digest?;
        if digest.salt() != salt {
            return None;
        }
        self.sets.update(party, |served| {
            let (served_digest, served_size) = (digest.value(), digest.len());
            let (gained, roots) = served.bring_up_to_date(handles, graph);
            let digest = served.digest.expect("checked above").value();
            BroughtUpToDate {
                served_digest,
                served_size,
                digest,
                gained,
                roots,
            }
        })
    }

    /// Whether each of `ids` is in our set for `party` (whose graph handle
    /// is the first of `handles`; ours the second), from the set kept for
    /// it brought up to date, or built now and kept: one pass over the
    /// graph per party, not per question.
    pub(super) fn contains_each(
        &mut self,
        party: &str,
        handles: (Option<PartyHandle>, Option<PartyHandle>),
        graph: &LedgerGraph,
        ids: &[TxId],
    ) -> Vec<bool> {
        let answer = |members: &TxSet| -> Vec<bool> {
            ids.iter()
                .map(|id| graph.find(id).is_some_and(|t| members.contains(t)))
                .collect()
        };
        let kept = self.sets.update(party, |served| {
            served.bring_up_to_date(handles, graph);
            answer(&served.members)
        });
        if let Some(answer) = kept {
            return answer;
        }
        let members = graph.party_set(handles.0);
        let answered = answer(&members);
        let served = Served {
            members,
            built_at: graph.len(),
            digest: None,
        };
        self.sets.insert(party, served, true);
        answered
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
            digest: Some(digest),
        };
        self.sets.insert(party, served, true);
    }
}
