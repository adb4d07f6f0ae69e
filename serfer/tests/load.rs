//! Load and handler faults: what a 5-node cluster delivers under a flood, and that
//! faulty handlers leave the others and gossip alone.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::init_logs;
use serfer::testing::bounds::{DELIVERY, LOCAL_PUSH_PULL, STOP};
use serfer::testing::rss::rss_kib;
use serfer::testing::{Recorder, TestCluster};
use serfer::{Node, Profile, State, UserEvent};

type Seen = Recorder<(String, u32)>;

/// The tests here measure what a cluster delivers under load; run side by side they
/// would load each other and measure that instead.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn count(ev: UserEvent<String>, node: Node, State(seen): State<Seen>) {
    if let Ok(i) = ev.payload().parse() {
        seen.record((node.name().to_owned(), i));
    }
}

/// Sends `total` events from node 0 at `per_sec` (0: as fast as the node takes them);
/// returns how many distinct events each node saw within `within` after the last send.
async fn flood(
    cluster: &TestCluster,
    seen: &Seen,
    total: u32,
    per_sec: u32,
    within: Duration,
) -> Vec<usize> {
    let start = Instant::now();
    for i in 0..total {
        if per_sec > 0 {
            let due = start + Duration::from_secs_f64(f64::from(i) / f64::from(per_sec));
            tokio::time::sleep_until(due.into()).await;
        }
        cluster.node(0).event("load", &i.to_string()).await.unwrap();
    }
    let want = total as usize * cluster.nodes().len();
    let got = seen.take(want, within).await;
    let mut per_node: HashMap<String, std::collections::HashSet<u32>> = HashMap::new();
    for (n, i) in got {
        per_node.entry(n).or_default().insert(i);
    }
    cluster
        .nodes()
        .iter()
        .map(|n| per_node.get(n.name()).map_or(0, |s| s.len()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_at_a_sustained_rate_all_arrive() {
    init_logs();
    let _serial = ONE_AT_A_TIME.lock().await;
    let seen = Seen::new();
    // LAN timing (retransmit multiplier 4), as deployed; the test harness's Local
    // profile retransmits each event only twice.
    let cluster = TestCluster::start(5, |_, b| {
        b.profile(Profile::Lan)
            .user_event("load", count)
            .state(seen.clone())
    })
    .await
    .unwrap();
    // At 100/s a node now and then never got 4-20 of 1,000. At 50-60/s gossip still
    // misses a few, which push/pull (every 30 s) delivers; it can only for events
    // within the first 512 of a cluster's life (a serf-rs defect, RELIABILITY.md), so
    // this sends 500.
    let delivered = flood(&cluster, &seen, 500, 50, Duration::from_secs(75)).await;
    eprintln!("500 events at 50/s, delivered per node: {delivered:?}");
    assert!(
        delivered.iter().all(|&d| d == 500),
        "lost events at 50/s: {delivered:?}"
    );
    cluster.wait_converged(DELIVERY).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_back_to_back_crash_nothing() {
    init_logs();
    let _serial = ONE_AT_A_TIME.lock().await;
    let seen = Seen::new();
    let cluster = TestCluster::start(5, |_, b| b.user_event("load", count).state(seen.clone()))
        .await
        .unwrap();
    let rss_before = rss_kib();
    // What gossip and one push/pull interval deliver.
    let delivered = flood(&cluster, &seen, 1000, 0, LOCAL_PUSH_PULL).await;
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    eprintln!("test process RSS grew {grown_mib} MiB over the flood");
    // Other tests run in this process too: a loose bound that still catches a leak
    // per event (1,000 events x 5 nodes).
    assert!(grown_mib < 128, "RSS grew {grown_mib} MiB");
    // A flood beyond what gossip carries loses some events at receivers (about 10% on
    // this machine; see RELIABILITY.md). Before the sender's back-pressure, CI saw
    // 439-548 of 1000: the oldest fell out of the receivers' 512-event window.
    eprintln!("1000 events back to back, delivered per node: {delivered:?}");
    assert_eq!(
        delivered[0], 1000,
        "the sender's own handlers see every event"
    );
    assert!(delivered.iter().all(|&d| d >= 500), "{delivered:?}");
    cluster.wait_converged(DELIVERY).await.unwrap();
    cluster.shutdown().await;
}

/// Push/pull repairs every event gossip missed while it is still in the
/// receivers' 512-slot event rings. With push/pull every 5 s and 25 events/s,
/// an event stays in every ring for 512 / 25 = 20 s: four exchanges initiated
/// by each node, more received. So 1,000 events from one of 5 nodes reach all
/// 5, every one, whatever gossip lost (Go's Serf and the native engine replace
/// ring slots by Lamport time; serf-rs does not, so it can repair only a
/// cluster's first 512 events: RELIABILITY.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_at_the_repairable_rate_arrives_whole() {
    init_logs();
    if serfer::testing::engine() == serfer::Engine::SerfRs {
        eprintln!("serf-rs repairs only a cluster's first 512 events; this is the native engine's");
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().await;
    let seen = Seen::new();
    const PUSH_PULL: Duration = Duration::from_secs(5);
    let cluster = TestCluster::start(5, |_, b| {
        b.native_options(|mut o| {
            o.memberlist.push_pull_interval = PUSH_PULL;
            o
        })
        .user_event("load", count)
        .state(seen.clone())
    })
    .await
    .unwrap();
    // After the last send: its gossip, then two exchanges for what it missed.
    let delivered = flood(&cluster, &seen, 1000, 25, PUSH_PULL * 2 + DELIVERY).await;
    eprintln!("1000 events at 25/s, delivered per node: {delivered:?}");
    assert!(
        delivered.iter().all(|&d| d == 1000),
        "push/pull left events missing: {delivered:?}"
    );
    cluster.shutdown().await;
}

/// The deepest the sender's gossip queue got while `total` events were sent back to back.
/// A flood sent as fast as the sender takes it outruns gossip, and with
/// Serf's 512-event ring its oldest events leave every receiver's window
/// before an exchange can repair them (the back-to-back test above). An event
/// buffer larger than the flood keeps all of it repairable, at any rate: every
/// node must have it, since each drops events older than its own window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_back_to_back_arrives_whole_when_the_ring_holds_it() {
    init_logs();
    if serfer::testing::engine() == serfer::Engine::SerfRs {
        eprintln!("serf-rs's push/pull carries no events; this is the native engine's");
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().await;
    let seen = Seen::new();
    const PUSH_PULL: Duration = Duration::from_secs(5);
    let cluster = TestCluster::start(5, |_, b| {
        b.event_buffer_size(2048)
            .native_options(|mut o| {
                o.memberlist.push_pull_interval = PUSH_PULL;
                o
            })
            .user_event("load", count)
            .state(seen.clone())
    })
    .await
    .unwrap();
    // After the last send: gossip drains the sender's queue (at most 1,024
    // events, half the ring, by the sender's back-pressure; a few seconds),
    // then each node's exchanges every 5 s with a random peer carry the whole
    // ring. Four intervals make a peer that missed the same event on every
    // exchange vanishingly unlikely.
    let delivered = flood(&cluster, &seen, 1000, 0, PUSH_PULL * 4 + DELIVERY).await;
    eprintln!("1000 events back to back, 2,048-event ring, delivered per node: {delivered:?}");
    assert!(
        delivered.iter().all(|&d| d == 1000),
        "push/pull left events missing: {delivered:?}"
    );
    cluster.shutdown().await;
}

async fn deepest_queue_in_a_flood(cluster: &TestCluster, total: u32) -> usize {
    let node = cluster.node(0);
    let mut deepest = 0;
    for i in 0..total {
        node.event("load", &i.to_string()).await.unwrap();
        deepest = deepest.max(node.stats().await.event_queue);
    }
    deepest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_held_to_half_the_event_buffer() {
    init_logs();
    let _serial = ONE_AT_A_TIME.lock().await;
    // Receivers drop events more than the buffer behind the newest; a sender that
    // queues no more than half of it keeps every event in flight inside that window.
    let cluster = TestCluster::start(3, |_, b| b.event_buffer_size(64))
        .await
        .unwrap();
    let deepest = deepest_queue_in_a_flood(&cluster, 400).await;
    assert!(deepest <= 32, "the gossip queue reached {deepest} events");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_node_is_not_held_back() {
    init_logs();
    let _serial = ONE_AT_A_TIME.lock().await;
    // No peer drains the queue, so waiting would only stall; the events wait in the
    // queue instead, as in Serf.
    let cluster = TestCluster::start(1, |_, b| b.event_buffer_size(8))
        .await
        .unwrap();
    let deepest = deepest_queue_in_a_flood(&cluster, 50).await;
    assert!(deepest > 4, "the queue never passed the mark: {deepest}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_that_does_not_drain_in_time_refuses_the_event() {
    init_logs();
    let _serial = ONE_AT_A_TIME.lock().await;
    // A buffer of 2 holds the sender back at one queued event, and gossip (every
    // 100 ms here) cannot drain it within 1 ms: some send in five must give up.
    let cluster = TestCluster::start(2, |_, b| {
        b.event_buffer_size(2)
            .event_queue_wait(Duration::from_millis(1))
    })
    .await
    .unwrap();
    let node = cluster.node(0);
    let mut refused = None;
    for i in 0..5u32 {
        match node.event("load", &i.to_string()).await {
            Ok(()) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    match refused {
        Some(serfer::Error::Backlog { name, queued, .. }) => {
            assert_eq!(name, "load");
            assert!(queued >= 1);
        }
        other => panic!("expected a Backlog error, got {other:?}"),
    }
    cluster.shutdown().await;
}

async fn panics(_ev: UserEvent<String>) {
    panic!("always");
}

/// Keeps the thousands of deliberate panics out of the test log (Serfer still logs
/// each one); any other panic goes to the default hook. With `RUST_BACKTRACE=1` the
/// default hook symbolises a backtrace per panic, which alone made good events 10x
/// slower here: see RELIABILITY.md.
fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"always") {
                default(info);
            }
        }));
    });
}

async fn hangs(_ev: UserEvent<String>) {
    std::future::pending::<()>().await
}

async fn fails(_ev: UserEvent<String>) -> Result<(), String> {
    Err("always fails".into())
}

/// Send-to-handler latency of good events; payloads carry micros since `epoch`.
#[derive(Clone)]
struct Timing {
    epoch: Instant,
    latencies: Recorder<u64>,
}

async fn timed(ev: UserEvent<String>, State(t): State<Timing>) {
    if let Ok(sent) = ev.payload().parse::<u64>() {
        let now = t.epoch.elapsed().as_micros() as u64;
        t.latencies.record(now.saturating_sub(sent));
    }
}

/// 300 events at 100/s into 3 LAN nodes; every node runs `timed` on each, plus ten
/// faulty handlers when `faulty` (1,000 faults a second on every node). Returns the
/// sorted latencies of the good handler, after checking that none was lost.
async fn good_latencies(faulty: bool) -> Vec<u64> {
    let timing = Timing {
        epoch: Instant::now(),
        latencies: Recorder::new(),
    };
    let cluster = TestCluster::start(3, |_, b| {
        let mut b = b
            .profile(Profile::Lan)
            .user_event("load", timed)
            .state(timing.clone());
        if faulty {
            for _ in 0..4 {
                b = b.user_event("load", panics);
            }
            for _ in 0..3 {
                b = b.user_event("load", hangs).user_event("load", fails);
            }
        }
        b
    })
    .await
    .unwrap();
    let n0 = cluster.node(0);
    let start = Instant::now();
    for i in 0..300u64 {
        tokio::time::sleep_until((start + Duration::from_millis(10 * i)).into()).await;
        let sent = timing.epoch.elapsed().as_micros() as u64;
        n0.event("load", &sent.to_string()).await.unwrap();
    }
    let mut got = timing.latencies.take(900, Duration::from_secs(60)).await;
    assert_eq!(
        got.len(),
        900,
        "good events lost (faulty handlers: {faulty})"
    );
    cluster.wait_converged(DELIVERY).await.unwrap();
    tokio::time::timeout(STOP, cluster.shutdown())
        .await
        .expect("shutdown is not held up by hanging handlers");
    got.sort_unstable();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_handlers_leave_the_others_alone() {
    init_logs();
    let _serial = ONE_AT_A_TIME.lock().await;
    quiet_deliberate_panics();
    let pct = |v: &[u64], p: f64| v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let clean = good_latencies(false).await;
    let faulty = good_latencies(true).await;
    // Reported, not asserted: timing belongs in benchmarks (RELIABILITY.md has runs).
    eprintln!(
        "good-handler latency, ms: without faults p50 {:.1} p99 {:.1}; with 1000 faults/s per node p50 {:.1} p99 {:.1}",
        pct(&clean, 0.5),
        pct(&clean, 0.99),
        pct(&faulty, 0.5),
        pct(&faulty, 0.99)
    );
}
