//! Serf features on the simulator: name-conflict resolution as the contested
//! node, key management by internal queries (and the keyring changes it
//! reports), and Vivaldi coordinates carried in acks. Bounds are derived in
//! comments from the LAN profile (gossip 200 ms, probe 1 s) and Serf's
//! defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serfer_engine::memberlist::Keyring;
use serfer_engine::serf::{
    base64_encode, Event, KeyOp, KeyReport, MemberStatus, QueryId, Serf, SerfState,
};
use serfer_engine::sim::{sim_addr, sim_name, LinkConfig, Sim, SimConfig};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn serf_sim(seed: u64) -> Sim<Serf> {
    Sim::serf(SimConfig {
        seed,
        ..SimConfig::default()
    })
}

fn all_alive(sim: &Sim<Serf>, nodes: &[usize]) -> bool {
    nodes.iter().all(|&i| {
        nodes.iter().all(|&j| {
            sim.core(i)
                .member(&sim_name(j))
                .is_some_and(|m| m.status == MemberStatus::Alive && m.addr == sim_addr(j))
        })
    })
}

fn conflict_outcome(sim: &Sim<Serf>, i: usize) -> Option<(usize, usize, bool)> {
    sim.node(i).events.iter().find_map(|(_, e)| match e {
        Event::NameConflict {
            matching,
            responses,
            survived,
        } => Some((*matching, *responses, *survived)),
        _ => None,
    })
}

/// Three established nodes; a newcomer at another address claims node-0's
/// name and joins through node-1. The newcomer learns node-0's record from
/// node-1's push/pull, runs `_serf_conflict`, hears node-1 and node-2 both
/// record node-0's real address — `[0 / 2]`, majority 2 — and quits; node-0
/// stays. Bound: the query's default timeout, 200 ms × 16 × ceil(log10(4+1))
/// = 3.2 s, plus the join: 5 s.
#[test]
fn newcomer_with_a_taken_name_quits_the_established_node_stays() {
    let mut sim = serf_sim(41);
    for i in 0..3 {
        let c = sim.serf_config(i);
        sim.add_node(c).unwrap();
    }
    sim.join(1, &[0]);
    sim.join(2, &[0]);
    sim.run_until(sim.now() + SECS(5), MS(10), |s| all_alive(s, &[0, 1, 2]))
        .expect("3 nodes converge");

    let mut c = sim.serf_config(3);
    c.memberlist.name = sim_name(0);
    let newcomer = sim.add_node(c).unwrap();
    let start = sim.now();
    sim.join(newcomer, &[1]);
    let quit = sim
        .run_until(start + SECS(5), MS(10), |s| {
            s.core(newcomer).state() == SerfState::Shutdown
        })
        .expect("the newcomer did not quit within 5 s");
    assert_eq!(conflict_outcome(&sim, newcomer), Some((0, 2, false)));
    println!("newcomer quit {:?} after its join", quit - start);

    // The established node-0 is untouched and still alive at its address
    // everywhere, 10 s later.
    sim.run_for(SECS(10));
    assert_eq!(sim.core(0).state(), SerfState::Alive);
    assert!(all_alive(&sim, &[0, 1, 2]));
    assert!(conflict_outcome(&sim, 0).is_none_or(|(_, _, survived)| survived));
}

/// Two nodes with one name: each sees the other's claim, asks, and nobody
/// else can answer — `[0 / 0]`, majority 1 — so both quit, as Go does.
#[test]
fn two_nodes_with_one_name_both_quit() {
    let mut sim = serf_sim(42);
    let a = sim.add_node(sim.serf_config(0)).unwrap();
    let mut c = sim.serf_config(1);
    c.memberlist.name = sim_name(0);
    let b = sim.add_node(c).unwrap();
    sim.join(b, &[a]);
    // 200 ms × 16 × ceil(log10(1+1)) = 3.2 s for each query.
    sim.run_until(sim.now() + SECS(5), MS(10), |s| {
        s.core(a).state() == SerfState::Shutdown && s.core(b).state() == SerfState::Shutdown
    })
    .expect("both quit within 5 s");
    assert_eq!(conflict_outcome(&sim, a), Some((0, 0, false)));
    assert_eq!(conflict_outcome(&sim, b), Some((0, 0, false)));
}

fn key_report(sim: &Sim<Serf>, i: usize, id: QueryId) -> Option<KeyReport> {
    sim.node(i).events.iter().find_map(|(_, e)| match e {
        Event::KeyReport { query, report } if *query == id => Some(report.clone()),
        _ => None,
    })
}

/// The keyrings node `i` reported as changed, in order.
fn keyring_changes(sim: &Sim<Serf>, i: usize) -> Vec<Vec<Vec<u8>>> {
    sim.node(i)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::KeyringChanged { keys } => Some(keys.clone()),
            _ => None,
        })
        .collect()
}

fn run_key_op(sim: &mut Sim<Serf>, op: KeyOp) -> KeyReport {
    let id = sim
        .with_core(0, |c, now| c.key_query(now, op, 0))
        .expect("key query sent");
    // Every member answers within a gossip round or two; the query deadline
    // (3.2 s at N = 5) is the outer bound.
    sim.run_until(sim.now() + SECS(4), MS(10), |s| {
        key_report(s, 0, id).is_some()
    })
    .expect("key report within the query timeout");
    key_report(sim, 0, id).unwrap()
}

/// Rotation over the wire, as `serf keys` drives it: install a second key,
/// make it primary, remove the first; list-keys shows the result on every
/// node; removing the primary fails on every node with Go's message.
#[test]
fn key_rotation_by_internal_queries() {
    let k1 = vec![1u8; 16];
    let k2 = vec![2u8; 32];
    let mut sim = serf_sim(43);
    let n = 5;
    for i in 0..n {
        let mut c = sim.serf_config(i);
        c.memberlist.keyring = Keyring::new(k1.clone(), vec![]).unwrap();
        sim.add_node(c).unwrap();
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    let all: Vec<usize> = (0..n).collect();
    sim.run_until(sim.now() + SECS(10), MS(10), |s| all_alive(s, &all))
        .expect("converge");

    for op in [
        KeyOp::Install(k2.clone()),
        KeyOp::Use(k2.clone()),
        KeyOp::Remove(k1.clone()),
    ] {
        let r = run_key_op(&mut sim, op.clone());
        assert_eq!(
            (r.num_nodes, r.num_resp, r.num_err),
            (n, n, 0),
            "{op:?}: {r:?}"
        );
        assert_eq!(r.result(), Ok(()));
    }
    for i in 0..n {
        let ring = sim.core(i).memberlist().keyring();
        assert_eq!(ring.keys(), std::slice::from_ref(&k2), "node {i}");
    }
    // Every node reported each change of its keyring, primary first, so a
    // driver can persist it as Go's keyring file.
    let expected = vec![
        vec![k1.clone(), k2.clone()],
        vec![k2.clone(), k1.clone()],
        vec![k2.clone()],
    ];
    for i in 0..n {
        assert_eq!(keyring_changes(&sim, i), expected, "node {i}");
    }
    let list = run_key_op(&mut sim, KeyOp::List);
    assert_eq!(list.keys, BTreeMap::from([(base64_encode(&k2), n)]));
    assert_eq!(list.primary_keys, BTreeMap::from([(base64_encode(&k2), n)]));

    let refused = run_key_op(&mut sim, KeyOp::Remove(k2.clone()));
    assert_eq!(refused.num_err, n);
    assert_eq!(
        refused.result(),
        Err(format!("{n}/{n} nodes reported failure"))
    );
    assert!(refused
        .messages
        .values()
        .all(|m| m == "Removing the primary key is not allowed"));
    // Neither a list nor a refused operation is a change.
    for i in 0..n {
        assert_eq!(keyring_changes(&sim, i).len(), 3, "node {i}");
    }
    // Still talking: the cluster stays converged under the new key.
    sim.run_for(SECS(10));
    assert!(all_alive(&sim, &all));
}

/// Without a keyring, every node answers Go's "encryption not enabled".
#[test]
fn key_queries_without_encryption_fail_like_go() {
    let mut sim = serf_sim(44);
    for i in 0..3 {
        let c = sim.serf_config(i);
        sim.add_node(c).unwrap();
    }
    sim.join(1, &[0]);
    sim.join(2, &[0]);
    sim.run_until(sim.now() + SECS(5), MS(10), |s| all_alive(s, &[0, 1, 2]))
        .unwrap();
    let r = run_key_op(&mut sim, KeyOp::Install(vec![3u8; 16]));
    assert_eq!((r.num_resp, r.num_err), (3, 3));
    assert!(r
        .messages
        .values()
        .all(|m| m == "No keyring to modify (encryption not enabled)"));
    let r = run_key_op(&mut sim, KeyOp::List);
    assert!(r
        .messages
        .values()
        .all(|m| m == "Keyring is empty (encryption not enabled)"));
}

/// Five nodes at the corners and centre of a 10 ms square: the RTT between
/// two nodes is their Euclidean distance in milliseconds (each direction
/// half). Coordinates travel in acks; after 300 s (about 75 probes per pair
/// at one probe a second over 4 peers) every node's estimate of every other,
/// computed from its own coordinate and the one the peer last acked with, is
/// within 15% or 1 ms of the true RTT. Vivaldi with 8 dimensions and a height
/// can embed a 2-D Euclidean space exactly; the residual is the adjustment
/// term and gravity.
#[test]
fn coordinates_converge_to_simulated_rtts() {
    let pos = [
        (0.0, 0.0),
        (10.0, 0.0),
        (0.0, 10.0),
        (10.0, 10.0),
        (5.0, 5.0),
    ];
    let rtt_ms = |a: usize, b: usize| -> f64 {
        let (dx, dy): (f64, f64) = (pos[a].0 - pos[b].0, pos[a].1 - pos[b].1);
        (dx * dx + dy * dy).sqrt()
    };
    let mut sim = serf_sim(45);
    let n = pos.len();
    for i in 0..n {
        let c = sim.serf_config(i);
        sim.add_node(c).unwrap();
    }
    for a in 0..n {
        for b in 0..n {
            if a != b {
                let one_way = Duration::from_secs_f64(rtt_ms(a, b) / 2000.0);
                sim.network_mut().set_link(
                    a,
                    b,
                    LinkConfig {
                        min_delay: one_way,
                        max_delay: one_way,
                        loss: 0.0,
                    },
                );
            }
        }
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    sim.run_for(SECS(300));
    let mut worst_rel: f64 = 0.0;
    let mut sum_rel = 0.0;
    let mut pairs = 0;
    for a in 0..n {
        let me = sim.core(a);
        assert_eq!(me.peer_coordinates().count(), n - 1, "node {a}'s cache");
        assert!(me.coordinate_generation() > 0, "node {a}'s generation");
        for b in 0..n {
            if a == b {
                continue;
            }
            let theirs = me
                .node_coordinate(&sim_name(b))
                .unwrap_or_else(|| panic!("node {a} has no coordinate for {b}"));
            let est = me.coordinate_client().distance_to(theirs).as_secs_f64() * 1000.0;
            let truth = rtt_ms(a, b);
            let err = (est - truth).abs();
            worst_rel = worst_rel.max(err / truth);
            sum_rel += err / truth;
            pairs += 1;
            assert!(
                err <= (0.15 * truth).max(1.0),
                "node {a} → {b}: estimated {est:.2} ms, true {truth:.2} ms"
            );
        }
    }
    println!(
        "coordinates: mean relative error {:.1}%, worst {:.1}% over {pairs} pairs",
        100.0 * sum_rel / pairs as f64,
        100.0 * worst_rel
    );
}
