//! The membership state machine (alive, suspect, dead claims and refutation)
//! and the gossip round that spreads it.
//!
//! Claims are ordered by incarnation, which only a node itself increments: a
//! claim about an older incarnation is stale, and a node accused at its current
//! incarnation answers with a higher one (refutes), which overrides the claim
//! everywhere it spreads.

use std::net::SocketAddr;
use std::sync::Arc;

use serfer_wire::memberlist::{Alive, Dead, Message, Suspect};

use super::broadcast::Notify;
use super::state::{socket_addr, Member, MemberState};
use super::suspicion::{suspicion_timeout, Suspicion};
use super::{Memberlist, NodeEvent, Output};
use crate::Instant;

impl Memberlist {
    /// Queues a memberlist message about `node`, replacing any queued one about
    /// the same node.
    fn broadcast(&mut self, node: &str, msg: Message, notify: Option<Notify>) {
        // Encoding fails only for fields over wire limits, which decoded or
        // locally built messages cannot reach.
        if let Ok(bytes) = msg.encode() {
            self.broadcasts.push(Some(node.to_owned()), bytes, notify);
        }
    }

    /// Answers a claim about this node at incarnation `accused`: takes an
    /// incarnation above both its own and the claim's, gossips `alive` with it,
    /// and counts the refutation against its own health (having to refute is a
    /// hint that this node is the slow one).
    pub(crate) fn refute(&mut self, accused: u32) {
        let name = self.config.name.clone();
        let Some(me) = self.members.get_mut(&name) else {
            return;
        };
        let mut inc = me.incarnation.wrapping_add(1);
        if accused >= inc {
            inc = accused.wrapping_add(1);
        }
        me.incarnation = inc;
        let alive = me.to_alive();
        self.awareness.apply_delta(1);
        self.stats.refutes += 1;
        self.broadcast(&name, Message::Alive(alive), None);
    }

    /// Answers a claim about this node older than its incarnation by gossiping
    /// its current `alive` again. Go ignores such a claim; but a node that
    /// holds it never had this node's refutation, and the refutation is all
    /// that can end its suspicion: its probes are answered, yet the timer
    /// runs on, and it declares this node dead. Found in the simulator: a
    /// node refuted, one peer of seven missed the `alive`, kept probing with
    /// the old accusation attached (which the suspect ignored) and failed it
    /// 24 s later. Nothing is refuted: the incarnation stays.
    fn reassert_alive(&mut self) {
        if self.leaving {
            return;
        }
        let name = self.config.name.clone();
        let Some(me) = self.members.get(&name) else {
            return;
        };
        let alive = me.to_alive();
        self.broadcast(&name, Message::Alive(alive), None);
    }

    /// Handles an `alive` claim. `bootstrap` marks this node's own
    /// announcements (at start and on a metadata change), which are taken as
    /// they are instead of refuted.
    pub(crate) fn alive_node(&mut self, now: Instant, a: Alive, bootstrap: bool) {
        let name = a.node.clone();
        let is_local = name == self.config.name;
        if self.leaving && is_local {
            return;
        }
        if let Some(v) = a.vsn {
            if v[0] == 0 || v[1] == 0 || v[0] > v[1] {
                return;
            }
        }
        let Some(addr) = socket_addr(&a.addr, a.port) else {
            return;
        };
        // Fast path for the common case in a large cluster: a stale or repeated
        // claim about a known peer at its known address.
        if let Some(m) = self.members.get(&name) {
            if !is_local && m.addr == addr && a.incarnation <= m.incarnation {
                return;
            }
        }
        let mut updates_node = false;
        match self.members.get(&name) {
            None => {
                // Go inserts the node as dead first and then ignores an alive at
                // incarnation 0, leaving a zombie entry; not inserting it is the
                // same as far as anyone can observe.
                if a.incarnation == 0 && !is_local {
                    return;
                }
                let member = Member {
                    name: name.clone(),
                    addr,
                    meta: a.meta.clone(),
                    incarnation: 0,
                    state: MemberState::Dead,
                    state_change: now,
                    vsn: a.vsn.unwrap_or_default(),
                };
                self.members.insert(member, &mut self.rng);
            }
            Some(m) if m.addr != addr => {
                let reclaim = !self.config.dead_node_reclaim_time.is_zero()
                    && now.saturating_since(m.state_change) > self.config.dead_node_reclaim_time;
                if m.state == MemberState::Left || (m.state == MemberState::Dead && reclaim) {
                    updates_node = true;
                } else {
                    let existing = m.clone();
                    let other = Member {
                        name,
                        addr,
                        meta: a.meta,
                        incarnation: a.incarnation,
                        state: MemberState::Alive,
                        state_change: now,
                        vsn: a.vsn.unwrap_or_default(),
                    };
                    self.outputs
                        .push_back(Output::Event(NodeEvent::Conflict { existing, other }));
                    return;
                }
            }
            Some(_) => {}
        }
        let Some(m) = self.members.get(&name) else {
            return;
        };
        if a.incarnation <= m.incarnation && !is_local && !updates_node {
            return;
        }
        if a.incarnation < m.incarnation && is_local {
            return;
        }
        let old_state = m.state;
        let old_meta = m.meta.clone();
        if !bootstrap && is_local {
            if a.incarnation == m.incarnation && a.meta == m.meta && a.vsn == Some(m.vsn) {
                return;
            }
            self.suspicions.remove(&name);
            // Someone speaks for us with other data or a newer incarnation: an
            // old instance of this node, or a forged claim. Out-bid it.
            tracing::warn!(
                incarnation = a.incarnation,
                "refuting an alive message about this node with other data"
            );
            self.refute(a.incarnation);
        } else {
            self.suspicions.remove(&name);
            let (vsn, incarnation, meta) = (a.vsn, a.incarnation, a.meta.clone());
            self.broadcast(&name, Message::Alive(a), None);
            let Some(m) = self.members.get_mut(&name) else {
                return;
            };
            if let Some(v) = vsn {
                m.vsn = v;
            }
            m.incarnation = incarnation;
            m.meta = meta;
            m.addr = addr;
            if m.state != MemberState::Alive {
                m.state = MemberState::Alive;
                m.state_change = now;
            }
        }
        let Some(m) = self.members.get(&name) else {
            return;
        };
        if old_state.is_dead_or_left() {
            self.outputs
                .push_back(Output::Event(NodeEvent::Join(m.clone())));
        } else if old_meta != m.meta {
            self.outputs
                .push_back(Output::Event(NodeEvent::Update(m.clone())));
        }
    }

    /// Handles a `suspect` claim: starts a suspicion timer, or counts the
    /// claimant as a confirmation of a running one.
    pub(crate) fn suspect_node(&mut self, now: Instant, s: Suspect) {
        self.suspect(now, s, true);
    }

    /// A suspicion learned from a push/pull partner's table: raised here if
    /// the node was alive, as Go does, but neither gossiped nor counted as a
    /// confirmation of a suspicion already running, since nobody here
    /// observed anything (why: `merge_remote_state`). The suspect still hears
    /// of it: this node's probes carry the accusation to it.
    pub(crate) fn suspect_from_push_pull(&mut self, now: Instant, s: Suspect) {
        self.suspect(now, s, false);
    }

    fn suspect(&mut self, now: Instant, s: Suspect, evidence: bool) {
        let Some(m) = self.members.get(&s.node) else {
            return;
        };
        if s.incarnation < m.incarnation {
            if s.node == self.config.name {
                self.reassert_alive();
            }
            return;
        }
        if let Some(sus) = self.suspicions.get_mut(&s.node) {
            if evidence && sus.confirm(&s.from) {
                let node = s.node.clone();
                self.broadcast(&node, Message::Suspect(s), None);
            }
            return;
        }
        if m.state != MemberState::Alive {
            return;
        }
        if s.node == self.config.name {
            tracing::warn!("Refuting a suspect message (from: {})", s.from);
            self.refute(s.incarnation);
            return;
        }
        let node = s.node.clone();
        let from = s.from.clone();
        let incarnation = s.incarnation;
        if evidence {
            self.broadcast(&node, Message::Suspect(s), None);
        }
        let Some(m) = self.members.get_mut(&node) else {
            return;
        };
        m.incarnation = incarnation;
        m.state = MemberState::Suspect;
        m.state_change = now;
        // Lifeguard: expect `SuspicionMult - 2` independent confirmations before
        // the timeout shrinks to its minimum; in a cluster too small to supply
        // them, use the minimum straight away.
        let n = self.members.len();
        let mut k = self.config.suspicion_mult.saturating_sub(2);
        if (n as i64) - 2 < i64::from(k) {
            k = 0;
        }
        let min = suspicion_timeout(self.config.suspicion_mult, n, self.config.probe_interval);
        let max = min.saturating_mul(self.config.suspicion_max_timeout_mult);
        self.suspicions
            .insert(node, Suspicion::new(&from, k, min, max, now));
    }

    /// Declares dead every suspect whose timer has run out at `now`.
    pub(crate) fn expire_suspicions(&mut self, now: Instant) {
        let due: Vec<String> = self
            .suspicions
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let Some(sus) = self.suspicions.remove(&name) else {
                continue;
            };
            let Some(m) = self.members.get(&name) else {
                continue;
            };
            // Only the suspicion that is still current counts: a refutation and a
            // new suspicion since would have replaced it.
            if m.state != MemberState::Suspect || m.state_change != sus.started() {
                continue;
            }
            let dead = Dead {
                incarnation: m.incarnation,
                node: name,
                from: self.config.name.clone(),
            };
            self.stats.declared_dead += 1;
            tracing::info!(
                "Marking {} as failed, suspect timeout reached ({} peer confirmations)",
                dead.node,
                sus.confirmations()
            );
            self.dead_node(now, dead);
        }
    }

    /// Handles a `dead` claim; `from == node` is a graceful leave.
    pub(crate) fn dead_node(&mut self, now: Instant, d: Dead) {
        let Some(m) = self.members.get(&d.node) else {
            return;
        };
        if d.incarnation < m.incarnation {
            if d.node == self.config.name {
                self.reassert_alive();
            }
            return;
        }
        self.suspicions.remove(&d.node);
        if m.state.is_dead_or_left() {
            return;
        }
        let node = d.node.clone();
        let incarnation = d.incarnation;
        let left = d.is_leave();
        if node == self.config.name {
            if !self.leaving {
                tracing::warn!("Refuting a dead message (from: {})", d.from);
                self.refute(d.incarnation);
                return;
            }
            self.broadcast(&node, Message::Dead(d), Some(Notify::Leave));
        } else {
            self.broadcast(&node, Message::Dead(d), None);
        }
        let Some(m) = self.members.get_mut(&node) else {
            return;
        };
        m.incarnation = incarnation;
        m.state = if left {
            MemberState::Left
        } else {
            MemberState::Dead
        };
        m.state_change = now;
        let m = m.clone();
        self.outputs.push_back(Output::Event(NodeEvent::Leave(m)));
    }

    /// One gossip round: up to `gossip_nodes` nodes that are alive, suspect,
    /// or dead for less than `gossip_to_the_dead_time` (so a node wrongly
    /// declared dead hears about it and refutes), the next ones of a shuffled
    /// pass over the members, each get one packet of queued broadcasts.
    pub(crate) fn gossip(&mut self, now: Instant) {
        let me = self.config.name.clone();
        let to_the_dead = self.config.gossip_to_the_dead_time;
        let eligible = |m: &Member| {
            m.name != me
                && match m.state {
                    MemberState::Alive | MemberState::Suspect => true,
                    MemberState::Dead => now.saturating_since(m.state_change) <= to_the_dead,
                    MemberState::Left => false,
                }
        };
        let k = self.config.gossip_nodes;
        let targets = if self.config.gossip_in_passes {
            self.members.next_gossip_targets(k, &mut self.rng, eligible)
        } else {
            self.members.k_random(k, &mut self.rng, eligible)
        };
        let limit = self
            .config
            .udp_buffer_size
            .saturating_sub(super::packet::COMPOUND_HEADER + self.encryption_overhead());
        let budget = self.gossip_budget(limit);
        let targets: Vec<(SocketAddr, bool)> = targets
            .into_iter()
            .filter_map(|i| self.members.at(i))
            .map(|target| (target.addr, target.protocol_max() >= 5))
            .collect();
        if targets.is_empty() {
            return;
        }
        // One set of broadcasts for the round, sent to every target and
        // counted once per target. Go's memberlist takes a set per target
        // instead, fewest-sent first, so under a queue deeper than a packet
        // the targets get different messages and a message's transmissions
        // can all land on the same node: in 3 nodes, 1 of 20 queries sent at
        // once missed a node in about a quarter of runs. The same set to
        // every target gives each message distinct receivers each round, at
        // the same number of transmissions: a message with fewer left than
        // targets goes to the first ones only.
        let sends = u32::try_from(targets.len()).unwrap_or(u32::MAX);
        let taken =
            self.take_broadcasts(budget, limit, serfer_wire::frame::MAX_COMPOUND_PARTS, sends);
        if taken.is_empty() {
            return;
        }
        for (i, (addr, crc)) in targets.into_iter().enumerate() {
            let msgs: Vec<Arc<[u8]>> = taken
                .iter()
                .filter(|(_, granted)| *granted as usize > i)
                .map(|(m, _)| Arc::clone(m))
                .collect();
            if !msgs.is_empty() {
                self.send_gossip(addr, crc, &msgs);
            }
        }
    }
}
