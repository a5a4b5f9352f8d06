//! The ledger graph's life inside the reconciler: building it from the
//! vault at start-up in slices (one timer tick each, so no call runs long),
//! catching it up with transactions recorded since before each set is built,
//! refusing work while it is not ready, and the set to reconcile with a
//! party.

use super::*;

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

    /// The ids to reconcile with `party`.
    pub(super) fn reconciliation_set(&mut self, party: &str) -> Result<Vec<TxId>, String> {
        self.catch_up()?;
        let handle = self
            .host
            .find_party(party)
            .map_err(|e| format!("could not look up party {party} in the vault: {e}"))?;
        let set = self.graph.reconciliation_set(handle);
        Ok(set.into_iter().map(|i| self.graph.id(i)).collect())
    }
}
