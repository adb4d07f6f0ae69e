//! memberlist messages (spec §3): one type byte, then one msgpack map.
//!
//! Each struct encodes its Go counterpart's fields in bytewise key order, which
//! is what Go writes, so encodings are byte-identical with Go's. Decoding follows
//! Go's leniency (see [`super::msgpack`]) and ignores bytes after the object, as
//! Go does. Wrappers with binary layouts (compound, CRC) and whole streams live in
//! [`super::frame`].

use super::error::{Result, WireError};
use super::msgpack::{Fields, Reader, Writer};

/// Type byte of `ping`.
pub const PING: u8 = 0;
/// Type byte of `indirectPing`.
pub const INDIRECT_PING: u8 = 1;
/// Type byte of `ackResp`.
pub const ACK: u8 = 2;
/// Type byte of `suspect`.
pub const SUSPECT: u8 = 3;
/// Type byte of `alive`.
pub const ALIVE: u8 = 4;
/// Type byte of `dead`.
pub const DEAD: u8 = 5;
/// Type byte of a push/pull stream.
pub const PUSH_PULL: u8 = 6;
/// Type byte of `compound`.
pub const COMPOUND: u8 = 7;
/// Type byte of `user`.
pub const USER: u8 = 8;
/// Type byte of `compress`.
pub const COMPRESS: u8 = 9;
/// Type byte of the stream encryption frame.
pub const ENCRYPT: u8 = 10;
/// Type byte of `nackResp`.
pub const NACK: u8 = 11;
/// Type byte of `hasCrc`.
pub const HAS_CRC: u8 = 12;
/// Type byte of `err`.
pub const ERR: u8 = 13;

/// The one compression algorithm: LZW.
pub const ALGO_LZW: u8 = 0;

/// Splits a message into its type byte and a reader positioned on its body.
fn body<'a>(what: &'static str, buf: &'a [u8]) -> Result<(u8, Reader<'a>)> {
    match buf.first() {
        Some(&ty) => Ok((ty, Reader::at(buf, 1))),
        None => Err(WireError::Empty { what }),
    }
}

/// Checks a message's type byte before decoding its body as a given struct;
/// `context` says what was expected, for the error.
fn expect<'a>(
    what: &'static str,
    context: &'static str,
    ty: u8,
    buf: &'a [u8],
) -> Result<Reader<'a>> {
    let (found, reader) = body(what, buf)?;
    if found != ty {
        return Err(WireError::UnexpectedType { ty: found, context });
    }
    Ok(reader)
}

/// A probe (type 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    /// Sequence number, echoed by the ack.
    pub seq_no: u32,
    /// Name of the node being probed; empty for "whoever is there".
    pub node: String,
    /// Where to send the ack (raw IP, 4 or 16 bytes); empty for the packet's
    /// source address. Omitted from the wire when empty.
    pub source_addr: Vec<u8>,
    /// Port for the ack; 0 is omitted from the wire.
    pub source_port: u16,
    /// Name of the prober; empty is omitted from the wire.
    pub source_node: String,
}

impl Ping {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        let optional = [
            !self.source_addr.is_empty(),
            !self.source_node.is_empty(),
            self.source_port != 0,
        ];
        w.map(2 + optional.iter().filter(|&&present| present).count());
        w.str(b"Node");
        w.str(self.node.as_bytes());
        w.str(b"SeqNo");
        w.uint(self.seq_no.into());
        write_source(w, &self.source_addr, &self.source_node, self.source_port);
    }

    /// Reads the body.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("ping", &v)?;
        Ok(Ping {
            seq_no: f.u32("SeqNo")?,
            node: f.string("Node")?,
            source_addr: f.bytes("SourceAddr")?,
            source_port: f.u16("SourcePort")?,
            source_node: f.string("SourceNode")?,
        })
    }

    /// Type byte and body.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_prefix(&[PING]);
        self.write(&mut w);
        w.finish()
    }

    /// Decodes a complete `ping` message, type byte included.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read(&mut expect(
            "ping",
            "where a ping (0) was expected",
            PING,
            buf,
        )?)
    }
}

/// The omitempty `Source*` fields of ping and indirect ping, in key order.
fn write_source(w: &mut Writer, addr: &[u8], node: &str, port: u16) {
    if !addr.is_empty() {
        w.str(b"SourceAddr");
        w.str(addr);
    }
    if !node.is_empty() {
        w.str(b"SourceNode");
        w.str(node.as_bytes());
    }
    if port != 0 {
        w.str(b"SourcePort");
        w.uint(port.into());
    }
}

/// A request to probe another node on the sender's behalf (type 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndirectPing {
    /// Sequence number, echoed by the ack or nack.
    pub seq_no: u32,
    /// Address to probe (raw IP).
    pub target: Vec<u8>,
    /// Port to probe.
    pub port: u16,
    /// Name of the node to probe.
    pub node: String,
    /// Ask for a nack if the target does not answer.
    pub nack: bool,
    /// Where to send the ack; omitted when empty.
    pub source_addr: Vec<u8>,
    /// Port for the ack; omitted when 0.
    pub source_port: u16,
    /// Name of the requester; omitted when empty.
    pub source_node: String,
}

impl IndirectPing {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        let optional = [
            !self.source_addr.is_empty(),
            !self.source_node.is_empty(),
            self.source_port != 0,
        ];
        w.map(5 + optional.iter().filter(|&&present| present).count());
        w.str(b"Nack");
        w.bool(self.nack);
        w.str(b"Node");
        w.str(self.node.as_bytes());
        w.str(b"Port");
        w.uint(self.port.into());
        w.str(b"SeqNo");
        w.uint(self.seq_no.into());
        write_source(w, &self.source_addr, &self.source_node, self.source_port);
        w.str(b"Target");
        w.str(&self.target);
    }

    /// Reads the body.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("indirectPing", &v)?;
        Ok(IndirectPing {
            seq_no: f.u32("SeqNo")?,
            target: f.bytes("Target")?,
            port: f.u16("Port")?,
            node: f.string("Node")?,
            nack: f.bool("Nack")?,
            source_addr: f.bytes("SourceAddr")?,
            source_port: f.u16("SourcePort")?,
            source_node: f.string("SourceNode")?,
        })
    }
}

/// An answer to a probe (type 2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ack {
    /// Sequence number of the probe.
    pub seq_no: u32,
    /// Ping-delegate payload (Serf: a coordinate, see
    /// [`super::serf::decode_ping_payload`]); `None` is nil on the wire.
    pub payload: Option<Vec<u8>>,
}

impl Ack {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        w.map(2);
        w.str(b"Payload");
        w.opt_str(self.payload.as_deref());
        w.str(b"SeqNo");
        w.uint(self.seq_no.into());
    }

    /// Reads the body.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("ackResp", &v)?;
        Ok(Ack {
            seq_no: f.u32("SeqNo")?,
            payload: f.opt_bytes("Payload")?,
        })
    }
}

/// An indirect probe that got no answer (type 11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nack {
    /// Sequence number of the indirect probe.
    pub seq_no: u32,
}

impl Nack {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        w.map(1);
        w.str(b"SeqNo");
        w.uint(self.seq_no.into());
    }

    /// Reads the body.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("nackResp", &v)?;
        Ok(Nack {
            seq_no: f.u32("SeqNo")?,
        })
    }
}

/// A claim that a node is suspect (type 3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suspect {
    /// Incarnation of the suspected node as the claimant knows it.
    pub incarnation: u32,
    /// The suspected node.
    pub node: String,
    /// Who makes the claim.
    pub from: String,
}

/// A claim that a node is dead (type 5); with `from == node`, a graceful leave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dead {
    /// Incarnation of the node as the claimant knows it.
    pub incarnation: u32,
    /// The node.
    pub node: String,
    /// Who makes the claim.
    pub from: String,
}

impl Dead {
    /// True for a graceful leave: the receiver marks the node left, not dead.
    pub fn is_leave(&self) -> bool {
        self.from == self.node
    }
}

/// Suspect and dead share their fields; this writes and reads them.
fn write_claim(w: &mut Writer, incarnation: u32, node: &str, from: &str) {
    w.map(3);
    w.str(b"From");
    w.str(from.as_bytes());
    w.str(b"Incarnation");
    w.uint(incarnation.into());
    w.str(b"Node");
    w.str(node.as_bytes());
}

/// Reads the body of a suspect or dead claim: incarnation, node, from.
fn read_claim(what: &'static str, r: &mut Reader<'_>) -> Result<(u32, String, String)> {
    let v = r.value()?;
    let f = Fields::new(what, &v)?;
    Ok((f.u32("Incarnation")?, f.string("Node")?, f.string("From")?))
}

/// A node's announcement of itself (type 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alive {
    /// The node's incarnation number.
    pub incarnation: u32,
    /// Node name.
    pub node: String,
    /// Address (raw IP, 4 or 16 bytes).
    pub addr: Vec<u8>,
    /// Gossip port.
    pub port: u16,
    /// Delegate metadata (Serf: tags, see [`super::serf::encode_tags`]). Nil and
    /// empty are the same to Go; empty is written as an empty str.
    pub meta: Vec<u8>,
    /// `[PMin, PMax, PCur, DMin, DMax, DCur]`; `None` is nil (versions unknown).
    pub vsn: Option<[u8; 6]>,
}

impl Alive {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        w.map(6);
        w.str(b"Addr");
        w.str(&self.addr);
        w.str(b"Incarnation");
        w.uint(self.incarnation.into());
        w.str(b"Meta");
        w.str(&self.meta);
        w.str(b"Node");
        w.str(self.node.as_bytes());
        w.str(b"Port");
        w.uint(self.port.into());
        w.str(b"Vsn");
        w.opt_str(self.vsn.as_ref().map(|v| &v[..]));
    }

    /// Reads the body.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("alive", &v)?;
        Ok(Alive {
            incarnation: f.u32("Incarnation")?,
            node: f.string("Node")?,
            addr: f.bytes("Addr")?,
            port: f.u16("Port")?,
            meta: f.bytes("Meta")?,
            vsn: f.vsn("Vsn")?,
        })
    }
}

/// The error reply of a stream (type 13).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrResp {
    /// The error text.
    pub error: String,
}

impl ErrResp {
    /// Writes the body: a map, keys in Go's (bytewise) order.
    fn write(&self, w: &mut Writer) {
        w.map(1);
        w.str(b"Error");
        w.str(self.error.as_bytes());
    }

    /// Reads the body.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("err", &v)?;
        Ok(ErrResp {
            error: f.string("Error")?,
        })
    }
}

/// One memberlist message that is a single unit: everything except the
/// wrappers (compound, compress, CRC, encryption) and push/pull streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Type 0.
    Ping(Ping),
    /// Type 1.
    IndirectPing(IndirectPing),
    /// Type 2.
    Ack(Ack),
    /// Type 3.
    Suspect(Suspect),
    /// Type 4.
    Alive(Alive),
    /// Type 5.
    Dead(Dead),
    /// Type 8 as it travels in a packet: the rest of the message is the
    /// delegate's (Serf's) bytes, see [`super::serf::SerfMessage`].
    User(Vec<u8>),
    /// Type 11.
    Nack(Nack),
    /// Type 13 (streams only in practice).
    Err(ErrResp),
}

impl Message {
    /// The type byte.
    pub fn message_type(&self) -> u8 {
        match self {
            Message::Ping(_) => PING,
            Message::IndirectPing(_) => INDIRECT_PING,
            Message::Ack(_) => ACK,
            Message::Suspect(_) => SUSPECT,
            Message::Alive(_) => ALIVE,
            Message::Dead(_) => DEAD,
            Message::User(_) => USER,
            Message::Nack(_) => NACK,
            Message::Err(_) => ERR,
        }
    }

    /// Type byte and body, byte-identical with Go's encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_prefix(&[self.message_type()]);
        match self {
            Message::Ping(m) => m.write(&mut w),
            Message::IndirectPing(m) => m.write(&mut w),
            Message::Ack(m) => m.write(&mut w),
            Message::Suspect(m) => write_claim(&mut w, m.incarnation, &m.node, &m.from),
            Message::Alive(m) => m.write(&mut w),
            Message::Dead(m) => write_claim(&mut w, m.incarnation, &m.node, &m.from),
            Message::User(bytes) => w.raw(bytes),
            Message::Nack(m) => m.write(&mut w),
            Message::Err(m) => m.write(&mut w),
        }
        w.finish()
    }

    /// Decodes one message, type byte included. Bytes after the msgpack object are
    /// ignored, as Go ignores them. Wrapper and stream types are refused with a
    /// pointer to the function that handles them.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let (ty, mut r) = body("memberlist message", buf)?;
        Ok(match ty {
            PING => Message::Ping(Ping::read(&mut r)?),
            INDIRECT_PING => Message::IndirectPing(IndirectPing::read(&mut r)?),
            ACK => Message::Ack(Ack::read(&mut r)?),
            SUSPECT => {
                let (incarnation, node, from) = read_claim("suspect", &mut r)?;
                Message::Suspect(Suspect {
                    incarnation,
                    node,
                    from,
                })
            }
            ALIVE => Message::Alive(Alive::read(&mut r)?),
            DEAD => {
                let (incarnation, node, from) = read_claim("dead", &mut r)?;
                Message::Dead(Dead {
                    incarnation,
                    node,
                    from,
                })
            }
            USER => Message::User(r.rest().to_vec()),
            NACK => Message::Nack(Nack::read(&mut r)?),
            ERR => Message::Err(ErrResp::read(&mut r)?),
            PUSH_PULL | ENCRYPT => return Err(WireError::UnexpectedType {
                ty,
                context:
                    "as a single message: it starts a stream (decode it with frame::StreamMessage)",
            }),
            COMPOUND | COMPRESS | HAS_CRC => {
                return Err(WireError::UnexpectedType {
                    ty,
                    context:
                        "as a single message: it is a wrapper (unwrap it with frame::decode_packet)",
                })
            }
            _ => {
                return Err(WireError::UnknownType {
                    layer: "memberlist",
                    ty,
                })
            }
        })
    }
}

/// The header of a push/pull stream (type 6), followed on the wire by `nodes`
/// node states and `user_state_len` raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushPullHeader {
    /// True for a join, false for periodic anti-entropy.
    pub join: bool,
    /// Number of [`PushNodeState`]s that follow.
    pub nodes: u32,
    /// Length of the raw user (Serf) state after the node states.
    pub user_state_len: u32,
}

impl PushPullHeader {
    /// Writes type byte 6 and the header.
    pub fn write(&self, w: &mut Writer) {
        w.raw(&[PUSH_PULL]);
        w.map(3);
        w.str(b"Join");
        w.bool(self.join);
        w.str(b"Nodes");
        w.uint(self.nodes.into());
        w.str(b"UserStateLen");
        w.uint(self.user_state_len.into());
    }

    /// Type byte 6 and the header.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.finish()
    }

    /// Reads the header body (after the type byte).
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("pushPullHeader", &v)?;
        // Go's fields are `int`; a negative count or length is refused here
        // rather than carried as a huge unsigned number.
        Ok(PushPullHeader {
            join: f.bool("Join")?,
            nodes: f.u32("Nodes")?,
            user_state_len: f.u32("UserStateLen")?,
        })
    }

    /// Decodes a header, type byte included.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read(&mut expect(
            "push/pull header",
            "where a push/pull header (6) was expected",
            PUSH_PULL,
            buf,
        )?)
    }
}

/// memberlist's view of a node's state, as exchanged in push/pull.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NodeState {
    /// 0.
    #[default]
    Alive,
    /// 1.
    Suspect,
    /// 2.
    Dead,
    /// 3: left gracefully.
    Left,
    /// Any other value: Go carries it and ignores it when merging, so it is kept
    /// rather than failing the whole push/pull.
    Other(i64),
}

impl NodeState {
    /// The wire value.
    pub fn to_wire(self) -> i64 {
        match self {
            NodeState::Alive => 0,
            NodeState::Suspect => 1,
            NodeState::Dead => 2,
            NodeState::Left => 3,
            NodeState::Other(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_wire(v: i64) -> Self {
        match v {
            0 => NodeState::Alive,
            1 => NodeState::Suspect,
            2 => NodeState::Dead,
            3 => NodeState::Left,
            v => NodeState::Other(v),
        }
    }
}

/// One node in a push/pull exchange (no type byte of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushNodeState {
    /// Node name.
    pub name: String,
    /// Address (raw IP).
    pub addr: Vec<u8>,
    /// Gossip port.
    pub port: u16,
    /// Delegate metadata.
    pub meta: Vec<u8>,
    /// Incarnation number.
    pub incarnation: u32,
    /// State.
    pub state: NodeState,
    /// Version vector; `None` is nil. Go fails a whole merge on a state without
    /// one, so senders should always fill it.
    pub vsn: Option<[u8; 6]>,
}

impl PushNodeState {
    /// Writes the state (a msgpack map).
    pub fn write(&self, w: &mut Writer) {
        w.map(7);
        w.str(b"Addr");
        w.str(&self.addr);
        w.str(b"Incarnation");
        w.uint(self.incarnation.into());
        w.str(b"Meta");
        w.str(&self.meta);
        w.str(b"Name");
        w.str(self.name.as_bytes());
        w.str(b"Port");
        w.uint(self.port.into());
        w.str(b"State");
        w.int(self.state.to_wire());
        w.str(b"Vsn");
        w.opt_str(self.vsn.as_ref().map(|v| &v[..]));
    }

    /// The state alone (a msgpack map).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.finish()
    }

    /// Reads one state.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("pushNodeState", &v)?;
        Ok(PushNodeState {
            name: f.string("Name")?,
            addr: f.bytes("Addr")?,
            port: f.u16("Port")?,
            meta: f.bytes("Meta")?,
            incarnation: f.u32("Incarnation")?,
            state: NodeState::from_wire(f.i64("State")?),
            vsn: f.vsn("Vsn")?,
        })
    }

    /// Decodes one state from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read(&mut Reader::new(buf))
    }
}

/// The header of a reliable user message on a stream (type 8), followed by
/// exactly `user_msg_len` raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserMsgHeader {
    /// Length of the raw bytes that follow.
    pub user_msg_len: u32,
}

impl UserMsgHeader {
    /// Writes type byte 8 and the header.
    pub fn write(&self, w: &mut Writer) {
        w.raw(&[USER]);
        w.map(1);
        w.str(b"UserMsgLen");
        w.uint(self.user_msg_len.into());
    }

    /// Type byte 8 and the header.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.finish()
    }

    /// Reads the header body (after the type byte).
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.value()?;
        let f = Fields::new("userMsgHeader", &v)?;
        Ok(UserMsgHeader {
            user_msg_len: f.u32("UserMsgLen")?,
        })
    }

    /// Decodes a header, type byte included.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read(&mut expect(
            "user message header",
            "where a user message header (8) was expected",
            USER,
            buf,
        )?)
    }
}

/// A compressed message (type 9): `buf` decompresses to a complete message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compress {
    /// Algorithm; only [`ALGO_LZW`] exists.
    pub algo: u8,
    /// The compressed bytes.
    pub buf: Vec<u8>,
}

impl Compress {
    /// Type byte 9 and the body.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_prefix(&[COMPRESS]);
        w.map(2);
        w.str(b"Algo");
        w.uint(self.algo.into());
        w.str(b"Buf");
        w.str(&self.buf);
        w.finish()
    }

    /// Decodes a compress message, type byte included; trailing bytes are ignored.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = expect(
            "compress message",
            "where a compress message (9) was expected",
            COMPRESS,
            buf,
        )?;
        let v = r.value()?;
        let f = Fields::new("compress", &v)?;
        Ok(Compress {
            algo: f.u8("Algo")?,
            buf: f.bytes("Buf")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_or_missing_type_bytes_are_reported() {
        assert_eq!(
            Message::decode(&[]),
            Err(WireError::Empty {
                what: "memberlist message"
            })
        );
        assert!(matches!(
            Message::decode(&[6, 0x80]),
            Err(WireError::UnexpectedType { ty: 6, .. })
        ));
        assert!(matches!(
            Message::decode(&[10]),
            Err(WireError::UnexpectedType { ty: 10, .. })
        ));
        assert!(matches!(
            Message::decode(&[7]),
            Err(WireError::UnexpectedType { ty: 7, .. })
        ));
        assert_eq!(
            Message::decode(&[244]),
            Err(WireError::UnknownType {
                layer: "memberlist",
                ty: 244
            })
        );
        assert!(Ping::decode(&[2, 0x80]).is_err());
        assert!(PushPullHeader::decode(&[0, 0x80]).is_err());
        assert!(UserMsgHeader::decode(&[]).is_err());
        assert!(Compress::decode(&[0]).is_err());
    }

    #[test]
    fn missing_fields_are_zero_and_nil_body_is_a_zero_struct() {
        assert_eq!(
            Message::decode(&[0, 0x80]),
            Ok(Message::Ping(Ping::default()))
        );
        assert_eq!(
            Message::decode(&[4, 0xc0]),
            Ok(Message::Alive(Alive::default()))
        );
        assert_eq!(
            Message::decode(&[11, 0x80]),
            Ok(Message::Nack(Nack::default()))
        );
    }

    #[test]
    fn bin_is_accepted_for_bytes_and_refused_for_strings() {
        // alive {Addr: bin 7f000001, Node: "n"}
        let ok = [
            4, 0x82, 0xa4, b'A', b'd', b'd', b'r', 0xc4, 4, 127, 0, 0, 1, 0xa4, b'N', b'o', b'd',
            b'e', 0xa1, b'n',
        ];
        let Ok(Message::Alive(a)) = Message::decode(&ok) else {
            panic!()
        };
        assert_eq!((a.addr, a.node.as_str()), (vec![127, 0, 0, 1], "n"));
        // alive {Node: bin "n"}
        let bad = [4, 0x81, 0xa4, b'N', b'o', b'd', b'e', 0xc4, 1, b'n'];
        assert_eq!(
            Message::decode(&bad).unwrap_err().to_string(),
            "alive: field `Node` must be a str (bin is not accepted for strings), found a bin"
        );
    }

    #[test]
    fn node_states_round_trip_through_their_wire_values() {
        for v in [0, 1, 2, 3, 4, -1] {
            assert_eq!(NodeState::from_wire(v).to_wire(), v);
        }
        let s = PushNodeState {
            state: NodeState::Other(-7),
            ..Default::default()
        };
        assert_eq!(PushNodeState::decode(&s.encode().unwrap()), Ok(s));
    }

    #[test]
    fn out_of_range_integers_are_refused() {
        // ping {SeqNo: 2^32}
        let bytes = [
            0, 0x81, 0xa5, b'S', b'e', b'q', b'N', b'o', 0xcf, 0, 0, 0, 1, 0, 0, 0, 0,
        ];
        assert_eq!(
            Message::decode(&bytes).unwrap_err().to_string(),
            "ping: field `SeqNo` holds 4294967296, which does not fit in u32"
        );
        // push/pull header {Nodes: -1}
        let bytes = [6, 0x81, 0xa5, b'N', b'o', b'd', b'e', b's', 0xff];
        assert!(PushPullHeader::decode(&bytes).is_err());
    }
}
