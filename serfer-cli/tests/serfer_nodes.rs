//! The `serfer` binary against Serfer nodes running in this process, each serving
//! the agent RPC on a free loopback port.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{command, rpc, run, serfer, streaming};
use serfer::testing::bounds::{DELIVERY, FAILURE, STOP};
use serfer::testing::ports::free_port;
use serfer::testing::{wait_until, Recorder, TestCluster};
use serfer::{Key, MemberStatus, Node, Query, State, UserEvent};

/// Three nodes with RPC, node 0 tagged `role=web`, the others `role=db`.
async fn three_nodes() -> TestCluster {
    TestCluster::start(3, |i, b| {
        b.rpc("127.0.0.1:0", None)
            .tag("role", if i == 0 { "web" } else { "db" })
    })
    .await
    .expect("cluster starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_text_json_detailed_and_filters() {
    let c = three_nodes().await;
    let r = rpc(c.node(1));

    let run = serfer(&["members", &r]).await;
    let out = run.ok();
    assert_eq!(out.lines().count(), 3, "{out}");
    for (i, node) in c.nodes().iter().enumerate() {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(node.name()))
            .unwrap_or_else(|| panic!("no row for {}: {out}", node.name()));
        let role = if i == 0 { "role=web" } else { "role=db" };
        let cols: Vec<&str> = row
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(
            cols,
            [node.name(), &node.addr().to_string(), "alive", role],
            "{row:?}"
        );
    }
    // Columns are aligned: every row's address starts at the same offset.
    let starts: Vec<usize> = out
        .lines()
        .map(|l| l.find("127.0.0.1:").expect("address column"))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{out}");

    let run = serfer(&["members", &r, "--detailed"]).await;
    let out = run.ok();
    assert!(
        out.lines()
            .all(|l| l.contains("Protocol Version: ") && l.contains("Available Protocol Range: [")),
        "{out}"
    );

    // A tag filter (anchored regex), given serf's single-dash way.
    let run = serfer(&["members", &r, "-tag", "role=web"]).await;
    let out = run.ok();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with(c.node(0).name()), "{out}");
    let run = serfer(&["members", &r, "--tag", "role=we"]).await;
    assert_eq!(run.ok(), "\n", "anchored: `we` must not match `web`");

    let run = serfer(&[
        "members",
        &r,
        "--name",
        c.node(2).name(),
        "--status",
        "alive",
    ])
    .await;
    assert!(run.ok().starts_with(c.node(2).name()));

    let run = serfer(&["members", &r, "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(run.ok()).expect("members json");
    let list = v["members"].as_array().expect("a members array");
    assert_eq!(list.len(), 3, "{v}");
    for m in list {
        let node = c
            .nodes()
            .iter()
            .find(|n| n.name() == m["name"])
            .unwrap_or_else(|| panic!("unknown member {m}"));
        assert_eq!(m["addr"], node.addr().to_string());
        assert_eq!(m["port"], node.addr().port());
        assert_eq!(m["status"], "alive");
        assert!(m["tags"]["role"].is_string(), "{m}");
        assert!(m["protocol"]["version"].is_u64(), "{m}");
    }
    // serf's field order, not sorted.
    let text = &run.stdout;
    let order: Vec<usize> = [
        "\"name\"",
        "\"addr\"",
        "\"port\"",
        "\"tags\"",
        "\"status\"",
        "\"protocol\"",
    ]
    .iter()
    .map(|k| text.find(k).expect("field present"))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");

    let run = serfer(&["members", &r, "--format", "json", "--name", "nobody"]).await;
    assert_eq!(run.ok(), "{\n  \"members\": null\n}\n");

    let run = serfer(&["members", &r, "--format", "bogus"]).await;
    assert_eq!(
        run.failed(),
        "Encoding error: Invalid output format \"bogus\"\n"
    );
    let run = serfer(&["members", &r, "--tag", "bad"]).await;
    assert_eq!(run.failed(), "Error: Invalid tag: 'bad'\n");
    // A bad regex: the agent hangs up, as serf's does.
    let run = serfer(&["members", &r, "--name", "("]).await;
    assert_eq!(run.failed(), "Error retrieving members: client closed\n");
    c.shutdown().await;
}

async fn record_event(
    ev: UserEvent<String>,
    node: Node,
    State(seen): State<Recorder<(String, String)>>,
) {
    seen.record((
        node.name().to_owned(),
        format!("{}={}", ev.name(), ev.payload()),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_reaches_every_handler() {
    let seen: Recorder<(String, String)> = Recorder::new();
    let c = TestCluster::start(3, |_, b| {
        b.rpc("127.0.0.1:0", None)
            .user_event("deploy", record_event)
            .state(seen.clone())
    })
    .await
    .expect("cluster starts");
    let r = rpc(c.node(2));

    let run = serfer(&["event", &r, "deploy", "v1.2"]).await;
    assert_eq!(
        run.ok(),
        "Event 'deploy' dispatched! Coalescing enabled: true\n"
    );
    let mut got = seen.take(3, DELIVERY).await;
    got.sort();
    let mut want: Vec<(String, String)> = c
        .nodes()
        .iter()
        .map(|n| (n.name().to_owned(), "deploy=v1.2".to_owned()))
        .collect();
    want.sort();
    assert_eq!(got, want);

    let run = serfer(&["event", &r, "--coalesce=false", "deploy", "v2"]).await;
    assert_eq!(
        run.ok(),
        "Event 'deploy' dispatched! Coalescing enabled: false\n"
    );
    let got = seen.take(3, DELIVERY).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(_, e)| e == "deploy=v2"), "{got:?}");

    // Over the 512-byte limit: the agent's error, exit 1.
    let big = "x".repeat(600);
    let run = serfer(&["event", &r, "deploy", &big]).await;
    assert!(run.failed().starts_with("Error sending event: "), "{run:?}");
    c.shutdown().await;
}

async fn status(q: Query<String>, node: Node) -> String {
    // The trailing newline is removed in text output, as serf does.
    format!("{} is OK ({})\n", node.name(), q.payload())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_prints_acks_and_responses() {
    let c = TestCluster::start(3, |i, b| {
        b.rpc("127.0.0.1:0", None)
            .tag("role", if i == 0 { "web" } else { "db" })
            .query("status", status)
    })
    .await
    .expect("cluster starts");
    let r = rpc(c.node(0));

    let run = serfer(&["query", &r, "--timeout", "5s", "status", "how are you?"]).await;
    let out = run.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"Query 'status' dispatched"), "{out}");
    for node in c.nodes() {
        assert!(
            lines.contains(&format!("Ack from '{}'", node.name()).as_str()),
            "{out}"
        );
        let response = format!(
            "Response from '{}': {} is OK (how are you?)",
            node.name(),
            node.name()
        );
        assert!(lines.contains(&response.as_str()), "{out}");
    }
    assert_eq!(
        lines[lines.len() - 2..],
        ["Total Acks: 3", "Total Responses: 3"],
        "{out}"
    );
    assert_eq!(lines.len(), 1 + 3 + 3 + 2, "{out}");

    // Filters by tag and node; no acks asked for.
    let run = serfer(&[
        "query",
        &r,
        "--tag",
        "role=db",
        "--no-ack",
        "--timeout=3s",
        "status",
    ])
    .await;
    let out = run.ok();
    assert!(
        !out.contains("Ack from") && !out.contains("Total Acks"),
        "{out}"
    );
    assert!(out.ends_with("Total Responses: 2\n"), "{out}");
    let n1 = c.node(1).name();
    let run = serfer(&[
        "query",
        &r,
        "--node",
        n1,
        "--format",
        "json",
        "--timeout",
        "3s",
        "status",
        "x",
    ])
    .await;
    let v: serde_json::Value = serde_json::from_str(run.ok()).expect("query json");
    assert_eq!(v["Acks"], serde_json::json!([n1]), "{v}");
    assert_eq!(
        v["Responses"],
        serde_json::json!({ n1: format!("{n1} is OK (x)\n") }),
        "{v}"
    );

    let run = serfer(&[
        "query",
        &r,
        "--format",
        "json",
        "--no-ack",
        "--timeout",
        "1s",
        "nobody-answers",
    ])
    .await;
    assert_eq!(run.ok(), "{\n  \"Acks\": null,\n  \"Responses\": {}\n}\n");

    let run = serfer(&["query", &r, "_serf_x"]).await;
    assert_eq!(
        run.failed(),
        "Error sending query: Queries cannot contain the '_serf_' prefix\n"
    );
    let run = serfer(&["query", &r, "--relay-factor", "300", "status"]).await;
    assert_eq!(run.failed(), "Relay factor must be between 0 and 255\n");
    let run = serfer(&["query", &r, "--format", "yaml", "status"]).await;
    assert_eq!(run.failed(), "Invalid format: yaml\n");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_set_and_delete_are_seen_by_others() {
    let c = TestCluster::start(2, |_, b| {
        b.rpc("127.0.0.1:0", None)
            .tag("old", "1")
            .tag("role", "web")
    })
    .await
    .expect("cluster starts");
    let me = c.node(0).name().to_owned();

    let run = serfer(&[
        "tags",
        &rpc(c.node(0)),
        "--set",
        "dc=eu",
        "--set",
        "role=db",
        "--delete",
        "old",
    ])
    .await;
    assert_eq!(run.ok(), "Successfully updated agent tags\n");
    let want = BTreeMap::from([
        ("dc".to_owned(), "eu".to_owned()),
        ("role".to_owned(), "db".to_owned()),
    ]);
    let other = c.node(1).clone();
    wait_until(DELIVERY, "node 1 to see node 0's new tags", || {
        let (other, me, want) = (other.clone(), me.clone(), want.clone());
        async move {
            other
                .members()
                .await
                .iter()
                .any(|m| m.name == me && m.tags == want)
        }
    })
    .await
    .unwrap();
    let run = serfer(&["members", &rpc(c.node(1)), "--tag", "dc=eu"]).await;
    let out = run.ok();
    assert!(
        out.starts_with(&me) && out.trim_end().ends_with("dc=eu,role=db"),
        "{out}"
    );

    // Nothing to change: the help, exit 1.
    let run = serfer(&["tags", &rpc(c.node(0))]).await;
    assert!(run.failed().contains("Usage: serfer tags"), "{run:?}");
    let run = serfer(&["tags", &rpc(c.node(0)), "--set", "novalue"]).await;
    assert_eq!(run.failed(), "Error: Invalid tag: 'novalue'\n");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_list_install_use_remove() {
    let first = Key::generate().to_string();
    let second = Key::generate().to_string();
    let c = TestCluster::start(2, |_, b| b.rpc("127.0.0.1:0", None).key(first.clone()))
        .await
        .expect("cluster starts");
    let r = rpc(c.node(1));

    let run = serfer(&["keys", &r, "--list"]).await;
    assert_eq!(
        run.ok(),
        format!(
            "==> Asking all members for installed keys...\n==> Keys gathered, listing cluster keys...\n\n{first}  [2/2]\n"
        )
    );

    let run = serfer(&["keys", &r, "--install", &second]).await;
    assert_eq!(
        run.ok(),
        "==> Installing key on all members...\n==> Successfully installed key!\n"
    );
    let run = serfer(&["keys", &r, "--list"]).await;
    let out = run.ok();
    assert!(
        out.contains(&format!("{first}  [2/2]")) && out.contains(&format!("{second}  [2/2]")),
        "{out}"
    );

    let run = serfer(&["keys", &r, "-use", &second]).await;
    assert_eq!(
        run.ok(),
        "==> Changing primary key on all members...\n==> Successfully changed primary key!\n"
    );
    let run = serfer(&["keys", &r, "--remove", &first]).await;
    assert_eq!(
        run.ok(),
        "==> Removing key on all members...\n==> Successfully removed key!\n"
    );
    let run = serfer(&["keys", &r, "--list"]).await;
    let listed: Vec<&str> = run.ok().lines().skip(3).collect();
    assert_eq!(listed, [format!("{second}  [2/2]")], "{run:?}");

    // The primary key cannot go: per-node failures on stderr, exit 1.
    let run = serfer(&["keys", &r, "--remove", &second]).await;
    assert_eq!(run.stdout, "==> Removing key on all members...\n");
    let err = run.failed();
    for node in c.nodes() {
        assert!(
            err.contains(&format!("failed:  {}  ", node.name())),
            "{err}"
        );
    }
    assert!(
        err.contains("\n\nError removing key: 2/2 nodes reported failure\n"),
        "{err}"
    );

    // The cluster still talks with the key that is left.
    let run = serfer(&["members", &r]).await;
    assert_eq!(run.ok().lines().filter(|l| l.contains("alive")).count(), 2);

    let run = serfer(&["keys", &r, "--list", "--install", &first]).await;
    assert_eq!(
        run.failed(),
        "Only one of --install, --use, --remove, or --list allowed\n"
    );
    let run = serfer(&["keys", &r]).await;
    assert!(run.failed().contains("Usage: serfer keys"), "{run:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_text_and_json() {
    let c = TestCluster::start(1, |_, b| b.rpc("127.0.0.1:0", None).tag("role", "web"))
        .await
        .expect("node starts");
    let node = c.node(0);

    let run = serfer(&["info", &rpc(node)]).await;
    let out = run.ok();
    assert!(
        out.starts_with(&format!("agent:\n\tname = {}\n", node.name())),
        "{out}"
    );
    assert!(out.contains("\ntags:\n\trole = web\n"), "{out}");
    assert!(out.contains("\tmembers = 1\n"), "{out}");
    // Sections and keys are sorted.
    let sections: Vec<&str> = out.lines().filter(|l| !l.starts_with('\t')).collect();
    let mut sorted = sections.clone();
    sorted.sort();
    assert_eq!(sections, sorted);

    let run = serfer(&["info", &rpc(node), "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(run.ok()).expect("info json");
    assert_eq!(v["agent"]["name"], node.name());
    assert_eq!(v["serf"]["members"], "1");
    assert_eq!(v["tags"]["role"], "web");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_then_leave_and_force_leave() {
    let a = TestCluster::start(2, |_, b| b.rpc("127.0.0.1:0", None))
        .await
        .expect("cluster a");
    let b = TestCluster::start(1, |_, b| b.rpc("127.0.0.1:0", None))
        .await
        .expect("node b");
    let joiner = b.node(0).clone();
    let watcher = a.node(0).clone();

    let run = serfer(&["join", &rpc(&joiner), &a.node(1).addr().to_string()]).await;
    assert_eq!(
        run.ok(),
        "Successfully joined cluster by contacting 1 nodes.\n"
    );
    let status_of = |name: String, want: MemberStatus| {
        let watcher = watcher.clone();
        move || {
            let (watcher, name) = (watcher.clone(), name.clone());
            async move {
                watcher
                    .members()
                    .await
                    .iter()
                    .any(|m| m.name == name && m.status == want)
            }
        }
    };
    wait_until(
        DELIVERY,
        "the joiner to be alive in cluster a",
        status_of(joiner.name().into(), MemberStatus::Alive),
    )
    .await
    .unwrap();

    let run = serfer(&["join", &rpc(&joiner), &format!("127.0.0.1:{}", free_port())]).await;
    assert!(
        run.failed().starts_with("Error joining the cluster: "),
        "{run:?}"
    );

    // Force-leave: a node that crashed goes from `failed` to `left`.
    let crashed = a.node(1).clone();
    crashed.shutdown().await.unwrap();
    wait_until(
        FAILURE,
        "the crashed node to be failed",
        status_of(crashed.name().into(), MemberStatus::Failed),
    )
    .await
    .unwrap();
    let run = serfer(&["force-leave", &rpc(&watcher), crashed.name()]).await;
    assert_eq!(run.ok(), "", "force-leave prints nothing");
    wait_until(
        DELIVERY,
        "the crashed node to be left",
        status_of(crashed.name().into(), MemberStatus::Left),
    )
    .await
    .unwrap();

    // Graceful leave through the joiner's RPC: the others see it `left`.
    let run = serfer(&["leave", &rpc(&joiner)]).await;
    assert_eq!(run.ok(), "Graceful leave complete\n");
    if let Err(e) = wait_until(
        DELIVERY,
        "the joiner to be left",
        status_of(joiner.name().into(), MemberStatus::Left),
    )
    .await
    {
        panic!("{e}; the watcher sees {:?}", watcher.members().await);
    }
    tokio::time::timeout(DELIVERY, joiner.wait())
        .await
        .expect("the joiner stops after leaving")
        .unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_token_is_required_and_accepted() {
    let c = TestCluster::start(1, |_, b| b.rpc("127.0.0.1:0", Some("s3cret".into())))
        .await
        .expect("node starts");
    let r = rpc(c.node(0));

    let run = serfer(&["members", &r]).await;
    assert_eq!(
        run.failed(),
        "Error retrieving members: Authentication required\n"
    );
    let run = serfer(&["members", &r, "--rpc-auth", "wrong"]).await;
    assert_eq!(
        run.failed(),
        "Error connecting to Serf agent: Invalid authentication token\n"
    );
    let run = serfer(&["members", &r, "--rpc-auth=s3cret"]).await;
    assert!(run.ok().starts_with(c.node(0).name()), "{run:?}");

    // From the environment: SERFER_RPC_AUTH first, then serf's SERF_RPC_AUTH.
    let mut cmd = command(&["members", &r]);
    cmd.env("SERF_RPC_AUTH", "s3cret");
    assert!(run_ok(cmd).await.starts_with(c.node(0).name()));
    let mut cmd = command(&["members", &r]);
    cmd.env("SERFER_RPC_AUTH", "s3cret")
        .env("SERF_RPC_AUTH", "wrong");
    assert!(run_ok(cmd).await.starts_with(c.node(0).name()));
    c.shutdown().await;
}

async fn run_ok(cmd: tokio::process::Command) -> String {
    let r = run(cmd).await;
    r.ok().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_from_flags_and_environment() {
    let c = TestCluster::start(1, |_, b| b.rpc("127.0.0.1:0", None))
        .await
        .expect("node starts");
    let addr = c.node(0).rpc_addr().unwrap().to_string();
    let nowhere = format!("127.0.0.1:{}", free_port());

    // Global flags go before or after the subcommand.
    let run = serfer(&["--rpc-addr", &addr, "members"]).await;
    assert!(run.ok().starts_with(c.node(0).name()));
    let mut cmd = command(&["members"]);
    cmd.env("SERF_RPC_ADDR", &addr);
    assert!(run_ok(cmd).await.starts_with(c.node(0).name()));
    let mut cmd = command(&["members"]);
    cmd.env("SERFER_RPC_ADDR", &addr)
        .env("SERF_RPC_ADDR", &nowhere);
    assert!(run_ok(cmd).await.starts_with(c.node(0).name()));
    let mut cmd = command(&["members", "--rpc-addr", &addr]);
    cmd.env("SERFER_RPC_ADDR", &nowhere);
    assert!(
        run_ok(cmd).await.starts_with(c.node(0).name()),
        "the flag wins"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_agent_fails_with_exit_1() {
    let addr = format!("127.0.0.1:{}", free_port());
    for args in [
        vec!["members"],
        vec!["event", "x"],
        vec!["query", "q"],
        vec!["info"],
        vec!["keys", "--list"],
        vec!["monitor"],
    ] {
        let mut full = args.clone();
        full.push("--rpc-addr");
        full.push(&addr);
        let run = serfer(&full).await;
        assert_eq!(
            run.failed(),
            format!(
                "Error connecting to Serf agent: dial tcp {addr}: connect: connection refused\n"
            ),
            "{args:?}"
        );
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[tokio::test]
async fn keygen_prints_a_32_byte_key() {
    use base64::Engine as _;
    let a = serfer(&["keygen"]).await;
    let b = serfer(&["keygen"]).await;
    for run in [&a, &b] {
        let key = run.ok().strip_suffix('\n').expect("one line");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .expect("base64");
        assert_eq!(bytes.len(), 32);
        Key::parse(key).expect("a valid key");
    }
    assert_ne!(a.stdout, b.stdout, "random keys");
}

#[tokio::test]
async fn usage_errors_exit_1_and_help_exits_0() {
    let run = serfer(&["event"]).await;
    assert!(run.failed().contains("<NAME>"), "{run:?}");
    let run = serfer(&["nonsense"]).await;
    assert_eq!(run.code, 1);
    let run = serfer(&["query", "--timeout", "soon", "q"]).await;
    assert!(run.failed().contains("invalid duration"), "{run:?}");
    for sub in [
        "members",
        "event",
        "query",
        "tags",
        "join",
        "leave",
        "force-leave",
        "keys",
        "keygen",
        "monitor",
        "info",
    ] {
        let run = serfer(&[sub, "--help"]).await;
        assert!(
            run.ok().contains(&format!("Usage: serfer {sub}")),
            "{sub}: {run:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_prints_events_and_stops_on_interrupt() {
    let c = TestCluster::start(2, |_, b| b.rpc("127.0.0.1:0", None))
        .await
        .expect("cluster starts");
    let r = rpc(c.node(0));
    let mut monitor = streaming(&["monitor", &r, "--log-level", "debug"]);

    // The monitor subscribes after it starts; send until one shows up (bounded).
    let deadline = tokio::time::Instant::now() + DELIVERY;
    let mut seen = false;
    while !seen && tokio::time::Instant::now() < deadline {
        c.node(1).event("hello", &"world".to_owned()).await.unwrap();
        seen = monitor
            .wait_line_async(Duration::from_millis(500), |l| l == "\tName: \"hello\"")
            .await
            .is_some();
    }
    assert!(seen, "no event in the monitor: {:?}", monitor.seen());
    assert!(
        monitor.seen().iter().any(|l| l == "Event Info:"),
        "{:?}",
        monitor.seen()
    );
    let payload = format!("\tPayload: []byte{{{}}}", hex_list(b"world"));
    assert!(
        monitor
            .wait_line_async(DELIVERY, |l| l == payload)
            .await
            .is_some()
            || monitor.seen().contains(&payload),
        "{:?}",
        monitor.seen()
    );

    monitor.send_signal("-INT");
    let run = monitor.finish(STOP).await;
    assert_eq!(run.code, 0, "Ctrl-C ends the monitor cleanly: {run:?}");
    assert!(!run.stderr.contains("Remote side ended"), "{run:?}");

    let run = serfer(&["monitor", &r, "--log-level", "bogus"]).await;
    assert_eq!(
        run.failed(),
        "Error starting monitor: Unknown log level: BOGUS\n"
    );
    c.shutdown().await;
}

fn hex_list(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("0x{b:x}"))
        .collect::<Vec<_>>()
        .join(", ")
}
