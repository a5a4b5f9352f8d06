//! The `messaging` import: a node's outbox. The network takes what the
//! plugin queued after each call and delivers it in order.

use crate::bindings::ledger_sync::plugin::messaging::{self, SendError};
use crate::node::{NodeState, OutboundMessage};

impl messaging::Host for NodeState {
    fn max_message_size(&mut self) -> u32 {
        self.max_message_size
    }

    fn send(&mut self, to: String, payload: Vec<u8>) -> Result<(), SendError> {
        if payload.len() > self.max_message_size as usize {
            return Err(SendError::MessageTooLarge(self.max_message_size));
        }
        if !self.directory.contains(&to) {
            return Err(SendError::UnknownParty(to));
        }
        self.outbox.push(OutboundMessage { to, payload });
        Ok(())
    }
}
