//! The member table: every node this core knows, itself included, in probe
//! order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serfer_wire::memberlist::{Alive, NodeState, PushNodeState};

use crate::fxhash::{FxBuild, FxMap};
use crate::Instant;

/// memberlist's view of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed a probe; will be declared dead unless it refutes in time.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left gracefully.
    Left,
}

impl MemberState {
    /// True for dead and left.
    pub fn is_dead_or_left(self) -> bool {
        matches!(self, MemberState::Dead | MemberState::Left)
    }

    fn to_wire(self) -> NodeState {
        match self {
            MemberState::Alive => NodeState::Alive,
            MemberState::Suspect => NodeState::Suspect,
            MemberState::Dead => NodeState::Dead,
            MemberState::Left => NodeState::Left,
        }
    }
}

/// One known node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its unique name.
    pub name: String,
    /// Where it receives packets and streams.
    pub addr: SocketAddr,
    /// Its metadata (Serf: tags).
    pub meta: Vec<u8>,
    /// The latest incarnation known.
    pub incarnation: u32,
    /// Its state.
    pub state: MemberState,
    /// When the state last changed, on this core's clock.
    pub state_change: Instant,
    /// `[PMin, PMax, PCur, DMin, DMax, DCur]`; zeros when unknown.
    pub vsn: [u8; 6],
}

impl Member {
    /// The highest memberlist protocol it understands (`PMax`).
    pub fn protocol_max(&self) -> u8 {
        self.vsn[1]
    }

    /// Its `alive` message at its current incarnation.
    pub(crate) fn to_alive(&self) -> Alive {
        Alive {
            incarnation: self.incarnation,
            node: self.name.clone(),
            addr: ip_bytes(self.addr.ip()),
            port: self.addr.port(),
            meta: self.meta.clone(),
            vsn: Some(self.vsn),
        }
    }

    /// Its push/pull record.
    pub(crate) fn to_push(&self) -> PushNodeState {
        PushNodeState {
            name: self.name.clone(),
            addr: ip_bytes(self.addr.ip()),
            port: self.addr.port(),
            meta: self.meta.clone(),
            incarnation: self.incarnation,
            state: self.state.to_wire(),
            vsn: Some(self.vsn),
        }
    }
}

/// An IP as the wire carries it: 4 or 16 raw bytes.
pub(crate) fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// A raw wire IP and port as an address; `None` unless the IP is 4 or 16 bytes.
pub(crate) fn socket_addr(ip: &[u8], port: u16) -> Option<SocketAddr> {
    let ip = match ip.len() {
        4 => IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(ip);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The table. `nodes` is also the probe order: a new node is inserted at a
/// random position and the whole list is reshuffled each time the prober wraps,
/// as Go does, so every node is probed once per round in an unpredictable order.
#[derive(Debug)]
pub(crate) struct Members {
    nodes: Vec<Member>,
    /// Position of each name in `nodes`; looked up, never iterated.
    index: FxMap<String, usize>,
}

impl Members {
    /// An empty table whose name lookups are keyed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Members {
            nodes: Vec::new(),
            index: FxMap::with_hasher(FxBuild::new(seed)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Member> {
        self.nodes.iter()
    }

    pub(crate) fn at(&self, i: usize) -> Option<&Member> {
        self.nodes.get(i)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Member> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Member> {
        self.index.get(name).map(|&i| &mut self.nodes[i])
    }

    /// Adds a node at a random position of the probe order.
    pub(crate) fn insert(&mut self, member: Member, rng: &mut SmallRng) {
        let n = self.nodes.len();
        self.index.insert(member.name.clone(), n);
        self.nodes.push(member);
        let offset = rng.gen_range(0..=n);
        self.swap(offset, n);
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.nodes.swap(a, b);
        for i in [a, b] {
            if let Some(slot) = self.index.get_mut(&self.nodes[i].name) {
                *slot = i;
            }
        }
    }

    /// Removes the nodes `forget` selects, reshuffles the rest, and returns the
    /// removed ones.
    pub(crate) fn reset(
        &mut self,
        rng: &mut SmallRng,
        mut forget: impl FnMut(&Member) -> bool,
    ) -> Vec<Member> {
        let (gone, kept): (Vec<Member>, Vec<Member>) = std::mem::take(&mut self.nodes)
            .into_iter()
            .partition(|m| forget(m));
        self.nodes = kept;
        self.nodes.shuffle(rng);
        self.index.clear();
        for (i, m) in self.nodes.iter().enumerate() {
            self.index.insert(m.name.clone(), i);
        }
        gone
    }

    /// Up to `k` distinct random nodes that `keep` accepts, drawn like Go's
    /// `kRandomNodes`: at most `3 × len` tries, so a sparse match on a large
    /// table gives up rather than scanning.
    pub(crate) fn k_random(
        &self,
        k: usize,
        rng: &mut SmallRng,
        mut keep: impl FnMut(&Member) -> bool,
    ) -> Vec<usize> {
        let n = self.nodes.len();
        let mut out: Vec<usize> = Vec::with_capacity(k);
        if n == 0 {
            return out;
        }
        for _ in 0..3 * n {
            if out.len() >= k {
                break;
            }
            let i = rng.gen_range(0..n);
            if !keep(&self.nodes[i]) || out.contains(&i) {
                continue;
            }
            out.push(i);
        }
        out
    }
}
