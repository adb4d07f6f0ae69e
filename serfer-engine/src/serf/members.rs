//! Serf's member table: the Serf status of every node (alive, leaving, left,
//! failed) derived from memberlist's events and from join/leave intents
//! ordered by the member clock (spec §9.3, §9.5).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use serfer_wire::serf::{decode_tags, JoinIntent, LeaveIntent, MemberStatus, SerfMessage};

use super::{Event, Serf};
use crate::memberlist;
use crate::Instant;

/// Serf's view of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique name.
    pub name: String,
    /// Gossip address.
    pub addr: SocketAddr,
    /// Tags decoded from its meta.
    pub tags: BTreeMap<String, String>,
    /// Serf status.
    pub status: MemberStatus,
    /// `[PMin, PMax, PCur, DMin, DMax, DCur]`.
    pub vsn: [u8; 6],
}

/// A change of membership, with the member as it is after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// Joined, or came back from failed or left.
    Join(Member),
    /// Left gracefully.
    Leave(Member),
    /// Failed (declared dead without a leave intent).
    Failed(Member),
    /// Tags (meta) or address changed.
    Update(Member),
    /// Forgotten: failed or left for longer than the reconnect or tombstone
    /// timeout, or pruned.
    Reap(Member),
}

#[derive(Debug, Clone)]
struct MemberState {
    member: Member,
    /// Member-clock time of the latest intent about it.
    status_ltime: u64,
    /// When it failed or left.
    leave_time: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntentKind {
    Join,
    Leave,
}

/// An intent about a node not yet known (Go's `nodeIntent`).
#[derive(Debug, Clone, Copy)]
struct Intent {
    kind: IntentKind,
    at: Instant,
    ltime: u64,
}

/// A member as every node of a simulated cluster started as one first knows
/// it: alive, with no intent yet, in one record for memberlist's table and one
/// for Serf's, which all those nodes share ([`Serf::adopt_members`]).
#[derive(Debug, Clone)]
pub(crate) struct SharedMember {
    name: Arc<str>,
    memberlist: Arc<memberlist::Member>,
    serf: Arc<MemberState>,
}

impl SharedMember {
    /// The shared records of `m`, a node's own member record.
    pub(crate) fn new(m: &memberlist::Member) -> Self {
        SharedMember {
            name: Arc::from(m.name.as_str()),
            memberlist: Arc::new(m.clone()),
            serf: Arc::new(MemberState::alive(
                m,
                decode_tags(&m.meta).unwrap_or_default(),
            )),
        }
    }
}

impl MemberState {
    /// `n` as Serf first records it: alive, with no intent yet.
    fn alive(n: &memberlist::Member, tags: BTreeMap<String, String>) -> Self {
        MemberState {
            member: Member {
                name: n.name.clone(),
                addr: n.addr,
                tags,
                status: MemberStatus::Alive,
                vsn: vsn_of(n),
            },
            status_ltime: 0,
            leave_time: None,
        }
    }
}

/// Every member, with the intents waiting for unknown nodes.
///
/// Records sit behind an `Arc`, copied when this table changes one
/// ([`MemberTable::state_mut`]), so the simulator's nodes of a cluster started
/// as one share a record per member ([`Serf::adopt_members`]).
#[derive(Debug, Default)]
pub(super) struct MemberTable {
    members: BTreeMap<Arc<str>, Arc<MemberState>>,
    /// Only the newest intent per node is kept, for `recent_intent_timeout`.
    intents: BTreeMap<String, Intent>,
    /// Leaving members pruned by a leave intent, erased at the given time.
    prunes: Vec<(Instant, String)>,
}

impl MemberTable {
    pub(super) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.members.values().map(|s| &s.member)
    }

    pub(super) fn get(&self, name: &str) -> Option<&Member> {
        self.members.get(name).map(|s| &s.member)
    }

    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// The record of `name`, to change: copied first if shared. Callers
    /// decide from [`MemberTable::get`] or `members.get` whether anything
    /// changes, so that the intents push/pull replays for every member copy
    /// nothing.
    fn state_mut(&mut self, name: &str) -> Option<&mut MemberState> {
        self.members.get_mut(name).map(Arc::make_mut)
    }

    /// Adds the records of `members` it does not know, sharing them. The map
    /// is built again from sorted entries, which packs its nodes full.
    fn adopt(&mut self, members: &[SharedMember]) {
        let known = std::mem::take(&mut self.members);
        let new: Vec<(Arc<str>, Arc<MemberState>)> = members
            .iter()
            .filter(|m| !known.contains_key(&*m.name))
            .map(|m| (Arc::clone(&m.name), Arc::clone(&m.serf)))
            .collect();
        self.members = known.into_iter().chain(new).collect();
    }

    /// Go's `hasAliveMembers`: is anybody else alive to hear a leave?
    pub(super) fn has_alive_others(&self, me: &str) -> bool {
        self.members
            .values()
            .any(|s| s.member.name != me && s.member.status == MemberStatus::Alive)
    }

    pub(super) fn next_prune(&self) -> Option<Instant> {
        self.prunes.iter().map(|(t, _)| *t).min()
    }

    /// Status time of every member, for push/pull.
    pub(super) fn status_ltimes(&self) -> BTreeMap<String, u64> {
        self.members
            .iter()
            .map(|(n, s)| (n.to_string(), s.status_ltime))
            .collect()
    }

    /// Names of left members, for push/pull.
    pub(super) fn left_names(&self) -> Vec<String> {
        self.members
            .values()
            .filter(|s| s.member.status == MemberStatus::Left)
            .map(|s| s.member.name.clone())
            .collect()
    }

    /// Keeps `intent` unless a newer one is held; true if kept (Go's
    /// `upsertIntent`, whose result decides re-broadcast).
    fn upsert_intent(&mut self, node: &str, kind: IntentKind, ltime: u64, now: Instant) -> bool {
        match self.intents.get(node) {
            Some(i) if ltime <= i.ltime => false,
            _ => {
                self.intents.insert(
                    node.to_owned(),
                    Intent {
                        kind,
                        at: now,
                        ltime,
                    },
                );
                true
            }
        }
    }

    fn recent_intent(&self, node: &str, kind: IntentKind) -> Option<u64> {
        self.intents
            .get(node)
            .filter(|i| i.kind == kind)
            .map(|i| i.ltime)
    }
}

fn vsn_of(m: &memberlist::Member) -> [u8; 6] {
    m.vsn
}

impl Serf {
    /// Takes `members` into memberlist's table and Serf's as they are,
    /// sharing their records, without a message or an event: a node that
    /// joined them long ago, whose join traffic has drained. Used by the
    /// simulator to start a large cluster without its N² join messages.
    pub(crate) fn adopt_members(&mut self, members: &[SharedMember]) {
        self.ml
            .adopt_members(members.iter().map(|m| (&m.name, &m.memberlist)));
        self.members.adopt(members);
    }

    /// memberlist says a node is alive: new, or back (Go's `handleNodeJoin`).
    pub(super) fn handle_node_join(&mut self, _now: Instant, n: &memberlist::Member) {
        let tags = decode_tags(&n.meta).unwrap_or_default();
        let table = &mut self.members;
        let state = match table.state_mut(&n.name) {
            Some(s) => {
                s.member.status = MemberStatus::Alive;
                s.leave_time = None;
                s.member.addr = n.addr;
                s.member.tags = tags;
                s.member.vsn = vsn_of(n);
                s.clone()
            }
            None => {
                let mut s = MemberState::alive(n, tags);
                // An intent that arrived before the node did applies now.
                if let Some(t) = table.recent_intent(&n.name, IntentKind::Join) {
                    s.status_ltime = t;
                }
                if let Some(t) = table.recent_intent(&n.name, IntentKind::Leave) {
                    s.member.status = MemberStatus::Leaving;
                    s.status_ltime = t;
                }
                table
                    .members
                    .insert(Arc::from(n.name.as_str()), Arc::new(s.clone()));
                s
            }
        };
        self.emit(Event::Member(MemberEvent::Join(state.member)));
    }

    /// memberlist says a node is dead or left (Go's `handleNodeLeave`): a
    /// leaving member has left, an alive one has failed.
    pub(super) fn handle_node_leave(&mut self, now: Instant, n: &memberlist::Member) {
        let status = match self.members.get(&n.name).map(|m| m.status) {
            Some(MemberStatus::Leaving) => MemberStatus::Left,
            Some(MemberStatus::Alive) => MemberStatus::Failed,
            _ => return,
        };
        let Some(s) = self.members.state_mut(&n.name) else {
            return;
        };
        s.member.status = status;
        s.leave_time = Some(now);
        let m = s.member.clone();
        let ev = if status == MemberStatus::Left {
            MemberEvent::Leave(m)
        } else {
            MemberEvent::Failed(m)
        };
        self.emit(Event::Member(ev));
    }

    /// memberlist says a node's meta changed (Go's `handleNodeUpdate`).
    pub(super) fn handle_node_update(&mut self, n: &memberlist::Member) {
        let Some(s) = self.members.state_mut(&n.name) else {
            return;
        };
        s.member.addr = n.addr;
        s.member.tags = decode_tags(&n.meta).unwrap_or_default();
        s.member.vsn = vsn_of(n);
        let m = s.member.clone();
        self.emit(Event::Member(MemberEvent::Update(m)));
    }

    /// Go's `handleNodeLeaveIntent`; true to re-broadcast.
    pub(super) fn handle_leave_intent(&mut self, now: Instant, msg: &LeaveIntent) -> bool {
        self.clock.witness(msg.ltime);
        let me = self.ml.name() == msg.node;
        let Some(s) = self.members.members.get(msg.node.as_str()) else {
            return self
                .members
                .upsert_intent(&msg.node, IntentKind::Leave, msg.ltime, now);
        };
        if me && self.state == super::SerfState::Alive {
            // Somebody thinks we are leaving: refute with a newer join. A leave
            // at the very time of our own join is refuted too (Go ignores
            // it): it is an earlier life's leave passed on by push/pull, one
            // past the time it was held at, which our join happened to meet,
            // and the nodes that heard the leave first keep it.
            if msg.ltime >= s.status_ltime {
                self.refute_status(now, msg.ltime);
            }
            return false;
        }
        if msg.ltime <= s.status_ltime {
            return false;
        }
        let Some(s) = self.members.state_mut(&msg.node) else {
            return false;
        };
        s.status_ltime = msg.ltime;
        match s.member.status {
            MemberStatus::Alive => {
                s.member.status = MemberStatus::Leaving;
                if msg.prune {
                    self.prune(now, &msg.node);
                }
                true
            }
            MemberStatus::Failed => {
                s.member.status = MemberStatus::Left;
                let m = s.member.clone();
                self.emit(Event::Member(MemberEvent::Leave(m)));
                if msg.prune {
                    self.prune(now, &msg.node);
                }
                true
            }
            MemberStatus::Leaving | MemberStatus::Left => {
                if msg.prune {
                    self.prune(now, &msg.node);
                }
                true
            }
            _ => false,
        }
    }

    /// Go's `handleNodeJoinIntent` for a join intent received; true to
    /// re-broadcast.
    pub(super) fn handle_join_intent(&mut self, now: Instant, msg: &JoinIntent) -> bool {
        self.apply_join_intent(now, msg, false)
    }

    /// `own` marks this node's own join, applied before it is sent.
    fn apply_join_intent(&mut self, now: Instant, msg: &JoinIntent, own: bool) -> bool {
        self.clock.witness(msg.ltime);
        let Some(s) = self.members.members.get(msg.node.as_str()) else {
            return self
                .members
                .upsert_intent(&msg.node, IntentKind::Join, msg.ltime, now);
        };
        if msg.ltime <= s.status_ltime {
            return false;
        }
        if !own && self.ml.name() == msg.node && self.state == super::SerfState::Alive {
            // Our own joins are applied before they are sent, so a newer
            // status about us is another node's memory of an earlier life of
            // this name: typically a leave intent, which push/pull passes on
            // as a bare status time, newer than the join of a fresh process
            // whose join partner had not seen that leave. A node holding it
            // keeps us *leaving* for good, as nothing else about us will ever
            // be newer: answer with a join newer than it. Go's Serf does not,
            // and leaves such a member stuck.
            self.refute_status(now, msg.ltime);
            return false;
        }
        let Some(s) = self.members.state_mut(&msg.node) else {
            return false;
        };
        s.status_ltime = msg.ltime;
        if s.member.status == MemberStatus::Leaving {
            s.member.status = MemberStatus::Alive;
        }
        true
    }

    /// Answers a status about this node at `ltime` (a leave, or a status time
    /// newer than its join) with a join at `ltime + 2` or later. Go answers at
    /// `ltime + 1`, but a node that holds this node as left at `ltime` passes
    /// the leave on in push/pull as a leave at `ltime + 1` (Go's rule for
    /// left members, whose leave time push/pull does not carry): a join at
    /// that same time is no newer, and the leave would win wherever it
    /// arrived first.
    fn refute_status(&mut self, now: Instant, ltime: u64) {
        self.clock.witness(ltime.saturating_add(1));
        let t = self.clock.time();
        self.broadcast_join(now, t);
    }

    /// Go's `broadcastJoin`: a join intent at `ltime`, applied locally and
    /// gossiped.
    pub(super) fn broadcast_join(&mut self, now: Instant, ltime: u64) {
        let msg = JoinIntent {
            ltime,
            node: self.ml.name().to_owned(),
        };
        self.clock.witness(ltime);
        self.apply_join_intent(now, &msg, true);
        self.broadcast(SerfMessage::Join(msg));
    }

    /// Go's `handlePrune`: a leaving member is erased once its leave had time
    /// to spread, any other at once.
    fn prune(&mut self, now: Instant, name: &str) {
        let leaving = self
            .members
            .members
            .get(name)
            .is_some_and(|s| s.member.status == MemberStatus::Leaving);
        if leaving {
            let at = now + self.config.broadcast_timeout + self.config.leave_propagate_delay;
            self.members.prunes.push((at, name.to_owned()));
        } else {
            self.erase(name);
        }
    }

    pub(super) fn run_prunes(&mut self, now: Instant) {
        if self.members.prunes.is_empty() {
            return;
        }
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.members.prunes)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.members.prunes = keep;
        for (_, name) in due {
            self.erase(&name);
        }
    }

    fn erase(&mut self, name: &str) {
        if let Some(s) = self.members.members.remove(name) {
            self.coords.forget(name);
            self.coord_cache.remove(name);
            self.coord_generation += 1;
            let member = Arc::unwrap_or_clone(s).member;
            self.emit(Event::Member(MemberEvent::Reap(member)));
        }
    }

    /// Go's `handleReap`: forgets members failed longer than the reconnect
    /// timeout or left longer than the tombstone timeout, and stale intents.
    pub(super) fn reap(&mut self, now: Instant) {
        let due: Vec<String> = self
            .members
            .members
            .values()
            .filter(|s| {
                let timeout = match s.member.status {
                    MemberStatus::Failed => self.config.reconnect_timeout,
                    MemberStatus::Left => self.config.tombstone_timeout,
                    _ => return false,
                };
                s.leave_time.is_some_and(|t| now - t > timeout)
            })
            .map(|s| s.member.name.clone())
            .collect();
        for name in due {
            self.erase(&name);
        }
        let timeout = self.config.recent_intent_timeout;
        self.members.intents.retain(|_, i| now - i.at <= timeout);
    }

    /// Go's `reconnect`: with probability failed / alive, a push/pull join to
    /// one random failed member. This is what heals a partition after both
    /// sides declared each other failed.
    pub(super) fn reconnect(&mut self, now: Instant) {
        let failed: Vec<SocketAddr> = self
            .members
            .members
            .values()
            .filter(|s| s.member.status == MemberStatus::Failed)
            .map(|s| s.member.addr)
            .collect();
        if failed.is_empty() {
            return;
        }
        let left = self
            .members
            .members
            .values()
            .filter(|s| s.member.status == MemberStatus::Left)
            .count();
        let alive = self
            .members
            .len()
            .saturating_sub(failed.len() + left)
            .max(1);
        let prob = failed.len() as f32 / alive as f32;
        if self.rng.gen::<f32>() > prob {
            return;
        }
        if let Some(&addr) = failed.choose(&mut self.rng) {
            self.refresh_state();
            self.ml.join(now, &[addr]);
        }
    }

    pub(super) fn emit(&mut self, e: Event) {
        if let Event::Member(change) = &e {
            let (kind, m) = match change {
                MemberEvent::Join(m) => ("Join", m),
                MemberEvent::Leave(m) => ("Leave", m),
                MemberEvent::Failed(m) => ("Failed", m),
                MemberEvent::Update(m) => ("Update", m),
                MemberEvent::Reap(m) => ("Reap", m),
            };
            // Go's agent logs each change in these words; operators grep for them.
            tracing::info!("EventMember{kind}: {} {}", m.name, m.addr.ip());
        }
        match e {
            // Held until the input being handled is over, when its time is
            // known (`Serf::hold_member_events`).
            Event::Member(change) if self.coalescer.is_some() => self.held.push(change),
            e => self.outputs.push_back(super::Output::Event(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sim::{sim_name, Sim, SimConfig};

    fn record(sim: &Sim<Serf>, node: usize, of: usize) -> Arc<MemberState> {
        Arc::clone(&sim.core(node).members.members[sim_name(of).as_str()])
    }

    #[test]
    fn a_cluster_started_as_one_shares_records_until_a_node_changes_its_own() {
        let mut sim = Sim::serf(SimConfig::default());
        let configs: Vec<_> = (0..5).map(|i| sim.serf_config(i)).collect();
        sim.add_cluster(configs).unwrap();
        for i in 0..5 {
            assert_eq!(sim.core(i).members().count(), 5);
            for j in (0..5).filter(|&j| j != i) {
                let other = (0..5).find(|&k| k != i && k != j).unwrap();
                assert!(
                    Arc::ptr_eq(&record(&sim, i, j), &record(&sim, other, j)),
                    "node {i} and node {other} hold copies of node {j}"
                );
            }
        }
        // What push/pull replays for every member, status times no newer
        // than the held ones, changes nothing and so copies nothing.
        sim.with_core(0, |serf, now| {
            for j in 0..5 {
                let join = JoinIntent {
                    ltime: 0,
                    node: sim_name(j),
                };
                assert!(!serf.handle_join_intent(now, &join));
            }
        });
        assert!(Arc::ptr_eq(&record(&sim, 0, 4), &record(&sim, 1, 4)));
        // A leave node 0 alone hears is node 0's alone.
        sim.with_core(0, |serf, now| {
            let leave = LeaveIntent {
                ltime: 1,
                node: sim_name(4),
                prune: false,
            };
            assert!(serf.handle_leave_intent(now, &leave));
        });
        assert_eq!(
            sim.core(0).member(&sim_name(4)).unwrap().status,
            MemberStatus::Leaving
        );
        for i in 1..4 {
            assert_eq!(
                sim.core(i).member(&sim_name(4)).unwrap().status,
                MemberStatus::Alive
            );
        }
        assert!(!Arc::ptr_eq(&record(&sim, 0, 4), &record(&sim, 1, 4)));
        assert!(Arc::ptr_eq(&record(&sim, 1, 4), &record(&sim, 2, 4)));
    }
}
