//! The translation, checked on both sides' real bytes: Go's golden vectors and
//! captures go to serf-rs and back unchanged, and messages that serf-rs's own
//! encoder wrote go to Go and back unchanged.

use std::net::SocketAddr;

use memberlist_proto::{
    Ack, Alive, DelegateVersion, ErrorResponse, IndirectPing, Message as RsMessage, Meta, Nack,
    Node, Ping, ProtocolVersion, PushNodeState, PushPull, State,
};
use serf::types::coordinate::Coordinate as RsCoordinate;
use serf::types::{Data, SmolStr, Tags};

use super::memberlist::{decode_rs, encode_rs, GoMsg, Local, RsMsg, Translator};
use super::packet;
use super::peers::DEFAULT_VSN;
use serfer_wire::frame::StreamMessage;
use serfer_wire::memberlist::Message as GoMessage;
use serfer_wire::vectors::{self, hex};
use serfer_wire::WireError;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The translator of "node-b" at 127.0.0.3:7946, the target of the vectors'
/// probes.
fn translator() -> Translator {
    Translator::new(Local {
        name: SmolStr::new("node-b"),
        addr: addr("127.0.0.3:7946"),
    })
}

fn node(name: &str, a: &str) -> Node<SmolStr, SocketAddr> {
    Node::new(SmolStr::new(name), addr(a))
}

/// Go bytes → serf-rs message → serf-rs bytes → serf-rs message → Go bytes.
fn go_round_trip(t: &Translator, go_bytes: &[u8], from: SocketAddr) -> (RsMsg, Vec<u8>) {
    let go = GoMessage::decode(go_bytes).expect("vector decodes");
    let rs = t.to_rs(GoMsg::Gossip(go), from).expect("to serf-rs");
    let rs_again = decode_rs(&encode_rs(&rs).unwrap()).expect("serf-rs reads its own bytes");
    assert_eq!(rs_again, rs, "serf-rs's encoding loses nothing");
    let back = t.to_go(rs_again).unwrap().into_packet().unwrap();
    (rs, back.encode().unwrap())
}

#[test]
fn go_vectors_come_back_byte_for_byte() {
    let from = addr("127.0.0.2:7946");
    for (name, vector) in [
        ("ping", vectors::V_PING),
        ("indirect_ping", vectors::V_INDIRECT_PING),
        ("ack_with_payload", vectors::V_ACK_WITH_PAYLOAD),
        ("ack_empty", vectors::V_ACK_EMPTY),
        ("nack", vectors::V_NACK),
        ("suspect", vectors::V_SUSPECT),
        ("alive", vectors::V_ALIVE),
        ("dead", vectors::V_DEAD),
        ("dead_leave", vectors::V_DEAD_LEAVE),
        ("err_resp", vectors::V_ERR_RESP),
        ("capture ping", vectors::CAPTURE_PING),
        ("capture ack", vectors::CAPTURE_ACK),
    ] {
        let bytes = hex(vector);
        let (_, back) = go_round_trip(&translator(), &bytes, from);
        assert_eq!(back, bytes, "{name}");
    }
}

#[test]
fn go_ping_fills_serf_rs_holes_from_the_packet_and_this_node() {
    let t = translator();
    // A node named "node-a" was seen at the packet's address.
    t.peers()
        .saw(&SmolStr::new("node-a"), addr("127.0.0.2:7946"), None);
    let go = GoMessage::decode(&hex(vectors::V_PING_NO_SOURCE)).unwrap();
    let rs = t.to_rs(GoMsg::Gossip(go), addr("127.0.0.2:7946")).unwrap();
    let RsMessage::Ping(p) = rs else {
        panic!("not a ping: {rs:?}")
    };
    assert_eq!(p.sequence_number(), 42);
    assert_eq!(p.source(), &node("node-a", "127.0.0.2:7946"));
    assert_eq!(p.target(), &node("node-b", "127.0.0.3:7946"));
}

#[test]
fn go_ping_from_an_unknown_address_names_the_prober_by_its_address() {
    let go = GoMessage::decode(&hex(vectors::V_PING_NO_SOURCE)).unwrap();
    let rs = translator()
        .to_rs(GoMsg::Gossip(go), addr("127.0.0.9:1234"))
        .unwrap();
    let RsMessage::Ping(p) = rs else {
        panic!("not a ping: {rs:?}")
    };
    assert_eq!(p.source(), &node("127.0.0.9:1234", "127.0.0.9:1234"));
}

#[test]
fn a_go_nodes_meta_and_vsn_are_sent_back_as_it_sent_them() {
    // Two tags, in an order no sorted encoder produces: Go writes map keys in
    // random order, and a Go node refutes any alive about itself whose meta
    // differs by one byte.
    let go_meta = hex("ff82a3766572a131a4726f6c65a3776562"); // {ver:1, role:web}
    let vsn = [1, 5, 3, 2, 5, 4];
    let alive = GoMessage::Alive(serfer_wire::memberlist::Alive {
        incarnation: 7,
        node: "go-node".into(),
        addr: vec![127, 0, 0, 2],
        port: 7946,
        meta: go_meta.clone(),
        vsn: Some(vsn),
    });
    let t = translator();
    let rs = t
        .to_rs(GoMsg::Gossip(alive.clone()), addr("127.0.0.2:7946"))
        .unwrap();
    let RsMessage::Alive(a) = &rs else {
        panic!("not alive: {rs:?}")
    };
    let (_, tags) = <Tags as Data>::decode(a.meta().as_bytes()).unwrap();
    assert_eq!(tags.get("role").map(|v| v.as_str()), Some("web"));
    assert_eq!(tags.get("ver").map(|v| v.as_str()), Some("1"));
    assert_eq!(
        t.peers().addr_of(&SmolStr::new("go-node")),
        Some(addr("127.0.0.2:7946")),
        "the name -> address table learns from alive messages"
    );
    // serf-rs gossips it on, re-encoded by its own encoder.
    let relayed = decode_rs(&encode_rs(&rs).unwrap()).unwrap();
    assert_eq!(t.to_go(relayed).unwrap(), GoMsg::Gossip(alive));

    // The same node in a push/pull state.
    let pp = PushPull::new(
        false,
        [PushNodeState::new(
            7,
            SmolStr::new("go-node"),
            addr("127.0.0.2:7946"),
            State::Alive,
        )
        .with_meta(a.meta().clone())]
        .into_iter(),
    );
    let GoMsg::PushPull(go_pp) = t.to_go(RsMessage::PushPull(pp)).unwrap() else {
        panic!("not a push/pull")
    };
    assert_eq!(go_pp.nodes[0].meta, go_meta);
    assert_eq!(go_pp.nodes[0].vsn, Some(vsn));
}

#[test]
fn this_nodes_meta_comes_back_as_serf_rs_wrote_it() {
    // serf-rs keeps tags in insertion order, not sorted.
    let tags: Tags = [("zone", "b"), ("role", "web")].into_iter().collect();
    let meta = Meta::try_from(tags.encode_to_vec().unwrap()).unwrap();
    let own = RsMessage::Alive(
        Alive::new(3, node("node-b", "127.0.0.3:7946"))
            .with_meta(meta)
            .with_protocol_version(ProtocolVersion::V1)
            .with_delegate_version(DelegateVersion::V1),
    );
    let own_bytes = encode_rs(&own).unwrap();
    let t = translator();
    let go = t.to_go(decode_rs(&own_bytes).unwrap()).unwrap();
    let GoMsg::Gossip(GoMessage::Alive(go_alive)) = &go else {
        panic!("not alive: {go:?}")
    };
    assert_eq!(go_alive.vsn, Some(DEFAULT_VSN));
    assert_eq!(go_alive.addr, vec![127, 0, 0, 3]);
    assert_eq!(
        serfer_wire::serf::decode_tags(&go_alive.meta).unwrap(),
        [("role", "web"), ("zone", "b")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    );
    // A Go node relays it back: serf-rs must see its own bytes, or it refutes.
    let wire = go.into_packet().unwrap().encode().unwrap();
    let relayed = GoMessage::decode(&wire).unwrap();
    let rs = t
        .to_rs(GoMsg::Gossip(relayed), addr("127.0.0.2:7946"))
        .unwrap();
    assert_eq!(encode_rs(&rs).unwrap(), own_bytes);
}

#[test]
fn a_node_without_tags_has_empty_serf_rs_meta_and_an_empty_go_map() {
    let t = translator();
    let rs = RsMessage::Alive(Alive::new(1, node("bare", "127.0.0.4:7946")));
    let GoMsg::Gossip(GoMessage::Alive(go)) = t.to_go(rs).unwrap() else {
        panic!("not alive")
    };
    assert_eq!(go.meta, hex(vectors::V_TAGS_META_EMPTY));
    let other = translator();
    let RsMessage::Alive(back) = other
        .to_rs(GoMsg::Gossip(GoMessage::Alive(go)), addr("127.0.0.4:7946"))
        .unwrap()
    else {
        panic!("not alive")
    };
    assert!(back.meta().is_empty());
}

/// Messages built with memberlist-proto and written by its encoder, as serf-rs
/// sends them.
fn serf_rs_messages() -> Vec<RsMsg> {
    let a = node("node-a", "127.0.0.2:7946");
    let b = node("node-b", "127.0.0.3:7946");
    let c = node("node-c", "[::1]:8000");
    let mut coord = RsCoordinate::new();
    coord = coord
        .with_error(0.25)
        .with_height(0.002)
        .with_adjustment(-0.001);
    let mut payload = vec![1u8];
    payload.extend(coord.encode_to_vec().unwrap());
    let tags: Tags = [("role", "db")].into_iter().collect();
    let meta = Meta::try_from(tags.encode_to_vec().unwrap()).unwrap();
    vec![
        RsMessage::Ping(Ping::new(9, a.clone(), b.clone())),
        RsMessage::IndirectPing(IndirectPing::new(10, a.clone(), c.clone())),
        RsMessage::Ack(Ack::new(9).with_payload(payload.into())),
        RsMessage::Ack(Ack::new(11)),
        RsMessage::Nack(Nack::new(10)),
        RsMessage::Suspect(memberlist_proto::Suspect::new(
            4,
            SmolStr::new("node-c"),
            SmolStr::new("node-a"),
        )),
        RsMessage::Dead(memberlist_proto::Dead::new(
            5,
            SmolStr::new("node-a"),
            SmolStr::new("node-a"),
        )),
        RsMessage::Alive(Alive::new(2, c.clone()).with_meta(meta.clone())),
        RsMessage::UserData(bytes::Bytes::from_static(b"\x00serf message")),
        RsMessage::ErrorResponse(ErrorResponse::new("no such thing")),
        RsMessage::PushPull(
            PushPull::new(
                true,
                [
                    PushNodeState::new(1, SmolStr::new("node-a"), *a.address(), State::Alive)
                        .with_meta(meta),
                    PushNodeState::new(3, SmolStr::new("node-c"), *c.address(), State::Left),
                    PushNodeState::new(2, SmolStr::new("node-d"), *b.address(), State::Dead),
                ]
                .into_iter(),
            )
            .with_user_data(bytes::Bytes::from_static(b"serf state")),
        ),
    ]
}

#[test]
fn serf_rs_messages_come_back_byte_for_byte() {
    for msg in serf_rs_messages() {
        let bytes = encode_rs(&msg).unwrap();
        let t = translator();
        let go = t.to_go(decode_rs(&bytes).unwrap()).unwrap();
        // Through Go's bytes, in a packet or on a stream as Go would carry it.
        let go_again: GoMsg = match go.clone() {
            GoMsg::PushPull(_) => {
                let wire = go.clone().into_stream().unwrap().encode().unwrap();
                StreamMessage::decode(&wire, 1 << 20).unwrap().into()
            }
            GoMsg::Gossip(m) => GoMsg::Gossip(GoMessage::decode(&m.encode().unwrap()).unwrap()),
        };
        assert_eq!(go_again, go);
        let from = addr("127.0.0.2:7946");
        let back = t.to_rs(go_again, from).unwrap();
        assert_eq!(encode_rs(&back).unwrap(), bytes, "{msg:?}");
    }
}

#[test]
fn serf_rs_probe_becomes_a_go_probe_with_its_source() {
    let msgs = serf_rs_messages();
    let GoMsg::Gossip(GoMessage::IndirectPing(p)) = translator().to_go(msgs[1].clone()).unwrap()
    else {
        panic!("not an indirect ping")
    };
    assert_eq!(p.node, "node-c");
    assert_eq!(p.target, std::net::Ipv6Addr::LOCALHOST.octets().to_vec());
    assert_eq!(p.port, 8000);
    assert!(p.nack, "memberlist-core always nacks");
    assert_eq!(
        (
            p.source_node.as_str(),
            p.source_addr.as_slice(),
            p.source_port
        ),
        ("node-a", &[127, 0, 0, 2][..], 7946)
    );
}

#[test]
fn the_ack_coordinate_is_the_same_number_on_both_sides() {
    let go_ack = GoMessage::decode(&hex(vectors::CAPTURE_ACK)).unwrap();
    let GoMessage::Ack(a) = &go_ack else {
        panic!("not an ack")
    };
    let go_coord = serfer_wire::serf::decode_ping_payload(a.payload.as_deref().unwrap())
        .unwrap()
        .unwrap();
    let RsMessage::Ack(rs) = translator()
        .to_rs(GoMsg::Gossip(go_ack), addr("127.0.0.2:7946"))
        .unwrap()
    else {
        panic!("not an ack")
    };
    let (_, c) = <RsCoordinate as Data>::decode(&rs.payload()[1..]).unwrap();
    assert_eq!(c.portion().to_vec(), go_coord.vec);
    assert_eq!(
        (c.error(), c.adjustment(), c.height()),
        (go_coord.error, go_coord.adjustment, go_coord.height)
    );
}

#[test]
fn only_stream_kinds_go_on_streams_and_push_pull_never_in_packets() {
    let t = translator();
    let msgs = serf_rs_messages();
    let suspect = t.to_go(msgs[5].clone()).unwrap();
    assert!(matches!(
        suspect.into_stream(),
        Err(WireError::NoCounterpart { .. })
    ));
    let pp = t.to_go(msgs[10].clone()).unwrap();
    assert!(matches!(
        pp.into_packet(),
        Err(WireError::NoCounterpart { .. })
    ));
}

#[test]
fn bad_go_addresses_are_errors() {
    let mut alive = serfer_wire::memberlist::Alive {
        node: "x".into(),
        addr: vec![1, 2, 3],
        ..Default::default()
    };
    let t = translator();
    let err = t
        .to_rs(
            GoMsg::Gossip(GoMessage::Alive(alive.clone())),
            addr("127.0.0.2:1"),
        )
        .unwrap_err();
    assert_eq!(
        err,
        WireError::BadAddress {
            message: "alive",
            len: 3
        }
    );
    // IPv4-mapped IPv6, as Go's net.IP may hold it, is read as IPv4.
    alive.addr = std::net::Ipv4Addr::new(10, 0, 0, 1)
        .to_ipv6_mapped()
        .octets()
        .to_vec();
    let RsMessage::Alive(a) = t
        .to_rs(GoMsg::Gossip(GoMessage::Alive(alive)), addr("127.0.0.2:1"))
        .unwrap()
    else {
        panic!("not alive")
    };
    assert_eq!(a.node().address(), &addr("10.0.0.1:0"));
}

/// Only Go's side comes from the network; serf-rs's bytes are its own.
#[test]
fn mutated_go_messages_never_panic() {
    let mut rng = vectors::Rng::new(7);
    let t = translator();
    let from = addr("127.0.0.2:7946");
    for vector in [
        vectors::V_PING,
        vectors::V_INDIRECT_PING,
        vectors::V_ALIVE,
        vectors::CAPTURE_ACK,
    ] {
        let bytes = hex(vector);
        for _ in 0..2000 {
            let mut m = bytes.clone();
            let i = rng.below(m.len());
            m[i] = rng.next_u64() as u8;
            if let Ok(go) = GoMessage::decode(&m) {
                if let Ok(rs) = t.to_rs(GoMsg::Gossip(go), from) {
                    // Whatever reaches serf-rs is something it can read.
                    let bytes = encode_rs(&rs).unwrap();
                    assert_eq!(decode_rs(&bytes).unwrap(), rs);
                }
            }
        }
    }
    let pp = hex(vectors::V_PUSHPULL_STREAM_PLAIN);
    for _ in 0..2000 {
        let mut m = pp.clone();
        let i = rng.below(m.len());
        m[i] = rng.next_u64() as u8;
        if let Ok(go) = StreamMessage::decode(&m, 1 << 20) {
            if let Ok(rs) = t.to_rs(go.into(), from) {
                let bytes = encode_rs(&rs).unwrap();
                assert_eq!(decode_rs(&bytes).unwrap(), rs);
            }
        }
    }
}

#[test]
fn compound_packets_split_and_join() {
    let msgs: Vec<RsMsg> = serf_rs_messages()
        .into_iter()
        .filter(|m| !matches!(m, RsMessage::PushPull(_)))
        .collect();
    let packets = packet::join(&msgs, 1400).unwrap();
    assert_eq!(packets.len(), 1, "ten small messages fit one packet");
    assert_eq!(packet::split(&packets[0]).unwrap(), msgs);
    // One message is sent bare, not as a compound of one.
    let one = packet::join(&msgs[..1], 1400).unwrap();
    assert_eq!(one, vec![encode_rs(&msgs[0]).unwrap()]);
    assert_eq!(packet::split(&one[0]).unwrap(), msgs[..1]);
    // A small budget splits them, and nothing is lost.
    let small = packet::join(&msgs, 120).unwrap();
    assert!(small.len() > 1);
    let rejoined: Vec<RsMsg> = small
        .iter()
        .flat_map(|p| packet::split(p).unwrap())
        .collect();
    assert_eq!(rejoined, msgs);
    assert_eq!(packet::split(&[]), Err(WireError::Empty { what: "packet" }));
    assert!(packet::split(&[1, 3, 0, 0, 0, 9]).is_err());
    assert!(packet::split(&[200]).is_err());
}

#[test]
fn a_go_push_pull_stream_reaches_serf_rs_and_comes_back() {
    let wire = hex(vectors::V_PUSHPULL_STREAM_PLAIN);
    let go: GoMsg = StreamMessage::decode(&wire, 1 << 20).unwrap().into();
    let t = translator();
    let rs = t.to_rs(go, addr("127.0.0.2:7946")).unwrap();
    let RsMessage::PushPull(pp) = &rs else {
        panic!("not a push/pull")
    };
    assert_eq!(pp.states().len(), 1);
    assert_eq!(pp.states()[0].id().as_str(), "node-a");
    let rs = decode_rs(&encode_rs(&rs).unwrap()).unwrap();
    let back = t
        .to_go(rs)
        .unwrap()
        .into_stream()
        .unwrap()
        .encode()
        .unwrap();
    assert_eq!(back, wire);
}
