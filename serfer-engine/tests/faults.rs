//! The Serf core under faults that real processes cannot replay exactly:
//! datagram loss from 1% to 20%, one-way cuts, a flapping node, and random
//! scripts of crashes, restarts, leaves, partitions, loss, key rotations and
//! events over many seeds. Each run is a pure function of its seed; a failure names the seed
//! that replays it.
//!
//! Invariants checked:
//!
//! * no node that stayed reachable (by datagrams directly or through peers,
//!   or by streams) is ever reported failed;
//! * a user event is delivered at most once in a node's life (a restarted
//!   node is a new life: it may be given the ring again when it joins, as in
//!   Go);
//! * every event reaches every node that was up throughout, once the network
//!   is whole again, within a bound derived from the push/pull interval;
//! * once the network is whole, every up node sees exactly the up nodes alive
//!   and the others failed or left, within a bound derived from the LAN
//!   profile;
//! * a key rotation confirmed stage by stage never cuts a node off, and once
//!   the network is whole every up node holds exactly the operator's keyring.
//!
//! `SERFER_SIM_SEEDS=n` runs every test here over seeds 1 to `n` instead of
//! CI's (eight for the random scripts, one for each other test);
//! `SERFER_SIM_SEED=n` replays seed `n` alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serfer_engine::memberlist::Keyring;
use serfer_engine::serf::{Event, KeyOp, MemberEvent, MemberStatus, Serf};
use serfer_engine::sim::{sim_name, LinkConfig, Sim, SimConfig};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// LAN profile: a node runs a push/pull with one random peer every 30 s
/// (N < 32: not scaled).
const PUSH_PULL: Duration = Duration::from_secs(30);

/// The seeds a test runs: `fixed` (CI's) by default, `1..=n` with
/// `SERFER_SIM_SEEDS=n`, and `n` alone with `SERFER_SIM_SEED=n`.
fn seeds(fixed: &[u64]) -> Vec<u64> {
    let var = |name: &str| -> Option<u64> { std::env::var(name).ok()?.parse().ok() };
    match (var("SERFER_SIM_SEED"), var("SERFER_SIM_SEEDS")) {
        (Some(one), _) => vec![one],
        (None, Some(n)) => (1..=n).collect(),
        (None, None) => fixed.to_vec(),
    }
}

/// `n` Serf nodes on the LAN profile, all joined through node 0 before the
/// faults start (on a lossless network).
fn cluster(seed: u64, n: usize) -> Sim<Serf> {
    cluster_with_keyring(seed, n, None)
}

/// [`cluster`], encrypted with `keyring` when given.
fn cluster_with_keyring(seed: u64, n: usize, keyring: Option<Keyring>) -> Sim<Serf> {
    let mut sim = Sim::serf(SimConfig {
        seed,
        ..SimConfig::default()
    });
    for i in 0..n {
        let mut c = sim.serf_config(i);
        if let Some(k) = &keyring {
            c.memberlist.keyring = k.clone();
        }
        sim.add_node(c).unwrap();
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    let all: Vec<usize> = (0..n).collect();
    // A joiner gets node 0's table by push/pull and the later joiners' alives
    // by gossip, which below 10 nodes sends each message only 4 times per
    // holder: at N = 8 it leaves an alive to push/pull in about 1 start in
    // 15. Every node runs a push/pull within an interval; one whose partner
    // missed the same alive needs its second.
    assert!(
        settle(&mut sim, &all, &[], PUSH_PULL * 2 + SECS(5)).is_some(),
        "seed {seed}: {n} nodes did not converge"
    );
    sim.clear_events();
    sim
}

/// Every directed link between distinct nodes loses `loss` of the datagrams.
fn set_loss(sim: &mut Sim<Serf>, loss: f64) {
    let n = sim.len();
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let link = LinkConfig {
                    loss,
                    ..LinkConfig::default()
                };
                sim.network_mut().set_link(i, j, link);
            }
        }
    }
}

/// True when every node in `up` sees every node in `up` alive and every node
/// in `down` failed, left or forgotten.
fn agreed(sim: &Sim<Serf>, up: &[usize], down: &[usize]) -> bool {
    up.iter().all(|&i| {
        let core = sim.core(i);
        let alive = |j: usize| {
            core.member(&sim_name(j))
                .is_some_and(|m| m.status == MemberStatus::Alive)
        };
        let gone = |j: usize| {
            core.member(&sim_name(j))
                .is_none_or(|m| matches!(m.status, MemberStatus::Failed | MemberStatus::Left))
        };
        up.iter().all(|&j| alive(j)) && down.iter().all(|&j| gone(j))
    })
}

/// Runs until [`agreed`]; the time it took, or None after `within`.
fn settle(sim: &mut Sim<Serf>, up: &[usize], down: &[usize], within: Duration) -> Option<Duration> {
    let start = sim.now();
    sim.run_until(start + within, MS(100), |s| agreed(s, up, down))
        .map(|t| t - start)
}

/// What the nodes reported, drained from the simulator.
#[derive(Default)]
struct Ledger {
    /// `(observer, subject)` for every `failed` report.
    failed: Vec<(usize, usize)>,
    /// Deliveries per `(node, life, event)`.
    delivered: BTreeMap<(usize, u32, u32), u32>,
    /// Each node's current life (restarts so far).
    life: Vec<u32>,
}

impl Ledger {
    fn new(n: usize) -> Self {
        Ledger {
            life: vec![0; n],
            ..Ledger::default()
        }
    }

    fn drain(&mut self, sim: &mut Sim<Serf>) {
        for i in 0..sim.len() {
            for (_, e) in &sim.node(i).events {
                match e {
                    Event::Member(MemberEvent::Failed(m)) => {
                        let subject = m.name.trim_start_matches("node-").parse().unwrap();
                        self.failed.push((i, subject));
                    }
                    Event::User(u) => {
                        if let Ok(b) = <[u8; 4]>::try_from(u.payload.as_slice()) {
                            let k = u32::from_be_bytes(b);
                            *self.delivered.entry((i, self.life[i], k)).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        sim.clear_events();
    }

    /// Events delivered more than once within one life.
    fn duplicates(&self) -> Vec<(usize, u32, u32)> {
        self.delivered
            .iter()
            .filter(|(_, &c)| c > 1)
            .map(|(&k, _)| k)
            .collect()
    }

    /// Events of `sent` that node `i` has not had in its current life.
    fn missing(&self, i: usize, sent: &[u32]) -> Vec<u32> {
        sent.iter()
            .copied()
            .filter(|&k| !self.delivered.contains_key(&(i, self.life[i], k)))
            .collect()
    }
}

fn send(sim: &mut Sim<Serf>, from: usize, k: u32) {
    sim.with_core(from, |c, _| c.user_event("fault", &k.to_be_bytes(), false))
        .unwrap();
}

#[test]
fn loss_up_to_twenty_percent_fails_no_live_node_and_loses_no_event() {
    // At loss p a direct probe succeeds with (1-p)², an indirect one through
    // each of 3 peers with (1-p)⁴; at 20% both fail about 7% of the time, and
    // the TCP fallback (a stream, which the simulator keeps reliable as TCP
    // would) then answers. So no live node may be reported failed at any of
    // these rates. Events: 2 a second for 50 s from every node in turn; gossip
    // misses grow with loss and push/pull repairs them (2/s keeps an event
    // 256 s in the 512-slot ring, many push/pull intervals).
    let n = 16;
    let rates = [0.01, 0.05, 0.10, 0.20];
    let runs: Vec<(u64, f64)> = match seeds(&[]).as_slice() {
        // CI's runs: one seed per rate.
        [] => (100..).zip(rates).collect(),
        swept => swept
            .iter()
            .flat_map(|&seed| rates.map(|loss| (seed, loss)))
            .collect(),
    };
    for (seed, loss) in runs {
        let mut sim = cluster(seed, n);
        let mut ledger = Ledger::new(n);
        set_loss(&mut sim, loss);
        let mut sent = Vec::new();
        for e in 0..100u32 {
            send(&mut sim, e as usize % n, e);
            sent.push(e);
            sim.run_for(MS(500));
            ledger.drain(&mut sim);
        }
        // Gossip is over within seconds of the last send; every node's next
        // push/pull is at most 30 s away, and its partner may have missed the
        // same event: two intervals.
        let all: Vec<usize> = (0..n).collect();
        let start = sim.now();
        let left = |sim: &mut Sim<Serf>, ledger: &mut Ledger| {
            ledger.drain(sim);
            all.iter()
                .map(|&i| ledger.missing(i, &sent).len())
                .sum::<usize>()
        };
        let mut missing = left(&mut sim, &mut ledger);
        while missing > 0 && sim.now() < start + PUSH_PULL * 2 + SECS(5) {
            sim.run_for(MS(500));
            missing = left(&mut sim, &mut ledger);
        }
        let all_in = sim.now() - start;
        // A while longer, for late duplicates or failures.
        sim.run_for(SECS(30));
        ledger.drain(&mut sim);
        let stats: Vec<_> = (0..n).map(|i| sim.core(i).memberlist().stats()).collect();
        let repaired: u64 = (0..n)
            .map(|i| sim.core(i).stats().events_from_push_pull)
            .sum();
        println!(
            "loss {:>4.0}%: failed reports {}, failed probes {}, answered only by TCP {}, refutes {}, deliveries by push/pull {repaired} of {}, all in {:?} after the last send",
            loss * 100.0,
            ledger.failed.len(),
            stats.iter().map(|s| s.failed_probes).sum::<u64>(),
            stats.iter().map(|s| s.probes_answered_by_tcp).sum::<u64>(),
            stats.iter().map(|s| s.refutes).sum::<u64>(),
            sent.len() * n,
            all_in,
        );
        assert_eq!(ledger.failed, vec![], "seed {seed}, loss {loss}");
        assert_eq!(missing, 0, "seed {seed}, loss {loss}: events never arrived");
        assert_eq!(ledger.duplicates(), vec![], "seed {seed}, loss {loss}");
        assert!(agreed(&sim, &all, &[]), "seed {seed}, loss {loss}");
    }
}

#[test]
fn a_one_way_cut_fails_no_node() {
    // Node 3 cannot send to node 5 and node 6 cannot send to node 1 (no
    // datagram that way, no stream either way) for 2 minutes. Each pair still
    // reaches the other through indirect probes: a peer relays the ping and
    // forwards the ack. So nobody may be reported failed. Events sent by the
    // cut nodes reach everyone by other paths.
    for seed in seeds(&[7]) {
        one_way_cut(seed);
    }
}

fn one_way_cut(seed: u64) {
    let n = 8;
    let mut sim = cluster(seed, n);
    let mut ledger = Ledger::new(n);
    sim.network_mut().cut(3, 5);
    sim.network_mut().cut(6, 1);
    let mut sent = Vec::new();
    for e in 0..60u32 {
        send(&mut sim, [3, 5, 6, 1][e as usize % 4], e);
        sent.push(e);
        sim.run_for(SECS(2));
        ledger.drain(&mut sim);
    }
    // What gossip missed of the last events, push/pull repairs: within two
    // intervals (a node whose partner missed the same event needs its second).
    let last = sim.now();
    let missing = |ledger: &Ledger| (0..n).any(|i| !ledger.missing(i, &sent).is_empty());
    while missing(&ledger) && sim.now() < last + PUSH_PULL * 2 + SECS(5) {
        sim.run_for(MS(500));
        ledger.drain(&mut sim);
    }
    let failed_probes: u64 = (0..n)
        .map(|i| sim.core(i).memberlist().stats().failed_probes)
        .sum();
    let by_tcp: u64 = (0..n)
        .map(|i| sim.core(i).memberlist().stats().probes_answered_by_tcp)
        .sum();
    println!(
        "one-way cuts for 2 min: failed reports {}, failed probes {failed_probes}, answered only by TCP {by_tcp}",
        ledger.failed.len()
    );
    assert_eq!(ledger.failed, vec![], "seed {seed}");
    for i in 0..n {
        assert_eq!(
            ledger.missing(i, &sent),
            Vec::<u32>::new(),
            "seed {seed}, node {i}"
        );
    }
    assert_eq!(ledger.duplicates(), vec![], "seed {seed}");
    sim.network_mut().heal();
    let all: Vec<usize> = (0..n).collect();
    assert!(agreed(&sim, &all, &[]), "seed {seed}");
}

#[test]
fn a_flapping_node_is_whole_once_it_settles() {
    // Node 7 of 8 is cut off for 10 s, then back, six times. Cut off, it is
    // suspected and, with the others' confirmations, failed within the
    // isolation (suspicion at N = 8: min 4 × max(1, log10 8) = 4 s). Alone,
    // it cannot confirm its own suspicions, so it fails nobody before the
    // maximum, 6 × 4 = 24 s. Back, nobody probes or gossips to a dead node
    // (the `dead` broadcast is spent within a second), so it learns of its
    // death from its own next push/pull, at most 30 s later, and refutes.
    //
    // Its own suspicions of the others outlive the isolation. In Go's
    // protocol they fail healthy nodes after a heal in about half of the
    // seeds: a push/pull partner re-raises them in its own name, which node 7
    // counts as a confirmation, and a node that refuted but whose `alive` a
    // peer missed ignores that peer's older accusation until it is declared
    // dead. The engine keeps merged suspicions quiet and answers an older
    // accusation with its `alive` (RELIABILITY.md): none of the other 7 may
    // fail one another. Node 7, and any refutation gossip misses, is alive
    // everywhere again within two push/pull intervals of each heal; events
    // from node 0 all reach node 7, once.
    for seed in seeds(&[8]) {
        flapping(seed);
    }
}

fn flapping(seed: u64) {
    let n = 8;
    let mut sim = cluster(seed, n);
    let mut ledger = Ledger::new(n);
    let mut sent = Vec::new();
    let mut back_after = Vec::new();
    let majority: Vec<usize> = (0..7).collect();
    let all: Vec<usize> = (0..n).collect();
    for cycle in 0..6u32 {
        let cycle_start = sim.now();
        sim.network_mut().partition(&[&[7]]);
        for s in 0..5u32 {
            let e = cycle * 10 + s;
            send(&mut sim, 0, e);
            sent.push(e);
            sim.run_for(SECS(2));
        }
        sim.network_mut().heal();
        back_after.push(settle(&mut sim, &all, &[], PUSH_PULL * 2 + SECS(5)));
        let e = cycle * 10 + 5;
        send(&mut sim, 0, e);
        sent.push(e);
        let until = sim.now().max(cycle_start + SECS(50));
        sim.run_to(until);
        ledger.drain(&mut sim);
    }
    // Events sent while node 7 was away reach it by push/pull after the heal.
    let start = sim.now();
    while !ledger.missing(7, &sent).is_empty() && sim.now() < start + PUSH_PULL * 2 {
        sim.run_for(SECS(1));
        ledger.drain(&mut sim);
    }
    let about_7 = ledger.failed.iter().filter(|(_, s)| *s == 7).count();
    let by_7 = ledger.failed.iter().filter(|(o, _)| *o == 7).count();
    println!("flapping node: whole again after each heal {back_after:?}; failed reports about it {about_7}, by it {by_7}");
    let wrong: Vec<_> = ledger
        .failed
        .iter()
        .filter(|(o, s)| majority.contains(o) && majority.contains(s))
        .collect();
    assert_eq!(wrong, Vec::<&(usize, usize)>::new(), "seed {seed}");
    assert!(
        back_after.iter().all(Option::is_some),
        "seed {seed}: {back_after:?}"
    );
    for i in 0..n {
        assert_eq!(
            ledger.missing(i, &sent),
            Vec::<u32>::new(),
            "seed {seed}, node {i}"
        );
    }
    assert_eq!(ledger.duplicates(), vec![], "seed {seed}");
}

/// The operator of the random scripts' key rotations, doing what `serf keys`
/// leaves to a careful operator: install a new key, make it primary, remove the
/// old one, each stage only after every node that is up confirmed the one
/// before, and a stage not confirmed (a node cut off, restarted meanwhile, or
/// missed by the query's gossip, which nothing repairs) sent again. Nodes are
/// (re)started with the keyring of the last confirmed stage, as the operator's
/// configuration would give them, so a node restarted after a confirmation
/// holds what it confirmed.
struct Operator {
    seed: u64,
    /// The confirmed keyring, primary first.
    ring: Vec<Vec<u8>>,
    /// Keys made so far.
    made: u8,
    /// The rotation under way: its new key and the next stage (0 install,
    /// 1 use, 2 remove the old key).
    pending: Option<(Vec<u8>, u8)>,
    rotations_done: u32,
}

impl Operator {
    fn new(seed: u64) -> Self {
        Operator {
            seed,
            ring: vec![Self::key(seed, 0)],
            made: 0,
            pending: None,
            rotations_done: 0,
        }
    }

    fn key(seed: u64, k: u8) -> Vec<u8> {
        let mut key = seed.to_be_bytes().repeat(4);
        key[0] = k;
        key
    }

    fn keyring(&self) -> Keyring {
        Keyring::new(self.ring[0].clone(), self.ring[1..].to_vec()).unwrap()
    }

    /// The next operation, starting a rotation if none is under way.
    fn next_op(&mut self) -> KeyOp {
        let (new, stage) = match &self.pending {
            Some(p) => p.clone(),
            None => {
                self.made += 1;
                let p = (Self::key(self.seed, self.made), 0);
                self.pending = Some(p.clone());
                p
            }
        };
        match stage {
            0 => KeyOp::Install(new),
            1 => KeyOp::Use(new),
            _ => KeyOp::Remove(self.ring[1].clone()),
        }
    }

    /// Sends the next operation from node `from` and waits for its report;
    /// confirmed when every node up answered with success.
    fn step(&mut self, sim: &mut Sim<Serf>, from: usize, up: usize) {
        let op = self.next_op();
        let Ok(id) = sim.with_core(from, |c, now| c.key_query(now, op, 0)) else {
            return;
        };
        // The report is done when every member answered, at the latest at the
        // query's deadline: 16 gossip intervals × ⌈log10(N + 1)⌉ = 6.4 s at
        // N = 10.
        let report = |s: &Sim<Serf>| {
            s.node(from).events.iter().find_map(|(_, e)| match e {
                Event::KeyReport { query, report } if *query == id => Some(report.clone()),
                _ => None,
            })
        };
        let now = sim.now();
        sim.run_until(now + SECS(7), MS(10), |s| report(s).is_some());
        let confirmed = report(sim).is_some_and(|r| r.num_err == 0 && r.num_resp == up);
        if !confirmed {
            return;
        }
        let (new, stage) = self.pending.clone().expect("a rotation is under way");
        match stage {
            0 => {
                self.ring.push(new.clone());
                self.pending = Some((new, 1));
            }
            1 => {
                self.ring.retain(|k| *k != new);
                self.ring.insert(0, new.clone());
                self.pending = Some((new, 2));
            }
            _ => {
                self.ring.truncate(1);
                self.pending = None;
                self.rotations_done += 1;
            }
        }
    }
}

/// One random fault script: 10 nodes, 40 steps of 3 s. Nodes 0–2 are stable
/// (never crashed or stopped; they send the events, and the others join
/// through them); nodes 3–9 may crash, restart, leave and come back. Any node
/// may be cut off for up to 12 s, links may lose up to 10% for a while, and
/// one-way cuts come and go. The cluster is encrypted, and its key is rotated
/// by an [`Operator`] from a stable node. Returns a line for the log.
fn random_script(seed: u64) -> String {
    let n = 10;
    let stable = [0usize, 1, 2];
    let mut operator = Operator::new(seed);
    let mut sim = cluster_with_keyring(seed, n, Some(operator.keyring()));
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let mut ledger = Ledger::new(n);
    let mut up: BTreeSet<usize> = (0..n).collect();
    let mut left: BTreeSet<usize> = BTreeSet::new();
    let mut always_up: BTreeSet<usize> = (0..n).collect();
    let mut sent = Vec::new();
    // Steps until the current partition, loss or cut ends.
    let mut fault_ends: Option<u32> = None;
    let mut actions = BTreeMap::<&str, u32>::new();
    for step in 0..40u32 {
        if fault_ends == Some(step) {
            sim.network_mut().heal();
            set_loss(&mut sim, 0.0);
            fault_ends = None;
        }
        let roll = rng.gen_range(0..100);
        let movable: Vec<usize> = up.iter().copied().filter(|i| *i >= 3).collect();
        let down: Vec<usize> = (3..n).filter(|i| !up.contains(i)).collect();
        let action = match roll {
            0..=14 if up.len() > 5 && !movable.is_empty() => {
                let v = movable[rng.gen_range(0..movable.len())];
                sim.crash(v);
                up.remove(&v);
                always_up.remove(&v);
                "crash"
            }
            15..=24 if up.len() > 5 && !movable.is_empty() => {
                let v = movable[rng.gen_range(0..movable.len())];
                sim.leave(v);
                // It stops once its leave is through (intent, then dead from
                // itself; at most the 5 s broadcast timeout each), as a
                // leaving agent does.
                let now = sim.now();
                sim.run_until(now + SECS(12), MS(100), |s| {
                    s.node(v).leave_complete.is_some()
                });
                sim.crash(v);
                up.remove(&v);
                left.insert(v);
                always_up.remove(&v);
                "leave"
            }
            25..=44 if !down.is_empty() => {
                let v = down[rng.gen_range(0..down.len())];
                ledger.drain(&mut sim);
                ledger.life[v] += 1;
                let mut c = sim.serf_config(v);
                c.memberlist.keyring = operator.keyring();
                sim.restart(v, c).unwrap();
                let via = stable[rng.gen_range(0..stable.len())];
                sim.join(v, &[via]);
                up.insert(v);
                left.remove(&v);
                "restart"
            }
            45..=59 if fault_ends.is_none() => {
                let k = rng.gen_range(1..=3);
                let mut away: Vec<usize> = (0..n).collect();
                for i in (1..away.len()).rev() {
                    away.swap(i, rng.gen_range(0..=i));
                }
                away.truncate(k);
                sim.network_mut().partition(&[&away]);
                fault_ends = Some(step + rng.gen_range(1..=4));
                "partition"
            }
            60..=69 if fault_ends.is_none() => {
                set_loss(&mut sim, rng.gen_range(0.01..0.10));
                fault_ends = Some(step + rng.gen_range(1..=5));
                "loss"
            }
            70..=79 if fault_ends.is_none() => {
                for _ in 0..2 {
                    let a = rng.gen_range(0..n);
                    let b = (a + rng.gen_range(1..n)) % n;
                    sim.network_mut().cut(a, b);
                }
                fault_ends = Some(step + rng.gen_range(1..=5));
                "cut"
            }
            80..=87 => {
                let from = stable[rng.gen_range(0..stable.len())];
                operator.step(&mut sim, from, up.len());
                "rotate"
            }
            _ => "quiet",
        };
        *actions.entry(action).or_default() += 1;
        let e = sent.len() as u32;
        send(&mut sim, stable[rng.gen_range(0..stable.len())], e);
        sent.push(e);
        sim.run_for(SECS(3));
        ledger.drain(&mut sim);
    }
    sim.network_mut().heal();
    set_loss(&mut sim, 0.0);
    // A node restarted while a partition kept it from its join address is
    // alone, and nobody else knows it any more: as an agent's `retry_join`
    // would, it joins again now that the network is whole.
    for &v in &up {
        let alone = (0..n).all(|j| {
            j == v
                || sim
                    .core(v)
                    .member(&sim_name(j))
                    .is_none_or(|m| m.status != MemberStatus::Alive)
        });
        if alone {
            sim.join(v, &stable);
        }
    }

    // Bound on agreement: a node crashed at the very end is failed by its
    // suspicion timeout, at most 6 × 4 × log10(10) = 24 s after the first
    // failed probe (which comes within 2 × 10 − 1 probe intervals: 19 s),
    // plus gossip; a node cut off refutes within a few rounds of the heal
    // (peers gossip to the dead for 30 s, longer than any cut here). 60 s.
    let up_v: Vec<usize> = up.iter().copied().collect();
    let down_v: Vec<usize> = (0..n).filter(|i| !up.contains(i)).collect();
    let agreed_in = settle(&mut sim, &up_v, &down_v, SECS(60));
    // Events: what a node up throughout missed while cut off comes by
    // push/pull. Every node starts one exchange per interval with a random
    // peer, so the holders of a missed event about double each interval:
    // ⌈log2 10⌉ = 4 intervals on average when a single node holds it. The
    // random pairing has a tail; 6 intervals allow for it (200 seeds: at
    // most 89 s, about 3 intervals).
    let start = sim.now();
    let missing = |ledger: &Ledger| -> Vec<(usize, Vec<u32>)> {
        always_up
            .iter()
            .map(|&i| (i, ledger.missing(i, &sent)))
            .filter(|(_, m)| !m.is_empty())
            .collect()
    };
    ledger.drain(&mut sim);
    while !missing(&ledger).is_empty() && sim.now() < start + PUSH_PULL * 6 {
        sim.run_for(SECS(1));
        ledger.drain(&mut sim);
    }
    let repaired_in = sim.now() - start;
    assert!(
        agreed_in.is_some(),
        "seed {seed}: no agreement 60 s after the script; up {up_v:?}, down {down_v:?}, left {left:?}"
    );
    // The rotation under way ends once the network is whole: at most three
    // stages, each sent up to three times (a query's gossip misses a node
    // rarely on a whole network, and is not repaired by push/pull).
    for _ in 0..9 {
        if operator.pending.is_none() {
            break;
        }
        operator.step(&mut sim, stable[0], up.len());
    }
    assert!(
        operator.pending.is_none(),
        "seed {seed}: the rotation did not finish once the network was whole"
    );
    for &i in &up_v {
        assert_eq!(
            sim.core(i).memberlist().keyring().keys(),
            operator.ring.as_slice(),
            "seed {seed}: node {i}'s keyring"
        );
    }
    assert_eq!(missing(&ledger), vec![], "seed {seed}: events missing");
    assert_eq!(ledger.duplicates(), vec![], "seed {seed}: duplicates");
    format!(
        "seed {seed}: {actions:?}; agreed {:?} after the script, events whole {repaired_in:?} later, up {up_v:?}, {} failed reports, {} events, {} key rotations",
        agreed_in.unwrap(),
        ledger.failed.len(),
        sent.len(),
        operator.rotations_done
    )
}

#[test]
fn random_fault_scripts_keep_the_invariants() {
    for seed in seeds(&[1, 2, 3, 4, 5, 6, 7, 8]) {
        println!("{}", random_script(seed));
    }
}
