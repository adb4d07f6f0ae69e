//! Configuration of a core, with Go memberlist's LAN, WAN and local profiles.

use std::net::SocketAddr;
use std::time::Duration;

use super::error::ConfigError;
use super::keyring::Keyring;

/// Largest node metadata a Go node accepts (`MetaMaxSize`).
pub const META_MAX_SIZE: usize = 512;

/// The memberlist protocol range this core understands and the version it
/// speaks: `[PMin, PMax, PCur]`, the same as memberlist 0.2.2.
pub const PROTOCOL_VERSIONS: [u8; 3] = [1, 5, 2];

/// Everything a core needs to know about itself and its timing.
///
/// Start from [`Config::lan`], [`Config::wan`] or [`Config::local`], which carry
/// the Go defaults of the same names, and change what differs.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's name; unique in the cluster.
    pub name: String,
    /// The address other nodes reach this node at, for both UDP and TCP. It is
    /// what `alive` messages carry.
    pub advertise: SocketAddr,
    /// Metadata sent in `alive` messages (Serf: encoded tags); at most
    /// [`META_MAX_SIZE`] bytes.
    pub meta: Vec<u8>,
    /// The incarnation to start at. Go starts at 1 and relies on refutation
    /// after a restart; a restarted node may start higher to be believed sooner.
    pub initial_incarnation: u32,
    /// Seed of the core's random source (probe order, gossip targets, staggers,
    /// encryption nonces). Two nodes sharing a key must not share a seed, or
    /// their nonces would repeat: the tokio driver (`net`) replaces it with
    /// one drawn from the OS; the simulator derives one per node from its own.
    pub seed: u64,
    /// Time between failure-detection probes (`ProbeInterval`).
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking others
    /// (`ProbeTimeout`).
    pub probe_timeout: Duration,
    /// How many peers probe on this node's behalf (`IndirectChecks`).
    pub indirect_checks: usize,
    /// Scales the suspicion timeout (`SuspicionMult`).
    pub suspicion_mult: u32,
    /// Upper bound of the suspicion timeout, as a multiple of its lower bound
    /// (`SuspicionMaxTimeoutMult`).
    pub suspicion_max_timeout_mult: u32,
    /// Scales how often a broadcast is retransmitted (`RetransmitMult`).
    pub retransmit_mult: u32,
    /// Time between gossip rounds (`GossipInterval`).
    pub gossip_interval: Duration,
    /// Nodes gossiped to per round (`GossipNodes`).
    pub gossip_nodes: usize,
    /// How long dead nodes still receive gossip, and how long they are kept
    /// before being forgotten (`GossipToTheDeadTime`).
    pub gossip_to_the_dead_time: Duration,
    /// Base period of push/pull anti-entropy (`PushPullInterval`); zero turns it
    /// off. It grows with the cluster size as in Go.
    pub push_pull_interval: Duration,
    /// Deadline the driver puts on one stream exchange (`TCPTimeout`).
    pub tcp_timeout: Duration,
    /// Bound of the local health multiplier (`AwarenessMaxMultiplier`).
    pub awareness_max_multiplier: u32,
    /// Largest packet built for gossip (`UDPBufferSize`).
    pub udp_buffer_size: usize,
    /// Compress packets (when smaller) and streams (always), as Go does.
    pub enable_compression: bool,
    /// With compression on, fill gossip packets up to `udp_buffer_size`
    /// *after* compression, estimated from how well recent ones compressed,
    /// instead of Go's budget of raw bytes. Go's receivers accept any
    /// decompressed size, so this only sends more of a deep queue per round
    /// (a burst of user events spreads in fewer rounds); a packet is never
    /// longer on the wire. False gives Go's packets exactly.
    pub fill_compressed_packets: bool,
    /// Take each gossip round's targets from shuffled passes over the members,
    /// every member once per pass, so one sender's few sends of a message
    /// reach distinct nodes (the default). False draws them at random each
    /// round, as Go's memberlist does (`kRandomNodes`), which can send a
    /// message to one node twice and leave another to push/pull. Which nodes
    /// are targets is not on the wire.
    pub gossip_in_passes: bool,
    /// Do not send a TCP ping when a UDP probe fails (`DisableTcpPings`).
    pub disable_tcp_pings: bool,
    /// After how long a dead node's name may be taken by another address; zero
    /// means never, Serf's setting (`DeadNodeReclaimTime`).
    pub dead_node_reclaim_time: Duration,
    /// The Serf protocol range and version this node advertises:
    /// `[DMin, DMax, DCur]`.
    pub delegate_versions: [u8; 3],
    /// Encryption keys, primary first; empty for plaintext.
    pub keyring: Keyring,
    /// With a keyring, refuse what does not decrypt (`GossipVerifyIncoming`).
    pub gossip_verify_incoming: bool,
    /// With a keyring, encrypt what is sent (`GossipVerifyOutgoing`).
    pub gossip_verify_outgoing: bool,
    /// Bound on the bytes one packet or stream may decompress to.
    pub max_decompressed: usize,
}

impl Config {
    /// Go's `DefaultLANConfig`: 1 s probes, 500 ms probe timeout, 200 ms gossip
    /// to 3 nodes, 30 s push/pull.
    pub fn lan(name: impl Into<String>, advertise: SocketAddr) -> Self {
        Config {
            name: name.into(),
            advertise,
            meta: Vec::new(),
            initial_incarnation: 1,
            seed: 0,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Duration::from_secs(30),
            push_pull_interval: Duration::from_secs(30),
            tcp_timeout: Duration::from_secs(10),
            awareness_max_multiplier: 8,
            udp_buffer_size: 1400,
            enable_compression: true,
            fill_compressed_packets: true,
            gossip_in_passes: true,
            disable_tcp_pings: false,
            dead_node_reclaim_time: Duration::ZERO,
            delegate_versions: [2, 5, 5],
            keyring: Keyring::default(),
            gossip_verify_incoming: true,
            gossip_verify_outgoing: true,
            max_decompressed: 16 * 1024 * 1024,
        }
    }

    /// Go's `DefaultWANConfig`: slower probes and gossip, longer timeouts.
    pub fn wan(name: impl Into<String>, advertise: SocketAddr) -> Self {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            suspicion_mult: 6,
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            gossip_to_the_dead_time: Duration::from_secs(60),
            push_pull_interval: Duration::from_secs(60),
            tcp_timeout: Duration::from_secs(30),
            ..Config::lan(name, advertise)
        }
    }

    /// Go's `DefaultLocalConfig`: for loopback and tests.
    pub fn local(name: impl Into<String>, advertise: SocketAddr) -> Self {
        Config {
            probe_timeout: Duration::from_millis(200),
            indirect_checks: 1,
            suspicion_mult: 3,
            retransmit_mult: 2,
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead_time: Duration::from_secs(15),
            push_pull_interval: Duration::from_secs(15),
            tcp_timeout: Duration::from_secs(1),
            ..Config::lan(name, advertise)
        }
    }

    /// The six-byte version vector `[PMin, PMax, PCur, DMin, DMax, DCur]`.
    pub fn vsn(&self) -> [u8; 6] {
        let [pmin, pmax, pcur] = PROTOCOL_VERSIONS;
        let [dmin, dmax, dcur] = self.delegate_versions;
        [pmin, pmax, pcur, dmin, dmax, dcur]
    }

    /// Whether outgoing traffic is encrypted.
    pub(crate) fn encrypt_outgoing(&self) -> bool {
        !self.keyring.is_empty() && self.gossip_verify_outgoing
    }

    /// Checks what would make the core misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if self.meta.len() > META_MAX_SIZE {
            return Err(ConfigError::MetaTooLong {
                len: self.meta.len(),
            });
        }
        let nonzero = [
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
            ("gossip_interval", self.gossip_interval),
        ];
        for (what, d) in nonzero {
            if d.is_zero() {
                return Err(ConfigError::ZeroInterval { what });
            }
        }
        if self.probe_timeout > self.probe_interval {
            return Err(ConfigError::ProbeTimeoutTooLong);
        }
        if self.udp_buffer_size < 128 || self.udp_buffer_size > 65_507 {
            return Err(ConfigError::UdpBufferSize {
                size: self.udp_buffer_size,
            });
        }
        if self.awareness_max_multiplier == 0 {
            return Err(ConfigError::ZeroInterval {
                what: "awareness_max_multiplier",
            });
        }
        Ok(())
    }
}
