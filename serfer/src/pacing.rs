//! Back-pressure for user events.
//!
//! A receiver accepts a user event only while its Lamport time is within the event
//! buffer (512 by default) of the newest event it has seen, and gossip sends the newest
//! queued events first. A sender that queues more events than that makes receivers drop
//! the oldest as too old: a back-to-back flood of 1000 events reached each of four
//! receivers only 440–620 times. So a sender waits while its own gossip queue holds
//! half a buffer or more, which keeps every event in flight within the window.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

use crate::engine::Handle;

/// How often a held-back sender looks at the queue again; a gossip round is 100–500 ms.
const POLL: Duration = Duration::from_millis(10);

pub(crate) struct Pacer {
    /// Held from the queue check until the event is queued, so that concurrent senders
    /// cannot all pass the check at once and overshoot the mark together.
    gate: Mutex<()>,
    high_water: usize,
    max_wait: Duration,
}

/// The queue did not drain within the configured wait.
pub(crate) struct Backlog {
    pub(crate) queued: usize,
    pub(crate) waited: Duration,
}

impl Pacer {
    pub(crate) fn new(event_buffer_size: usize, max_wait: Duration) -> Self {
        Pacer {
            gate: Mutex::new(()),
            high_water: (event_buffer_size / 2).max(1),
            max_wait,
        }
    }

    /// Waits until one more user event may be queued; hold the guard while queuing it.
    ///
    /// A node with no live peer never drains its queue (there is no one to gossip to),
    /// and holding it back would only stall it: events then wait in the queue, as in
    /// Serf, and reach peers by push/pull once some join.
    pub(crate) async fn admit(&self, engine: &Handle) -> Result<MutexGuard<'_, ()>, Backlog> {
        let guard = self.gate.lock().await;
        if self.max_wait.is_zero() {
            return Ok(guard);
        }
        let start = Instant::now();
        loop {
            let s = engine.stats().await;
            let live_peers = s.members.saturating_sub(s.failed + s.left + 1);
            let queued = s.event_queue;
            if queued < self.high_water || live_peers == 0 {
                return Ok(guard);
            }
            let waited = start.elapsed();
            if waited >= self.max_wait {
                return Err(Backlog { queued, waited });
            }
            tokio::time::sleep(POLL.min(self.max_wait - waited)).await;
        }
    }
}
