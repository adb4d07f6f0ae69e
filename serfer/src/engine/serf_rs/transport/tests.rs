//! The translating transport: its byte paths (packets and streams, both
//! directions, plain and encrypted), then real sockets on 127.0.0.1.

use std::net::SocketAddr;

use bytes::Bytes;
use memberlist_proto::{
    Alive, DelegateVersion, Message as RsMessage, Node, Ping, ProtocolVersion, PushNodeState,
    PushPull, State,
};
use serf::types::SmolStr;

use super::wire::{pack, GoWire, UDP_BUFFER_SIZE};
use crate::engine::serf_rs::trailer::{add_trailer, strip_trailer, TRAILER_LEN};
use crate::engine::serf_rs::translate::memberlist::{decode_rs, encode_rs, GoMsg, Local, RsMsg};
use crate::engine::serf_rs::translate::packet;
use crate::engine::serf_rs::translate::serf::{
    RsEventEntry, RsNode, RsPushPull, RsQueryResponse, RsRelay, RsSerfMessage, RsUserEvent,
    RsUserEvents,
};
use serfer_wire::frame::{self, StreamMessage};
use serfer_wire::memberlist::{self as go, HAS_CRC};
use serfer_wire::serf::SerfMessage;
use serfer_wire::WireError;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const A: &str = "127.0.0.1:7001";
const B: &str = "127.0.0.1:7002";
const KEY: [u8; 16] = *b"0123456789abcdef";

fn wire(name: &str, at: &str, keys: Vec<Vec<u8>>) -> GoWire {
    GoWire::new(
        Local {
            name: SmolStr::new(name),
            addr: addr(at),
        },
        keys,
        true,
    )
    .unwrap()
}

fn node(name: &str, at: &str) -> Node<SmolStr, SocketAddr> {
    Node::new(SmolStr::new(name), addr(at))
}

fn ping(seq: u32) -> RsMsg {
    RsMessage::Ping(Ping::new(seq, node("a", A), node("b", B)))
}

fn alive(name: &str, at: &str, incarnation: u32) -> RsMsg {
    RsMessage::Alive(
        Alive::new(incarnation, node(name, at))
            .with_protocol_version(ProtocolVersion::V1)
            .with_delegate_version(DelegateVersion::V1),
    )
}

/// A serf-rs user event as Serfer sends it: payload plus trailer.
fn event(ltime: u64, name: &str, payload: &[u8]) -> RsSerfMessage {
    RsSerfMessage::UserEvent(RsUserEvent {
        ltime,
        name: name.into(),
        payload: add_trailer(payload).to_vec(),
        cc: false,
    })
}

fn user(msg: &RsSerfMessage) -> RsMsg {
    RsMessage::UserData(Bytes::from(msg.encode().unwrap()))
}

fn rs_packet(msgs: &[RsMsg]) -> Vec<u8> {
    let mut p = packet::join(msgs, 64 * 1024).unwrap();
    assert_eq!(p.len(), 1);
    p.remove(0)
}

/// The memberlist messages of Go packets, decrypted with `keys`.
fn go_messages(packets: &[Vec<u8>], keys: &[Vec<u8>]) -> Vec<go::Message> {
    packets
        .iter()
        .flat_map(|p| {
            let plain = if keys.is_empty() {
                p.clone()
            } else {
                serfer_wire::crypto::decrypt_packet(keys, p).unwrap()
            };
            let u = frame::decode_packet(&plain, 1 << 20).unwrap();
            assert!(u.errors.is_empty(), "{:?}", u.errors);
            u.messages
        })
        .collect()
}

/// What memberlist-core reads on a stream is exactly one message as its own
/// packet encoder writes it, so the reader can serve `encode_rs` bytes.
#[test]
fn a_served_stream_message_is_what_memberlist_reads() {
    for m in [ping(1), alive("a", A, 3), user(&event(1, "e", b"x"))] {
        assert_eq!(encode_rs(&m).unwrap(), rs_packet(std::slice::from_ref(&m)));
    }
}

#[test]
fn an_outgoing_compound_becomes_go_messages_with_the_trailer_stripped() {
    let w = wire("a", A, vec![]);
    let out = w
        .packet_to_go(
            &rs_packet(&[ping(7), alive("a", A, 2), user(&event(5, "deploy", b"v1"))]),
            addr(B),
        )
        .unwrap();
    assert_eq!(out.len(), 1, "three small messages fit one packet");
    assert_ne!(out[0][0], HAS_CRC, "no CRC for a node never seen");
    let msgs = go_messages(&out, &[]);
    assert_eq!(msgs.len(), 3);
    let go::Message::Ping(p) = &msgs[0] else {
        panic!("{:?}", msgs[0])
    };
    assert_eq!(
        (p.seq_no, p.node.as_str(), p.source_node.as_str()),
        (7, "b", "a")
    );
    let go::Message::Alive(al) = &msgs[1] else {
        panic!("{:?}", msgs[1])
    };
    assert_eq!(al.vsn, Some([1, 5, 2, 2, 5, 5]), "a synthesised Vsn");
    let go::Message::User(u) = &msgs[2] else {
        panic!("{:?}", msgs[2])
    };
    let SerfMessage::UserEvent(e) = SerfMessage::decode(u).unwrap() else {
        panic!("not an event")
    };
    assert_eq!((e.ltime, e.name.as_str()), (5, "deploy"));
    assert_eq!(e.payload.as_deref(), Some(&b"v1"[..]), "trailer stripped");
}

#[test]
fn packets_to_a_node_with_pmax_5_carry_a_crc() {
    let w = wire("a", A, vec![]);
    w.translator()
        .peers()
        .saw(&SmolStr::new("b"), addr(B), Some([1, 5, 2, 2, 5, 4]));
    let out = w.packet_to_go(&rs_packet(&[ping(1)]), addr(B)).unwrap();
    assert_eq!(out[0][0], HAS_CRC);
    w.translator()
        .peers()
        .saw(&SmolStr::new("b"), addr(B), Some([1, 4, 2, 2, 5, 4]));
    let out = w.packet_to_go(&rs_packet(&[ping(1)]), addr(B)).unwrap();
    assert_ne!(out[0][0], HAS_CRC, "PMax 4 reads no CRC");
}

#[test]
fn a_large_serf_rs_packet_is_split_into_go_packets_of_at_most_1400_bytes() {
    for keys in [vec![], vec![KEY.to_vec()]] {
        let a = wire("a", A, keys.clone());
        // Incompressible payloads, so compression cannot hide the sizes.
        let msgs: Vec<RsMsg> = (0..40)
            .map(|i| {
                let payload: Vec<u8> = (0..100).map(|_| rand::random::<u8>()).collect();
                user(&event(i, "e", &payload))
            })
            .collect();
        let out = a.packet_to_go(&rs_packet(&msgs), addr(B)).unwrap();
        assert!(out.len() > 1);
        assert!(
            out.iter().all(|p| p.len() <= UDP_BUFFER_SIZE),
            "{:?}",
            out.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert_eq!(go_messages(&out, &keys).len(), 40, "nothing lost");
    }
}

#[test]
fn pack_respects_the_budget_and_the_part_limit() {
    let small = vec![vec![0u8; 10]; 300];
    let packets = pack(&small, 100_000);
    assert!(packets.iter().all(|p| p.len() <= frame::MAX_COMPOUND_PARTS));
    assert_eq!(packets.iter().map(Vec::len).sum::<usize>(), 300);
    let mixed = vec![
        vec![0u8; 600],
        vec![0u8; 600],
        vec![0u8; 3000],
        vec![0u8; 10],
    ];
    let packets = pack(&mixed, 1400);
    let sizes: Vec<usize> = packets.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![2, 1, 1], "an oversized message goes alone");
    assert!(pack(&[], 1400).is_empty());
}

#[test]
fn packets_round_trip_between_two_wires_plain_and_encrypted() {
    for keys in [vec![], vec![KEY.to_vec(), vec![9u8; 32]]] {
        let a = wire("a", A, keys.clone());
        let b = wire("b", B, keys.clone());
        let sent = [
            ping(9),
            alive("a", A, 4),
            user(&event(3, "hello", b"world")),
        ];
        let go = a.packet_to_go(&rs_packet(&sent), addr(B)).unwrap();
        let mut got = Vec::new();
        for p in go {
            for rs in b.packet_to_rs(&p, addr(A)).unwrap() {
                got.extend(packet::split(&rs).unwrap());
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], sent[0]);
        assert_eq!(got[1], sent[1]);
        let RsMessage::UserData(body) = &got[2] else {
            panic!("{:?}", got[2])
        };
        let RsSerfMessage::UserEvent(e) = RsSerfMessage::decode(body).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(
            e.payload.len(),
            5 + TRAILER_LEN,
            "a trailer for Serfer's duplicate check"
        );
        assert_eq!(
            &strip_trailer(&Bytes::from(e.payload.clone()))[..],
            b"world"
        );
        // The same Go event arriving again is the same serf-rs event.
        let again = a
            .packet_to_go(&rs_packet(&[user(&event(3, "hello", b"world"))]), addr(B))
            .unwrap();
        let rs = b.packet_to_rs(&again[0], addr(A)).unwrap();
        assert_eq!(packet::split(&rs[0]).unwrap()[0], got[2]);
    }
}

#[test]
fn a_wrong_key_or_plaintext_is_refused_when_keys_are_set() {
    let a = wire("a", A, vec![KEY.to_vec()]);
    let b = wire("b", B, vec![vec![7u8; 16]]);
    let go = a.packet_to_go(&rs_packet(&[ping(1)]), addr(B)).unwrap();
    assert_eq!(
        b.packet_to_rs(&go[0], addr(A)),
        Err(WireError::DecryptFailed { tried: 1 })
    );
    let plain = wire("p", A, vec![])
        .packet_to_go(&rs_packet(&[ping(1)]), addr(B))
        .unwrap();
    assert!(b.packet_to_rs(&plain[0], addr(A)).is_err());
    assert!(GoWire::new(
        Local {
            name: "x".into(),
            addr: addr(A)
        },
        vec![vec![1; 15]],
        true
    )
    .is_err());
}

#[test]
fn a_key_rotation_takes_effect_on_the_next_packet() {
    let a = wire("a", A, vec![KEY.to_vec()]);
    let b = wire("b", B, vec![vec![7u8; 32]]);
    let go = a.packet_to_go(&rs_packet(&[ping(1)]), addr(B)).unwrap();
    assert!(b.packet_to_rs(&go[0], addr(A)).is_err());
    b.set_keys(vec![vec![7u8; 32], KEY.to_vec()]).unwrap();
    assert_eq!(
        b.packet_to_rs(&go[0], addr(A)).unwrap().len(),
        1,
        "a secondary key opens it"
    );
    assert!(b.set_keys(vec![vec![1; 17]]).is_err());
    assert_eq!(
        b.packet_to_rs(&go[0], addr(A)).unwrap().len(),
        1,
        "a bad keyring changes nothing"
    );
}

#[test]
fn a_response_relayed_back_to_its_responder_is_dropped() {
    let w = wire("a", A, vec![]);
    let responder = RsNode {
        name: "b".into(),
        addr: addr(B),
    };
    let response = RsSerfMessage::QueryResponse(RsQueryResponse {
        ltime: 1,
        id: 2,
        from: responder.clone(),
        flags: 0,
        payload: b"ok".to_vec(),
    });
    let misaddressed = RsSerfMessage::Relay(RsRelay {
        node: responder,
        inner: Box::new(response.clone()),
    });
    let out = w
        .packet_to_go(&rs_packet(&[user(&misaddressed), ping(1)]), addr(B))
        .unwrap();
    assert_eq!(go_messages(&out, &[]).len(), 1, "only the ping is left");
    let right = RsSerfMessage::Relay(RsRelay {
        node: RsNode {
            name: "origin".into(),
            addr: addr(A),
        },
        inner: Box::new(response),
    });
    let out = w
        .packet_to_go(&rs_packet(&[user(&right)]), addr(B))
        .unwrap();
    let msgs = go_messages(&out, &[]);
    let go::Message::User(u) = &msgs[0] else {
        panic!("{:?}", msgs[0])
    };
    assert!(
        matches!(SerfMessage::decode(u).unwrap(), SerfMessage::Relay(r) if r.dest_name == "origin")
    );
}

fn push_pull(events: &[(&str, &[u8])]) -> RsMsg {
    let state = RsSerfMessage::PushPull(RsPushPull {
        ltime: 3,
        status_ltimes: vec![("a".into(), 1)],
        left_members: vec![],
        event_ltime: 8,
        events: vec![RsUserEvents {
            ltime: 7,
            events: events
                .iter()
                .map(|(n, p)| RsEventEntry {
                    name: (*n).into(),
                    payload: add_trailer(p).to_vec(),
                })
                .collect(),
        }],
        query_ltime: 2,
    });
    let nodes = [
        PushNodeState::new(1, SmolStr::new("a"), addr(A), State::Alive)
            .with_protocol_version(ProtocolVersion::V1)
            .with_delegate_version(DelegateVersion::V1),
    ];
    RsMessage::PushPull(
        PushPull::new(true, nodes.into_iter()).with_user_data(state.encode().unwrap().into()),
    )
}

#[test]
fn a_push_pull_crosses_a_stream_and_is_read_back_at_every_split() {
    for keys in [vec![], vec![KEY.to_vec()]] {
        let a = wire("a", A, keys.clone());
        let b = wire("b", B, keys.clone());
        let sent = push_pull(&[("e", b"p")]);
        let bytes = a.stream_to_go(&encode_rs(&sent).unwrap()).unwrap();
        if keys.is_empty() {
            assert_eq!(bytes[0], go::COMPRESS, "Go compresses every stream");
        } else {
            assert_eq!(bytes[0], go::ENCRYPT);
        }
        for cut in 0..bytes.len() {
            assert_eq!(b.decode_stream(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        let msg = b.decode_stream(&bytes).unwrap().unwrap();
        let StreamMessage::PushPull(p) = &msg else {
            panic!("{msg:?}")
        };
        let SerfMessage::PushPull(s) = SerfMessage::decode(&p.user_state).unwrap() else {
            panic!("not Serf push/pull state")
        };
        assert_eq!(s.events.len(), 1);
        let rs = decode_rs(&b.stream_to_rs(msg, addr(A)).unwrap()).unwrap();
        let RsMessage::PushPull(got) = &rs else {
            panic!("{rs:?}")
        };
        assert!(got.join());
        let RsSerfMessage::PushPull(state) = RsSerfMessage::decode(got.user_data()).unwrap() else {
            panic!("not serf-rs push/pull state")
        };
        let payload = Bytes::from(state.events[0].events[0].payload.clone());
        assert_eq!(&strip_trailer(&payload)[..], b"p");
    }
}

#[test]
fn a_plaintext_stream_to_an_encrypted_node_is_refused_at_once() {
    let plain = wire("a", A, vec![]);
    let enc = wire("b", B, vec![KEY.to_vec()]);
    let bytes = plain.stream_to_go(&encode_rs(&ping(1)).unwrap()).unwrap();
    assert!(matches!(
        enc.decode_stream(&bytes[..1]),
        Err(WireError::NotEncryptedFrame { .. })
    ));
    let bytes = enc.stream_to_go(&encode_rs(&ping(1)).unwrap()).unwrap();
    assert!(plain.decode_stream(&bytes).is_err());
}

#[test]
fn every_stream_kind_translates_both_ways() {
    let a = wire("a", A, vec![]);
    let b = wire("b", B, vec![]);
    let ack = RsMessage::Ack(memberlist_proto::Ack::new(5));
    let err = RsMessage::ErrorResponse(memberlist_proto::ErrorResponse::new("boom"));
    for m in [ping(4), ack, err, user(&event(1, "e", b""))] {
        let bytes = a.stream_to_go(&encode_rs(&m).unwrap()).unwrap();
        let msg = b.decode_stream(&bytes).unwrap().unwrap();
        let back = decode_rs(&b.stream_to_rs(msg, addr(A)).unwrap()).unwrap();
        match (&m, &back) {
            (RsMessage::UserData(_), RsMessage::UserData(_)) => {}
            _ => assert_eq!(back, m),
        }
    }
    // A gossip-only message cannot go on a stream.
    assert!(a
        .stream_to_go(&encode_rs(&alive("a", A, 1)).unwrap())
        .is_err());
}

#[test]
fn garbage_never_panics() {
    let w = wire("a", A, vec![]);
    let e = wire("a", A, vec![KEY.to_vec()]);
    let seeds = [
        a_go_packet(&w),
        w.stream_to_go(&encode_rs(&push_pull(&[("e", b"p")])).unwrap())
            .unwrap(),
    ];
    for seed in &seeds {
        for _ in 0..3000 {
            let mut m = seed.clone();
            for _ in 0..1 + rand::random::<usize>() % 4 {
                let i = rand::random::<usize>() % m.len();
                m[i] = rand::random();
            }
            m.truncate(1 + rand::random::<usize>() % m.len());
            let _ = w.packet_to_rs(&m, addr(B));
            let _ = e.packet_to_rs(&m, addr(B));
            let _ = w.decode_stream(&m);
            let _ = e.decode_stream(&m);
        }
    }
}

fn a_go_packet(w: &GoWire) -> Vec<u8> {
    w.packet_to_go(
        &rs_packet(&[ping(1), alive("a", A, 1), user(&event(1, "e", b"payload"))]),
        addr(B),
    )
    .unwrap()
    .remove(0)
}

#[test]
fn go_messages_from_the_codec_reach_serf_rs() {
    // A Go ping without source fields, as memberlist < 0.1.4 sends it.
    let b = wire("b", B, vec![]);
    let p = go::Message::Ping(go::Ping {
        seq_no: 3,
        node: "b".into(),
        source_addr: vec![],
        source_port: 0,
        source_node: String::new(),
    });
    let packet = frame::encode_packet(
        &[p.encode().unwrap()],
        frame::PacketOptions {
            compress: false,
            crc: true,
        },
    )
    .unwrap();
    let rs = b.packet_to_rs(&packet, addr(A)).unwrap();
    let RsMessage::Ping(got) = &packet::split(&rs[0]).unwrap()[0] else {
        panic!()
    };
    assert_eq!(got.source().address(), &addr(A));
    assert_eq!(got.target().id().as_str(), "b");
    // A stream message the Go way, User kind, from the codec alone.
    let ev = SerfMessage::UserEvent(serfer_wire::serf::UserEvent {
        ltime: 1,
        name: "n".into(),
        payload: None,
        cc: false,
    });
    let bytes = StreamMessage::User(ev.encode().unwrap())
        .encode_stream(true)
        .unwrap();
    let msg = b.decode_stream(&bytes).unwrap().unwrap();
    assert!(matches!(
        GoMsg::from(msg.clone()),
        GoMsg::Gossip(go::Message::User(_))
    ));
    assert!(matches!(
        decode_rs(&b.stream_to_rs(msg, addr(A)).unwrap()).unwrap(),
        RsMessage::UserData(_)
    ));
}

/// Serf instances on the translating transport, on real sockets.
mod sockets {
    use std::time::Duration;

    use serf::event::{Event, EventProducer, EventSubscriber};
    use serf::types::{MaybeResolvedAddress, MemberStatus};

    use super::*;
    use crate::engine::serf_rs::transport::{NodeTransport, NodeTransportOptions};

    type T = NodeTransport;
    type D = serf::DefaultDelegate<T>;
    type S = serf::Serf<T, D>;

    /// Upper bound of every wait; each one ends as soon as its condition holds.
    const BOUND: Duration = Duration::from_secs(20);

    /// A node; with `engine_keyring`, memberlist-core gets the keys too (as
    /// Serfer configures it, so that Serf's key manager has a keyring), but
    /// without verifying incoming traffic, which the transport decrypts.
    async fn start_with(
        name: &str,
        keys: &[Vec<u8>],
        engine_keyring: bool,
    ) -> (S, EventSubscriber<T, D>) {
        let (producer, events) = EventProducer::unbounded();
        let ml = serf::MemberlistOptions::local();
        let ml = match keys.first() {
            Some(primary) if engine_keyring => {
                let secret = serf::types::SecretKey::Aes128(primary[..].try_into().unwrap());
                ml.with_primary_key(secret)
                    .with_secret_keys(vec![secret].into())
                    .with_encryption_algo(serf::types::EncryptionAlgorithm::NoPadding)
                    .with_gossip_verify_outgoing(true)
                    .with_gossip_verify_incoming(false)
            }
            _ => ml,
        };
        let opts = serf::Options::new()
            .with_memberlist_options(ml)
            .with_coalesce_period(Duration::ZERO)
            .with_quiescent_period(Duration::ZERO)
            .with_user_coalesce_period(Duration::ZERO)
            .with_user_quiescent_period(Duration::ZERO);
        let transport =
            NodeTransportOptions::hashicorp(name, addr("127.0.0.1:0")).with_keys(keys.to_vec());
        let serf = S::with_event_producer(transport, opts, producer)
            .await
            .expect("serf starts on the translating transport");
        (serf, events)
    }

    async fn alive_members(s: &S) -> Vec<String> {
        let mut names: Vec<String> = s
            .members()
            .await
            .iter()
            .filter(|m| *m.status() == MemberStatus::Alive)
            .map(|m| m.node().id().to_string())
            .collect();
        names.sort();
        names
    }

    async fn wait_alive(s: &S, expected: &[&str]) {
        let reached = tokio::time::timeout(BOUND, async {
            while alive_members(s).await != expected {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if reached.is_err() {
            panic!("members never became {expected:?}: {:?}", s.members().await);
        }
    }

    async fn wait_event(events: &EventSubscriber<T, D>, name: &str) -> Bytes {
        tokio::time::timeout(BOUND, async {
            loop {
                if let Event::User(e) = events.recv().await.expect("event stream open") {
                    if e.name().as_str() == name {
                        return e.payload().clone();
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("event {name} never arrived"))
    }

    async fn two_nodes_join_and_exchange_an_event(keys: Vec<Vec<u8>>, engine_keyring: bool) {
        let (a, _a_events) = start_with("a", &keys, engine_keyring).await;
        let (b, b_events) = start_with("b", &keys, engine_keyring).await;
        let a_addr = *a.advertise_node().address();
        b.join(MaybeResolvedAddress::Resolved(a_addr), false)
            .await
            .expect("b joins a by a Go push/pull");
        wait_alive(&a, &["a", "b"]).await;
        wait_alive(&b, &["a", "b"]).await;
        a.user_event("deploy", add_trailer(b"v42"), false)
            .await
            .unwrap();
        let payload = wait_event(&b_events, "deploy").await;
        assert_eq!(&strip_trailer(&payload)[..], b"v42");
        // Probes and gossip keep both alive for a few protocol periods.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(alive_members(&a).await, ["a", "b"]);
        assert_eq!(alive_members(&b).await, ["a", "b"]);
        b.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_serf_rs_nodes_form_a_cluster_over_the_go_wire() {
        two_nodes_join_and_exchange_an_event(vec![], false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_serf_rs_nodes_form_an_encrypted_cluster_over_the_go_wire() {
        two_nodes_join_and_exchange_an_event(vec![KEY.to_vec()], false).await;
    }

    /// The transport declares itself secure, so memberlist-core's own
    /// encryption (which Go cannot read) stays off even with a keyring.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_memberlist_keyring_does_not_double_encrypt() {
        two_nodes_join_and_exchange_an_event(vec![KEY.to_vec()], true).await;
    }
}

/// The transport alone on real sockets, without memberlist: what it hands
/// over and what it puts on the wire.
mod transport_alone {
    use memberlist_proto::{Payload, ProtoReader, ProtoWriter};
    use serf::transport::{Connection, Transport};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::engine::serf_rs::transport::{NodeTransport, NodeTransportOptions};
    use serfer_wire::crypto::{self, Version};

    const BOUND: std::time::Duration = std::time::Duration::from_secs(10);

    async fn transport(name: &str, keys: &[Vec<u8>]) -> NodeTransport {
        let opts =
            NodeTransportOptions::hashicorp(name, addr("127.0.0.1:0")).with_keys(keys.to_vec());
        NodeTransport::new(opts).await.expect("transport binds")
    }

    fn payload(bytes: &[u8]) -> Payload {
        let mut p = Payload::new(0, bytes.len());
        p.data_mut().copy_from_slice(bytes);
        p
    }

    /// One whole serf-rs message from a reader: the reader serves a decoded
    /// Go message at once.
    async fn read_rs(reader: &mut impl ProtoReader) -> RsMsg {
        let mut buf = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(BOUND, reader.read(&mut buf))
            .await
            .expect("a message within the bound")
            .expect("read");
        decode_rs(&buf[..n]).expect("serf-rs bytes")
    }

    async fn packets_and_streams(keys: Vec<Vec<u8>>) {
        let a = transport("a", &keys).await;
        let b = transport("b", &keys).await;
        let (a_addr, b_addr) = (*a.advertise_address(), *b.advertise_address());
        let encrypts = !keys.is_empty();
        assert_eq!((a.packet_secure(), a.stream_secure()), (encrypts, encrypts));

        // A packet: serf-rs bytes in at one end, the same message out at the other.
        let sent = RsMessage::Ping(Ping::new(
            1,
            Node::new(SmolStr::new("a"), a_addr),
            Node::new(SmolStr::new("b"), b_addr),
        ));
        a.send_to(&b_addr, payload(&rs_packet(std::slice::from_ref(&sent))))
            .await
            .expect("send");
        let got = tokio::time::timeout(BOUND, b.packet().recv())
            .await
            .expect("a packet within the bound")
            .expect("packet");
        assert_eq!(*got.from(), a_addr);
        assert_eq!(packet::split(got.payload()).unwrap(), vec![sent.clone()]);

        // A stream, transport to transport: ping, then ack on the same connection.
        let conn = a
            .open(&b_addr, tokio::time::Instant::now() + BOUND)
            .await
            .expect("open");
        let (mut a_reader, mut a_writer) = conn.split();
        a.write(&mut a_writer, payload(&encode_rs(&sent).unwrap()))
            .await
            .expect("write");
        let (from, conn) = tokio::time::timeout(BOUND, b.stream().recv())
            .await
            .expect("a connection within the bound")
            .expect("stream");
        assert_eq!(from.ip(), a_addr.ip());
        let (mut b_reader, mut b_writer) = conn.split();
        assert_eq!(read_rs(&mut b_reader).await, sent);
        let ack = RsMessage::Ack(memberlist_proto::Ack::new(1));
        b.write(&mut b_writer, payload(&encode_rs(&ack).unwrap()))
            .await
            .expect("write ack");
        assert_eq!(read_rs(&mut a_reader).await, ack);

        // A Go node's TCP fallback ping, written with the codec alone, and
        // the Go ack it gets back.
        let mut raw = tokio::net::TcpStream::connect(b_addr).await.unwrap();
        let ping = StreamMessage::Ping(go::Ping {
            seq_no: 9,
            node: "b".into(),
            source_addr: vec![127, 0, 0, 1],
            source_port: 1,
            source_node: "go".into(),
        })
        .encode_stream(true)
        .unwrap();
        let ping = match keys.first() {
            Some(k) => crypto::encrypt_stream(Version::V1, k, &ping).unwrap(),
            None => ping,
        };
        raw.write_all(&ping).await.unwrap();
        let (_, conn) = tokio::time::timeout(BOUND, b.stream().recv())
            .await
            .expect("a connection within the bound")
            .expect("stream");
        let (mut reader, mut writer) = conn.split();
        let RsMessage::Ping(p) = read_rs(&mut reader).await else {
            panic!("not a ping")
        };
        assert_eq!((p.sequence_number(), p.source().id().as_str()), (9, "go"));
        let ack = RsMessage::Ack(memberlist_proto::Ack::new(9));
        b.write(&mut writer, payload(&encode_rs(&ack).unwrap()))
            .await
            .unwrap();
        ProtoWriter::close(&mut writer).await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(BOUND, raw.read_to_end(&mut reply))
            .await
            .expect("the reply within the bound")
            .unwrap();
        let go_side = wire("go", A, keys.clone());
        let msg = go_side
            .decode_stream(&reply)
            .unwrap()
            .expect("a whole message");
        assert!(
            matches!(&msg, StreamMessage::Ack(a) if a.seq_no == 9),
            "{msg:?}"
        );

        a.shutdown().await.unwrap();
        b.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn packets_and_streams_cross_real_sockets() {
        packets_and_streams(vec![]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn encrypted_packets_and_streams_cross_real_sockets() {
        packets_and_streams(vec![KEY.to_vec()]).await;
    }
}
