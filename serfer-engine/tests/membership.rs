//! Membership scenarios on the simulator: join, failure detection, refutation,
//! leave, partitions. Every bound is derived from the LAN profile in a comment.

mod common;

use std::time::{Duration, Instant as WallClock};

use common::{converge, lan_cluster, saw_leave, state_of, wait_state};
use serfer_engine::memberlist::{MemberState, NodeEvent};
use serfer_engine::sim::{sim_name, Sim};
use serfer_wire::memberlist::{Message, Suspect};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn three_nodes_join_and_converge() {
    let wall = WallClock::now();
    let mut sim = lan_cluster(7, 3);
    // Each joiner gets node 0's table in one push/pull round trip (< 5 ms).
    // Node 0 learns each joiner in the same exchange and gossips its `alive`
    // every 200 ms to up to 3 nodes, so the other joiner hears of it within one
    // gossip round plus a delivery: ~205 ms. 1 s leaves five rounds of slack.
    let took = converge(&mut sim, &[0, 1, 2], SECS(1));
    println!(
        "3 nodes converged in {took:?} (virtual), {:?} wall",
        wall.elapsed()
    );
    for i in 0..3 {
        let joins = sim
            .node(i)
            .events
            .iter()
            .filter(|(_, e)| matches!(e, NodeEvent::Join(_)))
            .count();
        assert_eq!(joins, 2, "node {i} saw {joins} joins");
    }
    // And it stays that way: no false suspicion on a lossless network.
    sim.run_for(SECS(30));
    assert!(sim.all_see_alive(&[0, 1, 2]));
    for i in 0..3 {
        assert_eq!(sim.core(i).stats().failed_probes, 0);
    }
}

#[test]
fn crashed_node_is_declared_dead_within_the_suspicion_bound() {
    let n = 5;
    let mut sim = lan_cluster(11, n);
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    sim.run_for(SECS(5));
    let crashed_at = sim.now();
    sim.crash(4);
    // Bound, LAN profile, N = 5:
    // * detection: every survivor probes one node per 1 s interval in a
    //   shuffled round over its 4 peers, so the crashed node is probed within
    //   2·4 − 1 = 7 intervals by any one survivor (it may sit first in one
    //   round and last in the next), plus the 1 s probe itself: 8 s;
    // * suspicion: min = 4 × max(1, log10 5) × 1 s = 4 s, max = 6 × min = 24 s
    //   (k = 2 confirmations bring it down to min; the worst case has none);
    // * the `dead` gossip then reaches everyone within a few 200 ms rounds.
    // Worst case 8 + 24 + 1 = 33 s; with confirmations it is about 8 + 4 + 1.
    let bound = SECS(33);
    let at = wait_state(&mut sim, &[0, 1, 2, 3], 4, MemberState::Dead, bound)
        .expect("crashed node not declared dead within the bound");
    let took = at - crashed_at;
    println!("kill -9 detected as dead everywhere after {took:?} (bound {bound:?})");
    for i in 0..4 {
        assert!(saw_leave(&sim, i, 4));
    }
    // Nobody alive was hurt on the way.
    for i in 0..4 {
        for j in 0..4 {
            assert_eq!(state_of(&sim, i, j), Some(MemberState::Alive));
        }
    }
}

/// Node `subject`'s current incarnation, and a `suspect` of it at that
/// incarnation in node `from`'s name, encoded as a packet.
fn accusation_of(sim: &Sim, subject: usize, from: usize) -> (u32, Vec<u8>) {
    let incarnation = sim.core(subject).incarnation();
    let packet = Message::Suspect(Suspect {
        incarnation,
        node: sim_name(subject),
        from: sim_name(from),
    })
    .encode()
    .unwrap();
    (incarnation, packet)
}

#[test]
fn suspected_live_node_refutes() {
    let mut sim = lan_cluster(13, 3);
    converge(&mut sim, &[0, 1, 2], SECS(1));
    sim.run_for(SECS(2));
    let (before, accusation) = accusation_of(&sim, 2, 0);
    // Node 0 accuses node 2 to node 1 at node 2's current incarnation.
    sim.inject_packet(0, 1, accusation);
    sim.run_for(MS(10));
    assert_eq!(state_of(&sim, 1, 2), Some(MemberState::Suspect));
    // Node 1 gossips the suspicion within one 200 ms round (to both peers, as
    // gossip_nodes = 3 ≥ 2); node 2 refutes with incarnation + 1 and its
    // `alive` reaches node 1 within the next round. Two rounds plus delays:
    // 0.5 s, far below the 4 s suspicion timeout, which therefore never fires.
    let deadline = sim.now() + MS(500);
    let at = sim.run_until(deadline, MS(5), |s| {
        (0..3).all(|i| {
            s.core(i)
                .member(&sim_name(2))
                .is_some_and(|m| m.state == MemberState::Alive && m.incarnation > before)
        })
    });
    assert!(at.is_some(), "no refutation within 500 ms");
    assert!(sim.core(2).incarnation() > before);
    assert_eq!(sim.core(2).stats().refutes, 1);
    sim.run_for(SECS(30));
    for i in 0..3 {
        assert!(!saw_leave(&sim, i, 2), "node {i} declared node 2 dead");
    }
}

#[test]
fn a_node_that_missed_a_refutation_is_answered_instead_of_failing_the_suspect() {
    let mut sim = lan_cluster(31, 5);
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    // The join traffic is sent 4 × ceil(log10 6) = 4 times by each node at 5
    // rounds a second: spent well within 3 s.
    let drained = sim.run_until(sim.now() + SECS(3), MS(10), |s| {
        (0..5).all(|i| s.core(i).queued_broadcasts() == (0, 0))
    });
    assert!(drained.is_some(), "join traffic not spent within 3 s");
    let (before, accusation) = accusation_of(&sim, 2, 0);
    // Node 4 hears nothing while node 2 refutes an accusation and the others
    // pass its `alive` on, until every queue is spent (4 sends each, 200 ms
    // rounds: a second; 3 s bound).
    for j in 0..4 {
        sim.network_mut().cut(j, 4);
    }
    sim.inject_packet(0, 2, accusation.clone());
    let spent = sim.run_until(sim.now() + SECS(3), MS(10), |s| {
        (0..4).all(|i| {
            s.core(i)
                .member(&sim_name(2))
                .is_some_and(|m| m.incarnation > before)
                && s.core(i).queued_broadcasts() == (0, 0)
        })
    });
    assert!(spent.is_some(), "the refutation did not spread and drain");
    sim.network_mut().heal();
    // Then node 4 gets the old accusation: for it, node 2 is a suspect at the
    // incarnation it refuted. Node 2 ignores the accusation as stale, and
    // nobody else will pass the refutation on again; Go's memberlist leaves
    // node 4 to declare node 2 dead when its timer runs out (24 s). Node 2
    // answers the stale accusation, which node 4 gossips within two rounds
    // (3 of its 4 peers a round, in passes) and attaches to its probes, with
    // its current `alive`, which reaches node 4 within two more: 1 s; 2 s
    // bound.
    sim.inject_packet(0, 4, accusation);
    sim.run_for(MS(10));
    assert_eq!(state_of(&sim, 4, 2), Some(MemberState::Suspect));
    let answered = sim.run_until(sim.now() + SECS(2), MS(10), |s| {
        s.core(4)
            .member(&sim_name(2))
            .is_some_and(|m| m.state == MemberState::Alive && m.incarnation > before)
    });
    assert!(answered.is_some(), "node 4 still suspects node 2");
    // Past the longest suspicion timeout, node 2 was never failed anywhere.
    sim.run_for(SECS(30));
    for i in [0, 1, 3, 4] {
        assert!(!saw_leave(&sim, i, 2), "node {i} declared node 2 dead");
    }
}

#[test]
fn briefly_unreachable_node_is_suspected_then_refutes() {
    let mut sim = lan_cluster(17, 4);
    converge(&mut sim, &[0, 1, 2, 3], SECS(1));
    sim.run_for(SECS(3));
    let before = sim.core(3).incarnation();
    // Cut node 3 off until someone suspects it, then reconnect before the
    // suspicion can expire (min timeout 4 s at N = 4).
    sim.network_mut().partition(&[&[3]]);
    let suspected = sim.run_until(sim.now() + SECS(10), MS(10), |s| {
        (0..3).any(|i| state_of(s, i, 3) == Some(MemberState::Suspect))
    });
    assert!(suspected.is_some(), "nobody suspected the cut-off node");
    sim.network_mut().heal();
    // The suspect now hears the accusation (gossip, or the ping+suspect probe)
    // within a round and refutes; everyone sees the new incarnation.
    let deadline = sim.now() + SECS(3);
    let at = sim.run_until(deadline, MS(10), |s| {
        (0..4).all(|i| {
            s.core(i)
                .member(&sim_name(3))
                .is_some_and(|m| m.state == MemberState::Alive && m.incarnation > before)
        })
    });
    assert!(at.is_some(), "suspect did not refute");
    for i in 0..3 {
        assert!(!saw_leave(&sim, i, 3));
    }
}

#[test]
fn graceful_leave_is_seen_as_left() {
    let mut sim = lan_cluster(19, 3);
    converge(&mut sim, &[0, 1, 2], SECS(1));
    sim.run_for(SECS(1));
    let left_at = sim.now();
    sim.leave(2);
    // The `dead{From: self}` goes out in node 2's next gossip round (≤ 200 ms)
    // to both peers. It is retransmitted 4 × ceil(log10 4) = 4 times, i.e. over
    // 2 rounds of 2 packets, before LeaveComplete: ≤ 3 rounds = 600 ms.
    let at = wait_state(&mut sim, &[0, 1], 2, MemberState::Left, MS(600))
        .expect("leave not seen within 600 ms");
    println!("leave seen everywhere after {:?}", at - left_at);
    sim.run_for(MS(400));
    let done = sim.node(2).leave_complete.expect("leave never completed");
    assert!(done - left_at <= MS(600));
    // Left, not failed: no suspicion, and it stays left.
    sim.run_for(SECS(10));
    for i in 0..2 {
        assert_eq!(state_of(&sim, i, 2), Some(MemberState::Left));
        assert_eq!(sim.core(i).stats().declared_dead, 0);
    }
}

#[test]
fn partition_heals_through_push_pull() {
    let mut sim = lan_cluster(23, 6);
    let all = [0, 1, 2, 3, 4, 5];
    // Five simultaneous joiners: gossip alone reaches everyone only with high
    // probability (each alive is sent 4 × ceil(log10 7) = 4 times per node);
    // the guarantee is push/pull, whose first round comes after a random
    // stagger below 30 s plus one 30 s period: 60 s, plus a round trip.
    converge(&mut sim, &all, SECS(61));
    sim.run_for(SECS(2));
    sim.network_mut().partition(&[&[0, 1, 2], &[3, 4, 5]]);
    // Each side declares the other dead (probe + suspicion, ≤ 33 s as above,
    // N = 6), and forgets it once it has been dead for gossip_to_the_dead_time
    // (30 s), at the next wrap of the probe list (≤ 6 s). 80 s covers both.
    let deadline = sim.now() + SECS(80);
    let forgotten = sim.run_until(deadline, MS(100), |s| {
        [0, 1, 2]
            .iter()
            .all(|&a| [3, 4, 5].iter().all(|&b| state_of(s, a, b).is_none()))
            && [3, 4, 5]
                .iter()
                .all(|&b| [0, 1, 2].iter().all(|&a| state_of(s, b, a).is_none()))
    });
    assert!(forgotten.is_some(), "sides did not forget each other");
    sim.network_mut().heal();
    // memberlist alone never contacts forgotten nodes; Serf's reconnect does a
    // push/pull join with a failed member. One such exchange hands each side
    // the other's table: node 0 and node 3 accept the other side as new alive
    // nodes and gossip their `alive`s on, typically within a few 200 ms rounds;
    // what gossip misses, the next periodic push/pull (30 s at N = 6) carries.
    let healed_at = sim.now();
    sim.join(0, &[3]);
    let took = converge(&mut sim, &all, SECS(31));
    println!(
        "partition healed {took:?} after one push/pull (started {:?})",
        healed_at.as_duration()
    );
}

#[test]
fn reaped_after_gossip_to_the_dead_time() {
    let mut sim = lan_cluster(29, 3);
    converge(&mut sim, &[0, 1, 2], SECS(1));
    sim.crash(2);
    // Dead within 33 s (as above), forgotten 30 s later at a probe-list wrap
    // (every 2 probes at N = 3, plus the reshuffle): 33 + 30 + 3 s.
    let deadline = sim.now() + SECS(66);
    let gone = sim.run_until(deadline, MS(100), |s| {
        state_of(s, 0, 2).is_none() && state_of(s, 1, 2).is_none()
    });
    assert!(gone.is_some(), "dead node never reaped");
    assert!(sim
        .node(0)
        .events
        .iter()
        .any(|(_, e)| matches!(e, NodeEvent::Reap(m) if m.name == sim_name(2))));
}

#[test]
fn same_seed_same_trace() {
    fn run(seed: u64) -> (u64, u64) {
        let mut sim = lan_cluster(seed, 8);
        sim.run_for(SECS(5));
        sim.crash(7);
        sim.leave(6);
        sim.broadcast(0, b"hello".to_vec()).unwrap();
        sim.run_for(SECS(30));
        (sim.trace_hash(), sim.stats().packets_delivered)
    }
    let a = run(42);
    let b = run(42);
    assert_eq!(a, b, "same seed, different runs");
    let c = run(43);
    assert_ne!(a.0, c.0, "different seeds, same trace");
    println!("trace {:016x} over {} packets", a.0, a.1);
}
