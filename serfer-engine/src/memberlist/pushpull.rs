//! Streams: push/pull anti-entropy and join, the TCP ping, reliable user
//! messages; their encryption and the protocol-version check before a merge.
//!
//! Gossip converges with high probability but not certainly; push/pull closes
//! the gap: every so often a node swaps its whole member table with one random
//! peer, and a joining node gets the whole table of the node it joins through.

use std::net::SocketAddr;
use std::time::Duration;

use rand::RngCore;
use serfer_wire::crypto::{self, Version, NONCE_LEN};
use serfer_wire::frame::{PushPull, StreamMessage};
use serfer_wire::memberlist::{
    Ack, Alive, Dead, ErrResp, NodeState, PushNodeState, Suspect, ENCRYPT,
};

use super::state::MemberState;
use super::{Memberlist, Output, StreamError, StreamOutcome};
use crate::Instant;

/// Cluster size above which the push/pull period grows.
const PUSH_PULL_SCALE_THRESHOLD: usize = 32;

/// Go's `pushPullScale`: the period times `ceil(log2(n) − log2(32)) + 1` once
/// `n` exceeds 32, so the total push/pull load grows like `n log n`, not `n²`.
pub(crate) fn push_pull_scale(interval: Duration, n: usize) -> Duration {
    if n <= PUSH_PULL_SCALE_THRESHOLD {
        return interval;
    }
    let mult = ((n as f64).log2() - (PUSH_PULL_SCALE_THRESHOLD as f64).log2()).ceil() + 1.0;
    interval.saturating_mul(mult as u32)
}

impl Memberlist {
    /// A stream payload as Go writes it: compressed whenever compression is on,
    /// then encrypted with the primary key.
    pub(crate) fn encode_stream(&mut self, msg: &StreamMessage) -> Option<Vec<u8>> {
        let payload = msg.encode_stream(self.config.enable_compression).ok()?;
        match (
            self.config.encrypt_outgoing(),
            self.config.keyring.primary(),
        ) {
            (true, Some(key)) => {
                let mut nonce = [0u8; NONCE_LEN];
                self.rng.fill_bytes(&mut nonce);
                crypto::encrypt_stream_with_nonce(Version::V1, key, &nonce, &payload).ok()
            }
            _ => Some(payload),
        }
    }

    /// This node's whole state as a push/pull stream.
    pub(crate) fn encode_local_state(&mut self, join: bool) -> Option<Vec<u8>> {
        let msg = StreamMessage::PushPull(PushPull {
            join,
            nodes: self.members.iter().map(|m| m.to_push()).collect(),
            user_state: self.push_pull_state.clone(),
        });
        self.encode_stream(&msg)
    }

    /// One anti-entropy round with a random alive peer.
    pub(crate) fn periodic_push_pull(&mut self) {
        let me = self.config.name.clone();
        let peer = self.members.k_random(1, &mut self.rng, |m| {
            m.name != me && m.state == MemberState::Alive
        });
        let Some(to) = peer
            .first()
            .and_then(|&i| self.members.at(i))
            .map(|m| m.addr)
        else {
            return;
        };
        if let Some(bytes) = self.encode_local_state(false) {
            self.outputs.push_back(Output::PushPull {
                to,
                bytes,
                join: false,
            });
        }
    }

    /// Decrypts a stream if it should be, or refuses it. `Ok(None)` means more
    /// bytes are needed.
    fn open_stream(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>, StreamError> {
        let Some(&first) = bytes.first() else {
            return Ok(None);
        };
        let keys = self.config.keyring.keys();
        if first == ENCRYPT {
            if keys.is_empty() {
                return Err(StreamError::UnexpectedEncryption);
            }
            if bytes.len() < crypto::STREAM_HEADER_LEN {
                return Ok(None);
            }
            let len = crypto::stream_frame_len(bytes).map_err(StreamError::Wire)?;
            if bytes.len() < crypto::STREAM_HEADER_LEN + len {
                return Ok(None);
            }
            return crypto::decrypt_stream(keys, bytes)
                .map(Some)
                .map_err(|_| StreamError::Decrypt);
        }
        if !keys.is_empty() && self.config.gossip_verify_incoming {
            return Err(StreamError::NotEncrypted);
        }
        Ok(Some(bytes.to_vec()))
    }

    /// Decodes a whole stream message from what has been read so far.
    fn read_stream(&self, bytes: &[u8]) -> Result<Option<StreamMessage>, StreamError> {
        let Some(payload) = self.open_stream(bytes)? else {
            return Ok(None);
        };
        let encrypted = bytes.first() == Some(&ENCRYPT);
        match StreamMessage::decode(&payload, self.config.max_decompressed) {
            Ok(msg) => Ok(Some(msg)),
            // A plaintext stream has no length: a truncated message is a prefix,
            // unless it is already longer than anything Go would send.
            Err(e) if e.is_truncated() && !encrypted && bytes.len() <= crypto::MAX_STREAM_FRAME => {
                Ok(None)
            }
            Err(e) => Err(StreamError::Wire(e)),
        }
    }

    /// Handles a stream another node opened: answers a push/pull with this
    /// node's state (before merging theirs, as Go does), a TCP ping with an
    /// ack, and takes a reliable user message. A stream that cannot be read is
    /// answered with an `err` message.
    pub fn handle_stream(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> StreamOutcome {
        let msg = match self.read_stream(bytes) {
            Ok(Some(msg)) => msg,
            Ok(None) => return StreamOutcome::NeedMore,
            Err(e) => {
                self.stats.streams_refused += 1;
                tracing::warn!("refused a stream from {from}: {e}");
                let reply = StreamMessage::Err(ErrResp {
                    error: e.to_string(),
                });
                return match self.encode_stream(&reply) {
                    Some(bytes) => StreamOutcome::Reply(bytes),
                    None => StreamOutcome::Done,
                };
            }
        };
        let outcome = match msg {
            StreamMessage::PushPull(remote) => {
                let reply = self.encode_local_state(remote.join);
                if let Err(e) = self.merge_remote_state(now, from, remote) {
                    self.stats.streams_refused += 1;
                    tracing::error!("Failed push/pull merge with {from}: {e}");
                }
                match reply {
                    Some(bytes) => StreamOutcome::Reply(bytes),
                    None => StreamOutcome::Done,
                }
            }
            StreamMessage::Ping(p) => {
                if !p.node.is_empty() && p.node != self.config.name {
                    StreamOutcome::Done
                } else {
                    let ack = StreamMessage::Ack(Ack {
                        seq_no: p.seq_no,
                        payload: None,
                    });
                    match self.encode_stream(&ack) {
                        Some(bytes) => StreamOutcome::Reply(bytes),
                        None => StreamOutcome::Done,
                    }
                }
            }
            StreamMessage::User(bytes) => {
                if !bytes.is_empty() {
                    self.outputs.push_back(Output::UserData { from, bytes });
                }
                StreamOutcome::Done
            }
            StreamMessage::Ack(_) | StreamMessage::Err(_) => StreamOutcome::Done,
        };
        self.report_finished_broadcasts();
        outcome
    }

    /// Handles the answer to an [`Output::PushPull`] (`join` as the output
    /// said): merges the peer's state. `Ok(StreamOutcome::NeedMore)` asks for
    /// more bytes; `Ok(Done)` means merged.
    pub fn handle_push_pull_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        join: bool,
    ) -> Result<StreamOutcome, StreamError> {
        let result = match self.read_stream(bytes) {
            Ok(None) => return Ok(StreamOutcome::NeedMore),
            Ok(Some(StreamMessage::PushPull(remote))) => self
                .merge_remote_state(now, from, remote)
                .map(|()| StreamOutcome::Done),
            Ok(Some(StreamMessage::Err(e))) => Err(StreamError::Remote(e.error)),
            Ok(Some(_)) => Err(StreamError::Unexpected("expected a push/pull reply")),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            self.stats.streams_refused += 1;
            // As Go: a failed join is the joiner's error to report (debug
            // here); a failed periodic exchange is nobody else's.
            if join {
                tracing::debug!("Failed to join {from}: {e}");
            } else {
                tracing::error!("Push/Pull with {from} failed: {e}");
            }
        }
        self.report_finished_broadcasts();
        result
    }

    /// Handles the answer to an [`Output::StreamPing`].
    pub fn handle_stream_ping_reply(
        &mut self,
        _now: Instant,
        _from: SocketAddr,
        bytes: &[u8],
    ) -> Result<StreamOutcome, StreamError> {
        match self.read_stream(bytes)? {
            None => Ok(StreamOutcome::NeedMore),
            Some(StreamMessage::Ack(ack)) => {
                self.stream_ping_answered(&ack);
                Ok(StreamOutcome::Done)
            }
            Some(StreamMessage::Err(e)) => Err(StreamError::Remote(e.error)),
            Some(_) => Err(StreamError::Unexpected("expected an ack")),
        }
    }

    /// Merges a peer's member table after checking versions. Remote alive and
    /// left states are taken as such; remote dead and suspect become a
    /// suspicion of this node's own, never an instant death, so that one
    /// node's stale view cannot kill a healthy node.
    ///
    /// That suspicion is kept quiet ([`Memberlist::suspect_from_push_pull`]):
    /// it is neither gossiped nor counted as a confirmation. Go's memberlist
    /// gossips it in the merging node's name, and that makes it look like
    /// independent evidence: the node that first suspected counts it as a
    /// confirmation of its own suspicion. A node back from an isolation then
    /// fails healthy nodes with the suspicions it raised while cut off as
    /// soon as a push/pull partner hands them back, its timer being older
    /// than the shortened timeout: in the simulator, a node cut off for 10 s
    /// six times did so in about half of the seeds. (Naming the partner as
    /// the accuser is not enough: a push/pull state does not say who accused,
    /// and the partner may have merged it in turn.)
    fn merge_remote_state(
        &mut self,
        now: Instant,
        from: SocketAddr,
        remote: PushPull,
    ) -> Result<(), StreamError> {
        self.verify_protocol(&remote.nodes)?;
        for r in remote.nodes {
            match r.state {
                NodeState::Alive => {
                    let port = if r.port == 0 {
                        self.config.advertise.port()
                    } else {
                        r.port
                    };
                    let alive = Alive {
                        incarnation: r.incarnation,
                        node: r.name,
                        addr: r.addr,
                        port,
                        meta: r.meta,
                        vsn: r.vsn,
                    };
                    self.alive_node(now, alive, false);
                }
                NodeState::Left => {
                    let dead = Dead {
                        incarnation: r.incarnation,
                        node: r.name.clone(),
                        from: r.name,
                    };
                    self.dead_node(now, dead);
                }
                NodeState::Dead | NodeState::Suspect => {
                    let suspect = Suspect {
                        incarnation: r.incarnation,
                        node: r.name,
                        from: self.config.name.clone(),
                    };
                    self.suspect_from_push_pull(now, suspect);
                }
                NodeState::Other(_) => {}
            }
        }
        if !remote.user_state.is_empty() {
            self.outputs.push_back(Output::RemoteState {
                from,
                join: remote.join,
                bytes: remote.user_state,
            });
        }
        Ok(())
    }

    /// Go's `verifyProtocol`: every node, remote and local, must speak a
    /// protocol and delegate version inside the range all alive nodes
    /// understand.
    fn verify_protocol(&self, remote: &[PushNodeState]) -> Result<(), StreamError> {
        let (mut max_pmin, mut min_pmax, mut max_dmin, mut min_dmax) = (0u8, u8::MAX, 0u8, u8::MAX);
        let mut widen = |v: &[u8; 6]| {
            max_pmin = max_pmin.max(v[0]);
            min_pmax = min_pmax.min(v[1]);
            max_dmin = max_dmin.max(v[3]);
            min_dmax = min_dmax.min(v[4]);
        };
        for r in remote.iter().filter(|r| r.state == NodeState::Alive) {
            if let Some(v) = &r.vsn {
                widen(v);
            }
        }
        for m in self
            .members
            .iter()
            .filter(|m| m.state == MemberState::Alive)
        {
            widen(&m.vsn);
        }
        let check = |name: &str, pcur: u8, dcur: u8| {
            if pcur < max_pmin || pcur > min_pmax {
                return Err(StreamError::Incompatible(format!(
                    "Node '{name}' protocol version ({pcur}) is incompatible: [{max_pmin}, {min_pmax}]"
                )));
            }
            if dcur < max_dmin || dcur > min_dmax {
                return Err(StreamError::Incompatible(format!(
                    "Node '{name}' delegate protocol version ({dcur}) is incompatible: [{max_dmin}, {min_dmax}]"
                )));
            }
            Ok(())
        };
        for r in remote {
            let (pcur, dcur) = r.vsn.map_or((0, 0), |v| (v[2], v[5]));
            check(&r.name, pcur, dcur)?;
        }
        for m in self.members.iter() {
            check(&m.name, m.vsn[2], m.vsn[5])?;
        }
        Ok(())
    }
}
