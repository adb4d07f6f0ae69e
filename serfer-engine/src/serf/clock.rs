//! Lamport clocks (Go's `LamportClock`): Serf orders intents, user events and
//! queries by them, never by wall time.

/// A Lamport clock. Serf keeps three: member, event and query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LamportClock(u64);

impl Default for LamportClock {
    /// Go's Serf increments each clock once at creation, so they start at 1:
    /// 0 is left meaning "never".
    fn default() -> Self {
        LamportClock(1)
    }
}

impl LamportClock {
    /// The current time.
    pub fn time(&self) -> u64 {
        self.0
    }

    /// Advances the clock; returns the new time.
    pub fn increment(&mut self) -> u64 {
        self.0 = self.0.saturating_add(1);
        self.0
    }

    /// Records that time `t` was seen elsewhere: the clock moves past it.
    pub fn witness(&mut self, t: u64) {
        if t >= self.0 {
            self.0 = t.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_moves_past() {
        let mut c = LamportClock::default();
        assert_eq!(c.time(), 1);
        c.witness(0);
        assert_eq!(c.time(), 1);
        c.witness(1);
        assert_eq!(c.time(), 2);
        c.witness(10);
        assert_eq!(c.time(), 11);
        assert_eq!(c.increment(), 12);
        c.witness(u64::MAX);
        assert_eq!(c.time(), u64::MAX);
    }
}
