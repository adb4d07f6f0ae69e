//! A codec for the gossip wire of HashiCorp Serf: memberlist 0.2.2 and serf 0.9.4,
//! what Debian's `serf` agent speaks.
//!
//! Every message turns into bytes and back, byte-exact with the Go encoders. The
//! crate holds data only, no protocol behaviour (probing, suspicion, clocks), and
//! nothing in it panics on any input: every decoder returns a [`WireError`] saying
//! what was expected and where.
//!
//! Layers, outermost first:
//!
//! * [`crypto`]: AES-GCM packet encryption and the stream frame.
//! * [`frame`]: CRC, compress and compound wrappers, the receive pipeline of a
//!   packet, and stream payloads: push/pull, ping, ack, user, err.
//! * [`lzw`]: Go's `compress/lzw`, LSB, 8-bit literals.
//! * [`memberlist`]: the typed memberlist messages.
//! * [`serf`]: Serf messages, query filters, tags in node meta and the ack
//!   payload coordinate.
//! * [`msgpack`]: the go-msgpack dialect all of them are written in.
//!
//! Receiving a packet: [`crypto::decrypt_packet`] (if a keyring is set), then
//! [`frame::decode_packet`], then [`serf::SerfMessage::decode`] on each
//! [`memberlist::Message::User`]. Receiving a stream: [`crypto::stream_frame_len`]
//! and [`crypto::decrypt_stream`] when it starts with `0a`, then
//! [`frame::StreamMessage::decode`]. Sending reverses each step.
//!
//! ```
//! use serfer_wire::memberlist::Ping;
//!
//! let ping = Ping { seq_no: 42, node: "node-b".into(), ..Ping::default() };
//! let bytes = ping.encode().unwrap();
//! assert_eq!(bytes[0], serfer_wire::memberlist::PING);
//! assert_eq!(Ping::decode(&bytes).unwrap(), ping);
//! ```

#![warn(missing_docs)]

pub mod crypto;
pub mod error;
pub mod frame;
pub mod lzw;
pub mod memberlist;
mod message;
pub mod msgpack;
pub mod serf;

#[cfg(test)]
mod tests;
#[cfg(any(test, feature = "vectors"))]
pub mod vectors;

pub use error::{Result, WireError};
