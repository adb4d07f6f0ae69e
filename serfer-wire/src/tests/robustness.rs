//! Robustness: no input makes a decoder panic, and bad input gives an error
//! that says what is wrong.

use super::*;
use crate::memberlist::{PushPullHeader, UserMsgHeader};
use crate::msgpack::Reader;
use crate::serf::{self, Filter};
use crate::{crypto, frame, lzw, WireError};

/// Every vector and capture, as bytes.
fn all_inputs() -> Vec<Vec<u8>> {
    VECTORS
        .iter()
        .chain(CAPTURES.iter())
        .map(|v| hex(v))
        .collect()
}

/// Runs every decoder on `bytes`. None may panic; a message that decodes must
/// encode, and decode again to the same value.
fn all_decoders(bytes: &[u8], with_crypto: bool) {
    if let Ok(m) = Message::decode(bytes) {
        let again = m.encode().unwrap();
        assert_eq!(Message::decode(&again).unwrap(), m);
    }
    if let Ok(m) = SerfMessage::decode(bytes) {
        let again = m.encode().unwrap();
        assert_eq!(SerfMessage::decode(&again).unwrap(), m);
        if let SerfMessage::Query(q) = m {
            let _ = q.decoded_filters();
        }
    }
    if let Ok(un) = frame::decode_packet(bytes, 1 << 16) {
        for m in &un.messages {
            m.encode().unwrap();
        }
    }
    if let Ok(m) = StreamMessage::decode(bytes, 1 << 16) {
        let again = m.encode().unwrap();
        assert_eq!(StreamMessage::decode(&again, 0).unwrap(), m);
    }
    let _ = frame::decode_compound(bytes);
    let _ = frame::decompress(bytes, 1 << 16);
    let _ = frame::strip_crc(bytes);
    let _ = lzw::decompress(bytes, 1 << 16);
    let _ = lzw::decompress(bytes.get(1..).unwrap_or_default(), 1 << 16);
    let _ = PushPullHeader::decode(bytes);
    let _ = PushNodeState::decode(bytes);
    let _ = UserMsgHeader::decode(bytes);
    let _ = Filter::decode(bytes);
    let _ = serf::decode_tags(bytes);
    if let Ok(Some(c)) = serf::decode_ping_payload(bytes) {
        serf::encode_ping_payload(&c).unwrap();
    }
    let _ = Reader::new(bytes).value();
    if with_crypto {
        let _ = crypto::decrypt_packet(&[KEY], bytes);
        let _ = crypto::decrypt_stream(&[KEY], bytes);
        let _ = crypto::stream_frame_len(bytes);
    }
}

#[test]
fn truncated_prefixes_never_panic() {
    for input in all_inputs() {
        for len in 0..input.len() {
            all_decoders(&input[..len], true);
        }
        all_decoders(&input, true);
    }
}

#[test]
fn random_mutations_never_panic() {
    let inputs = all_inputs();
    let mut rng = Rng::new(0x5e7f);
    for round in 0..20_000 {
        let mut bytes = inputs[rng.below(inputs.len())].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            let byte = rng.next_u64() as u8;
            match rng.below(6) {
                0 | 1 if at < bytes.len() => bytes[at] = byte,
                2 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
                3 => bytes.insert(at, byte),
                4 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        // AES is slow in debug builds; a tenth of the rounds is plenty for it.
        all_decoders(&bytes, round % 10 == 0);
    }
}

#[test]
fn named_bad_inputs_are_errors() {
    // Compound with a part length beyond the data: the part counts as truncated.
    let c = frame::decode_compound(&[7, 2, 0, 2, 0, 50, 11, 0x80, 11]).unwrap();
    assert_eq!((c.parts.len(), c.truncated), (1, 1));
    // CRC mismatch.
    let mut bad = hex(V_CRC_ALIVE);
    bad[1] ^= 1;
    assert!(matches!(
        frame::decode_packet(&bad, 0),
        Err(WireError::CrcMismatch { .. })
    ));
    // Unknown compression algorithm.
    let mut algo = hex(V_COMPRESS_ALIVE);
    assert_eq!(algo[7], 0x00, "Algo value");
    algo[7] = 0x01;
    assert_eq!(
        frame::decompress(&algo, LIMIT),
        Err(WireError::UnknownAlgo { algo: 1 })
    );
    // A 3-byte Vsn is an error, never taken for six.
    let short =
        to_hex(&Message::Alive(alive()).encode().unwrap()).replace("a6010502020505", "a3010502");
    assert!(matches!(
        Message::decode(&hex(&short)),
        Err(WireError::BadVsn { len: 3, .. })
    ));
    // A str32 of 4 GB on a 10-byte input.
    let huge = [0xdb, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0];
    assert!(Reader::new(&huge).value().unwrap_err().is_truncated());
    assert!(Message::decode(&[8, 0xdb, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_ok());
    assert!(Message::decode(&[0, 0xdb, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    // Wrong key.
    let other = [0x42u8; 16];
    assert_eq!(
        crypto::decrypt_packet(&[other], &hex(V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F)),
        Err(WireError::DecryptFailed { tried: 1 })
    );
    assert_eq!(
        crypto::decrypt_stream(&[other], &hex(V_ENCRYPTED_STREAM_V1_OF_ABC)),
        Err(WireError::DecryptFailed { tried: 1 })
    );
    // Stream frame over 20 MiB.
    let l = (20u32 * 1024 * 1024 + 1).to_be_bytes();
    assert!(matches!(
        crypto::decrypt_stream(&[KEY], &[0x0a, l[0], l[1], l[2], l[3], 1]),
        Err(WireError::FrameTooLarge { .. })
    ));
    // A string field sent as bin.
    let bin_node = to_hex(&Message::Suspect(suspect()).encode().unwrap())
        .replace("a66e6f64652d62", "c4066e6f64652d62");
    assert!(matches!(
        Message::decode(&hex(&bin_node)),
        Err(WireError::FieldType {
            field: "Node",
            found: "a bin",
            ..
        })
    ));
    // …while a bytes field sent as bin is accepted.
    let bin_addr = V_ALIVE.replace("a47f000002", "c4047f000002");
    assert_eq!(
        Message::decode(&hex(&bin_addr)).unwrap(),
        Message::Alive(alive())
    );
}

#[test]
fn error_messages_say_what_and_where() {
    let e = Message::decode(&hex("0082a44e6f6465")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input ends early: msgpack type byte at offset 7 needs 1 more byte(s)"
    );
    let e = Ping::decode(&hex(V_NACK)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "memberlist message type 11 is not accepted where a ping (0) was expected"
    );
    let e = frame::decode_packet(&hex(V_CRC_ALIVE)[..20], 0).unwrap_err();
    assert!(e.to_string().starts_with("invalid checksum"), "{e}");
}
