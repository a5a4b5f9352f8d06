//! Why a flow was refused, in the seed's words, with what the operator
//! should do about it. The WIT `flow-error` variant carries the same cases;
//! hosts convert it to this type to show it.

use std::fmt;

/// Why a flow was refused; mirrors the WIT `flow-error` case by case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowError {
    /// The node named itself.
    SelfReconciliation(String),
    /// An outgoing reconciliation with the party is queued or running.
    ReconciliationAlreadyScheduled(String),
    /// The party is reconciling with us (the other direction).
    IncomingReconciliationInProgress(String),
    LedgerGraphNotInitialised,
    LedgerGraphNotSelfConsistent(Vec<String>),
    InvalidArgument(String),
    Storage(String),
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::SelfReconciliation(p) => write!(
                f,
                "a party cannot reconcile with itself ({p}); name a counterparty instead"
            ),
            FlowError::ReconciliationAlreadyScheduled(p) => write!(
                f,
                "ReconciliationAlreadyScheduledException: an outgoing reconciliation with {p} is \
                 already scheduled or running; wait for it to end (IsReconciliationScheduledForParty) \
                 or stop it (StopReconciliationForParty), then schedule again"
            ),
            FlowError::IncomingReconciliationInProgress(p) => write!(
                f,
                "ReconciliationAlreadyScheduledException: {p} is reconciling with this node right \
                 now, in the other direction; wait for it to end \
                 (IsRespondingToReconciliationForParty), then schedule again"
            ),
            FlowError::LedgerGraphNotInitialised => f.write_str(
                "the ledger graph is not initialised yet; try again once it is built \
                 (the LedgerGraphIsInitialized metric turns true)",
            ),
            FlowError::LedgerGraphNotSelfConsistent(errors) => write!(
                f,
                "the ledger graph is not self-consistent; restore the node to a consistent state \
                 first: {}",
                errors.join("; ")
            ),
            FlowError::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            FlowError::Storage(why) => write!(
                f,
                "storage failure: {why}; nothing already stored was lost — check the node's \
                 database, then run the flow again"
            ),
        }
    }
}

impl std::error::Error for FlowError {}
