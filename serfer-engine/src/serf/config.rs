//! Serf's configuration, with Go's library defaults (spec §10.2).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::memberlist::Config;

/// Go's hard cap on a user event, whatever the configuration says.
pub const USER_EVENT_SIZE_HARD_LIMIT: usize = 9216;

/// How a [`super::Serf`] behaves. [`SerfConfig::new`] gives Go's defaults.
#[derive(Debug, Clone)]
pub struct SerfConfig {
    /// The memberlist underneath; its `meta` is replaced by the encoded tags.
    pub memberlist: Config,
    /// This node's tags, carried in its memberlist meta.
    pub tags: BTreeMap<String, String>,
    /// How long a leave waits for its intent to be gossiped (5 s).
    pub broadcast_timeout: Duration,
    /// Pause after the memberlist leave before reporting completion (1 s).
    pub leave_propagate_delay: Duration,
    /// Slots of the user-event ring (512).
    pub event_buffer: usize,
    /// Slots of the query ring (512).
    pub query_buffer: usize,
    /// How often failed and left members are checked for reaping (15 s).
    pub reap_interval: Duration,
    /// How often a reconnect to a failed member is attempted (30 s).
    pub reconnect_interval: Duration,
    /// How long a failed member is kept (24 h).
    pub reconnect_timeout: Duration,
    /// How long a left member is kept (24 h).
    pub tombstone_timeout: Duration,
    /// How long an intent about an unknown node is kept (5 min).
    pub recent_intent_timeout: Duration,
    /// Default query timeout = gossip interval × this × ceil(log10(N+1)) (16).
    pub query_timeout_mult: u32,
    /// Largest encoded query response or relay (1024).
    pub query_response_size_limit: usize,
    /// Largest encoded query (1024).
    pub query_size_limit: usize,
    /// Largest user event, before and after encoding (512).
    pub user_event_size_limit: usize,
    /// How often the gossip queue is pruned (30 s).
    pub queue_check_interval: Duration,
    /// Most user messages kept queued for gossip (4096).
    pub max_queue_depth: usize,
    /// Run a `_serf_conflict` query when another address claims this node's
    /// name, and shut down in the minority (true, as Go).
    pub enable_name_conflict_resolution: bool,
    /// Neither compute nor send a network coordinate (false, as Go).
    pub disable_coordinates: bool,
    /// The clocks a snapshot recorded before a restart (none).
    pub restored_clocks: Option<RestoredClocks>,
    /// Longest a membership change is held to be coalesced with others
    /// (zero: off, as in Go's library; Go's agent uses 3 s). Coalescing is on
    /// only when this and [`SerfConfig::quiescent_period`] are both set.
    pub coalesce_period: Duration,
    /// Held membership changes are reported once none came for this long
    /// (zero: off; Go's agent uses 1 s).
    pub quiescent_period: Duration,
}

/// The last clocks a node saw before it stopped, as its snapshot recorded
/// them (Go's `LastClock`, `LastEventClock`, `LastQueryClock`). A node started
/// with them witnesses each, and does not deliver again the user events and
/// queries at or before them (Go's `eventMinTime` and `queryMinTime`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoredClocks {
    /// Member clock.
    pub clock: u64,
    /// User-event clock.
    pub event_clock: u64,
    /// Query clock.
    pub query_clock: u64,
}

impl SerfConfig {
    /// Go's library defaults on top of `memberlist`.
    pub fn new(memberlist: Config) -> Self {
        SerfConfig {
            memberlist,
            tags: BTreeMap::new(),
            broadcast_timeout: Duration::from_secs(5),
            leave_propagate_delay: Duration::from_secs(1),
            event_buffer: 512,
            query_buffer: 512,
            reap_interval: Duration::from_secs(15),
            reconnect_interval: Duration::from_secs(30),
            reconnect_timeout: Duration::from_secs(24 * 3600),
            tombstone_timeout: Duration::from_secs(24 * 3600),
            recent_intent_timeout: Duration::from_secs(300),
            query_timeout_mult: 16,
            query_response_size_limit: 1024,
            query_size_limit: 1024,
            user_event_size_limit: 512,
            queue_check_interval: Duration::from_secs(30),
            max_queue_depth: 4096,
            enable_name_conflict_resolution: true,
            disable_coordinates: false,
            restored_clocks: None,
            coalesce_period: Duration::ZERO,
            quiescent_period: Duration::ZERO,
        }
    }
}
