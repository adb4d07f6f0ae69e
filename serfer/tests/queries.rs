//! Queries: responses and acks from real nodes, filters, early finish, concurrency.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::init_logs;
use serfer::testing::bounds::DELIVERY;
use serfer::testing::TestCluster;
use serfer::{Error, Node, Query, QueryOptions};

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Status {
    node: String,
    asked: String,
}

async fn status(q: Query<String>, node: Node) -> Status {
    Status {
        node: node.name().to_owned(),
        asked: q.into_payload(),
    }
}

fn names(cluster: &TestCluster, idx: &[usize]) -> BTreeSet<String> {
    idx.iter()
        .map(|&i| cluster.node(i).name().to_owned())
        .collect()
}

async fn three_roles() -> TestCluster {
    TestCluster::start(3, |i, b| {
        b.tag("role", if i == 2 { "db" } else { "web" })
            .query("status", status)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_answers_and_acks_and_the_call_returns_early() {
    init_logs();
    let cluster = three_roles().await;
    let timeout = DELIVERY;
    let started = Instant::now();
    let result = cluster
        .node(0)
        .query(
            "status",
            &"are you ok?".to_owned(),
            QueryOptions::new().request_ack(true).timeout(timeout),
        )
        .await
        .unwrap()
        .collect()
        .await;
    let took = started.elapsed();
    let all = names(&cluster, &[0, 1, 2]);
    assert_eq!(result.acks, all);
    assert_eq!(
        result.responses.keys().cloned().collect::<BTreeSet<_>>(),
        all
    );
    for (from, s) in result.decode::<Status>() {
        let s = s.unwrap();
        assert_eq!((s.node, s.asked.as_str()), (from, "are you ok?"));
    }
    assert!(took < timeout, "returned only at the timeout ({took:?})");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_tag_filters_restrict_the_responders() {
    init_logs();
    let cluster = three_roles().await;
    let opts = || {
        QueryOptions::new()
            .request_ack(true)
            .timeout(Duration::from_secs(3))
    };
    let by_name = cluster
        .node(0)
        .query(
            "status",
            &String::new(),
            opts().nodes([cluster.node(1).name()]),
        )
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(
        by_name.responses.keys().cloned().collect::<BTreeSet<_>>(),
        names(&cluster, &[1])
    );
    assert_eq!(by_name.acks, names(&cluster, &[1]));

    let by_tag = cluster
        .node(0)
        .query("status", &String::new(), opts().tag("role", "^web$"))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(
        by_tag.responses.keys().cloned().collect::<BTreeSet<_>>(),
        names(&cluster, &[0, 1])
    );

    let db = cluster
        .node(1)
        .query("status", &String::new(), opts().tag("role", "d."))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(
        db.responses.keys().cloned().collect::<BTreeSet<_>>(),
        names(&cluster, &[2])
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_queries_all_answered_by_everyone() {
    init_logs();
    let cluster = three_roles().await;
    let all = names(&cluster, &[0, 1, 2]);
    let mut tasks = Vec::new();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    for i in 0..20 {
        let node = cluster.node(0).clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            node.query(
                "status",
                &format!("q{i}"),
                QueryOptions::new().timeout(Duration::from_secs(10)),
            )
            .await
            .unwrap()
            .collect()
            .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        // Each query ends by its own 10 s timeout at the latest.
        let r = tokio::time::timeout(DELIVERY, t)
            .await
            .unwrap_or_else(|_| panic!("query {i} never finished"))
            .unwrap();
        assert_eq!(
            r.responses.keys().cloned().collect::<BTreeSet<_>>(),
            all,
            "query {i}"
        );
        for (_, s) in r.decode::<Status>() {
            assert_eq!(s.unwrap().asked, format!("q{i}"));
        }
    }
    cluster.shutdown().await;
}

async fn other_status(_q: Query<()>) -> String {
    "second".into()
}

#[tokio::test]
async fn two_handlers_for_one_query_is_a_startup_error() {
    let err = Node::builder()
        .engine(serfer::testing::engine())
        .bind("127.0.0.1:0")
        .query("status", status)
        .query("status", other_status)
        .start()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Handlers(_)));
    assert!(
        msg.contains("queries::status") && msg.contains("queries::other_status"),
        "{msg}"
    );
}

#[tokio::test]
async fn reserved_and_empty_names_are_refused() {
    let err = Node::builder()
        .engine(serfer::testing::engine())
        .bind("127.0.0.1:0")
        .query("_serf_ping", other_status)
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    let node = Node::builder()
        .engine(serfer::testing::engine())
        .bind("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    assert!(matches!(
        node.query("", &(), QueryOptions::new()).await,
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        node.query("_serf_x", &(), QueryOptions::new()).await,
        Err(Error::ReservedName(_))
    ));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversized_query_is_refused_with_its_size_and_the_real_limit() {
    let node = Node::builder()
        .engine(serfer::Engine::SerfRs)
        .bind("127.0.0.1:0")
        // The escape hatch changes serf-rs's limit; the error must report it.
        .engine_options(|o| o.with_query_size_limit(600))
        .start()
        .await
        .unwrap();
    let big = "x".repeat(700);
    match node.query("big", &big, QueryOptions::new()).await {
        Err(Error::PayloadTooLarge {
            what,
            name,
            size,
            limit,
            ..
        }) => {
            assert_eq!((what, name.as_str(), limit), ("query", "big", 600));
            assert!(size > 700, "the size counts the whole message: {size}");
        }
        Err(other) => panic!("expected PayloadTooLarge, got {other:?}"),
        Ok(_) => panic!("expected PayloadTooLarge, the query was sent"),
    }
    node.shutdown().await.unwrap();
}

async fn failing(_q: Query<()>) -> Result<String, String> {
    Err("not today".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_error_sends_no_response() {
    init_logs();
    let cluster = TestCluster::start(2, |i, b| {
        if i == 0 {
            b.query("s", failing)
        } else {
            b.query("s", other_status)
        }
    })
    .await
    .unwrap();
    let r = cluster
        .node(0)
        .query(
            "s",
            &(),
            QueryOptions::new().timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(
        r.responses.keys().cloned().collect::<BTreeSet<_>>(),
        names(&cluster, &[1])
    );
    cluster.shutdown().await;
}
