//! The translation of whole packets and stream messages, on bytes: what the
//! transport does between memberlist-core and the sockets, without the sockets.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use crate::engine::serf_rs::trailer::{self, TRAILER_LEN, TRAILER_MARK};
use crate::engine::serf_rs::translate::memberlist::{encode_rs, GoMsg, Local, RsMsg, Translator};
use crate::engine::serf_rs::translate::packet;
use crate::engine::serf_rs::translate::serf::RsSerfMessage;
use crate::engine::serf_rs::translate::serf_msg::SerfTranslator;
use serfer_wire::crypto::{self, Version};
use serfer_wire::error::{Result, WireError};
use serfer_wire::frame::{self, PacketOptions, StreamMessage};
use serfer_wire::memberlist::{self as go, ENCRYPT};
use serfer_wire::serf::SerfMessage;

/// Go's `UDPBufferSize`: no packet it sends is larger, and its gossip fills
/// packets up to it.
pub const UDP_BUFFER_SIZE: usize = 1400;

/// Bytes AES-GCM version 1 adds to a packet: version, nonce and tag.
const ENCRYPTION_OVERHEAD: usize = 1 + crypto::NONCE_LEN + crypto::TAG_LEN;

/// Bytes the CRC header adds.
const CRC_OVERHEAD: usize = 5;

/// Largest decompressed packet or stream payload accepted: far above any real
/// push/pull, well below what a decompression bomb would allocate.
pub const MAX_DECOMPRESSED: usize = 32 << 20;

/// Largest plaintext stream message read before giving up on the peer.
pub const MAX_STREAM_MESSAGE: usize = crypto::MAX_STREAM_FRAME + crypto::STREAM_HEADER_LEN;

/// Largest serf-rs packet handed to memberlist-core; it decodes whatever it
/// gets, so this only bounds one allocation.
const MAX_RS_PACKET: usize = 64 * 1024;

/// The translation state of one node: both translators (one pair for both
/// directions, since responses are matched to the queries seen going the
/// other way) and the keyring.
#[derive(Debug)]
pub struct GoWire {
    ml: Translator,
    serf: SerfTranslator,
    keys: KeyRing,
    compress: bool,
}

/// Where a keyring comes from.
enum KeySource {
    /// Keys given once (tests, and a node until its engine exists).
    Fixed(Vec<Vec<u8>>),
    /// Read at every use: memberlist-core's keyring, which Serf's key
    /// manager changes when `serf keys install/use/remove` runs.
    Live(Box<dyn Fn() -> Vec<Vec<u8>> + Send + Sync>),
}

/// The keys a [`GoWire`] encrypts with (the first) and decrypts with (all),
/// shared between the node that rotates them and the wire that uses them.
#[derive(Clone)]
pub struct KeyRing(Arc<RwLock<KeySource>>);

impl KeyRing {
    /// A keyring holding `keys`, primary first; empty for plaintext.
    pub fn fixed(keys: Vec<Vec<u8>>) -> Self {
        KeyRing(Arc::new(RwLock::new(KeySource::Fixed(keys))))
    }

    /// From now on, reads the keys from `source` at every use. A node calls
    /// this once its engine exists, handing over the engine's own keyring,
    /// which always holds at least its primary key.
    pub fn follow(&self, source: impl Fn() -> Vec<Vec<u8>> + Send + Sync + 'static) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = KeySource::Live(Box::new(source));
    }

    /// The keys now, primary first.
    pub fn get(&self) -> Vec<Vec<u8>> {
        match &*self.0.read().unwrap_or_else(|p| p.into_inner()) {
            KeySource::Fixed(keys) => keys.clone(),
            KeySource::Live(source) => source(),
        }
    }

    /// True when there is no key: a plaintext wire. Asked for every packet
    /// (memberlist-core's `packet_secure`), so it copies no key; a followed
    /// keyring is never empty.
    pub fn is_empty(&self) -> bool {
        match &*self.0.read().unwrap_or_else(|p| p.into_inner()) {
            KeySource::Fixed(keys) => keys.is_empty(),
            KeySource::Live(_) => false,
        }
    }

    #[cfg(test)]
    fn set(&self, keys: Vec<Vec<u8>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = KeySource::Fixed(keys);
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key bytes.
        write!(f, "KeyRing({} keys)", self.get().len())
    }
}

impl GoWire {
    /// The wire of node `local`, encrypting with `keys` (the first is the
    /// primary; none means plaintext) and compressing what Go compresses when
    /// `compress` is set.
    #[cfg(test)]
    pub fn new(local: Local, keys: Vec<Vec<u8>>, compress: bool) -> Result<Self> {
        Self::with_keyring(local, KeyRing::fixed(keys), compress)
    }

    /// As [`GoWire::new`], with a keyring that may change later.
    pub fn with_keyring(local: Local, keys: KeyRing, compress: bool) -> Result<Self> {
        check_keys(&keys.get())?;
        Ok(GoWire {
            ml: Translator::new(local),
            serf: SerfTranslator::new(),
            keys,
            compress,
        })
    }

    /// Replaces the keyring (after a key rotation), keeping the old one if any
    /// key is unusable.
    #[cfg(test)]
    pub fn set_keys(&self, keys: Vec<Vec<u8>>) -> Result<()> {
        check_keys(&keys)?;
        self.keys.set(keys);
        Ok(())
    }

    /// True when packets and streams are encrypted.
    pub fn encrypted(&self) -> bool {
        !self.keys.is_empty()
    }

    fn keys(&self) -> Vec<Vec<u8>> {
        self.keys.get()
    }

    /// The memberlist translator, with what it remembers of other nodes.
    #[cfg(test)]
    pub fn translator(&self) -> &Translator {
        &self.ml
    }

    /// The Go UDP packets for one packet serf-rs sends to `to`. A message that
    /// cannot be translated is logged and left out, so that it does not take
    /// the rest of a compound with it.
    pub fn packet_to_go(&self, rs_packet: &[u8], to: SocketAddr) -> Result<Vec<Vec<u8>>> {
        let mut messages = Vec::new();
        for msg in packet::split(rs_packet)? {
            match self
                .msg_to_go(msg)
                .and_then(|m| m.map(encode_go_packet_msg).transpose())
            {
                Ok(Some(bytes)) => messages.push(bytes),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(peer = %to, err = %e, "hashicorp wire: dropped an outgoing message")
                }
            }
        }
        let keys = self.keys();
        let options = PacketOptions {
            compress: self.compress,
            crc: self.wants_crc(to),
        };
        let budget = UDP_BUFFER_SIZE
            - if keys.is_empty() {
                0
            } else {
                ENCRYPTION_OVERHEAD
            }
            - if options.crc { CRC_OVERHEAD } else { 0 };
        pack(&messages, budget)
            .iter()
            .map(|parts| {
                let plain = frame::encode_packet(parts, options)?;
                match keys.first() {
                    Some(key) => crypto::encrypt_packet(Version::V1, key, &plain),
                    None => Ok(plain),
                }
            })
            .collect()
    }

    /// Go adds a CRC only for nodes whose `PMax` ≥ 5 (and only when it can look
    /// them up by name); every Go receiver since then checks it.
    fn wants_crc(&self, to: SocketAddr) -> bool {
        let peers = self.ml.peers();
        peers
            .name_at(to)
            .is_some_and(|name| peers.vsn(&name)[1] >= 5)
    }

    /// The serf-rs packets for one Go UDP packet from `from`. Messages that do
    /// not decode or translate are logged and dropped one by one, as Go drops
    /// them; the error is for a packet that is unusable as a whole.
    pub fn packet_to_rs(&self, go_packet: &[u8], from: SocketAddr) -> Result<Vec<Vec<u8>>> {
        let keys = self.keys();
        let plain;
        let body = if keys.is_empty() {
            go_packet
        } else {
            plain = crypto::decrypt_packet(&keys, go_packet)?;
            &plain[..]
        };
        let unpacked = frame::decode_packet(body, MAX_DECOMPRESSED)?;
        for e in &unpacked.errors {
            tracing::warn!(peer = %from, err = %e, "hashicorp wire: dropped an undecodable message");
        }
        if unpacked.truncated > 0 {
            tracing::warn!(peer = %from, parts = unpacked.truncated, "hashicorp wire: compound had truncated messages");
        }
        let msgs: Vec<RsMsg> = unpacked
            .messages
            .into_iter()
            .filter_map(|m| match self.msg_to_rs(GoMsg::Gossip(m), from) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(peer = %from, err = %e, "hashicorp wire: dropped an incoming message");
                    None
                }
            })
            .collect();
        if msgs.is_empty() {
            return Ok(Vec::new());
        }
        packet::join(&msgs, MAX_RS_PACKET)
    }

    /// The bytes to write on a stream for what serf-rs writes in one
    /// `Transport::write` (one message, in practice).
    pub fn stream_to_go(&self, rs_payload: &[u8]) -> Result<Vec<u8>> {
        let keys = self.keys();
        let mut out = Vec::new();
        for msg in packet::split(rs_payload)? {
            let Some(go) = self.msg_to_go(msg)? else {
                continue;
            };
            let payload = go.into_stream()?.encode_stream(self.compress)?;
            match keys.first() {
                Some(key) => out.extend(crypto::encrypt_stream(Version::V1, key, &payload)?),
                None => out.extend(payload),
            }
        }
        Ok(out)
    }

    /// Decodes the Go stream message at the start of `raw`: `None` while
    /// `raw` is a correct beginning that needs more bytes.
    pub fn decode_stream(&self, raw: &[u8]) -> Result<Option<StreamMessage>> {
        let Some(&first) = raw.first() else {
            return Ok(None);
        };
        let keys = self.keys();
        if first == ENCRYPT || !keys.is_empty() {
            if keys.is_empty() {
                return Err(WireError::UnexpectedType {
                    ty: first,
                    context: "on a stream of a node without keys (Remote state is encrypted and encryption is not configured: give this node the cluster's keys)",
                });
            }
            if raw.len() < crypto::STREAM_HEADER_LEN {
                // Checks the type byte early, so a plaintext peer is told at once.
                crypto::stream_frame_len(raw).map(|_| ()).or_else(|e| {
                    if e.is_truncated() {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
                return Ok(None);
            }
            let len = crypto::stream_frame_len(raw)?;
            if raw.len() < crypto::STREAM_HEADER_LEN + len {
                return Ok(None);
            }
            let plain = crypto::decrypt_stream(&keys, raw)?;
            // The frame is complete, so a short payload inside is broken, not early.
            return StreamMessage::decode(&plain, MAX_DECOMPRESSED).map(Some);
        }
        match StreamMessage::decode(raw, MAX_DECOMPRESSED) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.is_truncated() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A Go stream message from `from` as the bytes serf-rs reads.
    pub fn stream_to_rs(&self, msg: StreamMessage, from: SocketAddr) -> Result<Vec<u8>> {
        encode_rs(&self.msg_to_rs(GoMsg::from(msg), from)?)
    }

    /// serf-rs → Go for one message, Serf bodies included; `None` when the
    /// message is deliberately not sent (see [`GoWire::serf_to_go`]).
    pub fn msg_to_go(&self, msg: RsMsg) -> Result<Option<GoMsg>> {
        Ok(Some(match self.ml.to_go(msg)? {
            GoMsg::Gossip(go::Message::User(rs)) => match self.serf_to_go(&rs)? {
                Some(bytes) => GoMsg::Gossip(go::Message::User(bytes)),
                None => return Ok(None),
            },
            GoMsg::PushPull(mut p) => {
                if !p.user_state.is_empty() {
                    p.user_state = self.serf_to_go(&p.user_state)?.unwrap_or_default();
                }
                GoMsg::PushPull(p)
            }
            other => other,
        }))
    }

    /// Go → serf-rs for one message from `from`, Serf bodies included.
    pub fn msg_to_rs(&self, msg: GoMsg, from: SocketAddr) -> Result<RsMsg> {
        let msg = match msg {
            GoMsg::Gossip(go::Message::User(bytes)) => {
                GoMsg::Gossip(go::Message::User(self.serf_to_rs(&bytes)?))
            }
            GoMsg::PushPull(mut p) => {
                if !p.user_state.is_empty() {
                    p.user_state = self.serf_to_rs(&p.user_state)?;
                }
                GoMsg::PushPull(p)
            }
            other => other,
        };
        self.ml.to_rs(msg, from)
    }

    /// One serf-rs Serf message as Go bytes, with Serfer's own additions undone:
    /// event trailers are stripped, and a relayed response addressed back to its
    /// own responder (serf-core 0.5.2 relays responses to `resp.from` instead of
    /// the query's origin) is dropped (`None`): forwarded, it would only make
    /// the responder log "reply for non-running query", and the direct response
    /// still travels.
    pub fn serf_to_go(&self, rs: &[u8]) -> Result<Option<Vec<u8>>> {
        let msg = match RsSerfMessage::decode(rs)? {
            RsSerfMessage::UserEvent(mut e) => {
                e.payload = strip_trailer(e.payload);
                RsSerfMessage::UserEvent(e)
            }
            RsSerfMessage::PushPull(mut p) => {
                for slot in &mut p.events {
                    for e in &mut slot.events {
                        e.payload = strip_trailer(std::mem::take(&mut e.payload));
                    }
                }
                RsSerfMessage::PushPull(p)
            }
            RsSerfMessage::Relay(r) if is_misaddressed(&r.node.name, &r.inner) => {
                tracing::debug!(to = %r.node.name, "hashicorp wire: dropped a response relayed back to its responder");
                return Ok(None);
            }
            other => other,
        };
        self.serf.to_go(msg, self.ml.peers())?.encode().map(Some)
    }

    /// One Go Serf message as serf-rs bytes. Events get a trailer derived
    /// from the event, so Serfer's duplicate check tells apart equal events
    /// sent at different times but still drops copies of one event.
    pub fn serf_to_rs(&self, go_bytes: &[u8]) -> Result<Vec<u8>> {
        let msg = match self
            .serf
            .to_rs(SerfMessage::decode(go_bytes)?, self.ml.peers())?
        {
            RsSerfMessage::UserEvent(mut e) => {
                e.payload = add_trailer(e.ltime, &e.name, &e.payload);
                RsSerfMessage::UserEvent(e)
            }
            RsSerfMessage::PushPull(mut p) => {
                for slot in &mut p.events {
                    for e in &mut slot.events {
                        e.payload = add_trailer(slot.ltime, &e.name, &e.payload);
                    }
                }
                RsSerfMessage::PushPull(p)
            }
            other => other,
        };
        msg.encode()
    }
}

fn check_keys(keys: &[Vec<u8>]) -> Result<()> {
    for (index, key) in keys.iter().enumerate() {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(WireError::KeySize {
                index,
                len: key.len(),
            });
        }
    }
    Ok(())
}

fn is_misaddressed(to: &str, inner: &RsSerfMessage) -> bool {
    matches!(inner, RsSerfMessage::QueryResponse(r) if r.from.name == to)
}

fn encode_go_packet_msg(m: GoMsg) -> Result<Vec<u8>> {
    m.into_packet()?.encode()
}

fn strip_trailer(payload: Vec<u8>) -> Vec<u8> {
    let bytes = bytes::Bytes::from(payload);
    trailer::strip_trailer(&bytes).to_vec()
}

fn add_trailer(ltime: u64, name: &str, payload: &[u8]) -> Vec<u8> {
    // A payload that already ends in a trailer came from a Serfer node whose
    // transport does not strip it; adding another would change what Serfer
    // delivers.
    if payload.len() >= TRAILER_LEN && payload[payload.len() - 2..] == TRAILER_MARK {
        return payload.to_vec();
    }
    // SipHash with fixed keys: the same event gives the same nonce on every
    // path it arrives by.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    ltime.hash(&mut h);
    name.hash(&mut h);
    payload.hash(&mut h);
    trailer::with_trailer(payload, h.finish().to_be_bytes())
}

/// Groups encoded messages into packets of at most `budget` bytes: one message
/// alone, several in a compound (2 header bytes, 2 length bytes per part, at
/// most [`frame::MAX_COMPOUND_PARTS`]). A message over the budget goes alone
/// and is sent anyway, as Go does.
pub fn pack(messages: &[Vec<u8>], budget: usize) -> Vec<Vec<&[u8]>> {
    let mut packets = Vec::new();
    let mut current: Vec<&[u8]> = Vec::new();
    let mut size = 2;
    for m in messages {
        let grown = size + 2 + m.len();
        let fits = match current.len() {
            0 => true,
            n => grown <= budget && n < frame::MAX_COMPOUND_PARTS,
        };
        if !fits {
            packets.push(std::mem::take(&mut current));
            size = 2;
        }
        size += 2 + m.len();
        current.push(m);
    }
    if !current.is_empty() {
        packets.push(current);
    }
    packets
}
