//! Serfer's user-event trailer: a nonce appended to every payload Serfer sends
//! on serf-rs, and removed again on receipt.

/// Bytes of Serfer's event trailer: 8 random bytes and a 2-byte mark.
pub(crate) const TRAILER_LEN: usize = 10;
pub(crate) const TRAILER_MARK: [u8; 2] = [0x5e, 0xf7];

/// Appends Serfer's trailer to a user-event payload.
///
/// serf-rs 0.5.2 checks an incoming event against every event ever stored in its
/// buffer slot (`ltime % buffer size`) without comparing Lamport times, so an event
/// identical in name and payload to one sent a buffer-length earlier is dropped as a
/// duplicate. A random nonce makes every send distinct; true duplicates of one send
/// (the same gossip received twice) still carry the same nonce and are still dropped.
pub(crate) fn add_trailer(payload: &[u8]) -> bytes::Bytes {
    with_trailer(payload, rand::random()).into()
}

/// `payload` followed by a trailer carrying `nonce`. The HashiCorp transport
/// derives the nonce from the event itself, so that copies of one Go event
/// (which carries no trailer) stay duplicates of each other.
pub(crate) fn with_trailer(payload: &[u8], nonce: [u8; 8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + TRAILER_LEN);
    out.extend_from_slice(payload);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&TRAILER_MARK);
    out
}

/// Removes Serfer's trailer; payloads from senders that add none pass unchanged.
pub(crate) fn strip_trailer(payload: &bytes::Bytes) -> bytes::Bytes {
    if payload.len() >= TRAILER_LEN && payload[payload.len() - 2..] == TRAILER_MARK {
        payload.slice(..payload.len() - TRAILER_LEN)
    } else {
        payload.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_round_trip() {
        let p = bytes::Bytes::from_static(b"payload");
        let t = add_trailer(&p);
        assert_eq!(t.len(), p.len() + TRAILER_LEN);
        assert_eq!(strip_trailer(&t), p);
        assert_ne!(add_trailer(&p), t, "every send is distinct");
        // A payload from a sender that adds no trailer is left alone.
        assert_eq!(strip_trailer(&p), p);
        assert_eq!(strip_trailer(&bytes::Bytes::new()), bytes::Bytes::new());
    }
}
