//! Live interoperability with a real HashiCorp `serf agent` (Debian's
//! `/usr/bin/serf`) on loopback: our core joins the agent, the agent joins a
//! core of ours, and a graceful leave of ours shows as `left` at the agent.
//!
//! Skipped with a notice when the binary is missing, unless `CI=true`, where
//! it fails instead. Only 127.0.0.1 is used; the agent is killed by PID when
//! the test ends, whatever happens.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serfer_engine::memberlist::{Config, MemberState};
use serfer_engine::net::Node;
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

    fn join(&self, addr: SocketAddr) -> bool {
        Command::new(SERF)
            .args(["join", &self.rpc, &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_a_go_agent_and_is_joined_by_one() {
    if !Path::new(SERF).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{SERF} is missing in CI (apt-get install serf)");
        }
        println!("SKIPPED: {SERF} is not installed");
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

    // Staying alive under the agent's probes for a few of its probe intervals.
    tokio::time::sleep(Duration::from_secs(3)).await;
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
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        ours.leave(Duration::from_secs(5)).await,
        "leave not gossiped within 5 s"
    );
    assert!(
        eventually(Duration::from_secs(10), async || agent
            .status_of("rust-a")
            .as_deref()
            == Some("left"))
        .await,
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
