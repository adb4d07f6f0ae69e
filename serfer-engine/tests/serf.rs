//! The Serf layer on the simulator: statuses, user events (exactly once, under
//! loss, after the ring wrapped many times), state bounded by the ring,
//! queries with filters and relays, tag updates. Bounds are derived from the
//! LAN profile and Serf's defaults in comments.

use std::collections::BTreeMap;
use std::time::{Duration, Instant as WallClock};

use serfer_engine::serf::{Event, MemberEvent, MemberStatus, QueryId, QueryParams, Serf};
use serfer_engine::sim::{sim_name, LinkConfig, Sim, SimConfig};
use serfer_wire::memberlist::Message;
use serfer_wire::serf::{LeaveIntent, SerfMessage};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// `n` Serf nodes on the LAN profile, all joining node 0 at time zero, links
/// losing `loss` of the datagrams.
fn cluster(seed: u64, n: usize, loss: f64) -> Sim<Serf> {
    let mut sim = Sim::serf(SimConfig {
        seed,
        link: LinkConfig {
            loss,
            ..LinkConfig::default()
        },
        ..SimConfig::default()
    });
    for i in 0..n {
        let mut c = sim.serf_config(i);
        c.tags
            .insert("role".into(), if i % 2 == 0 { "web" } else { "db" }.into());
        sim.add_node(c).unwrap();
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    sim
}

/// Runs until every node in `nodes` sees every node in `nodes` as alive.
fn converge(sim: &mut Sim<Serf>, nodes: &[usize], within: Duration) -> Duration {
    let start = sim.now();
    let at = sim
        .run_until(start + within, MS(10), |s| {
            nodes.iter().all(|&i| {
                nodes.iter().all(|&j| {
                    s.core(i)
                        .member(&sim_name(j))
                        .is_some_and(|m| m.status == MemberStatus::Alive)
                })
            })
        })
        .unwrap_or_else(|| panic!("no convergence within {within:?}"));
    at - start
}

/// Every node's recorded events, cleared from the simulator.
fn take_events(sim: &mut Sim<Serf>) -> Vec<(usize, Event)> {
    let mut out = Vec::new();
    for i in 0..sim.len() {
        out.extend(sim.node(i).events.iter().map(|(_, e)| (i, e.clone())));
    }
    sim.clear_events();
    out
}

fn status(sim: &Sim<Serf>, observer: usize, subject: usize) -> Option<MemberStatus> {
    sim.core(observer)
        .member(&sim_name(subject))
        .map(|m| m.status)
}

#[test]
fn join_leave_and_failure_give_serf_statuses() {
    let wall = WallClock::now();
    let mut sim = cluster(3, 3, 0.0);
    // Same bound as memberlist's 3-node join (one push/pull, one gossip round).
    converge(&mut sim, &[0, 1, 2], SECS(1));
    let evs = take_events(&mut sim);
    for i in 0..3 {
        // Its own join (reported at creation, as Go does) and the two others.
        let joins = evs
            .iter()
            .filter(|(n, e)| *n == i && matches!(e, Event::Member(MemberEvent::Join(_))))
            .count();
        assert_eq!(joins, 3, "node {i}");
    }
    sim.run_for(SECS(5));

    // Graceful leave: the leave intent first (leaving), then memberlist's
    // dead-from-self, so everyone records *left*, never *failed*. The intent
    // is gossiped within a few 200 ms rounds (< 5 s broadcast timeout), the
    // dead message likewise; 3 s covers both.
    sim.leave(2);
    let left = sim.run_until(sim.now() + SECS(3), MS(10), |s| {
        (0..2).all(|i| status(s, i, 2) == Some(MemberStatus::Left))
    });
    assert!(left.is_some(), "node 2 not left everywhere");
    sim.run_for(SECS(3));
    assert!(sim.node(2).leave_complete.is_some());
    let evs = take_events(&mut sim);
    for i in 0..2 {
        let name = sim_name(2);
        let leaves = evs
            .iter()
            .filter(|(n, e)| {
                *n == i && matches!(e, Event::Member(MemberEvent::Leave(m)) if m.name == name)
            })
            .count();
        let failed = evs
            .iter()
            .filter(|(n, e)| *n == i && matches!(e, Event::Member(MemberEvent::Failed(_))))
            .count();
        assert_eq!((leaves, failed), (1, 0), "node {i}");
    }

    // Crash: no intent, so memberlist's dead makes it *failed*. memberlist's
    // bound at N = 3: probe within 2·2 − 1 intervals + 1 s, suspicion at most
    // 6 × 4 × max(1, log10 3) s = 24 s, plus gossip: 30 s.
    sim.crash(1);
    let failed = sim.run_until(sim.now() + SECS(30), MS(50), |s| {
        status(s, 0, 1) == Some(MemberStatus::Failed)
    });
    assert!(failed.is_some(), "crashed node not failed");
    let evs = take_events(&mut sim);
    assert!(evs.iter().any(|(n, e)| *n == 0
        && matches!(e, Event::Member(MemberEvent::Failed(m)) if m.name == sim_name(1))));
    println!("statuses test: {:?} wall", wall.elapsed());
}

#[test]
fn user_events_are_delivered_exactly_once() {
    let mut sim = cluster(5, 5, 0.0);
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    take_events(&mut sim);
    for k in 0..50u32 {
        let from = (k % 5) as usize;
        sim.with_core(from, |c, _| c.user_event("ev", &k.to_be_bytes(), false))
            .unwrap();
        sim.run_for(MS(20));
    }
    // Each event is retransmitted 4 × ceil(log10 6) = 4 times by every node
    // that takes it as new, one gossip round (200 ms) at a time: gone from
    // every queue after ~5 × 4 rounds = 4 s.
    sim.run_for(SECS(5));
    let mut seen = vec![BTreeMap::<Vec<u8>, u32>::new(); 5];
    for (n, e) in take_events(&mut sim) {
        if let Event::User(u) = e {
            *seen[n].entry(u.payload).or_default() += 1;
        }
    }
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.len(), 50, "node {i}");
        assert!(s.values().all(|&c| c == 1), "node {i}: duplicates");
    }
    // Size limits, before and after encoding.
    let err = sim
        .with_core(0, |c, _| c.user_event("big", &[0; 510], false))
        .unwrap_err();
    assert!(err.to_string().contains("before encoding"), "{err}");
    let err = sim
        .with_core(0, |c, _| c.user_event("big", &[0; 495], false))
        .unwrap_err();
    assert!(err.to_string().contains("after encoding"), "{err}");
}

/// Counts each flood event (payload = its index) per node.
fn count_flood(sim: &mut Sim<Serf>, counts: &mut [Vec<u32>]) {
    for (n, e) in take_events(sim) {
        if let Event::User(u) = e {
            if let Ok(b) = <[u8; 4]>::try_from(u.payload.as_slice()) {
                let k = u32::from_be_bytes(b) as usize;
                if let Some(c) = counts[n].get_mut(k) {
                    *c += 1;
                }
            }
        }
    }
}

/// Bytes of the push/pull state when every ring slot holds one event named
/// `name` with a 4-byte payload, for `members` members named `node-i`:
/// per slot `{Events: [{Name, Payload}], LTime}` = map 1 + "Events" 7 +
/// array 1 + (map 1 + "Name" 5 + name 1+len + "Payload" 8 + bin 2+4) +
/// "LTime" 6 + u64 9; the ring's array16 header 3; the rest (three clocks,
/// status times, left members, keys) under 64 + 20 per member.
fn state_bound(name: &str, slots: usize, members: usize) -> usize {
    let event = 1 + 5 + 1 + name.len() + 8 + 2 + 4;
    slots * (1 + 7 + 1 + event + 6 + 9) + 3 + 64 + 20 * members
}

#[test]
fn event_flood_survives_loss_and_a_wrapped_ring() {
    let wall = WallClock::now();
    let n = 5;
    let mut sim = cluster(21, n, 0.0);
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    take_events(&mut sim);

    // 100,000 earlier events from node 0, 100 ms apart.
    //
    // Why that rate: gossip alone misses events. Every node transmits an
    // event 4 × ceil(log10 6) = 4 times, mostly in the round it arrives, to 3
    // of its 4 peers; a node all four others happened to skip never hears it
    // (measured on a lossless network: ~0.3% of events per node). Push/pull
    // repairs those from the 512-event ring, so the guarantee holds when an
    // exchange happens before 512 newer events exist: each node runs its own
    // push/pull every 30 s (N < 32, no scaling), so the rate must stay below
    // 512 / 30 s ≈ 17 events/s. 10/s leaves the ring 51 s deep. (At 50/s
    // about 40 of 100,000 events per node are lost for good, as they would be
    // in Go.)
    const EARLY: usize = 100_000;
    let mut counts = vec![vec![0u32; EARLY]; n];
    let mut state_at_half = 0;
    for k in 0..EARLY as u32 {
        sim.with_core(0, |c, _| c.user_event("early", &k.to_be_bytes(), false))
            .unwrap();
        sim.run_for(MS(100));
        if k % 1000 == 999 {
            count_flood(&mut sim, &mut counts);
        }
        if k as usize == EARLY / 2 {
            state_at_half = sim.core(1).encoded_local_state().len();
        }
    }
    sim.run_for(SECS(5));
    count_flood(&mut sim, &mut counts);
    for (i, c) in counts.iter().enumerate() {
        let once = c.iter().filter(|&&x| x == 1).count();
        if once != EARLY {
            println!("node {i}: {:?}", sim.core(i).stats());
        }
        assert_eq!(
            once, EARLY,
            "node {i}: {once}/{EARLY} early events exactly once"
        );
    }
    // Flat state: the ring never holds more than its 512 slots (one event per
    // time here: a single sender), and the push/pull state stays within the
    // bound derived from the ring, the same at 50,000 as at 100,000 events.
    let bound = state_bound("early", 512, n);
    for i in 0..n {
        let core = sim.core(i);
        assert!(
            core.event_ring_len() <= 512,
            "node {i}: ring {}",
            core.event_ring_len()
        );
        let state = core.encoded_local_state().len();
        assert!(state <= bound, "node {i}: state {state} > {bound}");
        assert_eq!(core.open_queries(), (0, 0));
    }
    let state_end = sim.core(1).encoded_local_state().len();
    println!(
        "after {EARLY} events: ring {} events, push/pull state {state_end} bytes (at 50k: {state_at_half}; bound {bound}); {:?} wall",
        sim.core(1).event_ring_len(),
        wall.elapsed()
    );

    // Now 1,000 events at 10/s from node 0 with 5% of datagrams lost on
    // every link: more misses for gossip, the same 30 s < 51 s repair bound.
    for i in 0..n {
        for j in 0..n {
            if i != j {
                sim.network_mut().set_link(
                    i,
                    j,
                    LinkConfig {
                        loss: 0.05,
                        ..LinkConfig::default()
                    },
                );
            }
        }
    }
    const FLOOD: usize = 1000;
    let repaired_before: Vec<u64> = (0..n)
        .map(|i| sim.core(i).stats().events_from_push_pull)
        .collect();
    let mut counts = vec![vec![0u32; FLOOD]; n];
    let start = sim.now();
    for k in 0..FLOOD as u32 {
        sim.with_core(0, |c, _| c.user_event("flood", &k.to_be_bytes(), false))
            .unwrap();
        sim.run_for(MS(100));
    }
    // Gossip drains in ~4 s (4 transmissions per node, fewest-sent first);
    // the next push/pull of every node is at most 30 s away.
    let done = sim.run_until(sim.now() + SECS(40), MS(100), |s| {
        (0..n).all(|i| s.core(i).stats().events_delivered as usize >= EARLY + FLOOD)
    });
    count_flood(&mut sim, &mut counts);
    let repaired: Vec<u64> = (0..n)
        .map(|i| sim.core(i).stats().events_from_push_pull - repaired_before[i])
        .collect();
    for (i, c) in counts.iter().enumerate() {
        let once = c.iter().filter(|&&x| x == 1).count();
        println!(
            "node {i}: flood {once}/{FLOOD} exactly once, {} from push/pull",
            repaired[i]
        );
        assert_eq!(once, FLOOD, "node {i}");
    }
    println!(
        "flood under 5% loss delivered everywhere {:?} after it started ({} repaired by push/pull); {:?} wall",
        done.map(|t| t - start),
        repaired.iter().sum::<u64>(),
        wall.elapsed()
    );
}

#[test]
fn push_pull_repairs_events_gossip_missed() {
    // Node 4 hears no datagram at all for 3 s while node 0 sends 60 events
    // (20/s); streams still work, so its probes fall back to TCP and it is
    // not declared dead. With a 5 s push/pull interval (N = 5: not scaled)
    // every exchange carries the whole ring (60 ≪ 512 events). Bound: the
    // exchange before the heal may precede the last events; the next one is
    // at most one interval later: 2 × 5 s.
    let n = 5;
    let mut sim = Sim::serf(SimConfig {
        seed: 77,
        ..SimConfig::default()
    });
    for i in 0..n {
        let mut c = sim.serf_config(i);
        c.memberlist.push_pull_interval = SECS(5);
        sim.add_node(c).unwrap();
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    take_events(&mut sim);
    let deaf = LinkConfig {
        loss: 1.0,
        ..LinkConfig::default()
    };
    for j in 0..4 {
        sim.network_mut().set_link(j, 4, deaf);
    }
    for k in 0..60u32 {
        sim.with_core(0, |c, _| c.user_event("gap", &k.to_be_bytes(), false))
            .unwrap();
        sim.run_for(MS(50));
    }
    for j in 0..4 {
        sim.network_mut().set_link(j, 4, LinkConfig::default());
    }
    let mut counts = vec![vec![0u32; 60]; n];
    let healed = sim.now();
    let at = sim.run_until(sim.now() + SECS(10), MS(10), |s| {
        s.core(4).stats().events_delivered >= 60
    });
    count_flood(&mut sim, &mut counts);
    for (i, c) in counts.iter().enumerate() {
        assert!(c.iter().all(|&x| x == 1), "node {i}: {c:?}");
    }
    let repaired = sim.core(4).stats().events_from_push_pull;
    println!(
        "deaf node got {repaired}/60 events by push/pull, all within {:?}",
        at.map(|t| t - healed)
    );
    assert!(repaired > 0);
    assert_eq!(status(&sim, 0, 4), Some(MemberStatus::Alive));
}

#[test]
fn a_flood_sent_at_once_is_repaired_when_the_ring_holds_it() {
    // Push/pull repairs an event only while it is in the ring of the node
    // asked and newer than the asker's window (clock − ring). A node that
    // misses the start of a flood sent in one instant (here: deaf to
    // datagrams for its first 3 s) must get it from push/pull, and with Go's
    // 512 slots the flood's first half is out of every window before the
    // next exchange. A ring larger than the flood keeps all of it repairable:
    // here 2,048 slots for 1,000 events, after 10,000 earlier ones (the ring
    // has wrapped four times), 5% of datagrams lost on every link.
    let wall = WallClock::now();
    let n = 5;
    const RING: usize = 2048;
    let mut sim = Sim::serf(SimConfig {
        seed: 41,
        ..SimConfig::default()
    });
    for i in 0..n {
        let mut c = sim.serf_config(i);
        c.event_buffer = RING;
        sim.add_node(c).unwrap();
    }
    for i in 1..n {
        sim.join(i, &[0]);
    }
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    take_events(&mut sim);
    const EARLY: u64 = 10_000;
    for k in 0..EARLY as u32 {
        sim.with_core(0, |c, _| c.user_event("early", &k.to_be_bytes(), false))
            .unwrap();
        sim.run_for(MS(50));
        if k % 1000 == 999 {
            take_events(&mut sim);
        }
    }
    // 20/s keeps an event 2,048 / 20 ≈ 100 s in the ring, three push/pull
    // intervals: every early event arrives.
    let early_done = sim.run_until(sim.now() + SECS(40), MS(100), |s| {
        (0..n).all(|i| s.core(i).stats().events_delivered >= EARLY)
    });
    assert!(early_done.is_some(), "early events missing");
    take_events(&mut sim);
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let lossy = LinkConfig {
                    loss: 0.05,
                    ..LinkConfig::default()
                };
                sim.network_mut().set_link(i, j, lossy);
            }
        }
    }

    const FLOOD: usize = 1000;
    let repaired_before: Vec<u64> = (0..n)
        .map(|i| sim.core(i).stats().events_from_push_pull)
        .collect();
    let start = sim.now();
    let deaf = LinkConfig {
        loss: 1.0,
        ..LinkConfig::default()
    };
    for j in 0..4 {
        sim.network_mut().set_link(j, 4, deaf);
    }
    for k in 0..FLOOD as u32 {
        sim.with_core(0, |c, _| c.user_event("flood", &k.to_be_bytes(), false))
            .unwrap();
    }
    // Streams still work while node 4 is deaf, so its probes fall back to
    // TCP and nobody declares it dead.
    sim.run_for(SECS(3));
    for j in 0..4 {
        sim.network_mut().set_link(
            j,
            4,
            LinkConfig {
                loss: 0.05,
                ..LinkConfig::default()
            },
        );
    }
    // Bound: the sender's queue holds 1,000 events × 4 transmissions; about
    // 40 fit a 1,400-byte packet and it sends 3 packets a round (200 ms), so
    // gossip is over within ~7 s. Then every node runs a push/pull every
    // 30 s with a random peer, which may have missed the same event: three
    // intervals leave a miss on both ends of every exchange unlikely beyond
    // measure, and each exchange carries the whole ring. 10 s + 3 × 30 s.
    let done = sim.run_until(start + SECS(100), MS(100), |s| {
        (0..n).all(|i| s.core(i).stats().events_delivered as usize >= EARLY as usize + FLOOD)
    });
    let mut counts = vec![vec![0u32; FLOOD]; n];
    count_flood(&mut sim, &mut counts);
    let repaired: Vec<u64> = (0..n)
        .map(|i| sim.core(i).stats().events_from_push_pull - repaired_before[i])
        .collect();
    for (i, c) in counts.iter().enumerate() {
        let once = c.iter().filter(|&&x| x == 1).count();
        println!(
            "node {i}: flood {once}/{FLOOD} exactly once, {} from push/pull",
            repaired[i]
        );
        assert_eq!(once, FLOOD, "node {i}");
    }
    assert!(
        repaired[4] > 0,
        "the deaf node should need push/pull: {repaired:?}"
    );
    println!(
        "flood sent at once, 5% loss: everywhere {:?} after it was sent; {:?} wall",
        done.map(|t| t - start),
        wall.elapsed()
    );
}

/// Runs for `d`, answering every application query on every node with the
/// node's name, and returns what the asker (node `asker`) heard about `q`.
fn run_queries(
    sim: &mut Sim<Serf>,
    asker: usize,
    q: QueryId,
    d: Duration,
) -> (Vec<String>, Vec<String>, bool) {
    let (mut acks, mut resps, mut done) = (Vec::new(), Vec::new(), false);
    let end = sim.now() + d;
    while sim.now() < end {
        sim.run_for(MS(10));
        for (n, e) in take_events(sim) {
            match e {
                Event::Query(qi) => {
                    let name = sim_name(n);
                    sim.with_core(n, |c, now| c.respond(now, qi.id, name.as_bytes()))
                        .unwrap();
                    // Twice is refused.
                    let again = sim.with_core(n, |c, now| c.respond(now, qi.id, b"x"));
                    assert_eq!(again.unwrap_err().to_string(), "response already sent");
                }
                Event::QueryAck { query, from } if n == asker && query == q => acks.push(from),
                Event::QueryResponse {
                    query,
                    from,
                    payload,
                } if n == asker && query == q => {
                    assert_eq!(payload, from.as_bytes());
                    resps.push(from);
                }
                Event::QueryDone { query } if n == asker && query == q => done = true,
                _ => {}
            }
        }
    }
    acks.sort();
    resps.sort();
    (acks, resps, done)
}

fn names(v: &[usize]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|&i| sim_name(i)).collect();
    v.sort();
    v
}

#[test]
fn queries_with_acks_filters_and_relays() {
    let wall = WallClock::now();
    let n = 10;
    let mut sim = cluster(31, n, 0.0);
    let all: Vec<usize> = (0..n).collect();
    converge(&mut sim, &all, SECS(3));
    take_events(&mut sim);
    // Default timeout at N = 10: 200 ms × 16 × ceil(log10 11) = 6.4 s.
    assert_eq!(sim.core(0).default_query_timeout(), MS(6400));

    let ack = QueryParams {
        request_ack: true,
        ..QueryParams::default()
    };
    let q = sim
        .with_core(0, |c, now| c.query(now, "who", b"", ack.clone()))
        .unwrap();
    let (acks, resps, done) = run_queries(&mut sim, 0, q, SECS(7));
    assert_eq!(acks, names(&all));
    assert_eq!(resps, names(&all));
    assert!(done, "no QueryDone after the 6.4 s timeout");

    // Node filter.
    let p = QueryParams {
        filter_nodes: vec![sim_name(3), sim_name(5)],
        ..ack.clone()
    };
    let q = sim
        .with_core(1, |c, now| c.query(now, "some", b"", p))
        .unwrap();
    let (acks, resps, _) = run_queries(&mut sim, 1, q, SECS(7));
    assert_eq!(acks, names(&[3, 5]));
    assert_eq!(resps, names(&[3, 5]));

    // Tag filter (regex, unanchored): even nodes are "web".
    let p = QueryParams {
        filter_tags: vec![("role".into(), "^we".into())],
        ..ack.clone()
    };
    let q = sim
        .with_core(2, |c, now| c.query(now, "web", b"", p))
        .unwrap();
    let (acks, resps, _) = run_queries(&mut sim, 2, q, SECS(7));
    assert_eq!(acks, names(&[0, 2, 4, 6, 8]));
    assert_eq!(resps, names(&[0, 2, 4, 6, 8]));

    // Late answers are refused.
    let q = sim
        .with_core(0, |c, now| {
            c.query(
                now,
                "short",
                b"",
                QueryParams {
                    timeout: Some(MS(100)),
                    ..QueryParams::default()
                },
            )
        })
        .unwrap();
    sim.run_for(MS(500));
    let late = sim.with_core(0, |c, now| c.respond(now, q, b"late"));
    assert_eq!(
        late.unwrap_err().to_string(),
        "response is past the deadline"
    );
    take_events(&mut sim);
    println!("queries test: {:?} wall", wall.elapsed());
}

#[test]
fn relayed_answers_get_through_loss() {
    // 15% loss on every link. Without relays an answer is one datagram: each
    // of the 10 acks and 10 answers is lost with p = 0.15, so about 3 of 20
    // go missing. With relay factor 2 each answer travels three ways (direct,
    // and through 2 relays, each two hops: p(lost) = 1 − 0.85² ≈ 0.28), so
    // it is lost with p ≈ 0.15 × 0.28² ≈ 0.012, i.e. ≈ 0.2 of 20: the
    // seeded run gets all of them. The query itself reaches everyone by gossip
    // (4 transmissions per node).
    let n = 10;
    let mut sim = cluster(41, n, 0.15);
    let all: Vec<usize> = (0..n).collect();
    converge(&mut sim, &all, SECS(10));
    take_events(&mut sim);
    let p = QueryParams {
        request_ack: true,
        relay_factor: 2,
        ..QueryParams::default()
    };
    let q = sim
        .with_core(0, |c, now| c.query(now, "relay", b"", p))
        .unwrap();
    let (acks, resps, _) = run_queries(&mut sim, 0, q, SECS(7));
    let forwarded: u64 = (0..n).map(|i| sim.core(i).stats().relays_forwarded).sum();
    let ignored = sim.core(0).stats().responses_ignored;
    println!(
        "relay factor 2 under 15% loss: {} acks, {} responses, {forwarded} relays forwarded, {ignored} duplicates ignored",
        acks.len(),
        resps.len()
    );
    assert_eq!(acks, names(&all));
    assert_eq!(resps, names(&all));
    assert!(forwarded > 0 && ignored > 0);
}

#[test]
fn tag_update_is_seen_everywhere() {
    let n = 5;
    let mut sim = cluster(51, n, 0.0);
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    take_events(&mut sim);
    let tags = BTreeMap::from([("role".to_owned(), "cache".to_owned())]);
    sim.with_core(3, |c, now| c.set_tags(now, tags.clone()))
        .unwrap();
    // The alive with the new meta is gossiped like any broadcast: every node
    // within a few 200 ms rounds; 2 s is ten rounds.
    let at = sim.run_until(sim.now() + SECS(2), MS(10), |s| {
        (0..n).all(|i| {
            s.core(i)
                .member(&sim_name(3))
                .is_some_and(|m| m.tags == tags)
        })
    });
    assert!(at.is_some());
    let evs = take_events(&mut sim);
    for i in (0..n).filter(|&i| i != 3) {
        assert!(
            evs.iter().any(|(o, e)| *o == i
                && matches!(e, Event::Member(MemberEvent::Update(m)) if m.name == sim_name(3) && m.tags == tags)),
            "node {i} saw no update"
        );
    }
    let big = BTreeMap::from([("x".to_owned(), "y".repeat(600))]);
    let err = sim.with_core(3, |c, now| c.set_tags(now, big)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Encoded length of tags exceeds limit of 512 bytes"
    );
}

/// A node restarted with the clocks its snapshot recorded gets, by the
/// join's push/pull, exactly the user events it had not seen, and neither
/// those again nor queries it had answered (Go's `eventMinTime` and
/// `queryMinTime`).
#[test]
fn restored_clocks_skip_what_the_node_saw_before() {
    let mut sim = cluster(11, 2, 0.0);
    converge(&mut sim, &[0, 1], SECS(1));
    for k in 0..6u32 {
        sim.with_core(0, |c, _| c.user_event("ev", &k.to_be_bytes(), false))
            .unwrap();
        sim.run_for(MS(20));
    }
    sim.run_for(SECS(2));
    let times: Vec<u64> = take_events(&mut sim)
        .into_iter()
        .filter_map(|(n, e)| match e {
            Event::User(u) if n == 0 => Some(u.ltime),
            _ => None,
        })
        .collect();
    assert_eq!(times.len(), 6, "{times:?}");
    // The newcomer "saw" the first three before it restarted.
    let seen_until = times[2];
    let mut c = sim.serf_config(2);
    c.restored_clocks = Some(serfer_engine::serf::RestoredClocks {
        clock: 0,
        event_clock: seen_until,
        query_clock: 0,
    });
    let n = sim.add_node(c).unwrap();
    sim.join(n, &[0]);
    // One push/pull carries the whole ring; bound as the 3-node join above.
    converge(&mut sim, &[0, 1, n], SECS(1));
    sim.run_for(SECS(2));
    let mut got: Vec<u64> = take_events(&mut sim)
        .into_iter()
        .filter_map(|(i, e)| match e {
            Event::User(u) if i == n => Some(u.ltime),
            _ => None,
        })
        .collect();
    got.sort();
    assert_eq!(got, times[3..].to_vec());
    assert!(sim.core(n).event_clock() > seen_until);
}

#[test]
fn a_leave_during_a_flood_is_a_leave() {
    // Node 0 sends events faster than gossip carries them (500/s; about 100
    // events/s fit at N = 5), and every node relays each new one, so every
    // queue always holds newer events than anything else. Node 4 leaves in the
    // middle. Go keeps Serf's intents in a queue of their own, drained before
    // queries and events, so the leave intent goes out in the next packet
    // whatever the flood; were it queued behind the events, it would wait past
    // the broadcast timeout, memberlist's own leave would go first, and the
    // others would record node 4 as failed.
    let n = 5;
    let mut sim = cluster(52, n, 0.0);
    converge(&mut sim, &[0, 1, 2, 3, 4], SECS(2));
    take_events(&mut sim);
    let mut k = 0u32;
    let mut flood_for = |sim: &mut Sim<Serf>, d: Duration| {
        let until = sim.now() + d;
        while sim.now() < until {
            for _ in 0..10 {
                sim.with_core(0, |c, _| c.user_event("flood", &k.to_be_bytes(), false))
                    .unwrap();
                k += 1;
            }
            sim.run_for(MS(20));
        }
    };
    flood_for(&mut sim, SECS(5));
    sim.leave(4);
    flood_for(&mut sim, SECS(10));
    let evs = take_events(&mut sim);
    for i in 0..4 {
        let about_4 = |pred: fn(&MemberEvent) -> bool| {
            evs.iter()
                .filter(|(o, e)| {
                    *o == i
                        && matches!(e, Event::Member(m) if pred(m) && member_name(m) == sim_name(4))
                })
                .count()
        };
        let left = about_4(|m| matches!(m, MemberEvent::Leave(_)));
        let failed = about_4(|m| matches!(m, MemberEvent::Failed(_)));
        println!("node {i}: node 4 left {left}, failed {failed}");
        assert_eq!((left, failed), (1, 0), "node {i}");
    }
    assert!(sim.node(4).leave_complete.is_some());
}

/// A node that saw a name leave in an earlier life of it, and missed that
/// life's death, keeps the name *leaving* after it came back, if the new
/// life's join is older than that leave (a fresh process whose join partner
/// had not seen it): nothing the member says is newer. Go's Serf keeps it so
/// for good. Here the member learns the leave's time by push/pull and answers
/// with a newer join.
#[test]
fn a_member_held_leaving_by_a_stale_leave_answers_it() {
    let mut sim = cluster(43, 2, 0.0);
    converge(&mut sim, &[0, 1], SECS(1));
    // The join's own broadcasts are spent within a few 200 ms rounds.
    let drained =
        |s: &Sim<Serf>| (0..2).all(|i| s.core(i).memberlist().queued_broadcasts() == (0, 0));
    let now = sim.now();
    sim.run_until(now + SECS(3), MS(10), drained)
        .expect("join broadcasts not spent in 3 s");
    take_events(&mut sim);

    // Node 0 hears a leave of node 1 newer than anything node 1 said, and its
    // datagrams to node 1 are cut while it gossips the leave, so node 1 never
    // hears it by gossip (4 sends at 200 ms; the cut ends well inside the 4 s
    // suspicion timeout node 1 may start against node 0, which refutes).
    sim.network_mut().cut(0, 1);
    let stale = sim.core(0).clock() + 10;
    sim.inject_packet(1, 0, leave_of(1, stale));
    let now = sim.now();
    sim.run_until(now + SECS(3), MS(10), |s| {
        status(s, 0, 1) == Some(MemberStatus::Leaving) && drained(s)
    })
    .expect("node 0 did not take the leave and spend its gossip in 3 s");
    assert!(
        sim.core(1).clock() <= stale,
        "node 1 heard the leave by gossip"
    );
    sim.network_mut().heal();

    // The next push/pull either node runs carries the leave's time to node 1,
    // whose join then reaches node 0 within a gossip round or two.
    let next_push_pull = (0..2)
        .filter_map(|i| sim.core(i).memberlist().next_push_pull())
        .min()
        .expect("push/pull is on");
    let back = sim.run_until(next_push_pull + SECS(1), MS(10), |s| {
        status(s, 0, 1) == Some(MemberStatus::Alive)
    });
    assert!(
        back.is_some(),
        "node 0 still sees node 1 {:?}",
        status(&sim, 0, 1)
    );
    assert!(sim.core(1).clock() > stale);
    let evs = take_events(&mut sim);
    assert!(
        !evs.iter().any(|(_, e)| matches!(
            e,
            Event::Member(MemberEvent::Leave(_) | MemberEvent::Failed(_))
        )),
        "{evs:?}"
    );
}

/// A Serf leave intent about node `subject` at `ltime`, as a datagram.
fn leave_of(subject: usize, ltime: u64) -> Vec<u8> {
    let leave = SerfMessage::Leave(LeaveIntent {
        ltime,
        node: sim_name(subject),
        prune: false,
    })
    .encode()
    .unwrap();
    Message::User(leave).encode().unwrap()
}

/// Node `observer`'s member-clock status time for `subject`, as its push/pull
/// state carries it.
fn status_time(sim: &Sim<Serf>, observer: usize, subject: usize) -> u64 {
    match SerfMessage::decode(&sim.core(observer).encoded_local_state()) {
        Ok(SerfMessage::PushPull(pp)) => pp.status_ltimes[&sim_name(subject)],
        other => panic!("node {observer}'s state: {other:?}"),
    }
}

/// A leave about a live node at the very time of its own join is refuted as
/// a newer one is: push/pull passes an earlier life's leave on one past the
/// time it was held at, which a fresh process's join can meet exactly, and
/// the nodes that heard the leave first would keep the member *leaving*.
/// The join answering it is at least two past the leave, beyond what
/// push/pull can derive from it.
#[test]
fn a_leave_at_a_nodes_own_join_time_is_refuted() {
    let mut sim = cluster(44, 2, 0.0);
    converge(&mut sim, &[0, 1], SECS(1));
    let own = status_time(&sim, 1, 1);
    // Node 1's join intent reaches node 0 within a few 200 ms rounds.
    let now = sim.now();
    sim.run_until(now + SECS(2), MS(10), |s| status_time(s, 0, 1) == own)
        .expect("node 0 has node 1's join");
    sim.inject_packet(0, 1, leave_of(1, own));
    // Node 1 gossips its join in its next 200 ms round; node 0 has it a
    // round or two later.
    let now = sim.now();
    let answered = sim.run_until(now + SECS(1), MS(10), |s| status_time(s, 0, 1) >= own + 2);
    assert!(
        answered.is_some(),
        "node 1's own status time {} (was {own}), node 0's {}",
        status_time(&sim, 1, 1),
        status_time(&sim, 0, 1)
    );
    assert_eq!(status(&sim, 0, 1), Some(MemberStatus::Alive));
}

fn member_name(e: &MemberEvent) -> &str {
    match e {
        MemberEvent::Join(m)
        | MemberEvent::Leave(m)
        | MemberEvent::Failed(m)
        | MemberEvent::Update(m)
        | MemberEvent::Reap(m) => &m.name,
    }
}

#[test]
fn member_events_coalesce_as_the_agent_does() {
    // Node 0 coalesces membership changes with Go's agent settings (a 3 s
    // window, closed after 1 s without change); node 1 reports each at once.
    let n = 5;
    let mut sim = Sim::serf(SimConfig {
        seed: 61,
        ..SimConfig::default()
    });
    for i in 0..n {
        let mut c = sim.serf_config(i);
        if i == 0 {
            c.coalesce_period = SECS(3);
            c.quiescent_period = SECS(1);
        }
        sim.add_node(c).unwrap();
    }
    // Joins 300 ms apart: never a quiet second, so one window, closed 1 s
    // after the last change.
    let mut last_join = sim.now();
    for i in 1..n {
        last_join = sim.now();
        sim.join(i, &[0]);
        sim.run_for(MS(300));
    }
    sim.run_for(SECS(5));
    let joins_at = |sim: &Sim<Serf>, i: usize| -> Vec<serfer_engine::Instant> {
        sim.node(i)
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Member(MemberEvent::Join(_))))
            .map(|(t, _)| *t)
            .collect()
    };
    let coalesced = joins_at(&sim, 0);
    let direct = joins_at(&sim, 1);
    println!("joins at node 0 (coalescing): {coalesced:?}; at node 1: {direct:?}");
    assert_eq!(coalesced.len(), n, "one join per member");
    assert!(coalesced.iter().all(|&t| t == coalesced[0]), "one window");
    // Node 0 hears of the last joiner in its join push/pull, at once.
    assert!(coalesced[0] >= last_join + SECS(1), "{coalesced:?}");
    assert!(coalesced[0] <= serfer_engine::Instant::ZERO + SECS(3));
    assert_eq!(direct.len(), n);
    sim.clear_events();

    // Node 4 fails and is back within one window: node 0 reports nothing
    // about it (its last report, a join, is still true); node 1 reports both.
    sim.crash(4);
    let failed = sim.run_until(sim.now() + SECS(30), MS(10), |s| {
        status(s, 0, 4) == Some(MemberStatus::Failed)
    });
    assert!(failed.is_some(), "node 4 never failed at node 0");
    let c = sim.serf_config(4);
    sim.restart(4, c).unwrap();
    sim.join(4, &[1]);
    let back = sim.run_until(sim.now() + SECS(10), MS(10), |s| {
        status(s, 0, 4) == Some(MemberStatus::Alive)
    });
    assert!(back.is_some(), "node 4 never back at node 0");
    sim.run_for(SECS(5));
    let about_4 = |sim: &Sim<Serf>, i: usize| -> Vec<&'static str> {
        sim.node(i)
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Member(m) if member_name(m) == sim_name(4) => Some(match m {
                    MemberEvent::Join(_) => "join",
                    MemberEvent::Leave(_) => "leave",
                    MemberEvent::Failed(_) => "failed",
                    MemberEvent::Update(_) => "update",
                    MemberEvent::Reap(_) => "reap",
                }),
                _ => None,
            })
            .collect()
    };
    println!(
        "node 4 failed and back {:?} later: node 0 reported {:?}, node 1 {:?}",
        back.zip(failed).map(|(b, f)| b - f),
        about_4(&sim, 0),
        about_4(&sim, 1)
    );
    assert_eq!(about_4(&sim, 0), Vec::<&str>::new());
    assert_eq!(about_4(&sim, 1), ["failed", "join"]);

    // Tag updates are reported each time, once per window.
    for k in 0..3 {
        sim.with_core(2, |c, now| {
            let mut tags = BTreeMap::new();
            tags.insert("k".to_owned(), k.to_string());
            c.set_tags(now, tags)
        })
        .unwrap();
        sim.run_for(SECS(5));
    }
    let updates = |sim: &Sim<Serf>, i: usize| {
        sim.node(i)
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Member(MemberEvent::Update(_))))
            .count()
    };
    assert_eq!((updates(&sim, 0), updates(&sim, 1)), (3, 3));
}
