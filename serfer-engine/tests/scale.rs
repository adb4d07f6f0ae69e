//! Convergence and dissemination at N = 1,000 on virtual time, for a cluster
//! formed by N joins and for one started as a cluster (`Sim::add_cluster`).
//!
//! Everything here is protocol arithmetic on the LAN profile:
//!
//! * gossip: every 200 ms each node sends queued messages to 3 random nodes;
//!   each message is sent 4 × ceil(log10(N + 1)) = 16 times by every node that
//!   accepts it;
//! * push/pull: period 30 s × (ceil(log2 N − log2 32) + 1) = 180 s at N = 1000.
//!
//! Compression is off in this run only. It is applied after the broadcast
//! queue has chosen what goes into a packet (the budget is computed on
//! uncompressed bytes, as in Go), so it does not change what the protocol does:
//! the same seed gives the same number of packets and events either way; it
//! only costs a fifth of the wall time. Every other test runs with it on.

use std::time::{Duration, Instant as WallClock};

use serfer_engine::serf::{MemberStatus, Serf};
use serfer_engine::sim::{sim_name, Sim, SimConfig, SimCore};
use serfer_engine::Instant;

const N: usize = 1000;
const GOSSIP_INTERVAL: Duration = Duration::from_millis(200);
const FANOUT: f64 = 3.0;
/// One push/pull period at N = 1000: push/pull alone repairs every view
/// within it.
const PUSH_PULL_PERIOD: Duration = Duration::from_secs(180);
/// The first test's drain bound, derived there.
const DRAIN_BOUND: Duration = Duration::from_secs(60);

/// Runs until all N nodes see all N alive; when, or a panic with `what`
/// after one push/pull period.
fn converge<C: SimCore>(sim: &mut Sim<C>, what: &str) -> Instant {
    let all: Vec<usize> = (0..N).collect();
    sim.run_until(sim.now() + PUSH_PULL_PERIOD, Duration::from_secs(1), |s| {
        s.all_see_alive(&all)
    })
    .unwrap_or_else(|| panic!("{what} within one push/pull period"))
}

/// Runs until every broadcast queue is empty; when.
fn drain<C: SimCore>(sim: &mut Sim<C>) -> Instant {
    sim.run_until(sim.now() + DRAIN_BOUND, Duration::from_millis(200), |s| {
        (0..N).all(|i| s.core(i).memberlist().queued_broadcasts() == (0, 0))
    })
    .expect("queues did not drain")
}

#[test]
fn thousand_nodes_converge_and_a_broadcast_reaches_all_in_log_rounds() {
    let wall = WallClock::now();
    let mut sim = Sim::new(SimConfig {
        seed: 1000,
        record_events: false,
        ..SimConfig::default()
    });
    // Nodes start 10 ms apart and each joins node 0 with a push/pull: 10 s.
    for i in 0..N {
        let mut c = sim.lan_config(i);
        c.enable_compression = false;
        sim.add_node(c).unwrap();
        if i > 0 {
            sim.join(i, &[0]);
        }
        sim.run_for(Duration::from_millis(10));
    }
    let joined = sim.now();

    // Convergence bound: every alive message reaches every node with high
    // probability within the time the queues take to drain, and push/pull
    // repairs the rest within one scaled period (180 s). A node accepts up to
    // N alive messages and must send each 16 times, ~20 per 1400-byte packet,
    // 15 packets a second: 1000 × 16 / 20 / 15 ≈ 53 s. Bound: one push/pull
    // period, 180 s, which also covers the drain.
    let converged = converge(&mut sim, "1000 nodes did not converge");
    let convergence = converged - joined;
    let conv_wall = wall.elapsed();

    // Let the join traffic drain, so the measured broadcast competes with
    // nothing (memberlist's own messages go first in every packet).
    let drained = drain(&mut sim);

    // Dissemination: the broadcast originates at node 0; every node re-gossips
    // it on first receipt (what Serf does with a user event). Each gossip round
    // every informed node sends it to 3 more, so the informed set grows about
    // four-fold per round: the floor is ceil(log_3 N) = 7 rounds counting only
    // the fanout, about log_4 N ≈ 5 counting the senders too. Timers are
    // staggered, so a node forwards on average half a round after receiving,
    // which can beat the floor. Asserted: at most 2 × ceil(log_3 N) rounds.
    let news = b"the-news".to_vec();
    let t0 = sim.now();
    sim.broadcast(0, news.clone()).unwrap();
    let floor = (N as f64).log(FANOUT).ceil();
    let bound = GOSSIP_INTERVAL.mul_f64(2.0 * floor);
    sim.run_until(t0 + bound, Duration::from_millis(10), |s| {
        (0..N).all(|i| s.node(i).user_seen.contains_key(&news))
    })
    .expect("broadcast did not reach every node within 2 × ceil(log_3 N) rounds");
    let last = (0..N).map(|i| sim.node(i).user_seen[&news]).max().unwrap();
    let spread = last - t0;
    let rounds = spread.as_secs_f64() / GOSSIP_INTERVAL.as_secs_f64();
    let failed_probes: u64 = (0..N).map(|i| sim.core(i).stats().failed_probes).sum();
    println!(
        "N={N}: converged {convergence:?} after the last join ({conv_wall:?} wall); \
         queues drained at {:?}; broadcast reached all {N} in {spread:?} = {rounds:.2} \
         gossip rounds (floor ceil(log_3 N) = {floor}, bound {:.0}); \
         {} packets, {} failed probes; total wall {:?}",
        drained.as_duration(),
        2.0 * floor,
        sim.stats().packets_delivered,
        failed_probes,
        wall.elapsed()
    );
    assert!(rounds <= 2.0 * floor);
    // A healthy, lossless network must not produce false suspicions.
    assert_eq!(failed_probes, 0);
}

/// A Serf cluster of `n` nodes started as one, on seed `seed`.
fn warm_cluster(seed: u64, n: usize) -> Sim<Serf> {
    let mut sim = Sim::serf(SimConfig {
        seed,
        record_events: false,
        ..SimConfig::default()
    });
    let configs: Vec<_> = (0..n).map(|i| sim.serf_config(i)).collect();
    let nodes = sim.add_cluster(configs).unwrap();
    assert_eq!(nodes, 0..n);
    sim
}

#[test]
fn a_cluster_started_as_one_takes_a_join_spreads_an_event_and_detects_a_crash() {
    let wall = WallClock::now();
    let mut sim = warm_cluster(2024, N - 1);
    let members: Vec<usize> = (0..N - 1).collect();
    assert!(sim.all_see_alive(&members), "started as one, all know all");

    // The last node joins through node 0: its push/pull brings it every
    // member at once, and its `alive` reaches the rest by gossip (push/pull
    // repairs the rest within one scaled period, 180 s at N = 1000).
    let c = sim.serf_config(N - 1);
    sim.add_node(c).unwrap();
    sim.join(N - 1, &[0]);
    let joined = sim.now();
    let converged = converge(&mut sim, "the joiner was not known to all");

    // The joiner's queue holds an `alive` for each member it learned by
    // push/pull, as Go's does; it drains as the join traffic of the first
    // test does (bound: its 60 s).
    drain(&mut sim);

    // A user event from node 0 reaches every node within 2 × ceil(log_3 N)
    // rounds, the first test's bound.
    let base: Vec<u64> = (0..N)
        .map(|i| sim.core(i).stats().events_delivered)
        .collect();
    let t0 = sim.now();
    sim.with_core(0, |core: &mut Serf, _| core.user_event("news", b"x", false))
        .unwrap();
    let floor = (N as f64).log(FANOUT).ceil();
    let reached = sim
        .run_until(
            t0 + GOSSIP_INTERVAL.mul_f64(2.0 * floor),
            Duration::from_millis(10),
            |s| (0..N).all(|i| s.core(i).stats().events_delivered > base[i]),
        )
        .expect("the event did not reach every node within 2 × ceil(log_3 N) rounds");

    // A crashed node is failed everywhere within Lifeguard's longest
    // suspicion (6 × 4 × log10 N × 1 s = 72 s) plus the probes and gossip
    // that raise and spread it, bounded here by the same timeout again.
    let victim = N / 2;
    let crashed = sim.now();
    sim.crash(victim);
    let others: Vec<usize> = (0..N).filter(|&i| i != victim).collect();
    let name = sim_name(victim);
    let detected = sim
        .run_until(
            crashed + Duration::from_secs(2 * 72),
            Duration::from_millis(100),
            |s| {
                others.iter().all(|&i| {
                    s.core(i)
                        .member(&name)
                        .is_some_and(|m| m.status == MemberStatus::Failed)
                })
            },
        )
        .expect("the crash was not detected by all within twice the longest suspicion");
    println!(
        "N={N}, started as one: joiner known to all {:?} after its join; event to all in \
         {:?}; crash failed everywhere after {:?}; {} packets; wall {:?}",
        converged - joined,
        reached - t0,
        detected - crashed,
        sim.stats().packets_delivered,
        wall.elapsed()
    );
}

#[test]
fn a_cluster_started_as_one_replays_from_its_seed() {
    let run = |seed: u64| {
        let mut sim = warm_cluster(seed, 100);
        sim.crash(7);
        sim.run_for(Duration::from_secs(40));
        sim.trace_hash()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}
