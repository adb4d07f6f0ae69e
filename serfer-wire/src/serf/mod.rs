//! Serf messages (spec §9.2), carried in memberlist user messages and push/pull
//! user state, plus the pieces Serf hides inside other fields: query filters,
//! node meta (tags, §9.8) and the ack payload coordinate (§7).

use std::collections::BTreeMap;

mod coordinate;
mod filter;
mod tags;

pub use coordinate::{decode_ping_payload, encode_ping_payload, Coordinate};
pub use filter::Filter;
pub use tags::{decode_tags, encode_tags};

use crate::error::{Result, WireError};
use crate::message::{
    go_struct, Bool, Bytes, Codec, GoStruct, Int, List, Map, Nested, OrNil, Str, Uint,
};
use crate::msgpack::{Field, Reader, Value, Writer};

/// Serf type of a leave intent.
pub const LEAVE: u8 = 0;
/// Serf type of a join intent.
pub const JOIN: u8 = 1;
/// Serf type of push/pull state.
pub const PUSH_PULL: u8 = 2;
/// Serf type of a user event.
pub const USER_EVENT: u8 = 3;
/// Serf type of a query.
pub const QUERY: u8 = 4;
/// Serf type of a query response (or ack).
pub const QUERY_RESPONSE: u8 = 5;
/// Serf type of a name-conflict answer.
pub const CONFLICT_RESPONSE: u8 = 6;
/// Serf type of a key-management request.
pub const KEY_REQUEST: u8 = 7;
/// Serf type of a key-management answer.
pub const KEY_RESPONSE: u8 = 8;
/// Serf type of a relayed message.
pub const RELAY: u8 = 9;

/// Query flag: every node that passes the filters acks on receipt.
pub const QUERY_FLAG_ACK: u32 = 1;
/// Query flag: receivers do not re-broadcast.
pub const QUERY_FLAG_NO_BROADCAST: u32 = 2;

/// Leaving the cluster, or (with `prune`) being erased from it (type 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveIntent {
    /// Member clock.
    pub ltime: u64,
    /// The node leaving.
    pub node: String,
    /// Erase the member completely (`force-leave -prune`).
    pub prune: bool,
}

go_struct! {
    LeaveIntent as "leave intent" {
        "LTime" => ltime: Uint,
        "Node"  => node: Str,
        "Prune" => prune: Bool,
    }
}

/// Joining, or refuting a leave intent (type 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinIntent {
    /// Member clock.
    pub ltime: u64,
    /// The node joining.
    pub node: String,
}

go_struct! {
    JoinIntent as "join intent" {
        "LTime" => ltime: Uint,
        "Node"  => node: Str,
    }
}

/// One event in a slot of the push/pull event ring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventEntry {
    /// Event name.
    pub name: String,
    /// Event payload; `None` is nil.
    pub payload: Option<Vec<u8>>,
}

go_struct! {
    EventEntry as "messageUserEvent" {
        "Name"    => name: Str,
        "Payload" => payload: OrNil<Bytes>,
    }
}

/// The events seen at one Lamport time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEvents {
    /// Their event-clock time.
    pub ltime: u64,
    /// The events.
    pub events: Vec<EventEntry>,
}

go_struct! {
    UserEvents as "userEvents" {
        "Events" => events: List<Nested>,
        "LTime"  => ltime: Uint,
    }
}

/// Serf's push/pull state (type 2), the user state of a memberlist push/pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SerfPushPull {
    /// Member clock.
    pub ltime: u64,
    /// Status time of every member.
    pub status_ltimes: BTreeMap<String, u64>,
    /// Members in the left state.
    pub left_members: Vec<String>,
    /// Event clock.
    pub event_ltime: u64,
    /// The event ring in slot order (512 slots from a real agent), `None` for
    /// empty slots.
    pub events: Vec<Option<UserEvents>>,
    /// Query clock.
    pub query_ltime: u64,
}

go_struct! {
    SerfPushPull as "Serf push/pull" {
        "EventLTime"   => event_ltime: Uint,
        "Events"       => events: List<OrNil<Nested>>,
        "LTime"        => ltime: Uint,
        "LeftMembers"  => left_members: List<Str>,
        "QueryLTime"   => query_ltime: Uint,
        "StatusLTimes" => status_ltimes: Map<Uint>,
    }
}

/// A user event (type 3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEvent {
    /// Event clock.
    pub ltime: u64,
    /// Event name.
    pub name: String,
    /// Payload; `None` is nil.
    pub payload: Option<Vec<u8>>,
    /// May be coalesced with others of the same name.
    pub cc: bool,
}

go_struct! {
    UserEvent as "user event" {
        "CC"      => cc: Bool,
        "LTime"   => ltime: Uint,
        "Name"    => name: Str,
        "Payload" => payload: OrNil<Bytes>,
    }
}

/// A query (type 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Query clock.
    pub ltime: u64,
    /// Random 31-bit id; responses are matched by `(ltime, id)`.
    pub id: u32,
    /// Where answers go (raw IP).
    pub addr: Vec<u8>,
    /// Port answers go to.
    pub port: u16,
    /// Name of the querying node.
    pub source_node: String,
    /// Filters, each encoded with [`Filter::encode`]; `None` is nil.
    pub filters: Option<Vec<Vec<u8>>>,
    /// [`QUERY_FLAG_ACK`], [`QUERY_FLAG_NO_BROADCAST`].
    pub flags: u32,
    /// How many other members relay each answer.
    pub relay_factor: u8,
    /// Response deadline, Go `time.Duration`: nanoseconds, possibly negative.
    pub timeout_ns: i64,
    /// Query name.
    pub name: String,
    /// Payload; `None` is nil.
    pub payload: Option<Vec<u8>>,
}

go_struct! {
    Query as "query" {
        "Addr"        => addr: Bytes,
        "Filters"     => filters: OrNil<List<Bytes>>,
        "Flags"       => flags: Uint,
        "ID"          => id: Uint,
        "LTime"       => ltime: Uint,
        "Name"        => name: Str,
        "Payload"     => payload: OrNil<Bytes>,
        "Port"        => port: Uint,
        "RelayFactor" => relay_factor: Uint,
        "SourceNode"  => source_node: Str,
        "Timeout"     => timeout_ns: Int,
    }
}

/// A query response, or with [`QUERY_FLAG_ACK`] an ack (type 5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResponse {
    /// The query's clock.
    pub ltime: u64,
    /// The query's id.
    pub id: u32,
    /// The answering node.
    pub from: String,
    /// [`QUERY_FLAG_ACK`] for an ack, 0 for a response.
    pub flags: u32,
    /// Payload; `None` is nil (acks).
    pub payload: Option<Vec<u8>>,
}

go_struct! {
    QueryResponse as "query response" {
        "Flags"   => flags: Uint,
        "From"    => from: Str,
        "ID"      => id: Uint,
        "LTime"   => ltime: Uint,
        "Payload" => payload: OrNil<Bytes>,
    }
}

/// A member's Serf status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MemberStatus {
    /// 0.
    #[default]
    None,
    /// 1.
    Alive,
    /// 2.
    Leaving,
    /// 3.
    Left,
    /// 4.
    Failed,
    /// Any other value, kept as it is.
    Other(i64),
}

impl MemberStatus {
    /// The wire value.
    pub fn to_wire(self) -> i64 {
        match self {
            MemberStatus::None => 0,
            MemberStatus::Alive => 1,
            MemberStatus::Leaving => 2,
            MemberStatus::Left => 3,
            MemberStatus::Failed => 4,
            MemberStatus::Other(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_wire(v: i64) -> Self {
        match v {
            0 => MemberStatus::None,
            1 => MemberStatus::Alive,
            2 => MemberStatus::Leaving,
            3 => MemberStatus::Left,
            4 => MemberStatus::Failed,
            v => MemberStatus::Other(v),
        }
    }
}

/// The status travels as a Go `int`.
impl Codec<MemberStatus> for Int {
    fn write(w: &mut Writer, value: &MemberStatus) {
        w.int(value.to_wire());
    }

    fn read(value: &Value<'_>, field: Field) -> Result<MemberStatus> {
        Ok(MemberStatus::from_wire(value.int(field)?))
    }
}

/// A Serf member record, the body of a name-conflict answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// Node name.
    pub name: String,
    /// Address (raw IP).
    pub addr: Vec<u8>,
    /// Gossip port.
    pub port: u16,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Serf status.
    pub status: MemberStatus,
    /// memberlist protocol minimum.
    pub protocol_min: u8,
    /// memberlist protocol maximum.
    pub protocol_max: u8,
    /// memberlist protocol in use.
    pub protocol_cur: u8,
    /// Serf protocol minimum.
    pub delegate_min: u8,
    /// Serf protocol maximum.
    pub delegate_max: u8,
    /// Serf protocol in use.
    pub delegate_cur: u8,
}

go_struct! {
    Member as "conflict response" {
        "Addr"        => addr: Bytes,
        "DelegateCur" => delegate_cur: Uint,
        "DelegateMax" => delegate_max: Uint,
        "DelegateMin" => delegate_min: Uint,
        "Name"        => name: Str,
        "Port"        => port: Uint,
        "ProtocolCur" => protocol_cur: Uint,
        "ProtocolMax" => protocol_max: Uint,
        "ProtocolMin" => protocol_min: Uint,
        "Status"      => status: Int,
        "Tags"        => tags: Map<Str>,
    }
}

/// A key-management request (type 7), the payload of `_serf_*-key` queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRequest {
    /// Raw AES key; empty for list-keys.
    pub key: Vec<u8>,
}

go_struct! {
    KeyRequest as "key request" {
        "Key" => key: Bytes,
    }
}

/// A key-management answer (type 8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyResponse {
    /// Success.
    pub result: bool,
    /// Error or note.
    pub message: String,
    /// Base64 keys (list-keys); `None` is nil.
    pub keys: Option<Vec<String>>,
    /// Base64 primary key (list-keys), else empty.
    pub primary_key: String,
}

go_struct! {
    KeyResponse as "key response" {
        "Keys"       => keys: OrNil<List<Str>>,
        "Message"    => message: Str,
        "PrimaryKey" => primary_key: Str,
        "Result"     => result: Bool,
    }
}

/// Go's `net.UDPAddr`, as relay headers carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpAddr {
    /// Raw IP.
    pub ip: Vec<u8>,
    /// Port (a Go `int`; out-of-range values are refused).
    pub port: u16,
    /// IPv6 zone, empty otherwise.
    pub zone: String,
}

go_struct! {
    UdpAddr as "relay DestAddr" {
        "IP"   => ip: Bytes,
        "Port" => port: Uint,
        "Zone" => zone: Str,
    }
}

/// A message to forward (type 9): the relay node sends `inner` unchanged as a
/// user packet to `dest_addr`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relay {
    /// Where to send `inner`.
    pub dest_addr: UdpAddr,
    /// Name of the destination node.
    pub dest_name: String,
    /// The Serf message to forward, type byte included (a query response, `05 …`).
    pub inner: Vec<u8>,
}

// Only the header is a map: `inner` follows it raw, written and read by
// `SerfMessage`.
go_struct! {
    Relay as "relay header" {
        "DestAddr" => dest_addr: Nested,
        "DestName" => dest_name: Str,
        ..Default
    }
}

impl Relay {
    /// Decodes the message being relayed.
    pub fn inner_message(&self) -> Result<SerfMessage> {
        SerfMessage::decode(&self.inner)
    }
}

/// One Serf message: what a memberlist user message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerfMessage {
    /// Type 0.
    Leave(LeaveIntent),
    /// Type 1.
    Join(JoinIntent),
    /// Type 2.
    PushPull(SerfPushPull),
    /// Type 3.
    UserEvent(UserEvent),
    /// Type 4.
    Query(Query),
    /// Type 5.
    QueryResponse(QueryResponse),
    /// Type 6: the answerer's record of the contested member, `None` if unknown.
    ConflictResponse(Option<Member>),
    /// Type 7.
    KeyRequest(KeyRequest),
    /// Type 8.
    KeyResponse(KeyResponse),
    /// Type 9.
    Relay(Relay),
}

impl SerfMessage {
    /// The Serf type byte.
    pub fn message_type(&self) -> u8 {
        match self {
            SerfMessage::Leave(_) => LEAVE,
            SerfMessage::Join(_) => JOIN,
            SerfMessage::PushPull(_) => PUSH_PULL,
            SerfMessage::UserEvent(_) => USER_EVENT,
            SerfMessage::Query(_) => QUERY,
            SerfMessage::QueryResponse(_) => QUERY_RESPONSE,
            SerfMessage::ConflictResponse(_) => CONFLICT_RESPONSE,
            SerfMessage::KeyRequest(_) => KEY_REQUEST,
            SerfMessage::KeyResponse(_) => KEY_RESPONSE,
            SerfMessage::Relay(_) => RELAY,
        }
    }

    /// Type byte and body, byte-identical with Go's encoding (maps with several
    /// entries aside: Go orders them randomly, this encoder sorts them).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_prefix(&[self.message_type()]);
        match self {
            SerfMessage::Leave(m) => m.write_map(&mut w),
            SerfMessage::Join(m) => m.write_map(&mut w),
            SerfMessage::PushPull(m) => m.write_map(&mut w),
            SerfMessage::UserEvent(m) => m.write_map(&mut w),
            SerfMessage::Query(m) => m.write_map(&mut w),
            SerfMessage::QueryResponse(m) => m.write_map(&mut w),
            SerfMessage::ConflictResponse(None) => w.nil(),
            SerfMessage::ConflictResponse(Some(m)) => m.write_map(&mut w),
            SerfMessage::KeyRequest(m) => m.write_map(&mut w),
            SerfMessage::KeyResponse(m) => m.write_map(&mut w),
            SerfMessage::Relay(m) => {
                m.write_map(&mut w);
                w.raw(&m.inner);
            }
        }
        w.finish()
    }

    /// Decodes one Serf message, type byte included.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let (&ty, _) = buf.split_first().ok_or(WireError::Empty {
            what: "Serf message",
        })?;
        let mut r = Reader::at(buf, 1);
        let v = r.value()?;
        Ok(match ty {
            LEAVE => SerfMessage::Leave(LeaveIntent::from_value(&v)?),
            JOIN => SerfMessage::Join(JoinIntent::from_value(&v)?),
            PUSH_PULL => SerfMessage::PushPull(SerfPushPull::from_value(&v)?),
            USER_EVENT => SerfMessage::UserEvent(UserEvent::from_value(&v)?),
            QUERY => SerfMessage::Query(Query::from_value(&v)?),
            QUERY_RESPONSE => SerfMessage::QueryResponse(QueryResponse::from_value(&v)?),
            CONFLICT_RESPONSE => SerfMessage::ConflictResponse(match v {
                Value::Nil => None,
                _ => Some(Member::from_value(&v)?),
            }),
            KEY_REQUEST => SerfMessage::KeyRequest(KeyRequest::from_value(&v)?),
            KEY_RESPONSE => SerfMessage::KeyResponse(KeyResponse::from_value(&v)?),
            RELAY => SerfMessage::Relay(Relay {
                inner: r.rest().to_vec(),
                ..Relay::from_value(&v)?
            }),
            _ => return Err(WireError::UnknownType { layer: "serf", ty }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_status_round_trips() {
        for v in -1..=5 {
            assert_eq!(MemberStatus::from_wire(v).to_wire(), v);
        }
    }

    #[test]
    fn unknown_and_malformed_messages_are_errors() {
        assert_eq!(
            SerfMessage::decode(&[10, 0x80]),
            Err(WireError::UnknownType {
                layer: "serf",
                ty: 10
            })
        );
        assert!(SerfMessage::decode(&[]).is_err());
        assert!(SerfMessage::decode(&[3]).unwrap_err().is_truncated());
        // A relay whose DestAddr is not a map.
        assert!(SerfMessage::decode(&[
            9, 0x81, 0xa8, b'D', b'e', b's', b't', b'A', b'd', b'd', b'r', 1
        ])
        .is_err());
    }
}
