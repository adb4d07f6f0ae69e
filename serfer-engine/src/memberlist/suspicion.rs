//! Suspicion timers with Lifeguard's confirmation-accelerated timeout.
//!
//! A suspect starts with the long timeout `max`; each independent confirmation
//! (a suspect message from another node) shrinks it logarithmically towards
//! `min`, reached after `k` confirmations. A node that nobody else suspects is
//! therefore given time to refute, while one that many peers suspect is declared
//! dead quickly.

use std::time::Duration;

use crate::Instant;

/// `SuspicionMult × max(1, log10(max(1, n))) × interval`, Go's lower bound. The
/// scale is truncated to thousandths as Go does.
pub(crate) fn suspicion_timeout(mult: u32, n: usize, interval: Duration) -> Duration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    let milli = (scale * 1000.0) as u64;
    let nanos = u128::from(mult) * u128::from(milli) * interval.as_nanos() / 1000;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Timeout after `n` of `k` expected confirmations:
/// `max(min, max − ln(n+1)/ln(k+1) × (max − min))`, rounded down to whole
/// milliseconds.
pub(crate) fn confirmed_timeout(n: u32, k: u32, min: Duration, max: Duration) -> Duration {
    if k == 0 {
        return min;
    }
    let frac = (f64::from(n) + 1.0).ln() / (f64::from(k) + 1.0).ln();
    let raw = max.as_secs_f64() - frac * (max.as_secs_f64() - min.as_secs_f64());
    let ms = (1000.0 * raw).floor();
    let timeout = if ms.is_finite() && ms > 0.0 {
        Duration::from_millis(ms as u64)
    } else {
        Duration::ZERO
    };
    timeout.max(min)
}

/// One running suspicion.
#[derive(Debug, Clone)]
pub(crate) struct Suspicion {
    /// Confirmations counted so far (the first accuser is not one).
    n: u32,
    /// Confirmations that bring the timeout down to `min`.
    k: u32,
    min: Duration,
    max: Duration,
    start: Instant,
    /// When the node is declared dead.
    pub(crate) deadline: Instant,
    /// Who has accused the node, the first accuser included.
    confirmations: Vec<String>,
}

impl Suspicion {
    /// Starts a suspicion raised by `from` at `now`.
    pub(crate) fn new(from: &str, k: u32, min: Duration, max: Duration, now: Instant) -> Self {
        let timeout = if k < 1 { min } else { max };
        Suspicion {
            n: 0,
            k,
            min,
            max,
            start: now,
            deadline: now + timeout,
            confirmations: vec![from.to_owned()],
        }
    }

    /// Counts `from` as a confirmation. True when it is new (the caller then
    /// re-gossips the suspicion); the deadline moves earlier.
    pub(crate) fn confirm(&mut self, from: &str) -> bool {
        if self.n >= self.k || self.confirmations.iter().any(|c| c == from) {
            return false;
        }
        self.confirmations.push(from.to_owned());
        self.n += 1;
        self.deadline = self.start + confirmed_timeout(self.n, self.k, self.min, self.max);
        true
    }

    /// When the suspicion started (the suspect's state-change time).
    pub(crate) fn started(&self) -> Instant {
        self.start
    }

    /// Confirmations counted.
    pub(crate) fn confirmations(&self) -> u32 {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_timeouts() {
        let s = Duration::from_secs;
        // LAN: 4 s for N <= 10, 4 × log10(N) above.
        assert_eq!(suspicion_timeout(4, 3, s(1)), s(4));
        assert_eq!(suspicion_timeout(4, 10, s(1)), s(4));
        assert_eq!(suspicion_timeout(4, 1000, s(1)), s(12));
        assert_eq!(
            suspicion_timeout(4, 100, Duration::from_millis(1)),
            Duration::from_millis(8)
        );
        // Go's own test table (min 2 s, max 30 s, k 3) lists the remaining time
        // after 0, 2, 3 and 4 s elapsed; these are those values plus the elapsed.
        let (min, max) = (s(2), s(30));
        assert_eq!(confirmed_timeout(0, 3, min, max), s(30));
        assert_eq!(
            confirmed_timeout(1, 3, min, max),
            Duration::from_millis(16_000)
        );
        assert_eq!(
            confirmed_timeout(2, 3, min, max),
            Duration::from_millis(7_810)
        );
        assert_eq!(confirmed_timeout(3, 3, min, max), s(2));
        assert_eq!(confirmed_timeout(4, 3, min, max), s(2));
    }

    #[test]
    fn confirmations_shorten_once_per_accuser() {
        let t0 = Instant::ZERO;
        let mut sus = Suspicion::new("a", 2, Duration::from_secs(4), Duration::from_secs(24), t0);
        assert_eq!(sus.deadline, t0 + Duration::from_secs(24));
        assert!(!sus.confirm("a"));
        assert!(sus.confirm("b"));
        assert!(!sus.confirm("b"));
        let after_one = sus.deadline;
        assert!(after_one < t0 + Duration::from_secs(24));
        assert!(sus.confirm("c"));
        assert_eq!(sus.deadline, t0 + Duration::from_secs(4));
        assert!(!sus.confirm("d"));
        assert_eq!(sus.confirmations(), 2);
    }
}
