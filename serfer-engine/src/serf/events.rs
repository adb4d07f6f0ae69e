//! User events (spec §9.4): size limits, the event clock, and the ring that
//! suppresses duplicates.
//!
//! The ring has `EventBuffer` slots indexed by `LTime mod EventBuffer`. A slot
//! holds every distinct event seen at one time; an event at a *different* time
//! replaces the slot's content (Go's behaviour). Keeping the old time's events
//! there would make the slot compare new events against stale ones forever, so
//! after the first wrap of the ring new events would be taken for duplicates
//! or never stored. Memory is therefore bounded by the ring: at most
//! `EventBuffer` times, each with the events actually sent at that time.

use serfer_wire::serf::{EventEntry, SerfMessage, UserEvent as WireEvent, UserEvents};

use super::config::USER_EVENT_SIZE_HARD_LIMIT;
use super::{Event, Serf, SerfError, UserEvent};
use crate::memberlist::Priority;

/// The ring of recently seen events.
#[derive(Debug)]
pub(super) struct EventRing {
    slots: Vec<Option<UserEvents>>,
}

/// What the ring made of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// First time: deliver and re-gossip.
    New,
    /// Already in the ring.
    Duplicate,
}

fn same_payload(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> bool {
    // Go compares with `bytes.Equal`, for which nil equals empty.
    a.as_deref().unwrap_or_default() == b.as_deref().unwrap_or_default()
}

impl EventRing {
    pub(super) fn new(size: usize) -> Self {
        EventRing {
            slots: vec![None; size],
        }
    }

    /// Records the event unless it is a duplicate.
    pub(super) fn insert(&mut self, ltime: u64, name: &str, payload: &Option<Vec<u8>>) -> Seen {
        let idx = (ltime % self.slots.len() as u64) as usize;
        let slot = &mut self.slots[idx];
        match slot {
            Some(s) if s.ltime == ltime => {
                if s.events
                    .iter()
                    .any(|e| e.name == name && same_payload(&e.payload, payload))
                {
                    return Seen::Duplicate;
                }
                s.events.push(EventEntry {
                    name: name.to_owned(),
                    payload: payload.clone(),
                });
            }
            _ => {
                // A different (older) time in this slot: replace it.
                *slot = Some(UserEvents {
                    ltime,
                    events: vec![EventEntry {
                        name: name.to_owned(),
                        payload: payload.clone(),
                    }],
                });
            }
        }
        Seen::New
    }

    /// Events held.
    pub(super) fn len(&self) -> usize {
        self.slots.iter().flatten().map(|s| s.events.len()).sum()
    }

    /// The ring in slot order, for push/pull.
    pub(super) fn slots(&self) -> &[Option<UserEvents>] {
        &self.slots
    }
}

impl Serf {
    /// Broadcasts a user event (Go's `UserEvent`). `name` and `payload`
    /// together must fit the configured limit, and so must the encoded
    /// message. The event is delivered locally too.
    pub fn user_event(
        &mut self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), SerfError> {
        let limit = self.config.user_event_size_limit;
        let raw_len = name.len() + payload.len();
        if raw_len > limit {
            return Err(SerfError::UserEventTooLarge { limit });
        }
        if raw_len > USER_EVENT_SIZE_HARD_LIMIT {
            return Err(SerfError::UserEventTooLarge {
                limit: USER_EVENT_SIZE_HARD_LIMIT,
            });
        }
        let msg = WireEvent {
            ltime: self.event_clock.time(),
            name: name.to_owned(),
            payload: Some(payload.to_vec()),
            cc: coalesce,
        };
        let raw = SerfMessage::UserEvent(msg.clone()).encode()?;
        if raw.len() > limit {
            return Err(SerfError::EncodedUserEventTooLarge { limit });
        }
        if raw.len() > USER_EVENT_SIZE_HARD_LIMIT {
            return Err(SerfError::EncodedUserEventTooLarge {
                limit: USER_EVENT_SIZE_HARD_LIMIT,
            });
        }
        self.ml.queue_broadcast_at(Priority::Low, raw)?;
        self.event_clock.increment();
        self.handle_user_event(&msg, false);
        Ok(())
    }

    /// Go's `handleUserEvent`; true when the event is new (deliver and
    /// re-gossip).
    pub(super) fn handle_user_event(&mut self, msg: &WireEvent, from_push_pull: bool) -> bool {
        self.event_clock.witness(msg.ltime);
        if msg.ltime < self.events_min_time {
            return false;
        }
        let cur = self.event_clock.time();
        let size = self.events.slots().len() as u64;
        if cur > size && msg.ltime < cur - size {
            self.stats.events_old += 1;
            // Every push/pull carries the peer's whole ring, whose oldest slots
            // are routinely behind a busy receiver's window: not worth a warning.
            if from_push_pull {
                tracing::debug!(
                    "received old event {} from time {} (current: {cur})",
                    msg.name,
                    msg.ltime
                );
            } else {
                tracing::warn!(
                    "received old event {} from time {} (current: {cur})",
                    msg.name,
                    msg.ltime
                );
            }
            return false;
        }
        match self.events.insert(msg.ltime, &msg.name, &msg.payload) {
            Seen::Duplicate => {
                self.stats.events_duplicate += 1;
                false
            }
            Seen::New => {
                self.stats.events_delivered += 1;
                if from_push_pull {
                    self.stats.events_from_push_pull += 1;
                }
                self.emit(Event::User(UserEvent {
                    ltime: msg.ltime,
                    name: msg.name.clone(),
                    payload: msg.payload.clone().unwrap_or_default(),
                    coalesce: msg.cc,
                }));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_replaced_by_a_newer_time() {
        let mut r = EventRing::new(4);
        assert_eq!(r.insert(1, "a", &None), Seen::New);
        assert_eq!(r.insert(1, "a", &Some(vec![])), Seen::Duplicate);
        assert_eq!(r.insert(1, "b", &None), Seen::New);
        assert_eq!(r.len(), 2);
        // Time 5 lands in slot 1 and replaces both.
        assert_eq!(r.insert(5, "a", &None), Seen::New);
        assert_eq!(r.len(), 1);
        assert_eq!(r.insert(5, "a", &None), Seen::Duplicate);
        for t in 0..10_000 {
            r.insert(t, "x", &None);
        }
        assert_eq!(r.len(), 4);
    }
}
