//! Event URIs on a real cluster: `Node::send` with paths, globs, hosts and tags,
//! handlers addressed by path, and bad URIs refused with a clear error.

mod common;

use common::init_logs;
use serfer::testing::bounds::DELIVERY;
use serfer::testing::{Recorder, TestCluster};
use serfer::{Error, Node, Query, QueryReport, Sent, State, TargetError, UserEvent};

type Seen = Recorder<String>;

/// Records `handler:node:event:payload`.
async fn exact(ev: UserEvent<String>, node: Node, State(seen): State<Seen>) {
    seen.record(format!(
        "exact:{}:{}:{}",
        node.name(),
        ev.name(),
        ev.payload()
    ));
}

async fn glob(ev: UserEvent<String>, node: Node, State(seen): State<Seen>) {
    seen.record(format!(
        "glob:{}:{}:{}",
        node.name(),
        ev.name(),
        ev.payload()
    ));
}

async fn stats(q: Query<String>, node: Node) -> String {
    format!("{} stats for {}", node.name(), q.payload())
}

/// Three nodes, `n0` and `n1` workers, `n2` a master; each has a handler for
/// `kubekit/deploy` and one for `kubekit/*`, and answers `kubekit-prod/stats`.
async fn cluster(seen: &Seen) -> TestCluster {
    let seen = seen.clone();
    TestCluster::start(3, move |i, b| {
        b.name(format!("n{i}"))
            .tag("role", if i == 2 { "master" } else { "worker" })
            .user_event("kubekit/deploy", exact)
            .user_event("kubekit/*", glob)
            .query("kubekit-prod/stats", stats)
            .state(seen.clone())
    })
    .await
    .unwrap()
}

async fn took(seen: &Seen, n: usize) -> Vec<String> {
    let mut got = seen.take(n, DELIVERY).await;
    got.sort();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_uri_reaches_handlers_by_path_and_glob() {
    init_logs();
    let seen = Seen::new();
    let cluster = cluster(&seen).await;
    let sent = cluster
        .node(0)
        .send("serf://*/event/kubekit/deploy?payload=wave")
        .await
        .unwrap();
    assert!(matches!(sent, Sent::Event));
    let mut want: Vec<String> = (0..3)
        .flat_map(|i| ["exact", "glob"].map(|h| format!("{h}:n{i}:kubekit/deploy:wave")))
        .collect();
    want.sort();
    assert_eq!(took(&seen, 6).await, want);

    // Another path under the pool: only the glob handlers.
    cluster
        .node(1)
        .send("serf://*/event/kubekit/scale?payload=3")
        .await
        .unwrap();
    let want: Vec<String> = (0..3)
        .map(|i| format!("glob:n{i}:kubekit/scale:3"))
        .collect();
    assert_eq!(took(&seen, 3).await, want);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_uri_with_hosts_and_tags_reaches_only_those_nodes() {
    init_logs();
    let seen = Seen::new();
    let cluster = cluster(&seen).await;
    // Hosts `n?` are everyone, the tag keeps the workers: n0 and n1.
    cluster
        .node(2)
        .send("serf://n%3F/event/kubekit/deploy?payload=v2;role=work*")
        .await
        .unwrap();
    // A second event to every node marks the end: whatever the filter let through
    // was sent before it, and gossip delivers one sender's events in order of
    // arrival at each node only loosely, so wait for all of them.
    cluster
        .node(2)
        .send("serf://*/event/kubekit/deploy?payload=end")
        .await
        .unwrap();
    let got = took(&seen, 4 + 6).await;
    let filtered: Vec<&String> = got.iter().filter(|l| l.ends_with(":v2")).collect();
    // Handlers see the path; the filters were for the receivers.
    assert_eq!(
        filtered,
        [
            "exact:n0:kubekit/deploy:v2",
            "exact:n1:kubekit/deploy:v2",
            "glob:n0:kubekit/deploy:v2",
            "glob:n1:kubekit/deploy:v2",
        ]
    );
    assert_eq!(
        seen.take(1, std::time::Duration::ZERO).await,
        Vec::<String>::new()
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_uri_uses_serfs_filters_and_glob_names() {
    init_logs();
    let seen = Seen::new();
    let cluster = cluster(&seen).await;
    let collect = |sent: Sent| async move {
        match sent {
            Sent::Query(replies) => replies.collect().await,
            Sent::Event => panic!("a query URI sent an event"),
        }
    };
    // The name is a glob over the handlers' names; the tag keeps the workers.
    let report: QueryReport = collect(
        cluster
            .node(2)
            .send("serf://*/query/kubekit-*/stats?payload=cpu;role=worker")
            .await
            .unwrap(),
    )
    .await;
    let answers: Vec<(String, String)> = report
        .responses
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert_eq!(
        answers,
        [
            ("n0".to_owned(), "n0 stats for cpu".to_owned()),
            ("n1".to_owned(), "n1 stats for cpu".to_owned()),
        ]
    );
    // Hosts name nodes (globs resolved against the members): only n2.
    let report = collect(
        cluster
            .node(0)
            .send("serf://n2,nope-*/query/kubekit-prod/stats?payload=mem")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(report.responses.keys().collect::<Vec<_>>(), ["n2"]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uris_are_refused_before_anything_is_sent() {
    init_logs();
    let seen = Seen::new();
    let cluster = cluster(&seen).await;
    let node = cluster.node(0);
    for (uri, says) in [
        ("kubekit/deploy", "must start with `serf://`"),
        ("serf://*/deploy/x", "`event` or `query`"),
        ("serf://*/event", "names no event"),
        ("serf://*/event/a?payload", "is not `name=value`"),
    ] {
        match node.send(uri).await {
            Err(e @ Error::Target(_)) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("invalid event URI: ") && text.contains(says),
                    "{uri}: {text}"
                );
            }
            other => panic!("{uri}: expected Error::Target, got {other:?}"),
        }
    }
    match node.send("serf://cache-*/query/kubekit-prod/stats").await {
        Err(Error::Target(TargetError::NoHost(hosts))) => assert_eq!(hosts, ["cache-*"]),
        other => panic!("expected NoHost, got {other:?}"),
    }
    cluster.shutdown().await;
}
