//! Telling a peer on the other wire from noise, so that a node can say what to
//! change instead of logging undecodable bytes.
//!
//! A node on serf-rs's wire and one on HashiCorp's cannot read each other: a
//! stock `serf agent -join` to a default node fails with an encryption or decode
//! error on both sides, which points nowhere. Every join starts with a TCP
//! push/pull, so the first bytes of an accepted connection are enough to
//! recognise Go's framing.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// Whether the first bytes of a stream are Go memberlist's framing. Only
/// prefixes that serf-rs never starts a stream with count: an encryption frame
/// (type 10, a 4-byte length, version 0 or 1; 10 is serf-rs's nack tag), a
/// compress wrapper (type 9, then the map `{"Algo", …}`) and a plain push/pull
/// header (type 6, then the map `{"Join", …}`; 6 is serf-rs's alive tag).
pub(crate) fn is_go_stream(first: &[u8]) -> bool {
    match first {
        [10, _, _, _, _, version, ..] => *version <= 1,
        [9, 0x82, 0xa4, b'A', b'l', b'g', b'o', ..] => true,
        [6, 0x83, 0xa4, b'J', b'o', b'i', b'n', ..] => true,
        _ => false,
    }
}

/// Bytes to look at: the longest prefix [`is_go_stream`] reads.
pub(crate) const SNIFF_LEN: usize = 7;

/// Hosts already reported, so that a peer retrying every push/pull interval
/// (each time from a new port) is named once, not on every attempt.
#[derive(Default)]
pub(crate) struct Reported(Mutex<HashSet<IpAddr>>);

impl Reported {
    /// Logs, once per host, that `peer` speaks HashiCorp's wire.
    pub(crate) fn go_peer(&self, peer: SocketAddr) {
        if self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer.ip())
        {
            tracing::warn!(
                %peer,
                "{peer} speaks HashiCorp's gossip wire (a `serf agent`, or a Serfer node on the native \
                 engine, the default?) and this node speaks serf-rs's: \
                 start this node with `--wire hashicorp` (`NodeBuilder::wire(Wire::HashiCorp)`) to join it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serfer_wire::crypto::{encrypt_stream, Version};
    use serfer_wire::frame::{PushPull, StreamMessage};

    #[test]
    fn go_streams_are_recognised_and_serf_rs_tags_are_not() {
        let plain = StreamMessage::PushPull(PushPull::default())
            .encode()
            .unwrap();
        assert!(is_go_stream(&plain), "{plain:02x?}");
        let compressed = StreamMessage::PushPull(PushPull::default())
            .encode_stream(true)
            .unwrap();
        assert!(is_go_stream(&compressed), "{compressed:02x?}");
        let encrypted = encrypt_stream(Version::V1, &[7; 16], &plain).unwrap();
        assert!(is_go_stream(&encrypted), "{encrypted:02x?}");
        // serf-rs's streams start with its own tags: labeled, checksummed,
        // compressed, encrypted (12..=15) or a push/pull (8).
        for tag in [8u8, 12, 13, 14, 15] {
            assert!(!is_go_stream(&[tag, 0x82, 0xa4, b'A', b'l', b'g', b'o']));
        }
        assert!(!is_go_stream(&[]));
        assert!(!is_go_stream(&[10, 0, 0]));
    }
}
