//! Translation between serf-rs's messages and HashiCorp's, the core of the
//! `--wire hashicorp` transport (issue #5).
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

pub mod memberlist;
pub mod meta;
pub mod packet;
pub mod peers;

#[cfg(test)]
mod tests;
