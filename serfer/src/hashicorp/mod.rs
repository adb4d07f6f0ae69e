//! A codec for the gossip wire format of HashiCorp Serf (memberlist 0.2.2 +
//! serf 0.9.4, what Debian's `serf` agent speaks), written from the
//! specification in `shared/reference/serf-gossip-wire.md`.
//!
//! It turns every message into bytes and back, byte-exact with the Go encoders,
//! and is the foundation of the `--wire hashicorp` translating transport
//! (issue #5). It holds no protocol behaviour (probing, suspicion, clocks): only
//! data. Nothing here panics on any input; every decoder returns a [`WireError`]
//! saying what was expected and where.
//!
//! Layers, outermost first, with the spec sections they implement:
//!
//! * [`crypto`]: AES-GCM packet encryption and the stream frame (§4.4, §5.2).
//! * [`frame`]: CRC, compress and compound wrappers, the receive pipeline of a
//!   packet, and stream payloads: push/pull, ping, ack, user, err (§4, §5.1).
//! * [`lzw`]: Go's `compress/lzw`, LSB, 8-bit literals (§4.2).
//! * [`memberlist`]: the typed memberlist messages (§3).
//! * [`serf`]: Serf messages, query filters, tags in node meta and the ack
//!   payload coordinate (§7, §9.2, §9.8).
//! * [`msgpack`]: the go-msgpack dialect all of them are written in (§2).
//! * [`translate`]: serf-rs's messages ↔ these, for the translating transport.
//! * [`transport`]: the translating transport itself, a memberlist-core
//!   `Transport` that puts serf-rs on Go's wire.
//!
//! Receiving a packet: [`crypto::decrypt_packet`] (if a keyring is set), then
//! [`frame::decode_packet`], then [`serf::SerfMessage::decode`] on each
//! [`memberlist::Message::User`]. Receiving a stream: [`crypto::stream_frame_len`]
//! and [`crypto::decrypt_stream`] when it starts with `0a`, then
//! [`frame::StreamMessage::decode`]. Sending reverses each step.
//!
//! `live_tests` (test builds only) runs a minimal peer built on this codec
//! against real `serf agent` processes (the spec's §14.3 check).

// The codec is complete in both directions, as the specification is; the
// transport uses the halves translation needs, and the tests (and the test
// peer in `live_tests`) the rest.
#[cfg_attr(not(test), allow(dead_code))]
pub mod crypto;
pub mod error;
pub mod frame;
pub mod lzw;
#[cfg_attr(not(test), allow(dead_code))]
pub mod memberlist;
#[cfg_attr(not(test), allow(dead_code))]
pub mod msgpack;
#[cfg_attr(not(test), allow(dead_code))]
pub mod serf;
pub mod translate;
pub mod transport;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
pub use error::WireError;
