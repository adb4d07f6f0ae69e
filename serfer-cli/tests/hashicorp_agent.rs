//! The `serfer` binary against HashiCorp's own `serf agent` (when `/usr/bin/serf` is
//! installed), compared line for line with what HashiCorp's `serf` CLI prints.

mod common;

use serfer::testing::agent::{serf_binary, Agent, AgentOptions};
use serfer::testing::bounds::{LAN_DELIVERY, STOP};
use serfer::testing::process::Run;

use common::{serfer, streaming};

/// Starts a `serf agent` named `name` with `tags` (`key=value`), and waits until
/// its RPC port answers.
async fn agent(serf: &std::path::Path, name: &str, tags: &[(&str, &str)]) -> Agent {
    let opts = AgentOptions {
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..AgentOptions::default()
    };
    Agent::start(serf, name, opts).await
}

/// `--rpc-addr=ADDR` of an agent, for `serfer`.
fn rpc_flag(agent: &Agent) -> String {
    format!("--rpc-addr={}", agent.rpc())
}

/// Runs the same command through both CLIs; returns (serfer, serf).
async fn both(agent: &Agent, args: &[&str]) -> (Run, Run) {
    let mut ours: Vec<&str> = args.to_vec();
    let flag = rpc_flag(agent);
    ours.push(&flag);
    // HashiCorp's `serf <command> -rpc-addr=… <args>`.
    (
        serfer(&ours).await,
        agent.try_cli(args[0], &args[1..]).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_event_info_and_more_match_the_serf_cli() {
    let Some(serf) = serf_binary("members_event_info_and_more_match_the_serf_cli") else {
        return;
    };
    let agent = agent(&serf, "agent-x", &[("role", "web")]).await;

    // members: identical text, detailed text and JSON.
    for args in [
        &["members"][..],
        &["members", "-detailed"],
        &["members", "-format=json"],
        &["members", "-tag", "role=web"],
        &["members", "-name=nobody"],
    ] {
        let (ours, theirs) = both(&agent, args).await;
        assert_eq!(ours.ok(), theirs.ok(), "{args:?}");
    }
    let (ours, _) = both(&agent, &["members"]).await;
    assert_eq!(
        ours.stdout,
        format!("agent-x  {}  alive  role=web\n", agent.bind())
    );

    // event: the same message, and the agent accepts it.
    let (ours, theirs) = both(&agent, &["event", "deploy", "v1"]).await;
    assert_eq!(
        ours.ok(),
        "Event 'deploy' dispatched! Coalescing enabled: true\n"
    );
    assert_eq!(ours.stdout, theirs.ok());
    let (ours, theirs) = both(&agent, &["event", "-coalesce=false", "deploy"]).await;
    assert_eq!(ours.ok(), theirs.ok());

    // info: the same sections and keys (values such as goroutine counts move).
    let (ours, theirs) = both(&agent, &["info"]).await;
    let shape = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(" = ").next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(shape(ours.ok()), shape(theirs.ok()));
    assert!(
        ours.stdout.starts_with("agent:\n\tname = agent-x\n"),
        "{ours:?}"
    );
    let (ours, _) = both(&agent, &["info", "-format=json"]).await;
    let v: serde_json::Value = serde_json::from_str(ours.ok()).expect("info json");
    assert_eq!(v["agent"]["name"], "agent-x");
    assert_eq!(v["tags"]["role"], "web");

    // query: the agent acks its own query; nobody answers it.
    let (ours, theirs) = both(&agent, &["query", "-timeout=1s", "anyone", "x"]).await;
    assert_eq!(
        ours.ok(),
        "Query 'anyone' dispatched\nAck from 'agent-x'\nTotal Acks: 1\nTotal Responses: 0\n"
    );
    assert_eq!(ours.stdout, theirs.ok());
    let (ours, theirs) = both(&agent, &["query", "-format=json", "-timeout=1s", "anyone"]).await;
    assert_eq!(ours.ok(), theirs.ok());

    // Errors: same words, exit 1 (ours on stderr, serf's on stdout).
    for args in [
        &["keys", "-list"][..],
        &["query", "-timeout=1s", "_serf_nope"],
        &["members", "-name=("],
        &["monitor", "-log-level=bogus"],
    ] {
        let (ours, theirs) = both(&agent, args).await;
        assert_eq!(
            (ours.code, theirs.code),
            (1, 1),
            "{args:?}: {ours:?} {theirs:?}"
        );
        assert_eq!(
            format!("{}{}", ours.stdout, ours.stderr),
            theirs.stdout,
            "{args:?}"
        );
    }

    // tags: the change shows in serf's own listing.
    let (ours, _) = both(&agent, &["tags", "-set", "dc=eu", "-delete", "role"]).await;
    assert_eq!(ours.ok(), "Successfully updated agent tags\n");
    let (ours, theirs) = both(&agent, &["members"]).await;
    assert_eq!(
        ours.ok(),
        format!("agent-x  {}  alive  dc=eu\n", agent.bind())
    );
    assert_eq!(ours.stdout, theirs.ok());

    // force-leave of an unknown node succeeds silently, as with serf.
    let (ours, theirs) = both(&agent, &["force-leave", "nobody"]).await;
    assert_eq!((ours.ok(), theirs.ok()), ("", ""));
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_shows_logs_and_events_and_notices_the_agent_going_away() {
    let Some(serf) = serf_binary("monitor_shows_logs_and_events_and_notices_the_agent_going_away")
    else {
        return;
    };
    let mut agent = agent(&serf, "agent-m", &[]).await;
    let mut monitor = streaming(&["monitor", &rpc_flag(&agent)]);

    // The agent replays its recent log lines to a new monitor.
    assert!(
        monitor
            .wait_line_async(LAN_DELIVERY, |l| l.contains("[INFO]")
                && l.contains("agent"))
            .await
            .is_some(),
        "no log lines: {:?}",
        monitor.seen()
    );
    // Logs come after the stream is registered, so this event is not missed.
    let run = serfer(&[
        "event",
        &rpc_flag(&agent),
        "--coalesce=false",
        "deploy",
        "v1",
    ])
    .await;
    run.ok();
    assert!(
        monitor
            .wait_line_async(LAN_DELIVERY, |l| l == "\tPayload: []byte{0x76, 0x31}")
            .await
            .is_some(),
        "no event: {:?}",
        monitor.seen()
    );
    for line in [
        "Event Info:",
        "\tName: \"deploy\"",
        "\tEvent: \"user\"",
        "\tCoalesce: false",
    ] {
        assert!(
            monitor.seen().iter().any(|l| l == line),
            "{line:?} missing: {:?}",
            monitor.seen()
        );
    }

    // The agent dies: the monitor says so and exits 1.
    agent.kill();
    let run = monitor.finish(STOP).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.ends_with(
            "\nRemote side ended the monitor! This usually means that the\nremote side has exited or crashed.\n"
        ),
        "{run:?}"
    );
}
