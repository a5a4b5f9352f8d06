//! The sets a reconciliation runs over, in one place. Each is built from
//! the ledger graph after catching it up with the vault:
//! - the responder's set for a requester — exactly the seed's definition
//!   (every transaction involving the requester, with back-chains) — and
//!   its roots beyond the pair ([`LedgerGraph::responder_sets`]);
//! - the requester's set for a responder before the roots filter, with the
//!   candidates a filter would test ([`LedgerGraph::requester_core`]);
//! - the requester's set once the responder's roots are applied.
//!
//! The graph itself is built in [`super::graph_catch_up`]; the keyed hash
//! the sets are coded under is [`crate::keyed_hash`].

use super::graph_catch_up::read_vault;
use super::requester::RequesterSets;
use crate::graph::{LedgerGraph, PartyHandle, TxIndex};
use crate::host::Host;
use crate::id::TxId;
use crate::root_filter::RootMatcher;

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

    /// The responder's set for the party (the requester), and the ids of
    /// its roots beyond the pair.
    pub(super) fn responder_sets(&mut self) -> Result<(Vec<TxId>, Vec<TxId>), String> {
        let (requester, me) = self.handles()?;
        let (set, roots) = self.graph.responder_sets(requester, me);
        Ok((self.ids(set), self.ids(roots)))
    }
}

impl<H: Host> RequesterSets for PairSets<'_, H> {
    fn core(&mut self) -> Result<(Vec<TxId>, u64), String> {
        let (responder, me) = self.handles()?;
        let (set, candidates) = self.graph.requester_core(responder, me);
        let set = set.into_set();
        Ok((self.ids(set), candidates.len() as u64))
    }

    fn with_roots(&mut self, roots: &RootMatcher) -> Result<(Vec<TxId>, usize), String> {
        let (responder, me) = self.handles()?;
        let (mut set, candidates) = self.graph.requester_core(responder, me);
        let mut passed = 0;
        for t in candidates {
            if !set.contains(t) && roots.contains(&self.graph.id(t)) {
                set.add_with_back_chain(t);
                passed += 1;
            }
        }
        let set = set.into_set();
        Ok((self.ids(set), passed))
    }
}
