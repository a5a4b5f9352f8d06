//! The ledger graph's life inside the reconciler: building it from the
//! vault at start-up in slices (one timer tick each, so no call runs long),
//! reading the vault past the graph's cursor (the catch-up before each set
//! is built, see [`super::sets`]), and refusing work while the graph is not
//! ready.

use super::{Reconciler, timer};
use crate::graph::LedgerGraph;
use crate::host::{Host, Level};
use ledger_sync_vocabulary::FlowError;

/// Transactions read per graph-building step, so that start-up never holds
/// the node in one long call.
const GRAPH_STEP_TRANSACTIONS: u64 = 250_000;

/// Reads vault pages of `page_size` past the graph's cursor into the
/// graph; at most `budget` transactions. Returns true when the end of the
/// vault was reached.
pub(super) fn read_vault<H: Host>(
    graph: &mut LedgerGraph,
    host: &mut H,
    page_size: u32,
    budget: u64,
) -> Result<bool, String> {
    let mut read = 0u64;
    while read < budget {
        let page = host
            .read_transactions(graph.cursor(), page_size)
            .map_err(|e| format!("could not read the vault: {e}"))?;
        if page.is_empty() {
            return Ok(true);
        }
        if page.cursor <= graph.cursor() {
            return Err(format!(
                "the vault returned a page that does not advance (cursor {} after {})",
                page.cursor,
                graph.cursor()
            ));
        }
        read += page.len() as u64;
        graph.ingest(&page)?;
    }
    Ok(false)
}

impl<H: Host> Reconciler<H> {
    pub(super) fn graph_step(&mut self) {
        let page_size = self.config.transaction_reader_page_size;
        match read_vault(
            &mut self.graph,
            &mut self.host,
            page_size,
            GRAPH_STEP_TRANSACTIONS,
        ) {
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

    pub(super) fn readiness(&self) -> Result<(), FlowError> {
        if !self.graph_initialised {
            return Err(FlowError::LedgerGraphNotInitialised);
        }
        if !self.graph.is_self_consistent() {
            return Err(FlowError::LedgerGraphNotSelfConsistent(self.graph.errors()));
        }
        Ok(())
    }
}
