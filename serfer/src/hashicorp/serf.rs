//! Serf messages (spec §9.2), carried in memberlist user messages and push/pull
//! user state, plus the pieces Serf hides inside other fields: query filters,
//! node meta (tags, §9.8) and the ack payload coordinate (§7).

use std::collections::BTreeMap;

use super::error::{Result, WireError};
use super::msgpack::{Field, Fields, Reader, Value, Writer};

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

/// Joining, or refuting a leave intent (type 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinIntent {
    /// Member clock.
    pub ltime: u64,
    /// The node joining.
    pub node: String,
}

/// One event in a slot of the push/pull event ring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventEntry {
    /// Event name.
    pub name: String,
    /// Event payload; `None` is nil.
    pub payload: Option<Vec<u8>>,
}

/// The events seen at one Lamport time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEvents {
    /// Their event-clock time.
    pub ltime: u64,
    /// The events.
    pub events: Vec<EventEntry>,
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

/// A key-management request (type 7), the payload of `_serf_*-key` queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRequest {
    /// Raw AES key; empty for list-keys.
    pub key: Vec<u8>,
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

/// A Go `[]string`.
fn write_string_list(w: &mut Writer, items: &[String]) {
    w.array(items.len());
    for item in items {
        w.str(item.as_bytes());
    }
}

/// A Go `map[string]V`.
fn write_string_map<V>(
    w: &mut Writer,
    map: &BTreeMap<String, V>,
    mut value: impl FnMut(&mut Writer, &V),
) {
    // Go writes map entries in random order; sorted is as good and testable.
    w.map(map.len());
    for (k, v) in map {
        w.str(k.as_bytes());
        value(w, v);
    }
}

/// A Go `[]string`; `None` for nil.
fn read_string_list(value: &Value<'_>, field: Field) -> Result<Option<Vec<String>>> {
    value
        .array(field)?
        .map(|items| {
            items
                .iter()
                .map(|v| v.text(field))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()
}

/// A Go `map[string]string`; nil is empty.
fn read_tags(value: &Value<'_>, field: Field) -> Result<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    for (k, v) in value.map(field)?.unwrap_or_default() {
        tags.insert(k.text(field)?, v.text(field)?);
    }
    Ok(tags)
}

impl Member {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        w.map(11);
        w.str(b"Addr");
        w.str(&self.addr);
        w.str(b"DelegateCur");
        w.uint(self.delegate_cur.into());
        w.str(b"DelegateMax");
        w.uint(self.delegate_max.into());
        w.str(b"DelegateMin");
        w.uint(self.delegate_min.into());
        w.str(b"Name");
        w.str(self.name.as_bytes());
        w.str(b"Port");
        w.uint(self.port.into());
        w.str(b"ProtocolCur");
        w.uint(self.protocol_cur.into());
        w.str(b"ProtocolMax");
        w.uint(self.protocol_max.into());
        w.str(b"ProtocolMin");
        w.uint(self.protocol_min.into());
        w.str(b"Status");
        w.int(self.status.to_wire());
        w.str(b"Tags");
        write_string_map(w, &self.tags, |w, v| w.str(v.as_bytes()));
    }

    /// Reads the body from its fields.
    fn read(f: &Fields<'_, '_>) -> Result<Self> {
        Ok(Member {
            name: f.string("Name")?,
            addr: f.bytes("Addr")?,
            port: f.u16("Port")?,
            tags: read_tags(f.get("Tags"), f.field("Tags"))?,
            status: MemberStatus::from_wire(f.i64("Status")?),
            protocol_min: f.u8("ProtocolMin")?,
            protocol_max: f.u8("ProtocolMax")?,
            protocol_cur: f.u8("ProtocolCur")?,
            delegate_min: f.u8("DelegateMin")?,
            delegate_max: f.u8("DelegateMax")?,
            delegate_cur: f.u8("DelegateCur")?,
        })
    }
}

impl SerfPushPull {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        w.map(6);
        w.str(b"EventLTime");
        w.uint(self.event_ltime);
        w.str(b"Events");
        w.array(self.events.len());
        for slot in &self.events {
            match slot {
                None => w.nil(),
                Some(e) => {
                    w.map(2);
                    w.str(b"Events");
                    w.array(e.events.len());
                    for event in &e.events {
                        w.map(2);
                        w.str(b"Name");
                        w.str(event.name.as_bytes());
                        w.str(b"Payload");
                        w.opt_str(event.payload.as_deref());
                    }
                    w.str(b"LTime");
                    w.uint(e.ltime);
                }
            }
        }
        w.str(b"LTime");
        w.uint(self.ltime);
        w.str(b"LeftMembers");
        write_string_list(w, &self.left_members);
        w.str(b"QueryLTime");
        w.uint(self.query_ltime);
        w.str(b"StatusLTimes");
        write_string_map(w, &self.status_ltimes, |w, &t| w.uint(t));
    }

    /// Reads the body from its fields.
    fn read(f: &Fields<'_, '_>) -> Result<Self> {
        let mut events = Vec::new();
        for slot in f
            .get("Events")
            .array(f.field("Events"))?
            .unwrap_or_default()
        {
            events.push(match slot {
                Value::Nil => None,
                slot => {
                    let s = Fields::new("userEvents", slot)?;
                    let mut entries = Vec::new();
                    for e in s
                        .get("Events")
                        .array(s.field("Events"))?
                        .unwrap_or_default()
                    {
                        let e = Fields::new("messageUserEvent", e)?;
                        entries.push(EventEntry {
                            name: e.string("Name")?,
                            payload: e.opt_bytes("Payload")?,
                        });
                    }
                    Some(UserEvents {
                        ltime: s.u64("LTime")?,
                        events: entries,
                    })
                }
            });
        }
        let status_field = f.field("StatusLTimes");
        let mut status_ltimes = BTreeMap::new();
        for (k, v) in f.get("StatusLTimes").map(status_field)?.unwrap_or_default() {
            status_ltimes.insert(k.text(status_field)?, v.uint(status_field)?);
        }
        Ok(SerfPushPull {
            ltime: f.u64("LTime")?,
            status_ltimes,
            left_members: read_string_list(f.get("LeftMembers"), f.field("LeftMembers"))?
                .unwrap_or_default(),
            event_ltime: f.u64("EventLTime")?,
            events,
            query_ltime: f.u64("QueryLTime")?,
        })
    }
}

impl Query {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        w.map(11);
        w.str(b"Addr");
        w.str(&self.addr);
        w.str(b"Filters");
        match &self.filters {
            None => w.nil(),
            Some(filters) => {
                w.array(filters.len());
                for f in filters {
                    w.str(f);
                }
            }
        }
        w.str(b"Flags");
        w.uint(self.flags.into());
        w.str(b"ID");
        w.uint(self.id.into());
        w.str(b"LTime");
        w.uint(self.ltime);
        w.str(b"Name");
        w.str(self.name.as_bytes());
        w.str(b"Payload");
        w.opt_str(self.payload.as_deref());
        w.str(b"Port");
        w.uint(self.port.into());
        w.str(b"RelayFactor");
        w.uint(self.relay_factor.into());
        w.str(b"SourceNode");
        w.str(self.source_node.as_bytes());
        w.str(b"Timeout");
        w.int(self.timeout_ns);
    }

    /// Reads the body from its fields.
    fn read(f: &Fields<'_, '_>) -> Result<Self> {
        let filters_field = f.field("Filters");
        let filters = match f.get("Filters").array(filters_field)? {
            None => None,
            Some(items) => Some(
                items
                    .iter()
                    .map(|v| {
                        v.bytes(filters_field)
                            .map(|b| b.unwrap_or_default().to_vec())
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(Query {
            ltime: f.u64("LTime")?,
            id: f.u32("ID")?,
            addr: f.bytes("Addr")?,
            port: f.u16("Port")?,
            source_node: f.string("SourceNode")?,
            filters,
            flags: f.u32("Flags")?,
            relay_factor: f.u8("RelayFactor")?,
            timeout_ns: f.i64("Timeout")?,
            name: f.string("Name")?,
            payload: f.opt_bytes("Payload")?,
        })
    }

    /// The decoded filters; an empty list when there are none.
    pub fn decoded_filters(&self) -> Result<Vec<Filter>> {
        self.filters
            .iter()
            .flatten()
            .map(|f| Filter::decode(f))
            .collect()
    }
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
            SerfMessage::Leave(m) => {
                w.map(3);
                w.str(b"LTime");
                w.uint(m.ltime);
                w.str(b"Node");
                w.str(m.node.as_bytes());
                w.str(b"Prune");
                w.bool(m.prune);
            }
            SerfMessage::Join(m) => {
                w.map(2);
                w.str(b"LTime");
                w.uint(m.ltime);
                w.str(b"Node");
                w.str(m.node.as_bytes());
            }
            SerfMessage::PushPull(m) => m.write(&mut w),
            SerfMessage::UserEvent(m) => {
                w.map(4);
                w.str(b"CC");
                w.bool(m.cc);
                w.str(b"LTime");
                w.uint(m.ltime);
                w.str(b"Name");
                w.str(m.name.as_bytes());
                w.str(b"Payload");
                w.opt_str(m.payload.as_deref());
            }
            SerfMessage::Query(m) => m.write(&mut w),
            SerfMessage::QueryResponse(m) => {
                w.map(5);
                w.str(b"Flags");
                w.uint(m.flags.into());
                w.str(b"From");
                w.str(m.from.as_bytes());
                w.str(b"ID");
                w.uint(m.id.into());
                w.str(b"LTime");
                w.uint(m.ltime);
                w.str(b"Payload");
                w.opt_str(m.payload.as_deref());
            }
            SerfMessage::ConflictResponse(None) => w.nil(),
            SerfMessage::ConflictResponse(Some(m)) => m.write(&mut w),
            SerfMessage::KeyRequest(m) => {
                w.map(1);
                w.str(b"Key");
                w.str(&m.key);
            }
            SerfMessage::KeyResponse(m) => {
                w.map(4);
                w.str(b"Keys");
                match &m.keys {
                    None => w.nil(),
                    Some(keys) => write_string_list(&mut w, keys),
                }
                w.str(b"Message");
                w.str(m.message.as_bytes());
                w.str(b"PrimaryKey");
                w.str(m.primary_key.as_bytes());
                w.str(b"Result");
                w.bool(m.result);
            }
            SerfMessage::Relay(m) => {
                w.map(2);
                w.str(b"DestAddr");
                w.map(3);
                w.str(b"IP");
                w.str(&m.dest_addr.ip);
                w.str(b"Port");
                w.uint(m.dest_addr.port.into());
                w.str(b"Zone");
                w.str(m.dest_addr.zone.as_bytes());
                w.str(b"DestName");
                w.str(m.dest_name.as_bytes());
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
        let fields = |message| Fields::new(message, &v);
        Ok(match ty {
            LEAVE => {
                let f = fields("leave intent")?;
                SerfMessage::Leave(LeaveIntent {
                    ltime: f.u64("LTime")?,
                    node: f.string("Node")?,
                    prune: f.bool("Prune")?,
                })
            }
            JOIN => {
                let f = fields("join intent")?;
                SerfMessage::Join(JoinIntent {
                    ltime: f.u64("LTime")?,
                    node: f.string("Node")?,
                })
            }
            PUSH_PULL => SerfMessage::PushPull(SerfPushPull::read(&fields("Serf push/pull")?)?),
            USER_EVENT => {
                let f = fields("user event")?;
                SerfMessage::UserEvent(UserEvent {
                    ltime: f.u64("LTime")?,
                    name: f.string("Name")?,
                    payload: f.opt_bytes("Payload")?,
                    cc: f.bool("CC")?,
                })
            }
            QUERY => SerfMessage::Query(Query::read(&fields("query")?)?),
            QUERY_RESPONSE => {
                let f = fields("query response")?;
                SerfMessage::QueryResponse(QueryResponse {
                    ltime: f.u64("LTime")?,
                    id: f.u32("ID")?,
                    from: f.string("From")?,
                    flags: f.u32("Flags")?,
                    payload: f.opt_bytes("Payload")?,
                })
            }
            CONFLICT_RESPONSE => SerfMessage::ConflictResponse(match v {
                Value::Nil => None,
                _ => Some(Member::read(&fields("conflict response")?)?),
            }),
            KEY_REQUEST => SerfMessage::KeyRequest(KeyRequest {
                key: fields("key request")?.bytes("Key")?,
            }),
            KEY_RESPONSE => {
                let f = fields("key response")?;
                SerfMessage::KeyResponse(KeyResponse {
                    result: f.bool("Result")?,
                    message: f.string("Message")?,
                    keys: read_string_list(f.get("Keys"), f.field("Keys"))?,
                    primary_key: f.string("PrimaryKey")?,
                })
            }
            RELAY => {
                let f = fields("relay header")?;
                let addr = Fields::new("relay DestAddr", f.get("DestAddr"))?;
                SerfMessage::Relay(Relay {
                    dest_addr: UdpAddr {
                        ip: addr.bytes("IP")?,
                        port: addr.u16("Port")?,
                        zone: addr.string("Zone")?,
                    },
                    dest_name: f.string("DestName")?,
                    inner: r.rest().to_vec(),
                })
            }
            _ => return Err(WireError::UnknownType { layer: "serf", ty }),
        })
    }
}

/// A query filter: which nodes should process a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Type 0: only these nodes.
    Nodes(Vec<String>),
    /// Type 1: nodes whose tag `tag` matches the Go RE2 regex `expr` (unanchored).
    Tag {
        /// Tag name; a missing tag counts as "".
        tag: String,
        /// Regular expression.
        expr: String,
    },
}

impl Filter {
    /// The filter's bytes, as they go into [`Query::filters`].
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            Filter::Nodes(nodes) => {
                let mut w = Writer::with_prefix(&[0]);
                write_string_list(&mut w, nodes);
                w.finish()
            }
            Filter::Tag { tag, expr } => {
                let mut w = Writer::with_prefix(&[1]);
                w.map(2);
                w.str(b"Expr");
                w.str(expr.as_bytes());
                w.str(b"Tag");
                w.str(tag.as_bytes());
                w.finish()
            }
        }
    }

    /// Decodes one filter. Go skips a query whose filters it cannot decode (but
    /// still re-broadcasts it).
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let (&ty, _) = buf.split_first().ok_or(WireError::Empty {
            what: "query filter",
        })?;
        let v = Reader::at(buf, 1).value()?;
        match ty {
            0 => {
                let field = Field {
                    message: "node filter",
                    name: "(list)",
                };
                Ok(Filter::Nodes(
                    read_string_list(&v, field)?.unwrap_or_default(),
                ))
            }
            1 => {
                let f = Fields::new("tag filter", &v)?;
                Ok(Filter::Tag {
                    tag: f.string("Tag")?,
                    expr: f.string("Expr")?,
                })
            }
            ty => Err(WireError::FilterType { ty }),
        }
    }
}

/// The magic first byte of tag-encoded node meta.
const TAG_MAGIC: u8 = 0xff;

/// Node meta for `tags` (Serf protocol ≥ 3): `ff ‖ map[str]str`. Go limits the
/// result to 512 bytes; checking that is the caller's business.
pub fn encode_tags(tags: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut w = Writer::with_prefix(&[TAG_MAGIC]);
    write_string_map(&mut w, tags, |w, v| w.str(v.as_bytes()));
    w.finish()
}

/// Tags from node meta. Meta that is empty or does not start with `ff` is the
/// protocol-2 form: the whole meta is the value of the `role` tag.
pub fn decode_tags(meta: &[u8]) -> Result<BTreeMap<String, String>> {
    match meta.split_first() {
        Some((&TAG_MAGIC, _)) => {
            let v = Reader::at(meta, 1).value()?;
            read_tags(
                &v,
                Field {
                    message: "node meta",
                    name: "(tags)",
                },
            )
        }
        _ => {
            let role = std::str::from_utf8(meta).map_err(|_| WireError::NotUtf8 {
                message: "node meta",
                field: "role",
            })?;
            Ok(BTreeMap::from([("role".to_owned(), role.to_owned())]))
        }
    }
}

/// Serf's version byte in ack payloads.
const PING_VERSION: u8 = 1;

/// The ack payload's coordinate is the one Serfer reports for members.
pub use crate::node::Coordinate;

impl Coordinate {
    /// The coordinate a node starts with.
    pub(crate) fn initial() -> Self {
        Coordinate {
            vec: vec![0.0; 8],
            error: 1.5,
            adjustment: 0.0,
            height: 1e-5,
        }
    }
}

/// The payload of a UDP ack: `01 ‖ msgpack(Coordinate)`.
pub fn encode_ping_payload(c: &Coordinate) -> Result<Vec<u8>> {
    let mut w = Writer::with_prefix(&[PING_VERSION]);
    w.map(4);
    w.str(b"Adjustment");
    w.f64(c.adjustment);
    w.str(b"Error");
    w.f64(c.error);
    w.str(b"Height");
    w.f64(c.height);
    w.str(b"Vec");
    w.array(c.vec.len());
    for &x in &c.vec {
        w.f64(x);
    }
    w.finish()
}

/// The coordinate in an ack payload; `None` for an empty payload, which Go
/// ignores.
pub fn decode_ping_payload(payload: &[u8]) -> Result<Option<Coordinate>> {
    let Some((&version, _)) = payload.split_first() else {
        return Ok(None);
    };
    if version != PING_VERSION {
        return Err(WireError::PingVersion { version });
    }
    let v = Reader::at(payload, 1).value()?;
    let f = Fields::new("coordinate", &v)?;
    let vec_field = f.field("Vec");
    let vec = f
        .get("Vec")
        .array(vec_field)?
        .unwrap_or_default()
        .iter()
        .map(|x| x.float(vec_field))
        .collect::<Result<_>>()?;
    Ok(Some(Coordinate {
        vec,
        error: f.f64("Error")?,
        adjustment: f.f64("Adjustment")?,
        height: f.f64("Height")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_fall_back_to_the_role() {
        assert_eq!(
            decode_tags(b"web").unwrap(),
            BTreeMap::from([("role".into(), "web".into())])
        );
        assert_eq!(
            decode_tags(b"").unwrap(),
            BTreeMap::from([("role".into(), String::new())])
        );
        assert!(decode_tags(&[0xfe, 0xff]).is_err());
        assert!(decode_tags(&[0xff]).unwrap_err().is_truncated());
        // Tag values must be str.
        assert!(decode_tags(&[0xff, 0x81, 0xa1, b'a', 0xc4, 1, b'b']).is_err());
        let tags = BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(decode_tags(&encode_tags(&tags).unwrap()).unwrap(), tags);
    }

    #[test]
    fn filters_round_trip_and_unknown_types_are_refused() {
        let filters = [
            Filter::Nodes(vec!["a".into(), "b".into()]),
            Filter::Nodes(vec![]),
            Filter::Tag {
                tag: "role".into(),
                expr: "^w".into(),
            },
        ];
        for f in &filters {
            assert_eq!(&Filter::decode(&f.encode().unwrap()).unwrap(), f);
        }
        assert_eq!(
            Filter::decode(&[2, 0xc0]),
            Err(WireError::FilterType { ty: 2 })
        );
        assert!(Filter::decode(&[]).is_err());
        let q = Query {
            filters: Some(filters.iter().map(|f| f.encode().unwrap()).collect()),
            ..Default::default()
        };
        assert_eq!(q.decoded_filters().unwrap(), filters);
        assert_eq!(Query::default().decoded_filters().unwrap(), []);
    }

    #[test]
    fn ping_payload_versions() {
        assert_eq!(decode_ping_payload(&[]), Ok(None));
        assert_eq!(
            decode_ping_payload(&[2, 0x80]),
            Err(WireError::PingVersion { version: 2 })
        );
        let c = Coordinate {
            vec: vec![0.5, -1.0],
            error: 0.25,
            adjustment: -0.001,
            height: 2.0,
        };
        assert_eq!(
            decode_ping_payload(&encode_ping_payload(&c).unwrap()).unwrap(),
            Some(c)
        );
    }

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
