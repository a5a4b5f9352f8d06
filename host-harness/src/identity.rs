//! The `identity` import: the node's own legal name.

use crate::bindings::ledger_sync::plugin::identity;
use crate::node::NodeState;

impl identity::Host for NodeState {
    fn our_name(&mut self) -> String {
        self.name.clone()
    }
}
