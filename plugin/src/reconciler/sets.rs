//! The sets a reconciliation runs over, in one place. Each is built from
//! the ledger graph after catching it up with the vault:
//! - the responder's set for a requester — exactly the seed's definition
//!   (every transaction involving the requester, with back-chains) — and
//!   its roots beyond the pair ([`LedgerGraph::responder_sets`]);
//! - the requester's set for a responder before the roots filter, with the
//!   candidates a filter would test ([`LedgerGraph::requester_core`]);
//! - the requester's set once the responder's roots are applied: the set
//!   before the filter is kept by the session ([`RequesterCore`]) and
//!   extended, not built again.
//!
//! The graph itself is built in [`super::graph_catch_up`]; the keyed hash
//! the sets are coded under is [`crate::keyed_hash`].

use super::graph_catch_up::read_vault;
use super::requester::RequesterSets;
use crate::graph::{LedgerGraph, PartyHandle, SetBuilder, TxIndex, TxSet};
use crate::host::Host;
use crate::id::TxId;
use crate::root_filter::RootMatcher;

/// A requester's set before the roots filter, kept by its session until
/// the responder's roots arrive: the set, and the candidates (our
/// transactions outside it that a roots filter tests), newest first.
#[derive(Debug, Default)]
pub(super) struct RequesterCore {
    pub(super) set: TxSet,
    pub(super) candidates: Vec<TxIndex>,
}

impl RequesterCore {
    /// The core, if a roots filter may extend it: only when there are
    /// candidates to test (else no filter is asked for).
    pub(super) fn keep(core: RequesterCore) -> Option<RequesterCore> {
        (!core.candidates.is_empty()).then_some(core)
    }
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

    fn ids(&self, set: impl IntoIterator<Item = TxIndex>) -> Vec<TxId> {
        set.into_iter().map(|i| self.graph.id(i)).collect()
    }

    /// Whether each of `ids` is in the seed's set for the party: what a
    /// reconciliation could tell the party it lacks, so what recovery may
    /// send it. False for an id the graph does not hold.
    pub(super) fn shared_with(&mut self, ids: &[TxId]) -> Result<Vec<bool>, String> {
        let (party, _) = self.handles()?;
        let set = self.graph.party_set(party);
        Ok(ids
            .iter()
            .map(|id| self.graph.find(id).is_some_and(|t| set.contains(t)))
            .collect())
    }

    /// The responder's set for the party (the requester), and the ids of
    /// its roots beyond the pair.
    pub(super) fn responder_sets(&mut self) -> Result<(Vec<TxId>, Vec<TxId>), String> {
        let (requester, me) = self.handles()?;
        let (set, roots) = self.graph.responder_sets(requester, me);
        Ok((self.ids(set), self.ids(roots)))
    }
}

impl<H: Host> RequesterSets for PairSets<'_, H> {
    fn core(&mut self) -> Result<(Vec<TxId>, RequesterCore), String> {
        let (responder, me) = self.handles()?;
        let (set, candidates) = self.graph.requester_core(responder, me);
        let set = set.into_tx_set();
        let ids = self.ids(set.members());
        Ok((ids, RequesterCore { set, candidates }))
    }

    fn add_roots(&mut self, core: RequesterCore, roots: &RootMatcher) -> (Vec<TxId>, usize) {
        let mut set = SetBuilder::extend(self.graph, core.set);
        let mut passed = 0;
        for t in core.candidates {
            if !set.contains(t) && roots.contains(&self.graph.id(t)) {
                set.add_with_back_chain(t);
                passed += 1;
            }
        }
        let (_, added) = set.into_added();
        (self.ids(added), passed)
    }
}
