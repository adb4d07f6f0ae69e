//! The Sans-I/O Serf layer: membership with intents, user events and queries on
//! top of the [`Memberlist`] core, speaking Go serf 0.9.4's messages.
//!
//! A [`Serf`] owns a [`Memberlist`] and has the same shape: the driver feeds it
//! packets ([`Serf::handle_packet`]), streams ([`Serf::handle_stream`]), the
//! answers to the streams it asked for, and the time ([`Serf::tick`] at
//! [`Serf::poll_timeout`]); it issues commands ([`Serf::join`],
//! [`Serf::leave`], [`Serf::remove_failed_node`], [`Serf::user_event`],
//! [`Serf::query`], [`Serf::respond`], [`Serf::set_tags`]) and drains [`Output`]s: the memberlist's packets and
//! stream requests, passed through, and Serf [`Event`]s.
//!
//! What it adds to memberlist, each as Go does it:
//!
//! * three Lamport clocks (member, event, query);
//! * join/leave intents with status times, buffered for unknown nodes, and the
//!   Serf member status (alive, leaving, left, failed) derived from them and
//!   from memberlist's events; reaping and reconnecting; force-leave of a
//!   failed member;
//! * user events, deduplicated in a ring indexed by `LTime mod EventBuffer`
//!   whose slot is replaced when a newer time arrives;
//! * queries: filters, acks, responses and relays sent straight to the asker,
//!   deadlines, the query ring;
//! * push/pull state carrying clocks, status times and the whole event ring,
//!   so anti-entropy repairs events gossip lost;
//! * tags in node meta;
//! * key management by internal queries (`_serf_install-key`, `use-key`,
//!   `remove-key`, `list-keys`), answered and sent ([`Serf::key_query`]),
//!   each change of this node's keyring reported;
//! * name-conflict resolution as the contested node (`_serf_conflict`,
//!   majority, shutdown in the minority);
//! * a Vivaldi network coordinate in every ack, updated from each probe's RTT.

mod clock;
mod coalesce;
mod config;
mod coordinate;
mod error;
mod events;
mod keys;
mod members;
mod pushpull;
mod queries;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serfer_wire::serf::{encode_tags, SerfMessage};

pub use clock::LamportClock;
pub use config::{RestoredClocks, SerfConfig, USER_EVENT_SIZE_HARD_LIMIT};
pub use coordinate::{Coordinate, CoordinateClient, CoordinateError};
pub use error::SerfError;
pub use keys::{base64_encode, KeyOp, KeyReport};
pub use members::{Member, MemberEvent};
pub use queries::{QueryId, QueryIn, QueryParams};
pub use serfer_wire::serf::MemberStatus;

use crate::memberlist::{
    Memberlist, NodeEvent, Output as MlOutput, PacketError, Priority, StreamError, StreamOutcome,
    META_MAX_SIZE,
};
use crate::Instant;
use coalesce::MemberCoalescer;
use events::EventRing;
use members::MemberTable;
pub(crate) use members::SharedMember;
use queries::QueryState;

/// A user event delivered to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent {
    /// Event-clock time.
    pub ltime: u64,
    /// Name.
    pub name: String,
    /// Payload (empty when nil on the wire).
    pub payload: Vec<u8>,
    /// The sender allowed coalescing.
    pub coalesce: bool,
}

/// What Serf reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A change of membership.
    Member(MemberEvent),
    /// A new user event.
    User(UserEvent),
    /// A query to answer with [`Serf::respond`] before its deadline.
    Query(QueryIn),
    /// A node acknowledged one of this node's queries.
    QueryAck {
        /// The query.
        query: QueryId,
        /// The acknowledging node.
        from: String,
    },
    /// A node answered one of this node's queries.
    QueryResponse {
        /// The query.
        query: QueryId,
        /// The answering node.
        from: String,
        /// Its answer.
        payload: Vec<u8>,
    },
    /// One of this node's queries reached its deadline; later answers are
    /// ignored.
    QueryDone {
        /// The query.
        query: QueryId,
    },
    /// A key operation sent with [`Serf::key_query`] is complete: every
    /// member answered, or the deadline passed.
    KeyReport {
        /// The query.
        query: QueryId,
        /// Every node's answer, tallied.
        report: KeyReport,
    },
    /// This node's name was claimed by another address and the
    /// `_serf_conflict` query is over (Go's `resolveNodeConflict`). In the
    /// minority (`matching < responses / 2 + 1`) the node shut down.
    NameConflict {
        /// Answers recording this node's address.
        matching: usize,
        /// Answers received.
        responses: usize,
        /// Whether this node kept running.
        survived: bool,
    },
    /// This node's keyring changed because it answered a key query
    /// (`_serf_install-key`, `_serf_use-key` or `_serf_remove-key`, from any
    /// node, this one included). A driver persists it here, as Go's
    /// `writeKeyringFile` does after each change.
    KeyringChanged {
        /// Every key, primary first.
        keys: Vec<Vec<u8>>,
    },
}

/// Something the driver must do or may want to know, drained with
/// [`Serf::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send one UDP datagram.
    Packet {
        /// Destination.
        to: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// Run a push/pull exchange; pass the answer to
    /// [`Serf::handle_push_pull_reply`].
    PushPull {
        /// Destination.
        to: SocketAddr,
        /// The stream payload.
        bytes: Vec<u8>,
        /// Part of a join.
        join: bool,
    },
    /// The TCP fallback probe; pass the answer to
    /// [`Serf::handle_stream_ping_reply`].
    StreamPing {
        /// Destination.
        to: SocketAddr,
        /// The stream payload.
        bytes: Vec<u8>,
        /// When the probe gives up.
        deadline: Instant,
    },
    /// A Serf event.
    Event(Event),
    /// The leave started by [`Serf::leave`] is complete; the driver may stop.
    LeaveComplete,
    /// The node shut down (lost a name conflict, or [`Serf::shutdown`]); it
    /// ignores every input from now on and the driver should stop it.
    Shutdown,
}

/// Counters, for tests and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SerfStats {
    /// Serf messages that could not be decoded (or were empty).
    pub messages_dropped: u64,
    /// User events delivered to the application.
    pub events_delivered: u64,
    /// Of those, events first learned from a push/pull (anti-entropy repairs).
    pub events_from_push_pull: u64,
    /// User events dropped as duplicates.
    pub events_duplicate: u64,
    /// User events dropped as older than the ring (`received old event`).
    pub events_old: u64,
    /// Queries dropped as duplicates.
    pub queries_duplicate: u64,
    /// Queries dropped as older than the ring.
    pub queries_old: u64,
    /// Answers ignored: unknown query, wrong id, duplicate, too late.
    pub responses_ignored: u64,
    /// Messages forwarded for others (relays).
    pub relays_forwarded: u64,
    /// Push/pull states merged.
    pub push_pulls_merged: u64,
}

/// A snapshot of the node for operators (Go's `Serf.Stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerfInfo {
    /// Members known, this node and failed and left ones included.
    pub members: usize,
    /// Of those, failed.
    pub failed: usize,
    /// Of those, left.
    pub left: usize,
    /// memberlist's health (awareness) score; 0 is healthy.
    pub health_score: u32,
    /// The member clock.
    pub member_time: u64,
    /// The event clock.
    pub event_time: u64,
    /// The query clock.
    pub query_time: u64,
    /// Join and leave intents waiting to be gossiped. Go keeps one queue per
    /// kind of message; here all Serf messages share memberlist's user
    /// queue, so this and the next two count its messages by Serf type.
    pub intent_queue: usize,
    /// User events waiting to be gossiped.
    pub event_queue: usize,
    /// Queries waiting to be gossiped.
    pub query_queue: usize,
    /// Gossip is encrypted (the keyring has keys).
    pub encrypted: bool,
    /// How often the network coordinate became invalid and was reset;
    /// `None` when coordinates are disabled.
    pub coordinate_resets: Option<usize>,
}

/// The node's own lifecycle (Go's `SerfState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerfState {
    /// Running.
    Alive,
    /// [`Serf::leave`] was called; the leave is being gossiped.
    Leaving,
    /// The leave is complete.
    Left,
    /// Stopped without a leave ([`Serf::shutdown`], or a lost name
    /// conflict); inert.
    Shutdown,
}

/// Where a leave stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeavePhase {
    /// Waiting for the leave intent (memberlist id) to be gossiped, at most
    /// until the deadline.
    Intent { id: Option<u64>, deadline: Instant },
    /// The memberlist leave is being gossiped.
    Memberlist,
    /// Memberlist is done; report after the propagate delay.
    Propagate { at: Instant },
    /// Reported.
    Done,
}

/// A Serf node, without I/O. See the [module docs](self).
#[derive(Debug)]
pub struct Serf {
    config: SerfConfig,
    ml: Memberlist,
    rng: SmallRng,
    state: SerfState,
    leave: Option<LeavePhase>,
    clock: LamportClock,
    event_clock: LamportClock,
    query_clock: LamportClock,
    members: MemberTable,
    events: EventRing,
    queries: QueryState,
    /// Events below this event time are ignored (set by a join without
    /// replay, and by restored clocks).
    events_min_time: u64,
    /// Queries below this query time are ignored (set by restored clocks).
    queries_min_time: u64,
    /// Ignore events older than the join's remote clock until then.
    join_ignore_until: Option<Instant>,
    /// A join intent goes out once the first join push/pull succeeds.
    join_intent_pending: bool,
    next_reap: Instant,
    next_reconnect: Instant,
    next_queue_check: Instant,
    outputs: VecDeque<Output>,
    stats: SerfStats,
    coords: CoordinateClient,
    /// The latest coordinate each peer sent in an ack (Go's `coordCache`).
    coord_cache: BTreeMap<String, Coordinate>,
    /// Grows with every change to `coords` or `coord_cache`.
    coord_generation: u64,
    /// A `_serf_conflict` query about this node is running.
    conflict_running: bool,
    /// Force-leave broadcasts (memberlist ids) not yet fully transmitted.
    notify_pending: BTreeSet<u64>,
    /// Force-leave broadcasts fully transmitted (or dropped) since the last
    /// [`Serf::take_finished_broadcasts`].
    notify_done: Vec<u64>,
    /// Member-event coalescing, when configured.
    coalescer: Option<MemberCoalescer>,
    /// Membership changes of the input being handled, for the coalescer.
    held: Vec<MemberEvent>,
}

impl Serf {
    /// A node that knows only itself. Its tags go into the memberlist meta;
    /// like Go, it reports its own `member-join`.
    pub fn new(mut config: SerfConfig, now: Instant) -> Result<Self, SerfError> {
        if config.event_buffer == 0 || config.query_buffer == 0 {
            return Err(SerfError::BadConfig(
                "event and query buffers must not be empty",
            ));
        }
        if config.user_event_size_limit > USER_EVENT_SIZE_HARD_LIMIT {
            return Err(SerfError::BadConfig(
                "user event size limit is above the hard limit of 9216 bytes",
            ));
        }
        config.memberlist.meta = encode_meta(&config.tags)?;
        let ml = Memberlist::new(config.memberlist.clone(), now)?;
        let rng = SmallRng::seed_from_u64(config.memberlist.seed ^ 0x7365_7266);
        let mut serf = Serf {
            rng,
            state: SerfState::Alive,
            leave: None,
            clock: LamportClock::default(),
            event_clock: LamportClock::default(),
            query_clock: LamportClock::default(),
            members: MemberTable::default(),
            events: EventRing::new(config.event_buffer),
            queries: QueryState::new(config.query_buffer),
            events_min_time: 0,
            queries_min_time: 0,
            join_ignore_until: None,
            join_intent_pending: false,
            next_reap: now + config.reap_interval,
            next_reconnect: now + config.reconnect_interval,
            next_queue_check: now + config.queue_check_interval,
            outputs: VecDeque::new(),
            stats: SerfStats::default(),
            coords: CoordinateClient::default(),
            coord_cache: BTreeMap::new(),
            coord_generation: 0,
            conflict_running: false,
            notify_pending: BTreeSet::new(),
            notify_done: Vec::new(),
            coalescer: MemberCoalescer::new(config.coalesce_period, config.quiescent_period),
            held: Vec::new(),
            ml,
            config,
        };
        if let Some(c) = serf.config.restored_clocks {
            serf.clock.witness(c.clock);
            serf.event_clock.witness(c.event_clock);
            serf.query_clock.witness(c.query_clock);
            serf.events_min_time = c.event_clock + 1;
            serf.queries_min_time = c.query_clock + 1;
        }
        serf.refresh_ack_payload();
        let me = serf.ml.local_member().clone();
        serf.handle_node_join(now, &me);
        serf.hold_member_events(now);
        Ok(serf)
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        self.ml.name()
    }

    /// The memberlist underneath.
    pub fn memberlist(&self) -> &Memberlist {
        &self.ml
    }

    /// The configuration in force.
    pub fn config(&self) -> &SerfConfig {
        &self.config
    }

    /// A snapshot of counts, clocks and queues (Go's `Stats`).
    pub fn info(&self) -> SerfInfo {
        let count = |status| self.members.iter().filter(|m| m.status == status).count();
        let (mut intent_queue, mut event_queue, mut query_queue) = (0, 0, 0);
        for msg in self.ml.queued_user_messages() {
            match msg.first().copied() {
                Some(serfer_wire::serf::LEAVE | serfer_wire::serf::JOIN) => intent_queue += 1,
                Some(serfer_wire::serf::USER_EVENT) => event_queue += 1,
                Some(serfer_wire::serf::QUERY) => query_queue += 1,
                _ => {}
            }
        }
        SerfInfo {
            members: self.members.len(),
            failed: count(MemberStatus::Failed),
            left: count(MemberStatus::Left),
            health_score: self.ml.health_score(),
            member_time: self.clock.time(),
            event_time: self.event_clock.time(),
            query_time: self.query_clock.time(),
            intent_queue,
            event_queue,
            query_queue,
            encrypted: self.encryption_enabled(),
            coordinate_resets: (!self.config.disable_coordinates)
                .then(|| usize::try_from(self.coords.resets()).unwrap_or(usize::MAX)),
        }
    }

    /// The node's lifecycle state.
    pub fn state(&self) -> SerfState {
        self.state
    }

    /// Every member Serf knows (failed and left ones until reaped).
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    /// This node's tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.config.tags
    }

    /// The member clock.
    pub fn clock(&self) -> u64 {
        self.clock.time()
    }

    /// The event clock.
    pub fn event_clock(&self) -> u64 {
        self.event_clock.time()
    }

    /// The query clock.
    pub fn query_clock(&self) -> u64 {
        self.query_clock.time()
    }

    /// Counters.
    pub fn stats(&self) -> &SerfStats {
        &self.stats
    }

    /// Events held in the event ring (at most one slot per ring entry, each
    /// holding the distinct events seen at that time).
    pub fn event_ring_len(&self) -> usize {
        self.events.len()
    }

    /// The push/pull state this node would send now, encoded (for size checks).
    pub fn encoded_local_state(&self) -> Vec<u8> {
        self.local_state()
    }

    /// Queries this node is waiting answers for, and received queries whose
    /// deadline has not passed.
    pub fn open_queries(&self) -> (usize, usize) {
        self.queries.open_counts()
    }

    /// This node's network coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        self.coords.coordinate()
    }

    /// The coordinate client (sample filter, reset count).
    pub fn coordinate_client(&self) -> &CoordinateClient {
        &self.coords
    }

    /// The latest coordinate `node` reported in an ack; this node's own for
    /// its name.
    pub fn node_coordinate(&self, node: &str) -> Option<&Coordinate> {
        if node == self.name() && !self.config.disable_coordinates {
            return Some(self.coords.coordinate());
        }
        self.coord_cache.get(node)
    }

    /// A count that grows whenever this node's coordinate or a peer's cached
    /// one changes: a copy of the coordinates taken at one reading is still
    /// current while the count is the same.
    pub fn coordinate_generation(&self) -> u64 {
        self.coord_generation
    }

    /// Every peer coordinate this node has cached, by name.
    pub fn peer_coordinates(&self) -> impl Iterator<Item = (&str, &Coordinate)> {
        self.coord_cache.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// Stops the node without a leave (Go's `Shutdown`): it goes quiet, and
    /// peers will find it failed. Emits [`Output::Shutdown`].
    pub fn shutdown(&mut self) {
        if self.state != SerfState::Shutdown {
            // Held membership changes are reported, as Go flushes its
            // coalescer at shutdown.
            let mut held = std::mem::take(&mut self.held);
            if let Some(c) = &mut self.coalescer {
                let mut flushed = c.flush();
                flushed.append(&mut held);
                held = flushed;
            }
            for e in held {
                self.outputs.push_back(Output::Event(Event::Member(e)));
            }
            self.state = SerfState::Shutdown;
            self.outputs.push_back(Output::Shutdown);
        }
    }

    fn is_shutdown(&self) -> bool {
        self.state == SerfState::Shutdown
    }

    /// The next output, if any. Call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        let next = self.outputs.pop_front();
        if next.is_none() {
            crate::release_idle_capacity(&mut self.outputs);
        }
        next
    }

    /// A received datagram.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), PacketError> {
        if self.is_shutdown() {
            return Ok(());
        }
        let r = self.ml.handle_packet(now, from, bytes);
        self.pump(now);
        r
    }

    /// A received stream (push/pull, TCP ping, user message); the outcome is
    /// as for [`Memberlist::handle_stream`].
    pub fn handle_stream(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> StreamOutcome {
        if self.is_shutdown() {
            return StreamOutcome::Done;
        }
        self.refresh_state();
        let r = self.ml.handle_stream(now, from, bytes);
        self.pump(now);
        r
    }

    /// The answer to a [`Output::PushPull`].
    pub fn handle_push_pull_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        join: bool,
    ) -> Result<StreamOutcome, StreamError> {
        if self.is_shutdown() {
            return Ok(StreamOutcome::Done);
        }
        let r = self.ml.handle_push_pull_reply(now, from, bytes, join);
        self.pump(now);
        if matches!(r, Ok(StreamOutcome::Done)) && self.join_intent_pending {
            // Go broadcasts the join intent once memberlist's join reached
            // at least one node.
            self.join_intent_pending = false;
            let t = self.clock.time();
            self.broadcast_join(now, t);
            self.pump(now);
        }
        r
    }

    /// The answer to a [`Output::StreamPing`].
    pub fn handle_stream_ping_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<StreamOutcome, StreamError> {
        if self.is_shutdown() {
            return Ok(StreamOutcome::Done);
        }
        let r = self.ml.handle_stream_ping_reply(now, from, bytes);
        self.pump(now);
        r
    }

    /// The earliest time [`Serf::tick`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_shutdown() {
            return None;
        }
        let mut next = self
            .next_reap
            .min(self.next_reconnect)
            .min(self.next_queue_check);
        if let Some(t) = self.ml.poll_timeout() {
            next = next.min(t);
        }
        if let Some(t) = self.queries.next_deadline() {
            next = next.min(t);
        }
        if let Some(t) = self.members.next_prune() {
            next = next.min(t);
        }
        if let Some(t) = self.coalescer.as_ref().and_then(MemberCoalescer::deadline) {
            next = next.min(t);
        }
        match self.leave {
            Some(LeavePhase::Intent { deadline, .. }) => next = next.min(deadline),
            Some(LeavePhase::Propagate { at }) => next = next.min(at),
            _ => {}
        }
        Some(next)
    }

    /// Runs every timer due at `now`.
    pub fn tick(&mut self, now: Instant) {
        if self.is_shutdown() {
            return;
        }
        if self.ml.next_push_pull().is_some_and(|t| t <= now) {
            self.refresh_state();
        }
        self.ml.tick(now);
        self.pump(now);
        self.expire_queries(now);
        self.run_prunes(now);
        if now >= self.next_reap {
            self.next_reap = now + self.config.reap_interval;
            self.reap(now);
        }
        if now >= self.next_reconnect {
            self.next_reconnect = now + self.config.reconnect_interval;
            self.reconnect(now);
            self.pump(now);
        }
        if now >= self.next_queue_check {
            self.next_queue_check = now + self.config.queue_check_interval;
            // Go's checkQueueDepth: under a flood, the oldest (most sent)
            // messages are dropped rather than letting the queue grow.
            self.ml.prune_user_broadcasts(self.config.max_queue_depth);
        }
        self.pump(now);
    }

    /// Joins a cluster through `addrs`. With `ignore_old`, user events the
    /// cluster sent before this join are not replayed. A join intent follows
    /// once a push/pull succeeds.
    pub fn join(
        &mut self,
        now: Instant,
        addrs: &[SocketAddr],
        ignore_old: bool,
    ) -> Result<(), SerfError> {
        if self.state != SerfState::Alive {
            return Err(SerfError::NotAlive("Join"));
        }
        self.join_ignore_until = ignore_old.then(|| now + self.config.memberlist.tcp_timeout);
        self.join_intent_pending = true;
        self.refresh_state();
        self.ml.join(now, addrs);
        self.pump(now);
        Ok(())
    }

    /// Leaves gracefully: broadcasts a leave intent, waits until it has been
    /// gossiped (at most `broadcast_timeout`), then leaves memberlist.
    /// [`Output::LeaveComplete`] follows `leave_propagate_delay` after
    /// memberlist's leave is gossiped.
    pub fn leave(&mut self, now: Instant) -> Result<(), SerfError> {
        match self.state {
            SerfState::Left => return Ok(()),
            SerfState::Shutdown => return Err(SerfError::NotAlive("Leave")),
            SerfState::Leaving => return Err(SerfError::LeaveInProgress),
            SerfState::Alive => {}
        }
        self.state = SerfState::Leaving;
        let msg = serfer_wire::serf::LeaveIntent {
            ltime: self.clock.time(),
            node: self.name().to_owned(),
            prune: false,
        };
        self.clock.increment();
        self.handle_leave_intent(now, &msg);
        let id = if self.members.has_alive_others(self.ml.name()) {
            let raw = SerfMessage::Leave(msg).encode()?;
            Some(self.ml.queue_broadcast_notify(Priority::High, raw)?)
        } else {
            None
        };
        self.leave = Some(LeavePhase::Intent {
            id,
            deadline: now + self.config.broadcast_timeout,
        });
        self.pump(now);
        Ok(())
    }

    /// Forcibly marks a failed member as left (Go's `RemoveFailedNode`, or
    /// `RemoveFailedNodePrune` with `prune`): a leave intent about `name` at
    /// the member clock's time, handled here as a received one (a failed
    /// member becomes left; with `prune` it is also forgotten) and gossiped
    /// when another member is alive to hear it. Returns the broadcast's id,
    /// which [`Serf::take_finished_broadcasts`] reports once the intent has
    /// been fully transmitted, or `None` when nothing was gossiped. Like Go,
    /// it does not check that the member failed: an alive one refutes.
    pub fn remove_failed_node(
        &mut self,
        now: Instant,
        name: &str,
        prune: bool,
    ) -> Result<Option<u64>, SerfError> {
        if self.is_shutdown() {
            return Err(SerfError::NotAlive("RemoveFailedNode"));
        }
        let msg = serfer_wire::serf::LeaveIntent {
            ltime: self.clock.time(),
            node: name.to_owned(),
            prune,
        };
        self.clock.increment();
        // Go gossips the intent whether or not it changed anything here.
        self.handle_leave_intent(now, &msg);
        let id = if self.members.has_alive_others(self.ml.name()) {
            let raw = SerfMessage::Leave(msg).encode()?;
            let id = self.ml.queue_broadcast_notify(Priority::High, raw)?;
            self.notify_pending.insert(id);
            Some(id)
        } else {
            None
        };
        self.pump(now);
        Ok(id)
    }

    /// Ids returned by [`Serf::remove_failed_node`] whose intent has been
    /// fully transmitted (or dropped from a full queue) since the last call.
    pub fn take_finished_broadcasts(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.notify_done)
    }

    /// Changes this node's tags: gossips an `alive` with the new meta, which
    /// every node reports as a member update.
    pub fn set_tags(
        &mut self,
        now: Instant,
        tags: BTreeMap<String, String>,
    ) -> Result<(), SerfError> {
        let meta = encode_meta(&tags)?;
        self.ml.update_meta(now, meta)?;
        self.config.tags = tags;
        self.pump(now);
        Ok(())
    }

    /// Processes every memberlist output: network requests go out, events and
    /// user messages are handled here (which may produce more).
    fn pump(&mut self, now: Instant) {
        loop {
            while let Some(out) = self.ml.poll_output() {
                self.handle_ml_output(now, out);
            }
            if !self.advance_leave(now) {
                break;
            }
        }
        self.hold_member_events(now);
    }

    /// Hands the membership changes of the input just handled to the
    /// coalescer, at `now`, and reports what a closed window releases.
    fn hold_member_events(&mut self, now: Instant) {
        let Some(c) = &mut self.coalescer else {
            return;
        };
        for e in self.held.drain(..) {
            c.add(now, e);
        }
        for e in c.poll(now) {
            self.outputs.push_back(Output::Event(Event::Member(e)));
        }
    }

    fn handle_ml_output(&mut self, now: Instant, out: MlOutput) {
        match out {
            MlOutput::Packet { to, bytes } => self.outputs.push_back(Output::Packet { to, bytes }),
            MlOutput::PushPull { to, bytes, join } => {
                self.outputs.push_back(Output::PushPull { to, bytes, join })
            }
            MlOutput::StreamPing {
                to,
                bytes,
                deadline,
            } => self.outputs.push_back(Output::StreamPing {
                to,
                bytes,
                deadline,
            }),
            MlOutput::Event(e) => match e {
                NodeEvent::Join(m) => self.handle_node_join(now, &m),
                NodeEvent::Leave(m) => self.handle_node_leave(now, &m),
                NodeEvent::Update(m) => self.handle_node_update(&m),
                // Serf keeps failed and left members until its own reap.
                NodeEvent::Reap(_) => {}
                NodeEvent::Conflict { existing, other } => {
                    if existing.name != self.ml.name() {
                        tracing::warn!(
                            "Name conflict for '{}' both {} and {} are claiming",
                            existing.name,
                            existing.addr,
                            other.addr
                        );
                    } else {
                        tracing::error!(
                            "Node name conflicts with another node at {}. Names must be unique! (Resolution enabled: {})",
                            other.addr,
                            self.config.enable_name_conflict_resolution
                        );
                        self.resolve_node_conflict(now);
                    }
                }
            },
            MlOutput::UserData { from: _, bytes } => self.handle_message(now, &bytes),
            MlOutput::RemoteState { join, bytes, .. } => self.merge_remote_state(now, &bytes, join),
            MlOutput::PingComplete { node, rtt, payload } => {
                self.ping_complete(&node, rtt, &payload)
            }
            MlOutput::LeaveComplete => {
                if self.leave == Some(LeavePhase::Memberlist) {
                    self.leave = Some(LeavePhase::Propagate {
                        at: now + self.config.leave_propagate_delay,
                    });
                }
            }
        }
    }

    /// Moves a leave along its phases; true if it started memberlist's leave
    /// (whose outputs then need processing).
    fn advance_leave(&mut self, now: Instant) -> bool {
        let mut started = false;
        let mut intent_sent = false;
        let intent_id = match self.leave {
            Some(LeavePhase::Intent { id, .. }) => id,
            _ => None,
        };
        // Always drained, so that ids nobody waits for do not pile up.
        for id in self.ml.take_finished_user_broadcasts() {
            if Some(id) == intent_id {
                intent_sent = true;
            } else if self.notify_pending.remove(&id) {
                self.notify_done.push(id);
            }
        }
        if let Some(LeavePhase::Intent { id, deadline }) = self.leave {
            if id.is_none() || intent_sent || now >= deadline {
                self.leave = Some(LeavePhase::Memberlist);
                self.ml.leave(now);
                started = true;
            }
        }
        if let Some(LeavePhase::Propagate { at }) = self.leave {
            if now >= at {
                self.leave = Some(LeavePhase::Done);
                self.state = SerfState::Left;
                self.outputs.push_back(Output::LeaveComplete);
            }
        }
        started
    }

    /// One Serf message from a packet or stream (Go's `NotifyMsg`).
    fn handle_message(&mut self, now: Instant, raw: &[u8]) {
        let msg = match SerfMessage::decode(raw) {
            Ok(m) => m,
            Err(_) => {
                self.stats.messages_dropped += 1;
                return;
            }
        };
        // Re-gossiped (as received) into the queue Go's Serf uses for the kind.
        let rebroadcast = match msg {
            SerfMessage::Leave(m) => self.handle_leave_intent(now, &m).then_some(Priority::High),
            SerfMessage::Join(m) => self.handle_join_intent(now, &m).then_some(Priority::High),
            SerfMessage::UserEvent(m) => self.handle_user_event(&m, false).then_some(Priority::Low),
            SerfMessage::Query(q) => self.handle_query(now, q).then_some(Priority::Medium),
            SerfMessage::QueryResponse(r) => {
                self.handle_query_response(now, r);
                None
            }
            SerfMessage::Relay(r) => {
                self.forward_relay(r);
                None
            }
            // The rest only travel inside other messages.
            _ => {
                self.stats.messages_dropped += 1;
                None
            }
        };
        if let Some(priority) = rebroadcast {
            // Only an oversized message is refused, and it could not have
            // arrived in one packet.
            let _ = self.ml.queue_broadcast_at(priority, raw.to_vec());
        }
    }

    /// Queues a Serf intent for gossip, ahead of queries and events.
    fn broadcast(&mut self, msg: SerfMessage) {
        // Encoding an in-memory message cannot fail for sizes Serf produces;
        // a refusal would only mean the message is not gossiped.
        if let Ok(raw) = msg.encode() {
            let _ = self.ml.queue_broadcast_at(Priority::High, raw);
        }
    }

    /// Go's `resolveNodeConflict`: ask everyone what they hold for this
    /// node's name; the answer comes in [`Serf::conflict_resolved`].
    fn resolve_node_conflict(&mut self, now: Instant) {
        if !self.config.enable_name_conflict_resolution
            || self.conflict_running
            || self.state != SerfState::Alive
        {
            return;
        }
        let name = self.name().to_owned();
        let internal = queries::Internal::Conflict {
            responses: 0,
            matching: 0,
        };
        if self
            .query_internal(
                now,
                "_serf_conflict",
                name.as_bytes(),
                QueryParams::default(),
                internal,
            )
            .is_ok()
        {
            self.conflict_running = true;
        }
    }

    /// The end of the conflict query: stay with a majority, else shut down.
    pub(super) fn conflict_resolved(&mut self, responses: usize, matching: usize) {
        self.conflict_running = false;
        let majority = responses / 2 + 1;
        let survived = matching >= majority;
        if survived {
            tracing::info!("majority in name conflict resolution [{matching} / {responses}]");
        } else {
            tracing::warn!(
                "minority in name conflict resolution, quitting [{matching} / {responses}]"
            );
        }
        self.emit(Event::NameConflict {
            matching,
            responses,
            survived,
        });
        if !survived {
            self.shutdown();
        }
    }

    /// Go's `NotifyPingComplete`: a peer's coordinate and the probe's RTT
    /// move ours.
    fn ping_complete(&mut self, node: &str, rtt: std::time::Duration, payload: &[u8]) {
        if self.config.disable_coordinates {
            return;
        }
        // Go logs and ignores a bad payload or a refused sample.
        let Ok(Some(coord)) = serfer_wire::serf::decode_ping_payload(payload) else {
            return;
        };
        if self.coords.update(node, &coord, rtt, &mut self.rng).is_ok() {
            self.coord_cache.insert(node.to_owned(), coord);
            self.coord_generation += 1;
            self.refresh_ack_payload();
        }
    }

    /// Our coordinate goes into every ack we send.
    fn refresh_ack_payload(&mut self) {
        let payload = if self.config.disable_coordinates {
            None
        } else {
            serfer_wire::serf::encode_ping_payload(self.coords.coordinate()).ok()
        };
        self.ml.set_ack_payload(payload);
    }

    /// Puts a fresh encoding of the Serf state where memberlist's push/pull
    /// will find it. Done lazily, just before a push/pull may happen, because
    /// the state carries the whole event ring.
    fn refresh_state(&mut self) {
        let state = self.local_state();
        self.ml.set_push_pull_state(state);
    }
}

/// Tags as node meta, within memberlist's limit.
fn encode_meta(tags: &BTreeMap<String, String>) -> Result<Vec<u8>, SerfError> {
    let meta = encode_tags(tags)?;
    if meta.len() > META_MAX_SIZE {
        return Err(SerfError::TagsTooLarge);
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::memberlist::{Config, Keyring};
    use crate::sim::{sim_name, Sim, SimConfig};

    #[test]
    fn info_counts_members_clocks_and_queues() {
        let mut sim = Sim::serf(SimConfig {
            seed: 7,
            ..SimConfig::default()
        });
        for i in 0..3 {
            let c = sim.serf_config(i);
            sim.add_node(c).unwrap();
        }
        sim.join(1, &[0]);
        sim.join(2, &[0]);
        // Joined within a second; the join intents, sent 4 times each at one
        // 200 ms round, are out of every queue well before 5 s.
        sim.run_for(Duration::from_secs(5));
        let info = sim.core(0).info();
        assert_eq!((info.members, info.failed, info.left), (3, 0, 0));
        assert_eq!(info.health_score, 0);
        assert_eq!(
            (info.intent_queue, info.event_queue, info.query_queue),
            (0, 0, 0)
        );
        assert!(!info.encrypted);
        assert_eq!(info.coordinate_resets, Some(0));

        // One message of each kind, counted before any gossip round.
        sim.with_core(0, |c, now| {
            c.user_event("ev", b"x", false).unwrap();
            c.query(now, "q", b"", QueryParams::default()).unwrap();
            c.remove_failed_node(now, "ghost", false).unwrap();
        });
        let core = sim.core(0);
        let info = core.info();
        assert_eq!(
            (info.intent_queue, info.event_queue, info.query_queue),
            (1, 1, 1)
        );
        assert_eq!(
            (info.member_time, info.event_time, info.query_time),
            (core.clock(), core.event_clock(), core.query_clock())
        );

        // A crash: failed once memberlist declares it dead (30 s bounds the
        // probe and the suspicion at N = 3).
        sim.crash(2);
        sim.run_until(
            sim.now() + Duration::from_secs(30),
            Duration::from_millis(50),
            |s| {
                s.core(0)
                    .member(&sim_name(2))
                    .is_some_and(|m| m.status == MemberStatus::Failed)
            },
        )
        .expect("node 2 failed within 30 s");
        let info = sim.core(0).info();
        assert_eq!((info.members, info.failed, info.left), (3, 1, 0));
    }

    #[test]
    fn info_reports_encryption_and_disabled_coordinates() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 7946));
        let mut c = SerfConfig::new(Config::lan("a", addr));
        c.memberlist.keyring = Keyring::new(vec![1; 16], vec![]).unwrap();
        c.disable_coordinates = true;
        let serf = Serf::new(c, Instant::ZERO).unwrap();
        let info = serf.info();
        assert!(info.encrypted);
        assert_eq!(info.coordinate_resets, None);
        assert_eq!(info.members, 1);
    }
}
