//! Live interoperability with a real HashiCorp `serf agent` (Debian's
//! `/usr/bin/serf`) on loopback: our memberlist core joins the agent and is
//! joined by it; our Serf node ([`SerfNode`]) joins both ways, shows in
//! `serf members` with its tags, exchanges user events and queries both
//! ways, leaves as `left`, speaks encrypted gossip, refuses a wrong key, and
//! follows `serf keys` rotations.
//!
//! Skipped with a notice when the binary is missing, unless `CI=true`, where
//! it fails instead. Only 127.0.0.1 is used; the agent is killed by PID when
//! the test ends, whatever happens.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use serfer_engine::memberlist::{Config, Keyring, MemberState};
use serfer_engine::net::Node;
use serfer_engine::net::{NetError, QueryAnswer, SerfNode};
use serfer_engine::serf::{base64_encode, Event, MemberStatus, QueryParams, SerfConfig};
use serfer_wire::serf::{LeaveIntent, SerfMessage};

const SERF: &str = "/usr/bin/serf";

/// A port free for both TCP and UDP on 127.0.0.1.
fn free_port() -> u16 {
    for _ in 0..64 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// The agent process, killed by PID on drop.
struct Agent {
    child: Child,
    rpc: String,
    gossip: SocketAddr,
    log: std::path::PathBuf,
}

impl Agent {
    fn start(name: &str) -> Agent {
        Agent::start_with(name, &[])
    }

    /// An agent with extra flags (`-encrypt`, `-event-handler`, `-tag`).
    fn start_with(name: &str, extra: &[String]) -> Agent {
        let gossip_port = free_port();
        let rpc_port = free_port();
        let log = std::env::temp_dir().join(format!(
            "serfer-engine-interop-{}-{name}.log",
            std::process::id()
        ));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(SERF)
            .args([
                "agent",
                "-node",
                name,
                "-bind",
                &format!("127.0.0.1:{gossip_port}"),
                "-rpc-addr",
                &format!("127.0.0.1:{rpc_port}"),
                "-log-level",
                "debug",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start serf agent");
        Agent {
            child,
            rpc: format!("-rpc-addr=127.0.0.1:{rpc_port}"),
            gossip: SocketAddr::from(([127, 0, 0, 1], gossip_port)),
            log,
        }
    }

    /// `serf members` output, or `None` while the agent does not answer.
    fn members(&self) -> Option<String> {
        let out = Command::new(SERF)
            .args(["members", &self.rpc])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The status column of `node` in `serf members`.
    fn status_of(&self, node: &str) -> Option<String> {
        let members = self.members()?;
        members.lines().find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.first() == Some(&node)).then(|| cols.get(2).unwrap_or(&"").to_string())
        })
    }

    /// Runs `serf <args> -rpc-addr=…`; (success, stdout + stderr).
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(SERF)
            .arg(args[0])
            .arg(&self.rpc)
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .expect("run serf");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// The `serf members` line of `node`.
    fn member_line(&self, node: &str) -> Option<String> {
        self.members()?
            .lines()
            .find(|l| l.split_whitespace().next() == Some(node))
            .map(str::to_owned)
    }

    fn join(&self, addr: SocketAddr) -> bool {
        Command::new(SERF)
            .args(["join", &self.rpc, &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits (10 s at most) until the agent lists `node` as `status`.
    async fn shows(&self, node: &str, status: &str) -> bool {
        eventually(Duration::from_secs(10), async || {
            self.status_of(node).as_deref() == Some(status)
        })
        .await
    }

    fn log_contains(&self, text: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains(text))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Only the process this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Polls `check` every 100 ms until it holds or `within` passes.
async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn sees_alive(node: &Node, name: &str) -> bool {
    node.members()
        .await
        .iter()
        .any(|m| m.name == name && m.state == MemberState::Alive)
}

fn lan(name: &str, seed: u64) -> Config {
    let mut c = Config::lan(name, SocketAddr::from(([127, 0, 0, 1], 0)));
    c.seed = seed;
    c
}

/// False (with a notice) when the agent binary is missing; fails in CI.
fn have_serf() -> bool {
    if Path::new(SERF).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{SERF} is missing in CI (apt-get install serf)");
    }
    println!("SKIPPED: {SERF} is not installed");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_a_go_agent_and_is_joined_by_one() {
    if !have_serf() {
        return;
    }
    let agent = Agent::start("go-agent");
    assert!(
        eventually(Duration::from_secs(10), async || agent.members().is_some()).await,
        "agent did not start:\n{}",
        agent.log_tail()
    );

    // Our core joins the agent with a push/pull.
    let ours = Node::start(lan("rust-a", 0x5eed_0001)).await.unwrap();
    assert_eq!(
        ours.join(vec![agent.gossip]).await,
        1,
        "push/pull join failed:\n{}",
        agent.log_tail()
    );
    // Bound: the push/pull itself merges both ways, so a few RPC polls suffice;
    // 10 s also covers a probe round and a gossip round on the agent's side.
    assert!(
        eventually(Duration::from_secs(10), async || {
            agent.status_of("rust-a").as_deref() == Some("alive")
                && sees_alive(&ours, "go-agent").await
        })
        .await,
        "rust-a not alive at the agent, or go-agent not alive here: {:?}\n{}",
        agent.members(),
        agent.log_tail()
    );

    // The agent joins another core of ours (it dials our TCP listener).
    let joined = Node::start(lan("rust-b", 0x5eed_0002)).await.unwrap();
    assert!(
        agent.join(joined.local_addr()),
        "serf join failed:\n{}",
        agent.log_tail()
    );
    assert!(
        eventually(Duration::from_secs(10), async || {
            agent.status_of("rust-b").as_deref() == Some("alive")
                && sees_alive(&joined, "go-agent").await
                && sees_alive(&joined, "rust-a").await
                && sees_alive(&ours, "rust-b").await
        })
        .await,
        "agent-initiated join did not converge: {:?}\n{}",
        agent.members(),
        agent.log_tail()
    );

    // Staying alive under the agent's probes: the window is counted in
    // traffic, not waited out. Each of our nodes takes in three more packets
    // (the agent's probes and gossip, and each other's; the agent probes a
    // member a second), and the agent still has both alive.
    let received = async |node: &Node| node.stats().await.unwrap().packets_received;
    let (a0, b0) = (received(&ours).await, received(&joined).await);
    assert!(
        eventually(Duration::from_secs(30), async || {
            received(&ours).await >= a0 + 3 && received(&joined).await >= b0 + 3
        })
        .await,
        "the agent stopped talking to us:\n{}",
        agent.log_tail()
    );
    assert_eq!(agent.status_of("rust-a").as_deref(), Some("alive"));
    assert_eq!(agent.status_of("rust-b").as_deref(), Some("alive"));

    // Graceful leave. Serf shows `left` (not `failed`) only after a Serf leave
    // intent, which the Serf layer will send; until then the test sends it as
    // a user broadcast, then lets the core gossip `dead{From: self}`.
    let intent = SerfMessage::Leave(LeaveIntent {
        ltime: 1,
        node: "rust-a".into(),
        prune: false,
    })
    .encode()
    .unwrap();
    ours.queue_broadcast(intent).await.unwrap();
    // Go's Serf shows a member `leaving` once it has its leave intent.
    assert!(
        agent.shows("rust-a", "leaving").await,
        "leave intent not at the agent: {:?}\n{}",
        agent.members(),
        agent.log_tail()
    );
    assert!(
        ours.leave(Duration::from_secs(5)).await,
        "leave not gossiped within 5 s"
    );
    assert!(
        agent.shows("rust-a", "left").await,
        "rust-a not left at the agent: {:?}\n{}",
        agent.members(),
        agent.log_tail()
    );
    assert!(
        eventually(Duration::from_secs(5), async || {
            joined
                .members()
                .await
                .iter()
                .any(|m| m.name == "rust-a" && m.state == MemberState::Left)
        })
        .await
    );
    ours.shutdown().await;
    joined.shutdown().await;
    drop(agent);
}

fn serf_config(name: &str, seed: u64, key: Option<&[u8]>) -> SerfConfig {
    let mut c = SerfConfig::new(lan(name, seed));
    c.tags = BTreeMap::from([("role".into(), "rust".into()), ("dc".into(), "x1".into())]);
    if let Some(k) = key {
        c.memberlist.keyring = Keyring::new(k.to_vec(), vec![]).unwrap();
    }
    c
}

/// The next event from `node` matching `pred` within `within`.
async fn next_event(
    node: &mut SerfNode,
    within: Duration,
    mut pred: impl FnMut(&Event) -> bool,
) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, node.events().recv()).await {
            Ok(Some(e)) if pred(&e) => return Some(e),
            Ok(Some(_)) => {}
            _ => return None,
        }
    }
}

async fn serf_sees(node: &SerfNode, name: &str, status: MemberStatus) -> bool {
    node.members()
        .await
        .unwrap_or_default()
        .iter()
        .any(|m| m.name == name && m.status == status)
}

/// Our Serf node against a Go agent, plaintext: joins both ways, `serf
/// members` shows our tags, user events and queries both ways, graceful leave.
/// Waits are bounded by the agent's timings: a push/pull join merges at once;
/// gossip reaches 1 peer in one 200 ms round; the agent's default query
/// timeout is 200 ms × 16 × ceil(log10(3+1)) = 3.2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serf_node_and_go_agent_events_queries_leave() {
    if !have_serf() {
        return;
    }
    let dir =
        std::env::temp_dir().join(format!("serfer-engine-serf-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events_file = dir.join("user-events");
    let agent = Agent::start_with(
        "go-agent",
        &[
            "-event-handler".into(),
            format!(
                "user:from-rust=cat >> {}; echo >> {}",
                events_file.display(),
                events_file.display()
            ),
            "-event-handler".into(),
            "query:ask-go=printf go-answer".into(),
            "-tag".into(),
            "lang=go".into(),
        ],
    );
    assert!(
        eventually(Duration::from_secs(10), async || agent.members().is_some()).await,
        "agent did not start:\n{}",
        agent.log_tail()
    );

    // Our node joins the agent.
    let t0 = Instant::now();
    let mut ours = SerfNode::start(serf_config("rust-a", 0x5eed_0101, None))
        .await
        .unwrap();
    assert_eq!(ours.join(vec![agent.gossip], false).await, Ok(1));
    assert!(
        eventually(Duration::from_secs(10), async || {
            agent.member_line("rust-a").is_some_and(|l| {
                l.contains(" alive ") && l.contains("role=rust") && l.contains("dc=x1")
            }) && serf_sees(&ours, "go-agent", MemberStatus::Alive).await
        })
        .await,
        "rust-a not alive with its tags at the agent: {:?}\n{}",
        agent.members(),
        agent.log_tail()
    );
    println!("join both ways visible after {:?}", t0.elapsed());
    let go_tags = ours
        .members()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.name == "go-agent")
        .unwrap()
        .tags;
    assert_eq!(go_tags.get("lang").map(String::as_str), Some("go"));

    // The agent joins a second node of ours.
    let second = SerfNode::start(serf_config("rust-b", 0x5eed_0102, None))
        .await
        .unwrap();
    assert!(
        agent.join(second.local_addr()),
        "serf join failed:\n{}",
        agent.log_tail()
    );
    assert!(
        eventually(Duration::from_secs(10), async || {
            agent.status_of("rust-b").as_deref() == Some("alive")
                && serf_sees(&second, "rust-a", MemberStatus::Alive).await
                && serf_sees(&ours, "rust-b", MemberStatus::Alive).await
        })
        .await,
        "agent-initiated join did not converge: {:?}",
        agent.members()
    );

    // `serf event` reaches our node exactly once.
    let t = Instant::now();
    let (ok, out) = agent.cli(&["event", "from-go", "payload-1"]);
    assert!(ok, "serf event: {out}");
    let got = next_event(
        &mut ours,
        Duration::from_secs(5),
        |e| matches!(e, Event::User(u) if u.name == "from-go"),
    )
    .await
    .expect("user event from the agent within 5 s");
    println!("agent's user event arrived after {:?}", t.elapsed());
    let Event::User(u) = got else { unreachable!() };
    assert_eq!(u.payload, b"payload-1");
    // Gossip retransmits it (3 × ceil(log10(4)) = 3 times per node) and
    // push/pull carries the ring: none of that may deliver it again.
    assert!(
        next_event(&mut ours, Duration::from_secs(3), |e| {
            matches!(e, Event::User(u) if u.name == "from-go")
        })
        .await
        .is_none(),
        "user event delivered twice"
    );

    // Our user event reaches the agent's handler.
    let t = Instant::now();
    ours.user_event("from-rust", b"hello-go", false)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), async || std::fs::read_to_string(
            &events_file
        )
        .is_ok_and(|s| s.contains("hello-go")))
        .await,
        "the agent's handler did not record our event:\n{}",
        agent.log_tail()
    );
    println!(
        "our user event handled by the agent after {:?}",
        t.elapsed()
    );

    // `serf query` is acked and answered by both of our nodes.
    let rpc = agent.rpc.clone();
    let query = tokio::process::Command::new(SERF)
        .args(["query", &rpc, "-timeout=3s", "ask-rust", "q-payload"])
        .stdin(Stdio::null())
        .output();
    let answer = async {
        let mut answered = 0;
        while answered < 1 {
            let Some(Event::Query(q)) = next_event(
                &mut ours,
                Duration::from_secs(3),
                |e| matches!(e, Event::Query(q) if q.name == "ask-rust"),
            )
            .await
            else {
                break;
            };
            assert_eq!(q.payload, b"q-payload");
            assert_eq!(q.source_node, "go-agent");
            ours.respond(q.id, b"rust-answer").await.unwrap();
            answered += 1;
        }
        answered
    };
    let (out, answered) = tokio::join!(query, answer);
    let out = out.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(answered, 1);
    assert!(
        text.contains("Ack from 'rust-a'") && text.contains("Response from 'rust-a': rust-answer"),
        "serf query output:\n{text}"
    );
    assert!(
        text.contains("Ack from 'rust-b'"),
        "serf query output:\n{text}"
    );

    // Our query is acked and answered by the agent's handler.
    let t = Instant::now();
    let params = QueryParams {
        request_ack: true,
        timeout: Some(Duration::from_secs(3)),
        ..QueryParams::default()
    };
    let answers = ours
        .query("ask-go", b"", params)
        .await
        .unwrap()
        .collect()
        .await;
    println!("our query's answers after {:?}: {answers:?}", t.elapsed());
    assert!(answers.contains(&QueryAnswer::Ack {
        from: "go-agent".into()
    }));
    assert!(answers.contains(&QueryAnswer::Response {
        from: "go-agent".into(),
        payload: b"go-answer".to_vec()
    }));
    assert!(answers.contains(&QueryAnswer::Ack {
        from: "rust-b".into()
    }));

    // Coordinates: the agent caches ours from our acks, so `serf rtt` works
    // with our node; we cache the agent's from its acks. Bound: with 3
    // members each node probes each other at least every 3 probe intervals
    // (3 s); 10 s allows for the latency filter's first samples.
    let mut rtt_line = String::new();
    assert!(
        eventually(Duration::from_secs(10), async || {
            let (ok, out) = agent.cli(&["rtt", "rust-a"]);
            rtt_line = out;
            ok && rtt_line.contains("rust-a")
                && ours.coordinate("go-agent").await.ok().flatten().is_some()
        })
        .await,
        "serf rtt rust-a: {rtt_line}"
    );
    println!("serf rtt: {}", rtt_line.trim());

    // Graceful leave: `left` at the agent and at our other node.
    let t = Instant::now();
    assert!(
        ours.leave(Duration::from_secs(10)).await,
        "leave did not complete in 10 s"
    );
    assert!(
        agent.shows("rust-a", "left").await,
        "rust-a not left at the agent: {:?}",
        agent.members()
    );
    assert!(serf_sees(&second, "rust-a", MemberStatus::Left).await);
    println!(
        "leave complete and `left` at the agent after {:?}",
        t.elapsed()
    );
    ours.shutdown().await;
    second.shutdown().await;
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Encrypted gossip both ways, a wrong key refused, and `serf keys`
/// rotating our node's keyring along with the agent's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serf_node_encryption_and_key_rotation_with_go_agent() {
    if !have_serf() {
        return;
    }
    let k1 = [0x11u8; 16];
    let k2 = [0x22u8; 32];
    let wrong = [0x33u8; 16];
    let agent = Agent::start_with("go-keys", &["-encrypt".into(), base64_encode(&k1)]);
    assert!(eventually(Duration::from_secs(10), async || agent.members().is_some()).await);

    let ours = SerfNode::start(serf_config("rust-k", 0x5eed_0201, Some(&k1)))
        .await
        .unwrap();
    assert_eq!(ours.join(vec![agent.gossip], false).await, Ok(1));
    assert!(
        eventually(Duration::from_secs(10), async || agent
            .status_of("rust-k")
            .as_deref()
            == Some("alive")
            && serf_sees(&ours, "go-keys", MemberStatus::Alive).await)
        .await,
        "encrypted join did not converge: {:?}\n{}",
        agent.members(),
        agent.log_tail()
    );

    // A node with another key cannot join, and the agent never lists it.
    let stranger = SerfNode::start(serf_config("rust-wrong", 0x5eed_0202, Some(&wrong)))
        .await
        .unwrap();
    let refused = stranger.join(vec![agent.gossip], false).await;
    assert!(
        matches!(&refused, Err(NetError::NotJoined(f)) if f.len() == 1 && f[0].0 == agent.gossip),
        "{refused:?}"
    );
    // The agent has refused the stranger's only stream (it logs why before
    // it answers): nothing of the stranger's was ever decrypted there.
    assert!(
        eventually(Duration::from_secs(10), async || agent
            .log_contains("No installed keys could decrypt the message"))
        .await,
        "the agent did not log the refusal:\n{}",
        agent.log_tail()
    );
    assert_eq!(agent.status_of("rust-wrong"), None);
    assert!(!serf_sees(&stranger, "go-keys", MemberStatus::Alive).await);
    stranger.shutdown().await;

    // Rotation driven from the agent: install k2, use it, remove k1.
    let t = Instant::now();
    let (ok, out) = agent.cli(&["keys", &format!("-install={}", base64_encode(&k2))]);
    assert!(ok, "keys -install: {out}");
    assert_eq!(ours.keys().await.unwrap(), vec![k1.to_vec(), k2.to_vec()]);
    let (ok, out) = agent.cli(&["keys", &format!("-use={}", base64_encode(&k2))]);
    assert!(ok, "keys -use: {out}");
    assert_eq!(ours.keys().await.unwrap()[0], k2.to_vec());
    let (ok, out) = agent.cli(&["keys", &format!("-remove={}", base64_encode(&k1))]);
    assert!(ok, "keys -remove: {out}");
    assert_eq!(ours.keys().await.unwrap(), vec![k2.to_vec()]);
    let (ok, out) = agent.cli(&["keys", "-list"]);
    assert!(
        ok && out.contains(&base64_encode(&k2)) && out.contains("[2/2]"),
        "keys -list: {out}"
    );
    println!("serf keys install/use/remove/list took {:?}", t.elapsed());

    // Our key manager drives the agent's keyring the other way.
    let report = ours.key_op(serfer_engine::serf::KeyOp::List).await.unwrap();
    assert_eq!(
        (report.num_nodes, report.num_resp, report.num_err),
        (2, 2, 0),
        "{report:?}"
    );
    assert_eq!(report.primary_keys.get(&base64_encode(&k2)), Some(&2));

    // Still talking under the new key: the agent, our only peer, gets three
    // more packets through to us (its probes and gossip), and none fails to
    // decrypt.
    let stats = async || {
        ours.with_core(|c, _| {
            let s = c.memberlist().stats();
            (s.packets_received, s.packets_dropped)
        })
        .await
        .unwrap()
    };
    let (received, dropped) = stats().await;
    assert!(
        eventually(Duration::from_secs(30), async || stats().await.0
            >= received + 3)
        .await,
        "no packets from the agent under the new key:\n{}",
        agent.log_tail()
    );
    assert_eq!(
        stats().await.1,
        dropped,
        "a packet failed under the new key"
    );
    assert_eq!(agent.status_of("rust-k").as_deref(), Some("alive"));
    assert!(serf_sees(&ours, "go-keys", MemberStatus::Alive).await);
    ours.shutdown().await;
    drop(agent);
}
