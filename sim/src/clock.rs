//! The virtual clock: every node of a [`crate::network::Network`] shares
//! one, and only the network advances it, so runs are deterministic and
//! never sleep. The host's imports and WASI's clocks read it through
//! [`ledger_sync_host::Clock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Milliseconds since the UNIX epoch, shared by every holder of a clone.
#[derive(Clone, Debug)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        VirtualClock(Arc::new(AtomicU64::new(start_ms)))
    }

    pub fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves time forward to `ms` (never backwards).
    pub fn advance_to(&self, ms: u64) {
        self.0.fetch_max(ms, Ordering::SeqCst);
    }
}

impl ledger_sync_host::Clock for VirtualClock {
    fn now_ms(&self) -> u64 {
        VirtualClock::now_ms(self)
    }
}

/// One node's view of the virtual clock: the shared time plus an offset the
/// simulation can jump (a node whose clock was set wrong, or corrected).
#[derive(Clone, Debug)]
pub struct NodeClock {
    shared: VirtualClock,
    offset_ms: Arc<AtomicI64>,
}

impl NodeClock {
    pub fn new(shared: VirtualClock) -> Self {
        NodeClock {
            shared,
            offset_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Moves this node's clock by `delta_ms` (either way) from now on.
    pub fn jump(&self, delta_ms: i64) {
        self.offset_ms.fetch_add(delta_ms, Ordering::SeqCst);
    }
}

impl ledger_sync_host::Clock for NodeClock {
    fn now_ms(&self) -> u64 {
        let offset = self.offset_ms.load(Ordering::SeqCst);
        self.shared.now_ms().saturating_add_signed(offset)
    }
}
