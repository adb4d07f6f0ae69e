//! Golden vectors from the real Go encoders (spec §12), real captures from Go
//! agents (§11), and robustness against truncated and mutated input.
//!
//! Each §12 vector has its own test, named after it, checking both directions:
//! encoding the described value gives exactly the vector's bytes, and decoding the
//! bytes gives back the value.

use std::collections::BTreeMap;

use crate::frame::{PushPull, StreamMessage};
use crate::memberlist::{Alive, Message, NodeState, Ping, PushNodeState, Suspect};
use crate::serf::{
    EventEntry, Query, QueryResponse, SerfMessage, SerfPushPull, UserEvents, QUERY_FLAG_ACK,
};
use crate::vectors::*;

mod captures;
mod crypto;
mod frame;
mod memberlist;
mod msgpack;
mod robustness;
mod serf;

/// Hex of bytes, so that a failing comparison shows where the bytes differ.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of the encryption vectors: 00 01 … 0f.
const KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// The version vector of a `serf agent` 0.9.4.
const VSN: [u8; 6] = [1, 5, 2, 2, 5, 5];
/// Generous decompression limit for tests.
const LIMIT: usize = 1 << 20;

fn ip(last: u8) -> Vec<u8> {
    vec![127, 0, 0, last]
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Both directions for a memberlist message.
fn check_message(vector: &str, msg: Message) {
    assert_eq!(to_hex(&msg.encode().unwrap()), vector);
    assert_eq!(Message::decode(&hex(vector)).unwrap(), msg);
}

/// Both directions for a Serf message.
fn check_serf(vector: &str, msg: SerfMessage) {
    assert_eq!(to_hex(&msg.encode().unwrap()), vector);
    assert_eq!(SerfMessage::decode(&hex(vector)).unwrap(), msg);
}

fn ping() -> Ping {
    Ping {
        seq_no: 42,
        node: "node-b".into(),
        source_addr: ip(2),
        source_port: 7946,
        source_node: "node-a".into(),
    }
}

fn suspect() -> Suspect {
    Suspect {
        incarnation: 5,
        node: "node-b".into(),
        from: "node-a".into(),
    }
}

fn alive() -> Alive {
    Alive {
        incarnation: 1,
        node: "node-a".into(),
        addr: ip(2),
        port: 7946,
        meta: hex(V_TAGS_META_ROLE_WEB),
        vsn: Some(VSN),
    }
}

fn node_state() -> PushNodeState {
    PushNodeState {
        name: "node-a".into(),
        addr: ip(2),
        port: 7946,
        meta: hex(V_TAGS_META_ROLE_WEB),
        incarnation: 1,
        state: NodeState::Alive,
        vsn: Some(VSN),
    }
}

fn serf_pushpull() -> SerfPushPull {
    SerfPushPull {
        ltime: 10,
        status_ltimes: BTreeMap::from([("node-a".to_owned(), 7)]),
        left_members: vec![],
        event_ltime: 4,
        events: vec![
            None,
            Some(UserEvents {
                ltime: 3,
                events: vec![EventEntry {
                    name: "deploy".into(),
                    payload: Some(b"v1".to_vec()),
                }],
            }),
        ],
        query_ltime: 3,
    }
}

fn pushpull_stream() -> StreamMessage {
    StreamMessage::PushPull(PushPull {
        join: true,
        nodes: vec![node_state()],
        user_state: hex(V_SERF_PUSHPULL),
    })
}

fn query() -> Query {
    Query {
        ltime: 2,
        id: 0x1234_5678,
        addr: ip(2),
        port: 7946,
        source_node: "node-a".into(),
        filters: Some(vec![hex(V_SERF_FILTER_NODE), hex(V_SERF_FILTER_TAG)]),
        flags: QUERY_FLAG_ACK,
        relay_factor: 0,
        timeout_ns: 5_000_000_000,
        name: "uptime".into(),
        payload: Some(b"x".to_vec()),
    }
}

fn query_ack() -> QueryResponse {
    QueryResponse {
        ltime: 2,
        id: 0x1234_5678,
        from: "node-b".into(),
        flags: QUERY_FLAG_ACK,
        payload: None,
    }
}
