//! HashiCorp's own `serf` CLI drives Serfer nodes through the agent RPC.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::init_monitor_logs;
use serfer::testing::agent::{serf_binary, serf_cli};
use serfer::testing::bounds::{DELIVERY, FAILURE};
use serfer::testing::process::{Proc, Run};
use serfer::testing::{wait_for_status, wait_until, Recorder, TestCluster};
use serfer::{Key, MemberStatus, Node, Query, State, UserEvent};

type Seen = Recorder<(String, String)>;

async fn on_event(ev: UserEvent<String>, node: Node, State(seen): State<Seen>) {
    seen.record((
        node.name().to_owned(),
        format!("{}={}", ev.name(), ev.payload()),
    ));
}

async fn status(q: Query<String>, node: Node) -> String {
    format!("{} is OK ({})", node.name(), q.payload())
}

async fn cluster(seen: &Seen, key: Option<&Key>) -> TestCluster {
    TestCluster::start(3, |i, b| {
        let b = b
            .rpc("127.0.0.1:0", None)
            .tag("role", if i == 2 { "db" } else { "web" })
            .any_user_event(on_event)
            .query("status", status)
            .state(seen.clone());
        match key {
            Some(k) => b.key(k.to_string()),
            None => b,
        }
    })
    .await
    .unwrap()
}

fn rpc(node: &Node) -> String {
    format!("-rpc-addr={}", node.rpc_addr().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_in_every_format_and_filter() {
    let Some(serf) = serf_binary("members_in_every_format_and_filter") else {
        return;
    };
    let seen = Seen::new();
    let c = cluster(&seen, None).await;
    let r = rpc(c.node(0));

    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["members", &r]).await;
    assert_eq!(code, 0, "{out}");
    for node in c.nodes() {
        let row = out
            .lines()
            .find(|l| l.starts_with(node.name()))
            .unwrap_or_else(|| panic!("{out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1], node.addr().to_string());
        assert_eq!(cols[2], "alive");
    }

    let Run { stdout: out, .. } = serf_cli(&serf, &["members", &r, "-tag", "role=db"]).await;
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with(c.node(2).name()));

    let Run { stdout: out, .. } = serf_cli(&serf, &["members", &r, "-status", "failed"]).await;
    assert_eq!(out.trim(), "");
    // The filter also matches: every node is alive, and a name regex narrows it.
    let Run { stdout: out, .. } = serf_cli(&serf, &["members", &r, "-status", "alive"]).await;
    assert_eq!(out.lines().count(), c.nodes().len(), "{out}");
    let Run { stdout: out, .. } = serf_cli(
        &serf,
        &["members", &r, "-status", "alive", "-name", c.node(1).name()],
    )
    .await;
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with(c.node(1).name()), "{out}");

    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["members", &r, "-format", "json"]).await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(v["members"][0]["tags"]["role"].is_string());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_reaches_handlers_and_query_prints_answers() {
    let Some(serf) = serf_binary("event_reaches_handlers_and_query_prints_answers") else {
        return;
    };
    let seen = Seen::new();
    let c = cluster(&seen, None).await;
    let r = rpc(c.node(1));

    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["event", &r, "useless", "with this payload"]).await;
    assert_eq!(
        (code, out.trim()),
        (0, "Event 'useless' dispatched! Coalescing enabled: true")
    );
    let got = seen.take(3, DELIVERY).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(_, e)| e == "useless=with this payload"));

    let Run {
        code, stdout: out, ..
    } = serf_cli(
        &serf,
        &["query", &r, "-timeout=5s", "status", "how are you?"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("Query 'status' dispatched"), "{out}");
    for node in c.nodes() {
        assert!(
            out.contains(&format!("Ack from '{}'", node.name())),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "Response from '{}': {} is OK (how are you?)",
                node.name(),
                node.name()
            )),
            "{out}"
        );
    }
    assert!(
        out.contains("Total Acks: 3") && out.contains("Total Responses: 3"),
        "{out}"
    );

    let Run { stdout: out, .. } = serf_cli(
        &serf,
        &["query", &r, "-tag", "role=db", "-timeout=3s", "status"],
    )
    .await;
    assert!(out.contains("Total Responses: 1"), "{out}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_join_force_leave_and_leave() {
    let Some(serf) = serf_binary("tags_join_force_leave_and_leave") else {
        return;
    };
    let seen = Seen::new();
    let c = cluster(&seen, None).await;
    let r0 = rpc(c.node(0));

    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["tags", &r0, "-set", "dc=eu", "-delete", "role"]).await;
    assert_eq!((code, out.trim()), (0, "Successfully updated agent tags"));
    let changed = c.node(0).name().to_owned();
    let other = c.node(1).clone();
    wait_until(DELIVERY, "node 1 to see node 0's new tags", || {
        let (other, changed) = (other.clone(), changed.clone());
        async move {
            other.members().await.iter().any(|m| {
                m.name == changed && m.tags == BTreeMap::from([("dc".to_owned(), "eu".to_owned())])
            })
        }
    })
    .await
    .unwrap();

    // A fresh node with RPC but no join flag: `serf join` brings it in.
    let loner = Node::builder()
        .engine(serfer::testing::engine())
        .bind("127.0.0.1:0")
        .profile(serfer::Profile::Local)
        .rpc("127.0.0.1:0", None)
        .start()
        .await
        .unwrap();
    let Run {
        code, stdout: out, ..
    } = serf_cli(
        &serf,
        &["join", &rpc(&loner), &c.node(0).addr().to_string()],
    )
    .await;
    assert_eq!(
        (code, out.trim()),
        (0, "Successfully joined cluster by contacting 1 nodes.")
    );
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["join", &rpc(&loner), "127.0.0.1:1"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("Error joining the cluster:"), "{out}");

    // `serf leave` on the loner: graceful, and the others see `left`. Node 1
    // learns of the loner only by gossip from node 0; a node that leaves
    // before that is never known to node 1 at all (its leave intent and its
    // `dead` name a stranger), so the leave waits until node 1 knows it.
    let watcher = c.node(1).clone();
    let gone = loner.name().to_owned();
    wait_for_status(&watcher, &gone, MemberStatus::Alive, DELIVERY)
        .await
        .unwrap();
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["leave", &rpc(&loner)]).await;
    assert_eq!((code, out.trim()), (0, "Graceful leave complete"));
    wait_for_status(&watcher, &gone, MemberStatus::Left, DELIVERY)
        .await
        .unwrap();

    // A crashed node is failed until force-leave marks it left.
    c.node(2).shutdown().await.unwrap();
    let crashed = c.node(2).name().to_owned();
    wait_for_status(&watcher, &crashed, MemberStatus::Failed, FAILURE)
        .await
        .unwrap();
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["force-leave", &rpc(c.node(1)), &crashed]).await;
    assert_eq!((code, out.trim()), (0, ""));
    wait_for_status(&watcher, &crashed, MemberStatus::Left, DELIVERY)
        .await
        .unwrap();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_list_install_use_remove() {
    let Some(serf) = serf_binary("keys_list_install_use_remove") else {
        return;
    };
    let seen = Seen::new();
    let old = Key::generate();
    let c = cluster(&seen, Some(&old)).await;
    let r = rpc(c.node(0));
    let new = Key::generate().to_string();

    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["keys", &r, "-list"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{old}  [3/3]")), "{out}");
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["keys", &r, "-install", &new]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Successfully installed key!"), "{out}");
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["keys", &r, "-use", &new]).await;
    assert!(
        code == 0 && out.contains("Successfully changed primary key!"),
        "{out}"
    );
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["keys", &r, "-remove", &old.to_string()]).await;
    assert!(
        code == 0 && out.contains("Successfully removed key!"),
        "{out}"
    );
    let Run { stdout: out, .. } = serf_cli(&serf, &["keys", &r, "-list"]).await;
    assert!(
        out.contains(&format!("{new}  [3/3]")) && !out.contains(&old.to_string()),
        "{out}"
    );
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["keys", &r, "-install", "not-base64!"]).await;
    assert_eq!(code, 1, "{out}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_monitor() {
    let Some(serf) = serf_binary("info_and_monitor") else {
        return;
    };
    init_monitor_logs();
    let seen = Seen::new();
    let c = cluster(&seen, None).await;
    let r = rpc(c.node(0));
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["info", &r]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("\tname = {}", c.node(0).name())),
        "{out}"
    );
    assert!(out.contains("\tmembers = 3"), "{out}");
    assert!(out.contains("\trole = web"), "{out}");

    // `serf reachability` sends the internal `_serf_ping` query; every node acks.
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["reachability", &r, "-verbose"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Successfully contacted all live nodes"),
        "{out}"
    );
    for n in c.nodes() {
        assert!(out.contains(&format!("Ack from '{}'", n.name())), "{out}");
    }
    // `serf rtt` reads both nodes' coordinates (get-coordinate). Node 0 has one
    // for node 1 once it has probed it.
    let peer = c.node(1).name().to_owned();
    serfer::testing::wait_until(DELIVERY, "a coordinate for node 1", || {
        let n = c.node(0).clone();
        let peer = peer.clone();
        async move { n.coordinate(&peer).is_some() }
    })
    .await
    .unwrap();
    let Run {
        code, stdout: out, ..
    } = serf_cli(&serf, &["rtt", &r, c.node(1).name()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(c.node(0).name()) && out.contains(c.node(1).name()) && out.contains("rtt:"),
        "{out}"
    );

    // `serf monitor` runs until stopped: read its output while logging something.
    let mut monitor = Proc::spawn(
        "serf monitor",
        std::process::Command::new(&serf)
            .args(["monitor", &r, "-log-level=INFO"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped()),
    );
    let marker = format!("monitor-marker-{}", rand_suffix());
    // The monitor subscribes some time after it starts: log until it shows (bounded).
    let deadline = tokio::time::Instant::now() + DELIVERY;
    let found = loop {
        tracing::info!("{marker}");
        let line = monitor
            .wait_line_async(Duration::from_millis(300), |l| l.contains(&marker))
            .await;
        if let Some(line) = line {
            break line;
        }
        assert!(
            !monitor.output_ended(),
            "monitor ended: {:?}",
            monitor.seen()
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the monitor did not print the log line: {:?}",
            monitor.seen()
        );
    };
    assert!(found.contains("[INFO]"), "{found}");
    drop(monitor); // killed by PID
    c.shutdown().await;
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
