//! Packet wrappers (spec §4: compound, compress, CRC) and stream payloads (§5.1).
//!
//! Encryption is outermost on both paths and lives in [`super::crypto`]; the
//! functions here work on plaintext.

use super::error::{Result, WireError};
use super::lzw;
use super::memberlist::{
    Ack, Compress, ErrResp, Message, Ping, PushNodeState, PushPullHeader, UserMsgHeader, ACK,
    ALGO_LZW, ALIVE, COMPOUND, COMPRESS, DEAD, ENCRYPT, ERR, HAS_CRC, INDIRECT_PING, NACK, PING,
    PUSH_PULL, SUSPECT, USER,
};
use super::msgpack::{Reader, Writer};

/// Most parts a compound may carry: the Go 0.2.2 receiver computes the length
/// table size in 8 bits, so 128 or more parts are mis-parsed.
pub const MAX_COMPOUND_PARTS: usize = 127;

/// How deeply compress and compound wrappers may nest in one packet. Real
/// packets use two levels (compress → compound); the bound only stops a hostile
/// packet from recursing without end.
pub const MAX_WRAPPER_DEPTH: usize = 8;

/// Builds a compound message (type 7) from complete messages.
pub fn encode_compound<P: AsRef<[u8]>>(parts: &[P]) -> Result<Vec<u8>> {
    let count = u8::try_from(parts.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_COMPOUND_PARTS)
        .ok_or(WireError::TooManyParts { parts: parts.len() })?;
    let mut out = vec![COMPOUND, count];
    for part in parts {
        let len = part.as_ref().len();
        let len = u16::try_from(len).map_err(|_| WireError::TooLong {
            what: "compound part",
            len,
            max: u16::MAX.into(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
    }
    for part in parts {
        out.extend_from_slice(part.as_ref());
    }
    Ok(out)
}

/// The parts of a compound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compound<'a> {
    /// The complete parts, each a message with its type byte.
    pub parts: Vec<&'a [u8]>,
    /// How many parts the header announced but the data cut short. Go processes
    /// the complete ones and logs `Compound request had N truncated messages`.
    pub truncated: usize,
}

/// Splits a compound message (type byte included) into its parts.
pub fn decode_compound(msg: &[u8]) -> Result<Compound<'_>> {
    let (&ty, rest) = msg.split_first().ok_or(WireError::Empty {
        what: "compound message",
    })?;
    if ty != COMPOUND {
        return Err(WireError::UnexpectedType {
            ty,
            context: "where a compound message (7) was expected",
        });
    }
    let (&count, rest) = rest.split_first().ok_or(WireError::Truncated {
        what: "compound part count",
        offset: 1,
        needed: 1,
    })?;
    let table_len = 2 * usize::from(count);
    let (table, mut data) = match (rest.get(..table_len), rest.get(table_len..)) {
        (Some(table), Some(data)) => (table, data),
        _ => {
            return Err(WireError::CompoundHeader {
                parts: count,
                available: rest.len(),
            })
        }
    };
    let mut parts = Vec::with_capacity(usize::from(count));
    let mut truncated = 0;
    for (i, len) in table.chunks_exact(2).enumerate() {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        match (data.get(..len), data.get(len..)) {
            (Some(part), Some(after)) => {
                parts.push(part);
                data = after;
            }
            _ => {
                truncated = usize::from(count) - i;
                break;
            }
        }
    }
    Ok(Compound { parts, truncated })
}

/// Wraps a complete message (or stream payload) in a compress message (type 9).
pub fn compress(msg: &[u8]) -> Result<Vec<u8>> {
    Compress {
        algo: ALGO_LZW,
        buf: lzw::compress(msg),
    }
    .encode()
}

/// Unwraps a compress message (type byte included), giving at most `max_output`
/// bytes.
pub fn decompress(msg: &[u8], max_output: usize) -> Result<Vec<u8>> {
    let c = Compress::decode(msg)?;
    if c.algo != ALGO_LZW {
        return Err(WireError::UnknownAlgo { algo: c.algo });
    }
    lzw::decompress(&c.buf, max_output)
}

/// Prepends the CRC header (type 12): `0c ‖ CRC-32/IEEE(msg) big-endian ‖ msg`.
pub fn add_crc(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 5);
    out.push(HAS_CRC);
    out.extend_from_slice(&crc32fast::hash(msg).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// Removes and checks the CRC header if the packet has one; a packet without one
/// is returned unchanged, since Go adds it only for some destinations.
pub fn strip_crc(packet: &[u8]) -> Result<&[u8]> {
    if packet.first() != Some(&HAS_CRC) {
        return Ok(packet);
    }
    let (Some(header), Some(rest)) = (packet.get(1..5), packet.get(5..)) else {
        return Err(WireError::Truncated {
            what: "CRC header",
            offset: 1,
            needed: (5 - packet.len()) as u64,
        });
    };
    let expected = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let actual = crc32fast::hash(rest);
    if expected != actual {
        return Err(WireError::CrcMismatch { expected, actual });
    }
    Ok(rest)
}

/// How a packet is built from messages (spec §4.0, steps 1–3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketOptions {
    /// Compress, keeping the compressed form only if it is shorter (Go's rule for
    /// packets).
    pub compress: bool,
    /// Prepend a CRC; Go does it for destinations whose `PMax` ≥ 5 when it can
    /// look them up.
    pub crc: bool,
}

/// Builds a plaintext UDP packet: one message as it is, several as a compound,
/// then compression and CRC as `options` ask. Encrypt the result with
/// [`super::crypto::encrypt_packet`] when a keyring is in use.
pub fn encode_packet<P: AsRef<[u8]>>(messages: &[P], options: PacketOptions) -> Result<Vec<u8>> {
    let mut packet = match messages {
        [one] => one.as_ref().to_vec(),
        _ => encode_compound(messages)?,
    };
    if options.compress {
        let compressed = compress(&packet)?;
        if compressed.len() < packet.len() {
            packet = compressed;
        }
    }
    if options.crc {
        packet = add_crc(&packet);
    }
    Ok(packet)
}

/// What a received packet held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// The messages, in packet order, wrappers removed.
    pub messages: Vec<Message>,
    /// Parts that could not be decoded. Go logs and drops each one on its own and
    /// still processes the rest, so they do not fail the whole packet.
    pub errors: Vec<WireError>,
    /// Compound parts cut short, summed over all compounds.
    pub truncated: usize,
}

/// Decodes a plaintext (already decrypted) UDP packet: checks and strips the
/// CRC, unwraps compress and compound recursively, and decodes every message.
///
/// `max_decompressed` bounds the bytes produced by all decompressions together.
/// The result is an error only when the packet as a whole is unusable (empty, or
/// a CRC mismatch); problems with single messages are listed in
/// [`Unpacked::errors`].
pub fn decode_packet(packet: &[u8], max_decompressed: usize) -> Result<Unpacked> {
    if packet.is_empty() {
        return Err(WireError::Empty { what: "packet" });
    }
    let body = strip_crc(packet)?;
    let mut out = Unpacked::default();
    let mut budget = max_decompressed;
    unpack(body, 0, &mut budget, &mut out);
    Ok(out)
}

/// Unwraps one message, recording a failure instead of returning it, so that
/// the other parts of a compound are still processed.
fn unpack(msg: &[u8], depth: usize, budget: &mut usize, out: &mut Unpacked) {
    if let Err(e) = unpack_one(msg, depth, budget, out) {
        out.errors.push(e);
    }
}

/// Unwraps one message at wrapper depth `depth`, spending decompressed bytes
/// from `budget`.
fn unpack_one(msg: &[u8], depth: usize, budget: &mut usize, out: &mut Unpacked) -> Result<()> {
    let ty = *msg.first().ok_or(WireError::Empty { what: "message" })?;
    match ty {
        COMPOUND | COMPRESS if depth >= MAX_WRAPPER_DEPTH => Err(WireError::NestedTooDeep {
            limit: MAX_WRAPPER_DEPTH,
        }),
        COMPOUND => {
            let compound = decode_compound(msg)?;
            out.truncated += compound.truncated;
            for part in compound.parts {
                unpack(part, depth + 1, budget, out);
            }
            Ok(())
        }
        COMPRESS => {
            let inner = decompress(msg, *budget)?;
            *budget = budget.saturating_sub(inner.len());
            unpack_one(&inner, depth + 1, budget, out)
        }
        PING | INDIRECT_PING | ACK | SUSPECT | ALIVE | DEAD | USER | NACK => {
            out.messages.push(Message::decode(msg)?);
            Ok(())
        }
        HAS_CRC => Err(WireError::UnexpectedType {
            ty,
            context: "inside a packet (a CRC header is only recognised at the start)",
        }),
        _ => Err(WireError::UnexpectedType {
            ty,
            context: "in a UDP packet (msg type not supported)",
        }),
    }
}

/// A push/pull exchange: all the state one side sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushPull {
    /// True for a join, false for periodic anti-entropy.
    pub join: bool,
    /// Every node the sender knows.
    pub nodes: Vec<PushNodeState>,
    /// The delegate's (Serf's) state, see [`super::serf::SerfPushPull`].
    pub user_state: Vec<u8>,
}

/// What one TCP stream carries, after decryption and decompression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMessage {
    /// Type 6: join or anti-entropy state.
    PushPull(PushPull),
    /// Type 0: the TCP fallback probe.
    Ping(Ping),
    /// Type 2: the answer to a TCP probe.
    Ack(Ack),
    /// Type 8: a reliable user message (`UserMsgLen` header, then the bytes).
    User(Vec<u8>),
    /// Type 13: the error reply.
    Err(ErrResp),
}

impl StreamMessage {
    /// The uncompressed stream payload, starting with its type byte.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        match self {
            StreamMessage::PushPull(p) => {
                let too_long = |what, len| WireError::TooLong {
                    what,
                    len,
                    max: u32::MAX as usize,
                };
                PushPullHeader {
                    join: p.join,
                    nodes: u32::try_from(p.nodes.len())
                        .map_err(|_| too_long("push/pull node list", p.nodes.len()))?,
                    user_state_len: u32::try_from(p.user_state.len())
                        .map_err(|_| too_long("push/pull user state", p.user_state.len()))?,
                }
                .write(&mut w);
                for node in &p.nodes {
                    node.write(&mut w);
                }
                w.raw(&p.user_state);
            }
            StreamMessage::User(bytes) => {
                UserMsgHeader {
                    user_msg_len: u32::try_from(bytes.len()).map_err(|_| WireError::TooLong {
                        what: "user message",
                        len: bytes.len(),
                        max: u32::MAX as usize,
                    })?,
                }
                .write(&mut w);
                w.raw(bytes);
            }
            StreamMessage::Ping(m) => w.raw(&m.encode()?),
            StreamMessage::Ack(m) => w.raw(&Message::Ack(m.clone()).encode()?),
            StreamMessage::Err(m) => w.raw(&Message::Err(m.clone()).encode()?),
        }
        w.finish()
    }

    /// The stream payload as Go writes it: compressed whenever compression is on,
    /// even when that makes it longer. Encrypt it with
    /// [`super::crypto::encrypt_stream`] when a keyring is in use.
    pub fn encode_stream(&self, compress: bool) -> Result<Vec<u8>> {
        let payload = self.encode()?;
        if compress {
            self::compress(&payload)
        } else {
            Ok(payload)
        }
    }

    /// Decodes a stream payload (after decryption), compressed or not, giving at
    /// most `max_decompressed` bytes of decompressed data.
    ///
    /// A [`WireError::Truncated`] error means the payload is a correct beginning:
    /// a reader of a plaintext stream reads more and tries again.
    pub fn decode(payload: &[u8], max_decompressed: usize) -> Result<Self> {
        match payload.first() {
            Some(&COMPRESS) => {
                // Go decompresses one level only; what is inside is read as the
                // real payload.
                let inner = decompress(payload, max_decompressed)?;
                Self::decode_plain(&inner)
            }
            _ => Self::decode_plain(payload),
        }
    }

    /// Decodes an uncompressed payload.
    fn decode_plain(payload: &[u8]) -> Result<Self> {
        let ty = *payload.first().ok_or(WireError::Empty {
            what: "stream payload",
        })?;
        let mut r = Reader::at(payload, 1);
        Ok(match ty {
            PUSH_PULL => {
                let header = PushPullHeader::read(&mut r)?;
                // Every node state takes at least one byte, so the capacity is
                // bounded by the input, not by the announced count.
                let mut nodes = Vec::with_capacity(
                    (header.nodes as usize).min(r.rest().len()),
                );
                for _ in 0..header.nodes {
                    nodes.push(PushNodeState::read(&mut r)?);
                }
                let user_state = r.take(header.user_state_len.into(), "push/pull user state")?;
                StreamMessage::PushPull(PushPull {
                    join: header.join,
                    nodes,
                    user_state: user_state.to_vec(),
                })
            }
            USER => {
                let header = UserMsgHeader::read(&mut r)?;
                StreamMessage::User(r.take(header.user_msg_len.into(), "user message")?.to_vec())
            }
            PING | ACK | ERR => match Message::decode(payload)? {
                Message::Ping(m) => StreamMessage::Ping(m),
                Message::Ack(m) => StreamMessage::Ack(m),
                Message::Err(m) => StreamMessage::Err(m),
                other => {
                    return Err(WireError::UnexpectedType {
                        ty: other.message_type(),
                        context: "as a stream message",
                    })
                }
            },
            ENCRYPT => {
                return Err(WireError::UnexpectedType {
                    ty,
                    context: "in a plaintext stream (Remote state is encrypted: decrypt it with crypto::decrypt_stream first)",
                })
            }
            COMPRESS => {
                return Err(WireError::UnexpectedType {
                    ty,
                    context: "inside a compressed stream (streams are compressed once)",
                })
            }
            _ => {
                return Err(WireError::UnexpectedType {
                    ty,
                    context: "as a stream message (Received invalid msgType)",
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::memberlist::Nack;
    use super::*;

    #[test]
    fn compound_limits() {
        let parts = vec![vec![11u8, 0x80]; 128];
        assert_eq!(
            encode_compound(&parts),
            Err(WireError::TooManyParts { parts: 128 })
        );
        assert_eq!(encode_compound(&parts[..127]).unwrap()[1], 127);
        let long = vec![vec![8u8; 65536]];
        assert!(matches!(
            encode_compound(&long),
            Err(WireError::TooLong { .. })
        ));
        let empty: [&[u8]; 0] = [];
        assert_eq!(encode_compound(&empty).unwrap(), [7, 0]);
    }

    #[test]
    fn compound_keeps_complete_parts_and_counts_truncated_ones() {
        let nack = [11u8, 0x81, 0xa5, b'S', b'e', b'q', b'N', b'o', 1];
        let msg = encode_compound(&[&nack[..], &nack[..], &nack[..]]).unwrap();
        // Cut into the second part: one complete, two truncated.
        let cut = &msg[..8 + nack.len() + 3];
        let c = decode_compound(cut).unwrap();
        assert_eq!((c.parts.len(), c.truncated), (1, 2));
        let un = decode_packet(cut, 0).unwrap();
        assert_eq!((un.messages.len(), un.truncated), (1, 2));
        // Length beyond the data.
        let c = decode_compound(&[7, 1, 0xff, 0xff, 11]).unwrap();
        assert_eq!((c.parts.len(), c.truncated), (0, 1));
        // Length table itself cut short.
        assert_eq!(
            decode_compound(&[7, 3, 0, 1]),
            Err(WireError::CompoundHeader {
                parts: 3,
                available: 2
            })
        );
        assert!(decode_compound(&[7]).unwrap_err().is_truncated());
        assert!(decode_compound(&[8]).is_err());
        assert!(decode_compound(&[]).is_err());
    }

    #[test]
    fn crc_is_checked() {
        let msg = [11u8, 0x81, 0xa5, b'S', b'e', b'q', b'N', b'o', 1];
        let mut packet = add_crc(&msg);
        assert_eq!(strip_crc(&packet), Ok(&msg[..]));
        assert_eq!(strip_crc(&msg), Ok(&msg[..]));
        *packet.last_mut().unwrap() = 2;
        assert!(matches!(
            strip_crc(&packet),
            Err(WireError::CrcMismatch { .. })
        ));
        assert!(matches!(
            decode_packet(&packet, 0),
            Err(WireError::CrcMismatch { .. })
        ));
        assert!(strip_crc(&[12, 0, 0]).unwrap_err().is_truncated());
        // A CRC header is only recognised at the start.
        let inner = encode_compound(&[add_crc(&msg)]).unwrap();
        let un = decode_packet(&inner, 0).unwrap();
        assert!(matches!(
            un.errors[..],
            [WireError::UnexpectedType { ty: 12, .. }]
        ));
    }

    #[test]
    fn unknown_compression_algorithm_is_refused() {
        let bogus = Compress {
            algo: 1,
            buf: vec![0, 3, 2],
        }
        .encode()
        .unwrap();
        assert_eq!(
            decompress(&bogus, 100),
            Err(WireError::UnknownAlgo { algo: 1 })
        );
        let un = decode_packet(&bogus, 100).unwrap();
        assert_eq!(un.errors, [WireError::UnknownAlgo { algo: 1 }]);
        assert_eq!(
            StreamMessage::decode(&bogus, 100),
            Err(WireError::UnknownAlgo { algo: 1 })
        );
    }

    #[test]
    fn packets_are_compressed_only_when_smaller() {
        let nack = Message::Nack(Nack { seq_no: 1 }).encode().unwrap();
        let opts = PacketOptions {
            compress: true,
            crc: false,
        };
        assert_eq!(encode_packet(&[&nack], opts).unwrap(), nack);
        let big = Message::User(vec![b'z'; 1000]).encode().unwrap();
        let packet = encode_packet(&[&big], opts).unwrap();
        assert_eq!(packet[0], COMPRESS);
        assert!(packet.len() < big.len());
        let un = decode_packet(&packet, 1000).unwrap();
        assert_eq!(un.errors, [WireError::TooLarge { limit: 1000 }]);
        let un = decode_packet(&packet, 1001).unwrap();
        assert_eq!(un.messages, [Message::User(vec![b'z'; 1000])]);
    }

    #[test]
    fn wrapper_nesting_is_bounded() {
        let mut msg = Message::Nack(Nack { seq_no: 1 }).encode().unwrap();
        for _ in 0..MAX_WRAPPER_DEPTH {
            msg = encode_compound(&[&msg]).unwrap();
        }
        assert_eq!(decode_packet(&msg, 0).unwrap().messages.len(), 1);
        let msg = encode_compound(&[&msg]).unwrap();
        let un = decode_packet(&msg, 0).unwrap();
        assert_eq!(
            un.errors,
            [WireError::NestedTooDeep {
                limit: MAX_WRAPPER_DEPTH
            }]
        );
    }

    #[test]
    fn udp_refuses_stream_only_types() {
        for ty in [PUSH_PULL, ENCRYPT, ERR, 14, 244] {
            let un = decode_packet(&[ty, 0x80], 0).unwrap();
            assert_eq!(un.messages, []);
            assert!(
                matches!(un.errors[..], [WireError::UnexpectedType { .. }]),
                "{ty}"
            );
        }
        assert_eq!(
            decode_packet(&[], 0),
            Err(WireError::Empty { what: "packet" })
        );
        let un = decode_packet(&[7, 1, 0, 0], 0).unwrap();
        assert_eq!(un.errors, [WireError::Empty { what: "message" }]);
    }

    #[test]
    fn streams_round_trip_and_report_truncation() {
        let user = StreamMessage::User(b"abc".to_vec());
        let plain = user.encode().unwrap();
        assert_eq!(&plain[plain.len() - 3..], b"abc");
        assert_eq!(StreamMessage::decode(&plain, 0), Ok(user.clone()));
        assert!(StreamMessage::decode(&plain[..plain.len() - 1], 0)
            .unwrap_err()
            .is_truncated());
        let packed = user.encode_stream(true).unwrap();
        assert_eq!(packed[0], COMPRESS);
        assert_eq!(StreamMessage::decode(&packed, 100), Ok(user));
        let err = StreamMessage::Err(ErrResp {
            error: "boom".into(),
        });
        assert_eq!(
            StreamMessage::decode(&err.encode_stream(false).unwrap(), 0),
            Ok(err)
        );
        let doubly = compress(&compress(&plain).unwrap()).unwrap();
        assert!(StreamMessage::decode(&doubly, 1000).is_err());
        assert!(StreamMessage::decode(&[ENCRYPT, 0, 0, 0, 1], 0).is_err());
        assert!(StreamMessage::decode(&[NACK, 0x80], 0).is_err());
        assert!(StreamMessage::decode(&[], 0).is_err());
        // A header announcing far more nodes than there are bytes.
        let hdr = PushPullHeader {
            join: false,
            nodes: u32::MAX,
            user_state_len: 0,
        };
        let bytes = hdr.encode().unwrap();
        assert!(StreamMessage::decode(&bytes, 0).unwrap_err().is_truncated());
    }
}
