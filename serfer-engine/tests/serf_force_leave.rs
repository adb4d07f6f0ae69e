//! Force-leave of a failed member on the simulator (Go's `RemoveFailedNode`
//! and `RemoveFailedNodePrune`): a crashed node, found failed by the
//! survivors, is removed from one of them; the leave intent it gossips makes
//! every survivor record it as left, or forget it with prune. Bounds are
//! derived from the LAN profile and Serf's defaults in comments.

use std::time::Duration;

use serfer_engine::serf::{Event, MemberEvent, MemberStatus, Serf};
use serfer_engine::sim::{sim_name, Sim, SimConfig};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

const SURVIVORS: [usize; 3] = [0, 1, 2];
const VICTIM: usize = 3;

fn status(sim: &Sim<Serf>, observer: usize, subject: usize) -> Option<MemberStatus> {
    sim.core(observer)
        .member(&sim_name(subject))
        .map(|m| m.status)
}

/// Four converged Serf nodes, node 3 crashed and failed at every survivor.
fn cluster_with_a_failed_node(seed: u64) -> Sim<Serf> {
    let mut sim = Sim::serf(SimConfig {
        seed,
        ..SimConfig::default()
    });
    for i in 0..4 {
        let c = sim.serf_config(i);
        sim.add_node(c).unwrap();
    }
    for i in 1..4 {
        sim.join(i, &[0]);
    }
    sim.run_until(sim.now() + SECS(2), MS(10), |s| {
        (0..4).all(|i| (0..4).all(|j| status(s, i, j) == Some(MemberStatus::Alive)))
    })
    .expect("4 nodes converge within 2 s");
    sim.crash(VICTIM);
    // memberlist's bound at N = 4: a probe within 2·3 − 1 intervals + 1 s,
    // suspicion at most 6 × 4 × max(1, log10 4) s = 24 s, plus gossip: 30 s.
    sim.run_until(sim.now() + SECS(30), MS(50), |s| {
        SURVIVORS
            .iter()
            .all(|&i| status(s, i, VICTIM) == Some(MemberStatus::Failed))
    })
    .expect("the crashed node failed at every survivor within 30 s");
    sim.clear_events();
    sim
}

/// The leave events about `subject` each survivor recorded.
fn leave_events(sim: &Sim<Serf>, observer: usize, subject: usize) -> usize {
    let name = sim_name(subject);
    sim.node(observer)
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Member(MemberEvent::Leave(m)) if m.name == name))
        .count()
}

/// The intent is gossiped 4 × ceil(log10(4 + 1)) = 4 times by each node
/// taking it as new, 3 nodes per 200 ms round: everyone has it, and the
/// sender has finished transmitting it, within a few rounds; 2 s is ample
/// (and well under the 5 s broadcast timeout).
#[test]
fn removed_failed_node_is_left_everywhere() {
    let mut sim = cluster_with_a_failed_node(61);
    let before = sim.core(0).clock();
    let id = sim
        .with_core(0, |c, now| {
            c.remove_failed_node(now, &sim_name(VICTIM), false)
        })
        .expect("force-leave accepted")
        .expect("gossiped: two other members are alive");
    // The intent was stamped with the clock's time, then the clock moved on.
    assert_eq!(sim.core(0).clock(), before + 1);
    // Handled locally at once, as a received intent.
    assert_eq!(status(&sim, 0, VICTIM), Some(MemberStatus::Left));

    let at = sim
        .run_until(sim.now() + SECS(2), MS(10), |s| {
            SURVIVORS
                .iter()
                .all(|&i| status(s, i, VICTIM) == Some(MemberStatus::Left))
        })
        .expect("left at every survivor within 2 s");
    sim.run_until(at + SECS(2), MS(10), |s| {
        s.core(0)
            .memberlist()
            .queued_user_messages()
            .next()
            .is_none()
    })
    .expect("the intent left the queue within 2 s");
    let finished = sim.with_core(0, |c, _| c.take_finished_broadcasts());
    assert_eq!(finished, vec![id]);
    for i in SURVIVORS {
        assert_eq!(leave_events(&sim, i, VICTIM), 1, "node {i}");
    }
    // Later gossip and push/pull do not bring it back.
    sim.run_for(SECS(35));
    for i in SURVIVORS {
        assert_eq!(
            status(&sim, i, VICTIM),
            Some(MemberStatus::Left),
            "node {i}"
        );
        assert_eq!(sim.core(i).info().left, 1, "node {i}");
    }
}

/// With prune, every survivor forgets the node (a reap event) as soon as the
/// intent arrives; same bound as above.
#[test]
fn removed_failed_node_with_prune_is_forgotten_everywhere() {
    let mut sim = cluster_with_a_failed_node(62);
    sim.with_core(1, |c, now| {
        c.remove_failed_node(now, &sim_name(VICTIM), true)
    })
    .expect("force-leave accepted")
    .expect("gossiped");
    assert_eq!(status(&sim, 1, VICTIM), None);
    sim.run_until(sim.now() + SECS(2), MS(10), |s| {
        SURVIVORS.iter().all(|&i| status(s, i, VICTIM).is_none())
    })
    .expect("forgotten at every survivor within 2 s");
    let name = sim_name(VICTIM);
    for i in SURVIVORS {
        assert_eq!(leave_events(&sim, i, VICTIM), 1, "node {i}");
        assert!(
            sim.node(i)
                .events
                .iter()
                .any(|(_, e)| matches!(e, Event::Member(MemberEvent::Reap(m)) if m.name == name)),
            "node {i}: no reap"
        );
        assert_eq!(sim.core(i).info().members, 3, "node {i}");
    }
}

/// Alone, a node handles the intent but gossips nothing (Go's
/// `hasAliveMembers`); an intent about an unknown node is kept for when it
/// appears.
#[test]
fn force_leave_without_alive_peers_is_not_gossiped() {
    let mut sim = Sim::serf(SimConfig::default());
    let c = sim.serf_config(0);
    sim.add_node(c).unwrap();
    let before = sim.core(0).clock();
    let id = sim.with_core(0, |c, now| c.remove_failed_node(now, "ghost", false));
    assert_eq!(id, Ok(None));
    assert_eq!(sim.core(0).info().intent_queue, 0);
    assert_eq!(sim.core(0).clock(), before + 1);
}
