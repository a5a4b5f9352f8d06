//! The `clock` import, and the virtual clock that drives a whole network.
//!
//! Every node of a [`crate::network::Network`] shares one [`VirtualClock`];
//! only the network advances it, so tests are deterministic and never sleep.
//! WASI's clocks read the same virtual time.

use crate::bindings::ledger_sync::plugin::clock;
use crate::node::NodeState;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Milliseconds since the UNIX epoch, shared by every node that holds a clone.
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

impl wasmtime_wasi::HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }
}

impl wasmtime_wasi::HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.now_ms().saturating_mul(1_000_000)
    }
}

impl clock::Host for NodeState {
    fn now_ms(&mut self) -> u64 {
        self.clock.now_ms()
    }
}
