//! Lifeguard's local health awareness: a node that misses acks, or has to
//! refute accusations, is probably the slow one itself, so it stretches its own
//! probe timeouts instead of accusing healthy peers.

use std::time::Duration;

/// The health score, from 0 (healthy) to `max - 1`.
#[derive(Debug, Clone)]
pub(crate) struct Awareness {
    max: u32,
    score: u32,
}

impl Awareness {
    /// A healthy node whose multiplier is bounded by `max` (at least 1).
    pub(crate) fn new(max: u32) -> Self {
        Awareness {
            max: max.max(1),
            score: 0,
        }
    }

    /// Adds `delta`, clamped to `0..max`.
    pub(crate) fn apply_delta(&mut self, delta: i64) {
        let score = i64::from(self.score).saturating_add(delta);
        self.score = score.clamp(0, i64::from(self.max - 1)) as u32;
    }

    /// The current score.
    pub(crate) fn score(&self) -> u32 {
        self.score
    }

    /// `timeout × (score + 1)`.
    pub(crate) fn scale(&self, timeout: Duration) -> Duration {
        timeout.saturating_mul(self.score + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_scales() {
        let mut a = Awareness::new(8);
        a.apply_delta(-1);
        assert_eq!(a.score(), 0);
        a.apply_delta(100);
        assert_eq!(a.score(), 7);
        assert_eq!(a.scale(Duration::from_secs(1)), Duration::from_secs(8));
        a.apply_delta(-3);
        assert_eq!(a.score(), 4);
    }
}
