//! §12.4 and §12.5: Serf messages, node meta and the ack payload.

use super::*;
use crate::serf::{
    self, Coordinate, Filter, JoinIntent, KeyRequest, KeyResponse, LeaveIntent, Member,
    MemberStatus, Relay, UdpAddr, UserEvent, QUERY_FLAG_NO_BROADCAST,
};

#[test]
fn v_serf_join() {
    check_serf(
        V_SERF_JOIN,
        SerfMessage::Join(JoinIntent {
            ltime: 7,
            node: "node-a".into(),
        }),
    );
}

#[test]
fn v_serf_leave() {
    check_serf(
        V_SERF_LEAVE,
        SerfMessage::Leave(LeaveIntent {
            ltime: 8,
            node: "node-a".into(),
            prune: false,
        }),
    );
}

#[test]
fn v_serf_leave_prune() {
    check_serf(
        V_SERF_LEAVE_PRUNE,
        SerfMessage::Leave(LeaveIntent {
            ltime: 9,
            node: "node-c".into(),
            prune: true,
        }),
    );
}

#[test]
fn v_serf_user_event() {
    check_serf(
        V_SERF_USER_EVENT,
        SerfMessage::UserEvent(UserEvent {
            ltime: 3,
            name: "deploy".into(),
            payload: Some(b"v1".to_vec()),
            cc: true,
        }),
    );
}

#[test]
fn v_serf_user_event_nil_payload() {
    check_serf(
        V_SERF_USER_EVENT_NIL_PAYLOAD,
        SerfMessage::UserEvent(UserEvent {
            ltime: 4,
            name: "ping".into(),
            payload: None,
            cc: false,
        }),
    );
}

#[test]
fn v_serf_filter_node() {
    let f = Filter::Nodes(vec!["node-b".into()]);
    assert_eq!(to_hex(&f.encode().unwrap()), V_SERF_FILTER_NODE);
    assert_eq!(Filter::decode(&hex(V_SERF_FILTER_NODE)).unwrap(), f);
}

#[test]
fn v_serf_filter_tag() {
    let f = Filter::Tag {
        tag: "role".into(),
        expr: "web".into(),
    };
    assert_eq!(to_hex(&f.encode().unwrap()), V_SERF_FILTER_TAG);
    assert_eq!(Filter::decode(&hex(V_SERF_FILTER_TAG)).unwrap(), f);
}

#[test]
fn v_serf_query() {
    check_serf(V_SERF_QUERY, SerfMessage::Query(query()));
    assert_eq!(
        query().decoded_filters().unwrap(),
        [
            Filter::Nodes(vec!["node-b".into()]),
            Filter::Tag {
                tag: "role".into(),
                expr: "web".into()
            }
        ]
    );
}

#[test]
fn v_serf_query_nofilters() {
    let q = Query {
        filters: None,
        flags: 0,
        payload: None,
        ..query()
    };
    check_serf(V_SERF_QUERY_NOFILTERS, SerfMessage::Query(q));
}

#[test]
fn query_flags_are_separate_bits() {
    let q = Query {
        flags: QUERY_FLAG_ACK | QUERY_FLAG_NO_BROADCAST,
        ..query()
    };
    let bytes = SerfMessage::Query(q).encode().unwrap();
    let SerfMessage::Query(back) = SerfMessage::decode(&bytes).unwrap() else {
        panic!("not a query")
    };
    assert_eq!(
        back.flags & QUERY_FLAG_NO_BROADCAST,
        QUERY_FLAG_NO_BROADCAST
    );
    assert_eq!(back.flags & QUERY_FLAG_ACK, QUERY_FLAG_ACK);
}

#[test]
fn v_serf_query_response() {
    check_serf(
        V_SERF_QUERY_RESPONSE,
        SerfMessage::QueryResponse(QueryResponse {
            flags: 0,
            payload: Some(b"up 3 days".to_vec()),
            ..query_ack()
        }),
    );
}

#[test]
fn v_serf_query_ack() {
    check_serf(V_SERF_QUERY_ACK, SerfMessage::QueryResponse(query_ack()));
}

#[test]
fn v_serf_relay_query_ack() {
    let relay = Relay {
        dest_addr: UdpAddr {
            ip: ip(2),
            port: 7946,
            zone: String::new(),
        },
        dest_name: "node-a".into(),
        inner: hex(V_SERF_QUERY_ACK),
    };
    assert_eq!(
        relay.inner_message().unwrap(),
        SerfMessage::QueryResponse(query_ack())
    );
    check_serf(V_SERF_RELAY_QUERY_ACK, SerfMessage::Relay(relay));
}

#[test]
fn v_serf_pushpull() {
    check_serf(V_SERF_PUSHPULL, SerfMessage::PushPull(serf_pushpull()));
}

#[test]
fn v_serf_key_request() {
    check_serf(
        V_SERF_KEY_REQUEST,
        SerfMessage::KeyRequest(KeyRequest { key: KEY.to_vec() }),
    );
}

#[test]
fn v_serf_key_request_list() {
    check_serf(
        V_SERF_KEY_REQUEST_LIST,
        SerfMessage::KeyRequest(KeyRequest { key: vec![] }),
    );
}

#[test]
fn v_serf_key_response() {
    check_serf(
        V_SERF_KEY_RESPONSE,
        SerfMessage::KeyResponse(KeyResponse {
            result: true,
            message: String::new(),
            keys: Some(vec!["AAECAwQFBgcICQoLDA0ODw==".into()]),
            primary_key: "AAECAwQFBgcICQoLDA0ODw==".into(),
        }),
    );
}

#[test]
fn v_serf_key_response_error() {
    check_serf(
        V_SERF_KEY_RESPONSE_ERROR,
        SerfMessage::KeyResponse(KeyResponse {
            result: false,
            message: "Keyring is empty (encryption not enabled)".into(),
            keys: None,
            primary_key: String::new(),
        }),
    );
}

#[test]
fn v_serf_conflict_response() {
    let m = Member {
        name: "node-a".into(),
        addr: ip(2),
        port: 7946,
        tags: tags(&[("role", "web")]),
        status: MemberStatus::Alive,
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 5,
    };
    check_serf(
        V_SERF_CONFLICT_RESPONSE,
        SerfMessage::ConflictResponse(Some(m)),
    );
}

#[test]
fn v_serf_conflict_response_unknown() {
    check_serf(
        V_SERF_CONFLICT_RESPONSE_UNKNOWN,
        SerfMessage::ConflictResponse(None),
    );
}

#[test]
fn full_serf_pushpull_has_512_slots() {
    // What a real agent sends (§11, join reply): 512 event slots as an array16.
    let state = SerfPushPull {
        ltime: 2,
        status_ltimes: BTreeMap::from([("node-a".into(), 0), ("node-b".into(), 1)]),
        event_ltime: 1,
        events: vec![None; 512],
        query_ltime: 1,
        ..Default::default()
    };
    let bytes = SerfMessage::PushPull(state.clone()).encode().unwrap();
    assert!(to_hex(&bytes).contains("dc0200c0c0"));
    assert_eq!(
        SerfMessage::decode(&bytes).unwrap(),
        SerfMessage::PushPull(state)
    );
}

#[test]
fn v_tags_meta_role_web() {
    let t = tags(&[("role", "web")]);
    assert_eq!(
        to_hex(&serf::encode_tags(&t).unwrap()),
        V_TAGS_META_ROLE_WEB
    );
    assert_eq!(serf::decode_tags(&hex(V_TAGS_META_ROLE_WEB)).unwrap(), t);
}

#[test]
fn v_tags_meta_empty() {
    assert_eq!(
        to_hex(&serf::encode_tags(&BTreeMap::new()).unwrap()),
        V_TAGS_META_EMPTY
    );
    assert_eq!(
        serf::decode_tags(&hex(V_TAGS_META_EMPTY)).unwrap(),
        BTreeMap::new()
    );
}

#[test]
fn v_ack_payload_initial_coordinate() {
    assert_eq!(
        to_hex(&serf::encode_ping_payload(&Coordinate::initial()).unwrap()),
        V_ACK_PAYLOAD_INITIAL_COORDINATE
    );
    assert_eq!(
        serf::decode_ping_payload(&hex(V_ACK_PAYLOAD_INITIAL_COORDINATE)).unwrap(),
        Some(Coordinate::initial())
    );
}
