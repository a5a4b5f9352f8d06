//! A sliding time window of amounts: how many requests, or how many bytes,
//! one party was given in the last `window` milliseconds.

use std::collections::VecDeque;

/// Amounts given, with when.
#[derive(Debug, Default)]
pub struct Window {
    given: VecDeque<(u64, u64)>,
    total: u64,
}

impl Window {
    fn forget(&mut self, now: u64, window: u64) {
        while let Some(&(at, amount)) = self.given.front() {
            if now.saturating_sub(at) < window {
                break;
            }
            self.given.pop_front();
            self.total -= amount;
        }
    }

    /// How much is left of `limit` now.
    pub fn left(&mut self, now: u64, window: u64, limit: u64) -> u64 {
        self.forget(now, window);
        limit.saturating_sub(self.total)
    }

    /// Records `amount` given now.
    pub fn give(&mut self, now: u64, amount: u64) {
        if amount > 0 {
            self.given.push_back((now, amount));
            self.total += amount;
        }
    }

    /// How long until at least `needed` more may be given (0 if now).
    pub fn wait_for(&mut self, now: u64, window: u64, limit: u64, needed: u64) -> u64 {
        self.forget(now, window);
        let mut total = self.total;
        for &(at, amount) in &self.given {
            if limit.saturating_sub(total) >= needed {
                break;
            }
            total -= amount;
            if limit.saturating_sub(total) >= needed {
                return (at + window).saturating_sub(now);
            }
        }
        if limit.saturating_sub(total) >= needed {
            0
        } else {
            window
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_leave_the_window_as_it_slides() {
        let mut w = Window::default();
        w.give(0, 10);
        w.give(500, 20);
        assert_eq!(w.left(600, 1000, 40), 10);
        assert_eq!(w.wait_for(600, 1000, 40, 15), 400);
        assert_eq!(w.left(1000, 1000, 40), 20);
        assert_eq!(w.left(1500, 1000, 40), 40);
        assert_eq!(w.wait_for(1500, 1000, 40, 15), 0);
    }
}
