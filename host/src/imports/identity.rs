//! The `identity` import: the node's own legal name.

use crate::bindings::ledger_sync::plugin::identity;

/// The `identity` import's state.
pub struct IdentityImport {
    name: String,
}

impl IdentityImport {
    pub fn new(name: &str) -> Self {
        IdentityImport {
            name: name.to_string(),
        }
    }
}

impl identity::Host for IdentityImport {
    fn our_name(&mut self) -> String {
        self.name.clone()
    }
}
