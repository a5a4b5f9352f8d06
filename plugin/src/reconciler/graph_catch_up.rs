//! The ledger graph's life inside the reconciler: building it from the
//! vault at start-up in slices (one timer tick each, so no call runs long),
//! catching it up with transactions recorded since before each set is built,
//! refusing work while it is not ready, and the set to reconcile with a
//! party.

use super::{Reconciler, timer};
use crate::graph::{PartyHandle, TxIndex};
use crate::host::{Host, Level};
use crate::id::TxId;
use crate::root_filter::RootMatcher;
use ledger_sync_vocabulary::FlowError;

/// Transactions read per graph-building step, so that start-up never holds
/// the node in one long call.
const GRAPH_STEP_TRANSACTIONS: u64 = 250_000;

impl<H: Host> Reconciler<H> {
    /// Reads vault pages into the graph; at most `budget` transactions.
    /// Returns true when the end of the vault was reached.
    pub(super) fn read_vault(&mut self, budget: u64) -> Result<bool, String> {
        let page_size = self.config.transaction_reader_page_size;
        let mut read = 0u64;
        while read < budget {
            let page = self
                .host
                .read_transactions(self.graph.cursor(), page_size)
                .map_err(|e| format!("could not read the vault: {e}"))?;
            if page.is_empty() {
                return Ok(true);
            }
            if page.cursor <= self.graph.cursor() {
                return Err(format!(
                    "the vault returned a page that does not advance (cursor {} after {})",
                    page.cursor,
                    self.graph.cursor()
                ));
            }
            read += page.len() as u64;
            self.graph.ingest(&page)?;
        }
        Ok(false)
    }

    pub(super) fn graph_step(&mut self) {
        match self.read_vault(GRAPH_STEP_TRANSACTIONS) {
            Ok(false) => self.host.set_timer(timer::GRAPH_STEP, 0),
            Ok(true) => {
                self.graph_initialised = true;
                let consistent = self.graph.is_self_consistent();
                let message = format!(
                    "ledger graph initialised: {} transactions, {}",
                    self.graph.len(),
                    if consistent {
                        "self-consistent".to_string()
                    } else {
                        format!("NOT self-consistent: {}", self.graph.errors().join("; "))
                    }
                );
                self.log(
                    if consistent {
                        Level::Info
                    } else {
                        Level::Error
                    },
                    "",
                    &message,
                );
                self.host.set_timer(timer::SCHEDULER, 0);
                let every = self.config.recurring_reconciliation_interval_ms;
                if every > 0 {
                    self.host.set_timer(timer::RECURRING, every);
                }
            }
            Err(e) => {
                self.log(
                    Level::Error,
                    "",
                    &format!("ledger graph initialisation failed: {e}"),
                );
                self.graph_error = Some(e);
            }
        }
    }

    /// Brings the graph up to date with transactions recorded since it was
    /// built.
    pub(super) fn catch_up(&mut self) -> Result<(), String> {
        self.read_vault(u64::MAX).map(|_| ())
    }

    pub(super) fn readiness(&self) -> Result<(), FlowError> {
        if !self.graph_initialised {
            return Err(FlowError::LedgerGraphNotInitialised);
        }
        if !self.graph.is_self_consistent() {
            return Err(FlowError::LedgerGraphNotSelfConsistent(self.graph.errors()));
        }
        Ok(())
    }

    /// The graph handles of `party` and of this node, after catching up.
    fn handles(
        &mut self,
        party: &str,
    ) -> Result<(Option<PartyHandle>, Option<PartyHandle>), String> {
        self.catch_up()?;
        let mut find = |name: &str| {
            self.host
                .find_party(name)
                .map(|handle| handle.map(PartyHandle))
                .map_err(|e| format!("could not look up party {name} in the vault: {e}"))
        };
        let me = self.me.clone();
        Ok((find(party)?, find(&me)?))
    }

    fn ids(&self, set: impl IntoIterator<Item = TxIndex>) -> Vec<TxId> {
        set.into_iter().map(|i| self.graph.id(i)).collect()
    }

    /// The responder's set for `requester` (the seed's definition), and the
    /// ids of its roots beyond the pair (see
    /// [`LedgerGraph::responder_sets`](crate::graph::LedgerGraph::responder_sets)).
    pub(super) fn responder_sets(
        &mut self,
        requester: &str,
    ) -> Result<(Vec<TxId>, Vec<TxId>), String> {
        let (requester, me) = self.handles(requester)?;
        let (set, roots) = self.graph.responder_sets(requester, me);
        Ok((self.ids(set), self.ids(roots)))
    }

    /// The requester's set for `responder` before any roots filter, and how
    /// many candidates it would test against one (see
    /// [`LedgerGraph::requester_core`](crate::graph::LedgerGraph::requester_core)).
    pub(super) fn requester_core(&mut self, responder: &str) -> Result<(Vec<TxId>, u64), String> {
        let (responder, me) = self.handles(responder)?;
        let (set, candidates) = self.graph.requester_core(responder, me);
        let set = set.into_set();
        Ok((self.ids(set), candidates.len() as u64))
    }

    /// The requester's set for `responder` with the candidates that pass
    /// the responder's roots filter added, each with its back-chain; and how
    /// many passed.
    pub(super) fn requester_set_with_roots(
        &mut self,
        responder: &str,
        roots: &RootMatcher,
    ) -> Result<(Vec<TxId>, usize), String> {
        let (responder, me) = self.handles(responder)?;
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
