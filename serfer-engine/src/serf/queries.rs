//! Queries (spec §9.7): broadcast with filters, acks and responses sent
//! straight to the asker (and relayed through others), deadlines, the query
//! ring that suppresses duplicates.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use serfer_wire::serf::{
    Filter, Member as WireMember, Query, QueryResponse, Relay, SerfMessage, UdpAddr,
    QUERY_FLAG_ACK, QUERY_FLAG_NO_BROADCAST,
};

use super::keys::KeyReport;
use super::{Event, MemberStatus, Serf, SerfError, SerfState};
use crate::memberlist::Priority;
use crate::Instant;

/// Identifies a query: its query-clock time and random id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId {
    /// Query-clock time.
    pub ltime: u64,
    /// Random 31-bit id.
    pub id: u32,
}

/// How to send a query (Go's `QueryParam`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// Only these nodes process it (empty: no node filter).
    pub filter_nodes: Vec<String>,
    /// Only nodes whose tag matches the regex process it: `(tag, regex)`.
    pub filter_tags: Vec<(String, String)>,
    /// Ask every processing node for an ack on receipt.
    pub request_ack: bool,
    /// Each answer is also relayed through this many other members.
    pub relay_factor: u8,
    /// Response deadline; `None` for the default
    /// (gossip interval × `query_timeout_mult` × ceil(log10(N+1))).
    pub timeout: Option<Duration>,
}

/// A query received, for the application to answer with [`Serf::respond`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryIn {
    /// Which query.
    pub id: QueryId,
    /// Name.
    pub name: String,
    /// Payload (empty when nil).
    pub payload: Vec<u8>,
    /// The asking node.
    pub source_node: String,
    /// Answers after this are refused.
    pub deadline: Instant,
}

/// Who consumes the answers of a query this node sent.
#[derive(Debug)]
pub(super) enum Internal {
    /// The application, through [`Event::QueryAck`] and
    /// [`Event::QueryResponse`].
    App,
    /// Name-conflict resolution: answers decoded, and how many of them
    /// record this node's address.
    Conflict { responses: usize, matching: usize },
    /// A key operation's tally.
    Key(KeyReport),
}

/// A query this node sent and collects answers for.
#[derive(Debug)]
struct Outgoing {
    id: u32,
    deadline: Instant,
    acks: BTreeSet<String>,
    responses: BTreeSet<String>,
    internal: Internal,
}

/// A query this node received and may still answer.
#[derive(Debug)]
struct Incoming {
    to: Option<SocketAddr>,
    source_node: String,
    relay_factor: u8,
    deadline: Instant,
    responded: bool,
}

/// The query ring, the open outgoing queries (one per query time, as Go) and
/// the answerable incoming ones.
#[derive(Debug)]
pub(super) struct QueryState {
    ring: Vec<Option<(u64, Vec<u32>)>>,
    outgoing: BTreeMap<u64, Outgoing>,
    incoming: BTreeMap<QueryId, Incoming>,
}

impl QueryState {
    pub(super) fn new(size: usize) -> Self {
        QueryState {
            ring: vec![None; size],
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let a = self.outgoing.values().map(|q| q.deadline).min();
        let b = self.incoming.values().map(|q| q.deadline).min();
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn open_counts(&self) -> (usize, usize) {
        (self.outgoing.len(), self.incoming.len())
    }

    /// True if new (and now recorded).
    fn record(&mut self, ltime: u64, id: u32) -> bool {
        let idx = (ltime % self.ring.len() as u64) as usize;
        match &mut self.ring[idx] {
            Some((t, ids)) if *t == ltime => {
                if ids.contains(&id) {
                    return false;
                }
                ids.push(id);
            }
            slot => *slot = Some((ltime, vec![id])),
        }
        true
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

impl Serf {
    /// Go's `DefaultQueryTimeout`: gossip interval × `query_timeout_mult` ×
    /// ceil(log10(N+1)), N the memberlist's members not dead or left (Go's
    /// `NumMembers`).
    pub fn default_query_timeout(&self) -> Duration {
        let n = self.ml.num_alive() as f64;
        let scale = (n + 1.0).log10().ceil().max(1.0) as u32;
        self.config.memberlist.gossip_interval * self.config.query_timeout_mult * scale
    }

    /// Broadcasts a query (Go's `Query`). This node processes it too. Acks and
    /// responses arrive as [`Event::QueryAck`] and [`Event::QueryResponse`]
    /// until [`Event::QueryDone`].
    pub fn query(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: QueryParams,
    ) -> Result<QueryId, SerfError> {
        self.query_internal(now, name, payload, params, Internal::App)
    }

    /// [`Serf::query`], with the answers going to `internal`.
    pub(super) fn query_internal(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: QueryParams,
        internal: Internal,
    ) -> Result<QueryId, SerfError> {
        if self.state != SerfState::Alive && self.state != SerfState::Leaving {
            return Err(SerfError::NotAlive("Query"));
        }
        let timeout = params
            .timeout
            .filter(|t| !t.is_zero())
            .unwrap_or_else(|| self.default_query_timeout());
        let mut filters = Vec::new();
        if !params.filter_nodes.is_empty() {
            filters.push(Filter::Nodes(params.filter_nodes.clone()).encode()?);
        }
        for (tag, expr) in &params.filter_tags {
            filters.push(
                Filter::Tag {
                    tag: tag.clone(),
                    expr: expr.clone(),
                }
                .encode()?,
            );
        }
        let local = self.ml.local_member();
        let q = Query {
            ltime: self.query_clock.time(),
            id: self.rng.gen::<u32>() & 0x7fff_ffff,
            addr: ip_bytes(local.addr.ip()),
            port: local.addr.port(),
            source_node: local.name.clone(),
            filters: (!filters.is_empty()).then_some(filters),
            flags: if params.request_ack {
                QUERY_FLAG_ACK
            } else {
                0
            },
            relay_factor: params.relay_factor,
            timeout_ns: i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX),
            name: name.to_owned(),
            payload: Some(payload.to_vec()),
        };
        let raw = SerfMessage::Query(q.clone()).encode()?;
        if raw.len() > self.config.query_size_limit {
            return Err(SerfError::QueryTooLarge {
                size: raw.len(),
                limit: self.config.query_size_limit,
            });
        }
        self.ml.queue_broadcast_at(Priority::Medium, raw)?;
        let id = QueryId {
            ltime: q.ltime,
            id: q.id,
        };
        self.queries.outgoing.insert(
            q.ltime,
            Outgoing {
                id: q.id,
                deadline: now + timeout,
                acks: BTreeSet::new(),
                responses: BTreeSet::new(),
                internal,
            },
        );
        self.handle_query(now, q);
        self.pump(now);
        Ok(id)
    }

    /// Answers a received query, once, before its deadline (Go's
    /// `Query.Respond`): straight to the asker, and relayed if it asked.
    pub fn respond(
        &mut self,
        now: Instant,
        query: QueryId,
        payload: &[u8],
    ) -> Result<(), SerfError> {
        let resp = QueryResponse {
            ltime: query.ltime,
            id: query.id,
            from: self.ml.name().to_owned(),
            flags: 0,
            payload: Some(payload.to_vec()),
        };
        let raw = SerfMessage::QueryResponse(resp.clone()).encode()?;
        let limit = self.config.query_response_size_limit;
        if raw.len() > limit {
            return Err(SerfError::ResponseTooLarge { limit });
        }
        let Some(q) = self.queries.incoming.get_mut(&query) else {
            return Err(SerfError::ResponsePastDeadline);
        };
        if q.responded {
            return Err(SerfError::ResponseAlreadySent);
        }
        if now > q.deadline {
            return Err(SerfError::ResponsePastDeadline);
        }
        q.responded = true;
        let (to, source, relay) = (q.to, q.source_node.clone(), q.relay_factor);
        if let Some(to) = to {
            self.ml.send_user_packet(to, &raw)?;
            self.relay_response(relay, to, &source, &raw);
        }
        self.pump(now);
        Ok(())
    }

    /// Go's `handleQuery`; true to re-broadcast.
    pub(super) fn handle_query(&mut self, now: Instant, q: Query) -> bool {
        self.query_clock.witness(q.ltime);
        if q.ltime < self.queries_min_time {
            return false;
        }
        let cur = self.query_clock.time();
        let size = self.queries.ring.len() as u64;
        if cur > size && q.ltime < cur - size {
            self.stats.queries_old += 1;
            return false;
        }
        if !self.queries.record(q.ltime, q.id) {
            self.stats.queries_duplicate += 1;
            return false;
        }
        let rebroadcast = q.flags & QUERY_FLAG_NO_BROADCAST == 0;
        if !self.should_process(&q) {
            return rebroadcast;
        }
        let to = ip_from_bytes(&q.addr).map(|ip| SocketAddr::new(ip, q.port));
        if q.flags & QUERY_FLAG_ACK != 0 {
            let ack = QueryResponse {
                ltime: q.ltime,
                id: q.id,
                from: self.ml.name().to_owned(),
                flags: QUERY_FLAG_ACK,
                payload: None,
            };
            if let (Some(to), Ok(raw)) = (to, SerfMessage::QueryResponse(ack).encode()) {
                // Refused only if oversized, which an ack never is.
                let _ = self.ml.send_user_packet(to, &raw);
                self.relay_response(q.relay_factor, to, &q.source_node, &raw);
            }
        }
        let id = QueryId {
            ltime: q.ltime,
            id: q.id,
        };
        // A negative timeout gives a deadline already past, as in Go.
        let timeout = Duration::from_nanos(u64::try_from(q.timeout_ns).unwrap_or(0));
        let deadline = now + timeout;
        self.queries.incoming.insert(
            id,
            Incoming {
                to,
                source_node: q.source_node.clone(),
                relay_factor: q.relay_factor,
                deadline,
                responded: false,
            },
        );
        if let Some(rest) = q.name.strip_prefix("_serf_") {
            self.internal_query(now, id, rest, q.payload.as_deref().unwrap_or_default());
        } else {
            self.emit(Event::Query(QueryIn {
                id,
                name: q.name,
                payload: q.payload.unwrap_or_default(),
                source_node: q.source_node,
                deadline,
            }));
        }
        rebroadcast
    }

    /// The internal queries this node answers: `_serf_ping` (ack only),
    /// `_serf_conflict` (this node's record of the contested name) and the
    /// key-management queries.
    fn internal_query(&mut self, now: Instant, id: QueryId, name: &str, payload: &[u8]) {
        match name {
            "conflict" => {}
            "install-key" | "use-key" | "remove-key" | "list-keys" => {
                return self.answer_key_query(now, id, name, payload);
            }
            _ => return,
        }
        let Ok(node) = std::str::from_utf8(payload) else {
            return;
        };
        if node == self.ml.name() {
            return;
        }
        let record = self.members.get(node).map(|m| WireMember {
            name: m.name.clone(),
            addr: ip_bytes(m.addr.ip()),
            port: m.addr.port(),
            tags: m.tags.clone(),
            status: m.status,
            protocol_min: m.vsn[0],
            protocol_max: m.vsn[1],
            protocol_cur: m.vsn[2],
            delegate_min: m.vsn[3],
            delegate_max: m.vsn[4],
            delegate_cur: m.vsn[5],
        });
        if let Ok(answer) = SerfMessage::ConflictResponse(record).encode() {
            // Too large or too late: nothing else to do, as in Go.
            let _ = self.respond(now, id, &answer);
        }
    }

    /// Go's `shouldProcessQuery`: every filter must match. Undecodable or
    /// unknown filters and invalid regexes reject.
    fn should_process(&self, q: &Query) -> bool {
        for raw in q.filters.iter().flatten() {
            match Filter::decode(raw) {
                Ok(Filter::Nodes(nodes)) => {
                    if !nodes.iter().any(|n| n == self.ml.name()) {
                        return false;
                    }
                }
                Ok(Filter::Tag { tag, expr }) => {
                    let Ok(re) = regex::Regex::new(&expr) else {
                        return false;
                    };
                    let value = self.config.tags.get(&tag).map(String::as_str);
                    if !re.is_match(value.unwrap_or_default()) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Go's `relayResponse`: the answer also goes, wrapped in a relay, to
    /// `k` random other alive members that speak protocol 5.
    fn relay_response(&mut self, k: u8, to: SocketAddr, dest_name: &str, inner: &[u8]) {
        if k == 0 || self.members.len() < usize::from(k) + 1 {
            return;
        }
        let relay = Relay {
            dest_addr: UdpAddr {
                ip: ip_bytes(to.ip()),
                port: to.port(),
                zone: String::new(),
            },
            dest_name: dest_name.to_owned(),
            inner: inner.to_vec(),
        };
        let Ok(raw) = SerfMessage::Relay(relay).encode() else {
            return;
        };
        if raw.len() > self.config.query_response_size_limit {
            return;
        }
        let me = self.ml.name();
        let mut candidates: Vec<SocketAddr> = self
            .members
            .iter()
            .filter(|m| m.status == MemberStatus::Alive && m.vsn[1] >= 5 && m.name != me)
            .map(|m| m.addr)
            .collect();
        candidates.shuffle(&mut self.rng);
        for addr in candidates.into_iter().take(usize::from(k)) {
            let _ = self.ml.send_user_packet(addr, &raw);
        }
    }

    /// A relay for someone else: forward the inner message unchanged.
    pub(super) fn forward_relay(&mut self, r: Relay) {
        let Some(ip) = ip_from_bytes(&r.dest_addr.ip) else {
            self.stats.messages_dropped += 1;
            return;
        };
        if r.inner.is_empty() {
            self.stats.messages_dropped += 1;
            return;
        }
        let to = SocketAddr::new(ip, r.dest_addr.port);
        if self.ml.send_user_packet(to, &r.inner).is_ok() {
            self.stats.relays_forwarded += 1;
        }
    }

    /// Go's `handleQueryResponse`.
    pub(super) fn handle_query_response(&mut self, now: Instant, r: QueryResponse) {
        let Some(q) = self.queries.outgoing.get_mut(&r.ltime) else {
            self.stats.responses_ignored += 1;
            return;
        };
        if q.id != r.id || now > q.deadline {
            self.stats.responses_ignored += 1;
            return;
        }
        let query = QueryId {
            ltime: r.ltime,
            id: r.id,
        };
        if r.flags & QUERY_FLAG_ACK != 0 {
            if !q.acks.insert(r.from.clone()) {
                self.stats.responses_ignored += 1;
                return;
            }
            if !matches!(q.internal, Internal::App) {
                return;
            }
            self.emit(Event::QueryAck {
                query,
                from: r.from,
            });
        } else {
            if !q.responses.insert(r.from.clone()) {
                self.stats.responses_ignored += 1;
                return;
            }
            let payload = r.payload.as_deref().unwrap_or_default();
            match &mut q.internal {
                Internal::App => {}
                Internal::Conflict {
                    responses,
                    matching,
                } => {
                    // Go's resolveNodeConflict: a decodable answer counts, and
                    // matches when it records this node's address.
                    if let Ok(SerfMessage::ConflictResponse(m)) = SerfMessage::decode(payload) {
                        *responses += 1;
                        let local = self.ml.local_member().addr;
                        if m.is_some_and(|m| {
                            ip_from_bytes(&m.addr) == Some(local.ip()) && m.port == local.port()
                        }) {
                            *matching += 1;
                        }
                    }
                    return;
                }
                Internal::Key(report) => {
                    report.add_response(&r.from, payload);
                    if report.complete() {
                        // Go returns as soon as every node answered.
                        let report = std::mem::take(report);
                        self.queries.outgoing.remove(&r.ltime);
                        self.emit(Event::KeyReport { query, report });
                    }
                    return;
                }
            }
            self.emit(Event::QueryResponse {
                query,
                from: r.from,
                payload: r.payload.unwrap_or_default(),
            });
        }
    }

    /// Closes outgoing queries and forgets incoming ones past their deadline.
    pub(super) fn expire_queries(&mut self, now: Instant) {
        let done: Vec<u64> = self
            .queries
            .outgoing
            .iter()
            .filter(|(_, q)| now >= q.deadline)
            .map(|(&t, _)| t)
            .collect();
        for ltime in done {
            let Some(q) = self.queries.outgoing.remove(&ltime) else {
                continue;
            };
            let query = QueryId { ltime, id: q.id };
            match q.internal {
                Internal::App => self.emit(Event::QueryDone { query }),
                Internal::Key(report) => self.emit(Event::KeyReport { query, report }),
                Internal::Conflict {
                    responses,
                    matching,
                } => self.conflict_resolved(responses, matching),
            }
        }
        self.queries.incoming.retain(|_, q| now < q.deadline);
    }
}
