//! `serfer-bench bursts`: how often gossip alone leaves part of a burst of user
//! events to push/pull, in the native engine's simulator (lossless network,
//! virtual time, Go's LAN profile).
//!
//! Per seed: N Serf cores join node 0 and converge, the join traffic drains,
//! then `--bursts` times a node sends `--events` user events at once; the run
//! waits until every node delivered all of them and the queues drained again.
//! Four seconds after each burst (gossip has spent its transmissions by then:
//! about 11 rounds of 200 ms for 100 events at N = 30) the nodes still missing
//! events count as gossip's misses; push/pull (every 30 s up to N = 32)
//! repairs them later. `--targets` compares how gossip picks the nodes of a
//! round: from shuffled passes over the members (the engine's default) or at
//! random, as Go's memberlist does (`memberlist::Config::gossip_in_passes`).

use std::fmt::Write as _;
use std::time::Duration;

use serfer_engine::serf::{MemberStatus, Serf};
use serfer_engine::sim::{sim_name, Sim, SimConfig};

/// Options of `serfer-bench bursts`.
#[derive(clap::Args, Clone, Debug)]
pub struct BurstArgs {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 30)]
    pub nodes: usize,
    /// User events in one burst, sent at once by one node.
    #[arg(long, default_value_t = 100)]
    pub events: usize,
    /// Bursts per seed, each from another node.
    #[arg(long, default_value_t = 5)]
    pub bursts: usize,
    /// Seeds: `seed`, `seed + 1`, …
    #[arg(long, default_value_t = 120)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How gossip picks each round's targets.
    #[arg(long, value_enum, default_value = "both")]
    pub targets: Targets,
}

/// `memberlist::Config::gossip_in_passes`, as a choice.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Shuffled passes over the members (the default).
    Passes,
    /// At random each round, as Go's memberlist.
    Random,
    /// Random, then passes, on the same seeds.
    Both,
}

impl Targets {
    /// `gossip_in_passes` for each run, in order.
    pub fn choices(self) -> &'static [bool] {
        match self {
            Targets::Passes => &[true],
            Targets::Random => &[false],
            Targets::Both => &[false, true],
        }
    }
}

/// When gossip has spent a burst's transmissions (see the module docs).
const GOSSIP_DONE: Duration = Duration::from_secs(4);
/// Bounds of the waits: convergence and drains take seconds at these sizes;
/// push/pull repairs within its 30 s interval plus one exchange.
const CONVERGED: Duration = Duration::from_secs(120);
const REPAIRED: Duration = Duration::from_secs(120);
const STEP: Duration = Duration::from_millis(10);

/// The outcome of one choice of targets over every seed.
#[derive(Debug, Default)]
struct Tally {
    passes: bool,
    bursts: usize,
    /// Bursts where some node still missed an event after gossip.
    left_to_push_pull: usize,
    /// (node, event) pairs gossip missed, over all bursts.
    misses: u64,
    /// From each burst's send until the last node had all of it.
    spreads: Vec<Duration>,
    /// Bursts not whole within the bound (none expected).
    never_whole: usize,
}

fn delivered(sim: &Sim<Serf>, i: usize) -> u64 {
    sim.core(i).stats().events_delivered
}

fn quiet(sim: &Sim<Serf>, n: usize) -> bool {
    (0..n).all(|i| sim.core(i).memberlist().queued_broadcasts() == (0, 0))
}

/// One seed's cluster and bursts, added to `tally`; `Err` names a wait that
/// ran past its bound.
fn run_seed(args: &BurstArgs, seed: u64, tally: &mut Tally) -> Result<(), String> {
    let n = args.nodes;
    let size = args.events as u64;
    let mut sim = Sim::serf(SimConfig {
        seed,
        ..SimConfig::default()
    });
    for i in 0..n {
        let mut c = sim.serf_config(i);
        c.memberlist.gossip_in_passes = tally.passes;
        sim.add_node(c).map_err(|e| e.to_string())?;
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    sim.run_until(sim.now() + CONVERGED, STEP, |s| {
        (0..n).all(|i| {
            (0..n).all(|j| {
                s.core(i)
                    .member(&sim_name(j))
                    .is_some_and(|m| m.status == MemberStatus::Alive)
            })
        })
    })
    .ok_or("not converged")?;
    sim.run_until(sim.now() + CONVERGED, STEP, |s| quiet(s, n))
        .ok_or("join traffic not drained")?;
    for b in 0..args.bursts {
        let before: Vec<u64> = (0..n).map(|i| delivered(&sim, i)).collect();
        let from = (b * 7) % n;
        let start = sim.now();
        for k in 0..args.events {
            let payload = format!("burst-{b}-event-{k}");
            sim.with_core(from, |c, _| {
                c.user_event("burst", payload.as_bytes(), false)
            })
            .map_err(|e| e.to_string())?;
        }
        let whole = |s: &Sim<Serf>| (0..n).all(|i| delivered(s, i) - before[i] == size);
        let _ = sim.run_until(start + GOSSIP_DONE, STEP, whole);
        let missing: u64 = (0..n)
            .map(|i| size - (delivered(&sim, i) - before[i]))
            .sum();
        tally.bursts += 1;
        if missing > 0 {
            tally.left_to_push_pull += 1;
            tally.misses += missing;
        }
        match sim.run_until(start + REPAIRED, STEP, whole) {
            Some(done) => tally.spreads.push(done - start),
            None => tally.never_whole += 1,
        }
        sim.run_until(sim.now() + CONVERGED, STEP, |s| quiet(s, n))
            .ok_or("burst not drained")?;
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "—".into();
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    format!("{:.2}", sorted[i].as_secs_f64())
}

/// Runs every choice of `args.targets` and renders the table.
pub fn run_all(args: &BurstArgs) -> String {
    let choices = args.targets.choices();
    let mut out = format!(
        "N = {}, bursts of {} events, {} per seed, seeds {}..={}, lossless\n\n\
         | targets | bursts | left to push/pull | (node, event) misses | miss rate | \
         spread p50 (s) | p90 (s) | max (s) | not whole in {} s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        args.nodes,
        args.events,
        args.bursts,
        args.seed,
        args.seed + args.seeds.saturating_sub(1),
        REPAIRED.as_secs(),
    );
    for &passes in choices {
        let mut tally = Tally {
            passes,
            ..Tally::default()
        };
        for seed in args.seed..args.seed + args.seeds {
            if let Err(e) = run_seed(args, seed, &mut tally) {
                let _ = writeln!(out, "seed {seed}: {e}");
            }
        }
        tally.spreads.sort();
        let pairs = tally.bursts as f64 * args.nodes as f64 * args.events as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1e} | {} | {} | {} | {} |",
            if passes { "passes" } else { "random (Go)" },
            tally.bursts,
            tally.left_to_push_pull,
            tally.misses,
            tally.misses as f64 / pairs.max(1.0),
            percentile(&tally.spreads, 0.5),
            percentile(&tally.spreads, 0.9),
            percentile(&tally.spreads, 1.0),
            tally.never_whole,
        );
    }
    out
}
