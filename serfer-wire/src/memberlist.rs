//! memberlist messages (spec §3): one type byte, then one msgpack map.
//!
//! Each struct encodes its Go counterpart's fields in bytewise key order, which
//! is what Go writes, so encodings are byte-identical with Go's. Decoding follows
//! Go's leniency (see [`super::msgpack`]) and ignores bytes after the object, as
//! Go does. Wrappers with binary layouts (compound, CRC) and whole streams live in
//! [`super::frame`].

use super::error::{Result, WireError};
use super::message::{go_struct, Bool, Bytes, Codec, GoStruct, Int, OrNil, Str, Uint, Vsn};
use super::msgpack::{Field, Reader, Value, Writer};

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

go_struct! {
    Ping as "ping" {
        "Node"       => node: Str,
        "SeqNo"      => seq_no: Uint,
        "SourceAddr" => source_addr: Bytes [omitempty],
        "SourceNode" => source_node: Str [omitempty],
        "SourcePort" => source_port: Uint [omitempty],
    }
}

impl Ping {
    /// Type byte and body.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_after(&[PING])
    }

    /// Decodes a complete `ping` message, type byte included.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read_map(&mut expect(
            "ping",
            "where a ping (0) was expected",
            PING,
            buf,
        )?)
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

go_struct! {
    IndirectPing as "indirectPing" {
        "Nack"       => nack: Bool,
        "Node"       => node: Str,
        "Port"       => port: Uint,
        "SeqNo"      => seq_no: Uint,
        "SourceAddr" => source_addr: Bytes [omitempty],
        "SourceNode" => source_node: Str [omitempty],
        "SourcePort" => source_port: Uint [omitempty],
        "Target"     => target: Bytes,
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

go_struct! {
    Ack as "ackResp" {
        "Payload" => payload: OrNil<Bytes>,
        "SeqNo"   => seq_no: Uint,
    }
}

/// An indirect probe that got no answer (type 11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nack {
    /// Sequence number of the indirect probe.
    pub seq_no: u32,
}

go_struct! {
    Nack as "nackResp" {
        "SeqNo" => seq_no: Uint,
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

go_struct! {
    Suspect as "suspect" {
        "From"        => from: Str,
        "Incarnation" => incarnation: Uint,
        "Node"        => node: Str,
    }
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

go_struct! {
    Dead as "dead" {
        "From"        => from: Str,
        "Incarnation" => incarnation: Uint,
        "Node"        => node: Str,
    }
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

go_struct! {
    Alive as "alive" {
        "Addr"        => addr: Bytes,
        "Incarnation" => incarnation: Uint,
        "Meta"        => meta: Bytes,
        "Node"        => node: Str,
        "Port"        => port: Uint,
        "Vsn"         => vsn: Vsn,
    }
}

/// The error reply of a stream (type 13).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrResp {
    /// The error text.
    pub error: String,
}

go_struct! {
    ErrResp as "err" {
        "Error" => error: Str,
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
            Message::Ping(m) => m.write_map(&mut w),
            Message::IndirectPing(m) => m.write_map(&mut w),
            Message::Ack(m) => m.write_map(&mut w),
            Message::Suspect(m) => m.write_map(&mut w),
            Message::Alive(m) => m.write_map(&mut w),
            Message::Dead(m) => m.write_map(&mut w),
            Message::User(bytes) => w.raw(bytes),
            Message::Nack(m) => m.write_map(&mut w),
            Message::Err(m) => m.write_map(&mut w),
        }
        w.finish()
    }

    /// Decodes one message, type byte included. Bytes after the msgpack object are
    /// ignored, as Go ignores them. Wrapper and stream types are refused with a
    /// pointer to the function that handles them.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let (ty, mut r) = body("memberlist message", buf)?;
        Ok(match ty {
            PING => Message::Ping(Ping::read_map(&mut r)?),
            INDIRECT_PING => Message::IndirectPing(IndirectPing::read_map(&mut r)?),
            ACK => Message::Ack(Ack::read_map(&mut r)?),
            SUSPECT => Message::Suspect(Suspect::read_map(&mut r)?),
            ALIVE => Message::Alive(Alive::read_map(&mut r)?),
            DEAD => Message::Dead(Dead::read_map(&mut r)?),
            USER => Message::User(r.rest().to_vec()),
            NACK => Message::Nack(Nack::read_map(&mut r)?),
            ERR => Message::Err(ErrResp::read_map(&mut r)?),
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

// Go's fields are `int`: `Uint` refuses a negative count or length rather than
// carrying it as a huge unsigned number.
go_struct! {
    PushPullHeader as "pushPullHeader" {
        "Join"         => join: Bool,
        "Nodes"        => nodes: Uint,
        "UserStateLen" => user_state_len: Uint,
    }
}

impl PushPullHeader {
    /// Writes type byte 6 and the header.
    pub fn write(&self, w: &mut Writer) {
        w.raw(&[PUSH_PULL]);
        self.write_map(w);
    }

    /// Type byte 6 and the header.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_after(&[PUSH_PULL])
    }

    /// Reads the header body (after the type byte).
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::read_map(r)
    }

    /// Decodes a header, type byte included.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read_map(&mut expect(
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

/// The state travels as a Go `int`.
impl Codec<NodeState> for Int {
    fn write(w: &mut Writer, value: &NodeState) {
        w.int(value.to_wire());
    }

    fn read(value: &Value<'_>, field: Field) -> Result<NodeState> {
        Ok(NodeState::from_wire(value.int(field)?))
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

go_struct! {
    PushNodeState as "pushNodeState" {
        "Addr"        => addr: Bytes,
        "Incarnation" => incarnation: Uint,
        "Meta"        => meta: Bytes,
        "Name"        => name: Str,
        "Port"        => port: Uint,
        "State"       => state: Int,
        "Vsn"         => vsn: Vsn,
    }
}

impl PushNodeState {
    /// Writes the state (a msgpack map).
    pub fn write(&self, w: &mut Writer) {
        self.write_map(w);
    }

    /// The state alone (a msgpack map).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_after(&[])
    }

    /// Reads one state.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::read_map(r)
    }

    /// Decodes one state from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read_map(&mut Reader::new(buf))
    }
}

/// The header of a reliable user message on a stream (type 8), followed by
/// exactly `user_msg_len` raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserMsgHeader {
    /// Length of the raw bytes that follow.
    pub user_msg_len: u32,
}

go_struct! {
    UserMsgHeader as "userMsgHeader" {
        "UserMsgLen" => user_msg_len: Uint,
    }
}

impl UserMsgHeader {
    /// Writes type byte 8 and the header.
    pub fn write(&self, w: &mut Writer) {
        w.raw(&[USER]);
        self.write_map(w);
    }

    /// Type byte 8 and the header.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_after(&[USER])
    }

    /// Reads the header body (after the type byte).
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::read_map(r)
    }

    /// Decodes a header, type byte included.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read_map(&mut expect(
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

go_struct! {
    Compress as "compress" {
        "Algo" => algo: Uint,
        "Buf"  => buf: Bytes,
    }
}

impl Compress {
    /// Type byte 9 and the body.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_after(&[COMPRESS])
    }

    /// Decodes a compress message, type byte included; trailing bytes are ignored.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read_map(&mut expect(
            "compress message",
            "where a compress message (9) was expected",
            COMPRESS,
            buf,
        )?)
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
