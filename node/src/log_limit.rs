//! Rate-limited log lines: what a peer or a stranger can make the node
//! write is bounded. A line of a kind (and source) is written at most once
//! per interval; the next one says how many were left out meanwhile.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Kinds (or sources) remembered at most. When the table is full, kinds
/// whose interval has passed are forgotten first (their next line would be
/// written anyway); if none has, a new kind shares one overflow entry with
/// every other new kind, so a stranger cycling through more addresses than
/// this gets one line per interval in all, never one per address.
const MAX_KEYS: usize = 4096;

/// The entry new kinds share once the table is full.
const OVERFLOW: &str = "\u{0}overflow";

/// When each kind was last logged and how many were left out since.
pub struct LogLimit {
    every: Duration,
    seen: HashMap<String, (Instant, u64)>,
}

impl LogLimit {
    pub fn new(every: Duration) -> LogLimit {
        LogLimit {
            every,
            seen: HashMap::new(),
        }
    }

    /// Whether a line of `kind` may be written now: `Some` with a suffix
    /// saying how many were left out since the last one, or `None`.
    pub fn allow(&mut self, kind: &str) -> Option<String> {
        self.allow_at(kind, Instant::now())
    }

    /// [`LogLimit::allow`] at `now`.
    pub fn allow_at(&mut self, kind: &str, now: Instant) -> Option<String> {
        if let Some((at, unlogged)) = self.seen.get_mut(kind) {
            if now.duration_since(*at) < self.every {
                *unlogged += 1;
                return None;
            }
            let suffix = match *unlogged {
                0 => String::new(),
                n => format!(" ({n} more like it since the last such line were not logged)"),
            };
            *at = now;
            *unlogged = 0;
            return Some(suffix);
        }
        if self.seen.len() >= MAX_KEYS {
            let every = self.every;
            self.seen.retain(|k, (at, unlogged)| {
                k == OVERFLOW || *unlogged > 0 || now.duration_since(*at) < every
            });
        }
        if self.seen.len() >= MAX_KEYS && kind != OVERFLOW {
            return self
                .allow_at(OVERFLOW, now)
                .map(|suffix| format!("{suffix} (and other sources, the node tracks {MAX_KEYS})"));
        }
        self.seen.insert(kind.to_string(), (now, 0));
        Some(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_logged_once_per_interval_with_the_count_left_out() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut limit = LogLimit::new(Duration::from_millis(50));
        assert_eq!(limit.allow_at("a", at(0)), Some(String::new()));
        assert_eq!(limit.allow_at("a", at(10)), None);
        assert_eq!(limit.allow_at("a", at(49)), None);
        assert_eq!(
            limit.allow_at("b", at(49)),
            Some(String::new()),
            "kinds are apart"
        );
        let next = limit.allow_at("a", at(60)).unwrap();
        assert!(next.contains("2 more like it"), "{next}");
    }

    /// A stranger cycling through more sources than the table holds gets
    /// one line per interval for all the sources past it, not one each.
    #[test]
    fn sources_past_the_table_share_one_line_per_interval() {
        let start = Instant::now();
        let mut limit = LogLimit::new(Duration::from_secs(60));
        let written = (0..3 * MAX_KEYS)
            .filter(|n| limit.allow_at(&format!("10.0.{n}"), start).is_some())
            .count();
        assert_eq!(
            written,
            MAX_KEYS + 1,
            "the table's sources, then one for the rest"
        );
        let later = start + Duration::from_secs(61);
        let again = (0..3 * MAX_KEYS)
            .filter(|n| limit.allow_at(&format!("10.1.{n}"), later).is_some())
            .count();
        assert!(again <= MAX_KEYS + 1, "{again} lines");
    }
}
