//! How long a test (or the benchmark) waits for something before it calls it a
//! failure: one named bound per kind of wait, each derived from the protocol's worst
//! case with the reasoning beside it.
//!
//! The timings these start from are Go memberlist's presets, which Serfer's
//! [`Profile`](crate::Profile)s copy and HashiCorp's `serf agent` runs with
//! (`-profile=lan` by default):
//!
//! | preset | probe interval | gossip interval | suspicion mult | push/pull |
//! |---|---|---|---|---|
//! | LAN ([`Profile::Lan`](crate::Profile::Lan), `serf agent`) | 1 s | 200 ms | 4 | 30 s |
//! | local ([`Profile::Local`](crate::Profile::Local), [`TestCluster`](super::TestCluster)) | 1 s | 100 ms | 3 | 15 s |
//!
//! A bound is what the slowest correct run may take, not what a run usually takes:
//! a passing test returns as soon as what it waits for happens, so a generous bound
//! costs nothing until something is broken. A bound that is too tight makes a slow
//! machine look like a bug. None of these is a pause: waiting out a bound in full is
//! reserved for checking that something does *not* happen.

use std::time::Duration;

/// The probe interval of both presets: each node probes one member per interval.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The suspicion multiplier of the LAN preset: a suspicion lasts at least this many
/// probe intervals (scaled by `log10(n)` above 10 nodes).
pub const LAN_SUSPICION_MULT: u32 = 4;

/// The suspicion multiplier of the local preset.
pub const LOCAL_SUSPICION_MULT: u32 = 3;

/// memberlist's `SuspicionMaxTimeoutMult`: a suspicion nobody confirms lasts up to this
/// many times its minimum. On a small cluster too few peers can confirm it (Go expects
/// `suspicion mult - 2` confirmations, and dead members still count among the peers),
/// so the maximum is what a test sees.
pub const SUSPICION_MAX_TIMEOUT_MULT: u32 = 6;

/// The push/pull (anti-entropy) interval of the LAN preset: every node exchanges its
/// full state, recent user events included, with one random peer this often.
pub const LAN_PUSH_PULL: Duration = Duration::from_secs(30);

/// The push/pull interval of the local preset.
pub const LOCAL_PUSH_PULL: Duration = Duration::from_secs(15);

/// Anything gossiped among [`Profile::Local`](crate::Profile::Local) nodes on
/// loopback (a [`TestCluster`](super::TestCluster)) reaching every node: a user event,
/// a query and its answers, a join, a leave, a tag update, a key change.
///
/// Gossip carries it in a few 100 ms rounds. A datagram lost on the way (a full
/// receive queue under load) is repaired by push/pull: the node that missed it gets
/// it at its next exchange with a peer that has it. That exchange is at most one
/// [`LOCAL_PUSH_PULL`] away once a node runs, but a node's first exchange comes a
/// random stagger (under one interval) plus one interval after its start, so a
/// message sent as a cluster starts may wait two intervals for it; and if the random
/// peer it picked missed the message too, one more. Hence three intervals: 45 s.
pub const DELIVERY: Duration = Duration::from_secs(45);

/// As [`DELIVERY`], among nodes on Go's LAN timings: real `serf agent`s, Serfer nodes
/// on [`Profile::Lan`](crate::Profile::Lan) (the default, so the examples' nodes),
/// and mixed clusters of both. Three times [`LAN_PUSH_PULL`]: 90 s. Equal to
/// [`lan_delivery_within`] for clusters of up to 32 nodes.
pub const LAN_DELIVERY: Duration = Duration::from_secs(90);

/// Gossip alone, with push/pull pushed out of reach (a test that checks gossip
/// itself): a message is retransmitted `retransmit mult × log10(n + 1)` times, one
/// round per gossip interval (100–200 ms), to 3 random peers a round, so a small
/// cluster has it within a couple of seconds or never. 10 s.
pub const GOSSIP: Duration = Duration::from_secs(10);

/// A `kill -9` (or a shutdown without leave) seen as `failed` by every other member
/// of a small cluster (fewer than 10 nodes), on either preset.
///
/// With Go's LAN timings a suspicion lasts [`LAN_SUSPICION_MULT`] × 1 s = 4 s at
/// least and up to [`SUSPICION_MAX_TIMEOUT_MULT`] times that, 24 s, when no peer can
/// confirm it (see [`SUSPICION_MAX_TIMEOUT_MULT`]); the local preset's is 3 s to 18 s.
/// Before it starts, some member must probe the victim and fail the direct and the
/// indirect probes (a probe interval or two); after it ends, the death is gossiped
/// (a few rounds). 24 s + that, with a margin for a loaded machine: 40 s. Equal to
/// [`lan_failure_within`] for clusters of up to 10 nodes.
pub const FAILURE: Duration = Duration::from_secs(40);

/// A join attempt that must fail (wrong key, nobody listening) failing rather than
/// hanging: the join is a TCP push/pull with each seed, which memberlist gives up on
/// after its TCP timeout (10 s on the LAN preset, less on the local one); a margin on
/// top: 20 s.
pub const JOIN: Duration = Duration::from_secs(20);

/// Serf's reconnect interval: every 30 s each node tries to rejoin one failed
/// member with probability failed / alive.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(30);

/// A restarted node being let back in when its own rejoin (through the members
/// its snapshot remembers) did not take: with one failed member, each of the
/// `a` alive nodes tries it with probability 1/a per [`RECONNECT_INTERVAL`], so
/// all of them skip an interval with probability (1 - 1/a)^a, at most e^-1.
/// After 8 intervals the chance that nobody tried is below e^-8, 3 in 10,000;
/// the join itself is bounded by [`JOIN`].
pub const REJOIN: Duration = Duration::from_secs(20 + 8 * 30);

/// A process starting and saying so: an example's first log lines, a `serf agent`
/// opening its RPC port (which it does after its `-join`s), a probe's `READY`. No
/// gossip round is involved; a join is one TCP exchange, bounded by the TCP timeout
/// (10 s); the rest is exec and binding sockets on a possibly loaded machine: 30 s.
pub const START: Duration = Duration::from_secs(30);

/// A node stopping: a process exiting after SIGTERM or SIGINT (`serfer::run!` first
/// leaves, which it bounds at 15 s; HashiCorp's agent waits its
/// `LeavePropagateDelay`, 1 s, and its broadcast timeout, 5 s), or an in-process node
/// shutting down (no network wait at all). The longest of those doubled: 30 s.
pub const STOP: Duration = Duration::from_secs(30);

/// A reply over a loopback RPC connection (members, event, tags, a stream record):
/// the agent answers from its own state without waiting on the network, so this is
/// only slack for a loaded machine: 10 s. A query over RPC instead waits for its own
/// timeout; see [`COMMAND`].
pub const REPLY: Duration = Duration::from_secs(10);

/// One CLI command (`serfer …`, HashiCorp's `serf …`) running to completion. Most are
/// one RPC round trip ([`REPLY`]); the slowest wait for the cluster: `query` until its
/// timeout (Serf's default is gossip interval × 16 × `ceil(log10(n + 1))`, 3.2 s on
/// a small LAN cluster; tests pass at most a few seconds more), `leave` for the leave
/// to propagate ([`STOP`]). 60 s.
pub const COMMAND: Duration = Duration::from_secs(60);

/// Go memberlist's push/pull interval for a cluster of `n` (`pushPullScale`): the
/// preset's `base` up to 32 nodes, one more multiple of it per doubling beyond.
pub fn push_pull_interval(base: Duration, n: usize) -> Duration {
    const THRESHOLD: f64 = 32.0;
    if n as f64 <= THRESHOLD {
        return base;
    }
    let extra = ((n as f64).log2() - THRESHOLD.log2()).ceil() as u32;
    base * (1 + extra)
}

/// [`LAN_DELIVERY`] for a cluster of `n` nodes: three LAN push/pull intervals at
/// that size (see [`push_pull_interval`]), so that a node gossip missed still gets
/// it by push/pull, as [`DELIVERY`] explains.
pub fn lan_delivery_within(n: usize) -> Duration {
    push_pull_interval(LAN_PUSH_PULL, n) * 3
}

/// [`FAILURE`] for a cluster of `n` nodes on Go's LAN timings: the longest suspicion,
/// `LAN_SUSPICION_MULT × max(1, log10 n) × probe interval × SUSPICION_MAX_TIMEOUT_MULT`
/// (memberlist's `suspicionTimeout`), plus 16 s to notice the failure and to gossip
/// the death.
pub fn lan_failure_within(n: usize) -> Duration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    let longest_suspicion =
        PROBE_INTERVAL.mul_f64(f64::from(LAN_SUSPICION_MULT * SUSPICION_MAX_TIMEOUT_MULT) * scale);
    longest_suspicion + Duration::from_secs(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constants_are_the_functions_on_small_clusters() {
        for n in 1..=32 {
            assert_eq!(lan_delivery_within(n), LAN_DELIVERY, "n = {n}");
        }
        for n in 1..=10 {
            assert_eq!(lan_failure_within(n), FAILURE, "n = {n}");
        }
        assert_eq!(DELIVERY, LOCAL_PUSH_PULL * 3);
        assert_eq!(LAN_DELIVERY, LAN_PUSH_PULL * 3);
    }

    #[test]
    fn push_pull_scales_as_memberlists() {
        assert_eq!(push_pull_interval(LAN_PUSH_PULL, 33), LAN_PUSH_PULL * 2);
        assert_eq!(push_pull_interval(LAN_PUSH_PULL, 64), LAN_PUSH_PULL * 2);
        assert_eq!(push_pull_interval(LAN_PUSH_PULL, 65), LAN_PUSH_PULL * 3);
        assert!(lan_failure_within(60) > FAILURE);
        // The local preset's longest suspicion is within the LAN one's.
        assert!(PROBE_INTERVAL * LOCAL_SUSPICION_MULT * SUSPICION_MAX_TIMEOUT_MULT < FAILURE);
    }
}
