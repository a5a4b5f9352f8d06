//! The `clock` import, and the [`Clock`] a runtime gives a node: wall time
//! for a real node, virtual time for a simulation. WASI's clocks read the
//! same clock, so a guest cannot tell real time from simulated time.

use crate::bindings::ledger_sync::plugin::clock;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a node's time comes from.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the UNIX epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// The `clock` import's state: the node's clock.
pub struct ClockImport {
    clock: Arc<dyn Clock>,
}

impl ClockImport {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        ClockImport { clock }
    }
}

impl clock::Host for ClockImport {
    fn now_ms(&mut self) -> u64 {
        self.clock.now_ms()
    }
}

/// The node's clock as WASI's wall and monotonic clocks.
pub struct WasiClock(pub Arc<dyn Clock>);

impl wasmtime_wasi::HostWallClock for WasiClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms())
    }
}

impl wasmtime_wasi::HostMonotonicClock for WasiClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.0.now_ms().saturating_mul(1_000_000)
    }
}
