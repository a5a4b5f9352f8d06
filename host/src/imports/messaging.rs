//! The `messaging` import: the node's outbox. The runtime driving the node
//! takes what the plugin queued after each call ([`crate::Node::take_effects`])
//! and delivers it however it delivers messages.

use crate::bindings::ledger_sync::plugin::messaging::{self, SendError};
use std::sync::Arc;

/// The nodes of the network, as the runtime knows them.
pub trait Peers: Send + Sync + 'static {
    /// Whether `name` is a node of the network.
    fn is_peer(&self, name: &str) -> bool;
}

/// A message the plugin queued for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage {
    pub to: String,
    pub payload: Vec<u8>,
}

/// The `messaging` import's state.
pub struct MessagingImport {
    me: String,
    peers: Arc<dyn Peers>,
    max_message_size: u32,
    /// Most payload bytes queued before the runtime takes the outbox.
    max_queued_bytes: usize,
    outbox: Vec<OutboundMessage>,
    queued_bytes: usize,
}

impl MessagingImport {
    pub fn new(me: &str, peers: Arc<dyn Peers>, max_message_size: u32, max_queued: usize) -> Self {
        MessagingImport {
            me: me.to_string(),
            peers,
            max_message_size,
            max_queued_bytes: max_queued,
            outbox: Vec::new(),
            queued_bytes: 0,
        }
    }

    /// The messages queued since the last take, in order.
    pub fn take_outbox(&mut self) -> Vec<OutboundMessage> {
        self.queued_bytes = 0;
        std::mem::take(&mut self.outbox)
    }
}

impl messaging::Host for MessagingImport {
    fn max_message_size(&mut self) -> u32 {
        self.max_message_size
    }

    fn send(&mut self, to: String, payload: Vec<u8>) -> Result<(), SendError> {
        if payload.len() > self.max_message_size as usize {
            return Err(SendError::MessageTooLarge(self.max_message_size));
        }
        if to == self.me || !self.peers.is_peer(&to) {
            return Err(SendError::UnknownParty(to));
        }
        if self.queued_bytes.saturating_add(payload.len()) > self.max_queued_bytes {
            return Err(SendError::Unavailable(format!(
                "the host holds at most {} queued bytes for delivery and {} are queued",
                self.max_queued_bytes, self.queued_bytes
            )));
        }
        self.queued_bytes += payload.len();
        self.outbox.push(OutboundMessage { to, payload });
        Ok(())
    }

    fn is_network_party(&mut self, name: String) -> bool {
        name != self.me && self.peers.is_peer(&name)
    }
}
