//! The Serf-message mirror and its translation, checked on both sides' real
//! bytes.
//!
//! The `RS_*` constants are bytes serf-rs 0.5.2 itself sent. They were captured
//! on 2026-11-28 with `tcpdump -i lo -w capture.pcap 'port 17946 or port 17947'`
//! while a throwaway program drove two Serfer nodes (serf 0.5.2, memberlist-core
//! 0.8.5, no encryption, `Profile::Local`) on 127.0.0.1:17946 (`node-a`, tag
//! role=web) and 127.0.0.1:17947 (`node-b`, role=db): `node-b` joined, `node-a`
//! sent the event `deploy` (payload `v1` plus Serfer's 10-byte trailer), the
//! query `status` with a node filter, a tag filter, an ack request, relay factor
//! 1 and a 2 s timeout (`node-b` answered `b ok`), the query `plain` (payload
//! `x`, 1 s) and a second join, then `node-b` set tags and left. UDP payloads
//! were split with `packet::split` and `memberlist::decode_rs`; the push/pull
//! streams were read as one memberlist message each (tag 08, varint length,
//! body), the Serf state being the push/pull's `user_data`. Duplicates removed.
//!
//! Key requests and responses and conflict answers travel only encrypted or in
//! rare situations, so their serf-rs bytes here are written from the layout in
//! serf-core's sources and checked against its building blocks where public.

use std::net::SocketAddr;
use std::time::Duration;

use serf::types::SmolStr;

use super::peers::Peers;
use super::serf::{
    RsFilter, RsKeyRequest, RsKeyResponse, RsMember, RsNode, RsPushPull, RsQuery, RsRelay,
    RsSerfMessage,
};
use super::serf_msg::{InternalQuery, SerfTranslator};
use serfer_wire::serf::{self as go, SerfMessage as GoSerf};
use serfer_wire::vectors::{self, hex};
use serfer_wire::WireError;

/// `node-b` → `node-a`: join intent, LTime 1.
const RS_JOIN_B: &str = "120a090112066e6f64652d62";
/// `node-a`: join intent, LTime 2 (the second join).
const RS_JOIN_A: &str = "120a090212066e6f64652d61";
/// `node-b`'s leave intent, LTime 3.
const RS_LEAVE: &str = "110a090313066e6f64652d62";
/// The user event `deploy`; the payload is `v1` and Serfer's trailer.
const RS_USER_EVENT: &str = "1418090113066465706c6f79140c763158bf3dd7e846d87a5ef7";
/// The query `status`: filters `[node-b]` and `role =~ ^db$`, ack, relay 1, 2 s.
const RS_QUERY_FILTERED: &str = "154709010ac3cb9be908131111066e6f64652d611207007f000001461a140811066e6f64652d62140e120c1104726f6c6512045e6462240d010e010f80808080201806737461747573";
/// The query `plain`: no filters, no flags, 1 s, payload `x`.
const RS_QUERY_PLAIN: &str = "152f09020abccaa49e0e131111066e6f64652d611207007f000001461a0d000e000f80808080101805706c61696e190178";
/// `node-b`'s ack of `status`.
const RS_QUERY_ACK: &str = "161d09010ac3cb9be908131111066e6f64652d621207007f000001461b0c01";
/// `node-b`'s response to `status`: `b ok`.
const RS_QUERY_RESPONSE: &str =
    "162309010ac3cb9be908131111066e6f64652d621207007f000001461b0c00150462206f6b";
/// The ack, relayed (relay factor 1) through the only other member, `node-a`.
const RS_RELAY_ACK: &str = "18111111066e6f64652d611207007f000001461a12161d09010ac3cb9be908131111066e6f64652d621207007f000001461b0c01";
/// The response, relayed. The header names `node-b`, the responder, not the
/// query's origin: serf-core 0.5.2 relays responses to `resp.from`
/// (`event.rs:68`), where acks (`serf/base.rs:1108`) name the origin.
const RS_RELAY_RESPONSE: &str = "18111111066e6f64652d621207007f000001461b12162309010ac3cb9be908131111066e6f64652d621207007f000001461b0c00150462206f6b";
/// `node-b`'s push/pull state when joining.
const RS_PUSH_PULL_JOIN: &str = "13130901120b11066e6f64652d621201000c010e01";
/// `node-a`'s push/pull state on the second join, with the event ring's one
/// filled slot and two status times.
const RS_PUSH_PULL_EVENTS: &str = "133c0902120b11066e6f64652d61120100120b11066e6f64652d621201010c02151a0901121611066465706c6f79120c763158bf3dd7e846d87a5ef70e03";
/// `node-b`'s answer to the same push/pull: its status times in its own order.
const RS_PUSH_PULL_EVENTS_B: &str = "133c0902120b11066e6f64652d62120101120b11066e6f64652d611201000c02151a0901121611066465706c6f79120c763158bf3dd7e846d87a5ef70e03";

const CAPTURED: [(&str, &str); 13] = [
    ("join b", RS_JOIN_B),
    ("join a", RS_JOIN_A),
    ("leave", RS_LEAVE),
    ("user event", RS_USER_EVENT),
    ("query filtered", RS_QUERY_FILTERED),
    ("query plain", RS_QUERY_PLAIN),
    ("ack", RS_QUERY_ACK),
    ("response", RS_QUERY_RESPONSE),
    ("relayed ack", RS_RELAY_ACK),
    ("relayed response", RS_RELAY_RESPONSE),
    ("push/pull join", RS_PUSH_PULL_JOIN),
    ("push/pull events", RS_PUSH_PULL_EVENTS),
    ("push/pull events b", RS_PUSH_PULL_EVENTS_B),
];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What `node-a`'s transport knows after the join: both nodes' addresses.
fn peers() -> Peers {
    let p = Peers::new();
    p.saw(&SmolStr::new("node-a"), addr("127.0.0.1:17946"), None);
    p.saw(&SmolStr::new("node-b"), addr("127.0.0.1:17947"), None);
    p
}

/// serf-rs message → Go message → Go bytes → Go message → serf-rs message.
fn through_go(t: &SerfTranslator, p: &Peers, rs: RsSerfMessage) -> (GoSerf, RsSerfMessage) {
    let go = t.to_go(rs, p).expect("to Go");
    let bytes = go.encode().expect("Go encodes");
    let go_again = GoSerf::decode(&bytes).expect("Go decodes its own bytes");
    assert_eq!(go_again, go);
    let back = t.to_rs(go_again, p).expect("back to serf-rs");
    (go, back)
}

#[test]
fn captured_serf_rs_bytes_decode_and_re_encode_identically() {
    for (name, h) in CAPTURED {
        let bytes = hex(h);
        let msg = RsSerfMessage::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg.encode().unwrap(), bytes, "{name}");
    }
}

#[test]
fn captured_messages_hold_what_the_nodes_did() {
    let RsSerfMessage::Query(q) = RsSerfMessage::decode(&hex(RS_QUERY_FILTERED)).unwrap() else {
        panic!("not a query")
    };
    assert_eq!(
        q.from,
        RsNode {
            name: "node-a".into(),
            addr: addr("127.0.0.1:17946")
        }
    );
    assert_eq!(
        q.filters,
        [
            RsFilter::Id(vec!["node-b".into()]),
            RsFilter::Tag {
                tag: "role".into(),
                expr: Some("^db$".into())
            }
        ]
    );
    assert_eq!((q.flags, q.relay_factor), (1, 1));
    assert_eq!(q.timeout, Duration::from_secs(2));
    assert_eq!(q.name, "status");
    let RsSerfMessage::Relay(r) = RsSerfMessage::decode(&hex(RS_RELAY_RESPONSE)).unwrap() else {
        panic!("not a relay")
    };
    assert_eq!(
        r.inner.encode().unwrap(),
        hex(RS_QUERY_RESPONSE),
        "a relay wraps the message's own envelope"
    );
}

#[test]
fn captured_messages_come_back_from_go_byte_for_byte() {
    let p = peers();
    for (name, h) in CAPTURED {
        let bytes = hex(h);
        let t = SerfTranslator::new();
        let (_, back) = through_go(&t, &p, RsSerfMessage::decode(&bytes).unwrap());
        if name == "push/pull events b" {
            // Go's StatusLTimes is a map: serf-rs's insertion order is lost
            // and comes back sorted. Nothing else changes.
            let RsSerfMessage::PushPull(mut orig) = RsSerfMessage::decode(&bytes).unwrap() else {
                panic!()
            };
            orig.status_ltimes.sort();
            assert_eq!(back, RsSerfMessage::PushPull(orig));
            assert_ne!(back.encode().unwrap(), bytes);
            continue;
        }
        assert_eq!(back.encode().unwrap(), bytes, "{name}");
    }
}

#[test]
fn captured_messages_become_what_go_sends() {
    let p = peers();
    let t = SerfTranslator::new();
    let go_of = |h: &str| {
        t.to_go(RsSerfMessage::decode(&hex(h)).unwrap(), &p)
            .unwrap()
    };
    let GoSerf::Query(q) = go_of(RS_QUERY_FILTERED) else {
        panic!()
    };
    assert_eq!(
        (q.addr.as_slice(), q.port, q.source_node.as_str()),
        (&[127, 0, 0, 1][..], 17946, "node-a")
    );
    assert_eq!(
        q.decoded_filters().unwrap(),
        [
            go::Filter::Nodes(vec!["node-b".into()]),
            go::Filter::Tag {
                tag: "role".into(),
                expr: "^db$".into()
            }
        ]
    );
    assert_eq!(q.timeout_ns, 2_000_000_000);
    assert_eq!(q.payload, None, "Go writes nil for no payload");
    let GoSerf::Query(q) = go_of(RS_QUERY_PLAIN) else {
        panic!()
    };
    assert_eq!(q.filters, None, "Go writes nil for no filters");
    assert_eq!(q.payload.as_deref(), Some(&b"x"[..]));
    let GoSerf::Relay(r) = go_of(RS_RELAY_ACK) else {
        panic!()
    };
    assert_eq!(r.dest_name, "node-a");
    assert_eq!(
        (
            r.dest_addr.ip.as_slice(),
            r.dest_addr.port,
            r.dest_addr.zone.as_str()
        ),
        (&[127, 0, 0, 1][..], 17946, "")
    );
    assert_eq!(
        r.inner_message().unwrap(),
        GoSerf::QueryResponse(go::QueryResponse {
            ltime: 1,
            id: 0x8d26_e5c3,
            from: "node-b".into(),
            flags: go::QUERY_FLAG_ACK,
            payload: None,
        })
    );
    let GoSerf::PushPull(pp) = go_of(RS_PUSH_PULL_EVENTS) else {
        panic!()
    };
    assert_eq!(pp.status_ltimes.get("node-b"), Some(&1));
    assert_eq!(pp.events.len(), 1, "only the filled slot, no nil holes");
    assert_eq!(pp.events[0].as_ref().unwrap().events[0].name, "deploy");
}

#[test]
fn a_response_from_an_unknown_go_node_gets_the_unspecified_address() {
    let go = GoSerf::decode(&hex(vectors::V_SERF_QUERY_RESPONSE)).unwrap();
    let RsSerfMessage::QueryResponse(r) = SerfTranslator::new().to_rs(go, &Peers::new()).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.from.name, "node-b");
    assert_eq!(r.from.addr, addr("0.0.0.0:0"));
}

#[test]
fn go_vectors_come_back_byte_for_byte() {
    let p = Peers::new();
    p.saw(&SmolStr::new("node-b"), addr("127.0.0.3:7946"), None);
    for (name, h) in [
        ("join", vectors::V_SERF_JOIN),
        ("leave", vectors::V_SERF_LEAVE),
        ("leave prune", vectors::V_SERF_LEAVE_PRUNE),
        ("user event", vectors::V_SERF_USER_EVENT),
        ("user event nil", vectors::V_SERF_USER_EVENT_NIL_PAYLOAD),
        ("query", vectors::V_SERF_QUERY),
        ("query no filters", vectors::V_SERF_QUERY_NOFILTERS),
        ("response", vectors::V_SERF_QUERY_RESPONSE),
        ("ack", vectors::V_SERF_QUERY_ACK),
        ("relayed ack", vectors::V_SERF_RELAY_QUERY_ACK),
        ("key request", vectors::V_SERF_KEY_REQUEST),
        ("key request list", vectors::V_SERF_KEY_REQUEST_LIST),
        ("key response", vectors::V_SERF_KEY_RESPONSE),
        ("key response error", vectors::V_SERF_KEY_RESPONSE_ERROR),
        // Its six versions are DEFAULT_VSN, what Peers gives an unseen node.
        ("conflict response", vectors::V_SERF_CONFLICT_RESPONSE),
    ] {
        let bytes = hex(h);
        let t = SerfTranslator::new();
        let rs = t.to_rs(GoSerf::decode(&bytes).unwrap(), &p).unwrap();
        let rs_bytes = rs.encode().unwrap();
        let rs_again = RsSerfMessage::decode(&rs_bytes).unwrap();
        assert_eq!(rs_again, rs, "{name}: the mirror reads its own bytes");
        let back = t.to_go(rs_again, &p).unwrap().encode().unwrap();
        assert_eq!(back, bytes, "{name}");
    }
}

#[test]
fn go_push_pull_loses_only_its_empty_event_slots() {
    let go = GoSerf::decode(&hex(vectors::V_SERF_PUSHPULL)).unwrap();
    let GoSerf::PushPull(mut expected) = go.clone() else {
        panic!()
    };
    assert_eq!(expected.events[0], None);
    let t = SerfTranslator::new();
    let rs = t.to_rs(go, &Peers::new()).unwrap();
    let RsSerfMessage::PushPull(RsPushPull { events, .. }) = &rs else {
        panic!()
    };
    assert_eq!(events.len(), 1);
    let back = t.to_go(rs, &Peers::new()).unwrap();
    expected.events.retain(Option::is_some);
    assert_eq!(back, GoSerf::PushPull(expected));
}

#[test]
fn go_nil_vs_empty_collapses_to_nil() {
    let t = SerfTranslator::new();
    let p = Peers::new();
    let event = GoSerf::UserEvent(go::UserEvent {
        ltime: 1,
        name: "e".into(),
        payload: Some(Vec::new()),
        cc: false,
    });
    let GoSerf::UserEvent(back) = t.to_go(t.to_rs(event, &p).unwrap(), &p).unwrap() else {
        panic!()
    };
    assert_eq!(back.payload, None);
    // A query whose filters are an empty list (not nil).
    let mut q = match GoSerf::decode(&hex(vectors::V_SERF_QUERY_NOFILTERS)).unwrap() {
        GoSerf::Query(q) => q,
        _ => panic!(),
    };
    q.filters = Some(Vec::new());
    let GoSerf::Query(back) = t.to_go(t.to_rs(GoSerf::Query(q), &p).unwrap(), &p).unwrap() else {
        panic!()
    };
    assert_eq!(back.filters, None);
}

fn go_query(name: &str, payload: Option<Vec<u8>>) -> go::Query {
    go::Query {
        ltime: 9,
        id: 77,
        addr: vec![127, 0, 0, 2],
        port: 7946,
        source_node: "go-node".into(),
        filters: None,
        flags: 0,
        relay_factor: 0,
        timeout_ns: 3_200_000_000,
        name: name.into(),
        payload,
    }
}

fn go_response(payload: Vec<u8>) -> go::QueryResponse {
    go::QueryResponse {
        ltime: 9,
        id: 77,
        from: "go-node".into(),
        flags: 0,
        payload: Some(payload),
    }
}

#[test]
fn internal_query_names_are_mapped_both_ways() {
    for (q, rs, go_name) in [
        (InternalQuery::Ping, "_serf_ping", "_serf_ping"),
        (InternalQuery::Conflict, "_serf_conflict", "_serf_conflict"),
        (
            InternalQuery::InstallKey,
            "_serf_install_key",
            "_serf_install-key",
        ),
        (InternalQuery::UseKey, "_serf_use_key", "_serf_use-key"),
        (
            InternalQuery::RemoveKey,
            "_serf_remove_key",
            "_serf_remove-key",
        ),
        (
            InternalQuery::ListKeys,
            "_serf_list_keys",
            "_serf_list-keys",
        ),
    ] {
        assert_eq!((q.rs_name(), q.go_name()), (rs, go_name));
        assert_eq!(InternalQuery::from_rs_name(rs), Some(q));
        assert_eq!(InternalQuery::from_go_name(go_name), Some(q));
    }
    assert_eq!(InternalQuery::from_go_name("_serf_install_key"), None);
    assert_eq!(InternalQuery::from_rs_name("status"), None);
}

#[test]
fn a_go_key_query_and_serf_rs_answer_are_translated_with_their_payloads() {
    let t = SerfTranslator::new();
    let p = Peers::new();
    let q = go_query("_serf_install-key", Some(hex(vectors::V_SERF_KEY_REQUEST)));
    let RsSerfMessage::Query(rs_q) = t.to_rs(GoSerf::Query(q.clone()), &p).unwrap() else {
        panic!()
    };
    assert_eq!(rs_q.name, "_serf_install_key");
    let key: Vec<u8> = (0..16).collect();
    assert_eq!(
        RsSerfMessage::decode(&rs_q.payload).unwrap(),
        RsSerfMessage::KeyRequest(RsKeyRequest {
            key: Some(key.clone())
        })
    );
    // The bytes: envelope 19, length, then the key as memberlist-proto's
    // SecretKey (11 = AES-128, length 16).
    let mut expected = vec![0x19, 0x14, 0x11, 0x12, 0x11, 0x10];
    expected.extend(&key);
    assert_eq!(rs_q.payload, expected);
    // Round trip of the query itself.
    assert_eq!(
        t.to_go(RsSerfMessage::Query(rs_q.clone()), &p).unwrap(),
        GoSerf::Query(q)
    );

    // serf-rs answers; the translator knows (9, 77) is a key query.
    let answer = RsSerfMessage::KeyResponse(RsKeyResponse {
        result: true,
        message: String::new(),
        keys: vec![key.clone()],
        primary_key: Some(key),
    });
    let rs_resp = RsSerfMessage::QueryResponse(super::serf::RsQueryResponse {
        ltime: 9,
        id: 77,
        from: RsNode {
            name: "serfer".into(),
            addr: addr("127.0.0.1:7946"),
        },
        flags: 0,
        payload: answer.encode().unwrap(),
    });
    let GoSerf::QueryResponse(go_resp) = t.to_go(rs_resp, &p).unwrap() else {
        panic!()
    };
    assert_eq!(go_resp.payload.unwrap(), hex(vectors::V_SERF_KEY_RESPONSE));
}

#[test]
fn a_serf_rs_list_keys_query_and_go_answers_are_translated() {
    let t = SerfTranslator::new();
    let p = Peers::new();
    let rs_q = RsSerfMessage::Query(RsQuery {
        ltime: 9,
        id: 77,
        from: RsNode {
            name: "serfer".into(),
            addr: addr("127.0.0.1:7946"),
        },
        filters: vec![],
        flags: 0,
        relay_factor: 0,
        timeout: Duration::from_millis(3200),
        name: "_serf_list_keys".into(),
        payload: RsSerfMessage::KeyRequest(RsKeyRequest { key: None })
            .encode()
            .unwrap(),
    });
    let GoSerf::Query(q) = t.to_go(rs_q, &p).unwrap() else {
        panic!()
    };
    assert_eq!(q.name, "_serf_list-keys");
    assert_eq!(q.payload.unwrap(), hex(vectors::V_SERF_KEY_REQUEST_LIST));
    // A Go node without encryption answers with an error.
    let go_resp = go_response(hex(vectors::V_SERF_KEY_RESPONSE_ERROR));
    let RsSerfMessage::QueryResponse(r) = t.to_rs(GoSerf::QueryResponse(go_resp), &p).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        RsSerfMessage::decode(&r.payload).unwrap(),
        RsSerfMessage::KeyResponse(RsKeyResponse {
            result: false,
            message: "Keyring is empty (encryption not enabled)".into(),
            keys: vec![],
            primary_key: None,
        })
    );
    // The same answer to a query the translator never saw stays untouched.
    let other = SerfTranslator::new();
    let go_resp = go_response(hex(vectors::V_SERF_KEY_RESPONSE_ERROR));
    let RsSerfMessage::QueryResponse(r) = other.to_rs(GoSerf::QueryResponse(go_resp), &p).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.payload, hex(vectors::V_SERF_KEY_RESPONSE_ERROR));
}

#[test]
fn conflict_answers_are_translated_including_unknown_members() {
    let t = SerfTranslator::new();
    let p = Peers::new();
    // A Go node asks about itself; the payload (its name) is the same on both sides.
    let q = go_query("_serf_conflict", Some(b"go-node".to_vec()));
    let RsSerfMessage::Query(rs_q) = t.to_rs(GoSerf::Query(q), &p).unwrap() else {
        panic!()
    };
    assert_eq!(
        (rs_q.name.as_str(), rs_q.payload.as_slice()),
        ("_serf_conflict", &b"go-node"[..])
    );
    let respond = |payload: Vec<u8>| {
        RsSerfMessage::QueryResponse(super::serf::RsQueryResponse {
            ltime: 9,
            id: 77,
            from: RsNode {
                name: "serfer".into(),
                addr: addr("127.0.0.1:7946"),
            },
            flags: 0,
            payload,
        })
    };
    // serf-rs does not know the member: an empty payload, Go's `06 c0`.
    let GoSerf::QueryResponse(r) = t.to_go(respond(Vec::new()), &p).unwrap() else {
        panic!()
    };
    assert_eq!(
        r.payload.unwrap(),
        hex(vectors::V_SERF_CONFLICT_RESPONSE_UNKNOWN)
    );
    // serf-rs knows it.
    let member = RsMember {
        node: RsNode {
            name: "node-a".into(),
            addr: addr("127.0.0.2:7946"),
        },
        tags: vec![("role".into(), "web".into())],
        status: 1,
        memberlist_protocol_version: 1,
        memberlist_delegate_version: 1,
        protocol_version: 1,
        delegate_version: 1,
    };
    let rs_payload = RsSerfMessage::ConflictResponse(member).encode().unwrap();
    let GoSerf::QueryResponse(r) = t.to_go(respond(rs_payload.clone()), &p).unwrap() else {
        panic!()
    };
    let go_payload = r.payload.clone().unwrap();
    assert_eq!(go_payload, hex(vectors::V_SERF_CONFLICT_RESPONSE));
    // And back: Go's answers become serf-rs's.
    let RsSerfMessage::QueryResponse(back) = t.to_rs(GoSerf::QueryResponse(r), &p).unwrap() else {
        panic!()
    };
    assert_eq!(back.payload, rs_payload);
    let unknown = go_response(hex(vectors::V_SERF_CONFLICT_RESPONSE_UNKNOWN));
    let RsSerfMessage::QueryResponse(back) = t.to_rs(GoSerf::QueryResponse(unknown), &p).unwrap()
    else {
        panic!()
    };
    assert!(back.payload.is_empty());
    // Acks carry no answer, whatever the query.
    let mut ack = go_response(Vec::new());
    ack.flags = go::QUERY_FLAG_ACK;
    ack.payload = None;
    assert!(t.to_rs(GoSerf::QueryResponse(ack), &p).is_ok());
}

#[test]
fn go_filters_serf_rs_cannot_read_select_nobody() {
    let mut q = go_query("status", None);
    q.filters = Some(vec![vec![7, 0xc0]]);
    let RsSerfMessage::Query(rs) = SerfTranslator::new()
        .to_rs(GoSerf::Query(q), &Peers::new())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(rs.filters, [RsFilter::Id(vec![])]);
}

#[test]
fn what_cannot_be_translated_is_an_error() {
    let t = SerfTranslator::new();
    let p = Peers::new();
    fn untranslatable<T>(r: Result<T, WireError>) -> bool {
        matches!(r, Err(WireError::Untranslatable { .. }))
    }
    let mut q = go_query("status", None);
    q.timeout_ns = -1;
    assert!(untranslatable(t.to_rs(GoSerf::Query(q), &p)));
    assert!(untranslatable(t.to_rs(
        GoSerf::KeyRequest(go::KeyRequest { key: vec![1; 5] }),
        &p
    )));
    assert!(untranslatable(t.to_rs(
        GoSerf::KeyResponse(go::KeyResponse {
            keys: Some(vec!["not base64!".into()]),
            ..Default::default()
        }),
        &p
    )));
    assert!(untranslatable(t.to_rs(GoSerf::ConflictResponse(None), &p)));
    let ack = RsSerfMessage::decode(&hex(RS_QUERY_ACK)).unwrap();
    let node = RsNode {
        name: "x".into(),
        addr: addr("127.0.0.1:1"),
    };
    let relay_of_relay = RsSerfMessage::Relay(RsRelay {
        node: node.clone(),
        inner: Box::new(RsSerfMessage::Relay(RsRelay {
            node,
            inner: Box::new(ack),
        })),
    });
    assert!(untranslatable(t.to_go(relay_of_relay.clone(), &p)));
    assert!(relay_of_relay.encode().is_err());
    let mut q = match RsSerfMessage::decode(&hex(RS_QUERY_PLAIN)).unwrap() {
        RsSerfMessage::Query(q) => q,
        _ => panic!(),
    };
    q.timeout = Duration::MAX;
    assert!(untranslatable(t.to_go(RsSerfMessage::Query(q), &p)));
}

#[test]
fn malformed_serf_rs_bytes_are_errors() {
    assert_eq!(
        RsSerfMessage::decode(&[]),
        Err(WireError::Empty {
            what: "serf-rs Serf message"
        })
    );
    assert!(matches!(
        RsSerfMessage::decode(&[0x10, 0]),
        Err(WireError::UnknownType { ty: 0x10, .. })
    ));
    // A trailing byte after a complete message.
    let mut extra = hex(RS_JOIN_B);
    extra.push(0);
    assert!(matches!(
        RsSerfMessage::decode(&extra),
        Err(WireError::RsLayout { .. })
    ));
    // `false` written out, which serf-core never does.
    assert!(RsSerfMessage::decode(&hex("11070901020013016e")).is_err());
    assert!(RsSerfMessage::decode(&hex(RS_JOIN_B)[..5])
        .unwrap_err()
        .is_truncated());
}

/// Mutated serf-rs bytes never panic; whatever still decodes re-encodes to
/// exactly the mutated bytes (the reader is strict) and can go to Go.
#[test]
fn mutated_serf_rs_bytes_never_panic() {
    let mut rng = vectors::Rng::new(11);
    let p = peers();
    let t = SerfTranslator::new();
    for (_, h) in CAPTURED {
        let bytes = hex(h);
        for len in 0..bytes.len() {
            assert!(RsSerfMessage::decode(&bytes[..len]).is_err());
        }
        for _ in 0..2000 {
            let mut m = bytes.clone();
            for _ in 0..=rng.below(3) {
                let i = rng.below(m.len());
                m[i] = rng.next_u64() as u8;
            }
            if let Ok(msg) = RsSerfMessage::decode(&m) {
                assert_eq!(msg.encode().unwrap(), m);
                let _ = t.to_go(msg, &p);
            }
        }
    }
}

/// Mutated Go bytes never panic on the way to serf-rs, and what reaches
/// serf-rs is something the mirror reads back.
#[test]
fn mutated_go_serf_messages_never_panic() {
    let mut rng = vectors::Rng::new(13);
    let p = peers();
    let t = SerfTranslator::new();
    for h in [
        vectors::V_SERF_QUERY,
        vectors::V_SERF_RELAY_QUERY_ACK,
        vectors::V_SERF_PUSHPULL,
        vectors::V_SERF_KEY_RESPONSE,
        vectors::V_SERF_CONFLICT_RESPONSE,
        vectors::V_SERF_USER_EVENT,
    ] {
        let bytes = hex(h);
        for _ in 0..2000 {
            let mut m = bytes.clone();
            let i = rng.below(m.len());
            m[i] = rng.next_u64() as u8;
            let Ok(go) = GoSerf::decode(&m) else { continue };
            if let Ok(rs) = t.to_rs(go, &p) {
                let rs_bytes = rs.encode().unwrap();
                assert_eq!(RsSerfMessage::decode(&rs_bytes).unwrap(), rs);
            }
        }
    }
}
