//! The transmit-limited broadcast queue (Go's `TransmitLimitedQueue`).
//!
//! Each queued message is piggybacked on outgoing packets until it has been sent
//! `retransmit_mult × ceil(log10(N + 1))` times: enough for an epidemic to reach
//! every node with high probability, while the per-node cost stays logarithmic.
//! Messages sent fewer times go first, so fresh news overtakes old news; among
//! equals the largest that fits goes first (packs the budget), then the newest.
//! A named message (memberlist's alive/suspect/dead, named after the node they
//! are about) replaces any queued message of the same name: only the latest
//! claim about a node is worth spreading.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::fxhash::{FxBuild, FxMap};

/// What to report when a message leaves the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notify {
    /// The node's own leave (`dead` about itself) has been fully sent.
    Leave,
    /// A user message queued with an id has been fully sent (or pruned).
    User(u64),
}

/// Ordering key: fewest transmits, then longest, then newest.
type Key = (u32, Reverse<usize>, Reverse<u64>);

#[derive(Debug, Clone)]
struct Item {
    /// Shared, so that taking a message for a packet does not copy it.
    msg: Arc<[u8]>,
    /// For a named message: its name and its slot in `BroadcastQueue::slots`.
    name: Option<(String, usize)>,
    notify: Option<Notify>,
}

/// `retransmit_mult × ceil(log10(n + 1))`.
pub(crate) fn retransmit_limit(mult: u32, n: usize) -> u32 {
    let scale = ((n as f64) + 1.0).log10().ceil() as u32;
    mult.saturating_mul(scale)
}

/// Which of the user layer's broadcast queues a message joins. Packets take
/// memberlist's own messages first, then the user's, `High` before `Medium`
/// before `Low`, each queue in its own fewest-sent-first order. Serf puts its
/// intents in `High`, queries in `Medium` and user events in `Low`, as Go's
/// Serf drains its three queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Drained first.
    High,
    /// After `High`.
    Medium,
    /// Last.
    Low,
}

impl Priority {
    pub(crate) fn index(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Medium => 1,
            Priority::Low => 2,
        }
    }
}

/// A queue of messages waiting to be gossiped.
#[derive(Debug)]
pub(crate) struct BroadcastQueue {
    items: BTreeMap<Key, Item>,
    /// Slot of the queued message of each name; looked up, never iterated, so
    /// its hash order cannot leak into behaviour.
    names: FxMap<String, usize>,
    /// Current key of each named message, by slot. A message's key changes on
    /// every transmission; keeping it here, where the item points, updates it
    /// without hashing the name again.
    slots: Vec<Key>,
    /// Slots no longer in use.
    free_slots: Vec<usize>,
    next_id: u64,
    /// Notifications of messages that left the queue, for the core to report.
    finished: Vec<Notify>,
}

impl Default for BroadcastQueue {
    fn default() -> Self {
        BroadcastQueue::new(0)
    }
}

impl BroadcastQueue {
    /// An empty queue whose name lookups are keyed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        BroadcastQueue {
            items: BTreeMap::new(),
            names: FxMap::with_hasher(FxBuild::new(seed)),
            slots: Vec::new(),
            free_slots: Vec::new(),
            next_id: 0,
            finished: Vec::new(),
        }
    }

    /// Queues `msg`; with a `name`, replaces the queued message of that name.
    pub(crate) fn push(&mut self, name: Option<String>, msg: Vec<u8>, notify: Option<Notify>) {
        self.next_id += 1;
        let key = (0, Reverse(msg.len()), Reverse(self.next_id));
        let name = name.map(|name| {
            let slot = match self.names.get(&name) {
                Some(&slot) => {
                    // Replace the older message about the same node.
                    if let Some(item) = self.items.remove(&self.slots[slot]) {
                        self.finished.extend(item.notify);
                    }
                    self.slots[slot] = key;
                    slot
                }
                None => {
                    let slot = match self.free_slots.pop() {
                        Some(slot) => {
                            self.slots[slot] = key;
                            slot
                        }
                        None => {
                            self.slots.push(key);
                            self.slots.len() - 1
                        }
                    };
                    self.names.insert(name.clone(), slot);
                    slot
                }
            };
            (name, slot)
        });
        self.items.insert(
            key,
            Item {
                msg: msg.into(),
                name,
                notify,
            },
        );
    }

    /// Forgets the name of a message that left the queue.
    fn release(&mut self, name: Option<&(String, usize)>) {
        if let Some((name, slot)) = name {
            self.names.remove(name);
            self.free_slots.push(*slot);
        }
    }

    /// Number of queued messages.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Every queued message, in no meaningful order.
    pub(crate) fn messages(&self) -> impl Iterator<Item = &[u8]> {
        self.items.values().map(|item| &item.msg[..])
    }

    /// Takes messages that fit in `limit` bytes, each costing its length plus
    /// `overhead`, counting `sends` transmissions for each (the packet goes
    /// to that many nodes) but never more than `transmit_limit` in all: each
    /// message comes with the number of those nodes it may go to, the first
    /// ones of the packet's. Those that reach `transmit_limit` leave the
    /// queue. At most `max_items` are taken, none longer than `max_len`.
    pub(crate) fn take(
        &mut self,
        overhead: usize,
        limit: usize,
        max_len: usize,
        transmit_limit: u32,
        sends: u32,
        max_items: usize,
    ) -> Vec<(Arc<[u8]>, u32)> {
        let (Some((first, _)), Some((last, _))) =
            (self.items.first_key_value(), self.items.last_key_value())
        else {
            return Vec::new();
        };
        let (min_tr, max_tr) = (first.0, last.0);
        let mut used = 0usize;
        let mut out = Vec::new();
        let mut reinsert = Vec::new();
        let mut transmits = min_tr;
        while transmits <= max_tr && out.len() < max_items {
            let Some(free) = limit.checked_sub(used + overhead).filter(|&f| f > 0) else {
                break;
            };
            let free = free.min(max_len);
            let start = (transmits, Reverse(free), Reverse(u64::MAX));
            let end = (transmits + 1, Reverse(usize::MAX), Reverse(u64::MAX));
            let Some(key) = self.items.range(start..end).map(|(k, _)| *k).next() else {
                transmits += 1;
                continue;
            };
            let Some(item) = self.items.remove(&key) else {
                break;
            };
            used += overhead + item.msg.len();
            let granted = sends
                .max(1)
                .min(transmit_limit.saturating_sub(key.0).max(1));
            out.push((Arc::clone(&item.msg), granted));
            let sent = key.0.saturating_add(granted);
            if sent >= transmit_limit {
                self.release(item.name.as_ref());
                self.finished.extend(item.notify);
            } else {
                reinsert.push(((sent, key.1, key.2), item));
            }
        }
        for (key, item) in reinsert {
            if let Some((_, slot)) = &item.name {
                self.slots[*slot] = key;
            }
            self.items.insert(key, item);
        }
        self.release_idle_capacity();
        out
    }

    /// Drops the most-sent messages until at most `max` remain.
    pub(crate) fn prune(&mut self, max: usize) {
        while self.items.len() > max {
            let Some((_, item)) = self.items.pop_last() else {
                break;
            };
            self.release(item.name.as_ref());
            self.finished.extend(item.notify);
        }
        self.release_idle_capacity();
    }

    /// Once the queue is empty, gives back the memory of its name index if it
    /// has grown large. A joining node queues an `alive` for every member, so
    /// the index reaches the cluster's size once and would keep that memory
    /// in every node for good. Only when empty: `take` holds slot numbers of
    /// messages it has taken out while it runs.
    fn release_idle_capacity(&mut self) {
        use crate::IDLE_ROOM;
        if !self.items.is_empty() || self.slots.capacity() <= IDLE_ROOM {
            return;
        }
        self.names.clear();
        self.names.shrink_to(IDLE_ROOM);
        self.slots.clear();
        self.slots.shrink_to(IDLE_ROOM);
        self.free_slots.clear();
        self.free_slots.shrink_to(IDLE_ROOM);
    }

    /// Notifications of messages that left the queue since the last call.
    pub(crate) fn drain_finished(&mut self) -> Vec<Notify> {
        std::mem::take(&mut self.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(retransmit_limit(4, 0), 0);
        assert_eq!(retransmit_limit(4, 1), 4);
        assert_eq!(retransmit_limit(4, 9), 4);
        assert_eq!(retransmit_limit(4, 10), 8);
        assert_eq!(retransmit_limit(4, 99), 8);
        assert_eq!(retransmit_limit(4, 100), 12);
        assert_eq!(retransmit_limit(4, 1000), 16);
    }

    #[test]
    fn order_and_limits() {
        let mut q = BroadcastQueue::default();
        q.push(None, vec![1; 10], None);
        q.push(None, vec![2; 20], None);
        q.push(None, vec![3; 10], None);
        // Longest first, then newest.
        let got = q.take(2, 1000, usize::MAX, 2, 1, 127);
        let got: Vec<Vec<u8>> = got.iter().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(got, vec![vec![2; 20], vec![3; 10], vec![1; 10]]);
        // A fresh message overtakes the ones already sent once.
        q.push(None, vec![4; 5], None);
        let got = q.take(2, 9, usize::MAX, 2, 1, 127);
        assert_eq!(&*got[0].0, &[4u8; 5][..]);
        assert_eq!(got.len(), 1);
        // Second transmission reaches the limit of 2: the queue empties.
        let got = q.take(2, 1000, usize::MAX, 2, 1, 127);
        assert_eq!(got.len(), 4);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn names_replace_and_notify() {
        let mut q = BroadcastQueue::default();
        q.push(Some("a".into()), vec![1], Some(Notify::Leave));
        q.push(Some("b".into()), vec![2], None);
        q.push(Some("a".into()), vec![3], None);
        assert_eq!(q.len(), 2);
        assert_eq!(q.drain_finished(), vec![Notify::Leave]);
        q.push(Some("c".into()), vec![4], Some(Notify::Leave));
        let got = q.take(0, 100, usize::MAX, 1, 1, 127);
        assert_eq!(got.len(), 3);
        assert_eq!(q.drain_finished(), vec![Notify::Leave]);
        assert_eq!(q.len(), 0);
        // Budget respected: nothing fits.
        q.push(None, vec![0; 50], None);
        assert!(q.take(2, 40, usize::MAX, 4, 1, 127).is_empty());
        // A budget past one packet takes nothing longer than one packet.
        q.push(None, vec![1; 30], None);
        let got = q.take(2, 1000, 40, 4, 1, 127);
        assert_eq!(got.len(), 1);
        assert_eq!(&*got[0].0, &[1u8; 30][..]);
        q.prune(0);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_packet_for_several_nodes_counts_a_transmission_for_each() {
        let mut q = BroadcastQueue::default();
        q.push(None, vec![1; 10], None);
        // Limit 4, packets to 3 nodes: 3 now, then 1 (to the first node only).
        let got = q.take(2, 1000, usize::MAX, 4, 3, 127);
        assert_eq!(got.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![3]);
        assert_eq!(q.len(), 1);
        let got = q.take(2, 1000, usize::MAX, 4, 3, 127);
        assert_eq!(got.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![1]);
        assert_eq!(q.len(), 0);
        // A piggyback (1 node) after a packet to 3: exactly the limit.
        q.push(None, vec![2; 10], None);
        q.take(2, 1000, usize::MAX, 4, 3, 127);
        assert_eq!(q.take(2, 1000, usize::MAX, 4, 1, 127)[0].1, 1);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn an_emptied_queue_gives_back_its_name_index_and_still_replaces_by_name() {
        let mut q = BroadcastQueue::default();
        // A joiner's queue: one `alive` per member, sent to the limit while a
        // few more arrive between packets.
        for i in 0..1_000 {
            q.push(Some(format!("node-{i}")), vec![1; 8], None);
        }
        let mut rounds = 0;
        while q.len() > 0 {
            // Every take sees slots of messages it took out: not yet freed.
            let got = q.take(2, 400, usize::MAX, 3, 1, 40);
            assert!(!got.is_empty(), "a non-empty queue gave nothing");
            rounds += 1;
            assert!(rounds < 1_000, "the queue did not drain");
        }
        assert!(q.slots.capacity() <= 64 && q.free_slots.capacity() <= 64);
        assert!(q.names.is_empty() && q.names.capacity() < 1_000);
        // Names still index the right messages after the reset.
        q.push(Some("a".into()), vec![1], Some(Notify::Leave));
        q.push(Some("b".into()), vec![2], None);
        q.push(Some("a".into()), vec![3], None);
        assert_eq!(q.drain_finished(), vec![Notify::Leave]);
        let mut got: Vec<Vec<u8>> = q
            .take(0, 100, usize::MAX, 1, 1, 127)
            .iter()
            .map(|(m, _)| m.to_vec())
            .collect();
        got.sort();
        assert_eq!(got, vec![vec![2], vec![3]]);
        assert_eq!(q.len(), 0);
    }
}
