//! Values kept by party within a byte budget: each party's set as last
//! reconciled ([`super::known_sets`]) and the set served to each requester
//! ([`super::served_sets`]). Past the budget the value used longest ago is
//! dropped.

use hashbrown::HashMap;

/// What a kept value costs in memory.
pub(super) trait Weighed {
    fn bytes(&self) -> usize;
}

/// Values by party, at most `BUDGET` bytes in all.
#[derive(Debug)]
pub(super) struct ByParty<V, const BUDGET: usize> {
    /// Each value, and when it was last used (0: never, as if oldest).
    entries: HashMap<String, (V, u64)>,
    bytes: usize,
    clock: u64,
}

impl<V, const BUDGET: usize> Default for ByParty<V, BUDGET> {
    fn default() -> Self {
        ByParty {
            entries: HashMap::new(),
            bytes: 0,
            clock: 0,
        }
    }
}

impl<V: Weighed, const BUDGET: usize> ByParty<V, BUDGET> {
    pub(super) fn get(&self, party: &str) -> Option<&V> {
        self.entries.get(party).map(|(value, _)| value)
    }

    /// Runs `f` on the party's value and marks it used now; what it costs
    /// is counted again after.
    pub(super) fn update<R>(&mut self, party: &str, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        self.clock += 1;
        let (value, used) = self.entries.get_mut(party)?;
        *used = self.clock;
        let before = value.bytes();
        let result = f(value);
        self.bytes = self.bytes - before + value.bytes();
        Some(result)
    }

    /// Keeps `value` for `party` in place of any before — marked used now,
    /// or, if not `recent`, as if never used — then drops the values used
    /// longest ago until all fit. A value past the whole budget is not
    /// kept. Returns the parties whose values were dropped to make room.
    pub(super) fn insert(&mut self, party: &str, value: V, recent: bool) -> Vec<String> {
        self.remove(party);
        let bytes = value.bytes();
        if bytes > BUDGET {
            return Vec::new();
        }
        let mut dropped = Vec::new();
        while self.bytes + bytes > BUDGET {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(p, _)| p.clone());
            let Some(oldest) = oldest else { break };
            self.remove(&oldest);
            dropped.push(oldest);
        }
        self.clock += 1;
        let used = if recent { self.clock } else { 0 };
        self.bytes += bytes;
        self.entries.insert(party.to_string(), (value, used));
        dropped
    }

    pub(super) fn remove(&mut self, party: &str) -> Option<V> {
        let (value, _) = self.entries.remove(party)?;
        self.bytes -= value.bytes();
        Some(value)
    }

    /// Bytes the values take, and how many parties they are for.
    pub(super) fn usage(&self) -> (usize, usize) {
        (self.bytes, self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weighed for Vec<u8> {
        fn bytes(&self) -> usize {
            self.len()
        }
    }

    #[test]
    fn the_value_used_longest_ago_makes_room() {
        let mut kept = ByParty::<Vec<u8>, 10>::default();
        kept.insert("old", vec![0; 4], true);
        kept.insert("loaded", vec![0; 2], false);
        kept.insert("new", vec![0; 4], true);
        assert_eq!(kept.usage(), (10, 3));
        // Never used counts as oldest, then the least recently used.
        assert_eq!(kept.insert("next", vec![0; 3], true), ["loaded", "old"]);
        kept.update("new", |v| v.push(1));
        assert_eq!(kept.usage(), (8, 2));
        assert!(kept.insert("huge", vec![0; 11], true).is_empty());
        assert!(kept.get("huge").is_none());
    }
}
