//! Membership: joins, tag updates, graceful leave and failure, seen across real nodes.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::init_logs;
use serfer::testing::bounds::{DELIVERY, FAILURE};
use serfer::testing::{Recorder, TestCluster};
use serfer::{MemberEvent, MemberEventKind, MemberStatus, State};

type Seen = Recorder<(String, MemberEventKind, Vec<String>)>;

async fn record(ev: MemberEvent, node: serfer::Node, State(seen): State<Seen>) {
    let names = ev.members().iter().map(|m| m.name.clone()).collect();
    seen.record((node.name().to_owned(), ev.kind(), names));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_join_and_see_each_other() {
    init_logs();
    let seen: Seen = Recorder::new();
    let cluster = TestCluster::start(3, |_, b| b.any_member_event(record).state(seen.clone()))
        .await
        .expect("cluster starts");
    let names: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| n.name().to_owned())
        .collect();
    for node in cluster.nodes() {
        let members = node.members().await;
        assert_eq!(members.len(), 3);
        for m in &members {
            assert_eq!(m.status, MemberStatus::Alive, "{m:?}");
            assert!(names.contains(&m.name));
            assert_eq!(m.addr.to_string(), "127.0.0.1");
        }
    }
    // Every node gets a join event for each of the other two (and itself).
    let mut joins: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + DELIVERY;
    while joins.values().map(Vec::len).sum::<usize>() < 6 && tokio::time::Instant::now() < deadline
    {
        if let Some((at, kind, members)) = seen.next(Duration::from_millis(200)).await {
            if kind == MemberEventKind::Join {
                for m in members.into_iter().filter(|m| *m != at) {
                    joins.entry(at.clone()).or_default().push(m);
                }
            }
        }
    }
    for (i, at) in names.iter().enumerate() {
        let mut got = joins.get(at).cloned().unwrap_or_default();
        got.sort();
        got.dedup();
        let mut want: Vec<String> = names.iter().filter(|n| *n != at).cloned().collect();
        want.sort();
        assert_eq!(got, want, "join events seen by node {i}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_change_reaches_others_as_update() {
    init_logs();
    let seen: Seen = Recorder::new();
    let cluster = TestCluster::start(2, |_, b| {
        b.tag("role", "web")
            .member_event(MemberEventKind::Update, record)
            .state(seen.clone())
    })
    .await
    .unwrap();
    let changed = cluster.node(0).name().to_owned();
    let tags = BTreeMap::from([
        ("role".to_owned(), "db".to_owned()),
        ("dc".to_owned(), "eu".to_owned()),
    ]);
    cluster.node(0).set_tags(tags.clone()).await.unwrap();

    let observer = cluster.node(1).name().to_owned();
    let deadline = tokio::time::Instant::now() + DELIVERY;
    let mut got_update = false;
    while !got_update && tokio::time::Instant::now() < deadline {
        if let Some((at, kind, members)) = seen.next(Duration::from_millis(200)).await {
            got_update =
                at == observer && kind == MemberEventKind::Update && members.contains(&changed);
        }
    }
    assert!(got_update, "node 1 saw no update event for node 0");
    let seen_by_1 = cluster.node(1).members().await;
    let m = seen_by_1.iter().find(|m| m.name == changed).unwrap();
    assert_eq!(m.tags, tags);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_leave_is_left_and_abrupt_stop_is_failed() {
    init_logs();
    let seen: Seen = Recorder::new();
    let cluster = TestCluster::start(3, |i, b| {
        if i == 0 {
            b.any_member_event(record).state(seen.clone())
        } else {
            b
        }
    })
    .await
    .unwrap();
    let leaver = cluster.node(1).name().to_owned();
    let crasher = cluster.node(2).name().to_owned();
    cluster.node(1).leave().await.unwrap();
    cluster.node(2).shutdown().await.unwrap();

    let (mut left, mut failed) = (false, false);
    let deadline = tokio::time::Instant::now() + FAILURE;
    while !(left && failed) && tokio::time::Instant::now() < deadline {
        if let Some((_, kind, members)) = seen.next(Duration::from_millis(200)).await {
            left |= kind == MemberEventKind::Leave && members.contains(&leaver);
            failed |= kind == MemberEventKind::Failed && members.contains(&crasher);
        }
    }
    assert!(left, "no leave event for the node that left");
    assert!(failed, "no failed event for the node that stopped");
    let members = cluster.node(0).members().await;
    let status = |n: &str| members.iter().find(|m| m.name == n).map(|m| m.status);
    assert_eq!(status(&leaver), Some(MemberStatus::Left));
    assert_eq!(status(&crasher), Some(MemberStatus::Failed));
    cluster.shutdown().await;
}
