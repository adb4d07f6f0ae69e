//! `serfer-bench sim`: the native engine's Serf cores in its deterministic
//! simulator (`serfer_engine::sim`), on virtual time, at sizes no process
//! cluster on one machine reaches.
//!
//! Per size N and seed, on Go's LAN profile (`Sim::serf_config`):
//!
//! 1. nodes start `stagger` apart, each joining node 0 with a push/pull (as
//!    `serfer-engine/tests/scale.rs`); or, with `--start warm`, N - 1 nodes
//!    start as one cluster (`Sim::add_cluster`) and the last one joins it;
//! 2. convergence: virtual time from the last join until every node sees all
//!    N alive (`Sim::all_see_alive`), and the datagrams sent until then;
//! 3. the join traffic drains (every broadcast queue empty), so the measured
//!    event competes with nothing;
//! 4. broadcast spread: node 0 sends one user event (`Serf::user_event`); the
//!    time until all N delivered it, in gossip rounds, against the floor
//!    ceil(log_3 N) (fanout = GossipNodes = 3);
//! 5. failure detection: one node is killed (`Sim::crash`); the time until every
//!    other node has it `failed`, against Lifeguard's suspicion timeouts;
//! 6. wall time and peak RSS (VmHWM, reset before each run) of the simulation.
//!
//! `--budget` picks how full a gossip datagram may be: `compressed` (the
//! engine's default) fills packets by their size after compression, `go` keeps
//! Go's budget of the uncompressed size; `both` runs each on the same seed so
//! the table compares them in one run. `--targets` picks how gossip chooses
//! each round's nodes: shuffled passes over the members (the default) or at
//! random as Go (`both`: random, then passes).

use std::fmt::Write as _;
use std::time::{Duration, Instant as Wall};

use serfer_engine::serf::{MemberStatus, Serf};
use serfer_engine::sim::{sim_name, LinkConfig, Sim, SimConfig};
use serfer_engine::Instant;

use crate::bursts::Targets;

/// Options of `serfer-bench sim`.
#[derive(clap::Args, Clone, Debug)]
pub struct SimArgs {
    /// Cluster sizes. The simulator keeps every node's full view, so memory grows
    /// with N²: about 1.2 KB per (node, member) pair when the cluster forms by
    /// joins (4.6 GB at 2,000 nodes), about 115 bytes when it starts as one
    /// (`--start warm`: 10.5 GiB at 10,000).
    #[arg(long, value_delimiter = ',', default_value = "1000,2000")]
    pub sizes: Vec<usize>,
    /// Seed of the first run (run k uses seed + k).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Datagram loss probability on every link (streams stay reliable).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Runs per size (one table row each).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Milliseconds between two node starts.
    #[arg(long, default_value_t = 10)]
    pub stagger_ms: u64,
    /// How gossip packets are filled: by their compressed size (the engine's
    /// default), by Go's budget of raw bytes, or both, one after the other
    /// with the same seed.
    #[arg(long, value_enum, default_value = "compressed")]
    pub budget: Budget,
    /// How gossip picks each round's targets.
    #[arg(long, value_enum, default_value = "passes")]
    pub targets: Targets,
    /// How the cluster forms: every node joins through node 0, or N - 1
    /// nodes start as one cluster (`Sim::add_cluster`, about 115 bytes per
    /// pair: what fits 10,000 nodes) and the last one joins it.
    #[arg(long, value_enum, default_value = "joins")]
    pub start: Start,
}

/// How `serfer-bench sim` forms its cluster.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Every node joins node 0, `stagger` apart: N² log N messages.
    Joins,
    /// N - 1 nodes start as one cluster, sharing their member records, and
    /// the last node joins it through node 0.
    Warm,
}

/// `memberlist::Config::fill_compressed_packets`, as a choice.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Filled up to `udp_buffer_size` after compression (the default).
    Compressed,
    /// Go's budget: `udp_buffer_size` of raw messages.
    Go,
    /// Go's, then compressed, per seed.
    Both,
}

/// Go's LAN profile, the numbers the bounds are derived from.
const GOSSIP_INTERVAL: Duration = Duration::from_millis(200);
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const FANOUT: f64 = 3.0;
const SUSPICION_MULT: f64 = 4.0;
const SUSPICION_MAX_TIMEOUT_MULT: f64 = 6.0;
const PUSH_PULL_INTERVAL: Duration = Duration::from_secs(30);

/// One measured run.
#[derive(Debug, Clone, Default)]
pub struct SimRow {
    n: usize,
    seed: u64,
    loss: f64,
    /// Gossip packets filled by compressed size.
    compressed: bool,
    /// Gossip targets from shuffled passes (else at random).
    passes: bool,
    /// N - 1 nodes started as one cluster (else all joined).
    warm: bool,
    /// Virtual time of the last join.
    joined: Duration,
    /// From the last join until all see all N alive (None: not by the deadline).
    converged: Option<Duration>,
    /// Datagrams sent from time zero until convergence (or the deadline).
    packets: u64,
    /// Virtual time at which every broadcast queue was empty.
    drained: Option<Duration>,
    /// Event spread: time until the last node delivered it.
    spread: Option<Duration>,
    /// Nodes that delivered the event.
    reached: usize,
    /// Time from the crash until every other node has the victim `failed`.
    detect: Option<Duration>,
    /// Memberlist failed probes summed over the live nodes (after detection).
    failed_probes: u64,
    wall: Duration,
    /// Wall time per phase: joins, convergence, drain, event, failure.
    phases: [Duration; 5],
    peak_rss_kib: Option<u64>,
}

/// Push/pull period scaled to N (Go's `pushPullScale`).
fn push_pull_period(n: usize) -> Duration {
    let scale = if n <= 32 {
        1.0
    } else {
        ((n as f64).log2() - 32f64.log2()).ceil() + 1.0
    };
    PUSH_PULL_INTERVAL.mul_f64(scale)
}

/// Go's suspicion timeout bounds at N: min = SuspicionMult × max(1, log10 N)
/// × ProbeInterval, max = SuspicionMaxTimeoutMult × min.
fn suspicion_bounds(n: usize) -> (Duration, Duration) {
    let min = PROBE_INTERVAL.mul_f64(SUSPICION_MULT * (n as f64).log10().max(1.0));
    (min, min.mul_f64(SUSPICION_MAX_TIMEOUT_MULT))
}

/// The gossip floor: ceil(log_fanout N) rounds.
fn floor_rounds(n: usize) -> f64 {
    (n as f64).log(FANOUT).ceil()
}

/// Peak resident set (VmHWM) of this process, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` value 5), so each run
/// reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn since(t: Instant, earlier: Instant) -> Duration {
    t.saturating_since(earlier)
}

/// Measured peak per (node, member) pair: 1.16 GB at N = 1,000 (every node
/// holds a full view; see BENCHMARKS.md), rounded up for the estimate.
const BYTES_PER_PAIR: f64 = 1200.0;

/// The same for a cluster started as one, whose nodes share their member
/// records: 10.5 GiB at N = 10,000 (BENCHMARKS.md, "10,000 nodes in the
/// simulator"), rounded up.
const BYTES_PER_PAIR_WARM: f64 = 120.0;

/// `MemAvailable` of /proc/meminfo, in bytes.
fn mem_available() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Runs one size with one seed.
pub fn run_one(
    n: usize,
    seed: u64,
    loss: f64,
    stagger: Duration,
    compressed: bool,
    passes: bool,
    warm: bool,
) -> SimRow {
    assert!(n >= 2, "a size below 2 has no one to kill");
    let per_pair = if warm {
        BYTES_PER_PAIR_WARM
    } else {
        BYTES_PER_PAIR
    };
    let estimate = per_pair * (n as f64) * (n as f64);
    if let Some(avail) = mem_available().filter(|&a| estimate > a) {
        eprintln!(
            "warning: N = {n} needs about {:.0} GiB (quadratic), {:.0} GiB available",
            estimate / f64::from(1u32 << 30),
            avail / f64::from(1u32 << 30)
        );
    }
    reset_peak_rss();
    let wall = Wall::now();
    let mut phases = [Duration::ZERO; 5];
    let mut row = SimRow {
        n,
        seed,
        loss,
        compressed,
        passes,
        warm,
        ..SimRow::default()
    };
    let mut sim = Sim::serf(SimConfig {
        seed,
        link: LinkConfig {
            loss,
            ..LinkConfig::default()
        },
        // N × N membership events would be recorded otherwise.
        record_events: false,
        ..SimConfig::default()
    });

    // 1. Staggered joins through node 0, or all but the last node started as
    // one cluster and the last joining it.
    let t = Wall::now();
    let config = |sim: &Sim<Serf>, i: usize| {
        let mut config = sim.serf_config(i);
        config.memberlist.fill_compressed_packets = compressed;
        config.memberlist.gossip_in_passes = passes;
        config
    };
    let first_joiner = if warm {
        let configs: Vec<_> = (0..n - 1).map(|i| config(&sim, i)).collect();
        sim.add_cluster(configs).expect("LAN profile is valid");
        eprintln!(
            "  [N={n}] {} nodes started as one cluster, {:.1?} wall",
            n - 1,
            wall.elapsed()
        );
        n - 1
    } else {
        0
    };
    for i in first_joiner..n {
        sim.add_node(config(&sim, i)).expect("LAN profile is valid");
        if i > 0 {
            sim.join(i, &[0]);
        }
        sim.run_for(stagger);
        if i > 0 && i % 1000 == 0 {
            eprintln!("  [N={n}] {i} nodes started, {:.1?} wall", wall.elapsed());
        }
    }
    let joined = sim.now();
    row.joined = joined.as_duration();
    phases[0] = t.elapsed();

    // 2. Convergence. Deadline: two scaled push/pull periods after the last
    // join (push/pull alone repairs every view within one).
    let t = Wall::now();
    let all: Vec<usize> = (0..n).collect();
    let deadline = joined + push_pull_period(n) * 2;
    let converged = sim.run_until(deadline, Duration::from_secs(1), |s| s.all_see_alive(&all));
    row.converged = converged.map(|c| since(c, joined));
    row.packets = sim.stats().packets_sent;
    phases[1] = t.elapsed();
    eprintln!(
        "  [N={n}] converged {:?} after the last join, {:.1?} wall",
        row.converged,
        wall.elapsed()
    );

    // 3. Drain the join traffic (memberlist's own messages go first in every
    // packet, so a queue still full of `alive`s would delay the event).
    let t = Wall::now();
    let drain_deadline = sim.now() + push_pull_period(n) * 4;
    row.drained = sim
        .run_until(drain_deadline, GOSSIP_INTERVAL, |s| {
            (0..s.len()).all(|i| s.core(i).memberlist().queued_broadcasts() == (0, 0))
        })
        .map(|d| d.as_duration());
    phases[2] = t.elapsed();
    eprintln!(
        "  [N={n}] queues drained at {:?} virtual, {:.1?} wall",
        row.drained,
        wall.elapsed()
    );

    // 4. One user event from node 0, every node checked each 10 ms of virtual
    // time for its delivery counter (the first delivery is the one that counts:
    // Serf delivers each event once).
    let t = Wall::now();
    let base: Vec<u64> = (0..n)
        .map(|i| sim.core(i).stats().events_delivered)
        .collect();
    let t0 = sim.now();
    sim.with_core(0, |core: &mut Serf, _| {
        core.user_event("sim-bench", b"the-news", false)
    })
    .expect("the event fits");
    let mut first_seen: Vec<Option<Instant>> = vec![None; n];
    let step = Duration::from_millis(10);
    let event_deadline = t0 + GOSSIP_INTERVAL.mul_f64(10.0 * floor_rounds(n)) + push_pull_period(n);
    loop {
        let now = sim.now();
        let mut missing = 0;
        for (i, seen) in first_seen.iter_mut().enumerate() {
            if seen.is_none() {
                if sim.core(i).stats().events_delivered > base[i] {
                    *seen = Some(now);
                } else {
                    missing += 1;
                }
            }
        }
        if missing == 0 || now >= event_deadline {
            break;
        }
        sim.run_for(step);
    }
    row.reached = first_seen.iter().flatten().count();
    if row.reached == n {
        row.spread = first_seen.iter().flatten().max().map(|&t| since(t, t0));
    }
    phases[3] = t.elapsed();

    // 5. Kill the last node; every other one must mark it failed.
    let t = Wall::now();
    let victim = n - 1;
    let victim_name = sim_name(victim);
    let (_, max_suspicion) = suspicion_bounds(n);
    let crashed = sim.now();
    sim.crash(victim);
    let others: Vec<usize> = (0..n - 1).collect();
    let detected = sim.run_until(
        crashed + max_suspicion * 3,
        Duration::from_millis(100),
        |s| {
            others.iter().all(|&i| {
                s.core(i)
                    .member(&victim_name)
                    .is_some_and(|m| m.status == MemberStatus::Failed)
            })
        },
    );
    row.detect = detected.map(|d| since(d, crashed));
    row.failed_probes = others
        .iter()
        .map(|&i| sim.core(i).memberlist().stats().failed_probes)
        .sum();
    phases[4] = t.elapsed();

    row.wall = wall.elapsed();
    row.phases = phases;
    row.peak_rss_kib = peak_rss_kib();
    eprintln!(
        "  [N={n}] done: {} events, {} packets delivered, {} dropped; wall {:.1?}",
        sim.stats().events,
        sim.stats().packets_delivered,
        sim.stats().packets_dropped,
        row.wall
    );
    row
}

fn secs(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2}", d.as_secs_f64()),
        None => "—".to_owned(),
    }
}

/// The Markdown table.
pub fn render(rows: &[SimRow]) -> String {
    let mut s = String::new();
    s.push_str(
        "| N | seed | loss | packets filled by | gossip targets | cluster formed by | joins end (s) | converged after last join (s) | packets sent to convergence \
         | queues drained (s) | event spread (s) | rounds | floor ⌈log₃N⌉ | rounds / floor \
         | failure detected (s) | suspicion min–max (s) | failed probes | wall (s) | peak RSS (MiB) |\n",
    );
    s.push_str(
        "|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let floor = floor_rounds(r.n);
        let (rounds, ratio) = match r.spread {
            Some(d) => {
                let rounds = d.as_secs_f64() / GOSSIP_INTERVAL.as_secs_f64();
                (format!("{rounds:.2}"), format!("{:.2}", rounds / floor))
            }
            None => (format!("{}/{} reached", r.reached, r.n), "—".to_owned()),
        };
        let (smin, smax) = suspicion_bounds(r.n);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}–{:.0} | {} | {:.1} | {} |",
            r.n,
            r.seed,
            r.loss,
            if r.compressed { "compressed size" } else { "Go's raw budget" },
            if r.passes { "passes" } else { "random" },
            if r.warm {
                "N - 1 started as one, 1 join"
            } else {
                "N joins"
            },
            r.joined.as_secs_f64(),
            secs(r.converged),
            r.packets,
            secs(r.drained),
            secs(r.spread),
            rounds,
            floor,
            ratio,
            secs(r.detect),
            smin.as_secs_f64(),
            smax.as_secs_f64(),
            r.failed_probes,
            r.wall.as_secs_f64(),
            r.peak_rss_kib
                .map(|k| format!("{}", k / 1024))
                .unwrap_or_else(|| "—".to_owned()),
        );
    }
    s.push_str("\nwall per phase (s): joins / convergence / drain / event / failure\n\n");
    for r in rows {
        let p: Vec<String> = r
            .phases
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64()))
            .collect();
        let budget = if r.compressed {
            "compressed"
        } else {
            "Go's budget"
        };
        let targets = if r.passes { "passes" } else { "random" };
        let start = if r.warm { ", warm" } else { "" };
        let _ = writeln!(
            s,
            "* N = {}, seed {}, {budget}, {targets}{start}: {}",
            r.n,
            r.seed,
            p.join(" / ")
        );
    }
    s
}

/// Every size, every run; the table.
pub fn run_all(args: &SimArgs) -> String {
    let mut rows = Vec::new();
    for &n in &args.sizes {
        for k in 0..args.runs {
            let seed = args.seed.wrapping_add(k as u64);
            let budgets: &[bool] = match args.budget {
                Budget::Compressed => &[true],
                Budget::Go => &[false],
                Budget::Both => &[false, true],
            };
            let targets = args.targets.choices();
            for &compressed in budgets {
                for &passes in targets {
                    eprintln!(
                        "N = {n}, seed {seed}, loss {}, compressed budget {compressed}, \
                         targets in passes {passes}",
                        args.loss
                    );
                    rows.push(run_one(
                        n,
                        seed,
                        args.loss,
                        Duration::from_millis(args.stagger_ms),
                        compressed,
                        passes,
                        args.start == Start::Warm,
                    ));
                    // Print as we go: a large size may not finish.
                    eprintln!("{}", render(&rows));
                }
            }
        }
    }
    render(&rows)
}
