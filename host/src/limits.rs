//! What one node's plugin may consume, and the memory limiter that enforces
//! the memory cap across the whole instance.
//!
//! Every bound on what a guest can make the host hold is here: linear memory,
//! CPU time per call, the length of a log message, the log lines kept for
//! tests, the bytes one call may queue with `send`, and the timers pending at
//! once.

use std::time::Duration;

/// What one node's plugin may consume.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The most linear memory (and table space, counted as memory) the
    /// instance may hold, all its memories together.
    pub memory_bytes: usize,
    /// Longest a single call into the plugin may run.
    pub call_timeout: Duration,
    /// Longest log message kept; the rest is cut, saying how much.
    pub max_log_message_bytes: usize,
    /// Log lines kept in memory when a node captures its logs (the oldest
    /// are dropped first).
    pub max_captured_logs: usize,
    /// Bytes the plugin may queue with `send` before the runtime takes them
    /// ([`crate::Node::take_effects`], after every event); past it `send`
    /// answers `unavailable`.
    pub max_queued_bytes: usize,
    /// Timers pending at once; setting one more traps the instance.
    pub max_pending_timers: usize,
    /// Log lines a plugin may write per minute of the node's clock, with a
    /// burst of as many: past it lines are dropped, and the next line
    /// written says how many were. The host bounds what any plugin can log,
    /// whatever the plugin itself limits.
    pub max_log_lines_per_minute: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 4 << 30,
            call_timeout: Duration::from_secs(120),
            max_log_message_bytes: 8 << 10,
            max_captured_logs: 10_000,
            max_queued_bytes: 64 << 20,
            max_pending_timers: 10_000,
            max_log_lines_per_minute: 12_000,
        }
    }
}

/// Tracks and caps an instance's linear memories, summed.
pub struct MemoryLimiter {
    max_bytes: usize,
    /// Sum of the current sizes of the instance's memories.
    current_bytes: usize,
    /// Largest sum reached.
    peak_bytes: usize,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        MemoryLimiter {
            max_bytes,
            current_bytes: 0,
            peak_bytes: 0,
        }
    }

    /// The instance's linear memory now.
    pub fn current_bytes(&self) -> usize {
        self.current_bytes
    }

    /// The most the instance's linear memory has been.
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes
    }
}

/// Table elements allowed per instance (Rust guests use one small table).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let others = self.current_bytes - current.min(self.current_bytes);
        let total = others.saturating_add(desired);
        if total > self.max_bytes {
            return Ok(false);
        }
        self.current_bytes = total;
        self.peak_bytes = self.peak_bytes.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
