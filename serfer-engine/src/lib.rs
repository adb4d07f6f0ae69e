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
