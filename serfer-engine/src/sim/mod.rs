//! A deterministic simulator: many [`Memberlist`] cores in one process, on
//! virtual time, over a seeded network.
//!
//! Everything that happens — a core's timer, a datagram's arrival, one side of
//! a stream exchange — is an event in one priority queue ordered by virtual
//! time and then by insertion. Delays and losses are drawn from one seeded
//! generator and each core has its own seed, so a run is a pure function of the
//! seed and the script: [`Sim::trace_hash`] over all deliveries is the same
//! every time, and a failing run can be replayed exactly.
//!
//! The simulator stands in for the driver: it performs push/pull and TCP-ping
//! exchanges (reliable, but cut by partitions and crashes), and it can play the
//! user layer's part of re-gossiping user messages the first time a node sees
//! them ([`SimConfig::rebroadcast_user_data`]), which is what Serf does with
//! user events.
//!
//! A cluster forms by [`Sim::join`]s, as a real one does, which costs N² log N
//! messages and a kilobyte of member tables per (node, member) pair; or it
//! starts as one ([`Sim::add_cluster`]), its nodes sharing their member records
//! until one changes its own, which is what fits 10,000 nodes in one process.

mod clock;
mod network;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;

pub use network::{LinkConfig, Network};

use crate::core::{Core, CoreOutput};
use crate::memberlist::{Config, ConfigError, Memberlist, StreamOutcome};
use crate::serf::{Serf, SerfConfig, SharedMember};
use crate::Instant;
use clock::Timeline;

/// The simulated gossip port of every node.
pub const SIM_PORT: u16 = 7946;

/// The address of node `i`: a distinct loopback address per node (the network
/// is virtual; these addresses are never used on a real socket).
pub fn sim_addr(i: usize) -> SocketAddr {
    let i = i as u32 + 1;
    let ip = Ipv4Addr::new(127, (i >> 16) as u8, (i >> 8) as u8, i as u8);
    SocketAddr::new(IpAddr::V4(ip), SIM_PORT)
}

/// The name of node `i`.
pub fn sim_name(i: usize) -> String {
    format!("node-{i}")
}

/// How the simulation runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of the network's randomness; node seeds are derived from it too by
    /// [`Sim::lan_config`].
    pub seed: u64,
    /// Behaviour of every link unless overridden.
    pub link: LinkConfig,
    /// Keep every membership event of every node (costly for large runs).
    pub record_events: bool,
    /// Re-gossip a user message from each node the first time it arrives, as
    /// Serf does with user events.
    pub rebroadcast_user_data: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            link: LinkConfig::default(),
            record_events: true,
            rebroadcast_user_data: true,
        }
    }
}

/// Counters of the simulated network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams handed to the network.
    pub packets_sent: u64,
    /// The longest of them, in bytes as sent (after compression and
    /// encryption).
    pub largest_packet: usize,
    /// Datagrams delivered.
    pub packets_delivered: u64,
    /// Datagrams lost, cut by a partition, or sent to a crashed or unknown node.
    pub packets_dropped: u64,
    /// Bytes delivered in datagrams.
    pub bytes_delivered: u64,
    /// Stream exchanges completed.
    pub streams_completed: u64,
    /// Stream exchanges that failed (partition, crash).
    pub streams_failed: u64,
    /// Events processed.
    pub events: u64,
}

/// Which stream exchange a delivery belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    PushPull { join: bool },
    Ping,
}

#[derive(Debug)]
enum Event {
    /// A core's timer.
    Wake(usize),
    /// A datagram arrives.
    Packet {
        from: usize,
        to: usize,
        bytes: Vec<u8>,
    },
    /// A stream's request arrives at its listener.
    StreamOpen {
        from: usize,
        to: usize,
        kind: StreamKind,
        bytes: Vec<u8>,
    },
    /// A stream's reply arrives back at its dialer.
    StreamReply {
        from: usize,
        to: usize,
        kind: StreamKind,
        bytes: Vec<u8>,
    },
}

/// A core the simulator can run: a bare [`Memberlist`], or a [`Serf`] on top
/// of one. The network side is [`Core`]'s; this adds what a simulation needs
/// to create, join, stop and restart nodes.
pub trait SimCore: Core + Sized {
    /// Its configuration.
    type Config;
    /// A fresh core.
    fn create(config: Self::Config, now: Instant) -> Result<Self, ConfigError>;
    /// The memberlist underneath.
    fn memberlist(&self) -> &Memberlist;
    /// Join through `addrs`.
    fn join(&mut self, now: Instant, addrs: &[SocketAddr]);
    /// Leave gracefully.
    fn leave(&mut self, now: Instant);
    /// Re-gossip a user message (bare memberlist only).
    fn rebroadcast(&mut self, msg: Vec<u8>);
    /// Makes a restarted node's configuration start above `incarnation`.
    fn restart_config(config: &mut Self::Config, incarnation: u32);
}

impl SimCore for Memberlist {
    type Config = Config;
    fn create(config: Config, now: Instant) -> Result<Self, ConfigError> {
        Memberlist::new(config, now)
    }
    fn memberlist(&self) -> &Memberlist {
        self
    }
    fn join(&mut self, now: Instant, addrs: &[SocketAddr]) {
        Memberlist::join(self, now, addrs)
    }
    fn leave(&mut self, now: Instant) {
        Memberlist::leave(self, now)
    }
    fn rebroadcast(&mut self, msg: Vec<u8>) {
        // Refused only for oversized or empty messages, which were not
        // delivered in the first place.
        let _ = self.queue_broadcast(msg);
    }
    fn restart_config(config: &mut Config, incarnation: u32) {
        config.initial_incarnation = incarnation.saturating_add(1);
    }
}

impl SimCore for Serf {
    type Config = SerfConfig;
    fn create(config: SerfConfig, now: Instant) -> Result<Self, ConfigError> {
        // Serf's own settings are checked by the tests that set them; only
        // memberlist's reach the simulator's signature.
        Serf::new(config, now).map_err(|e| match e {
            crate::serf::SerfError::Config(c) => c,
            _ => ConfigError::ZeroInterval { what: "serf" },
        })
    }
    fn memberlist(&self) -> &Memberlist {
        Serf::memberlist(self)
    }
    fn join(&mut self, now: Instant, addrs: &[SocketAddr]) {
        let _ = Serf::join(self, now, addrs, false);
    }
    fn leave(&mut self, now: Instant) {
        let _ = Serf::leave(self, now);
    }
    fn rebroadcast(&mut self, _msg: Vec<u8>) {}
    fn restart_config(config: &mut SerfConfig, incarnation: u32) {
        config.memberlist.initial_incarnation = incarnation.saturating_add(1);
    }
}

/// One simulated node.
#[derive(Debug)]
pub struct SimNode<C: SimCore = Memberlist> {
    core: C,
    up: bool,
    wake_at: Option<Instant>,
    /// Membership events seen, with their time (if
    /// [`SimConfig::record_events`]).
    pub events: Vec<(Instant, C::Event)>,
    /// When each distinct user message first arrived.
    pub user_seen: BTreeMap<Vec<u8>, Instant>,
    /// When the node's leave was fully gossiped.
    pub leave_complete: Option<Instant>,
}

impl<C: SimCore> SimNode<C> {
    /// The node's core.
    pub fn core(&self) -> &C {
        &self.core
    }

    /// False once crashed (until restarted).
    pub fn is_up(&self) -> bool {
        self.up
    }
}

/// The simulator. See the [module docs](self).
#[derive(Debug)]
pub struct Sim<C: SimCore = Memberlist> {
    config: SimConfig,
    now: Instant,
    timeline: Timeline<Event>,
    nodes: Vec<SimNode<C>>,
    by_addr: HashMap<SocketAddr, usize>,
    network: Network,
    rng: SmallRng,
    trace: u64,
    stats: SimStats,
}

/// FNV-1a over 64-bit words, for the delivery trace: small, stable across
/// platforms and releases (unlike `std`'s hasher, which is allowed to change),
/// and word-wise because a large run hashes a gigabyte.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h ^= u64::from_le_bytes(word);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    for &b in chunks.remainder() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Sim {
    /// An empty simulation of bare memberlist cores at virtual time zero.
    pub fn new(config: SimConfig) -> Self {
        Sim::build(config)
    }

    /// Node `i` queues a user broadcast, and counts as having seen it.
    pub fn broadcast(
        &mut self,
        i: usize,
        msg: Vec<u8>,
    ) -> Result<(), crate::memberlist::CommandError> {
        let now = self.now;
        self.nodes[i].core.queue_broadcast(msg.clone())?;
        self.nodes[i].user_seen.entry(msg).or_insert(now);
        self.flush(i);
        Ok(())
    }

    /// Node `i` changes its metadata.
    pub fn update_meta(
        &mut self,
        i: usize,
        meta: Vec<u8>,
    ) -> Result<(), crate::memberlist::CommandError> {
        let now = self.now;
        self.nodes[i].core.update_meta(now, meta)?;
        self.flush(i);
        Ok(())
    }
}

impl Sim<Serf> {
    /// An empty simulation of Serf cores at virtual time zero.
    pub fn serf(config: SimConfig) -> Self {
        Sim::build(config)
    }

    /// The LAN profile with Serf's defaults for node `i` (see
    /// [`Sim::lan_config`]).
    pub fn serf_config(&self, i: usize) -> SerfConfig {
        SerfConfig::new(self.lan_config(i))
    }

    /// Adds a node per configuration, all members of one cluster from the
    /// start: each knows every other as alive, as if their joins had spread
    /// and drained long ago, and nothing was sent for it. Returns their
    /// indices. Nodes added earlier are not part of it (they can join it).
    ///
    /// Their tables share one record per member until a node changes its own
    /// copy (a suspicion, a new incarnation), so the cluster costs about
    /// 115 bytes per (node, member) pair instead of a kilobyte, and none of
    /// the N² log N messages of N joins: this is how a 10,000-node cluster
    /// fits in one process. What it skips is what
    /// [`Sim::join`] measures: how a cluster forms.
    ///
    /// ```
    /// use serfer_engine::sim::{Sim, SimConfig};
    ///
    /// let mut sim = Sim::serf(SimConfig::default());
    /// let configs: Vec<_> = (0..50).map(|i| sim.serf_config(i)).collect();
    /// let nodes = sim.add_cluster(configs).unwrap();
    /// let all: Vec<usize> = nodes.collect();
    /// assert!(sim.all_see_alive(&all));
    /// ```
    pub fn add_cluster(
        &mut self,
        configs: impl IntoIterator<Item = SerfConfig>,
    ) -> Result<std::ops::Range<usize>, ConfigError> {
        let start = self.nodes.len();
        for config in configs {
            self.add_node(config)?;
        }
        let nodes = start..self.nodes.len();
        let shared: Vec<SharedMember> = nodes
            .clone()
            .map(|i| SharedMember::new(self.nodes[i].core.memberlist().local_member()))
            .collect();
        for i in nodes.clone() {
            self.nodes[i].core.adopt_members(&shared);
        }
        Ok(nodes)
    }
}

impl<C: SimCore> Sim<C> {
    /// An empty simulation at virtual time zero.
    pub fn build(config: SimConfig) -> Self {
        Sim {
            now: Instant::ZERO,
            timeline: Timeline::default(),
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            network: Network::new(config.link),
            rng: SmallRng::seed_from_u64(config.seed),
            trace: 0xcbf2_9ce4_8422_2325,
            stats: SimStats::default(),
            config,
        }
    }

    /// The LAN profile for node `i`, named [`sim_name`]`(i)` at
    /// [`sim_addr`]`(i)`, with a seed derived from the simulation's.
    pub fn lan_config(&self, i: usize) -> Config {
        let mut c = Config::lan(sim_name(i), sim_addr(i));
        c.seed = self
            .config
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(i as u64 + 1);
        c
    }

    /// Adds a node running `config`; its index is returned. Its address must be
    /// unique.
    pub fn add_node(&mut self, config: C::Config) -> Result<usize, ConfigError> {
        let core = C::create(config, self.now)?;
        let addr = core.memberlist().config().advertise;
        let i = self.nodes.len();
        self.nodes.push(SimNode {
            core,
            up: true,
            wake_at: None,
            events: Vec::new(),
            user_seen: BTreeMap::new(),
            leave_complete: None,
        });
        self.by_addr.insert(addr, i);
        self.flush(i);
        Ok(i)
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Number of nodes ever added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &SimNode<C> {
        &self.nodes[i]
    }

    /// Node `i`'s core.
    pub fn core(&self, i: usize) -> &C {
        &self.nodes[i].core
    }

    /// Runs `f` on node `i`'s core at the current time (a command), then
    /// sends what it produced.
    pub fn with_core<R>(&mut self, i: usize, f: impl FnOnce(&mut C, Instant) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.nodes[i].core, now);
        self.flush(i);
        r
    }

    /// Clears the recorded events of every node.
    pub fn clear_events(&mut self) {
        for n in &mut self.nodes {
            n.events.clear();
        }
    }

    /// Network counters.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// A hash of every delivery so far (time, endpoints, bytes): equal for equal
    /// runs.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    /// The network, to partition, heal or shape links.
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    /// Node `i` joins through the nodes `via`.
    pub fn join(&mut self, i: usize, via: &[usize]) {
        let addrs: Vec<SocketAddr> = via.iter().map(|&j| self.addr_of(j)).collect();
        let now = self.now;
        self.nodes[i].core.join(now, &addrs);
        self.flush(i);
    }

    /// Node `i` leaves gracefully.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].core.leave(now);
        self.flush(i);
    }

    /// Node `i` stops dead (kill -9): it neither sends nor receives, and its
    /// timers stop.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
        self.nodes[i].wake_at = None;
    }

    /// Node `i` comes back as a fresh process running `config` (same name and
    /// address), at an incarnation above the one it had.
    pub fn restart(&mut self, i: usize, mut config: C::Config) -> Result<(), ConfigError> {
        C::restart_config(&mut config, self.nodes[i].core.memberlist().incarnation());
        let core = C::create(config, self.now)?;
        let node = &mut self.nodes[i];
        node.core = core;
        node.up = true;
        node.wake_at = None;
        node.leave_complete = None;
        self.flush(i);
        Ok(())
    }

    fn addr_of(&self, i: usize) -> SocketAddr {
        self.nodes[i].core.memberlist().config().advertise
    }

    /// Runs until virtual time `until`, processing every event due by then.
    pub fn run_to(&mut self, until: Instant) {
        while let Some(at) = self.timeline.peek_time() {
            if at > until {
                break;
            }
            self.step();
        }
        if until > self.now {
            self.now = until;
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_to(until);
    }

    /// Runs until `pred` holds, checking it every `check_every` of virtual
    /// time, or until `deadline`. Returns the virtual time at which it held.
    pub fn run_until(
        &mut self,
        deadline: Instant,
        check_every: Duration,
        mut pred: impl FnMut(&Sim<C>) -> bool,
    ) -> Option<Instant> {
        loop {
            if pred(self) {
                return Some(self.now);
            }
            if self.now >= deadline {
                return None;
            }
            let next = (self.now + check_every).min(deadline);
            self.run_to(next);
        }
    }

    /// Processes the next event; false when there is none.
    pub fn step(&mut self) -> bool {
        let Some((at, event)) = self.timeline.pop() else {
            return false;
        };
        self.now = self.now.max(at);
        self.stats.events += 1;
        match event {
            Event::Wake(i) => {
                let node = &mut self.nodes[i];
                if node.up && node.wake_at == Some(at) {
                    node.wake_at = None;
                    node.core.tick(self.now);
                    self.flush(i);
                }
            }
            Event::Packet { from, to, bytes } => {
                if !self.nodes[to].up || !self.network.carries(from, to) {
                    self.stats.packets_dropped += 1;
                    return true;
                }
                self.record(from, to, &bytes);
                self.stats.packets_delivered += 1;
                self.stats.bytes_delivered += bytes.len() as u64;
                let from_addr = self.addr_of(from);
                let now = self.now;
                self.nodes[to].core.handle_packet(now, from_addr, &bytes);
                self.flush(to);
            }
            Event::StreamOpen {
                from,
                to,
                kind,
                bytes,
            } => {
                if !self.nodes[to].up || !self.network.streams(from, to) {
                    self.stats.streams_failed += 1;
                    return true;
                }
                self.record(from, to, &bytes);
                let from_addr = self.addr_of(from);
                let now = self.now;
                let outcome = self.nodes[to].core.handle_stream(now, from_addr, &bytes);
                self.flush(to);
                match outcome {
                    StreamOutcome::Reply(reply) => {
                        let delay = self.network.delay(to, from, &mut self.rng);
                        self.timeline.push(
                            self.now + delay,
                            Event::StreamReply {
                                from: to,
                                to: from,
                                kind,
                                bytes: reply,
                            },
                        );
                    }
                    StreamOutcome::NeedMore | StreamOutcome::Done => {
                        self.stats.streams_failed += 1;
                    }
                }
            }
            Event::StreamReply {
                from,
                to,
                kind,
                bytes,
            } => {
                if !self.nodes[to].up || !self.network.streams(from, to) {
                    self.stats.streams_failed += 1;
                    return true;
                }
                self.record(from, to, &bytes);
                let from_addr = self.addr_of(from);
                let now = self.now;
                let core = &mut self.nodes[to].core;
                let done = match kind {
                    StreamKind::PushPull { join } => {
                        core.handle_push_pull_reply(now, from_addr, &bytes, join)
                    }
                    StreamKind::Ping => core.handle_stream_ping_reply(now, from_addr, &bytes),
                };
                if done.is_ok() {
                    self.stats.streams_completed += 1;
                } else {
                    self.stats.streams_failed += 1;
                }
                self.flush(to);
            }
        }
        true
    }

    /// Adds a delivery to the trace.
    fn record(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let mut h = fnv(self.trace, &self.now.as_duration().as_nanos().to_le_bytes());
        h = fnv(h, &(from as u64).to_le_bytes());
        h = fnv(h, &(to as u64).to_le_bytes());
        self.trace = fnv(h, bytes);
    }

    /// Sends what node `i` produced into the network and reschedules its timer.
    fn flush(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].core.poll_output() {
            match out {
                CoreOutput::Packet { to, bytes } => {
                    self.stats.packets_sent += 1;
                    self.stats.largest_packet = self.stats.largest_packet.max(bytes.len());
                    let Some(&j) = self.by_addr.get(&to) else {
                        self.stats.packets_dropped += 1;
                        continue;
                    };
                    if !self.network.carries(i, j) || self.network.lose(i, j, &mut self.rng) {
                        self.stats.packets_dropped += 1;
                        continue;
                    }
                    let delay = self.network.delay(i, j, &mut self.rng);
                    self.timeline.push(
                        self.now + delay,
                        Event::Packet {
                            from: i,
                            to: j,
                            bytes,
                        },
                    );
                }
                CoreOutput::PushPull { to, bytes, join } => {
                    self.open_stream(i, to, StreamKind::PushPull { join }, bytes)
                }
                CoreOutput::StreamPing { to, bytes, .. } => {
                    self.open_stream(i, to, StreamKind::Ping, bytes)
                }
                CoreOutput::Event(e) => {
                    if self.config.record_events {
                        self.nodes[i].events.push((self.now, e));
                    }
                }
                CoreOutput::UserData(bytes) => {
                    let now = self.now;
                    let node = &mut self.nodes[i];
                    if !node.user_seen.contains_key(&bytes) {
                        node.user_seen.insert(bytes.clone(), now);
                        if self.config.rebroadcast_user_data {
                            node.core.rebroadcast(bytes);
                        }
                    }
                }
                CoreOutput::LeaveComplete => self.nodes[i].leave_complete = Some(self.now),
                CoreOutput::Shutdown | CoreOutput::Ignore => {}
            }
        }
        let node = &mut self.nodes[i];
        if !node.up {
            return;
        }
        if let Some(t) = node.core.poll_timeout() {
            let t = t.max(self.now);
            if node.wake_at != Some(t) {
                node.wake_at = Some(t);
                self.timeline.push(t, Event::Wake(i));
            }
        }
    }

    fn open_stream(&mut self, i: usize, to: SocketAddr, kind: StreamKind, bytes: Vec<u8>) {
        let Some(&j) = self.by_addr.get(&to) else {
            self.stats.streams_failed += 1;
            return;
        };
        if !self.network.streams(i, j) {
            self.stats.streams_failed += 1;
            return;
        }
        let delay = self.network.delay(i, j, &mut self.rng);
        self.timeline.push(
            self.now + delay,
            Event::StreamOpen {
                from: i,
                to: j,
                kind,
                bytes,
            },
        );
    }

    /// Sends a hand-made datagram from node `from` to node `to` through the
    /// network, as if `from`'s core had produced it (to inject claims, or
    /// garbage).
    pub fn inject_packet(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let delay = self.network.delay(from, to, &mut self.rng);
        self.timeline
            .push(self.now + delay, Event::Packet { from, to, bytes });
    }

    /// Pending events (for diagnostics).
    pub fn pending_events(&self) -> usize {
        self.timeline.len()
    }

    /// True when every node in `alive` sees exactly the nodes in `alive` (by
    /// index) as alive or suspect, and knows no other node.
    pub fn all_see_alive(&self, alive: &[usize]) -> bool {
        use crate::memberlist::MemberState;
        let names: Vec<&str> = alive
            .iter()
            .map(|&i| self.core(i).memberlist().name())
            .collect();
        alive.iter().all(|&i| {
            let core = self.core(i).memberlist();
            // Counting first is cheap and settles most negative checks.
            core.num_members() == names.len()
                && core.members().all(|m| m.state == MemberState::Alive)
                && names.iter().all(|n| core.member(n).is_some())
        })
    }
}
