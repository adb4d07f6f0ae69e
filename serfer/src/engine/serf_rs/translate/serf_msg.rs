//! Serf messages: serf-rs's ([`super::serf`]) ↔ Go's ([`go`]).
//!
//! Most fields map one to one. Where they do not:
//!
//! * **Nodes vs names.** serf-rs names the sender of a query response and the
//!   member of a conflict answer with a node (name and address); Go with a name,
//!   or a name and an address. A name going to serf-rs gets the address last seen
//!   for it in [`Peers`]; for an unknown responder it is `0.0.0.0:0`: serf-core
//!   only uses it to tell responders apart, and Serfer reports names only.
//! * **nil vs empty.** Go tells a nil payload (and filter or key list) from an
//!   empty one; serf-rs has only empty. Empty goes to Go as nil, which is what
//!   Go's own senders write for "none" (acks, `Filters` of a query without
//!   filters, `Keys` outside list-keys), so Go's bytes usually come back as
//!   they were; an empty non-nil value comes back nil.
//! * **Push/pull events.** Go sends the whole 512-slot ring with nil for empty
//!   slots; serf-rs sends only the filled slots, in order. Receivers of both
//!   only walk the filled ones, so the holes are dropped going to serf-rs and
//!   not recreated going to Go. Go maps are sorted here (Go itself writes them
//!   in random order), so serf-rs's insertion order of status times and tags
//!   does not survive a trip through Go.
//! * **Versions.** A Go conflict answer carries the member's six memberlist and
//!   Serf versions, serf-rs's four of its own. serf-rs gets version 1 (its only
//!   one); Go gets the `Vsn` [`Peers`] remembers for that member. Both sides
//!   only read the answer's address.
//! * **Internal queries.** The key-management queries have different names
//!   (`_serf_install_key` vs `_serf_install-key`, see [`InternalQuery`]) and
//!   their payloads are Serf messages in each side's own encoding, as are the
//!   answers to them and to `_serf_conflict`. A response does not say which
//!   query it answers, so the translator remembers the `(ltime, id)` of the
//!   internal queries it has seen ([`SerfTranslator`]).
//! * **Filters Go cannot decode** make a Go node skip the query but still
//!   re-broadcast it. serf-rs does the same for a node filter naming nobody,
//!   which is what such a filter becomes.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serf::types::SmolStr;

use super::memberlist::{ip_bytes, socket_addr};
use super::peers::Peers;
use super::serf::{
    RsEventEntry, RsFilter, RsJoin, RsKeyRequest, RsKeyResponse, RsLeave, RsMember, RsNode,
    RsPushPull, RsQuery, RsQueryResponse, RsRelay, RsSerfMessage, RsUserEvent, RsUserEvents,
};
use serfer_wire::error::{Result, WireError};
use serfer_wire::serf as go;

/// A query Serf handles itself, whose name or payload differ between the sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalQuery {
    /// `_serf_ping`: empty payload, acks only.
    Ping,
    /// `_serf_conflict`: payload is the contested name; answers are members.
    Conflict,
    /// Install a key.
    InstallKey,
    /// Make a key primary.
    UseKey,
    /// Remove a key.
    RemoveKey,
    /// List the keys.
    ListKeys,
}

/// serf-rs's and Go's names of each internal query.
const INTERNAL_NAMES: [(InternalQuery, &str, &str); 6] = [
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
];

impl InternalQuery {
    /// The query serf-rs names `name`, if internal.
    pub fn from_rs_name(name: &str) -> Option<Self> {
        INTERNAL_NAMES
            .iter()
            .find(|(_, rs, _)| *rs == name)
            .map(|(q, _, _)| *q)
    }

    /// The query Go names `name`, if internal.
    pub fn from_go_name(name: &str) -> Option<Self> {
        INTERNAL_NAMES
            .iter()
            .find(|(_, _, g)| *g == name)
            .map(|(q, _, _)| *q)
    }

    fn names(self) -> (&'static str, &'static str) {
        let (_, rs, go) = INTERNAL_NAMES
            .iter()
            .find(|(q, _, _)| *q == self)
            .copied()
            .unwrap_or((self, "", ""));
        (rs, go)
    }

    /// serf-rs's name.
    pub fn rs_name(self) -> &'static str {
        self.names().0
    }

    /// Go's name.
    pub fn go_name(self) -> &'static str {
        self.names().1
    }

    fn is_key(self) -> bool {
        matches!(
            self,
            InternalQuery::InstallKey
                | InternalQuery::UseKey
                | InternalQuery::RemoveKey
                | InternalQuery::ListKeys
        )
    }
}

/// How many internal queries are remembered for their answers; far more than
/// can be open at once (one per query-clock tick, answered within seconds).
const REMEMBERED_QUERIES: usize = 256;

/// Translates Serf messages for one node; shareable (`&self` everywhere).
#[derive(Debug, Default)]
pub struct SerfTranslator {
    /// `(ltime, id)` of recent internal queries, oldest first.
    queries: Mutex<VecDeque<((u64, u32), InternalQuery)>>,
}

fn untranslatable(message: &'static str, field: &'static str, reason: String) -> WireError {
    WireError::Untranslatable {
        message,
        field,
        reason,
    }
}

fn none_if_empty(b: Vec<u8>) -> Option<Vec<u8>> {
    (!b.is_empty()).then_some(b)
}

impl SerfTranslator {
    /// A translator that has seen no queries yet.
    pub fn new() -> Self {
        SerfTranslator::default()
    }

    fn remember(&self, ltime: u64, id: u32, kind: InternalQuery) {
        // Plain data behind the lock: a poisoned lock is still consistent.
        let mut q = self.queries.lock().unwrap_or_else(|p| p.into_inner());
        if q.iter().any(|(k, _)| *k == (ltime, id)) {
            return;
        }
        if q.len() >= REMEMBERED_QUERIES {
            q.pop_front();
        }
        q.push_back(((ltime, id), kind));
    }

    /// Which internal query `(ltime, id)` was, if it was one this translator saw.
    pub fn internal_query(&self, ltime: u64, id: u32) -> Option<InternalQuery> {
        let q = self.queries.lock().unwrap_or_else(|p| p.into_inner());
        q.iter()
            .find(|(k, _)| *k == (ltime, id))
            .map(|(_, kind)| *kind)
    }

    /// serf-rs → Go, for a message serf-rs sends.
    pub fn to_go(&self, msg: RsSerfMessage, peers: &Peers) -> Result<go::SerfMessage> {
        Ok(match msg {
            RsSerfMessage::Leave(m) => go::SerfMessage::Leave(go::LeaveIntent {
                ltime: m.ltime,
                node: m.id,
                prune: m.prune,
            }),
            RsSerfMessage::Join(m) => go::SerfMessage::Join(go::JoinIntent {
                ltime: m.ltime,
                node: m.id,
            }),
            RsSerfMessage::PushPull(m) => go::SerfMessage::PushPull(push_pull_to_go(m)),
            RsSerfMessage::UserEvent(m) => go::SerfMessage::UserEvent(go::UserEvent {
                ltime: m.ltime,
                name: m.name,
                payload: none_if_empty(m.payload),
                cc: m.cc,
            }),
            RsSerfMessage::Query(m) => go::SerfMessage::Query(self.query_to_go(m, peers)?),
            RsSerfMessage::QueryResponse(m) => {
                go::SerfMessage::QueryResponse(self.response_to_go(m, peers)?)
            }
            RsSerfMessage::ConflictResponse(m) => {
                go::SerfMessage::ConflictResponse(Some(member_to_go(m, peers)))
            }
            RsSerfMessage::Relay(m) => {
                if matches!(*m.inner, RsSerfMessage::Relay(_)) {
                    return Err(nested_relay());
                }
                let inner = self.to_go(*m.inner, peers)?.encode()?;
                go::SerfMessage::Relay(go::Relay {
                    dest_addr: go::UdpAddr {
                        ip: ip_bytes(m.node.addr.ip()),
                        port: m.node.addr.port(),
                        zone: String::new(),
                    },
                    dest_name: m.node.name,
                    inner,
                })
            }
            RsSerfMessage::KeyRequest(m) => go::SerfMessage::KeyRequest(go::KeyRequest {
                key: m.key.unwrap_or_default(),
            }),
            RsSerfMessage::KeyResponse(m) => go::SerfMessage::KeyResponse(go::KeyResponse {
                result: m.result,
                message: m.message,
                keys: (!m.keys.is_empty()).then(|| m.keys.iter().map(|k| b64(k)).collect()),
                primary_key: m.primary_key.as_deref().map(b64).unwrap_or_default(),
            }),
        })
    }

    /// Go → serf-rs, for a message from a Go node.
    pub fn to_rs(&self, msg: go::SerfMessage, peers: &Peers) -> Result<RsSerfMessage> {
        Ok(match msg {
            go::SerfMessage::Leave(m) => RsSerfMessage::Leave(RsLeave {
                ltime: m.ltime,
                id: m.node,
                prune: m.prune,
            }),
            go::SerfMessage::Join(m) => RsSerfMessage::Join(RsJoin {
                ltime: m.ltime,
                id: m.node,
            }),
            go::SerfMessage::PushPull(m) => RsSerfMessage::PushPull(push_pull_to_rs(m)),
            go::SerfMessage::UserEvent(m) => RsSerfMessage::UserEvent(RsUserEvent {
                ltime: m.ltime,
                name: m.name,
                payload: m.payload.unwrap_or_default(),
                cc: m.cc,
            }),
            go::SerfMessage::Query(m) => RsSerfMessage::Query(self.query_to_rs(m, peers)?),
            go::SerfMessage::QueryResponse(m) => {
                RsSerfMessage::QueryResponse(self.response_to_rs(m, peers)?)
            }
            go::SerfMessage::ConflictResponse(Some(m)) => {
                RsSerfMessage::ConflictResponse(member_to_rs(m)?)
            }
            go::SerfMessage::ConflictResponse(None) => {
                return Err(untranslatable(
                    "conflict response",
                    "Member",
                    "nil (unknown member) is an empty response payload in serf-rs, not a \
                     message; translate it with the query response that carries it"
                        .into(),
                ))
            }
            go::SerfMessage::Relay(m) => {
                let inner = m.inner_message()?;
                if matches!(inner, go::SerfMessage::Relay(_)) {
                    return Err(nested_relay());
                }
                // The zone only matters for link-local IPv6, which serf-rs's
                // address encoding cannot carry; the rest of the address can.
                let addr = socket_addr("relay", &m.dest_addr.ip, m.dest_addr.port)?;
                RsSerfMessage::Relay(RsRelay {
                    node: RsNode {
                        name: m.dest_name,
                        addr,
                    },
                    inner: Box::new(self.to_rs(inner, peers)?),
                })
            }
            go::SerfMessage::KeyRequest(m) => RsSerfMessage::KeyRequest(RsKeyRequest {
                key: if m.key.is_empty() {
                    None
                } else {
                    Some(checked_key("key request", "Key", m.key)?)
                },
            }),
            go::SerfMessage::KeyResponse(m) => {
                let keys = m
                    .keys
                    .unwrap_or_default()
                    .iter()
                    .map(|k| unb64("Keys", k))
                    .collect::<Result<_>>()?;
                let primary_key = match m.primary_key.as_str() {
                    "" => None,
                    k => Some(unb64("PrimaryKey", k)?),
                };
                RsSerfMessage::KeyResponse(RsKeyResponse {
                    result: m.result,
                    message: m.message,
                    keys,
                    primary_key,
                })
            }
        })
    }

    /// serf-rs bytes (a `UserData` body or push/pull user state) → Go bytes.
    pub fn bytes_to_go(&self, rs: &[u8], peers: &Peers) -> Result<Vec<u8>> {
        self.to_go(RsSerfMessage::decode(rs)?, peers)?.encode()
    }

    /// Go bytes (a user message or push/pull user state) → serf-rs bytes.
    pub fn bytes_to_rs(&self, go_bytes: &[u8], peers: &Peers) -> Result<Vec<u8>> {
        self.to_rs(go::SerfMessage::decode(go_bytes)?, peers)?
            .encode()
    }

    fn query_to_go(&self, m: RsQuery, peers: &Peers) -> Result<go::Query> {
        let kind = InternalQuery::from_rs_name(&m.name);
        if let Some(kind) = kind {
            self.remember(m.ltime, m.id, kind);
        }
        let filters = m
            .filters
            .into_iter()
            .map(|f| filter_to_go(f).encode())
            .collect::<Result<Vec<_>>>()?;
        let timeout_ns = i64::try_from(m.timeout.as_nanos()).map_err(|_| {
            untranslatable(
                "query",
                "timeout",
                format!(
                    "{:?} is longer than Go's time.Duration (292 years)",
                    m.timeout
                ),
            )
        })?;
        Ok(go::Query {
            ltime: m.ltime,
            id: m.id,
            addr: ip_bytes(m.from.addr.ip()),
            port: m.from.addr.port(),
            source_node: m.from.name,
            filters: none_if_empty_list(filters),
            flags: m.flags,
            relay_factor: m.relay_factor,
            timeout_ns,
            name: kind.map_or(m.name, |k| k.go_name().to_owned()),
            payload: none_if_empty(match kind {
                Some(k) if k.is_key() => self.bytes_to_go(&m.payload, peers)?,
                _ => m.payload,
            }),
        })
    }

    fn query_to_rs(&self, m: go::Query, peers: &Peers) -> Result<RsQuery> {
        let kind = InternalQuery::from_go_name(&m.name);
        if let Some(kind) = kind {
            self.remember(m.ltime, m.id, kind);
        }
        let filters = match m.decoded_filters() {
            Ok(filters) => filters.into_iter().map(filter_to_rs).collect(),
            // Go skips the query but re-broadcasts it; so does serf-rs for a
            // node filter that names nobody.
            Err(_) => vec![RsFilter::Id(Vec::new())],
        };
        let timeout = u64::try_from(m.timeout_ns)
            .map(Duration::from_nanos)
            .map_err(|_| {
                untranslatable(
                    "query",
                    "Timeout",
                    format!("{} ns: serf-rs timeouts cannot be negative", m.timeout_ns),
                )
            })?;
        let payload = m.payload.unwrap_or_default();
        Ok(RsQuery {
            ltime: m.ltime,
            id: m.id,
            from: RsNode {
                name: m.source_node,
                addr: socket_addr("query", &m.addr, m.port)?,
            },
            filters,
            flags: m.flags,
            relay_factor: m.relay_factor,
            timeout,
            name: kind.map_or(m.name, |k| k.rs_name().to_owned()),
            payload: match kind {
                Some(k) if k.is_key() => self.bytes_to_rs(&payload, peers)?,
                _ => payload,
            },
        })
    }

    fn response_to_go(&self, m: RsQueryResponse, peers: &Peers) -> Result<go::QueryResponse> {
        let payload = match self.answer_kind(m.ltime, m.id, m.flags) {
            Some(InternalQuery::Conflict) if m.payload.is_empty() => {
                go::SerfMessage::ConflictResponse(None).encode()?
            }
            Some(InternalQuery::Conflict) => self.bytes_to_go(&m.payload, peers)?,
            Some(k) if k.is_key() => self.bytes_to_go(&m.payload, peers)?,
            _ => m.payload,
        };
        Ok(go::QueryResponse {
            ltime: m.ltime,
            id: m.id,
            from: m.from.name,
            flags: m.flags,
            payload: none_if_empty(payload),
        })
    }

    fn response_to_rs(&self, m: go::QueryResponse, peers: &Peers) -> Result<RsQueryResponse> {
        let payload = m.payload.unwrap_or_default();
        let payload = match self.answer_kind(m.ltime, m.id, m.flags) {
            Some(InternalQuery::Conflict) => match go::SerfMessage::decode(&payload)? {
                go::SerfMessage::ConflictResponse(None) => Vec::new(),
                other => self.to_rs(other, peers)?.encode()?,
            },
            Some(k) if k.is_key() => self.bytes_to_rs(&payload, peers)?,
            _ => payload,
        };
        let addr = peers
            .addr_of(&SmolStr::new(&m.from))
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        Ok(RsQueryResponse {
            ltime: m.ltime,
            id: m.id,
            from: RsNode { name: m.from, addr },
            flags: m.flags,
            payload,
        })
    }

    /// The internal query a response answers, when its payload is a Serf
    /// message to translate (acks carry none).
    fn answer_kind(&self, ltime: u64, id: u32, flags: u32) -> Option<InternalQuery> {
        if flags & go::QUERY_FLAG_ACK != 0 {
            return None;
        }
        self.internal_query(ltime, id)
    }
}

fn nested_relay() -> WireError {
    untranslatable(
        "relay",
        "inner",
        "a relay of a relay, which neither side sends".into(),
    )
}

fn none_if_empty_list<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn b64(k: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(k)
}

fn unb64(field: &'static str, k: &str) -> Result<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(k)
        .map_err(|e| untranslatable("key response", field, format!("{k:?} is not base64: {e}")))?;
    checked_key("key response", field, raw)
}

fn checked_key(message: &'static str, field: &'static str, k: Vec<u8>) -> Result<Vec<u8>> {
    match k.len() {
        16 | 24 | 32 => Ok(k),
        len => Err(untranslatable(
            message,
            field,
            format!("a {len}-byte key; serf-rs carries only AES keys of 16, 24 or 32 bytes"),
        )),
    }
}

fn filter_to_go(f: RsFilter) -> go::Filter {
    match f {
        RsFilter::Id(ids) => go::Filter::Nodes(ids),
        // serf-rs's "no regex" matches every node, as Go's empty regex does.
        RsFilter::Tag { tag, expr } => go::Filter::Tag {
            tag,
            expr: expr.unwrap_or_default(),
        },
    }
}

fn filter_to_rs(f: go::Filter) -> RsFilter {
    match f {
        go::Filter::Nodes(ids) => RsFilter::Id(ids),
        go::Filter::Tag { tag, expr } => RsFilter::Tag {
            tag,
            // serf-rs's own decoder reads an empty regex as none.
            expr: (!expr.is_empty()).then_some(expr),
        },
    }
}

fn push_pull_to_go(m: RsPushPull) -> go::SerfPushPull {
    go::SerfPushPull {
        ltime: m.ltime,
        status_ltimes: m.status_ltimes.into_iter().collect(),
        left_members: m.left_members,
        event_ltime: m.event_ltime,
        events: m
            .events
            .into_iter()
            .map(|slot| {
                Some(go::UserEvents {
                    ltime: slot.ltime,
                    events: slot
                        .events
                        .into_iter()
                        .map(|e| go::EventEntry {
                            name: e.name,
                            payload: none_if_empty(e.payload),
                        })
                        .collect(),
                })
            })
            .collect(),
        query_ltime: m.query_ltime,
    }
}

fn push_pull_to_rs(m: go::SerfPushPull) -> RsPushPull {
    RsPushPull {
        ltime: m.ltime,
        status_ltimes: m.status_ltimes.into_iter().collect(),
        left_members: m.left_members,
        event_ltime: m.event_ltime,
        events: m
            .events
            .into_iter()
            .flatten()
            .map(|slot| RsUserEvents {
                ltime: slot.ltime,
                events: slot
                    .events
                    .into_iter()
                    .map(|e| RsEventEntry {
                        name: e.name,
                        payload: e.payload.unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
        query_ltime: m.query_ltime,
    }
}

fn member_to_go(m: RsMember, peers: &Peers) -> go::Member {
    let vsn = peers.vsn(&SmolStr::new(&m.node.name));
    go::Member {
        addr: ip_bytes(m.node.addr.ip()),
        port: m.node.addr.port(),
        name: m.node.name,
        tags: m.tags.into_iter().collect::<BTreeMap<_, _>>(),
        status: go::MemberStatus::from_wire(m.status.into()),
        protocol_min: vsn[0],
        protocol_max: vsn[1],
        protocol_cur: vsn[2],
        delegate_min: vsn[3],
        delegate_max: vsn[4],
        delegate_cur: vsn[5],
    }
}

fn member_to_rs(m: go::Member) -> Result<RsMember> {
    let status = m.status.to_wire();
    let status = u8::try_from(status).map_err(|_| {
        untranslatable(
            "conflict response",
            "Status",
            format!("{status} does not fit serf-rs's one-byte status"),
        )
    })?;
    Ok(RsMember {
        node: RsNode {
            addr: socket_addr("conflict response", &m.addr, m.port)?,
            name: m.name,
        },
        tags: m.tags.into_iter().collect(),
        status,
        memberlist_protocol_version: 1,
        memberlist_delegate_version: 1,
        protocol_version: 1,
        delegate_version: 1,
    })
}
