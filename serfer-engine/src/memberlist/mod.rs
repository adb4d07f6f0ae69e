//! The Sans-I/O memberlist core: SWIM membership and failure detection with
//! Lifeguard's extensions, speaking memberlist 0.2.2's wire.
//!
//! A [`Memberlist`] owns no socket, clock, thread or global random source. Its
//! driver feeds it:
//!
//! * received packets: [`Memberlist::handle_packet`];
//! * received streams: [`Memberlist::handle_stream`], whose reply the driver
//!   writes back;
//! * answers to the streams it asked for: [`Memberlist::handle_push_pull_reply`]
//!   and [`Memberlist::handle_stream_ping_reply`];
//! * the passage of time: [`Memberlist::tick`] at or after
//!   [`Memberlist::poll_timeout`];
//! * commands: [`Memberlist::join`], [`Memberlist::leave`],
//!   [`Memberlist::update_meta`], [`Memberlist::queue_broadcast`],
//!   [`Memberlist::send_user_packet`].
//!
//! and drains [`Output`]s with [`Memberlist::poll_output`] after each call. Every
//! input carries the current [`Instant`]; randomness comes from a generator
//! seeded by [`Config::seed`]. A run is therefore a pure function of its inputs,
//! which is what makes the [`crate::sim`] replayable.
//!
//! Behaviour follows Go's memberlist 0.2.2 (the comments say where it departs):
//! round-robin probing in shuffled order, indirect probes with nacks, a TCP
//! fallback ping, suspicion with confirmation-accelerated timeouts, refutation by
//! incarnation, a transmit-limited broadcast queue piggybacked on every packet,
//! gossip to recently dead nodes, push/pull anti-entropy, and encryption.

mod awareness;
mod broadcast;
mod config;
mod error;
mod gossip;
mod keyring;
mod packet;
mod probe;
mod pushpull;
mod state;
mod suspicion;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serfer_wire::memberlist::{Alive, Dead};

pub use broadcast::Priority;
pub use config::{Config, META_MAX_SIZE, PROTOCOL_VERSIONS};
pub use error::{CommandError, ConfigError, PacketError, StreamError};
pub use keyring::Keyring;
pub use state::{Member, MemberState};

use awareness::Awareness;
use broadcast::{BroadcastQueue, Notify};
use probe::{AckHandler, Probe};
use state::Members;
use suspicion::Suspicion;

use crate::Instant;

/// Something the driver must do or may want to know, drained with
/// [`Memberlist::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send one UDP datagram.
    Packet {
        /// Destination.
        to: SocketAddr,
        /// The complete datagram (framed, compressed, encrypted as configured).
        bytes: Vec<u8>,
    },
    /// Open a stream to `to`, write `bytes`, read the answer and pass it to
    /// [`Memberlist::handle_push_pull_reply`]. A failed exchange needs no report.
    PushPull {
        /// Destination.
        to: SocketAddr,
        /// The complete stream payload.
        bytes: Vec<u8>,
        /// True for a join (the driver may count successes), false for periodic
        /// anti-entropy.
        join: bool,
    },
    /// The TCP fallback probe: open a stream to `to`, write `bytes`, read the
    /// answer until `deadline` and pass it to
    /// [`Memberlist::handle_stream_ping_reply`].
    StreamPing {
        /// Destination.
        to: SocketAddr,
        /// The complete stream payload.
        bytes: Vec<u8>,
        /// When the probe gives up on the answer.
        deadline: Instant,
    },
    /// A change of membership.
    Event(NodeEvent),
    /// A user (Serf) message received in a packet or a stream.
    UserData {
        /// Who sent the packet.
        from: SocketAddr,
        /// The message, without memberlist's `user` type byte.
        bytes: Vec<u8>,
    },
    /// The user (Serf) state a peer sent in a push/pull, for the user layer to
    /// merge.
    RemoteState {
        /// The peer.
        from: SocketAddr,
        /// Whether the exchange was a join.
        join: bool,
        /// The state.
        bytes: Vec<u8>,
    },
    /// A direct probe was answered with a non-empty payload (Serf: the peer's
    /// network coordinate).
    PingComplete {
        /// The probed node.
        node: String,
        /// Round-trip time of the probe.
        rtt: Duration,
        /// The ack payload.
        payload: Vec<u8>,
    },
    /// The leave started by [`Memberlist::leave`] has been fully gossiped (or
    /// there was nobody to tell); the driver may stop the node.
    LeaveComplete,
}

/// A change of membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A node became alive: new, or back from dead or left.
    Join(Member),
    /// A node was declared dead, or left ([`Member::state`] tells which).
    Leave(Member),
    /// A node's metadata changed.
    Update(Member),
    /// A node dead or left for longer than
    /// [`Config::gossip_to_the_dead_time`] was forgotten.
    Reap(Member),
    /// A node claimed a name already held by a live node at another address;
    /// the claim was ignored.
    Conflict {
        /// The node as known.
        existing: Member,
        /// The claim.
        other: Member,
    },
}

/// What a stream handler needs from its driver next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    /// The bytes so far are an incomplete message: read more and call again
    /// with everything read. Nothing has changed in the core.
    NeedMore,
    /// Write these bytes back, then close.
    Reply(Vec<u8>),
    /// Nothing to write back; close.
    Done,
}

/// Counters, for tests and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets given to [`Memberlist::handle_packet`].
    pub packets_received: u64,
    /// Packets dropped whole (decryption, framing, nothing decodable).
    pub packets_dropped: u64,
    /// Messages inside packets that could not be decoded.
    pub message_errors: u64,
    /// Packets produced.
    pub packets_sent: u64,
    /// Bytes of the packets produced.
    pub bytes_sent: u64,
    /// Streams refused (decryption, framing, versions).
    pub streams_refused: u64,
    /// Probes that ended without an ack.
    pub failed_probes: u64,
    /// Probes that got no ack by datagram, directly or indirectly, but were
    /// answered by the TCP fallback ping (not counted as failed).
    pub probes_answered_by_tcp: u64,
    /// Times this node refuted a claim about itself.
    pub refutes: u64,
    /// Times this node's own suspicion timer declared a node dead.
    pub declared_dead: u64,
    /// Gossip packets that compressed worse than their budget expected and
    /// went as two (see [`Config::fill_compressed_packets`]).
    pub gossip_packets_split: u64,
}

/// A memberlist node, without I/O. See the [module docs](self).
#[derive(Debug)]
pub struct Memberlist {
    config: Config,
    rng: SmallRng,
    members: Members,
    seq_no: u32,
    awareness: Awareness,
    /// memberlist's own alive/suspect/dead messages.
    broadcasts: BroadcastQueue,
    /// The user layer's messages, one queue per [`Priority`], sent after
    /// memberlist's in priority order.
    user_broadcasts: [BroadcastQueue; 3],
    /// Running suspicions by node name (ordered, so expiry order is stable).
    suspicions: BTreeMap<String, Suspicion>,
    /// Pending acks by sequence number.
    ack_handlers: BTreeMap<u32, AckHandler>,
    probe: Option<Probe>,
    probe_index: usize,
    next_probe: Instant,
    next_gossip: Instant,
    next_push_pull: Option<Instant>,
    leaving: bool,
    leave_reported: bool,
    push_pull_state: Vec<u8>,
    /// Ids of user messages that left the queue, for the user layer.
    finished_user: Vec<u64>,
    next_user_id: u64,
    ack_payload: Option<Vec<u8>>,
    /// How well recent gossip packets compressed, raw bytes per 1,000 sent
    /// (1,000 until a full packet has been seen).
    compression_permille: u32,
    outputs: VecDeque<Output>,
    stats: Stats,
}

impl Memberlist {
    /// A node that knows only itself, at `now`. It announces itself (an `alive`
    /// broadcast waits in its queue) and starts its probe, gossip and push/pull
    /// timers at random offsets within one interval, so that nodes started
    /// together do not act in lockstep.
    pub fn new(config: Config, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let next_probe = now + random_stagger(&mut rng, config.probe_interval);
        let next_gossip = now + random_stagger(&mut rng, config.gossip_interval);
        let next_push_pull = (!config.push_pull_interval.is_zero()).then(|| {
            now + random_stagger(&mut rng, config.push_pull_interval) + config.push_pull_interval
        });
        let mut node = Memberlist {
            awareness: Awareness::new(config.awareness_max_multiplier),
            rng,
            members: Members::new(config.seed ^ 0x6d65_6d62),
            seq_no: 0,
            broadcasts: BroadcastQueue::new(config.seed ^ 0x6271_7565),
            user_broadcasts: Default::default(),
            suspicions: BTreeMap::new(),
            ack_handlers: BTreeMap::new(),
            probe: None,
            probe_index: 0,
            next_probe,
            next_gossip,
            next_push_pull,
            leaving: false,
            leave_reported: false,
            push_pull_state: Vec::new(),
            finished_user: Vec::new(),
            next_user_id: 0,
            ack_payload: None,
            compression_permille: 1000,
            outputs: VecDeque::new(),
            stats: Stats::default(),
            config,
        };
        let me = Member {
            name: node.config.name.clone(),
            addr: node.config.advertise,
            meta: node.config.meta.clone(),
            incarnation: node.config.initial_incarnation.saturating_sub(1),
            state: MemberState::Dead,
            state_change: now,
            vsn: node.config.vsn(),
        };
        node.members.insert(me.clone(), &mut node.rng);
        let mut alive = me.to_alive();
        alive.incarnation = node.config.initial_incarnation.max(1);
        node.alive_node(now, alive, true);
        // Our own join is not news to the driver.
        node.outputs.clear();
        Ok(node)
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This node as others should see it.
    pub fn local_member(&self) -> &Member {
        // The local node is inserted at construction and never removed.
        self.members
            .get(&self.config.name)
            .expect("the local node is always in the member table")
    }

    /// The current incarnation of this node.
    pub fn incarnation(&self) -> u32 {
        self.local_member().incarnation
    }

    /// Lifeguard health score: 0 is healthy; each point stretches probe
    /// deadlines by one more probe interval.
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Every known node, this one included, in no meaningful order.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    /// A node by name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    /// Number of known nodes, dead ones not yet forgotten included (Go's
    /// estimate of the cluster size, which scales every timer).
    pub fn num_members(&self) -> usize {
        self.members.len()
    }

    /// Takes `members` into the table as they are, sharing their records,
    /// without a message or an event: a node that joined these members long
    /// ago. Names it already knows (its own) keep their records.
    pub(crate) fn adopt_members<'a>(
        &mut self,
        members: impl IntoIterator<Item = (&'a std::sync::Arc<str>, &'a std::sync::Arc<Member>)>,
    ) {
        self.members.adopt(members, &mut self.rng);
    }

    /// Number of nodes alive or suspect, this one included.
    pub fn num_alive(&self) -> usize {
        self.members
            .iter()
            .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
            .count()
    }

    /// Messages waiting in the broadcast queues (memberlist's, user's).
    pub fn queued_broadcasts(&self) -> (usize, usize) {
        let user = self.user_broadcasts.iter().map(BroadcastQueue::len).sum();
        (self.broadcasts.len(), user)
    }

    /// The user (Serf) messages waiting in the broadcast queue, as they were
    /// queued, in no meaningful order (Serf counts them by type).
    pub fn queued_user_messages(&self) -> impl Iterator<Item = &[u8]> {
        // Each is stored behind memberlist's `user` type byte.
        self.user_broadcasts
            .iter()
            .flat_map(BroadcastQueue::messages)
            .map(|m| m.get(1..).unwrap_or_default())
    }

    /// True once [`Memberlist::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.leaving
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The keyring: the primary encrypts, every key decrypts.
    pub fn keyring(&self) -> &Keyring {
        &self.config.keyring
    }

    /// The keyring, to install, use or remove keys at run time.
    pub fn keyring_mut(&mut self) -> &mut Keyring {
        &mut self.config.keyring
    }

    /// The next output, if any. Call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        let next = self.outputs.pop_front();
        if next.is_none() {
            crate::release_idle_capacity(&mut self.outputs);
        }
        next
    }

    /// The earliest time [`Memberlist::tick`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.next_probe.min(self.next_gossip);
        if let Some(t) = self.next_push_pull {
            next = next.min(t);
        }
        if let Some(p) = &self.probe {
            next = next.min(p.next_deadline());
        }
        for handler in self.ack_handlers.values() {
            if let AckHandler::Forward { expires, .. } = handler {
                next = next.min(*expires);
            }
        }
        for s in self.suspicions.values() {
            next = next.min(s.deadline);
        }
        Some(next)
    }

    /// Runs every timer due at `now`: probe steps, forwarded-probe expiries,
    /// suspicion timeouts, and the probe, gossip and push/pull rounds.
    pub fn tick(&mut self, now: Instant) {
        self.expire_ack_handlers(now);
        self.advance_probe(now);
        self.expire_suspicions(now);
        if now >= self.next_probe {
            self.next_probe = next_period(self.next_probe, self.config.probe_interval, now);
            if self.probe.is_none() {
                self.start_probe(now);
            }
        }
        if now >= self.next_gossip {
            self.next_gossip = next_period(self.next_gossip, self.config.gossip_interval, now);
            self.gossip(now);
        }
        if let Some(at) = self.next_push_pull {
            if now >= at {
                let period =
                    pushpull::push_pull_scale(self.config.push_pull_interval, self.members.len());
                self.next_push_pull = Some(now + period);
                self.periodic_push_pull();
            }
        }
        self.report_finished_broadcasts();
    }

    /// Joins a cluster through the nodes at `addrs`: asks for a push/pull with
    /// each ([`Output::PushPull`] with `join: true`).
    pub fn join(&mut self, _now: Instant, addrs: &[SocketAddr]) {
        for &to in addrs {
            if let Some(bytes) = self.encode_local_state(true) {
                self.outputs.push_back(Output::PushPull {
                    to,
                    bytes,
                    join: true,
                });
            }
        }
    }

    /// Leaves gracefully: gossips `dead` about itself with `From` = itself, which
    /// others record as *left*. [`Output::LeaveComplete`] follows once the message
    /// has been fully retransmitted, or at once if no other node is alive. From
    /// now on this node no longer refutes claims about itself.
    pub fn leave(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        let me = self.local_member();
        let dead = Dead {
            incarnation: me.incarnation,
            node: me.name.clone(),
            from: me.name.clone(),
        };
        self.dead_node(now, dead);
        let anyone = self
            .members
            .iter()
            .any(|m| m.name != self.config.name && !m.state.is_dead_or_left());
        if !anyone {
            self.report_leave();
        }
    }

    /// Changes this node's metadata: gossips `alive` with the next incarnation
    /// and the new metadata.
    pub fn update_meta(&mut self, now: Instant, meta: Vec<u8>) -> Result<(), CommandError> {
        if meta.len() > META_MAX_SIZE {
            return Err(CommandError::MetaTooLong { len: meta.len() });
        }
        if self.leaving {
            return Err(CommandError::Left);
        }
        self.config.meta = meta.clone();
        let me = self.local_member();
        let alive = Alive {
            incarnation: me.incarnation.wrapping_add(1),
            meta,
            ..me.to_alive()
        };
        self.alive_node(now, alive, true);
        Ok(())
    }

    /// Queues a user (Serf) message for gossip at [`Priority::Low`], after
    /// memberlist's own messages. It is retransmitted like them and never
    /// replaces another user message.
    pub fn queue_broadcast(&mut self, msg: Vec<u8>) -> Result<(), CommandError> {
        self.queue_broadcast_at(Priority::Low, msg)
    }

    /// Queues a user message for gossip at `priority`: packets carry
    /// memberlist's own messages first, then the user's by priority, so a
    /// flood of low-priority messages cannot hold back a higher one.
    pub fn queue_broadcast_at(
        &mut self,
        priority: Priority,
        msg: Vec<u8>,
    ) -> Result<(), CommandError> {
        self.check_user_message(&msg)?;
        // Stored with memberlist's `user` type byte, ready to go into a packet.
        self.user_broadcasts[priority.index()].push(None, user_framed(&msg), None);
        Ok(())
    }

    /// Like [`Memberlist::queue_broadcast_at`], but returns an id that
    /// [`Memberlist::take_finished_user_broadcasts`] reports once the message
    /// has been fully retransmitted or pruned (Serf waits for its leave intent
    /// this way before gossiping the memberlist leave).
    pub fn queue_broadcast_notify(
        &mut self,
        priority: Priority,
        msg: Vec<u8>,
    ) -> Result<u64, CommandError> {
        self.check_user_message(&msg)?;
        self.next_user_id += 1;
        let id = self.next_user_id;
        self.user_broadcasts[priority.index()].push(
            None,
            user_framed(&msg),
            Some(Notify::User(id)),
        );
        Ok(id)
    }

    /// Ids of notifying user messages that left the queue since the last call.
    pub fn take_finished_user_broadcasts(&mut self) -> Vec<u64> {
        for queue in &mut self.user_broadcasts {
            self.finished_user
                .extend(queue.drain_finished().into_iter().filter_map(|n| match n {
                    Notify::User(id) => Some(id),
                    Notify::Leave => None,
                }));
        }
        std::mem::take(&mut self.finished_user)
    }

    /// When the next periodic push/pull is due, if any (the user layer
    /// refreshes its push/pull state lazily, just before).
    pub fn next_push_pull(&self) -> Option<Instant> {
        self.next_push_pull
    }

    /// Drops the most-retransmitted user messages until at most `max` remain
    /// in each priority's queue (Serf bounds each of its queues this way).
    pub fn prune_user_broadcasts(&mut self, max: usize) {
        for queue in &mut self.user_broadcasts {
            queue.prune(max);
        }
    }

    /// Sends a user (Serf) message to one address in a packet of its own (Serf's
    /// query acks, responses and relays).
    pub fn send_user_packet(&mut self, to: SocketAddr, msg: &[u8]) -> Result<(), CommandError> {
        self.check_user_message(msg)?;
        self.send_packet(to, false, &[user_framed(msg)]);
        Ok(())
    }

    /// Sets the user (Serf) state sent in every push/pull from now on.
    pub fn set_push_pull_state(&mut self, state: Vec<u8>) {
        self.push_pull_state = state;
    }

    /// Sets the payload of acks to direct pings (Serf: its network coordinate).
    pub fn set_ack_payload(&mut self, payload: Option<Vec<u8>>) {
        self.ack_payload = payload;
    }

    fn check_user_message(&self, msg: &[u8]) -> Result<(), CommandError> {
        if msg.is_empty() {
            return Err(CommandError::EmptyMessage);
        }
        // One user message alone in a compound: header, one length, type byte.
        let max = self
            .config
            .udp_buffer_size
            .saturating_sub(packet::COMPOUND_HEADER + packet::COMPOUND_PART + 1)
            .saturating_sub(self.encryption_overhead());
        if msg.len() > max {
            return Err(CommandError::MessageTooLarge {
                len: msg.len(),
                max,
            });
        }
        Ok(())
    }

    /// Turns queue notifications into outputs.
    fn report_finished_broadcasts(&mut self) {
        let finished = self.broadcasts.drain_finished();
        for n in finished {
            match n {
                Notify::Leave => self.report_leave(),
                Notify::User(id) => self.finished_user.push(id),
            }
        }
        for queue in &mut self.user_broadcasts {
            for n in queue.drain_finished() {
                if let Notify::User(id) = n {
                    self.finished_user.push(id);
                }
            }
        }
    }

    fn report_leave(&mut self) {
        if !self.leave_reported {
            self.leave_reported = true;
            self.outputs.push_back(Output::LeaveComplete);
        }
    }

    fn next_seq_no(&mut self) -> u32 {
        self.seq_no = self.seq_no.wrapping_add(1);
        self.seq_no
    }
}

/// A random offset in `[0, interval)`.
fn random_stagger(rng: &mut SmallRng, interval: Duration) -> Duration {
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.gen_range(0..nanos))
}

/// The next tick of a periodic timer that was due at `due`: one period later,
/// or one period after `now` if the driver fell behind (ticks are dropped, as
/// Go's tickers drop them, rather than fired in a burst).
fn next_period(due: Instant, period: Duration, now: Instant) -> Instant {
    let next = due + period;
    if next > now {
        next
    } else {
        now + period
    }
}

/// `msg` behind memberlist's `user` type byte, as it goes into a packet.
fn user_framed(msg: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(msg.len() + 1);
    framed.push(serfer_wire::memberlist::USER);
    framed.extend_from_slice(msg);
    framed
}
