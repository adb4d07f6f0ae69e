//! memberlist messages: serf-rs's (memberlist-proto) ↔ Go's ([`go`]).
//!
//! The two carry the same facts with different holes:
//!
//! * serf-rs names both ends of a probe with a node (name and address); Go's
//!   ping names only the target, and gives the prober's address only in the
//!   optional `Source*` fields. The missing half is the packet's own address or
//!   this node's identity ([`Local`]).
//! * Go's `alive` and push/pull states carry a 6-byte `Vsn`; serf-rs's carry one
//!   protocol and one delegate version, both 1. The `Vsn` each Go node sent is
//!   kept in [`Peers`] and sent back unchanged.
//! * Node meta holds the tags in each side's own encoding; see [`super::meta`].
//! * Ack payloads hold a Vivaldi coordinate in each side's own encoding.
//! * The user (Serf) messages inside `UserData` and the push/pull's Serf state
//!   are passed through untouched: the Serf layer translates them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use memberlist_proto::{
    Ack, Alive, Data, DelegateVersion, ErrorResponse, IndirectPing, Message as RsMessage, Meta,
    Nack, Node, Ping, ProtocolVersion, PushNodeState, PushPull, State,
};
use serf::types::SmolStr;

use super::meta;
use super::peers::Peers;
use serfer_wire::error::{Result, WireError};
use serfer_wire::frame;
use serfer_wire::memberlist as go;

/// serf-rs's memberlist message as Serfer's engine instantiates it.
pub type RsMsg = RsMessage<SmolStr, SocketAddr>;

/// This node, which fills the holes of messages addressed to it.
#[derive(Debug, Clone)]
pub struct Local {
    /// The node name.
    pub name: SmolStr,
    /// The advertised gossip address.
    pub addr: SocketAddr,
}

/// A memberlist message on Go's side: a gossip message or a push/pull, which
/// only travels on streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoMsg {
    /// Anything a packet can carry (and ping, ack, user, err on streams).
    Gossip(go::Message),
    /// Join or anti-entropy state exchange.
    PushPull(frame::PushPull),
}

impl GoMsg {
    /// The message as a stream payload, for the kinds that travel on streams.
    pub fn into_stream(self) -> Result<frame::StreamMessage> {
        Ok(match self {
            GoMsg::PushPull(p) => frame::StreamMessage::PushPull(p),
            GoMsg::Gossip(go::Message::Ping(p)) => frame::StreamMessage::Ping(p),
            GoMsg::Gossip(go::Message::Ack(a)) => frame::StreamMessage::Ack(a),
            GoMsg::Gossip(go::Message::User(u)) => frame::StreamMessage::User(u),
            GoMsg::Gossip(go::Message::Err(e)) => frame::StreamMessage::Err(e),
            GoMsg::Gossip(other) => {
                return Err(WireError::NoCounterpart {
                    message: kind(&other),
                    path: "on a stream",
                })
            }
        })
    }

    /// The message as a packet's message; a push/pull never is one.
    pub fn into_packet(self) -> Result<go::Message> {
        match self {
            GoMsg::Gossip(m) => Ok(m),
            GoMsg::PushPull(_) => Err(WireError::NoCounterpart {
                message: "push/pull",
                path: "in a packet",
            }),
        }
    }
}

impl From<frame::StreamMessage> for GoMsg {
    fn from(m: frame::StreamMessage) -> Self {
        match m {
            frame::StreamMessage::PushPull(p) => GoMsg::PushPull(p),
            frame::StreamMessage::Ping(p) => GoMsg::Gossip(go::Message::Ping(p)),
            frame::StreamMessage::Ack(a) => GoMsg::Gossip(go::Message::Ack(a)),
            frame::StreamMessage::User(u) => GoMsg::Gossip(go::Message::User(u)),
            frame::StreamMessage::Err(e) => GoMsg::Gossip(go::Message::Err(e)),
        }
    }
}

fn kind(m: &go::Message) -> &'static str {
    match m {
        go::Message::Ping(_) => "ping",
        go::Message::IndirectPing(_) => "indirect ping",
        go::Message::Ack(_) => "ack",
        go::Message::Suspect(_) => "suspect",
        go::Message::Alive(_) => "alive",
        go::Message::Dead(_) => "dead",
        go::Message::User(_) => "user",
        go::Message::Nack(_) => "nack",
        go::Message::Err(_) => "error response",
    }
}

/// Translates memberlist messages for one node; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Translator {
    local: Local,
    peers: Peers,
}

impl Translator {
    /// A translator for the node `local`.
    pub fn new(local: Local) -> Self {
        Translator {
            local,
            peers: Peers::new(),
        }
    }

    /// What it remembers of other nodes.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// serf-rs → Go, for a message serf-rs sends.
    pub fn to_go(&self, msg: RsMsg) -> Result<GoMsg> {
        Ok(GoMsg::Gossip(match msg {
            RsMessage::Ping(p) => go::Message::Ping(go::Ping {
                seq_no: p.sequence_number(),
                node: p.target().id().to_string(),
                source_addr: ip_bytes(p.source().address().ip()),
                source_port: p.source().address().port(),
                source_node: p.source().id().to_string(),
            }),
            RsMessage::IndirectPing(p) => go::Message::IndirectPing(go::IndirectPing {
                seq_no: p.sequence_number(),
                target: ip_bytes(p.target().address().ip()),
                port: p.target().address().port(),
                node: p.target().id().to_string(),
                // memberlist-core always answers a failed indirect probe with
                // a nack, so Go should wait for one.
                nack: true,
                source_addr: ip_bytes(p.source().address().ip()),
                source_port: p.source().address().port(),
                source_node: p.source().id().to_string(),
            }),
            RsMessage::Ack(a) => {
                let (seq_no, payload) = a.into_components();
                go::Message::Ack(go::Ack {
                    seq_no,
                    payload: if payload.is_empty() {
                        None
                    } else {
                        Some(meta::ack_payload_to_go(&payload)?)
                    },
                })
            }
            RsMessage::Nack(n) => go::Message::Nack(go::Nack {
                seq_no: n.sequence_number(),
            }),
            RsMessage::Suspect(s) => go::Message::Suspect(go::Suspect {
                incarnation: s.incarnation(),
                node: s.node().to_string(),
                from: s.from().to_string(),
            }),
            RsMessage::Dead(d) => go::Message::Dead(go::Dead {
                incarnation: d.incarnation(),
                node: d.node().to_string(),
                from: d.from().to_string(),
            }),
            RsMessage::Alive(a) => {
                let name = a.node().id().clone();
                let addr = *a.node().address();
                let meta = self
                    .peers
                    .meta_to_go(&name, a.meta().as_bytes(), meta::tags_to_go)?;
                go::Message::Alive(go::Alive {
                    incarnation: a.incarnation(),
                    addr: ip_bytes(addr.ip()),
                    port: addr.port(),
                    meta,
                    vsn: Some(self.peers.vsn(&name)),
                    node: name.to_string(),
                })
            }
            RsMessage::UserData(bytes) => go::Message::User(bytes.to_vec()),
            RsMessage::ErrorResponse(e) => go::Message::Err(go::ErrResp {
                error: e.message().to_string(),
            }),
            RsMessage::PushPull(p) => return self.push_pull_to_go(p).map(GoMsg::PushPull),
            _ => {
                return Err(WireError::NoCounterpart {
                    message: "an unknown serf-rs message",
                    path: "in a packet",
                })
            }
        }))
    }

    fn push_pull_to_go(&self, p: PushPull<SmolStr, SocketAddr>) -> Result<frame::PushPull> {
        let (join, user_state, states) = p.into_components();
        let nodes = states
            .iter()
            .map(|s| {
                let name = s.id().clone();
                Ok(go::PushNodeState {
                    addr: ip_bytes(s.address().ip()),
                    port: s.address().port(),
                    meta: self
                        .peers
                        .meta_to_go(&name, s.meta().as_bytes(), meta::tags_to_go)?,
                    incarnation: s.incarnation(),
                    state: state_to_go(s.state()),
                    vsn: Some(self.peers.vsn(&name)),
                    name: name.to_string(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(frame::PushPull {
            join,
            nodes,
            user_state: user_state.to_vec(),
        })
    }

    /// Go → serf-rs, for a message that arrived from `from` (the packet's
    /// source, or the stream's remote address).
    pub fn to_rs(&self, msg: GoMsg, from: SocketAddr) -> Result<RsMsg> {
        let m = match msg {
            GoMsg::PushPull(p) => return self.push_pull_to_rs(p),
            GoMsg::Gossip(m) => m,
        };
        Ok(match m {
            go::Message::Ping(p) => {
                let source = self.source(&p.source_addr, p.source_port, &p.source_node, from)?;
                // An empty target means "whoever is at this address": us.
                let target = if p.node.is_empty() {
                    self.local.name.clone()
                } else {
                    SmolStr::new(&p.node)
                };
                RsMessage::Ping(Ping::new(
                    p.seq_no,
                    source,
                    Node::new(target, self.local.addr),
                ))
            }
            go::Message::IndirectPing(p) => {
                let source = self.source(&p.source_addr, p.source_port, &p.source_node, from)?;
                let target = Node::new(
                    SmolStr::new(&p.node),
                    socket_addr("indirect ping", &p.target, p.port)?,
                );
                RsMessage::IndirectPing(IndirectPing::new(p.seq_no, source, target))
            }
            go::Message::Ack(a) => {
                let payload = match a.payload.as_deref() {
                    None | Some([]) => Bytes::new(),
                    Some(p) => meta::ack_payload_to_rs(p)?.into(),
                };
                RsMessage::Ack(Ack::new(a.seq_no).with_payload(payload))
            }
            go::Message::Nack(n) => RsMessage::Nack(Nack::new(n.seq_no)),
            go::Message::Suspect(s) => RsMessage::Suspect(memberlist_proto::Suspect::new(
                s.incarnation,
                SmolStr::new(&s.node),
                SmolStr::new(&s.from),
            )),
            go::Message::Dead(d) => RsMessage::Dead(memberlist_proto::Dead::new(
                d.incarnation,
                SmolStr::new(&d.node),
                SmolStr::new(&d.from),
            )),
            go::Message::Alive(a) => {
                let name = SmolStr::new(&a.node);
                let addr = socket_addr("alive", &a.addr, a.port)?;
                self.peers.saw(&name, addr, a.vsn);
                let meta = self.meta_to_rs(&name, &a.meta)?;
                RsMessage::Alive(
                    Alive::new(a.incarnation, Node::new(name, addr))
                        .with_meta(meta)
                        .with_protocol_version(ProtocolVersion::V1)
                        .with_delegate_version(DelegateVersion::V1),
                )
            }
            go::Message::User(u) => RsMessage::UserData(u.into()),
            go::Message::Err(e) => RsMessage::ErrorResponse(ErrorResponse::new(e.error)),
        })
    }

    fn push_pull_to_rs(&self, p: frame::PushPull) -> Result<RsMsg> {
        let states = p
            .nodes
            .into_iter()
            .map(|s| {
                let name = SmolStr::new(&s.name);
                let addr = socket_addr("push/pull state", &s.addr, s.port)?;
                self.peers.saw(&name, addr, s.vsn);
                let meta = self.meta_to_rs(&name, &s.meta)?;
                Ok(
                    PushNodeState::new(s.incarnation, name, addr, state_to_rs(s.state))
                        .with_meta(meta)
                        .with_protocol_version(ProtocolVersion::V1)
                        .with_delegate_version(DelegateVersion::V1),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RsMessage::PushPull(
            PushPull::new(p.join, states.into_iter()).with_user_data(p.user_state.into()),
        ))
    }

    fn meta_to_rs(&self, name: &SmolStr, go_meta: &[u8]) -> Result<Meta> {
        let rs = self.peers.meta_to_rs(name, go_meta, meta::tags_to_rs)?;
        Meta::try_from(rs).map_err(|e| WireError::Engine {
            what: "node meta",
            reason: e.to_string(),
        })
    }

    /// The prober of a Go ping: its own `Source*` fields when it sent them
    /// (memberlist ≥ 0.1.4 does), else the packet's address and the name last
    /// seen there.
    fn source(
        &self,
        addr: &[u8],
        port: u16,
        name: &str,
        from: SocketAddr,
    ) -> Result<Node<SmolStr, SocketAddr>> {
        let addr = if addr.is_empty() {
            from
        } else {
            socket_addr("ping source", addr, port)?
        };
        let name = if name.is_empty() {
            self.peers
                .name_at(addr)
                .unwrap_or_else(|| SmolStr::new(addr.to_string()))
        } else {
            SmolStr::new(name)
        };
        Ok(Node::new(name, addr))
    }
}

/// An IP as Go's `net.IP` sends it: 4 bytes for IPv4.
pub fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    }
}

/// A Go `net.IP` (4 or 16 bytes, IPv4-mapped read as IPv4) and port.
pub fn socket_addr(message: &'static str, ip: &[u8], port: u16) -> Result<SocketAddr> {
    let ip = match ip.len() {
        4 => IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(ip);
            let v6 = Ipv6Addr::from(octets);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        len => return Err(WireError::BadAddress { message, len }),
    };
    Ok(SocketAddr::new(ip, port))
}

fn state_to_go(s: State) -> go::NodeState {
    match s {
        State::Alive => go::NodeState::Alive,
        State::Suspect => go::NodeState::Suspect,
        State::Dead => go::NodeState::Dead,
        State::Left => go::NodeState::Left,
        other => go::NodeState::from_wire(u8::from(other).into()),
    }
}

fn state_to_rs(s: go::NodeState) -> State {
    match s {
        go::NodeState::Alive => State::Alive,
        go::NodeState::Suspect => State::Suspect,
        go::NodeState::Dead => State::Dead,
        go::NodeState::Left => State::Left,
        other => State::from(u8::try_from(other.to_wire()).unwrap_or(u8::MAX)),
    }
}

/// serf-rs's encoding of one memberlist message (a tag byte, then the body).
pub fn encode_rs(msg: &RsMsg) -> Result<Vec<u8>> {
    msg.encode_to_vec().map_err(|e| WireError::Engine {
        what: "message encode",
        reason: e.to_string(),
    })
}

/// One memberlist message in serf-rs's encoding (tests compare with it).
#[cfg(test)]
pub fn decode_rs(buf: &[u8]) -> Result<RsMsg> {
    let (_, msg) = <RsMsg as Data>::decode(buf).map_err(|e| WireError::Engine {
        what: "message decode",
        reason: e.to_string(),
    })?;
    Ok(msg)
}
