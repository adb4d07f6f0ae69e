//! Serfer nodes on the HashiCorp wire (`Wire::HashiCorp`) in clusters with real
//! `serf agent` 0.9.4 processes: joins both ways, events, queries, tags, leave, kill,
//! wrong keys, key rotation, and a mixed cluster kept for 60 s.
//!
//! Each test re-runs itself inside a network namespace of its own (`unshare -n`, with
//! only a loopback), so the agents and nodes it starts see nothing else. It needs
//! Debian's `serf` and permission to create a network namespace; without either it
//! prints a skip notice, and under `CI=true` it fails instead.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serfer::testing::agent::{serf_binary, Agent, AgentOptions};
use serfer::testing::bounds::{COMMAND, FAILURE, GOSSIP, LAN_DELIVERY, START};
use serfer::testing::process::{example, try_run_sync, Proc};
use serfer::testing::{wait_for_status, wait_until, Recorder};
use serfer::{MemberEvent, MemberStatus, Node, Query, QueryOptions, State, UserEvent, Wire};

/// Set in the re-run inside the namespace, to the name of the test to run.
const INSIDE: &str = "SERFER_NETNS_TEST";
/// The most one test may take inside its namespace.
const TEST_BOUND: Duration = Duration::from_secs(300);

const KEY: &str = "QUJDREVGR0hJSktMTU5PUA==";
const OTHER_KEY: &str = "cGxlYXNlIHJvdGF0ZSBtZQ==";

// ---------------------------------------------------------------------------
// Running a test in its own network namespace
// ---------------------------------------------------------------------------

/// Runs `body` inside a fresh network namespace: the test re-executes its own binary
/// under `unshare -n`, filtered to itself, and checks that exactly this test passed
/// there. Inside, it brings the loopback up and runs `body`.
fn in_netns<F, Fut>(test: &str, body: F)
where
    F: FnOnce(std::path::PathBuf) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(serf) = serf_binary(test) else {
        return;
    };
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        let up = try_run_sync(
            Command::new("ip").args(["link", "set", "lo", "up"]),
            COMMAND,
        )
        .expect("ip runs (apt-get install iproute2)");
        assert_eq!(
            up.code, 0,
            "could not bring up the namespace's loopback: {up:?}"
        );
        init_logs();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(body(serf));
        return;
    }
    let probe = try_run_sync(Command::new("unshare").args(["-n", "true"]), COMMAND);
    if !probe.as_ref().is_ok_and(|o| o.code == 0) {
        let why = match &probe {
            Ok(o) => o.stderr.trim().to_owned(),
            Err(e) => e.to_string(),
        };
        let msg = format!("{test}: SKIPPED, cannot create a network namespace: {why}");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI must run the HashiCorp wire tests)");
        }
        // libtest captures `eprintln!` but not a direct write: the skip stays visible.
        let _ = writeln!(std::io::stderr(), "{msg}");
        return;
    }
    let log = std::env::temp_dir().join(format!("serfer-netns-{test}-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).expect("log file");
    let mut inside = Proc::spawn(
        format!("{test} in a network namespace"),
        Command::new("unshare")
            .arg("-n")
            .arg("--")
            .arg(std::env::current_exe().expect("test binary path"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(INSIDE, test)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("duplicate log handle"))
            .stderr(out),
    );
    // `unshare` execs the test binary: this PID is the re-run's, killed past the bound.
    let status = inside.try_wait_exit(TEST_BOUND).map(|s| s.success());
    inside.kill();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let passed = output.contains("test result: ok. 1 passed");
    assert!(
        status == Some(true) && passed,
        "{test} failed in its network namespace ({}):\n{output}",
        match status {
            None => format!("killed after {TEST_BOUND:?}"),
            Some(_) => "exit status".to_owned(),
        }
    );
}

// ---------------------------------------------------------------------------
// What Serfer nodes log, counted
// ---------------------------------------------------------------------------

/// Every warning and error logged in this process, and every serf-rs line about
/// suspecting or refuting, as `target: message`.
static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Collect;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let level = *event.metadata().level();
        let text = m.0.to_lowercase();
        if level <= tracing::Level::WARN || text.contains("suspect") || text.contains("refut") {
            let line = format!("{} {}: {}", level, event.metadata().target(), m.0);
            LOGGED.lock().unwrap().push(line);
        }
    }
}

fn init_logs() {
    use tracing_subscriber::layer::{Layer as _, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    // With RUST_LOG set, the Serfer nodes' log is shown too (with a failure).
    let shown = std::env::var("RUST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    let _ = tracing_subscriber::registry()
        .with(shown)
        .with(Collect.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init();
}

fn logged_since(mark: usize) -> Vec<String> {
    LOGGED.lock().unwrap()[mark..].to_vec()
}

// ---------------------------------------------------------------------------
// Serfer nodes
// ---------------------------------------------------------------------------

/// What a Serfer node's handlers saw: `deploy` payloads and member events.
#[derive(Clone, Default)]
struct Seen {
    events: Recorder<String>,
    members: Recorder<String>,
}

async fn on_deploy(ev: UserEvent<String>, State(seen): State<Seen>) {
    seen.events.record(ev.into_payload());
}

async fn whoami(_: Query<()>, node: Node) -> String {
    format!("serfer-{}", node.name())
}

async fn on_member(ev: MemberEvent, State(seen): State<Seen>) {
    for m in ev.members() {
        seen.members.record(format!("{} {}", ev.kind(), m.name));
    }
}

/// A Serfer node on the HashiCorp wire, Go's LAN timings, tag `role=serfer`.
async fn serfer_node(name: &str, key: Option<&str>, join: &[String]) -> (Node, Seen) {
    let seen = Seen::default();
    let mut b = Node::builder()
        .engine(serfer::testing::engine())
        .name(name)
        .bind("127.0.0.1:0")
        .wire(Wire::HashiCorp)
        .tag("role", "serfer")
        .user_event("deploy", on_deploy)
        .query("whoami", whoami)
        .any_member_event(on_member)
        .state(seen.clone());
    if let Some(k) = key {
        b = b.key(k);
    }
    for a in join {
        b = b.join(a.clone());
    }
    let node = b
        .start()
        .await
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    (node, seen)
}

fn agent_config(name: &str, key: Option<&str>, join: &[std::net::SocketAddr]) -> AgentOptions {
    AgentOptions {
        key: key.map(str::to_owned),
        join: join.to_vec(),
        tags: vec![("role".into(), "agent".into())],
        answers: vec![("whoami".into(), format!("agent-{name}"))],
        ..AgentOptions::default()
    }
}

async fn wait_alive(node: &Node, name: &str) {
    wait_for_status(node, name, MemberStatus::Alive, LAN_DELIVERY)
        .await
        .unwrap();
}

/// Waits until `rec` records `value` (skipping what came before it).
async fn saw(rec: &Recorder<String>, value: &str) {
    saw_within(rec, value, LAN_DELIVERY).await
}

/// As [`saw`], waiting at most `bound`.
async fn saw_within(rec: &Recorder<String>, value: &str, bound: Duration) {
    let deadline = tokio::time::Instant::now() + bound;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match rec.next(left).await {
            Some(v) if v == value => return,
            Some(v) => before.push(v),
            None => panic!("{value:?} not recorded within {bound:?}; recorded {before:?}"),
        }
    }
}

/// Waits until `node` lists `name` with tag `role=value`.
async fn wait_tag(node: &Node, name: &str, value: &str) {
    wait_until(
        LAN_DELIVERY,
        &format!("{} to see {name} role={value}", node.name()),
        || async {
            node.members()
                .await
                .iter()
                .any(|m| m.name == name && m.tags.get("role").map(String::as_str) == Some(value))
        },
    )
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

/// Joins both ways, tags, events both ways, queries both ways, tag updates both ways
/// and a graceful leave, with or without a shared key.
async fn two_agents_two_serfer_nodes(serf: std::path::PathBuf, key: Option<&str>) {
    // An agent joins a Serfer node…
    let (s1, seen1) = serfer_node("s1", key, &[]).await;
    let a1 = Agent::start(&serf, "a1", agent_config("a1", key, &[s1.addr()])).await;
    // …and a Serfer node joins an agent.
    let (s2, seen2) = serfer_node("s2", key, &[a1.bind().to_string()]).await;

    for name in ["s1", "s2"] {
        let m = a1.wait_status(name, "alive").await;
        assert_eq!(m["tags"]["role"], "serfer", "{m}");
    }
    for node in [&s1, &s2] {
        wait_alive(node, "a1").await;
        wait_tag(node, "a1", "agent").await;
        wait_alive(node, if node.name() == "s1" { "s2" } else { "s1" }).await;
    }

    // `serf event` reaches both Serfer handlers with its payload.
    a1.cli("event", &["deploy", "v2"]).await;
    for seen in [&seen1, &seen2] {
        assert_eq!(seen.events.next(LAN_DELIVERY).await.as_deref(), Some("v2"));
    }
    // A Serfer event reaches the agent's `-event-handler` script.
    s1.event("deploy", &"v3".to_owned()).await.unwrap();
    a1.wait_event("deploy v3").await;

    // `serf query` gets both Serfer handlers' answers and acks.
    let out = a1
        .cli("query", &["-format=json", "-timeout=5s", "whoami"])
        .await;
    let json: serde_json::Value = serde_json::from_str(&out).expect("query JSON");
    for name in ["s1", "s2"] {
        assert_eq!(json["Responses"][name], format!("serfer-{name}"), "{out}");
        assert!(
            json["Acks"].as_array().unwrap().iter().any(|a| a == name),
            "{out}"
        );
    }
    // A Serfer query gets the agent's `query:` handler's answer and ack (and the
    // other Serfer node's).
    let result = s1
        .query(
            "whoami",
            &(),
            QueryOptions::new()
                .request_ack(true)
                .timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap()
        .collect()
        .await;
    let answers: BTreeMap<String, String> = result
        .decode::<String>()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap()))
        .collect();
    assert_eq!(
        answers.get("a1").map(String::as_str),
        Some("agent-a1"),
        "{result:?}"
    );
    assert_eq!(
        answers.get("s2").map(String::as_str),
        Some("serfer-s2"),
        "{result:?}"
    );
    assert!(
        result.acks.contains("a1") && result.acks.contains("s2"),
        "{result:?}"
    );

    // Tag updates cross both ways.
    s1.set_tags([("role".to_owned(), "web".to_owned())].into())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + LAN_DELIVERY;
    while a1.members().await["s1"]["tags"]["role"] != "web" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a1 never saw s1's new tag"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a1.cli("tags", &["-set", "role=db"]).await;
    wait_tag(&s2, "a1", "db").await;
    saw(&seen2.members, "update a1").await;

    // A graceful leave is `left` on the other side.
    s2.leave().await.unwrap();
    a1.wait_status("s2", "left").await;
    wait_for_status(&s1, "s2", MemberStatus::Left, LAN_DELIVERY)
        .await
        .unwrap();
    s1.shutdown().await.unwrap();
    assert_quiet(&[&a1]);
}

/// A burst of events from a Serfer node reaches an agent whole, by gossip: the
/// native engine fills a gossip packet up to 1,400 bytes *after* compression
/// (more events than Go's budget of raw bytes puts in one), which Go's
/// memberlist must decompress and take part by part without a complaint.
#[test]
fn a_burst_of_events_reaches_the_agent_whole() {
    in_netns(
        "a_burst_of_events_reaches_the_agent_whole",
        |serf| async move {
            const BURST: usize = 150;
            let (s1, _seen) = serfer_node("s1", None, &[]).await;
            let a1 = Agent::start(&serf, "a1", agent_config("a1", None, &[s1.addr()])).await;
            a1.wait_status("s1", "alive").await;
            wait_alive(&s1, "a1").await;
            for k in 0..BURST {
                s1.event("deploy", &format!("burst-{k}")).await.unwrap();
            }
            // 150 events of ~40 bytes, each sent 4 × ceil(log10 3) = 4 times to the
            // one peer, one packet a 200 ms round: a few seconds by gossip, within
            // GOSSIP's bound. (A push/pull could carry what a packet lost, but a
            // packet Go cannot read is an `[ERR]` line `assert_quiet` reports.)
            let burst_lines = || -> Vec<String> {
                a1.events()
                    .into_iter()
                    .filter(|l| l.starts_with("deploy burst-"))
                    .collect()
            };
            wait_until(GOSSIP, "the burst at the agent's handler", || async {
                burst_lines().len() >= BURST
            })
            .await
            .unwrap_or_else(|e| panic!("{e}: it saw {} of {BURST}", burst_lines().len()));
            let all = burst_lines();
            let distinct: std::collections::BTreeSet<&String> = all.iter().collect();
            assert_eq!(distinct.len(), BURST, "duplicates: {all:?}");
            assert_quiet(&[&a1]);
            s1.shutdown().await.unwrap();
        },
    );
}

/// Neither the agents nor this process's Serfer nodes logged a memberlist or Serf
/// warning, or anything about suspicion or refutation.
fn assert_quiet(agents: &[&Agent]) {
    for a in agents {
        a.assert_no_complaints(&[]);
    }
    let ours: Vec<String> = logged_since(0)
        .into_iter()
        // What serf-rs says when a node is shut down without leaving, as tests do.
        .filter(|l| !l.contains("shutdown without a leave"))
        .collect();
    assert!(
        ours.is_empty(),
        "the Serfer nodes logged:\n{}",
        ours.join("\n")
    );
}

#[test]
fn plain_cluster_of_agents_and_serfer_nodes() {
    in_netns("plain_cluster_of_agents_and_serfer_nodes", |serf| {
        two_agents_two_serfer_nodes(serf, None)
    });
}

#[test]
fn encrypted_cluster_of_agents_and_serfer_nodes() {
    in_netns("encrypted_cluster_of_agents_and_serfer_nodes", |serf| {
        two_agents_two_serfer_nodes(serf, Some(KEY))
    });
}

/// A wrong key, or none, is refused in both directions, and nobody lists the
/// refused node.
#[test]
fn a_wrong_key_is_refused_both_ways() {
    in_netns("a_wrong_key_is_refused_both_ways", |serf| async move {
        let (s1, _) = serfer_node("s1", Some(KEY), &[]).await;
        let a1 = Agent::start(&serf, "a1", agent_config("a1", Some(OTHER_KEY), &[])).await;
        let a2 = Agent::start(&serf, "a2", agent_config("a2", None, &[])).await;

        // Agents joining the Serfer node with another key, or without one.
        for a in [&a1, &a2] {
            let run = a.try_cli("join", &[&s1.addr().to_string()]).await;
            assert_ne!(
                run.code,
                0,
                "{} joined s1 with the wrong key: {run:?}",
                a.name()
            );
        }
        // Serfer nodes joining the agent with another key, or without one.
        for (name, key) in [("s2", Some(KEY)), ("s3", None)] {
            let refused = Node::builder()
                .engine(serfer::testing::engine())
                .name(name)
                .bind("127.0.0.1:0")
                .wire(Wire::HashiCorp)
                .join(a1.bind().to_string());
            let refused = match key {
                Some(k) => refused.key(k),
                None => refused,
            };
            match refused.start().await {
                Err(serfer::Error::JoinFailed { .. }) => {}
                Err(e) => panic!("{name}: expected JoinFailed, got {e}"),
                Ok(_) => panic!("{name} joined a1 with the wrong key"),
            }
        }
        let names: Vec<String> = s1.members().await.into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["s1"]);
        for a in [&a1, &a2] {
            let members = a.members().await;
            assert_eq!(
                members.keys().collect::<Vec<_>>(),
                [a.name()],
                "{members:#?}"
            );
        }
        s1.shutdown().await.unwrap();
    });
}

/// A stock agent joining a node on serf-rs's wire cannot, and the node says
/// why in one line naming `--wire hashicorp`, once per host.
#[test]
fn a_node_on_the_other_wire_says_so() {
    in_netns("a_node_on_the_other_wire_says_so", |serf| async move {
        for key in [None, Some(KEY)] {
            // The mismatch is recognised by serf-rs's transport: this test is about it.
            let mut b = Node::builder()
                .engine(serfer::Engine::SerfRs)
                .name("serf-rs-wire")
                .bind("127.0.0.1:0");
            if let Some(k) = key {
                b = b.key(k);
            }
            let node = b.start().await.expect("the node starts");
            let a1 = Agent::start(&serf, "a1", agent_config("a1", key, &[])).await;
            let mark = LOGGED.lock().unwrap().len();
            // Two attempts: the second must not repeat the line.
            for _ in 0..2 {
                let run = a1.try_cli("join", &[&node.addr().to_string()]).await;
                assert_ne!(run.code, 0, "an agent joined a serf-rs-wire node: {run:?}");
            }
            let hint = |lines: &[String]| {
                lines
                    .iter()
                    .filter(|l| l.contains("--wire hashicorp") && l.contains("serf agent"))
                    .count()
            };
            wait_until(
                LAN_DELIVERY,
                "the node to name --wire hashicorp",
                || async { hint(&logged_since(mark)) > 0 },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}; logged: {:#?}", logged_since(mark)));
            assert_eq!(hint(&logged_since(mark)), 1, "{:#?}", logged_since(mark));
            node.shutdown().await.unwrap();
        }
    });
}

/// `serf keys` from an agent rotates the Serfer nodes' keys too: after install, use
/// and remove, only the new key is left everywhere, and events still cross both ways.
#[test]
fn an_agent_rotates_the_key_of_serfer_nodes() {
    in_netns(
        "an_agent_rotates_the_key_of_serfer_nodes",
        |serf| async move {
            let (s1, seen1) = serfer_node("s1", Some(KEY), &[]).await;
            let a1 = Agent::start(&serf, "a1", agent_config("a1", Some(KEY), &[s1.addr()])).await;
            a1.wait_status("s1", "alive").await;
            wait_alive(&s1, "a1").await;

            for args in [
                ["-install", OTHER_KEY],
                ["-use", OTHER_KEY],
                ["-remove", KEY],
            ] {
                let out = a1.cli("keys", &args).await;
                assert!(!out.contains("Error"), "serf keys {args:?}: {out}");
            }
            let listed = a1.cli("keys", &["-list"]).await;
            assert!(
                listed
                    .lines()
                    .any(|l| l.split_whitespace().eq([OTHER_KEY, "[2/2]"])),
                "{listed}"
            );
            assert!(!listed.contains(KEY), "{listed}");
            // And the Serfer node's own key query across both implementations agrees.
            let report = s1.list_keys().await.unwrap();
            let keys: Vec<(String, usize)> = report
                .keys
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect();
            assert_eq!(keys, [(OTHER_KEY.to_owned(), 2)], "{report:?}");

            // Only the new key is left: traffic crosses both ways, and a new agent that
            // has only the new key joins the Serfer node.
            a1.cli("event", &["deploy", "after-rotation"]).await;
            assert_eq!(
                seen1.events.next(LAN_DELIVERY).await.as_deref(),
                Some("after-rotation")
            );
            s1.event("deploy", &"from-s1".to_owned()).await.unwrap();
            a1.wait_event("deploy from-s1").await;
            // The rotation's queries are relayed for a few more rounds, and a
            // node that joins meanwhile runs them: Go's Serf takes any query
            // newer than its snapshot, so a2 would run the old `remove-key`
            // after the install below. a2 starts once neither queue holds one.
            wait_until(
                LAN_DELIVERY,
                "the rotation's queries to be sent",
                || async {
                    s1.stats().await.query_queue == 0
                        && a1
                            .cli("info", &[])
                            .await
                            .lines()
                            .any(|l| l.split_whitespace().eq(["query_queue", "=", "0"]))
                },
            )
            .await
            .unwrap();
            let a2 = Agent::start(
                &serf,
                "a2",
                agent_config("a2", Some(OTHER_KEY), &[s1.addr()]),
            )
            .await;
            a2.wait_status("s1", "alive").await;
            wait_alive(&s1, "a2").await;

            // The other way: the Serfer node installs a key on the agents.
            let old: serfer::Key = KEY.parse().unwrap();
            let report = s1.install_key(&old).await.unwrap();
            assert_eq!((report.responses, report.errors), (3, 0), "{report:?}");
            let listed = a2.cli("keys", &["-list"]).await;
            assert!(
                listed
                    .lines()
                    .any(|l| l.split_whitespace().eq([KEY, "[3/3]"])),
                "{listed}"
            );
            s1.shutdown().await.unwrap();
            assert_quiet(&[&a1, &a2]);
        },
    );
}

/// A Serfer process started by `serfer::run!()` (the multi-host probe) with
/// `--wire hashicorp`, joined to `join`, once it says `READY` (at most
/// [`START`]); killed by PID when dropped.
fn serfer_process(name: &str, join: std::net::SocketAddr) -> Proc {
    let mut p = Proc::spawn(
        name,
        Command::new(example("serfer-probe"))
            .args([
                "--node",
                name,
                "--bind",
                "127.0.0.1:0",
                "--wire",
                "hashicorp",
            ])
            .args(["--join", &join.to_string(), "--log", "warn"])
            // Kept open: the probe reads commands from it until it closes.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    if p.wait_line(START, |l| l.starts_with("READY")).is_none() {
        panic!("{name} did not start within {START:?}: {:?}", p.seen());
    }
    p
}

/// `kill -9` of a Serfer process is `failed` for an agent; `kill -9` of an agent is
/// `failed` for a Serfer node, and `serf leave` is `left`.
#[test]
fn kill_and_leave_are_seen_across() {
    in_netns("kill_and_leave_are_seen_across", |serf| async move {
        let (s1, seen1) = serfer_node("s1", None, &[]).await;
        let a1 = Agent::start(&serf, "a1", agent_config("a1", None, &[s1.addr()])).await;
        let mut a2 = Agent::start(&serf, "a2", agent_config("a2", None, &[s1.addr()])).await;
        let mut p = serfer_process("p", a1.bind());
        for a in [&a1, &a2] {
            a.wait_status("p", "alive").await;
        }
        wait_alive(&s1, "p").await;

        p.kill();
        a1.wait_status_within("p", "failed", FAILURE).await;
        saw_within(&seen1.members, "failed p", FAILURE).await;

        a2.kill();
        saw_within(&seen1.members, "failed a2", FAILURE).await;
        a1.wait_status_within("a2", "failed", FAILURE).await;

        a1.cli("leave", &[]).await;
        saw(&seen1.members, "leave a1").await;
        wait_for_status(&s1, "a1", MemberStatus::Left, LAN_DELIVERY)
            .await
            .unwrap();
        s1.shutdown().await.unwrap();
    });
}

/// Two agents and two Serfer nodes stay converged for 60 s: every view lists all
/// four alive throughout, and nobody suspects, refutes or updates anybody.
#[test]
fn a_mixed_cluster_stays_converged_for_a_minute() {
    in_netns(
        "a_mixed_cluster_stays_converged_for_a_minute",
        |serf| async move {
            let (s1, seen1) = serfer_node("s1", Some(KEY), &[]).await;
            let a1 = Agent::start(&serf, "a1", agent_config("a1", Some(KEY), &[s1.addr()])).await;
            let (s2, seen2) = serfer_node("s2", Some(KEY), &[a1.bind().to_string()]).await;
            let a2 = Agent::start(&serf, "a2", agent_config("a2", Some(KEY), &[s2.addr()])).await;
            let everyone = ["a1", "a2", "s1", "s2"];
            for a in [&a1, &a2] {
                for name in everyone {
                    a.wait_status(name, "alive").await;
                }
            }
            for s in [&s1, &s2] {
                for name in everyone {
                    wait_alive(s, name).await;
                }
            }
            // The joins are behind; from here on nothing may change.
            for seen in [&seen1, &seen2] {
                seen.members.drain_for(Duration::from_millis(500)).await;
            }
            let agent_logs_before: Vec<usize> = [&a1, &a2].iter().map(|a| a.log().len()).collect();
            let watch = async {
                // 30 looks, one every 2 s: every view lists all four alive.
                for _ in 0..30 {
                    for a in [&a1, &a2] {
                        let members = a.members().await;
                        let alive: Vec<&str> = members
                            .iter()
                            .filter(|(_, m)| m["status"] == "alive")
                            .map(|(n, _)| n.as_str())
                            .collect();
                        assert_eq!(alive, everyone, "{}'s view: {members:#?}", a.name());
                    }
                    for s in [&s1, &s2] {
                        let mut alive: Vec<String> = s
                            .members()
                            .await
                            .into_iter()
                            .filter(|m| m.status == MemberStatus::Alive)
                            .map(|m| m.name)
                            .collect();
                        alive.sort();
                        assert_eq!(alive, everyone, "{}'s view", s.name());
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            };
            let window = Duration::from_secs(60);
            let ((), events1, events2) = tokio::join!(
                watch,
                seen1.members.drain_for(window),
                seen2.members.drain_for(window)
            );
            assert!(
                events1.is_empty() && events2.is_empty(),
                "member events: {events1:?} {events2:?}"
            );
            for (a, before) in [&a1, &a2].iter().zip(agent_logs_before) {
                let log = a.log();
                let flaps: Vec<&str> = log[before..]
                    .lines()
                    .filter(|l| {
                        [
                            "Suspect",
                            "suspect",
                            "Refuting",
                            "Marking",
                            "EventMember",
                            "failed",
                        ]
                        .iter()
                        .any(|w| l.contains(w))
                    })
                    .collect();
                assert!(
                    flaps.is_empty(),
                    "{} in the minute:\n{}",
                    a.name(),
                    flaps.join("\n")
                );
            }
            assert_quiet(&[&a1, &a2]);
            s1.shutdown().await.unwrap();
            s2.shutdown().await.unwrap();
        },
    );
}

/// The README's three terminals, as written there (a namespace of its own leaves the
/// default ports free): the `node` example on the HashiCorp wire, a stock agent
/// joining it with the example's key, and `serf members`, `event` and `query`.
#[test]
fn the_readme_walkthrough() {
    in_netns("the_readme_walkthrough", |serf| async move {
        // terminal 1
        // As the README: HashiCorp's wire is the default. The serf-rs engine
        // (`SERFER_ENGINE=serf-rs`, which the example reads) needs it named.
        let mut args = vec!["--node", "serfer-1"];
        if serfer::testing::engine() == serfer::Engine::SerfRs {
            args.extend(["--wire", "hashicorp"]);
        }
        let mut node = Proc::example("node", &args, &[]);
        assert_eq!(node.serfer_addr(), "127.0.0.1:7946");
        // terminal 2: `serf agent -node=go-1 -bind=127.0.0.1:7947 -rpc-addr=127.0.0.1:7373
        //   -encrypt=U3VwZXJTZWN1cmVUb2tlbg== -join=127.0.0.1:7946`
        let agent = Agent::start(
            &serf,
            "go-1",
            AgentOptions {
                key: Some("U3VwZXJTZWN1cmVUb2tlbg==".into()),
                join: vec!["127.0.0.1:7946".parse().unwrap()],
                addrs: Some((
                    "127.0.0.1:7947".parse().unwrap(),
                    "127.0.0.1:7373".parse().unwrap(),
                )),
                ..AgentOptions::default()
            },
        )
        .await;
        node.wait_for("{ go-1\talive\t127.0.0.1:7947", LAN_DELIVERY);
        // terminal 3
        let members = agent.cli("members", &[]).await;
        for row in [
            ["serfer-1", "127.0.0.1:7946", "alive"],
            ["go-1", "127.0.0.1:7947", "alive"],
        ] {
            assert!(
                members.lines().any(|l| l.split_whitespace().eq(row)),
                "no {row:?} in:\n{members}"
            );
        }
        let out = agent.cli("event", &["useless", "from the Go side"]).await;
        assert!(out.contains("Event 'useless' dispatched!"), "{out}");
        node.wait_for(
            "Received user event \"useless\" number 1 with payload \"from the Go side\"",
            LAN_DELIVERY,
        );
        let out = agent.cli("query", &["status", "how are you?"]).await;
        for line in [
            "Ack from 'serfer-1'",
            "Ack from 'go-1'",
            "Response from 'serfer-1': I am OK, thanks for asking",
            "Total Acks: 2",
            "Total Responses: 1",
        ] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
        }
        assert!(node.terminate().success());
        assert_quiet(&[&agent]);
    });
}
