//! The simulated network: per-link delay and loss, partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;

/// How one direction of a link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Shortest one-way delay.
    pub min_delay: Duration,
    /// Longest one-way delay; each delivery draws uniformly in between.
    pub max_delay: Duration,
    /// Probability that a datagram is lost (streams are reliable unless the
    /// link is cut).
    pub loss: f64,
}

impl Default for LinkConfig {
    /// A LAN: 0.5–2 ms, no loss.
    fn default() -> Self {
        LinkConfig {
            min_delay: Duration::from_micros(500),
            max_delay: Duration::from_millis(2),
            loss: 0.0,
        }
    }
}

/// Links and partitions between node indices.
#[derive(Debug, Clone, Default)]
pub struct Network {
    default: LinkConfig,
    /// Overrides per directed link `(from, to)`.
    links: BTreeMap<(usize, usize), LinkConfig>,
    /// Partition group of each node; nodes talk only within their group. Nodes
    /// absent from the map are in group 0.
    groups: BTreeMap<usize, usize>,
    /// Directed links cut by [`Network::cut`].
    cuts: BTreeSet<(usize, usize)>,
}

impl Network {
    /// A network whose every link behaves like `default`.
    pub fn new(default: LinkConfig) -> Self {
        Network {
            default,
            ..Network::default()
        }
    }

    /// Overrides the link from `from` to `to` (one direction).
    pub fn set_link(&mut self, from: usize, to: usize, link: LinkConfig) {
        self.links.insert((from, to), link);
    }

    /// Splits the network: each listed set becomes a group that hears only
    /// itself; unlisted nodes form one more group.
    pub fn partition(&mut self, sets: &[&[usize]]) {
        self.groups.clear();
        for (g, set) in sets.iter().enumerate() {
            for &n in *set {
                self.groups.insert(n, g + 1);
            }
        }
    }

    /// Cuts one direction: datagrams from `from` to `to` are dropped, and
    /// streams between the two fail whichever end opens them (a stream needs
    /// both directions). The way back still carries datagrams: an asymmetric
    /// partition.
    pub fn cut(&mut self, from: usize, to: usize) {
        self.cuts.insert((from, to));
    }

    /// Ends every partition and every cut.
    pub fn heal(&mut self) {
        self.groups.clear();
        self.cuts.clear();
    }

    /// True when `a` and `b` are on the same side of every partition.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.groups.get(&a).copied().unwrap_or(0) == self.groups.get(&b).copied().unwrap_or(0)
    }

    /// True when a datagram from `from` can reach `to` (loss aside).
    pub fn carries(&self, from: usize, to: usize) -> bool {
        self.connected(from, to) && !self.cuts.contains(&(from, to))
    }

    /// True when a stream between `a` and `b` can complete.
    pub fn streams(&self, a: usize, b: usize) -> bool {
        self.carries(a, b) && self.carries(b, a)
    }

    fn link(&self, from: usize, to: usize) -> LinkConfig {
        self.links.get(&(from, to)).copied().unwrap_or(self.default)
    }

    /// The delay of one delivery from `from` to `to`.
    pub fn delay(&self, from: usize, to: usize, rng: &mut SmallRng) -> Duration {
        let link = self.link(from, to);
        if link.max_delay <= link.min_delay {
            return link.min_delay;
        }
        let span = (link.max_delay - link.min_delay).as_nanos() as u64;
        link.min_delay + Duration::from_nanos(rng.gen_range(0..=span))
    }

    /// Whether one datagram from `from` to `to` is lost.
    pub fn lose(&self, from: usize, to: usize, rng: &mut SmallRng) -> bool {
        let loss = self.link(from, to).loss;
        loss > 0.0 && rng.gen_bool(loss.min(1.0))
    }
}
