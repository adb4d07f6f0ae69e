//! serf-rs's packet layout, with its label, checksum, compression and
//! encryption switched off (the translating transport does Go's instead): one
//! message, or a compound of several, built and parsed with memberlist-proto's
//! own encoder and decoder so that the layout is never restated here.
//!
//! Only bytes serf-rs itself wrote are given to [`split`]: memberlist-proto
//! 0.3.4 trips a debug assertion (a panic in debug builds) on some malformed
//! input, so bytes from the network are read by Serfer's own codec instead.

use std::net::SocketAddr;

use memberlist_proto::{Data, MessagesDecoder, ProtoEncoder};
use serf::types::SmolStr;

use super::memberlist::RsMsg;
use serfer_wire::error::{Result, WireError};

fn engine(what: &'static str, e: impl std::fmt::Display) -> WireError {
    WireError::Engine {
        what,
        reason: e.to_string(),
    }
}

/// The messages of one packet serf-rs sent (a bare message or a compound).
pub fn split(packet: &[u8]) -> Result<Vec<RsMsg>> {
    if packet.is_empty() {
        return Err(WireError::Empty { what: "packet" });
    }
    let decoder = MessagesDecoder::<SmolStr, SocketAddr, _>::new(packet)
        .map_err(|e| engine("packet decode", e))?;
    decoder
        .iter()
        .map(|m| {
            let m = m.map_err(|e| engine("packet part decode", e))?;
            <RsMsg as Data>::from_ref(m).map_err(|e| engine("packet part decode", e))
        })
        .collect()
}

/// Packets for serf-rs holding `msgs`, each at most `max` bytes; a message
/// larger than `max` gets a packet of its own.
pub fn join(msgs: &[RsMsg], max: usize) -> Result<Vec<Vec<u8>>> {
    ProtoEncoder::new(max)
        .with_messages(msgs)
        .encode()
        .map(|p| {
            p.map(|p| p.as_slice().to_vec())
                .map_err(|e| engine("packet encode", e))
        })
        .collect()
}
