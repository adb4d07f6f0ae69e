//! `serfer send URI`: event URIs through the CLI and a node's RPC, and bad URIs
//! refused with a clear message and exit 1.

mod common;

use common::{rpc, serfer};
use serfer::testing::bounds::DELIVERY;
use serfer::testing::{Recorder, TestCluster};
use serfer::{Node, Query, State, UserEvent};

async fn deploy(ev: UserEvent<String>, node: Node, State(seen): State<Recorder<String>>) {
    seen.record(format!("{}:{}:{}", node.name(), ev.name(), ev.payload()));
}

async fn stats(q: Query<String>, node: Node) -> String {
    format!("{} {}", node.name(), q.payload())
}

async fn cluster(seen: &Recorder<String>) -> TestCluster {
    let seen = seen.clone();
    TestCluster::start(2, move |i, b| {
        b.name(format!("s{i}"))
            .rpc("127.0.0.1:0", None)
            .tag("role", if i == 0 { "web" } else { "db" })
            .user_event("kubekit/*", deploy)
            .query("kubekit/stats", stats)
            .state(seen.clone())
    })
    .await
    .expect("cluster starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_events_and_queries_by_uri() {
    let seen = Recorder::new();
    let c = cluster(&seen).await;
    let r = rpc(c.node(0));

    let run = serfer(&["send", &r, "serf://*/event/kubekit/deploy?payload=v1%2E2"]).await;
    assert_eq!(
        run.ok().trim(),
        "Event 'kubekit/deploy' dispatched! Coalescing enabled: true"
    );
    let mut got = seen.take(2, DELIVERY).await;
    got.sort();
    assert_eq!(got, ["s0:kubekit/deploy:v1.2", "s1:kubekit/deploy:v1.2"]);

    let run = serfer(&[
        "send",
        &r,
        "--format",
        "json",
        "serf://*/query/kubekit/stats?payload=cpu;role=db",
    ])
    .await;
    let json: serde_json::Value = serde_json::from_str(run.ok()).expect("json");
    assert_eq!(json["Responses"], serde_json::json!({ "s1": "s1 cpu" }));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uris_exit_1_with_the_reason() {
    let seen = Recorder::new();
    let c = cluster(&seen).await;
    let r = rpc(c.node(0));
    for (uri, says) in [
        ("kubekit/deploy", "must start with `serf://`"),
        ("serf://*/update/x", "`event` or `query`"),
        (
            "serf://nobody/query/kubekit/stats",
            "no member matches the hosts [\"nobody\"]",
        ),
    ] {
        let run = serfer(&["send", &r, uri]).await;
        let err = run.failed();
        assert!(
            err.starts_with("Error: ") && err.contains(says),
            "{uri}: {err}"
        );
    }
    c.shutdown().await;
}
