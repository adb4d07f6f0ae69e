//! §12.2 and §12.3: push/pull and user streams, and the compound, compress
//! and CRC wrappers.

use super::*;
use crate::frame::{self, PacketOptions};
use crate::memberlist::{PushPullHeader, UserMsgHeader};
use crate::WireError;

#[test]
fn v_pushpull_header() {
    let h = PushPullHeader {
        join: true,
        nodes: 1,
        user_state_len: 117,
    };
    assert_eq!(to_hex(&h.encode().unwrap()), V_PUSHPULL_HEADER);
    assert_eq!(PushPullHeader::decode(&hex(V_PUSHPULL_HEADER)).unwrap(), h);
}

#[test]
fn v_pushpull_node_state() {
    assert_eq!(
        to_hex(&node_state().encode().unwrap()),
        V_PUSHPULL_NODE_STATE
    );
    assert_eq!(
        PushNodeState::decode(&hex(V_PUSHPULL_NODE_STATE)).unwrap(),
        node_state()
    );
}

#[test]
fn v_pushpull_stream_plain() {
    assert_eq!(
        to_hex(&pushpull_stream().encode().unwrap()),
        V_PUSHPULL_STREAM_PLAIN
    );
    assert_eq!(
        to_hex(&pushpull_stream().encode_stream(false).unwrap()),
        V_PUSHPULL_STREAM_PLAIN
    );
    assert_eq!(
        StreamMessage::decode(&hex(V_PUSHPULL_STREAM_PLAIN), 0).unwrap(),
        pushpull_stream()
    );
}

#[test]
fn v_compress_pushpull_stream() {
    assert_eq!(
        to_hex(&pushpull_stream().encode_stream(true).unwrap()),
        V_COMPRESS_PUSHPULL_STREAM
    );
    let bytes = hex(V_COMPRESS_PUSHPULL_STREAM);
    assert_eq!(
        to_hex(&frame::decompress(&bytes, LIMIT).unwrap()),
        V_PUSHPULL_STREAM_PLAIN
    );
    assert_eq!(
        StreamMessage::decode(&bytes, LIMIT).unwrap(),
        pushpull_stream()
    );
    // The limit applies to the decompressed size (225 bytes).
    assert_eq!(
        StreamMessage::decode(&bytes, 224),
        Err(WireError::TooLarge { limit: 224 })
    );
}

#[test]
fn v_user_stream_prefix_for_3_bytes() {
    let h = UserMsgHeader { user_msg_len: 3 };
    assert_eq!(
        to_hex(&h.encode().unwrap()),
        V_USER_STREAM_PREFIX_FOR_3_BYTES
    );
    assert_eq!(
        UserMsgHeader::decode(&hex(V_USER_STREAM_PREFIX_FOR_3_BYTES)).unwrap(),
        h
    );
    let msg = StreamMessage::User(b"xyz".to_vec());
    let full = format!("{V_USER_STREAM_PREFIX_FOR_3_BYTES}78797a");
    assert_eq!(to_hex(&msg.encode().unwrap()), full);
    assert_eq!(StreamMessage::decode(&hex(&full), 0).unwrap(), msg);
}

#[test]
fn v_compound_ping_suspect() {
    let parts = [hex(V_PING), hex(V_SUSPECT)];
    assert_eq!(
        to_hex(&frame::encode_compound(&parts).unwrap()),
        V_COMPOUND_PING_SUSPECT
    );
    assert_eq!(
        to_hex(&frame::encode_packet(&parts, PacketOptions::default()).unwrap()),
        V_COMPOUND_PING_SUSPECT
    );
    let bytes = hex(V_COMPOUND_PING_SUSPECT);
    let c = frame::decode_compound(&bytes).unwrap();
    assert_eq!(c.parts, [&parts[0][..], &parts[1][..]]);
    assert_eq!(c.truncated, 0);
    let un = frame::decode_packet(&bytes, 0).unwrap();
    assert_eq!(
        un.messages,
        [Message::Ping(ping()), Message::Suspect(suspect())]
    );
    assert!(un.errors.is_empty());
}

#[test]
fn v_compress_alive() {
    let alive_bytes = hex(V_ALIVE);
    assert_eq!(
        to_hex(&frame::compress(&alive_bytes).unwrap()),
        V_COMPRESS_ALIVE
    );
    let bytes = hex(V_COMPRESS_ALIVE);
    assert_eq!(frame::decompress(&bytes, LIMIT).unwrap(), alive_bytes);
    assert_eq!(
        frame::decode_packet(&bytes, LIMIT).unwrap().messages,
        [Message::Alive(alive())]
    );
    // Longer than the original, so a sender keeps the original.
    let opts = PacketOptions {
        compress: true,
        crc: false,
    };
    assert_eq!(
        frame::encode_packet(&[&alive_bytes], opts).unwrap(),
        alive_bytes
    );
}

#[test]
fn v_crc_alive() {
    let alive_bytes = hex(V_ALIVE);
    assert_eq!(to_hex(&frame::add_crc(&alive_bytes)), V_CRC_ALIVE);
    let opts = PacketOptions {
        compress: true,
        crc: true,
    };
    assert_eq!(
        to_hex(&frame::encode_packet(&[&alive_bytes], opts).unwrap()),
        V_CRC_ALIVE
    );
    let bytes = hex(V_CRC_ALIVE);
    assert_eq!(frame::strip_crc(&bytes).unwrap(), alive_bytes);
    assert_eq!(
        frame::decode_packet(&bytes, 0).unwrap().messages,
        [Message::Alive(alive())]
    );
}
