//! The `timers` import: which timers are pending, and the commands the
//! runtime carries out on its own clock ([`crate::Node::take_effects`]).
//!
//! Commands are coalesced per timer id until the runtime takes them — only
//! the last word on each id matters — so however a guest loops over
//! `set-timer` and `cancel-timer` in one call, what the host holds stays
//! within twice [`crate::Limits::max_pending_timers`] entries.

use crate::bindings::ledger_sync::plugin::timers;
use hashbrown::HashSet;
use std::collections::BTreeMap;

/// What the plugin asked of the runtime's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerCommand {
    /// Fire `on-timer(id)` after `delay_ms`, replacing a pending `id`.
    Set { id: u64, delay_ms: u64 },
    /// Forget the pending timer `id`.
    Cancel { id: u64 },
    /// Forget every pending timer of this node: its instance was replaced.
    /// Always comes before any other command in the same batch.
    CancelAll,
}

impl TimerCommand {
    /// Carries the command out on a runtime's timer table; `due` gives the
    /// time a timer set now fires after `delay_ms`.
    pub fn apply<T: Ord + Copy>(
        self,
        table: &mut ledger_sync_vocabulary::timers::TimerTable<T>,
        due: impl FnOnce(u64) -> T,
    ) {
        match self {
            TimerCommand::Set { id, delay_ms } => table.set(id, due(delay_ms)),
            TimerCommand::Cancel { id } => table.cancel(id),
            TimerCommand::CancelAll => table.clear(),
        }
    }
}

/// The `timers` import's state.
pub struct TimersImport {
    /// Pending as the plugin sees them.
    pending: HashSet<u64>,
    /// Pending as the runtime last heard.
    at_runtime: HashSet<u64>,
    /// Not yet taken: per id, a delay to set or `None` to cancel.
    changes: BTreeMap<u64, Option<u64>>,
    cancel_all: bool,
    max_pending: usize,
}

impl TimersImport {
    pub fn new(max_pending: usize) -> Self {
        TimersImport {
            pending: HashSet::new(),
            at_runtime: HashSet::new(),
            changes: BTreeMap::new(),
            cancel_all: false,
            max_pending,
        }
    }

    /// The runtime is firing `id` (it has dropped it already).
    pub fn firing(&mut self, id: u64) {
        self.pending.remove(&id);
        self.at_runtime.remove(&id);
    }

    /// The instance is being replaced: none of its timers may fire.
    pub fn cancel_all(&mut self) {
        self.pending.clear();
        self.at_runtime.clear();
        self.changes.clear();
        self.cancel_all = true;
    }

    /// Timers pending now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The commands issued since the last take: `CancelAll` first if any,
    /// then one per changed id, by id.
    pub fn take_commands(&mut self) -> Vec<TimerCommand> {
        if !self.cancel_all && self.changes.is_empty() {
            // Nothing since the last take: the runtime already agrees.
            return Vec::new();
        }
        let mut out = Vec::with_capacity(self.changes.len() + 1);
        if std::mem::take(&mut self.cancel_all) {
            out.push(TimerCommand::CancelAll);
        }
        for (id, change) in std::mem::take(&mut self.changes) {
            out.push(match change {
                Some(delay_ms) => TimerCommand::Set { id, delay_ms },
                None => TimerCommand::Cancel { id },
            });
        }
        self.at_runtime.clone_from(&self.pending);
        out
    }
}

impl timers::Host for TimersImport {
    fn set_timer(&mut self, id: u64, delay_ms: u64) -> wasmtime::Result<()> {
        if !self.pending.contains(&id) && self.pending.len() >= self.max_pending {
            wasmtime::bail!(
                "the plugin set more than {} pending timers (the host's cap)",
                self.max_pending
            );
        }
        self.pending.insert(id);
        self.changes.insert(id, Some(delay_ms));
        Ok(())
    }

    fn cancel_timer(&mut self, id: u64) {
        if !self.pending.remove(&id) {
            return;
        }
        if self.at_runtime.contains(&id) {
            self.changes.insert(id, None);
        } else {
            self.changes.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use timers::Host;

    #[test]
    fn commands_coalesce_per_id_and_stay_bounded() {
        let mut t = TimersImport::new(4);
        for round in 0..1_000 {
            t.set_timer(round, 5).unwrap();
            t.cancel_timer(round);
        }
        t.set_timer(7, 1).unwrap();
        t.set_timer(7, 2).unwrap();
        assert_eq!(
            t.take_commands(),
            vec![TimerCommand::Set { id: 7, delay_ms: 2 }]
        );
        t.cancel_timer(7);
        assert_eq!(t.take_commands(), vec![TimerCommand::Cancel { id: 7 }]);
        for id in 0..4 {
            t.set_timer(id, 0).unwrap();
        }
        assert!(t.set_timer(99, 0).is_err(), "the cap traps");
        t.cancel_all();
        t.set_timer(1, 3).unwrap();
        assert_eq!(
            t.take_commands(),
            vec![
                TimerCommand::CancelAll,
                TimerCommand::Set { id: 1, delay_ms: 3 }
            ]
        );
    }
}
