//! The codec live against real HashiCorp `serf agent` processes on loopback (the
//! spec's §14.3 check, in Rust).
//!
//! [`Peer`] is a minimal, test-only gossip node built on nothing but this codec:
//! it joins with a push/pull, answers UDP and TCP probes, answers Serf queries,
//! answers the agents' periodic push/pulls, records every Serf message it
//! receives, and leaves gracefully. It keeps no membership table beyond the
//! addresses it needs to reply to, and never re-broadcasts: it exists to prove
//! that our encoders, decoders and framing are what Go speaks, before the real
//! transport is built.
//!
//! The agents are observed only through HashiCorp's own CLI (`serf members`,
//! `serf event`, `serf query`). Every wait is bounded polling; every agent is
//! killed by PID when its guard drops, and prints its log if the test failed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, Instant};

use super::crypto::{self, Version};
use super::frame::{self, PacketOptions, PushPull, StreamMessage};
use super::memberlist::{
    Ack, Alive, Dead, Message, NodeState, Ping, PushNodeState, COMPOUND, COMPRESS, ENCRYPT, HAS_CRC,
};
use super::serf::{
    self, Coordinate, Filter, LeaveIntent, Query, QueryResponse, SerfMessage, SerfPushPull,
    QUERY_FLAG_ACK,
};

/// HashiCorp's agent, from Debian's `serf` package.
use crate::testing::agent::{self, Agent, SERF};

/// `[PMin, PMax, PCur, DMin, DMax, DCur]` of a `serf agent` 0.9.4 (spec §8).
const VSN: [u8; 6] = [1, 5, 2, 2, 5, 5];

/// Go's `TCPTimeout` in the LAN profile: the deadline of one stream exchange.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on what any one packet or stream may decompress to. Real ones are a
/// few KiB; this only keeps a broken peer from exhausting memory.
const MAX_DECOMPRESSED: usize = 4 << 20;

/// Go's UDP receive buffer.
const UDP_BUFFER: usize = 65536;

/// Slots in Serf's user-event ring, all sent in a push/pull (spec §9.6).
const EVENT_SLOTS: usize = 512;

/// The longest any condition is waited for.
pub(super) const BOUND: Duration = Duration::from_secs(30);

/// Pause between two checks of a polled condition.
const POLL: Duration = Duration::from_millis(250);

// ---------------------------------------------------------------------------
// The test-only peer
// ---------------------------------------------------------------------------

/// Who the peer is.
struct PeerConfig {
    name: String,
    tags: BTreeMap<String, String>,
    /// AES key of the cluster; `None` for a plaintext cluster.
    key: Option<Vec<u8>>,
    /// What the peer answers to every (non-internal) query.
    query_response: Vec<u8>,
    /// Whether UDP pings are acked. Without, agents fall back to TCP pings.
    udp_acks: bool,
}

impl PeerConfig {
    fn new(name: &str) -> Self {
        PeerConfig {
            name: name.to_owned(),
            tags: BTreeMap::from([("role".to_owned(), "rust".to_owned())]),
            key: None,
            query_response: format!("{name} is fine").into_bytes(),
            udp_acks: true,
        }
    }

    fn with_key(mut self, key: &[u8]) -> Self {
        self.key = Some(key.to_vec());
        self
    }
}

/// What the peer has seen, for the tests' assertions and for the report.
#[derive(Debug, Clone, Default)]
struct Stats {
    /// UDP packets received.
    packets: u64,
    /// Of those, packets whose outermost wrapper (after decryption) was a CRC,
    /// a compress or a compound (the latter two counted after the CRC).
    with_crc: u64,
    compressed: u64,
    compound: u64,
    /// UDP packets sent, and how many of them LZW made shorter.
    sent: u64,
    sent_compressed: u64,
    /// Pings answered, per `SourceNode` of the prober.
    pings_from: BTreeMap<String, u64>,
    /// Indirect pings received (ignored, see [`Shared::handle_message`]).
    indirect_pings: u64,
    /// Stream exchanges the agents started: push/pulls and TCP pings answered.
    push_pulls: u64,
    tcp_pings: u64,
    /// Suspect or dead claims about the peer, each refuted. With the peer acking
    /// every probe there should be none.
    accusations: u64,
    /// Everything that failed to decode, encode or send. Must stay empty.
    errors: Vec<String>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} packets received ({} with CRC, {} compressed, {} compound), {} sent \
             ({} compressed), pings answered {:?}, {} indirect pings, {} push/pulls and \
             {} TCP pings answered, {} accusations, {} errors",
            self.packets,
            self.with_crc,
            self.compressed,
            self.compound,
            self.sent,
            self.sent_compressed,
            self.pings_from,
            self.indirect_pings,
            self.push_pulls,
            self.tcp_pings,
            self.accusations,
            self.errors.len()
        )
    }
}

/// The peer's mutable state.
struct State {
    incarnation: u32,
    /// Serf's member (intent) clock.
    member_clock: u64,
    leaving: bool,
    /// Addresses of the nodes the peer has heard of, to send refutations to.
    known: BTreeMap<String, SocketAddr>,
    /// `(LTime, ID)` of the queries already answered: gossip delivers each
    /// query several times.
    answered: HashSet<(u64, u32)>,
    /// Sequence number of the peer's last own ping.
    seq_no: u32,
    /// The peer's UDP pings waiting for their ack, by sequence number.
    waiting_acks: HashMap<u32, oneshot::Sender<Ack>>,
    stats: Stats,
}

/// What the peer's tasks share.
struct Shared {
    name: String,
    tags: BTreeMap<String, String>,
    /// `ff ‖ msgpack(tags)`, the node meta.
    meta: Vec<u8>,
    key: Option<Vec<u8>>,
    addr: SocketAddr,
    udp: UdpSocket,
    /// `01 ‖ msgpack(initial coordinate)`: the payload of every UDP ack.
    ping_payload: Vec<u8>,
    query_response: Vec<u8>,
    udp_acks: bool,
    messages: mpsc::UnboundedSender<SerfMessage>,
    state: Mutex<State>,
}

/// A minimal gossip node on 127.0.0.1, speaking through the codec only. Its
/// tasks are aborted when it is dropped.
struct Peer {
    shared: Arc<Shared>,
    messages: mpsc::UnboundedReceiver<SerfMessage>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Peer {
    /// Binds UDP and TCP on one free port and starts answering.
    async fn start(config: PeerConfig) -> Peer {
        let (listener, udp) = bind_gossip_port().await;
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            meta: serf::encode_tags(&config.tags).expect("tags encode"),
            name: config.name,
            tags: config.tags,
            key: config.key,
            addr,
            udp,
            ping_payload: serf::encode_ping_payload(&Coordinate::initial())
                .expect("coordinate encodes"),
            query_response: config.query_response,
            udp_acks: config.udp_acks,
            messages: tx,
            state: Mutex::new(State {
                incarnation: 1,
                member_clock: 1,
                leaving: false,
                known: BTreeMap::new(),
                answered: HashSet::new(),
                seq_no: 0,
                waiting_acks: HashMap::new(),
                stats: Stats::default(),
            }),
        });
        let tasks = vec![
            tokio::spawn(udp_loop(shared.clone())),
            tokio::spawn(accept_loop(shared.clone(), listener)),
        ];
        Peer {
            shared,
            messages: rx,
            tasks,
        }
    }

    fn name(&self) -> &str {
        &self.shared.name
    }

    fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Joins through `agent`: a push/pull stream with `Join: true`, whose reply
    /// (the agent's state) is returned. Go learns the peer from merging the
    /// push/pull (spec §5.1, §6.5); nothing else needs to be sent.
    async fn join(&self, agent: SocketAddr) -> Result<PushPull, String> {
        let exchange = async {
            let mut conn = TcpStream::connect(agent)
                .await
                .map_err(|e| format!("connect to {agent}: {e}"))?;
            let ours = self.shared.seal_stream(&self.shared.push_pull(true)?)?;
            conn.write_all(&ours)
                .await
                .map_err(|e| format!("write push/pull: {e}"))?;
            match read_stream(&mut conn, self.shared.key.as_deref()).await? {
                StreamMessage::PushPull(reply) => {
                    self.shared.learn(&reply)?;
                    Ok(reply)
                }
                StreamMessage::Err(e) => Err(format!("remote error: {}", e.error)),
                other => Err(format!("unexpected join reply {other:?}")),
            }
        };
        timeout(TCP_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("join through {agent} took more than {TCP_TIMEOUT:?}"))?
    }

    /// The two messages of a graceful leave (spec §9.3), Serf's leave intent
    /// and memberlist's `dead{From: self}`, in the order Go sends them. From
    /// now on the peer no longer refutes claims that it is dead.
    fn leave_messages(&self) -> Result<[Vec<u8>; 2], String> {
        let (intent, dead) = {
            let mut st = self.shared.lock();
            st.leaving = true;
            // Newer than any status time the agents hold for the peer.
            st.member_clock += 1;
            (
                LeaveIntent {
                    ltime: st.member_clock,
                    node: self.shared.name.clone(),
                    prune: false,
                },
                Dead {
                    incarnation: st.incarnation,
                    node: self.shared.name.clone(),
                    from: self.shared.name.clone(),
                },
            )
        };
        Ok([
            user_message(&SerfMessage::Leave(intent))?,
            Message::Dead(dead).encode().map_err(wire("encode dead"))?,
        ])
    }

    /// Sends messages straight to `to` as one packet: the peer has no gossip
    /// of its own, so the agent it talks to gossips them on.
    async fn send(&self, messages: &[Vec<u8>], to: SocketAddr) -> Result<(), String> {
        self.shared.send(messages, to).await
    }

    /// A probe of `node` at `addr` as Go sends it, with the `Source*` fields.
    fn ping_message(&self, node: &str) -> Ping {
        let mut st = self.shared.lock();
        st.seq_no += 1;
        Ping {
            seq_no: st.seq_no,
            node: node.to_owned(),
            source_addr: ip_bytes(self.shared.addr.ip()),
            source_port: self.shared.addr.port(),
            source_node: self.shared.name.clone(),
        }
    }

    /// Probes `node` at `addr` over UDP (spec §6.1) and returns its ack.
    async fn ping_udp(&self, node: &str, addr: SocketAddr) -> Result<Ack, String> {
        let ping = self.ping_message(node);
        let (tx, rx) = oneshot::channel();
        self.shared.lock().waiting_acks.insert(ping.seq_no, tx);
        let bytes = ping.encode().map_err(wire("encode ping"))?;
        self.send(&[bytes], addr).await?;
        match timeout(Duration::from_secs(5), rx).await {
            Ok(Ok(ack)) => Ok(ack),
            _ => Err(format!("no ack from {node} within 5 s")),
        }
    }

    /// Probes `node` at `addr` with a stream ping (spec §5.1) and returns its
    /// ack, read from the same connection.
    async fn ping_tcp(&self, node: &str, addr: SocketAddr) -> Result<Ack, String> {
        let ping = self.ping_message(node);
        let exchange = async {
            let mut conn = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            let bytes = self
                .shared
                .seal_stream(&StreamMessage::Ping(ping.clone()))?;
            conn.write_all(&bytes)
                .await
                .map_err(|e| format!("write ping: {e}"))?;
            match read_stream(&mut conn, self.shared.key.as_deref()).await? {
                StreamMessage::Ack(ack) if ack.seq_no == ping.seq_no => Ok(ack),
                other => Err(format!("unexpected ping reply {other:?}")),
            }
        };
        timeout(TCP_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("stream ping of {node} took more than {TCP_TIMEOUT:?}"))?
    }

    /// The next received Serf message for which `wanted` holds, skipping the
    /// others; panics after `bound`.
    async fn expect_message(
        &mut self,
        what: &str,
        bound: Duration,
        wanted: impl Fn(&SerfMessage) -> bool,
    ) -> SerfMessage {
        let deadline = Instant::now() + bound;
        loop {
            match tokio::time::timeout_at(deadline, self.messages.recv()).await {
                Ok(Some(m)) if wanted(&m) => return m,
                Ok(Some(_)) => {}
                Ok(None) => unreachable!("the peer holds the sender"),
                Err(_) => panic!(
                    "{}: no {what} within {bound:?}; stats {:?}",
                    self.name(),
                    self.stats()
                ),
            }
        }
    }

    /// Panics if anything failed to decode, encode or send so far.
    fn assert_no_errors(&self) {
        let stats = self.stats();
        assert!(
            stats.errors.is_empty(),
            "{}: codec or I/O errors: {:#?}",
            self.name(),
            stats.errors
        );
    }
}

/// Binds TCP on a free port, then UDP on the same number: gossip uses both. The
/// UDP port may be taken by someone else, hence the bounded retry.
async fn bind_gossip_port() -> (TcpListener, UdpSocket) {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP");
        let port = tcp.local_addr().expect("local address").port();
        if let Ok(udp) = UdpSocket::bind(("127.0.0.1", port)).await {
            return (tcp, udp);
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1 after 50 tries");
}

/// Receives and answers UDP packets until the peer is dropped.
async fn udp_loop(shared: Arc<Shared>) {
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        match shared.udp.recv_from(&mut buf).await {
            Ok((n, src)) => {
                if let Err(e) = shared.handle_packet(&buf[..n], src).await {
                    shared.record_error(format!("packet from {src}: {e}"));
                }
            }
            Err(e) => shared.record_error(format!("UDP receive: {e}")),
        }
    }
}

/// Accepts streams until the peer is dropped. Each connection is served by its
/// own task in a [`JoinSet`], which aborts them when this task is aborted.
async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut conns = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                while conns.try_join_next().is_some() {}
                conns.spawn(serve_stream(shared.clone(), conn));
            }
            Err(e) => {
                // A persistent accept error would spin; the test fails on it anyway.
                shared.record_error(format!("TCP accept: {e}"));
                return;
            }
        }
    }
}

/// Answers one stream the agent opened: a TCP ping, a push/pull (periodic
/// anti-entropy, or a join from a reconnecting agent) or a reliable user message.
async fn serve_stream(shared: Arc<Shared>, mut conn: TcpStream) {
    let exchange = async {
        let reply = match read_stream(&mut conn, shared.key.as_deref()).await? {
            StreamMessage::Ping(ping) => {
                if !shared.is_for_me(&ping.node) {
                    // Go leaves a ping for another name unanswered.
                    return Ok(());
                }
                shared.lock().stats.tcp_pings += 1;
                // Acks over TCP carry no coordinate (spec §7).
                StreamMessage::Ack(Ack {
                    seq_no: ping.seq_no,
                    payload: None,
                })
            }
            StreamMessage::PushPull(theirs) => {
                shared.learn(&theirs)?;
                shared.lock().stats.push_pulls += 1;
                // The reply echoes the dialer's Join flag (spec §5.1).
                shared.push_pull(theirs.join)?
            }
            StreamMessage::User(bytes) => return shared.handle_serf(&bytes).await,
            other => return Err(format!("unexpected stream message {other:?}")),
        };
        let bytes = shared.seal_stream(&reply)?;
        conn.write_all(&bytes)
            .await
            .map_err(|e| format!("write stream reply: {e}"))
    };
    match timeout(TCP_TIMEOUT, exchange).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => shared.record_error(format!("stream: {e}")),
        Err(_) => shared.record_error(format!("stream not done within {TCP_TIMEOUT:?}")),
    }
}

/// Reads one stream message: the encryption frame when a key is set, then the
/// payload, compressed or not. Plaintext has no length prefix, so the reader
/// decodes what it has and reads more while the decoder says "truncated".
async fn read_stream(conn: &mut TcpStream, key: Option<&[u8]>) -> Result<StreamMessage, String> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(msg) = try_decode_stream(&buf, key)? {
            return Ok(msg);
        }
        let n = conn
            .read(&mut chunk)
            .await
            .map_err(|e| format!("stream read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "stream closed after {} byte(s), before a complete message",
                buf.len()
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The message in `buf`, or `None` when `buf` is a correct beginning that needs
/// more bytes. The errors mirror Go's for the encryption mismatches (spec §5.2).
fn try_decode_stream(buf: &[u8], key: Option<&[u8]>) -> Result<Option<StreamMessage>, String> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let decrypted;
    let payload = match (first == ENCRYPT, key) {
        (true, Some(key)) => {
            let Some(header) = buf.get(..crypto::STREAM_HEADER_LEN) else {
                return Ok(None);
            };
            let len = crypto::stream_frame_len(header).map_err(wire("stream frame"))?;
            if buf.len() < crypto::STREAM_HEADER_LEN + len {
                return Ok(None);
            }
            decrypted = crypto::decrypt_stream(&[key], buf).map_err(wire("decrypt stream"))?;
            &decrypted[..]
        }
        (true, None) => {
            return Err("Remote state is encrypted and encryption is not configured".into())
        }
        (false, Some(_)) => {
            return Err("Encryption is configured but remote state is not encrypted".into())
        }
        (false, None) => buf,
    };
    match StreamMessage::decode(payload, MAX_DECOMPRESSED) {
        Ok(msg) => Ok(Some(msg)),
        // A whole encrypted frame is a whole message: truncation there is an error.
        Err(e) if e.is_truncated() && first != ENCRYPT => Ok(None),
        Err(e) => Err(format!("decode stream payload: {e}")),
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("peer state lock")
    }

    fn record_error(&self, error: String) {
        self.lock().stats.errors.push(error);
    }

    /// A ping naming another node is not for us; an empty name is (spec §3).
    fn is_for_me(&self, node: &str) -> bool {
        node.is_empty() || node == self.name
    }

    /// The peer's own node state, as it goes into a push/pull.
    fn own_state(&self, incarnation: u32) -> PushNodeState {
        PushNodeState {
            name: self.name.clone(),
            addr: ip_bytes(self.addr.ip()),
            port: self.addr.port(),
            meta: self.meta.clone(),
            incarnation,
            state: NodeState::Alive,
            vsn: Some(VSN),
        }
    }

    /// The peer's push/pull: its own alive state, and a Serf user state with its
    /// clocks, its own status time and the 512 empty event slots Go sends.
    fn push_pull(&self, join: bool) -> Result<StreamMessage, String> {
        let (incarnation, clock) = {
            let st = self.lock();
            (st.incarnation, st.member_clock)
        };
        let serf_state = SerfPushPull {
            ltime: clock,
            status_ltimes: BTreeMap::from([(self.name.clone(), clock)]),
            left_members: Vec::new(),
            event_ltime: 1,
            events: vec![None; EVENT_SLOTS],
            query_ltime: 1,
        };
        Ok(StreamMessage::PushPull(PushPull {
            join,
            nodes: vec![self.own_state(incarnation)],
            user_state: SerfMessage::PushPull(serf_state)
                .encode()
                .map_err(wire("encode Serf push/pull"))?,
        }))
    }

    /// Takes what the peer needs from a remote push/pull: the nodes' addresses
    /// and Serf's member clock.
    fn learn(&self, remote: &PushPull) -> Result<(), String> {
        let serf_state = match SerfMessage::decode(&remote.user_state) {
            Ok(SerfMessage::PushPull(s)) => s,
            Ok(other) => return Err(format!("push/pull user state is {other:?}")),
            Err(e) => return Err(format!("decode push/pull user state: {e}")),
        };
        let mut st = self.lock();
        for node in &remote.nodes {
            if node.name != self.name && node.state == NodeState::Alive {
                if let Some(addr) = socket_addr(&node.addr, node.port) {
                    st.known.insert(node.name.clone(), addr);
                }
            }
        }
        // Push/pull clocks are witnessed as t − 1, i.e. clock = max(clock, t).
        st.member_clock = st.member_clock.max(serf_state.ltime);
        Ok(())
    }

    /// A stream payload as Go writes it: compressed, then encrypted if keyed.
    fn seal_stream(&self, msg: &StreamMessage) -> Result<Vec<u8>, String> {
        let payload = msg.encode_stream(true).map_err(wire("encode stream"))?;
        match &self.key {
            Some(key) => {
                crypto::encrypt_stream(Version::V1, key, &payload).map_err(wire("encrypt stream"))
            }
            None => Ok(payload),
        }
    }

    /// Sends messages as one packet (a compound when several). It is compressed
    /// when that is shorter and always carries a CRC, both of which Go accepts
    /// on any packet, so that our LZW and CRC are exercised live as well.
    async fn send(&self, messages: &[Vec<u8>], to: SocketAddr) -> Result<(), String> {
        let options = PacketOptions {
            compress: true,
            crc: true,
        };
        let packet = frame::encode_packet(messages, options).map_err(wire("encode packet"))?;
        {
            let mut st = self.lock();
            st.stats.sent += 1;
            // After the 5-byte CRC header.
            st.stats.sent_compressed += u64::from(packet.get(5) == Some(&COMPRESS));
        }
        let packet = match &self.key {
            Some(key) => {
                crypto::encrypt_packet(Version::V1, key, &packet).map_err(wire("encrypt packet"))?
            }
            None => packet,
        };
        self.udp
            .send_to(&packet, to)
            .await
            .map_err(|e| format!("send to {to}: {e}"))?;
        Ok(())
    }

    /// Decrypts and decodes one packet, then handles each message in it.
    async fn handle_packet(&self, packet: &[u8], src: SocketAddr) -> Result<(), String> {
        let plain = match &self.key {
            Some(key) => crypto::decrypt_packet(&[key], packet).map_err(wire("decrypt packet"))?,
            None => packet.to_vec(),
        };
        self.count_wrappers(&plain);
        let unpacked =
            frame::decode_packet(&plain, MAX_DECOMPRESSED).map_err(wire("decode packet"))?;
        for e in &unpacked.errors {
            self.record_error(format!("part of a packet from {src}: {e}"));
        }
        if unpacked.truncated > 0 {
            self.record_error(format!(
                "{} truncated compound part(s) from {src}",
                unpacked.truncated
            ));
        }
        for msg in unpacked.messages {
            if let Err(e) = self.handle_message(msg, src).await {
                self.record_error(format!("message from {src}: {e}"));
            }
        }
        Ok(())
    }

    /// Tallies the outer wrappers of a decrypted packet.
    fn count_wrappers(&self, plain: &[u8]) {
        let mut st = self.lock();
        st.stats.packets += 1;
        let mut body = plain;
        if body.first() == Some(&HAS_CRC) {
            st.stats.with_crc += 1;
            body = body.get(5..).unwrap_or_default();
        }
        match body.first() {
            Some(&COMPRESS) => st.stats.compressed += 1,
            Some(&COMPOUND) => st.stats.compound += 1,
            _ => {}
        }
    }

    async fn handle_message(&self, msg: Message, src: SocketAddr) -> Result<(), String> {
        match msg {
            Message::Ping(ping) if self.is_for_me(&ping.node) && self.udp_acks => {
                // The ack goes to SourceAddr:SourcePort, or to the packet's source
                // when they are missing (spec §3), and carries a coordinate (§7).
                let to = socket_addr(&ping.source_addr, ping.source_port).unwrap_or(src);
                let ack = Message::Ack(Ack {
                    seq_no: ping.seq_no,
                    payload: Some(self.ping_payload.clone()),
                })
                .encode()
                .map_err(wire("encode ack"))?;
                self.send(&[ack], to).await?;
                *self
                    .lock()
                    .stats
                    .pings_from
                    .entry(ping.source_node)
                    .or_default() += 1;
            }
            Message::Ack(ack) => {
                let waiting = self.lock().waiting_acks.remove(&ack.seq_no);
                match waiting {
                    // The pinger may have given up; then nobody needs the ack.
                    Some(tx) => drop(tx.send(ack)),
                    None => return Err(format!("ack for unknown SeqNo {}", ack.seq_no)),
                }
            }
            // Agents ask for indirect probes only when a direct probe of another
            // node failed, which these tests never provoke; a real node would
            // probe the target on the requester's behalf.
            Message::IndirectPing(_) => self.lock().stats.indirect_pings += 1,
            Message::Alive(alive) if alive.node != self.name => {
                if let Some(addr) = socket_addr(&alive.addr, alive.port) {
                    self.lock().known.insert(alive.node, addr);
                }
            }
            Message::Suspect(s) if s.node == self.name => self.refute(s.incarnation).await?,
            // `dead{From: self}` about us is our own leave, gossiped back.
            Message::Dead(d) if d.node == self.name && !d.is_leave() => {
                self.refute(d.incarnation).await?
            }
            Message::User(bytes) => self.handle_serf(&bytes).await?,
            _ => {}
        }
        Ok(())
    }

    /// Answers a suspect or dead claim about the peer (spec §6.2): an alive with
    /// a higher incarnation, sent to every node it knows (it does not gossip).
    async fn refute(&self, accused: u32) -> Result<(), String> {
        let (alive, targets) = {
            let mut st = self.lock();
            if st.leaving {
                return Ok(());
            }
            st.stats.accusations += 1;
            st.incarnation = st.incarnation.max(accused).saturating_add(1);
            let alive = Alive {
                incarnation: st.incarnation,
                node: self.name.clone(),
                addr: ip_bytes(self.addr.ip()),
                port: self.addr.port(),
                meta: self.meta.clone(),
                vsn: Some(VSN),
            };
            (alive, st.known.values().copied().collect::<Vec<_>>())
        };
        let alive = Message::Alive(alive)
            .encode()
            .map_err(wire("encode alive"))?;
        for to in targets {
            self.send(std::slice::from_ref(&alive), to).await?;
        }
        Ok(())
    }

    /// Decodes a Serf message, answers it if it is a query, and hands it to the
    /// test.
    async fn handle_serf(&self, bytes: &[u8]) -> Result<(), String> {
        let msg = SerfMessage::decode(bytes).map_err(wire("decode Serf message"))?;
        match &msg {
            SerfMessage::Query(q) => self.answer_query(q).await?,
            SerfMessage::Join(j) => self.witness_member_clock(j.ltime),
            SerfMessage::Leave(l) => self.witness_member_clock(l.ltime),
            _ => {}
        }
        // The receiver lives as long as the peer; a test that stopped reading
        // simply leaves messages queued.
        let _ = self.messages.send(msg);
        Ok(())
    }

    fn witness_member_clock(&self, ltime: u64) {
        let mut st = self.lock();
        st.member_clock = st.member_clock.max(ltime.saturating_add(1));
    }

    /// Acks (if asked) and answers a query once (spec §9.7.2), straight to the
    /// originator's `Addr:Port`.
    async fn answer_query(&self, q: &Query) -> Result<(), String> {
        if !self.lock().answered.insert((q.ltime, q.id)) {
            return Ok(());
        }
        if !self.passes_filters(q)? {
            return Ok(());
        }
        let to = socket_addr(&q.addr, q.port)
            .ok_or_else(|| format!("query {:?} has an unusable Addr {:?}", q.name, q.addr))?;
        let respond = |flags, payload| {
            user_message(&SerfMessage::QueryResponse(QueryResponse {
                ltime: q.ltime,
                id: q.id,
                from: self.name.clone(),
                flags,
                payload,
            }))
        };
        if q.flags & QUERY_FLAG_ACK != 0 {
            self.send(&[respond(QUERY_FLAG_ACK, None)?], to).await?;
        }
        // `_serf_*` queries belong to Serf itself, never to the application.
        if !q.name.starts_with("_serf_") {
            let response = respond(0, Some(self.query_response.clone()))?;
            self.send(&[response], to).await?;
        }
        Ok(())
    }

    /// Whether the peer is one of the nodes the query's filters select. An
    /// undecodable filter is a codec error: Go's own filters must decode.
    fn passes_filters(&self, q: &Query) -> Result<bool, String> {
        for filter in q.decoded_filters().map_err(wire("decode query filters"))? {
            let pass = match filter {
                Filter::Nodes(names) => names.contains(&self.name),
                Filter::Tag { tag, expr } => {
                    let value = self.tags.get(&tag).map_or("", String::as_str);
                    // Unanchored, as in Go; an invalid regex selects nobody.
                    regex::Regex::new(&expr).is_ok_and(|re| re.is_match(value))
                }
            };
            if !pass {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A Serf message framed as a memberlist user message (`08 ‖ type ‖ body`).
fn user_message(msg: &SerfMessage) -> Result<Vec<u8>, String> {
    let serf = msg.encode().map_err(wire("encode Serf message"))?;
    Message::User(serf)
        .encode()
        .map_err(wire("encode user message"))
}

/// Turns a codec error into a string saying what was being done.
fn wire(context: &'static str) -> impl Fn(super::WireError) -> String {
    move |e| format!("{context}: {e}")
}

/// An IP as it travels on the wire: 4 or 16 raw bytes.
fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    }
}

/// A wire address and port, `None` when either is missing or malformed.
fn socket_addr(ip: &[u8], port: u16) -> Option<SocketAddr> {
    let ip = match ip.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
        _ => return None,
    };
    (port != 0).then_some(SocketAddr::new(ip, port))
}

// ---------------------------------------------------------------------------
// The agents
// ---------------------------------------------------------------------------

/// `true` when `/usr/bin/serf` is there. Otherwise prints a `SKIP` notice, or
/// panics under `CI=true`: a skip must never count as a pass on CI.
pub(super) fn serf_installed(test: &str) -> bool {
    agent::serf_binary(test).is_some()
}

/// Starts `serf agent -node=NAME` with `extra` flags (see [`agent::Agent::start`]).
pub(super) async fn start_agent(name: &str, extra: &[String]) -> Agent {
    let opts = agent::AgentOptions {
        args: extra.to_vec(),
        ..agent::AgentOptions::default()
    };
    Agent::start(Path::new(SERF), name, opts).await
}

/// The status (`alive`, `left`, …) of `name` in `agent`'s view.
async fn status_of(agent: &Agent, name: &str) -> Option<String> {
    let members = agent.members().await;
    Some(members.get(name)?["status"].as_str()?.to_owned())
}

/// Polls `probe` until it gives a value; panics with `what` after `bound`.
pub(super) async fn eventually<T, F, Fut>(what: &str, bound: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {bound:?}: {what}");
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------
// Checks shared by the tests
// ---------------------------------------------------------------------------

/// Joins `peer` through `agent` and checks the reply: the agent's own alive
/// state with a full version vector and tag meta, and a Serf user state.
async fn join_and_check_reply(peer: &Peer, agent: &Agent) {
    let reply = peer.join(agent.bind()).await.unwrap_or_else(|e| {
        panic!("{} could not join {}: {e}", peer.name(), agent.name());
    });
    assert!(reply.join, "the reply echoes Join: true");
    let own = reply
        .nodes
        .iter()
        .find(|n| n.name == agent.name())
        .unwrap_or_else(|| panic!("{} missing from its join reply {reply:?}", agent.name()));
    assert_eq!(own.state, NodeState::Alive);
    assert_eq!(own.vsn, Some(VSN));
    assert_eq!(socket_addr(&own.addr, own.port), Some(agent.bind()));
    serf::decode_tags(&own.meta).expect("agent meta decodes as tags");
    let Ok(SerfMessage::PushPull(state)) = SerfMessage::decode(&reply.user_state) else {
        panic!("join reply user state is not a Serf push/pull");
    };
    assert_eq!(
        state.events.len(),
        EVENT_SLOTS,
        "Go sends the whole event ring"
    );
    assert!(state.status_ltimes.contains_key(agent.name()));
}

/// Waits until `agent` lists `peer` alive with the peer's tags.
async fn wait_until_member(agent: &Agent, peer: &Peer) {
    let member = agent.wait_status(peer.name(), "alive").await;
    assert_eq!(member["tags"]["role"], "rust", "tags of {member}");
    assert_eq!(
        member["addr"],
        peer.shared.addr.to_string(),
        "address of {member}"
    );
    // The CLI shows the delegate (Serf) part of the peer's Vsn.
    assert_eq!(
        member["protocol"],
        serde_json::json!({"min": VSN[3], "max": VSN[4], "version": VSN[5]}),
        "versions of {member}"
    );
}

/// No agent has fallen back to a TCP ping, suspected the peer or complained:
/// every UDP ack the peer sent was accepted.
fn assert_udp_acks_accepted(peer: &Peer, agents: &[&Agent]) {
    let stats = peer.stats();
    assert_eq!(
        stats.tcp_pings, 0,
        "an agent fell back to TCP pings: {stats:?}"
    );
    assert_eq!(
        stats.accusations, 0,
        "an agent suspected the peer: {stats:?}"
    );
    for agent in agents {
        agent.assert_no_complaints(&[]);
    }
}

/// The peer probes the agent: over UDP the ack carries the agent's network
/// coordinate (spec §7), over TCP no payload.
async fn peer_pings(agent: &Agent, peer: &Peer) {
    let ack = peer
        .ping_udp(agent.name(), agent.bind())
        .await
        .expect("UDP ping acked");
    let coordinate = serf::decode_ping_payload(ack.payload.as_deref().unwrap_or_default())
        .expect("ack payload decodes")
        .expect("the agent sends its coordinate");
    assert_eq!(coordinate.vec.len(), 8, "{coordinate:?}");
    assert!(coordinate.error > 0.0, "{coordinate:?}");
    let ack = peer
        .ping_tcp(agent.name(), agent.bind())
        .await
        .expect("TCP ping acked");
    assert_eq!(ack.payload, None, "stream acks carry no coordinate");
}

/// `serf join <peer>`: the agent dials the peer with a push/pull (`Join:
/// true`), which the peer decodes and answers with its own state.
async fn agent_joins_through(agent: &Agent, peer: &Peer) {
    let before = peer.stats().push_pulls;
    let out = agent.cli("join", &[&peer.shared.addr.to_string()]).await;
    assert!(out.contains("Successfully joined"), "serf join said: {out}");
    // Counted before the reply is written, so before the CLI returns.
    assert_eq!(peer.stats().push_pulls, before + 1, "{}", peer.stats());
}

/// `serf event deploy hello` reaches the peer as that user event.
async fn check_event(agent: &Agent, peer: &mut Peer) {
    agent.cli("event", &["deploy", "hello"]).await;
    peer.expect_message("user event deploy", BOUND, |m| {
        matches!(m, SerfMessage::UserEvent(e)
            if e.name == "deploy" && e.payload.as_deref() == Some(&b"hello"[..]))
    })
    .await;
}

/// `serf query <args> status x` gets the peer's ack and response; returns the
/// CLI's JSON output.
async fn check_query(agent: &Agent, peer: &mut Peer, filters: &[&str]) -> serde_json::Value {
    let mut args = vec!["-format=json", "-timeout=3s"];
    args.extend_from_slice(filters);
    args.extend_from_slice(&["status", "x"]);
    let out = agent.cli("query", &args).await;
    let json: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("query output is not JSON ({e}): {out}"));
    let acks: Vec<&str> = json["Acks"]
        .as_array()
        .unwrap_or_else(|| panic!("no Acks in {out}"))
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        acks.contains(&peer.name()),
        "{} not in Acks: {out}",
        peer.name()
    );
    let expected = String::from_utf8(peer.shared.query_response.clone()).expect("utf-8");
    assert_eq!(
        json["Responses"][peer.name()],
        expected,
        "response of {} in {out}",
        peer.name()
    );
    // The CLI's timeout has passed, so the query arrived well before.
    peer.expect_message("query status", Duration::from_secs(1), |m| {
        matches!(m, SerfMessage::Query(q) if q.name == "status" && q.payload.as_deref() == Some(&b"x"[..]))
    })
    .await;
    json
}

pub(super) fn test_key() -> Vec<u8> {
    (0u8..16).collect()
}

pub(super) fn base64(key: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

/// Join, probing, user event, query and graceful leave in a plaintext cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_plain_join_probe_event_query_leave() {
    if !serf_installed("live_plain_join_probe_event_query_leave") {
        return;
    }
    let agent = start_agent("live-plain-a", &[]).await;
    let mut peer = Peer::start(PeerConfig::new("live-plain-rust")).await;

    join_and_check_reply(&peer, &agent).await;
    wait_until_member(&agent, &peer).await;
    agent_joins_through(&agent, &peer).await;
    peer_pings(&agent, &peer).await;

    // Ten seconds of probing (about one probe a second), every UDP ack
    // accepted. A rejected ack would show as a TCP fallback ping (which keeps
    // the peer alive, with a warning in the agent's log) or as a suspect claim
    // the peer had to refute: Serf's own status stays `alive` meanwhile.
    let window = Instant::now() + Duration::from_secs(10);
    while Instant::now() < window {
        assert_eq!(
            status_of(&agent, peer.name()).await.as_deref(),
            Some("alive")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stats = peer.stats();
    let probes = stats.pings_from.get(agent.name()).copied().unwrap_or(0);
    assert!(
        probes >= 5,
        "only {probes} probes from the agent in 10 s: {stats:?}"
    );
    assert_udp_acks_accepted(&peer, &[&agent]);

    check_event(&agent, &mut peer).await;
    check_query(&agent, &mut peer, &[]).await;

    // A clean graceful leave. The agent queues user and dead messages together
    // and handles the newest first, so the intent must have been handled before
    // `dead` arrives, or the agent sees a failure, then a forced leave (see the
    // compound leave in `live_peer_learned_by_gossip`). Go gets the same
    // separation by waiting until its intent has been gossiped.
    let [intent, dead] = peer.leave_messages().expect("leave messages encode");
    peer.send(&[intent], agent.bind())
        .await
        .expect("leave intent sent");
    agent.wait_status(peer.name(), "leaving").await;
    peer.send(&[dead], agent.bind()).await.expect("dead sent");
    agent.wait_status(peer.name(), "left").await;
    let log = agent.log();
    assert!(
        log.contains(&format!("EventMemberLeave: {} ", peer.name()))
            && !log.contains(&format!("EventMemberFailed: {} ", peer.name())),
        "not a clean graceful leave"
    );
    agent.assert_no_complaints(&[]);

    peer.assert_no_errors();
    eprintln!("live_plain: peer saw {}", peer.stats());
}

/// The same in an encrypted cluster; a peer with the wrong key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_encrypted_join_and_wrong_key() {
    if !serf_installed("live_encrypted_join_and_wrong_key") {
        return;
    }
    let key = test_key();
    let agent = start_agent("live-enc-a", &[format!("-encrypt={}", base64(&key))]).await;
    let mut peer = Peer::start(PeerConfig::new("live-enc-rust").with_key(&key)).await;

    join_and_check_reply(&peer, &agent).await;
    wait_until_member(&agent, &peer).await;
    agent_joins_through(&agent, &peer).await;
    peer_pings(&agent, &peer).await;
    // Encrypted packets both ways: the agent's gossip and query reach the peer,
    // the peer's acks and responses reach the agent.
    check_event(&agent, &mut peer).await;
    check_query(&agent, &mut peer, &[]).await;
    let stats = peer.stats();
    assert!(
        stats.pings_from.contains_key(agent.name()),
        "no encrypted probe answered: {stats:?}"
    );
    assert_udp_acks_accepted(&peer, &[&agent]);
    peer.assert_no_errors();

    let wrong_key: Vec<u8> = key.iter().map(|b| b ^ 0x5a).collect();
    let intruder = Peer::start(PeerConfig::new("live-enc-intruder").with_key(&wrong_key)).await;
    let refused = intruder.join(agent.bind()).await;
    assert!(
        refused.is_err(),
        "a join with the wrong key succeeded: {refused:?}"
    );
    // Nothing else can make the agent learn the intruder; watch for 5 s anyway.
    let window = Instant::now() + Duration::from_secs(5);
    while Instant::now() < window {
        assert_eq!(status_of(&agent, intruder.name()).await, None);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let refusal = "No installed keys could decrypt the message";
    assert!(
        agent.log().contains(refusal),
        "the agent did not log the decryption failure"
    );
    agent.assert_no_complaints(&[refusal]);
    eprintln!(
        "live_encrypted: peer saw {}; wrong key refused with: {}",
        peer.stats(),
        refused.unwrap_err()
    );
}

/// A peer that ignores UDP pings is probed over TCP (spec §5.1, §6.1): it
/// answers the stream pings, and the agent keeps it alive without suspecting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tcp_fallback_ping() {
    if !serf_installed("live_tcp_fallback_ping") {
        return;
    }
    let agent = start_agent("live-tcp-a", &[]).await;
    let mut config = PeerConfig::new("live-tcp-rust");
    config.udp_acks = false;
    let peer = Peer::start(config).await;

    join_and_check_reply(&peer, &agent).await;
    wait_until_member(&agent, &peer).await;
    // Two TCP pings: the probe of the first has finished, and been logged, by
    // the time the second starts.
    let probed = &peer;
    eventually("two TCP pings from the agent", BOUND, move || async move {
        (probed.stats().tcp_pings >= 2).then_some(())
    })
    .await;
    let warning = format!(
        "Was able to connect to {} but other probes failed",
        peer.name()
    );
    assert!(agent.log().contains(&warning), "no TCP-only probe logged");
    assert_eq!(
        status_of(&agent, peer.name()).await.as_deref(),
        Some("alive")
    );
    let stats = peer.stats();
    assert_eq!(
        stats.accusations, 0,
        "the agent suspected the peer: {stats:?}"
    );
    peer.assert_no_errors();
    agent.assert_no_complaints(&[&warning]);
    eprintln!("live_tcp: peer saw {stats}");
}

/// Agent B learns of the peer through agent A's gossip, probes it and queries
/// it: B's packets, compound, CRC'd or compressed, decode at the peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_peer_learned_by_gossip() {
    if !serf_installed("live_peer_learned_by_gossip") {
        return;
    }
    let a = start_agent("live-gossip-a", &[]).await;
    let b = start_agent("live-gossip-b", &[format!("-join={}", a.bind())]).await;
    a.wait_status(b.name(), "alive").await;
    let mut peer = Peer::start(PeerConfig::new("live-gossip-rust")).await;

    join_and_check_reply(&peer, &a).await;
    wait_until_member(&a, &peer).await;
    wait_until_member(&b, &peer).await;
    let (prober, probed) = (b.name(), &peer);
    eventually(
        &format!("{prober} probes {}", peer.name()),
        BOUND,
        move || async move { probed.stats().pings_from.contains_key(prober).then_some(()) },
    )
    .await;

    // Only the peer passes these filters: B's query must decode, including its
    // filters, and the peer's direct ack and response must reach B.
    let node_filter = format!("-node={}", peer.name());
    let json = check_query(&b, &mut peer, &[&node_filter, "-tag=role=rust"]).await;
    assert_eq!(json["Acks"], serde_json::json!([peer.name()]), "{json}");

    assert_udp_acks_accepted(&peer, &[&a, &b]);

    // Leave with both messages in one compound packet, as the spec's Python
    // peer did. A handles `dead` before the intent (its queue is drained newest
    // first; seen in every run), so it logs member-failed, then a forced leave,
    // while B, told by A's gossip, logs a clean leave. Both end with `left`.
    let leave = peer.leave_messages().expect("leave messages encode");
    peer.send(&leave, a.bind()).await.expect("leave sent");
    a.wait_status(peer.name(), "left").await;
    b.wait_status(peer.name(), "left").await;

    peer.assert_no_errors();
    a.assert_no_complaints(&[]);
    b.assert_no_complaints(&[]);
    eprintln!("live_gossip: peer saw {}", peer.stats());
}
