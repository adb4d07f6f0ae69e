//! Convergence and dissemination at N = 1,000 on virtual time.
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

use serfer_engine::sim::{Sim, SimConfig};

const N: usize = 1000;
const GOSSIP_INTERVAL: Duration = Duration::from_millis(200);
const FANOUT: f64 = 3.0;

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
    let all: Vec<usize> = (0..N).collect();
    let converged = sim
        .run_until(
            joined + Duration::from_secs(180),
            Duration::from_secs(1),
            |s| s.all_see_alive(&all),
        )
        .expect("1000 nodes did not converge within one push/pull period");
    let convergence = converged - joined;
    let conv_wall = wall.elapsed();

    // Let the join traffic drain, so the measured broadcast competes with
    // nothing (memberlist's own messages go first in every packet).
    let drained = sim
        .run_until(
            sim.now() + Duration::from_secs(60),
            Duration::from_millis(200),
            |s| (0..N).all(|i| s.core(i).queued_broadcasts() == (0, 0)),
        )
        .expect("queues did not drain");

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
