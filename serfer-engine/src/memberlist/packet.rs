//! Packets in and out: framing, compression, CRC and encryption through
//! `serfer_wire`, and piggybacking of queued broadcasts.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use rand::RngCore;
use serfer_wire::crypto::{self, Version, NONCE_LEN};
use serfer_wire::frame::{self, PacketOptions};
use serfer_wire::memberlist::Message;

use super::broadcast::retransmit_limit;
use super::{Memberlist, Output, PacketError};
use crate::Instant;

/// Bytes of a compound's fixed header (type and count), as Go budgets it.
pub(crate) const COMPOUND_HEADER: usize = 2;
/// Bytes each compound part costs besides itself (its length).
pub(crate) const COMPOUND_PART: usize = 2;
/// A compound carries at most this many parts: Go 0.2.2 mis-parses 128 or more.
const MAX_PARTS: usize = frame::MAX_COMPOUND_PARTS;
/// Encryption overhead of version 1: version byte, nonce, tag.
const ENCRYPT_OVERHEAD: usize = 1 + NONCE_LEN + crypto::TAG_LEN;
/// Bytes a CRC adds (type and checksum). Go adds it beyond `UDPBufferSize`,
/// so a packet may be this much longer with one.
const CRC_OVERHEAD: usize = 5;
/// The most a gossip packet's budget grows for compression (4×): beyond it
/// the 127-part limit binds first for any message worth gossiping.
const MAX_COMPRESSION_PERMILLE: usize = 4000;

impl Memberlist {
    /// Bytes encryption adds to every packet, 0 without a keyring.
    pub(crate) fn encryption_overhead(&self) -> usize {
        if self.config.encrypt_outgoing() {
            ENCRYPT_OVERHEAD
        } else {
            0
        }
    }

    /// Takes queued broadcasts that fit in `limit` bytes, none longer than
    /// `max_len`, at most `max_parts` of them, for a packet that goes to
    /// `sends` nodes, each with how many of those nodes it may still go to
    /// (see [`super::broadcast::BroadcastQueue::take`]): memberlist's first,
    /// then the user's by priority (queued with their `user` type byte, which
    /// Go budgets as one more byte of overhead).
    pub(crate) fn take_broadcasts(
        &mut self,
        limit: usize,
        max_len: usize,
        max_parts: usize,
        sends: u32,
    ) -> Vec<(Arc<[u8]>, u32)> {
        let transmit_limit = retransmit_limit(self.config.retransmit_mult, self.members.len());
        let mut msgs = self.broadcasts.take(
            COMPOUND_PART,
            limit,
            max_len,
            transmit_limit,
            sends,
            max_parts,
        );
        for queue in &mut self.user_broadcasts {
            let used: usize = msgs.iter().map(|(m, _)| m.len() + COMPOUND_PART).sum();
            let avail = limit.saturating_sub(used);
            let room = max_parts.saturating_sub(msgs.len());
            if avail <= COMPOUND_PART + 1 || room == 0 {
                break;
            }
            msgs.extend(queue.take(COMPOUND_PART, avail, max_len, transmit_limit, sends, room));
        }
        msgs
    }

    /// Sends one message to an address, with as many queued broadcasts as fit
    /// piggybacked on it (Go's `sendMsg`). No CRC: Go looks the destination up
    /// by a name it does not have here, so these packets go without one.
    pub(crate) fn send_msg(&mut self, to: SocketAddr, msg: Vec<u8>) {
        let limit = self
            .config
            .udp_buffer_size
            .saturating_sub(msg.len() + COMPOUND_HEADER + self.encryption_overhead());
        let extra = self.take_broadcasts(limit, limit, MAX_PARTS - 1, 1);
        let mut msgs: Vec<Arc<[u8]>> = Vec::with_capacity(extra.len() + 1);
        msgs.push(msg.into());
        msgs.extend(extra.into_iter().map(|(m, _)| m));
        self.send_packet(to, false, &msgs);
    }

    /// Frames `msgs` (one as is, several as a compound), compresses if smaller,
    /// adds a CRC if asked, encrypts with the primary key, and emits the packet.
    pub(crate) fn send_packet<P: AsRef<[u8]>>(&mut self, to: SocketAddr, crc: bool, msgs: &[P]) {
        if let Some(plain) = self.frame(crc, msgs) {
            self.seal_and_emit(to, plain);
        }
    }

    /// The plaintext packet of `msgs`: framed, compressed if smaller, with a
    /// CRC if asked. Only impossible inputs fail (over 127 parts, a part over
    /// 64 KiB); dropping them is what Go does with a send error.
    fn frame<P: AsRef<[u8]>>(&self, crc: bool, msgs: &[P]) -> Option<Vec<u8>> {
        let options = PacketOptions {
            compress: self.config.enable_compression,
            crc,
        };
        frame::encode_packet(msgs, options).ok()
    }

    /// Sends a gossip round's `msgs` to one node in as few packets as keep
    /// each within `udp_buffer_size` once framed, compressed and encrypted:
    /// `msgs` may have been taken for a compressed budget (see
    /// [`Memberlist::gossip_budget`]), and a compound that compressed worse
    /// than expected is halved until its halves fit.
    pub(crate) fn send_gossip(&mut self, to: SocketAddr, crc: bool, msgs: &[Arc<[u8]>]) {
        let Some(plain) = self.frame(crc, msgs) else {
            return;
        };
        let fits = plain.len() + self.encryption_overhead()
            <= self.config.udp_buffer_size + if crc { CRC_OVERHEAD } else { 0 };
        if fits || msgs.len() < 2 {
            self.learn_compression(msgs, plain.len());
            self.seal_and_emit(to, plain);
        } else {
            self.stats.gossip_packets_split += 1;
            let (a, b) = msgs.split_at(msgs.len() / 2);
            self.send_gossip(to, crc, a);
            self.send_gossip(to, crc, b);
        }
    }

    /// How many raw bytes of broadcasts a gossip packet is filled with: Go's
    /// budget (`udp_buffer_size` less the headers), or, with compression on
    /// and [`super::Config::fill_compressed_packets`], that budget scaled by
    /// how well recent gossip packets compressed, less a tenth for the
    /// variance. Go's receivers take a compressed packet of any decompressed
    /// size (up to 127 parts), so a burst of similar events crosses in fewer
    /// rounds; a packet still never exceeds `udp_buffer_size` on the wire.
    pub(crate) fn gossip_budget(&self, limit: usize) -> usize {
        if !self.config.enable_compression || !self.config.fill_compressed_packets {
            return limit;
        }
        let scaled = limit * self.compression_permille as usize / 1000 * 9 / 10;
        scaled.max(limit)
    }

    /// Updates the compression estimate from a gossip packet of `msgs` whose
    /// framed form took `framed` bytes. Packets under half the budget say
    /// little about a full one and are ignored.
    fn learn_compression(&mut self, msgs: &[Arc<[u8]>], framed: usize) {
        let raw: usize =
            COMPOUND_HEADER + msgs.iter().map(|m| m.len() + COMPOUND_PART).sum::<usize>();
        if framed == 0 || raw < self.config.udp_buffer_size / 2 {
            return;
        }
        let seen = (raw * 1000 / framed).clamp(1000, MAX_COMPRESSION_PERMILLE);
        self.compression_permille = (self.compression_permille + seen as u32) / 2;
    }

    /// Encrypts `plain` with the primary key (when encrypting) and emits it.
    fn seal_and_emit(&mut self, to: SocketAddr, plain: Vec<u8>) {
        let bytes = match (
            self.config.encrypt_outgoing(),
            self.config.keyring.primary(),
        ) {
            (true, Some(key)) => {
                let mut nonce = [0u8; NONCE_LEN];
                self.rng.fill_bytes(&mut nonce);
                match crypto::encrypt_packet_with_nonce(Version::V1, key, &nonce, &plain) {
                    Ok(sealed) => sealed,
                    Err(_) => return,
                }
            }
            _ => plain,
        };
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        self.outputs.push_back(Output::Packet { to, bytes });
    }

    /// Handles one received datagram. Never panics; a packet that is dropped
    /// as a whole says why. Parts of a compound that fail to decode are counted
    /// in [`super::Stats::message_errors`] and the other parts still processed,
    /// as Go does.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), PacketError> {
        self.stats.packets_received += 1;
        let result = self.handle_packet_inner(now, from, bytes);
        if let Err(e) = &result {
            self.stats.packets_dropped += 1;
            tracing::warn!("dropped a packet from {from}: {e}");
        }
        self.report_finished_broadcasts();
        result
    }

    fn handle_packet_inner(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), PacketError> {
        let plain: Cow<'_, [u8]> = if self.config.keyring.is_empty() {
            Cow::Borrowed(bytes)
        } else {
            match crypto::decrypt_packet(self.config.keyring.keys(), bytes) {
                Ok(plain) => Cow::Owned(plain),
                // Go's GossipVerifyIncoming = false: take it as plaintext.
                Err(_) if !self.config.gossip_verify_incoming => Cow::Borrowed(bytes),
                Err(_) => return Err(PacketError::Decrypt { from }),
            }
        };
        let unpacked = frame::decode_packet(&plain, self.config.max_decompressed)
            .map_err(|source| PacketError::Frame { from, source })?;
        self.stats.message_errors += unpacked.errors.len() as u64;
        if unpacked.messages.is_empty() {
            if let Some(first) = unpacked.errors.first() {
                return Err(PacketError::Messages {
                    from,
                    count: unpacked.errors.len(),
                    first: first.clone(),
                });
            }
        }
        for msg in unpacked.messages {
            self.handle_message(now, from, msg);
        }
        Ok(())
    }

    /// Dispatches one decoded message.
    fn handle_message(&mut self, now: Instant, from: SocketAddr, msg: Message) {
        match msg {
            Message::Ping(p) => self.handle_ping(from, p),
            Message::IndirectPing(ind) => self.handle_indirect_ping(now, from, ind),
            Message::Ack(ack) => self.handle_ack(now, ack),
            Message::Nack(nack) => self.handle_nack(nack),
            Message::Suspect(s) => self.suspect_node(now, s),
            Message::Alive(mut a) => {
                // Go substitutes its own port for a missing one.
                if a.port == 0 {
                    a.port = self.config.advertise.port();
                }
                self.alive_node(now, a, false)
            }
            Message::Dead(d) => self.dead_node(now, d),
            Message::User(bytes) => {
                if !bytes.is_empty() {
                    self.outputs.push_back(Output::UserData { from, bytes });
                }
            }
            // Only meaningful as a stream reply.
            Message::Err(_) => {}
        }
    }
}
