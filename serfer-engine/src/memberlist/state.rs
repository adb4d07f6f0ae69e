//! The member table: every node this core knows, itself included, in probe
//! order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

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
///
/// Each record sits behind an `Arc` and is copied only when this table changes
/// it ([`Members::get_mut`]), so tables can share the records they agree on:
/// the simulator's nodes of a cluster started as one
/// ([`Members::adopt`]) hold one record per member between them, not one
/// each, which is what lets it hold 10,000 nodes.
#[derive(Debug)]
pub(crate) struct Members {
    nodes: Vec<Arc<Member>>,
    /// Position of each name in `nodes`; looked up, never iterated.
    index: FxMap<Arc<str>, usize>,
    /// Positions in `nodes` in the order gossip visits them: a shuffled pass
    /// over the table, taken a few at a time ([`Members::next_gossip_targets`]).
    gossip_pass: Vec<usize>,
    /// How much of `gossip_pass` has been visited; past its end when a new
    /// shuffle is due.
    gossip_next: usize,
}

impl Members {
    /// An empty table whose name lookups are keyed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Members {
            nodes: Vec::new(),
            index: FxMap::with_hasher(FxBuild::new(seed)),
            gossip_pass: Vec::new(),
            gossip_next: usize::MAX,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &Member> + Clone {
        self.nodes.iter().map(|m| &**m)
    }

    pub(crate) fn at(&self, i: usize) -> Option<&Member> {
        self.nodes.get(i).map(|m| &**m)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Member> {
        self.index.get(name).map(|&i| &*self.nodes[i])
    }

    /// The record of `name`, to change: copied first if another table shares
    /// it. Callers check with [`Members::get`] before, so that a claim that
    /// changes nothing copies nothing.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Member> {
        self.index
            .get(name)
            .map(|&i| Arc::make_mut(&mut self.nodes[i]))
    }

    /// Adds a node at a random position of the probe order.
    pub(crate) fn insert(&mut self, member: Member, rng: &mut SmallRng) {
        let n = self.nodes.len();
        self.index.insert(Arc::from(member.name.as_str()), n);
        self.nodes.push(Arc::new(member));
        let offset = rng.gen_range(0..=n);
        self.swap(offset, n);
        if self.gossip_next != usize::MAX && self.gossip_pass.len() == n {
            self.join_gossip_pass(offset, n, rng);
        }
    }

    /// Puts a newcomer, now at position `at` of `n + 1`, into the gossip pass
    /// under way as if the pass had been shuffled with it: at a uniformly
    /// random place, visited or not. Placing it among the unvisited only
    /// would make newcomers the next targets whenever a pass is nearly done,
    /// just when the queue holds their own `alive`s: a node that learns
    /// three others by push/pull would send their alives back to them.
    fn join_gossip_pass(&mut self, at: usize, n: usize, rng: &mut SmallRng) {
        if at != n {
            // The member that was at `at` now is at the end; its slot (and
            // whether it was visited) stays its own.
            if let Some(slot) = self.gossip_pass.iter_mut().find(|p| **p == at) {
                *slot = n;
            }
        }
        let place = rng.gen_range(0..=n);
        self.gossip_pass.insert(place, at);
        if place < self.gossip_next {
            self.gossip_next += 1;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.nodes.swap(a, b);
        for i in [a, b] {
            if let Some(slot) = self.index.get_mut(self.nodes[i].name.as_str()) {
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
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.nodes)
            .into_iter()
            .partition(|m| forget(m));
        self.nodes = kept;
        for m in &gone {
            self.index.remove(m.name.as_str());
        }
        self.reshuffle(rng);
        gone.into_iter().map(Arc::unwrap_or_clone).collect()
    }

    /// Adds the records of `members` whose names it does not know, as they
    /// are and without copying them, and reshuffles the probe order: the
    /// table of a node that has long known these members.
    pub(crate) fn adopt<'a>(
        &mut self,
        members: impl IntoIterator<Item = (&'a Arc<str>, &'a Arc<Member>)>,
        rng: &mut SmallRng,
    ) {
        let members = members.into_iter();
        self.nodes.reserve_exact(members.size_hint().0);
        for (name, member) in members {
            if !self.index.contains_key(&**name) {
                self.index.insert(Arc::clone(name), usize::MAX);
                self.nodes.push(Arc::clone(member));
            }
        }
        self.reshuffle(rng);
    }

    /// A new probe order and the index to match; a new gossip pass starts,
    /// since the positions now hold other members. Every member in `nodes`
    /// is indexed already, and keeps its key (shared with other tables, when
    /// adopted): only positions change.
    fn reshuffle(&mut self, rng: &mut SmallRng) {
        self.nodes.shuffle(rng);
        for (i, m) in self.nodes.iter().enumerate() {
            if let Some(slot) = self.index.get_mut(m.name.as_str()) {
                *slot = i;
            }
        }
        self.gossip_pass.clear();
        self.gossip_next = usize::MAX;
    }

    /// Up to `k` distinct nodes that `keep` accepts, the next ones of a
    /// shuffled pass over the table: every member is a gossip target once
    /// before any is again, and each pass is a new shuffle.
    ///
    /// Go's memberlist draws each round's targets at random
    /// (`kRandomNodes`). A queued message is sent only a few times
    /// (`RetransmitMult × ⌈log10(N+1)⌉`, 8 at N = 30), over a few rounds,
    /// and drawn at random those sends can repeat a node, so a node misses
    /// the message when every holder happens to pass it over; gossip then
    /// leaves it to push/pull, tens of seconds later. Taken from a pass, one
    /// sender's sends of a message reach distinct nodes. In the simulator,
    /// 1,200 bursts of 100 events at N = 30, lossless (`serfer-bench
    /// bursts`): 31 bursts left an event to push/pull against 92 with random
    /// targets, 212 (node, event) misses against 841. Which nodes are targets
    /// is not on the wire.
    pub(crate) fn next_gossip_targets(
        &mut self,
        k: usize,
        rng: &mut SmallRng,
        mut keep: impl FnMut(&Member) -> bool,
    ) -> Vec<usize> {
        let n = self.nodes.len();
        if self.gossip_pass.len() != n {
            // No pass yet, or members were forgotten since (an insert keeps
            // the pass under way whole).
            self.gossip_pass = (0..n).collect();
            self.gossip_next = usize::MAX;
        }
        let mut out: Vec<usize> = Vec::with_capacity(k);
        // Each position is looked at at most twice: the rest of this pass,
        // then a new one.
        for _ in 0..2 * n {
            if out.len() >= k {
                break;
            }
            if self.gossip_next >= n {
                self.gossip_pass.shuffle(rng);
                self.gossip_next = 0;
            }
            let i = self.gossip_pass[self.gossip_next];
            self.gossip_next += 1;
            if keep(&self.nodes[i]) && !out.contains(&i) {
                out.push(i);
            }
        }
        out
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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn member(i: usize) -> Member {
        Member {
            name: format!("node-{i}"),
            addr: SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16)),
            meta: Vec::new(),
            incarnation: 1,
            state: MemberState::Alive,
            state_change: Instant::ZERO,
            vsn: [0; 6],
        }
    }

    fn table(n: usize, rng: &mut SmallRng) -> Members {
        let mut members = Members::new(7);
        for i in 0..n {
            members.insert(member(i), rng);
        }
        members
    }

    /// Names of the next `count` single targets.
    fn next_names(members: &mut Members, rng: &mut SmallRng, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| {
                let i = members.next_gossip_targets(1, rng, |_| true)[0];
                members.at(i).unwrap().name.clone()
            })
            .collect()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn gossip_targets_visit_every_member_once_per_pass_in_a_new_order() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut members = table(10, &mut rng);
        let all = sorted((0..10).map(|i| format!("node-{i}")).collect());
        let first = next_names(&mut members, &mut rng, 10);
        let second = next_names(&mut members, &mut rng, 10);
        assert_eq!(sorted(first.clone()), all);
        assert_eq!(sorted(second.clone()), all);
        assert_ne!(first, second, "each pass is a new shuffle");
    }

    #[test]
    fn gossip_targets_of_one_call_are_distinct_across_a_pass_boundary() {
        let mut rng = SmallRng::seed_from_u64(5);
        let mut members = table(4, &mut rng);
        // 4 members taken 3 at a time: every second call straddles two passes.
        for _ in 0..20 {
            let mut got = members.next_gossip_targets(3, &mut rng, |_| true);
            assert_eq!(got.len(), 3);
            got.sort_unstable();
            got.dedup();
            assert_eq!(got.len(), 3, "a target twice in one round");
        }
    }

    #[test]
    fn a_newcomer_joins_the_pass_under_way_at_a_random_place() {
        let (mut visited, mut ahead) = (0, 0);
        for seed in 0..64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut members = table(6, &mut rng);
            let taken = sorted(next_names(&mut members, &mut rng, 2));
            members.insert(member(6), &mut rng);
            // Still a permutation of the positions...
            let mut pass = members.gossip_pass.clone();
            pass.sort_unstable();
            assert_eq!(pass, (0..7).collect::<Vec<_>>(), "seed {seed}");
            // ...in which the members visited before the insert still are,
            // wherever the insert moved them.
            let name = |p: &usize| members.at(*p).unwrap().name.clone();
            let before: Vec<String> = members.gossip_pass[..members.gossip_next]
                .iter()
                .map(name)
                .filter(|n| n != "node-6")
                .collect();
            assert_eq!(sorted(before), taken, "seed {seed}");
            let newcomer = members
                .gossip_pass
                .iter()
                .position(|p| name(p) == "node-6")
                .unwrap();
            if newcomer < members.gossip_next {
                visited += 1;
            } else {
                ahead += 1;
            }
        }
        // 2 of 7 places are behind the cursor: both happen.
        assert!(visited > 0 && ahead > visited, "{visited} / {ahead}");
    }

    /// Shared records of nodes `0..n`, as the simulator hands them out.
    fn shared(n: usize) -> Vec<(Arc<str>, Arc<Member>)> {
        (0..n)
            .map(|i| {
                let m = member(i);
                (Arc::from(m.name.as_str()), Arc::new(m))
            })
            .collect()
    }

    fn record<'a>(members: &'a Members, name: &str) -> &'a Arc<Member> {
        &members.nodes[members.index[name]]
    }

    #[test]
    fn adopted_records_are_shared_until_one_table_changes_its_own() {
        let records = shared(50);
        let mut rng = SmallRng::seed_from_u64(9);
        let mut a = Members::new(1);
        let mut b = Members::new(2);
        // `a` already knows node-3 by a record of its own, as a node knows
        // itself: that record stays.
        let mut own = member(3);
        own.incarnation = 7;
        a.insert(own, &mut rng);
        a.adopt(records.iter().map(|(n, m)| (n, m)), &mut rng);
        b.adopt(records.iter().map(|(n, m)| (n, m)), &mut rng);
        assert_eq!((a.len(), b.len()), (50, 50));
        assert_eq!(a.get("node-3").unwrap().incarnation, 7);
        for (name, m) in &records {
            // Every name is found where the index says, after the shuffle.
            assert_eq!(b.get(name).unwrap().name, **name);
            if &**name != "node-3" {
                assert!(Arc::ptr_eq(record(&a, name), m), "{name} not shared");
            }
            assert!(Arc::ptr_eq(record(&b, name), m));
        }
        // One table's change is its own: the other table and the shared
        // record keep what they had.
        a.get_mut("node-5").unwrap().state = MemberState::Suspect;
        assert_eq!(a.get("node-5").unwrap().state, MemberState::Suspect);
        assert_eq!(b.get("node-5").unwrap().state, MemberState::Alive);
        assert!(!Arc::ptr_eq(record(&a, "node-5"), record(&b, "node-5")));
        assert!(Arc::ptr_eq(record(&b, "node-5"), &records[5].1));
        // Forgetting after adopting keeps the rest findable.
        let gone = b.reset(&mut rng, |m| m.name == "node-7");
        assert_eq!(gone.len(), 1);
        assert!(b.get("node-7").is_none());
        assert_eq!(b.len(), 49);
        for i in (0..50).filter(|&i| i != 7) {
            let name = format!("node-{i}");
            assert_eq!(b.get(&name).unwrap().name, name);
        }
    }

    #[test]
    fn gossip_targets_skip_the_ineligible_and_give_up_after_two_passes() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut members = table(8, &mut rng);
        let got = members.next_gossip_targets(3, &mut rng, |m| m.name == "node-4");
        assert_eq!(got.len(), 1);
        assert_eq!(members.at(got[0]).unwrap().name, "node-4");
        assert!(members
            .next_gossip_targets(3, &mut rng, |_| false)
            .is_empty());
        // A table that shrank starts a pass over what is left.
        members.reset(&mut rng, |m| m.name != "node-0" && m.name != "node-1");
        let left = next_names(&mut members, &mut rng, 2);
        assert_eq!(sorted(left), vec!["node-0".to_owned(), "node-1".to_owned()]);
    }
}
