//! §11: packets captured from Go agents, through every layer.

use super::*;
use crate::frame::{self, PacketOptions};
use crate::serf::{self, JoinIntent};

#[test]
fn capture_probe_ping() {
    let p = Ping {
        seq_no: 2,
        node: "py-peer".into(),
        source_addr: ip(21),
        source_port: 7946,
        source_node: "node-a".into(),
    };
    check_message(CAPTURE_PING, Message::Ping(p));
}

#[test]
fn capture_ack_with_coordinate() {
    let Message::Ack(ack) = Message::decode(&hex(CAPTURE_ACK)).unwrap() else {
        panic!("not an ack")
    };
    assert_eq!(ack.seq_no, 710);
    let payload = ack.payload.clone().unwrap();
    assert_eq!(payload.len(), 130);
    let c = serf::decode_ping_payload(&payload).unwrap().unwrap();
    assert_eq!(c.vec.len(), 8);
    assert!(c.error > 0.8 && c.error < 0.9, "{c:?}");
    assert!(c.height > 5e-5 && c.height < 6e-5, "{c:?}");
    // Floats survive exactly, so the ack encodes back to the same bytes.
    assert_eq!(serf::encode_ping_payload(&c).unwrap(), payload);
    check_message(CAPTURE_ACK, Message::Ack(ack));
}

#[test]
fn capture_gossip_round_with_crc_and_compound() {
    let bytes = hex(CAPTURE_GOSSIP);
    let un = frame::decode_packet(&bytes, LIMIT).unwrap();
    assert!(un.errors.is_empty() && un.truncated == 0);
    let [Message::Alive(a), Message::User(user)] = &un.messages[..] else {
        panic!("{:?}", un.messages)
    };
    assert_eq!(
        (a.node.as_str(), a.incarnation, &a.addr[..], a.port, a.vsn),
        ("py-peer", 1, &ip(25)[..], 7946, Some(VSN))
    );
    assert_eq!(
        serf::decode_tags(&a.meta).unwrap(),
        tags(&[("role", "py"), ("ver", "1")])
    );
    assert_eq!(
        SerfMessage::decode(user).unwrap(),
        SerfMessage::Join(JoinIntent {
            ltime: 2,
            node: "py-peer".into()
        })
    );
    // Re-encoding gives the same packet, compression declined as longer.
    let parts = [
        un.messages[0].encode().unwrap(),
        un.messages[1].encode().unwrap(),
    ];
    let opts = PacketOptions {
        compress: true,
        crc: true,
    };
    assert_eq!(
        to_hex(&frame::encode_packet(&parts, opts).unwrap()),
        CAPTURE_GOSSIP
    );
}

#[test]
fn capture_compressed_gossip_round() {
    let bytes = hex(CAPTURE_COMPRESSED_GOSSIP);
    let compressed = frame::strip_crc(&bytes).unwrap();
    assert_eq!(
        to_hex(&frame::decompress(compressed, LIMIT).unwrap()),
        CAPTURE_COMPRESSED_GOSSIP_INNER
    );
    let un = frame::decode_packet(&bytes, LIMIT).unwrap();
    assert!(un.errors.is_empty() && un.truncated == 0);
    let [Message::Alive(b), Message::Alive(p), Message::User(user)] = &un.messages[..] else {
        panic!("{:?}", un.messages)
    };
    assert_eq!(
        (b.node.as_str(), b.incarnation, &b.addr[..]),
        ("node-b", 2, &ip(22)[..])
    );
    assert_eq!(serf::decode_tags(&b.meta).unwrap(), tags(&[("role", "db")]));
    assert_eq!(
        (p.node.as_str(), p.incarnation, &p.addr[..]),
        ("py-peer", 2, &ip(25)[..])
    );
    assert_eq!(
        serf::decode_tags(&p.meta).unwrap(),
        tags(&[("role", "py2")])
    );
    let expected = Query {
        ltime: 4,
        id: 0x7c3a_0abb,
        addr: ip(25),
        port: 7946,
        source_node: "py-peer".into(),
        filters: Some(vec![]),
        flags: QUERY_FLAG_ACK,
        relay_factor: 0,
        timeout_ns: 3_000_000_000,
        name: "askb".into(),
        payload: Some(b"?".to_vec()),
    };
    assert_eq!(
        SerfMessage::decode(user).unwrap(),
        SerfMessage::Query(expected)
    );
    // Our LZW writes Go's bytes, so the whole packet re-encodes identically.
    let parts: Vec<Vec<u8>> = un.messages.iter().map(|m| m.encode().unwrap()).collect();
    let opts = PacketOptions {
        compress: true,
        crc: true,
    };
    assert_eq!(
        to_hex(&frame::encode_packet(&parts, opts).unwrap()),
        CAPTURE_COMPRESSED_GOSSIP
    );
}
