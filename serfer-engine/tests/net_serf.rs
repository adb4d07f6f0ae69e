//! The tokio driver's [`SerfNode`] on loopback, without any Go binary: a node
//! shared behind an `Arc` and shut down from several tasks, the end of its
//! task observed whether it was asked for or came from a lost name conflict,
//! and force-leave waiting for its broadcast. Waits are bounded in real time
//! from the timings each test configures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serfer_engine::memberlist::Config;
use serfer_engine::net::{NetError, SerfNode};
use serfer_engine::serf::{Event, MemberEvent, MemberStatus, SerfConfig};

fn config(name: &str, seed: u64) -> SerfConfig {
    let mut c = Config::lan(name, SocketAddr::from(([127, 0, 0, 1], 0)));
    c.seed = seed;
    SerfConfig::new(c)
}

/// Fast failure detection: probes every 100 ms (50 ms timeout), gossip every
/// 50 ms, suspicion of 2 probe intervals (at most 12 with no confirmation).
fn fast_config(name: &str, seed: u64) -> SerfConfig {
    let mut c = config(name, seed);
    c.memberlist.probe_interval = Duration::from_millis(100);
    c.memberlist.probe_timeout = Duration::from_millis(50);
    c.memberlist.gossip_interval = Duration::from_millis(50);
    c.memberlist.suspicion_mult = 2;
    c
}

/// Polls `check` every 50 ms until it holds or `within` passes.
async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn status(node: &SerfNode, name: &str) -> Option<MemberStatus> {
    node.members()
        .await
        .ok()?
        .into_iter()
        .find(|m| m.name == name)
        .map(|m| m.status)
}

async fn all_see_alive(nodes: &[&SerfNode]) -> bool {
    for a in nodes {
        for b in nodes {
            if status(a, b.name()).await != Some(MemberStatus::Alive) {
                return false;
            }
        }
    }
    true
}

fn assert_send_sync<T: Send + Sync>() {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_node_shuts_down_once_from_many_tasks() {
    assert_send_sync::<SerfNode>();
    let mut node = SerfNode::start(config("solo", 0x5eed_0301)).await.unwrap();
    let mut events = node.take_events().expect("the receiver, once");
    assert!(node.take_events().is_none());

    let me = node.local_member().await.unwrap();
    assert_eq!(
        (me.name.as_str(), me.addr, me.status),
        ("solo", node.local_addr(), MemberStatus::Alive)
    );
    assert_eq!(node.encryption_enabled().await, Ok(false));
    // 200 ms × 16 × ceil(log10(1 + 1)).
    assert_eq!(
        node.default_query_timeout().await,
        Ok(Duration::from_millis(3200))
    );
    let info = node.info().await.unwrap();
    assert_eq!((info.members, info.failed, info.left), (1, 0, 0));
    assert!(!info.encrypted);

    let node = Arc::new(node);
    let stopped = tokio::spawn(node.stopped());
    let (a, b) = (Arc::clone(&node), Arc::clone(&node));
    let both = async {
        tokio::join!(
            tokio::spawn(async move { a.shutdown().await }),
            tokio::spawn(async move { b.shutdown().await }),
        )
    };
    let (a, b) = tokio::time::timeout(Duration::from_secs(5), both)
        .await
        .expect("both shutdowns return within 5 s");
    a.unwrap();
    b.unwrap();
    tokio::time::timeout(Duration::from_secs(1), stopped)
        .await
        .expect("stopped resolves once the task ended")
        .unwrap();
    // Idempotent, and everything else now reports the stop.
    node.shutdown().await;
    node.stopped().await;
    assert_eq!(node.members().await, Err(NetError::Stopped));
    assert_eq!(node.info().await.err(), Some(NetError::Stopped));
    assert_eq!(node.local_member().await.err(), Some(NetError::Stopped));
    assert_eq!(
        node.remove_failed_node("x", false).await,
        Err(NetError::Stopped)
    );
    // The taken receiver got the node's own join, then closed with the task.
    assert!(matches!(
        events.recv().await,
        Some(Event::Member(MemberEvent::Join(m))) if m.name == "solo"
    ));
    assert!(events.recv().await.is_none());
}

/// Three established nodes; a newcomer at another address claims `n0`'s name
/// and joins through `n1`. Its `_serf_conflict` query hears two records of
/// `n0`'s real address and none of its own, so its core shuts itself down:
/// `stopped` resolves without `shutdown`. Bound: the query's default timeout,
/// 200 ms × 16 × ceil(log10(4 + 1)) = 3.2 s, plus the join: 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_name_conflict_ends_the_task() {
    let n0 = SerfNode::start(config("n0", 0x5eed_0311)).await.unwrap();
    let n1 = SerfNode::start(config("n1", 0x5eed_0312)).await.unwrap();
    let n2 = SerfNode::start(config("n2", 0x5eed_0313)).await.unwrap();
    assert_eq!(n1.join(vec![n0.local_addr()], false).await, Ok(1));
    assert_eq!(n2.join(vec![n0.local_addr()], false).await, Ok(1));
    assert!(
        eventually(Duration::from_secs(10), async || all_see_alive(&[
            &n0, &n1, &n2
        ])
        .await)
        .await,
        "3 nodes did not converge"
    );

    let mut newcomer = SerfNode::start(config("n0", 0x5eed_0314)).await.unwrap();
    let mut events = newcomer.take_events().unwrap();
    let t = Instant::now();
    assert_eq!(newcomer.join(vec![n1.local_addr()], false).await, Ok(1));
    tokio::time::timeout(Duration::from_secs(10), newcomer.stopped())
        .await
        .expect("the newcomer's task ended within 10 s");
    println!("newcomer stopped {:?} after its join", t.elapsed());
    assert_eq!(newcomer.members().await, Err(NetError::Stopped));
    let mut outcome = None;
    while let Some(e) = events.recv().await {
        if let Event::NameConflict { survived, .. } = e {
            outcome = Some(survived);
        }
    }
    assert_eq!(outcome, Some(false));
    // Shutting down a node that stopped by itself is harmless.
    newcomer.shutdown().await;

    assert_eq!(status(&n0, "n0").await, Some(MemberStatus::Alive));
    for n in [n0, n1, n2] {
        n.shutdown().await;
    }
}

/// A node shut down without a leave fails at the others (fast timings:
/// within a second or two; bound 10 s); a force-leave from `a` returns once
/// its intent is fully gossiped (a few 50 ms rounds, well under the 5 s
/// broadcast timeout) and `b` records the node as left. With a broadcast
/// timeout far shorter than one gossip round, `b`'s own force-leave with
/// prune times out, yet still applies locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_failed_node_waits_for_its_broadcast() {
    let a = SerfNode::start(fast_config("a", 0x5eed_0321))
        .await
        .unwrap();
    let mut cb = fast_config("b", 0x5eed_0322);
    cb.broadcast_timeout = Duration::from_micros(1);
    let b = SerfNode::start(cb).await.unwrap();
    let c = SerfNode::start(fast_config("c", 0x5eed_0323))
        .await
        .unwrap();
    assert_eq!(b.join(vec![a.local_addr()], false).await, Ok(1));
    assert_eq!(c.join(vec![a.local_addr()], false).await, Ok(1));
    assert!(
        eventually(Duration::from_secs(10), async || all_see_alive(&[
            &a, &b, &c
        ])
        .await)
        .await,
        "3 nodes did not converge"
    );

    c.shutdown().await;
    assert!(
        eventually(Duration::from_secs(10), async || {
            status(&a, "c").await == Some(MemberStatus::Failed)
                && status(&b, "c").await == Some(MemberStatus::Failed)
        })
        .await,
        "c not failed at a and b"
    );

    let t = Instant::now();
    a.remove_failed_node("c", false).await.unwrap();
    println!("force-leave gossiped after {:?}", t.elapsed());
    assert_eq!(status(&a, "c").await, Some(MemberStatus::Left));
    assert!(
        eventually(Duration::from_secs(5), async || status(&b, "c").await
            == Some(MemberStatus::Left))
        .await,
        "c not left at b"
    );
    assert_eq!(a.info().await.unwrap().left, 1);

    assert_eq!(
        b.remove_failed_node("c", true).await,
        Err(NetError::BroadcastTimeout)
    );
    assert_eq!(
        NetError::BroadcastTimeout.to_string(),
        "timed out broadcasting node removal"
    );
    assert_eq!(status(&b, "c").await, None);
    assert!(
        eventually(Duration::from_secs(5), async || status(&a, "c")
            .await
            .is_none())
        .await,
        "the pruning intent did not reach a"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// What the observer sees after a turn, as a wrapper would copy it.
#[derive(Debug, Default, Clone)]
struct Seen {
    turns: u64,
    clock: u64,
    generation: u64,
    peers_with_coordinates: Vec<String>,
}

/// The observer runs on the node's task after every turn: it sees the join
/// move the clock, and the first acked probe of the peer add its coordinate
/// and move the generation, with no call to the task. Probes run every 100 ms
/// and each acks with a coordinate, so 10 s is a hundred chances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_sees_the_clock_and_coordinates_after_each_turn() {
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let copy = seen.clone();
    let a = SerfNode::start_observed(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        fast_config("a", 0x5eed_0331),
        Some(Box::new(move |serf| {
            let mut s = copy.lock().unwrap();
            s.turns += 1;
            s.clock = serf.clock();
            s.generation = serf.coordinate_generation();
            s.peers_with_coordinates = serf
                .peer_coordinates()
                .map(|(name, _)| name.to_owned())
                .collect();
        })),
    )
    .await
    .unwrap();
    let read = || seen.lock().unwrap().clone();
    assert!(
        eventually(Duration::from_secs(1), async || read().turns > 0).await,
        "the observer never ran"
    );
    let before = read();
    assert_eq!(before.generation, 0, "{before:?}");
    assert!(before.peers_with_coordinates.is_empty(), "{before:?}");

    let b = SerfNode::start(fast_config("b", 0x5eed_0332))
        .await
        .unwrap();
    assert_eq!(b.join(vec![a.local_addr()], false).await, Ok(1));
    assert!(
        eventually(Duration::from_secs(10), async || {
            let s = read();
            s.peers_with_coordinates == ["b"] && s.generation > 0
        })
        .await,
        "no coordinate for b observed: {:?}",
        read()
    );
    // The clock only grows, so what was observed is at most what the core
    // holds at a later turn.
    let observed = read();
    let clock = a.with_core(|serf, _| serf.clock()).await.unwrap();
    assert!(
        observed.clock > before.clock,
        "{observed:?} after {before:?}"
    );
    assert!(observed.clock <= clock, "{observed:?} against {clock}");
    a.shutdown().await;
    b.shutdown().await;
}
