//! The transport every node on the serf-rs engine runs on ([`NodeTransport`]),
//! which lets serf-rs speak HashiCorp Serf's Go wire when asked.
//!
//! On serf-rs's own wire (that engine's default) it passes bytes through to
//! memberlist-net's `NetTransport`. On the HashiCorp wire it translates:
//! serf-rs frames and encodes every message above the transport, so the
//! transport sees serf-rs bytes going out and must hand serf-rs bytes back.
//! [`NodeTransport`] translates at that seam:
//!
//! * **Packets out** ([`Transport::send_to`]): the serf-rs packet (a message or
//!   a compound; label, checksum, compression and memberlist encryption all
//!   off) is split, each message is translated (Serf bodies too), and the Go
//!   messages are packed into Go packets of at most 1400 bytes, compressed
//!   when that is shorter, CRC'd for peers with `PMax` ≥ 5 and AES-GCM
//!   encrypted when keys are set.
//! * **Packets in**: a pump decrypts, unwraps and translates every datagram the
//!   inner transport receives and hands the serf-rs packet to memberlist-core.
//!   What does not decode is logged and dropped.
//! * **Streams out** ([`Transport::write`]): memberlist-core writes one
//!   message per call; it goes out as one Go stream message, LZW-compressed
//!   (as memberlist 0.2.2 always does) and framed with AES-GCM when keys are
//!   set.
//! * **Streams in**: [`GoReader`] reads one Go stream message, translates it
//!   and serves the serf-rs bytes to memberlist-core's own peek/read calls.
//!
//! # Why it wraps memberlist-net's `NetTransport`
//!
//! Its sockets, listeners, bind-port and advertise-address logic are what
//! Serfer runs today, and every point where bytes cross can be intercepted
//! from outside: `send_to` takes the whole packet, `packet()` and `stream()`
//! are channels that a pump can read and re-publish, `open()` returns a
//! connection that can be wrapped, and [`Transport::write`] is a hook for
//! whole outgoing stream messages. Owning the sockets would duplicate that
//! code without gaining any control the wrapper lacks.
//!
//! The transport declares itself secure ([`Transport::packet_secure`],
//! [`Transport::stream_secure`]) when it encrypts, so that memberlist-core's
//! own encryption, which Go cannot read, stays off even with a keyring. (A
//! node whose memberlist has a keyring must also run with
//! `gossip_verify_incoming = false`, since what the transport hands back is
//! plaintext.)

mod conn;
mod sniff;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use memberlist_proto::{Payload, ProtoWriter};
use serf::agnostic::RuntimeLite;
use serf::net::{NetTransportOptions, TokioNetTransport};
use serf::tokio::{TokioRuntime, TokioSocketAddrResolver, TokioTcp};
use serf::transport::{
    packet_stream, promised_stream, AddressResolver, Packet, PacketProducer, PacketSubscriber,
    StreamProducer, StreamSubscriber, Transport,
};
use serf::types::SmolStr;
use tokio::task::JoinHandle;

pub use conn::NodeConn;
pub use wire::{GoWire, KeyRing};

use super::translate::memberlist::Local;
use serfer_wire::WireError;

/// The wrapped transport: UDP and TCP on tokio, as Serfer runs today.
type Inner = TokioNetTransport<SmolStr, TokioSocketAddrResolver, TokioTcp>;
type Instant = <TokioRuntime as RuntimeLite>::Instant;
type Error = <Inner as Transport>::Error;

/// How many received packets wait for memberlist-core (memberlist-net's own
/// default).
const PACKET_BUFFER: usize = 1024;

/// Options of a [`NodeTransport`].
pub struct NodeTransportOptions {
    /// The sockets: node name, bind and advertise addresses.
    pub net: NetTransportOptions<SmolStr, TokioSocketAddrResolver, TokioTcp>,
    /// `Some` to speak HashiCorp's wire; `None` passes serf-rs's bytes through.
    pub hashicorp: Option<HashiCorpWire>,
}

/// How a [`NodeTransport`] speaks HashiCorp's wire.
pub struct HashiCorpWire {
    /// The keyring, primary first; empty for a plaintext cluster.
    pub keys: KeyRing,
    /// Compress as Go does (packets when shorter, streams always). Go nodes read
    /// both forms; on is what the Debian agent does.
    pub compress: bool,
}

impl NodeTransportOptions {
    /// serf-rs's own wire for the node `name` bound to `bind`.
    pub fn serf_rs(name: &str, bind: SocketAddr) -> Self {
        let mut net = NetTransportOptions::new(SmolStr::new(name));
        net.add_bind_address(bind);
        NodeTransportOptions {
            net,
            hashicorp: None,
        }
    }

    /// HashiCorp's wire for the node `name` bound to `bind`, plaintext,
    /// compressing.
    pub fn hashicorp(name: &str, bind: SocketAddr) -> Self {
        NodeTransportOptions {
            hashicorp: Some(HashiCorpWire {
                keys: KeyRing::fixed(Vec::new()),
                compress: true,
            }),
            ..Self::serf_rs(name, bind)
        }
    }

    /// On the HashiCorp wire, encrypts with `keys`, the first being the
    /// primary. (serf-rs's own wire is encrypted by memberlist-core.)
    pub fn with_keys(mut self, keys: Vec<Vec<u8>>) -> Self {
        if let Some(h) = &mut self.hashicorp {
            h.keys = KeyRing::fixed(keys);
        }
        self
    }
}

/// The transport of every Serfer node: memberlist-net's UDP and TCP, plus,
/// on the HashiCorp wire, the translation to and from Go's encoding.
pub struct NodeTransport {
    inner: Inner,
    /// The translation; `None` on serf-rs's own wire.
    wire: Option<Arc<GoWire>>,
    packet_rx: PacketSubscriber<SocketAddr, Instant>,
    stream_rx: StreamSubscriber<SocketAddr, NodeConn>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

fn wire_error(e: WireError) -> Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e).into()
}

/// Translates every datagram the inner transport receives until it closes.
async fn packet_pump(
    wire: Arc<GoWire>,
    from_net: PacketSubscriber<SocketAddr, Instant>,
    to_memberlist: PacketProducer<SocketAddr, Instant>,
) {
    while let Ok(packet) = from_net.recv().await {
        let (from, at, payload) = packet.into_components();
        match wire.packet_to_rs(&payload, from) {
            Ok(packets) => {
                for p in packets {
                    if to_memberlist
                        .send(Packet::new(from, at, p.into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(peer = %from, err = %e, "hashicorp wire: dropped a packet"),
        }
    }
}

/// Wraps every connection the inner transport accepts until it closes.
async fn stream_pump(
    wire: Option<Arc<GoWire>>,
    from_net: StreamSubscriber<SocketAddr, <Inner as Transport>::Connection>,
    to_memberlist: StreamProducer<SocketAddr, NodeConn>,
) {
    let reported = Arc::new(sniff::Reported::default());
    while let Ok((from, conn)) = from_net.recv().await {
        if wire.is_some() {
            let conn = NodeConn::new(conn, wire.clone(), from);
            if to_memberlist.send(from, conn).await.is_err() {
                return;
            }
            continue;
        }
        // On serf-rs's wire, a look at the first bytes tells a `serf agent`
        // from a broken peer; it runs beside the pump so that a silent peer
        // holds up nobody else.
        let to_memberlist = to_memberlist.clone();
        let reported = reported.clone();
        tokio::spawn(async move {
            let conn = NodeConn::sniffing(conn, from, &reported).await;
            let _ = to_memberlist.send(from, conn).await;
        });
    }
}

impl Transport for NodeTransport {
    type Error = Error;
    type Id = SmolStr;
    type Address = SocketAddr;
    type ResolvedAddress = SocketAddr;
    type Resolver = TokioSocketAddrResolver;
    type Connection = NodeConn;
    type Runtime = TokioRuntime;
    type Options = NodeTransportOptions;

    async fn new(options: Self::Options) -> Result<Self, Self::Error> {
        let NodeTransportOptions { net, hashicorp } = options;
        let inner = Inner::new(net).await?;
        let Some(HashiCorpWire { keys, compress }) = hashicorp else {
            // serf-rs's own wire: packets go straight through; connections
            // only need the wrapper type.
            let (stream_tx, stream_rx) = promised_stream::<Self>();
            let pumps = vec![tokio::spawn(stream_pump(None, inner.stream(), stream_tx))];
            return Ok(NodeTransport {
                packet_rx: inner.packet(),
                inner,
                wire: None,
                stream_rx,
                pumps: Mutex::new(pumps),
            });
        };
        let local = Local {
            name: inner.local_id().clone(),
            addr: *inner.advertise_address(),
        };
        let wire = Arc::new(GoWire::with_keyring(local, keys, compress).map_err(wire_error)?);
        let (packet_tx, packet_rx) = packet_stream::<Self>(PACKET_BUFFER);
        let (stream_tx, stream_rx) = promised_stream::<Self>();
        let pumps = vec![
            tokio::spawn(packet_pump(wire.clone(), inner.packet(), packet_tx)),
            tokio::spawn(stream_pump(Some(wire.clone()), inner.stream(), stream_tx)),
        ];
        Ok(NodeTransport {
            inner,
            wire: Some(wire),
            packet_rx,
            stream_rx,
            pumps: Mutex::new(pumps),
        })
    }

    async fn resolve(
        &self,
        addr: &<Self::Resolver as AddressResolver>::Address,
    ) -> Result<Self::ResolvedAddress, Self::Error> {
        self.inner.resolve(addr).await
    }

    fn local_id(&self) -> &Self::Id {
        self.inner.local_id()
    }

    fn local_address(&self) -> &<Self::Resolver as AddressResolver>::Address {
        self.inner.local_address()
    }

    fn advertise_address(&self) -> &Self::ResolvedAddress {
        self.inner.advertise_address()
    }

    fn max_packet_size(&self) -> usize {
        // serf-rs fills packets to this in its own encoding; the Go encoding of
        // the same messages is larger and is re-packed to 1400-byte packets.
        self.inner.max_packet_size()
    }

    fn header_overhead(&self) -> usize {
        match self.wire {
            Some(_) => 0,
            None => self.inner.header_overhead(),
        }
    }

    fn blocked_address(&self, addr: &Self::ResolvedAddress) -> Result<(), Self::Error> {
        self.inner.blocked_address(addr)
    }

    async fn write(
        &self,
        conn: &mut <Self::Connection as serf::transport::Connection>::Writer,
        payload: Payload,
    ) -> Result<usize, Self::Error> {
        let Some(wire) = &self.wire else {
            return self.inner.write(conn, payload).await;
        };
        let bytes = wire.stream_to_go(payload.as_slice()).map_err(wire_error)?;
        conn.write_all(&bytes).await?;
        conn.flush().await?;
        Ok(bytes.len())
    }

    async fn send_to(
        &self,
        addr: &Self::ResolvedAddress,
        packet: Payload,
    ) -> Result<(usize, Instant), Self::Error> {
        let Some(wire) = &self.wire else {
            return self.inner.send_to(addr, packet).await;
        };
        let packets = wire
            .packet_to_go(packet.as_slice(), *addr)
            .map_err(wire_error)?;
        let mut sent = 0;
        let mut first_at = None;
        for p in packets {
            let mut payload = Payload::new(0, p.len());
            payload.data_mut().copy_from_slice(&p);
            let (n, at) = self.inner.send_to(addr, payload).await?;
            sent += n;
            first_at.get_or_insert(at);
        }
        Ok((sent, first_at.unwrap_or_else(TokioRuntime::now)))
    }

    async fn open(
        &self,
        addr: &Self::ResolvedAddress,
        deadline: Instant,
    ) -> Result<Self::Connection, Self::Error> {
        let conn = self.inner.open(addr, deadline).await?;
        Ok(NodeConn::new(conn, self.wire.clone(), *addr))
    }

    fn packet(&self) -> PacketSubscriber<Self::ResolvedAddress, Instant> {
        self.packet_rx.clone()
    }

    fn stream(&self) -> StreamSubscriber<Self::ResolvedAddress, Self::Connection> {
        self.stream_rx.clone()
    }

    fn packet_reliable(&self) -> bool {
        false
    }

    fn packet_secure(&self) -> bool {
        match &self.wire {
            Some(wire) => wire.encrypted(),
            None => self.inner.packet_secure(),
        }
    }

    fn stream_secure(&self) -> bool {
        match &self.wire {
            Some(wire) => wire.encrypted(),
            None => self.inner.stream_secure(),
        }
    }

    async fn shutdown(&self) -> Result<(), Self::Error> {
        let result = self.inner.shutdown().await;
        self.stop_pumps();
        self.packet_rx.close();
        self.stream_rx.close();
        result
    }
}

impl NodeTransport {
    /// Ends the pumps that translate what the inner transport receives.
    fn stop_pumps(&self) {
        for pump in self
            .pumps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            pump.abort();
        }
    }
}

impl Drop for NodeTransport {
    fn drop(&mut self) {
        self.stop_pumps();
    }
}
