//! The timer table every runtime keeps for a plugin: the timers it asked
//! for, by id and by due time, and which fires next. The simulated network,
//! the node process and the plugin's fake host all keep theirs here, so the
//! order they fire timers in is written once: earliest due first, ties by
//! id. `T` is the runtime's time: milliseconds on a virtual clock, or an
//! `Instant`.

use std::collections::{BTreeMap, BTreeSet};

/// Pending timers: setting an id again replaces it.
#[derive(Clone, Debug)]
pub struct TimerTable<T> {
    by_id: BTreeMap<u64, T>,
    by_due: BTreeSet<(T, u64)>,
}

impl<T> Default for TimerTable<T> {
    fn default() -> Self {
        TimerTable {
            by_id: BTreeMap::new(),
            by_due: BTreeSet::new(),
        }
    }
}

impl<T: Ord + Copy> TimerTable<T> {
    /// Timer `id` fires at `due`, replacing a pending `id`.
    pub fn set(&mut self, id: u64, due: T) {
        self.cancel(id);
        self.by_id.insert(id, due);
        self.by_due.insert((due, id));
    }

    /// Forgets timer `id`, if pending.
    pub fn cancel(&mut self, id: u64) {
        if let Some(due) = self.by_id.remove(&id) {
            self.by_due.remove(&(due, id));
        }
    }

    /// Forgets every timer.
    pub fn clear(&mut self) {
        self.by_id.clear();
        self.by_due.clear();
    }

    /// How many are pending.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The timer that fires next: (due, id), earliest first, ties by id.
    pub fn next(&self) -> Option<(T, u64)> {
        self.by_due.first().copied()
    }

    /// Takes the timer that fires next if it is due by `now`.
    pub fn pop_due(&mut self, now: T) -> Option<u64> {
        let (due, id) = self.next()?;
        if due > now {
            return None;
        }
        self.cancel(id);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_earliest_first_ties_by_id_and_a_set_replaces() {
        let mut t = TimerTable::default();
        t.set(7, 30u64);
        t.set(3, 30);
        t.set(9, 10);
        t.set(9, 40); // replaces 10
        assert_eq!(t.len(), 3);
        assert_eq!(t.next(), Some((30, 3)));
        assert_eq!(t.pop_due(29), None);
        assert_eq!(t.pop_due(35), Some(3));
        assert_eq!(t.pop_due(35), Some(7));
        assert_eq!(t.pop_due(35), None);
        t.cancel(9);
        assert!(t.is_empty());
        t.set(1, 5);
        t.clear();
        assert_eq!(t.next(), None);
    }
}
