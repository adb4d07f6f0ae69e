//! §12.1: memberlist messages, each in both directions.

use super::*;
use crate::memberlist::{Ack, Dead, ErrResp, IndirectPing, Nack};
use crate::serf::{self, Coordinate};

#[test]
fn v_ping() {
    check_message(V_PING, Message::Ping(ping()));
    assert_eq!(to_hex(&ping().encode().unwrap()), V_PING);
    assert_eq!(Ping::decode(&hex(V_PING)).unwrap(), ping());
}

#[test]
fn v_ping_no_source() {
    let p = Ping {
        seq_no: 42,
        node: "node-b".into(),
        ..Default::default()
    };
    check_message(V_PING_NO_SOURCE, Message::Ping(p));
}

#[test]
fn v_indirect_ping() {
    let p = IndirectPing {
        seq_no: 43,
        target: ip(3),
        port: 7946,
        node: "node-c".into(),
        nack: true,
        source_addr: ip(2),
        source_port: 7946,
        source_node: "node-a".into(),
    };
    check_message(V_INDIRECT_PING, Message::IndirectPing(p));
}

#[test]
fn v_ack_empty() {
    check_message(
        V_ACK_EMPTY,
        Message::Ack(Ack {
            seq_no: 42,
            payload: None,
        }),
    );
}

#[test]
fn v_ack_with_payload() {
    let payload = serf::encode_ping_payload(&Coordinate::initial()).unwrap();
    check_message(
        V_ACK_WITH_PAYLOAD,
        Message::Ack(Ack {
            seq_no: 42,
            payload: Some(payload),
        }),
    );
}

#[test]
fn v_nack() {
    check_message(V_NACK, Message::Nack(Nack { seq_no: 43 }));
}

#[test]
fn v_suspect() {
    check_message(V_SUSPECT, Message::Suspect(suspect()));
}

#[test]
fn v_alive() {
    check_message(V_ALIVE, Message::Alive(alive()));
    assert_eq!(
        serf::decode_tags(&alive().meta).unwrap(),
        tags(&[("role", "web")])
    );
}

#[test]
fn v_dead() {
    let d = Dead {
        incarnation: 5,
        node: "node-b".into(),
        from: "node-a".into(),
    };
    assert!(!d.is_leave());
    check_message(V_DEAD, Message::Dead(d));
}

#[test]
fn v_dead_leave() {
    let d = Dead {
        incarnation: 1,
        node: "node-a".into(),
        from: "node-a".into(),
    };
    assert!(d.is_leave());
    check_message(V_DEAD_LEAVE, Message::Dead(d));
}

#[test]
fn v_err_resp() {
    check_message(
        V_ERR_RESP,
        Message::Err(ErrResp {
            error: "boom".into(),
        }),
    );
}
