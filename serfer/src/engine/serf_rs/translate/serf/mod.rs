//! A mirror of serf-core 0.5.2's Serf messages: what serf-rs puts inside
//! memberlist `UserData` and the push/pull user state. serf-core keeps these
//! types crate-private, so this module restates their byte layout, read from
//! its `types/` sources, and is byte-exact with its encoder for exactly that
//! version (the tests hold bytes captured from running nodes).
//!
//! The envelope is `key(LEN, tag) ‖ varint len ‖ body`, with serf-core's tags
//! one higher than Go's type bytes (leave is 1 where Go's is 0) and the key and
//! response types last (9, 10). The relay is the exception: `key(LEN, 8)`, the
//! destination node as field 1, then field key 2 followed directly by the
//! wrapped message's own envelope, with no length of its own.
//!
//! Inside a body, fields come in tag order; empty strings and payloads, `false`
//! booleans and `None` keys are left out, except where noted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::rs_wire::{key, RsReader, RsWriter, BYTE, LEN, VARINT};
use serfer_wire::error::{Result, WireError};

mod event;
mod keys;
mod member;
mod pushpull;
mod query;

use keys::{read_secret_key, write_secret_key};

/// Envelope tag of a leave intent.
pub const LEAVE: u8 = 1;
/// Envelope tag of a join intent.
pub const JOIN: u8 = 2;
/// Envelope tag of push/pull state.
pub const PUSH_PULL: u8 = 3;
/// Envelope tag of a user event.
pub const USER_EVENT: u8 = 4;
/// Envelope tag of a query.
pub const QUERY: u8 = 5;
/// Envelope tag of a query response or ack.
pub const QUERY_RESPONSE: u8 = 6;
/// Envelope tag of a name-conflict answer.
pub const CONFLICT_RESPONSE: u8 = 7;
/// Envelope tag of a relayed message.
pub const RELAY: u8 = 8;
/// Envelope tag of a key-management request.
pub const KEY_REQUEST: u8 = 9;
/// Envelope tag of a key-management answer.
pub const KEY_RESPONSE: u8 = 10;

/// A node as serf-rs names it: id and address (memberlist-proto's `Node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsNode {
    /// The node name.
    pub name: String,
    /// Its address. memberlist-proto drops an IPv6 flow label and scope id.
    pub addr: SocketAddr,
}

/// Leaving the cluster, or (with `prune`) being erased from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsLeave {
    /// Member clock.
    pub ltime: u64,
    /// The node leaving.
    pub id: String,
    /// Erase the member completely.
    pub prune: bool,
}

/// Joining, or refuting a leave intent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsJoin {
    /// Member clock.
    pub ltime: u64,
    /// The node joining.
    pub id: String,
}

/// One event in a push/pull's event list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsEventEntry {
    /// Event name.
    pub name: String,
    /// Payload (serf-rs has no nil: empty is empty).
    pub payload: Vec<u8>,
}

/// The events seen at one Lamport time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsUserEvents {
    /// Their event-clock time.
    pub ltime: u64,
    /// The events.
    pub events: Vec<RsEventEntry>,
}

/// serf-rs's push/pull state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsPushPull {
    /// Member clock.
    pub ltime: u64,
    /// Status time of every member, in serf-rs's (insertion) order.
    pub status_ltimes: Vec<(String, u64)>,
    /// Members in the left state.
    pub left_members: Vec<String>,
    /// Event clock.
    pub event_ltime: u64,
    /// The non-empty slots of the event ring, in slot order; unlike Go,
    /// serf-rs does not send the empty ones.
    pub events: Vec<RsUserEvents>,
    /// Query clock.
    pub query_ltime: u64,
}

/// A user event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsUserEvent {
    /// Event clock.
    pub ltime: u64,
    /// Event name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// May be coalesced.
    pub cc: bool,
}

/// A query filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RsFilter {
    /// Only these nodes.
    Id(Vec<String>),
    /// Nodes whose tag matches the regex. serf-rs's decoder turns an empty
    /// `expr` into `None`, but its encoder writes `Some("")` as a present,
    /// empty field, so both are kept apart here.
    Tag {
        /// Tag name.
        tag: String,
        /// Regular expression; `None` matches every node.
        expr: Option<String>,
    },
}

/// A query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsQuery {
    /// Query clock.
    pub ltime: u64,
    /// Query id.
    pub id: u32,
    /// The querying node, where answers go.
    pub from: RsNode,
    /// Filters.
    pub filters: Vec<RsFilter>,
    /// Ack (1) and no-broadcast (2) flags.
    pub flags: u32,
    /// How many other members relay each answer.
    pub relay_factor: u8,
    /// Response deadline.
    pub timeout: Duration,
    /// Query name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A query response, or with flag 1 an ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsQueryResponse {
    /// The query's clock.
    pub ltime: u64,
    /// The query's id.
    pub id: u32,
    /// The answering node.
    pub from: RsNode,
    /// 1 for an ack, 0 for a response.
    pub flags: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A Serf member record, the body of a name-conflict answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsMember {
    /// The member.
    pub node: RsNode,
    /// Its tags in serf-rs's (insertion) order.
    pub tags: Vec<(String, String)>,
    /// Status: 0 none, 1 alive, 2 leaving, 3 left, 4 failed.
    pub status: u8,
    /// memberlist protocol version (1 is serf-rs's only one).
    pub memberlist_protocol_version: u8,
    /// memberlist delegate version.
    pub memberlist_delegate_version: u8,
    /// Serf protocol version.
    pub protocol_version: u8,
    /// Serf delegate version.
    pub delegate_version: u8,
}

/// A message to forward to `node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsRelay {
    /// Where to send `inner`.
    pub node: RsNode,
    /// The message to forward (serf-rs relays only query responses); never a
    /// relay itself.
    pub inner: Box<RsSerfMessage>,
}

/// A key-management request, the payload of the `_serf_*_key(s)` queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsKeyRequest {
    /// The AES key (16, 24 or 32 bytes); `None` for list-keys.
    pub key: Option<Vec<u8>>,
}

/// A key-management answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsKeyResponse {
    /// Success.
    pub result: bool,
    /// Error or note.
    pub message: String,
    /// Raw keys (list-keys).
    pub keys: Vec<Vec<u8>>,
    /// Raw primary key (list-keys).
    pub primary_key: Option<Vec<u8>>,
}

/// One serf-rs Serf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RsSerfMessage {
    /// Tag 1.
    Leave(RsLeave),
    /// Tag 2.
    Join(RsJoin),
    /// Tag 3.
    PushPull(RsPushPull),
    /// Tag 4.
    UserEvent(RsUserEvent),
    /// Tag 5.
    Query(RsQuery),
    /// Tag 6.
    QueryResponse(RsQueryResponse),
    /// Tag 7. serf-rs answers "unknown member" with an empty response payload
    /// instead, which is not a message at all.
    ConflictResponse(RsMember),
    /// Tag 8.
    Relay(RsRelay),
    /// Tag 9.
    KeyRequest(RsKeyRequest),
    /// Tag 10.
    KeyResponse(RsKeyResponse),
}

// Field keys shared by several bodies.
const LTIME: u8 = key(VARINT, 1);
const NODE_ID: u8 = key(LEN, 1);
const NODE_ADDR: u8 = key(LEN, 2);

fn envelope_key(tag: u8) -> u8 {
    key(LEN, tag)
}

fn flag_byte(r: &mut RsReader<'_>, what: &'static str) -> Result<bool> {
    // Written only when true, and then as 1.
    match r.byte(what)? {
        1 => Ok(true),
        _ => Err(r.layout("01 after a boolean's key (false is left out)")),
    }
}

/// An optional string or payload: serf-core leaves it out when empty.
fn optional_bytes(r: &mut RsReader<'_>, key: u8, what: &'static str) -> Result<Vec<u8>> {
    if !r.take_key(key) {
        return Ok(Vec::new());
    }
    let b = r.len_prefixed(what)?;
    if b.is_empty() {
        return Err(r.layout("a non-empty value (empty ones are left out)"));
    }
    Ok(b.to_vec())
}

fn optional_string(r: &mut RsReader<'_>, key: u8, what: &'static str) -> Result<String> {
    let b = optional_bytes(r, key, what)?;
    String::from_utf8(b).map_err(|_| WireError::NotUtf8 {
        message: "serf-rs message",
        field: what,
    })
}

fn write_optional(w: &mut RsWriter, key: u8, what: &'static str, b: &[u8]) -> Result<()> {
    if b.is_empty() {
        return Ok(());
    }
    w.field_bytes(key, what, b)
}

/// Fields of a tag entry and of a (name, time) pair.
const TAG_ENTRY: u8 = key(LEN, 1);
const TUPLE_A: u8 = key(LEN, 1);
const TUPLE_B: u8 = key(LEN, 2);
const RELAY_NODE: u8 = key(LEN, 1);
const RELAY_MSG: u8 = key(LEN, 2);
const CONFLICT_MEMBER: u8 = key(LEN, 1);
const KEY_REQUEST_KEY: u8 = key(LEN, 1);

impl RsSerfMessage {
    /// The envelope tag.
    pub fn tag(&self) -> u8 {
        match self {
            RsSerfMessage::Leave(_) => LEAVE,
            RsSerfMessage::Join(_) => JOIN,
            RsSerfMessage::PushPull(_) => PUSH_PULL,
            RsSerfMessage::UserEvent(_) => USER_EVENT,
            RsSerfMessage::Query(_) => QUERY,
            RsSerfMessage::QueryResponse(_) => QUERY_RESPONSE,
            RsSerfMessage::ConflictResponse(_) => CONFLICT_RESPONSE,
            RsSerfMessage::Relay(_) => RELAY,
            RsSerfMessage::KeyRequest(_) => KEY_REQUEST,
            RsSerfMessage::KeyResponse(_) => KEY_RESPONSE,
        }
    }

    /// The bytes serf-core 0.5.2 writes for this message.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = RsWriter::new();
        self.write(&mut w)?;
        Ok(w.finish())
    }

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        if let RsSerfMessage::Relay(m) = self {
            if matches!(*m.inner, RsSerfMessage::Relay(_)) {
                return Err(WireError::Untranslatable {
                    message: "serf-rs relay",
                    field: "inner",
                    reason: "a relay of a relay, which serf-rs never sends".into(),
                });
            }
            w.byte(envelope_key(RELAY));
            w.field_nested(RELAY_NODE, "relay node", |w| m.node.write(w))?;
            w.byte(RELAY_MSG);
            return m.inner.write(w);
        }
        w.byte(envelope_key(self.tag()));
        let mut body = RsWriter::new();
        match self {
            RsSerfMessage::Leave(m) => m.write(&mut body)?,
            RsSerfMessage::Join(m) => m.write(&mut body)?,
            RsSerfMessage::PushPull(m) => m.write(&mut body)?,
            RsSerfMessage::UserEvent(m) => m.write(&mut body)?,
            RsSerfMessage::Query(m) => m.write(&mut body)?,
            RsSerfMessage::QueryResponse(m) => m.write(&mut body)?,
            RsSerfMessage::ConflictResponse(m) => {
                body.field_nested(CONFLICT_MEMBER, "conflict member", |w| m.write(w))?
            }
            RsSerfMessage::KeyRequest(m) => {
                if let Some(k) = &m.key {
                    body.field_nested(KEY_REQUEST_KEY, "key", |w| write_secret_key(w, k))?;
                }
            }
            RsSerfMessage::KeyResponse(m) => m.write(&mut body)?,
            RsSerfMessage::Relay(_) => unreachable!("handled above"),
        }
        w.len_prefixed("serf-rs message", &body.finish())
    }

    /// Decodes one message, which must fill `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        if buf.is_empty() {
            return Err(WireError::Empty {
                what: "serf-rs Serf message",
            });
        }
        let mut r = RsReader::new(buf, "serf-rs message");
        let msg = Self::read(&mut r, true)?;
        r.finish()?;
        Ok(msg)
    }

    fn read(r: &mut RsReader<'_>, relay_allowed: bool) -> Result<Self> {
        let ty = r.byte("message type")?;
        let tag = match ty {
            t if (envelope_key(LEAVE)..=envelope_key(KEY_RESPONSE)).contains(&t) => t & 0x0f,
            _ => {
                return Err(WireError::UnknownType {
                    layer: "serf-rs serf",
                    ty,
                })
            }
        };
        if tag == RELAY {
            if !relay_allowed {
                return Err(r.layout("a message other than a relay inside a relay"));
            }
            r.expect_key(RELAY_NODE, "the relay's node (11)")?;
            let node = RsNode::read(&mut r.nested("relay node")?.named("node"))?;
            r.expect_key(RELAY_MSG, "the relayed message (12)")?;
            let inner = Self::read(r, false)?;
            return Ok(RsSerfMessage::Relay(RsRelay {
                node,
                inner: Box::new(inner),
            }));
        }
        let mut b = r.nested("serf-rs message body")?;
        let msg = match tag {
            LEAVE => RsSerfMessage::Leave(RsLeave::read(b.rename("leave intent"))?),
            JOIN => RsSerfMessage::Join(RsJoin::read(b.rename("join intent"))?),
            PUSH_PULL => RsSerfMessage::PushPull(RsPushPull::read(b.rename("push/pull"))?),
            USER_EVENT => RsSerfMessage::UserEvent(RsUserEvent::read(b.rename("user event"))?),
            QUERY => RsSerfMessage::Query(RsQuery::read(b.rename("query"))?),
            QUERY_RESPONSE => {
                RsSerfMessage::QueryResponse(RsQueryResponse::read(b.rename("query response"))?)
            }
            CONFLICT_RESPONSE => {
                let b = b.rename("conflict response");
                b.expect_key(CONFLICT_MEMBER, "the member (11)")?;
                let m = RsMember::read(&mut b.nested("member")?)?;
                RsSerfMessage::ConflictResponse(m)
            }
            KEY_REQUEST => {
                let b = b.rename("key request");
                let key = if b.take_key(KEY_REQUEST_KEY) {
                    Some(read_secret_key(&mut b.nested("key")?)?)
                } else {
                    None
                };
                RsSerfMessage::KeyRequest(RsKeyRequest { key })
            }
            _ => RsSerfMessage::KeyResponse(RsKeyResponse::read(b.rename("key response"))?),
        };
        b.finish()?;
        Ok(msg)
    }
}
