//! Serfer's own gossip engine: a Sans-I/O memberlist (SWIM) core that speaks
//! HashiCorp's gossip wire natively, a deterministic simulator that runs many
//! cores in one process on virtual time, and a thin tokio driver that runs one
//! core on real sockets.
//!
//! * [`memberlist`]: the core. It owns no socket, clock, thread or global random
//!   source: the caller passes the time and every received byte in, and drains
//!   packets, stream exchanges and events out. Every byte it produces or accepts
//!   goes through [`serfer_wire`].
//! * [`sim`]: N cores, a seeded network (delay, loss, partitions, crashes) and a
//!   priority queue of timers and deliveries. The same seed gives the same run.
//!   A cluster can form by joins or start as one ([`sim::Sim::add_cluster`],
//!   whose nodes share their member records: 10,000 nodes fit in 10.5 GiB).
//! * `net` (feature `net`, on by default): one core — a bare memberlist
//!   (`net::Node`) or a Serf core (`net::SerfNode`) — on a UDP socket and a TCP
//!   listener.
//!
//! * [`serf`]: the Serf layer on top of the core, as Sans-I/O as the core: Lamport
//!   clocks, join/leave intents and Serf member status, user events, queries,
//!   tags, push/pull Serf state. The simulator runs it too ([`sim::Sim::serf`]).

#![warn(missing_docs)]

pub mod core;
mod fxhash;
pub mod memberlist;
#[cfg(feature = "net")]
pub mod net;
pub mod serf;
pub mod sim;
mod time;

pub use time::Instant;

/// Gives back most of an emptied queue's memory once it has grown large.
///
/// A push/pull merge of a large cluster queues one output per member, and a
/// queue keeps its largest capacity: in every node, for good, that is memory
/// in proportion to the cluster's size, spent once and never used again. Room
/// for 64 stays, so the handful of outputs of an ordinary input never
/// reallocates.
pub(crate) fn release_idle_capacity<T>(queue: &mut std::collections::VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > IDLE_ROOM {
        queue.shrink_to(IDLE_ROOM);
    }
}

/// How many entries an emptied queue keeps room for.
pub(crate) const IDLE_ROOM: usize = 64;

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    #[test]
    fn an_emptied_queue_gives_back_what_a_burst_took_and_keeps_a_little() {
        let mut q: VecDeque<u64> = (0..10_000).collect();
        super::release_idle_capacity(&mut q);
        assert!(q.capacity() >= 10_000, "a queue in use keeps its memory");
        q.clear();
        super::release_idle_capacity(&mut q);
        assert_eq!(q.capacity(), 64, "{}", q.capacity());
        let mut small: VecDeque<u64> = VecDeque::with_capacity(50);
        super::release_idle_capacity(&mut small);
        assert_eq!(small.capacity(), 50, "small queues are left as they are");
    }
}
