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

impl RsNode {
    /// memberlist-proto's `SocketAddr`: `0 ‖ ipv4 ‖ port` or `1 ‖ ipv6 ‖ port`,
    /// port big-endian.
    fn write_addr(addr: &SocketAddr) -> Vec<u8> {
        let mut out = Vec::with_capacity(19);
        match addr.ip() {
            IpAddr::V4(ip) => {
                out.push(0);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(1);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&addr.port().to_be_bytes());
        out
    }

    fn read_addr(r: &mut RsReader<'_>) -> Result<SocketAddr> {
        let bytes = r.rest();
        let ip = match bytes {
            [0, a, b, c, d, _, _] => IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)),
            [1, rest @ ..] if rest.len() == 18 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&rest[..16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            _ => {
                return Err(
                    r.layout("an address of 7 bytes (00, IPv4, port) or 19 bytes (01, IPv6, port)")
                )
            }
        };
        let port = u16::from_be_bytes([bytes[bytes.len() - 2], bytes[bytes.len() - 1]]);
        Ok(SocketAddr::new(ip, port))
    }

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_bytes(NODE_ID, "node id", self.name.as_bytes())?;
        w.field_bytes(NODE_ADDR, "node address", &Self::write_addr(&self.addr))
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(NODE_ID, "the node id (11)")?;
        let name = r.string("node id")?;
        r.expect_key(NODE_ADDR, "the node address (12)")?;
        let addr = Self::read_addr(&mut r.nested("node address")?)?;
        r.finish()?;
        Ok(RsNode { name, addr })
    }
}

impl RsLeave {
    const PRUNE: u8 = key(BYTE, 2);
    const ID: u8 = key(LEN, 3);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        if self.prune {
            w.byte(Self::PRUNE);
            w.byte(1);
        }
        w.field_bytes(Self::ID, "leave id", self.id.as_bytes())
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        let prune = r.take_key(Self::PRUNE) && flag_byte(r, "prune")?;
        r.expect_key(Self::ID, "the node id (13)")?;
        let id = r.string("leave id")?;
        Ok(RsLeave { ltime, id, prune })
    }
}

impl RsJoin {
    const ID: u8 = key(LEN, 2);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        w.field_bytes(Self::ID, "join id", self.id.as_bytes())
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        r.expect_key(Self::ID, "the node id (12)")?;
        let id = r.string("join id")?;
        Ok(RsJoin { ltime, id })
    }
}

impl RsUserEvent {
    const CC: u8 = key(BYTE, 2);
    const NAME: u8 = key(LEN, 3);
    const PAYLOAD: u8 = key(LEN, 4);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        if self.cc {
            w.byte(Self::CC);
            w.byte(1);
        }
        write_optional(w, Self::NAME, "event name", self.name.as_bytes())?;
        write_optional(w, Self::PAYLOAD, "event payload", &self.payload)
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        let cc = r.take_key(Self::CC) && flag_byte(r, "cc")?;
        let name = optional_string(r, Self::NAME, "event name")?;
        let payload = optional_bytes(r, Self::PAYLOAD, "event payload")?;
        Ok(RsUserEvent {
            ltime,
            name,
            payload,
            cc,
        })
    }
}

impl RsFilter {
    const ID: u8 = key(LEN, 1);
    const TAG: u8 = key(LEN, 2);
    const TAG_NAME: u8 = key(LEN, 1);
    const TAG_EXPR: u8 = key(LEN, 2);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        match self {
            RsFilter::Id(ids) => {
                for id in ids {
                    w.field_bytes(Self::ID, "filter id", id.as_bytes())?;
                }
                Ok(())
            }
            RsFilter::Tag { tag, expr } => w.field_nested(Self::TAG, "tag filter", |w| {
                w.field_bytes(Self::TAG_NAME, "filter tag", tag.as_bytes())?;
                match expr {
                    Some(e) => w.field_bytes(Self::TAG_EXPR, "filter expr", e.as_bytes()),
                    None => Ok(()),
                }
            }),
        }
    }

    /// One filter's body; an empty body is an id filter naming nobody.
    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        if r.take_key(Self::TAG) {
            let mut t = r.nested("tag filter")?;
            t.expect_key(Self::TAG_NAME, "the filter's tag (11)")?;
            let tag = t.string("filter tag")?;
            let expr = if t.take_key(Self::TAG_EXPR) {
                Some(t.string("filter expr")?)
            } else {
                None
            };
            t.finish()?;
            r.finish()?;
            return Ok(RsFilter::Tag { tag, expr });
        }
        let mut ids = Vec::new();
        while !r.at_end() {
            r.expect_key(Self::ID, "a filter id (11)")?;
            ids.push(r.string("filter id")?);
        }
        Ok(RsFilter::Id(ids))
    }
}

impl RsQuery {
    const ID: u8 = key(VARINT, 2);
    const FROM: u8 = key(LEN, 3);
    const FILTER: u8 = key(LEN, 4);
    const FLAGS: u8 = key(VARINT, 5);
    // A varint key, but serf-core writes the factor as one raw byte.
    const RELAY_FACTOR: u8 = key(VARINT, 6);
    const TIMEOUT: u8 = key(VARINT, 7);
    const NAME: u8 = key(LEN, 8);
    const PAYLOAD: u8 = key(LEN, 9);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        w.field_varint(Self::ID, self.id.into());
        w.field_nested(Self::FROM, "query from", |w| self.from.write(w))?;
        for f in &self.filters {
            w.field_nested(Self::FILTER, "query filter", |w| f.write(w))?;
        }
        w.field_varint(Self::FLAGS, self.flags.into());
        w.byte(Self::RELAY_FACTOR);
        w.byte(self.relay_factor);
        w.field_varint(Self::TIMEOUT, duration_to_wire(self.timeout));
        write_optional(w, Self::NAME, "query name", self.name.as_bytes())?;
        write_optional(w, Self::PAYLOAD, "query payload", &self.payload)
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        r.expect_key(Self::ID, "the query id (0a)")?;
        let id = r.u32("query id")?;
        r.expect_key(Self::FROM, "the source node (13)")?;
        let from = RsNode::read(&mut r.nested("query from")?.named("node"))?;
        let mut filters = Vec::new();
        while r.take_key(Self::FILTER) {
            filters.push(RsFilter::read(&mut r.nested("query filter")?)?);
        }
        r.expect_key(Self::FLAGS, "the flags (0d)")?;
        let flags = r.u32("flags")?;
        r.expect_key(Self::RELAY_FACTOR, "the relay factor (0e)")?;
        let relay_factor = r.byte("relay factor")?;
        r.expect_key(Self::TIMEOUT, "the timeout (0f)")?;
        let timeout = duration_from_wire(r)?;
        let name = optional_string(r, Self::NAME, "query name")?;
        let payload = optional_bytes(r, Self::PAYLOAD, "query payload")?;
        Ok(RsQuery {
            ltime,
            id,
            from,
            filters,
            flags,
            relay_factor,
            timeout,
            name,
            payload,
        })
    }
}

/// varing's `Duration`: one varint of `secs << 32 | nanos`.
fn duration_to_wire(d: Duration) -> u128 {
    (u128::from(d.as_secs()) << 32) | u128::from(d.subsec_nanos())
}

fn duration_from_wire(r: &mut RsReader<'_>) -> Result<Duration> {
    let v = r.varint("timeout", 96)?;
    let nanos = (v & 0xffff_ffff) as u32;
    if nanos >= 1_000_000_000 {
        // varing would carry them into the seconds; serf-rs never writes that.
        return Err(r.layout("a timeout with fewer than 10^9 nanoseconds"));
    }
    Ok(Duration::new((v >> 32) as u64, nanos))
}

impl RsQueryResponse {
    const ID: u8 = key(VARINT, 2);
    const FROM: u8 = key(LEN, 3);
    const FLAGS: u8 = key(VARINT, 4);
    const PAYLOAD: u8 = key(LEN, 5);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        w.field_varint(Self::ID, self.id.into());
        w.field_nested(Self::FROM, "response from", |w| self.from.write(w))?;
        w.field_varint(Self::FLAGS, self.flags.into());
        write_optional(w, Self::PAYLOAD, "response payload", &self.payload)
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        r.expect_key(Self::ID, "the query id (0a)")?;
        let id = r.u32("query id")?;
        r.expect_key(Self::FROM, "the answering node (13)")?;
        let from = RsNode::read(&mut r.nested("response from")?.named("node"))?;
        r.expect_key(Self::FLAGS, "the flags (0c)")?;
        let flags = r.u32("flags")?;
        let payload = optional_bytes(r, Self::PAYLOAD, "response payload")?;
        Ok(RsQueryResponse {
            ltime,
            id,
            from,
            flags,
            payload,
        })
    }
}

/// A tags map: one `(key, value)` tuple field per entry.
const TAG_ENTRY: u8 = key(LEN, 1);
const TUPLE_A: u8 = key(LEN, 1);
const TUPLE_B: u8 = key(LEN, 2);

impl RsMember {
    const NODE: u8 = key(LEN, 1);
    const TAGS: u8 = key(LEN, 2);
    const VERSIONS: [u8; 5] = [
        key(BYTE, 3),
        key(BYTE, 4),
        key(BYTE, 5),
        key(BYTE, 6),
        key(BYTE, 7),
    ];

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_nested(Self::NODE, "member node", |w| self.node.write(w))?;
        w.field_nested(Self::TAGS, "member tags", |w| {
            for (k, v) in &self.tags {
                w.field_nested(TAG_ENTRY, "tag", |w| {
                    w.field_bytes(TUPLE_A, "tag name", k.as_bytes())?;
                    w.field_bytes(TUPLE_B, "tag value", v.as_bytes())
                })?;
            }
            Ok(())
        })?;
        let values = [
            self.status,
            self.memberlist_protocol_version,
            self.memberlist_delegate_version,
            self.protocol_version,
            self.delegate_version,
        ];
        for (key, v) in Self::VERSIONS.into_iter().zip(values) {
            w.byte(key);
            w.byte(v);
        }
        Ok(())
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(Self::NODE, "the member node (11)")?;
        let node = RsNode::read(&mut r.nested("member node")?.named("node"))?;
        r.expect_key(Self::TAGS, "the member tags (12)")?;
        let mut t = r.nested("member tags")?;
        let mut tags = Vec::new();
        while !t.at_end() {
            t.expect_key(TAG_ENTRY, "a tag (11)")?;
            let mut e = t.nested("tag")?;
            e.expect_key(TUPLE_A, "the tag name (11)")?;
            let k = e.string("tag name")?;
            e.expect_key(TUPLE_B, "the tag value (12)")?;
            let v = e.string("tag value")?;
            e.finish()?;
            tags.push((k, v));
        }
        let mut values = [0u8; 5];
        for (key, v) in Self::VERSIONS.into_iter().zip(values.iter_mut()) {
            r.expect_key(key, "the status and version bytes (03 to 07)")?;
            *v = r.byte("status or version")?;
        }
        let [status, mpv, mdv, pv, dv] = values;
        Ok(RsMember {
            node,
            tags,
            status,
            memberlist_protocol_version: mpv,
            memberlist_delegate_version: mdv,
            protocol_version: pv,
            delegate_version: dv,
        })
    }
}

/// memberlist-proto's `SecretKey`: `key(LEN, 1|2|3)` for AES-128/192/256, the
/// key length as a varint, the key.
fn write_secret_key(w: &mut RsWriter, k: &[u8]) -> Result<()> {
    let tag = match k.len() {
        16 => 1,
        24 => 2,
        32 => 3,
        len => {
            return Err(WireError::Untranslatable {
                message: "serf-rs key message",
                field: "key",
                reason: format!("a {len}-byte key; AES keys are 16, 24 or 32 bytes"),
            })
        }
    };
    w.field_bytes(key(LEN, tag), "key", k)
}

fn read_secret_key(r: &mut RsReader<'_>) -> Result<Vec<u8>> {
    let want = match r.byte("key type")? {
        b if b == key(LEN, 1) => 16,
        b if b == key(LEN, 2) => 24,
        b if b == key(LEN, 3) => 32,
        _ => return Err(r.layout("an AES-128, -192 or -256 key type (11, 12, 13)")),
    };
    let k = r.len_prefixed("key")?;
    if k.len() != want {
        return Err(r.layout("a key as long as its type says"));
    }
    r.finish()?;
    Ok(k.to_vec())
}

impl RsKeyResponse {
    const RESULT: u8 = key(BYTE, 1);
    const MESSAGE: u8 = key(LEN, 2);
    const KEYS: u8 = key(LEN, 3);
    const PRIMARY: u8 = key(LEN, 4);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        if self.result {
            w.byte(Self::RESULT);
            w.byte(1);
        }
        write_optional(w, Self::MESSAGE, "key message", self.message.as_bytes())?;
        for k in &self.keys {
            w.field_nested(Self::KEYS, "key", |w| write_secret_key(w, k))?;
        }
        match &self.primary_key {
            Some(k) => w.field_nested(Self::PRIMARY, "primary key", |w| write_secret_key(w, k)),
            None => Ok(()),
        }
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        let result = r.take_key(Self::RESULT) && flag_byte(r, "result")?;
        let message = optional_string(r, Self::MESSAGE, "key message")?;
        let mut keys = Vec::new();
        while r.take_key(Self::KEYS) {
            keys.push(read_secret_key(&mut r.nested("key")?)?);
        }
        let primary_key = if r.take_key(Self::PRIMARY) {
            Some(read_secret_key(&mut r.nested("primary key")?)?)
        } else {
            None
        };
        Ok(RsKeyResponse {
            result,
            message,
            keys,
            primary_key,
        })
    }
}

impl RsPushPull {
    const STATUS: u8 = key(LEN, 2);
    const LEFT: u8 = key(LEN, 3);
    const EVENT_LTIME: u8 = key(VARINT, 4);
    const EVENTS: u8 = key(LEN, 5);
    const QUERY_LTIME: u8 = key(VARINT, 6);
    const EVENT: u8 = key(LEN, 2);
    const EVENT_NAME: u8 = key(LEN, 1);
    const EVENT_PAYLOAD: u8 = key(LEN, 2);

    fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        for (name, t) in &self.status_ltimes {
            w.field_nested(Self::STATUS, "status time", |w| {
                w.field_bytes(TUPLE_A, "member name", name.as_bytes())?;
                // `LamportTime` keeps `Data`'s default wire type, so inside
                // the tuple its varint is length-delimited like a string.
                let mut time = RsWriter::new();
                time.varint((*t).into());
                w.field_bytes(TUPLE_B, "status time", &time.finish())
            })?;
        }
        for name in &self.left_members {
            w.field_bytes(Self::LEFT, "left member", name.as_bytes())?;
        }
        w.field_varint(Self::EVENT_LTIME, self.event_ltime.into());
        for slot in &self.events {
            w.field_nested(Self::EVENTS, "user events", |w| {
                w.field_varint(LTIME, slot.ltime.into());
                for e in &slot.events {
                    w.field_nested(Self::EVENT, "user event", |w| {
                        write_optional(w, Self::EVENT_NAME, "event name", e.name.as_bytes())?;
                        write_optional(w, Self::EVENT_PAYLOAD, "event payload", &e.payload)
                    })?;
                }
                Ok(())
            })?;
        }
        w.field_varint(Self::QUERY_LTIME, self.query_ltime.into());
        Ok(())
    }

    fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        let mut status_ltimes = Vec::new();
        while r.take_key(Self::STATUS) {
            let mut t = r.nested("status time")?;
            t.expect_key(TUPLE_A, "the member name (11)")?;
            let name = t.string("member name")?;
            t.expect_key(TUPLE_B, "the status time (12)")?;
            let mut v = t.nested("status time")?;
            let time = v.u64("status time")?;
            v.finish()?;
            t.finish()?;
            status_ltimes.push((name, time));
        }
        let mut left_members = Vec::new();
        while r.take_key(Self::LEFT) {
            left_members.push(r.string("left member")?);
        }
        r.expect_key(Self::EVENT_LTIME, "the event ltime (0c)")?;
        let event_ltime = r.u64("event ltime")?;
        let mut events = Vec::new();
        while r.take_key(Self::EVENTS) {
            let mut s = r.nested("user events")?;
            s.expect_key(LTIME, "the events' ltime (09)")?;
            let slot_ltime = s.u64("ltime")?;
            let mut entries = Vec::new();
            while !s.at_end() {
                s.expect_key(Self::EVENT, "a user event (12)")?;
                let mut e = s.nested("user event")?;
                let name = optional_string(&mut e, Self::EVENT_NAME, "event name")?;
                let payload = optional_bytes(&mut e, Self::EVENT_PAYLOAD, "event payload")?;
                e.finish()?;
                entries.push(RsEventEntry { name, payload });
            }
            events.push(RsUserEvents {
                ltime: slot_ltime,
                events: entries,
            });
        }
        r.expect_key(Self::QUERY_LTIME, "the query ltime (0e)")?;
        let query_ltime = r.u64("query ltime")?;
        Ok(RsPushPull {
            ltime,
            status_ltimes,
            left_members,
            event_ltime,
            events,
            query_ltime,
        })
    }
}

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
