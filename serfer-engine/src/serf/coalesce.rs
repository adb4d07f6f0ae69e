//! Member-event coalescing (Go's `memberEventCoalescer` and `coalesceLoop`).
//!
//! With [`super::SerfConfig::coalesce_period`] and
//! [`super::SerfConfig::quiescent_period`] both set, membership changes are
//! held instead of reported at once. A window opens with the first change and
//! closes when no change came for the quiescent period, or when the coalesce
//! period since the first has passed, whichever is sooner. At the close each
//! member's latest change is reported, unless it is the change last reported
//! for that member (a node that failed and came back within one window is not
//! reported at all); updates are always reported. Go's agent runs with 3 s and
//! 1 s, its library with coalescing off, as here by default.
//!
//! Go reports each kind's members in one event in map order; here each member
//! is its own event, kinds in the order join, leave, failed, update, reap and
//! members by name within a kind, so runs replay exactly. Go never forgets the
//! last change of a member; here a reap forgets it (the next change, a join,
//! is reported either way), so the table stays bounded by the members known.

use std::collections::BTreeMap;
use std::time::Duration;

use super::members::MemberEvent;
use crate::Instant;

/// The kinds of change, in the order a flush reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Join,
    Leave,
    Failed,
    Update,
    Reap,
}

fn kind_and_name(e: &MemberEvent) -> (Kind, &str) {
    match e {
        MemberEvent::Join(m) => (Kind::Join, &m.name),
        MemberEvent::Leave(m) => (Kind::Leave, &m.name),
        MemberEvent::Failed(m) => (Kind::Failed, &m.name),
        MemberEvent::Update(m) => (Kind::Update, &m.name),
        MemberEvent::Reap(m) => (Kind::Reap, &m.name),
    }
}

/// Held membership changes and the window's timers.
#[derive(Debug)]
pub(super) struct MemberCoalescer {
    period: Duration,
    quiescent: Duration,
    /// Each member's latest change since the window opened.
    latest: BTreeMap<String, MemberEvent>,
    /// The change last reported for each member.
    reported: BTreeMap<String, Kind>,
    /// When the window closes at the latest (first change + period).
    window_end: Option<Instant>,
    /// When the window closes for quiet (latest change + quiescent period).
    quiet_end: Option<Instant>,
}

impl MemberCoalescer {
    /// A coalescer, or `None` when either period is zero (Go's condition).
    pub(super) fn new(period: Duration, quiescent: Duration) -> Option<Self> {
        (!period.is_zero() && !quiescent.is_zero()).then(|| MemberCoalescer {
            period,
            quiescent,
            latest: BTreeMap::new(),
            reported: BTreeMap::new(),
            window_end: None,
            quiet_end: None,
        })
    }

    /// Holds a change that happened at `now`.
    pub(super) fn add(&mut self, now: Instant, e: MemberEvent) {
        if self.window_end.is_none() {
            self.window_end = Some(now + self.period);
        }
        self.quiet_end = Some(now + self.quiescent);
        let name = kind_and_name(&e).1.to_owned();
        self.latest.insert(name, e);
    }

    /// When the open window closes, if one is open.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.window_end, self.quiet_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes the window if it is due at `now`; the changes to report.
    pub(super) fn poll(&mut self, now: Instant) -> Vec<MemberEvent> {
        match self.deadline() {
            Some(t) if t <= now => self.flush(),
            _ => Vec::new(),
        }
    }

    /// Closes the window now (also at shutdown, as Go flushes then).
    pub(super) fn flush(&mut self) -> Vec<MemberEvent> {
        self.window_end = None;
        self.quiet_end = None;
        let mut out: Vec<(Kind, MemberEvent)> = Vec::new();
        for (name, e) in std::mem::take(&mut self.latest) {
            let kind = kind_and_name(&e).0;
            if kind != Kind::Update && self.reported.get(&name) == Some(&kind) {
                continue;
            }
            if kind == Kind::Reap {
                self.reported.remove(&name);
            } else {
                self.reported.insert(name, kind);
            }
            out.push((kind, e));
        }
        // Stable: members stay in name order within a kind.
        out.sort_by_key(|(k, _)| *k);
        out.into_iter().map(|(_, e)| e).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serf::Member;
    use serfer_wire::serf::MemberStatus;

    fn member(name: &str) -> Member {
        Member {
            name: name.to_owned(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            tags: BTreeMap::new(),
            status: MemberStatus::Alive,
            vsn: [1, 5, 2, 2, 5, 4],
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn off_unless_both_periods_are_set() {
        assert!(MemberCoalescer::new(Duration::ZERO, Duration::from_secs(1)).is_none());
        assert!(MemberCoalescer::new(Duration::from_secs(3), Duration::ZERO).is_none());
    }

    #[test]
    fn a_window_closes_on_quiet_or_at_the_period() {
        let mut c = MemberCoalescer::new(Duration::from_secs(3), Duration::from_secs(1)).unwrap();
        c.add(at(0), MemberEvent::Join(member("b")));
        c.add(at(500), MemberEvent::Join(member("a")));
        assert_eq!(c.deadline(), Some(at(1500)));
        assert!(c.poll(at(1499)).is_empty());
        let out = c.poll(at(1500));
        assert_eq!(
            out,
            vec![
                MemberEvent::Join(member("a")),
                MemberEvent::Join(member("b"))
            ]
        );
        assert_eq!(c.deadline(), None);
        // Changes every 900 ms never leave a quiet second: the period closes it.
        for k in 0..5 {
            c.add(at(10_000 + k * 900), MemberEvent::Update(member("a")));
        }
        assert_eq!(c.deadline(), Some(at(13_000)));
        assert_eq!(c.poll(at(13_000)), vec![MemberEvent::Update(member("a"))]);
    }

    #[test]
    fn only_the_latest_change_is_reported_and_not_twice() {
        let mut c = MemberCoalescer::new(Duration::from_secs(3), Duration::from_secs(1)).unwrap();
        c.add(at(0), MemberEvent::Join(member("a")));
        assert_eq!(c.flush(), vec![MemberEvent::Join(member("a"))]);
        // Failed and back within one window: nothing to report.
        c.add(at(5_000), MemberEvent::Failed(member("a")));
        c.add(at(5_500), MemberEvent::Join(member("a")));
        assert_eq!(c.flush(), vec![]);
        // Updates are reported each time.
        c.add(at(9_000), MemberEvent::Update(member("a")));
        assert_eq!(c.flush(), vec![MemberEvent::Update(member("a"))]);
        c.add(at(12_000), MemberEvent::Update(member("a")));
        assert_eq!(c.flush(), vec![MemberEvent::Update(member("a"))]);
        // Kinds in order: join, leave, failed, update, reap.
        c.add(at(20_000), MemberEvent::Reap(member("r")));
        c.add(at(20_000), MemberEvent::Failed(member("f")));
        c.add(at(20_000), MemberEvent::Leave(member("l")));
        c.add(at(20_000), MemberEvent::Join(member("j")));
        let flushed = c.flush();
        let names: Vec<&str> = flushed.iter().map(|e| kind_and_name(e).1).collect();
        assert_eq!(names, ["j", "l", "f", "r"]);
        // A reap forgets the member; its return is reported.
        assert!(!c.reported.contains_key("r"));
        c.add(at(30_000), MemberEvent::Join(member("r")));
        assert_eq!(c.flush(), vec![MemberEvent::Join(member("r"))]);
    }
}
