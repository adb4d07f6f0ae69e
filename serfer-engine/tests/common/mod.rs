//! Helpers shared by the simulation tests.

#![allow(dead_code)]

use std::time::Duration;

use serfer_engine::memberlist::{MemberState, NodeEvent};
use serfer_engine::sim::{sim_name, Sim, SimConfig};
use serfer_engine::Instant;

/// A simulation of `n` LAN nodes, all joining node 0 at time zero.
pub fn lan_cluster(seed: u64, n: usize) -> Sim {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    for i in 0..n {
        let c = sim.lan_config(i);
        sim.add_node(c).unwrap();
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    sim
}

/// Runs until every node in `alive` sees exactly `alive` as alive, or panics
/// after `within`. Returns how long it took.
pub fn converge(sim: &mut Sim, alive: &[usize], within: Duration) -> Duration {
    let start = sim.now();
    let at = sim
        .run_until(start + within, Duration::from_millis(10), |s| {
            s.all_see_alive(alive)
        })
        .unwrap_or_else(|| panic!("no convergence within {within:?}"));
    at - start
}

/// The state node `observer` has for node `subject`.
pub fn state_of(sim: &Sim, observer: usize, subject: usize) -> Option<MemberState> {
    sim.core(observer)
        .member(&sim_name(subject))
        .map(|m| m.state)
}

/// Runs until every node in `observers` has `subject` in `state`.
pub fn wait_state(
    sim: &mut Sim,
    observers: &[usize],
    subject: usize,
    state: MemberState,
    within: Duration,
) -> Option<Instant> {
    let deadline = sim.now() + within;
    sim.run_until(deadline, Duration::from_millis(10), |s| {
        observers
            .iter()
            .all(|&o| state_of(s, o, subject) == Some(state))
    })
}

/// Whether `observer` ever recorded a leave (dead or left) of `subject`.
pub fn saw_leave(sim: &Sim, observer: usize, subject: usize) -> bool {
    let name = sim_name(subject);
    sim.node(observer)
        .events
        .iter()
        .any(|(_, e)| matches!(e, NodeEvent::Leave(m) if m.name == name))
}
