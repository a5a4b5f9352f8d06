//! The sets a reconciliation runs over, in one place. Each is built from
//! the ledger graph after catching it up with the vault:
//! - the responder's set for a requester — exactly the seed's definition
//!   (every transaction involving the requester, with back-chains) — and
//!   its roots beyond the pair ([`LedgerGraph::responder_sets`]);
//! - the requester's set for a responder before the roots filter, with the
//!   candidates a filter would test ([`LedgerGraph::requester_core`]);
//! - the requester's set once the responder's roots are applied: the set
//!   before the filter is kept by the session ([`RequesterCore`]) and
//!   extended, not built again;
//! - or, instead of the last two, the responder's set as last reconciled
//!   ([`super::known_sets`]), when a reconciliation with it has decoded
//!   since this plugin started.
//!
//! The graph itself is built in [`super::graph_catch_up`]; the keyed hash
//! the sets are coded under is [`crate::keyed_hash`].

use super::graph_catch_up::read_vault;
use super::known_sets::{KnownSets, ReconciledSet};
use super::requester::RequesterSets;
use crate::graph::{LedgerGraph, PartyHandle, SetBuilder, TxIndex, TxSet};
use crate::host::{Host, Level};
use crate::id::TxId;
use crate::riblt::RunningDigest;
use crate::root_filter::RootMatcher;
use ledger_sync_vocabulary::marker;

/// Where a requester's set starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// Our set for the pair (transactions involving both, with
    /// back-chains), which the party's roots filter may extend.
    Pair,
    /// The party's set as last reconciled ([`super::known_sets`]).
    LastReconciled,
}

/// Our transactions a roots filter would test (those outside our set),
/// newest first: listed — a first reconciliation finds them as it builds
/// its set — or only counted: a routine check lists them only if the
/// party's filter of new roots comes, so that an `Identical` never makes
/// the pass over the graph.
#[derive(Clone, Debug)]
pub(super) enum Candidates {
    Listed(Vec<TxIndex>),
    Counted(u64),
}

impl Candidates {
    pub(super) fn count(&self) -> u64 {
        match self {
            Candidates::Listed(list) => list.len() as u64,
            Candidates::Counted(count) => *count,
        }
    }
}

/// A requester's set as it starts: the set, where it comes from, the
/// candidates a roots filter would test, and — from the party's set as
/// last reconciled — the party's cursor then (so that its filter names
/// only roots it gained since), the set's digest under the salt it was
/// learnt with (so that the request needs no pass over the set), and the
/// two parts that digest covers: the party's set as last reconciled (its
/// digest, the request's `base`) and the ids our set for the pair gained
/// since (what a stream of the party's changes is peeled against).
#[derive(Debug)]
pub(super) struct RequesterCore {
    pub(super) set: ReconciledSet,
    pub(super) origin: Origin,
    pub(super) candidates: Candidates,
    pub(super) since: Option<u64>,
    pub(super) digest: Option<RunningDigest>,
    pub(super) base: Option<u64>,
    pub(super) gained: Vec<TxId>,
}

/// The sets between this node (`me`) and one `party`, read from the graph
/// (caught up with the vault through `host` first).
pub(super) struct PairSets<'a, H: Host> {
    pub(super) graph: &'a mut LedgerGraph,
    pub(super) host: &'a mut H,
    pub(super) me: &'a str,
    pub(super) party: &'a str,
    /// `transactionReaderPageSize`, for the catch-up.
    pub(super) page_size: u32,
    /// The parties' sets as last reconciled.
    pub(super) known: &'a mut KnownSets,
}

impl<H: Host> PairSets<'_, H> {
    /// The graph handles of the party and of this node, after catching the
    /// graph up with transactions recorded since it was built.
    fn handles(&mut self) -> Result<(Option<PartyHandle>, Option<PartyHandle>), String> {
        read_vault(self.graph, self.host, self.page_size, u64::MAX)?;
        let host = &mut *self.host;
        let mut find = |name: &str| {
            host.find_party(name)
                .map(|handle| handle.map(PartyHandle))
                .map_err(|e| format!("could not look up party {name} in the vault: {e}"))
        };
        Ok((find(self.party)?, find(self.me)?))
    }

    fn ids_of(&self, set: impl IntoIterator<Item = TxIndex>) -> Vec<TxId> {
        set.into_iter().map(|i| self.graph.id(i)).collect()
    }

    /// The responder's set for the party (the requester), the ids of its
    /// roots beyond the pair — only those from graph position `since` on,
    /// when the requester's cursor gave one — and the graph's length (the
    /// position to give it as our cursor).
    pub(super) fn responder_sets(
        &mut self,
        since: Option<u32>,
    ) -> Result<(Vec<TxId>, Vec<TxId>, u32, TxSet), String> {
        let (requester, me) = self.handles()?;
        let (members, mut roots) = self.graph.responder_sets(requester, me);
        if let Some(since) = since {
            roots.retain(|t| t.0 >= since);
        }
        let position = self.graph.len() as u32;
        Ok((
            self.ids_of(members.members()),
            self.ids_of(roots),
            position,
            members,
        ))
    }

    /// The graph handles of the party and of this node, after catching
    /// the graph up with the vault.
    pub(super) fn pair_handles(
        &mut self,
    ) -> Result<(Option<PartyHandle>, Option<PartyHandle>), String> {
        self.handles()
    }
}

impl<H: Host> RequesterSets for PairSets<'_, H> {
    fn core(&mut self) -> Result<(Option<Vec<TxId>>, RequesterCore), String> {
        let (responder, me) = self.handles()?;
        let mut notes = Vec::new();
        let kept = self
            .known
            .get(self.party, self.graph, self.host, &mut notes);
        for note in notes {
            self.host
                .log(Level::Info, marker::RECONCILE_WITH_PARTY, &note);
        }
        let core = match kept {
            Some(kept) => {
                let mut set = kept.set;
                // What our set for the pair gained since is added: the
                // party holds it too, unless it lost it.
                let mut builder = SetBuilder::extend(self.graph, std::mem::take(&mut set.members));
                self.graph
                    .add_pair_since(&mut builder, responder, me, kept.built_at);
                let (members, added) = builder.into_added();
                set.members = members;
                let mut digest = kept.digest;
                let base = digest.map(|d| d.value());
                let gained = match &mut digest {
                    Some(digest) => {
                        let gained = self.ids_of(added);
                        for id in &gained {
                            digest.insert(id);
                        }
                        gained
                    }
                    None => Vec::new(),
                };
                // Without the party's cursor its filter would name all its
                // roots again: none is asked for, and the roots it gained
                // cross as symbols. With its cursor and our digest (so a
                // `base`, for a stream of changes), only our transactions
                // since the set was learnt are tested: a walk of what the
                // graph gained, not of the graph.
                let candidates = match (kept.cursor, base) {
                    (None, _) => Candidates::Counted(0),
                    (Some(_), Some(_)) => Candidates::Listed(self.graph.candidates_since(
                        &set.members,
                        responder,
                        me,
                        kept.built_at,
                    )),
                    (Some(_), None) => Candidates::Counted(kept.candidates),
                };
                RequesterCore {
                    set,
                    origin: Origin::LastReconciled,
                    candidates,
                    since: kept.cursor,
                    digest,
                    base,
                    gained,
                }
            }
            None => {
                let (set, candidates) = self.graph.requester_core(responder, me);
                RequesterCore {
                    set: ReconciledSet::of(set.into_tx_set(), self.graph),
                    origin: Origin::Pair,
                    candidates: Candidates::Listed(candidates),
                    since: None,
                    digest: None,
                    base: None,
                    gained: Vec::new(),
                }
            }
        };
        let ids = match core.digest {
            Some(_) => None,
            None => Some(core.set.ids(self.graph)),
        };
        Ok((ids, core))
    }

    fn ids(&mut self, set: &ReconciledSet) -> Vec<TxId> {
        set.ids(self.graph)
    }

    fn add_roots(
        &mut self,
        ours: &mut ReconciledSet,
        candidates: Candidates,
        roots: &RootMatcher,
    ) -> (Vec<TxId>, usize, u64) {
        let candidates = match candidates {
            Candidates::Listed(list) => list,
            Candidates::Counted(_) => {
                let host = &mut *self.host;
                let mut find = |name: &str| host.find_party(name).ok().flatten().map(PartyHandle);
                let (responder, me) = (find(self.party), find(self.me));
                self.graph.candidates_outside(&ours.members, responder, me)
            }
        };
        let listed = candidates.len() as u64;
        let mut set = SetBuilder::extend(self.graph, std::mem::take(&mut ours.members));
        let mut passed = 0;
        for t in candidates {
            if !set.contains(t) && roots.contains(&self.graph.id(t)) {
                set.add_with_back_chain(t);
                passed += 1;
            }
        }
        let (members, added) = set.into_added();
        ours.members = members;
        (self.ids_of(added), passed, listed)
    }
}
