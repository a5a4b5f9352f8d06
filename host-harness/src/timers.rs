//! The `timers` import: a node's pending timers. The network fires them in
//! due-time order as it advances the virtual clock.

use crate::bindings::ledger_sync::plugin::timers;
use crate::node::NodeState;

impl timers::Host for NodeState {
    fn set_timer(&mut self, id: u64, delay_ms: u64) {
        let due = self.clock.now_ms().saturating_add(delay_ms);
        self.timers.insert(id, due);
    }

    fn cancel_timer(&mut self, id: u64) {
        self.timers.remove(&id);
    }
}
