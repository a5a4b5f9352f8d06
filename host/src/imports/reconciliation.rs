//! The `reconciliation` import: the reconciliation plugin's results and
//! flows for another plugin, answered only when node.conf grants it
//! `reconciliation` ([`crate::capabilities::Grants`]).

use crate::bindings::ledger_sync::plugin::reconciliation;
use crate::bindings::types::{FlowError, ReconciliationStatus};
use crate::capabilities::{GRANT_RECONCILIATION, ReconciliationResults, not_granted};
use std::sync::Arc;

/// The `reconciliation` import's state.
pub struct ReconciliationImport {
    /// The plugin's name, for the refusal.
    plugin: String,
    results: Option<Arc<dyn ReconciliationResults>>,
}

impl ReconciliationImport {
    /// `results` is `None` when the plugin is not granted them.
    pub fn new(plugin: &str, results: Option<Arc<dyn ReconciliationResults>>) -> Self {
        ReconciliationImport {
            plugin: plugin.to_string(),
            results,
        }
    }

    /// Whether the plugin is granted `reconciliation`.
    pub fn granted(&self) -> bool {
        self.results.is_some()
    }

    fn results(&self) -> Result<&dyn ReconciliationResults, FlowError> {
        self.results.as_deref().ok_or_else(|| {
            FlowError::InvalidArgument(not_granted(&self.plugin, GRANT_RECONCILIATION))
        })
    }
}

impl reconciliation::Host for ReconciliationImport {
    fn statuses(&mut self) -> Result<Vec<ReconciliationStatus>, FlowError> {
        let rows = self.results()?.statuses().map_err(FlowError::from)?;
        Ok(rows.iter().map(Into::into).collect())
    }

    fn schedule(&mut self, parties: Vec<String>) -> Result<(), FlowError> {
        self.results()?.schedule(&parties).map_err(FlowError::from)
    }

    fn refresh(&mut self) -> Result<(), FlowError> {
        self.results()?.refresh().map_err(FlowError::from)
    }

    fn shared_with(&mut self, party: String, ids: Vec<u8>) -> Result<Vec<bool>, FlowError> {
        self.results()?
            .shared_with(&party, &ids)
            .map_err(FlowError::from)
    }
}
