//! Two nodes claiming one name: Serfer resolves it as HashiCorp's agent does,
//! checked side by side with real `serf agent` processes.
//!
//! Serf's resolution asks the cluster whose address it knows for the name and a
//! node that is not backed by a majority of the answers quits. In a cluster with
//! a third node only the newcomer loses; in a two-node cluster neither node gets
//! an answer from anyone else (Go's log: `minority in name conflict resolution,
//! quitting [0 / 0]`) and both quit. Each scenario runs once with Go agents and
//! once with Serfer nodes (the `node` example as a process), and the survivors
//! must be the same.

use std::time::Duration;

use serfer::testing::agent::{serf_binary, Agent, AgentOptions};
use serfer::testing::bounds::{JOIN, START};
use serfer::testing::ports::free_port;
use serfer::testing::process::Proc;

/// How long a resolution can take: Go's query timeout is gossip interval (200 ms)
/// × query-timeout mult (16) × ceil(log10(N + 1)) = 3.2 s for N ≤ 9, after the
/// conflict is seen at the join. Four times that, as the node must also notice
/// the conflict and stop.
const RESOLVED: Duration = Duration::from_millis(4 * 3_200);

/// One member, Go's or Serfer's, as a process that may quit by itself.
enum Member {
    Go(Agent),
    Serfer(Proc, String),
}

impl Member {
    fn addr(&self) -> String {
        match self {
            Member::Go(a) => a.bind().to_string(),
            Member::Serfer(_, addr) => addr.clone(),
        }
    }

    async fn exited_within(&mut self, bound: Duration) -> bool {
        match self {
            Member::Go(a) => a.try_wait_exit(bound).await.is_some(),
            Member::Serfer(p, _) => p.try_wait_exit_async(bound).await.is_some(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Go,
    Serfer,
}

/// Starts a member joining `join`; with `wait`, returns once it is up (a member
/// that may lose a conflict at its join is not waited for: it may quit first).
async fn start(
    kind: Kind,
    serf: &std::path::Path,
    name: &str,
    join: Option<&str>,
    wait: bool,
) -> Member {
    match kind {
        Kind::Go => {
            let opts = AgentOptions {
                join: join.map(|j| j.parse().unwrap()).into_iter().collect(),
                log_level: Some("info".into()),
                ..AgentOptions::default()
            };
            let mut agent = Agent::spawn(serf, name, opts);
            if wait {
                agent.wait_ready().await;
            }
            Member::Go(agent)
        }
        Kind::Serfer => {
            let addr = format!("127.0.0.1:{}", free_port());
            let mut args = vec!["--node", name, "--bind", &addr, "--profile", "lan"];
            if let Some(j) = join {
                args.extend(["--join", j]);
            }
            let mut p = Proc::example("node", &args, &[]);
            if wait {
                p.wait_line_async(START, |l| l.contains("Starting serfer node"))
                    .await
                    .unwrap_or_else(|| panic!("{name} did not start: {:#?}", p.seen()));
            }
            Member::Serfer(p, addr)
        }
    }
}

/// Starts `names` in order, each joining the first, and returns which of them
/// are still running once the newest one's conflict is resolved.
async fn survivors(kind: Kind, serf: &std::path::Path, names: &[&str]) -> Vec<bool> {
    let mut members: Vec<Member> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let join = members.first().map(Member::addr);
        let newcomer = i + 1 == names.len();
        members.push(start(kind, serf, name, join.as_deref(), !newcomer).await);
    }
    let mut alive = Vec::new();
    // The newcomer's fate first: every scenario here ends with it gone.
    let newcomer_gone = members
        .last_mut()
        .unwrap()
        .exited_within(JOIN + RESOLVED)
        .await;
    for m in members.iter_mut().rev().skip(1) {
        alive.push(!m.exited_within(RESOLVED).await);
    }
    alive.reverse();
    alive.push(!newcomer_gone);
    alive
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_third_node_only_the_newcomer_quits() {
    let Some(serf) = serf_binary("with_a_third_node_only_the_newcomer_quits") else {
        return;
    };
    let names = ["dup", "other", "dup"];
    let go = survivors(Kind::Go, &serf, &names).await;
    assert_eq!(go, [true, true, false], "Go's agents");
    let serfer = survivors(Kind::Serfer, &serf, &names).await;
    assert_eq!(serfer, go, "Serfer nodes, against Go's {go:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_two_node_cluster_both_quit_as_in_go() {
    let Some(serf) = serf_binary("in_a_two_node_cluster_both_quit_as_in_go") else {
        return;
    };
    let names = ["dup", "dup"];
    let go = survivors(Kind::Go, &serf, &names).await;
    assert_eq!(go, [false, false], "Go's agents");
    let serfer = survivors(Kind::Serfer, &serf, &names).await;
    assert_eq!(serfer, go, "Serfer nodes, against Go's {go:?}");
}
