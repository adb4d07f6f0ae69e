//! Translation between serf-rs's messages and HashiCorp's, the core of the
//! `--wire hashicorp` transport.
//!
//! serf-rs keeps its framing and message encoding above the transport, so a
//! transport that speaks Go's wire has to take serf-rs's messages apart and
//! write them the Go way, and the reverse. This module holds that mapping and
//! nothing else: no sockets, no timers.
//!
//! * [`memberlist`]: ping, indirect ping, ack, nack, suspect, alive, dead,
//!   push/pull and error messages, with the holes each side leaves filled from
//!   this node's identity and the packet's address.
//! * [`meta`]: tags in node meta and the coordinate in ack payloads.
//! * [`peers`]: what is remembered per node so that re-encoded bytes equal the
//!   node's own (meta, `Vsn`), and the name ↔ address table.
//! * [`packet`]: serf-rs's packet layout (single message or compound).
//! * [`rs_wire`]: the protobuf-like field encoding serf-rs's Serf messages are
//!   written in, read strictly and without panics.
//! * [`serf`]: a byte-exact mirror of serf-core 0.5.2's (crate-private) Serf
//!   messages: what serf-rs puts in `UserData` and the push/pull user state.
//! * [`serf_msg`]: those messages ↔ Go's Serf messages, including the internal
//!   key and conflict queries whose names and payloads differ.

pub mod memberlist;
pub mod meta;
pub mod packet;
pub mod peers;
pub mod rs_wire;
pub mod serf;
pub mod serf_msg;

#[cfg(test)]
mod serf_tests;
#[cfg(test)]
mod tests;
