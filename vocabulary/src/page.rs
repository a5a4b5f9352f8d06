//! A page of vault metadata, as `vault.read-transactions` returns it: flat
//! arrays, so a page of many transactions costs a handful of copies. See the
//! WIT documentation of `transaction-page` for the layout.

use crate::id::TX_ID_LEN;

/// A page of transactions in the vault's recording order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransactionPage {
    pub ids: Vec<u8>,
    pub dependency_counts: Vec<u32>,
    pub dependencies: Vec<u8>,
    pub output_counts: Vec<u32>,
    pub participant_counts: Vec<u32>,
    pub participants: Vec<u32>,
    pub cursor: u64,
}

impl TransactionPage {
    /// An empty page whose cursor is `cursor`.
    pub fn empty(cursor: u64) -> Self {
        TransactionPage {
            cursor,
            ..TransactionPage::default()
        }
    }

    /// Number of transactions in the page.
    pub fn len(&self) -> usize {
        self.ids.len() / TX_ID_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Checks that the flat arrays agree with each other.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.len();
        if !self.ids.len().is_multiple_of(TX_ID_LEN) {
            return Err(format!(
                "vault page has {} id bytes, not a multiple of {TX_ID_LEN}",
                self.ids.len()
            ));
        }
        let deps: u64 = self.dependency_counts.iter().map(|&c| c as u64).sum();
        let outputs: u64 = self.output_counts.iter().map(|&c| c as u64).sum();
        let parts: u64 = self.participant_counts.iter().map(|&c| c as u64).sum();
        if self.dependency_counts.len() != n
            || self.output_counts.len() != n
            || deps * TX_ID_LEN as u64 != self.dependencies.len() as u64
            || outputs != self.participant_counts.len() as u64
            || parts != self.participants.len() as u64
        {
            return Err(format!(
                "vault page is inconsistent: {n} transactions, {} dependency counts \
                 summing to {deps} but {} dependency bytes, {} output counts summing to \
                 {outputs} but {} participant counts summing to {parts} but {} participants",
                self.dependency_counts.len(),
                self.dependencies.len(),
                self.output_counts.len(),
                self.participant_counts.len(),
                self.participants.len()
            ));
        }
        Ok(())
    }
}
