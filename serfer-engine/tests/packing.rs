//! How gossip packs queued broadcasts into packets: Go's raw-byte budget, or
//! the compressed budget (`Config::fill_compressed_packets`), and the wire
//! limit both keep.

use std::time::Duration;

use serfer_engine::memberlist::Keyring;
use serfer_engine::serf::{MemberStatus, Serf};
use serfer_engine::sim::{sim_name, Sim, SimConfig, SimStats};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;
const NODES: usize = 5;
const BURST: u64 = 300;
/// `udp_buffer_size` of the LAN profile, plus the 5-byte CRC Go also adds
/// beyond it.
const WIRE_LIMIT: usize = 1400 + 5;

struct Run {
    /// Virtual time from the burst until node 0 had sent every event its
    /// 4 times (its user queue empty).
    sent: Duration,
    /// Virtual time from the burst until every node had all of it.
    spread: Duration,
    stats: SimStats,
    /// Events that reached a node only by push/pull, over all nodes.
    repaired: u64,
    /// Gossip packets that went as two because they compressed worse than
    /// expected, over all nodes.
    splits: u64,
}

/// A burst of `BURST` user events of one name (similar bytes, as a burst
/// is) from node 0 of a converged, quiet cluster of Serf nodes.
fn burst(fill: bool, key: Option<&[u8]>) -> Run {
    let mut sim = Sim::serf(SimConfig {
        seed: 11,
        ..SimConfig::default()
    });
    for i in 0..NODES {
        let mut c = sim.serf_config(i);
        c.memberlist.fill_compressed_packets = fill;
        if let Some(key) = key {
            c.memberlist.keyring = Keyring::new(key.to_vec(), Vec::new()).unwrap();
        }
        sim.add_node(c).unwrap();
    }
    for i in 1..NODES {
        sim.join(i, &[0]);
    }
    // Each joiner gets node 0's table by push/pull; the others' alives
    // spread in a few 200 ms rounds.
    sim.run_until(sim.now() + SECS(10), MS(10), |s| {
        (0..NODES).all(|i| {
            (0..NODES).all(|j| {
                s.core(i)
                    .member(&sim_name(j))
                    .is_some_and(|m| m.status == MemberStatus::Alive)
            })
        })
    })
    .expect("converged within 10 s");
    // The join traffic is retransmitted 4 × ceil(log10 6) = 4 times by each
    // node at 5 rounds a second: drained well within 10 s.
    sim.run_until(sim.now() + SECS(10), MS(10), |s| {
        (0..NODES).all(|i| s.core(i).memberlist().queued_broadcasts() == (0, 0))
    })
    .expect("join traffic drained within 10 s");
    let delivered = |s: &Sim<Serf>, i: usize| s.core(i).stats().events_delivered;
    let before: Vec<u64> = (0..NODES).map(|i| delivered(&sim, i)).collect();
    let start = sim.now();
    for k in 0..BURST {
        let payload = format!("{{\"service\":\"web\",\"version\":\"1.{k}\"}}");
        sim.with_core(0, |c, _| c.user_event("deploy", payload.as_bytes(), false))
            .unwrap();
    }
    // Go's budget carries ~25 of these events a packet, 3 packets a round:
    // 300 × 4 transmissions take node 0 about 16 rounds (3.2 s) when every
    // packet is full, ~24 (4.8 s) with one set of broadcasts per round.
    let sent = sim
        .run_until(start + SECS(30), MS(10), |s| {
            s.core(0).memberlist().queued_broadcasts().1 == 0
        })
        .expect("node 0 sent the burst within 30 s");
    // What gossip missed, push/pull (every 30 s at N = 5) repairs.
    let done = sim
        .run_until(start + SECS(90), MS(10), |s| {
            (0..NODES).all(|i| delivered(s, i) - before[i] == BURST)
        })
        .expect("the burst reached every node within 90 s");
    Run {
        sent: sent - start,
        spread: done - start,
        stats: sim.stats(),
        repaired: (0..NODES)
            .map(|i| sim.core(i).stats().events_from_push_pull)
            .sum(),
        splits: (0..NODES)
            .map(|i| sim.core(i).memberlist().stats().gossip_packets_split)
            .sum(),
    }
}

#[test]
fn compressed_budget_sends_a_burst_in_fewer_rounds_within_the_wire_limit() {
    let go = burst(false, None);
    let filled = burst(true, None);
    let sealed = burst(true, Some(b"0123456789abcdef"));
    for (what, run) in [("go", &go), ("filled", &filled), ("encrypted", &sealed)] {
        println!(
            "{what}: sent in {:?}, everywhere in {:?} ({} by push/pull), \
             {} packets, largest {} bytes, {} split",
            run.sent,
            run.spread,
            run.repaired,
            run.stats.packets_sent,
            run.stats.largest_packet,
            run.splits
        );
        assert!(
            run.stats.largest_packet <= WIRE_LIMIT,
            "{what}: a {}-byte packet",
            run.stats.largest_packet
        );
    }
    // Go's raw budget never splits; its packets are full before compression.
    assert_eq!(go.splits, 0);
    // The same burst in fewer packets, and off node 0's queue in fewer
    // rounds: each packet carried more of it (the seeds are equal; only the
    // budget differs).
    assert!(
        filled.stats.packets_sent < go.stats.packets_sent,
        "{} packets against Go's budget's {}",
        filled.stats.packets_sent,
        go.stats.packets_sent
    );
    assert!(
        filled.sent < go.sent,
        "sent in {:?} against {:?}",
        filled.sent,
        go.sent
    );
}
