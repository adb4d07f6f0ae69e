//! Serf's push/pull state (spec §9.6): clocks, status times, left members and
//! the whole event ring, merged as intents and user events. Because every
//! push/pull carries the ring, an event gossip lost anywhere is repaired at the
//! next exchange, as long as it is still in the sender's ring.

use serfer_wire::serf::{
    JoinIntent, LeaveIntent, MemberStatus, SerfMessage, SerfPushPull, UserEvent as WireEvent,
    PUSH_PULL,
};

use super::Serf;
use crate::Instant;

impl Serf {
    /// Go's `LocalState`: `02 ‖ msgpack(messagePushPull)`.
    pub(super) fn local_state(&self) -> Vec<u8> {
        let pp = SerfPushPull {
            ltime: self.clock.time(),
            status_ltimes: self.members.status_ltimes(),
            left_members: self.members.left_names(),
            event_ltime: self.event_clock.time(),
            events: self.events.slots().to_vec(),
            query_ltime: self.query_clock.time(),
        };
        // Encoding in-memory state does not fail; an empty state is what Go
        // sends if it did.
        SerfMessage::PushPull(pp).encode().unwrap_or_default()
    }

    /// Go's `MergeRemoteState`.
    pub(super) fn merge_remote_state(&mut self, now: Instant, buf: &[u8], join: bool) {
        if buf.first() != Some(&PUSH_PULL) {
            self.stats.messages_dropped += 1;
            return;
        }
        let Ok(SerfMessage::PushPull(pp)) = SerfMessage::decode(buf) else {
            self.stats.messages_dropped += 1;
            return;
        };
        self.stats.push_pulls_merged += 1;
        // The sender's clocks are one past what it has used.
        if pp.ltime > 0 {
            self.clock.witness(pp.ltime - 1);
        }
        if pp.event_ltime > 0 {
            self.event_clock.witness(pp.event_ltime - 1);
        }
        if pp.query_ltime > 0 {
            self.query_clock.witness(pp.query_ltime - 1);
        }
        for name in &pp.left_members {
            let ltime = pp.status_ltimes.get(name).copied().unwrap_or(0);
            let leave = LeaveIntent {
                ltime: ltime.saturating_add(1),
                node: name.clone(),
                prune: false,
            };
            let was_alive = self
                .members
                .get(name)
                .is_some_and(|m| m.status == MemberStatus::Alive);
            if self.handle_leave_intent(now, &leave) && was_alive {
                // Go keeps a leave learnt this way to itself. Passed on, it
                // reaches the member within gossip rounds: one that is gone
                // is unaffected, and one that is back in a new life refutes
                // it with a newer join at once, instead of being seen as
                // leaving until push/pull happens to carry the leave to it.
                self.broadcast(SerfMessage::Leave(leave));
            }
        }
        for (name, &ltime) in &pp.status_ltimes {
            if pp.left_members.contains(name) {
                continue;
            }
            let j = JoinIntent {
                ltime,
                node: name.clone(),
            };
            self.handle_join_intent(now, &j);
        }
        if join && self.join_ignore_until.is_some_and(|t| now <= t) {
            self.events_min_time = self.events_min_time.max(pp.event_ltime);
        }
        for slot in pp.events.into_iter().flatten() {
            for e in slot.events {
                let ev = WireEvent {
                    ltime: slot.ltime,
                    name: e.name,
                    payload: e.payload,
                    cc: false,
                };
                self.handle_user_event(&ev, true);
            }
        }
    }
}
