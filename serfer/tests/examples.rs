//! The examples, run as real processes on loopback: two `node`s and a `guardian`.

use std::process::Command;

use serfer::testing::bounds::{COMMAND, LAN_DELIVERY, START, STOP};
use serfer::testing::process::{example, run_sync, Proc, Run};

/// Example `name` started with `args`, its log captured.
fn spawn(name: &str, args: &[&str]) -> Proc {
    Proc::example(name, args, &[])
}

#[test]
fn two_nodes_and_a_guardian_talk() {
    let mut a = spawn(
        "node",
        &[
            "--bind",
            "127.0.0.1:0",
            "--node",
            "ex-a",
            "--rpc-addr",
            "127.0.0.1:0",
            "--rpc-auth",
            "s3cret",
        ],
    );
    let addr = a.serfer_addr();
    // The startup log names every handler the macros registered.
    for handler in [
        "handler: query `status` -> node::status",
        "handler: user event `useless` -> node::useless",
    ] {
        assert!(
            a.seen().iter().any(|l| l.contains(handler)),
            "no {handler:?} in:\n{}",
            a.seen().join("\n")
        );
    }
    let rpc = a.wait_for("RPC on ", START);
    let rpc = rpc.split("RPC on ").nth(1).unwrap().trim().to_owned();
    // Node b takes its settings from the environment instead of flags.
    let mut b = Proc::example(
        "node",
        &[],
        &[
            ("SERFER_BIND", "127.0.0.1:0"),
            ("SERFER_NODE", "ex-b"),
            ("SERFER_JOIN", &addr),
        ],
    );
    b.serfer_addr();
    a.wait_for("ex-b\talive", LAN_DELIVERY);
    let mut g = spawn(
        "guardian",
        &["--bind", "127.0.0.1:0", "--node", "ex-g", "--join", &addr],
    );
    g.serfer_addr();

    for node in [&mut a, &mut b] {
        let line = node.wait_for("Received user event \"useless\"", LAN_DELIVERY);
        assert!(
            line.contains("with payload \"this is a payload\""),
            "{line}"
        );
        node.wait_for("query \"status\" number", LAN_DELIVERY);
    }
    g.wait_for("Response from query 'status':", LAN_DELIVERY);
    // Printed with the line above, once the query has ended.
    let mut froms = vec![g.wait_for("  From ", START), g.wait_for("  From ", START)];
    froms.sort();
    assert!(
        froms[0].contains("From ex-a: I am OK, thanks for asking"),
        "{froms:?}"
    );
    assert!(
        froms[1].contains("From ex-b: I am OK, thanks for asking"),
        "{froms:?}"
    );
    // Every member acks (the guardian too); only the two nodes have a `status` handler.
    let total = g.wait_for("Total Ack:", START);
    assert!(
        total.ends_with("Total Ack: 3, Total Response: 2"),
        "{total}"
    );

    // The node's `--rpc-addr`/`--rpc-auth` flags: an RPC client with the token
    // sees all three members; one without it is refused.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use serfer_rpc::client::Client;
        let client = Client::connect(&rpc, Some("s3cret")).await.unwrap();
        let mut names: Vec<String> = client
            .members()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        names.sort();
        assert_eq!(names, ["ex-a", "ex-b", "ex-g"]);
        let stranger = Client::connect(&rpc, None).await.unwrap();
        assert!(stranger.members().await.is_err(), "no token, no members");
    });

    // A graceful stop on SIGTERM: the guardian leaves the cluster and exits 0.
    let status = g.terminate();
    assert!(status.success(), "guardian exit: {status}");
    g.wait_for("left the cluster", STOP);
    // Ctrl-C (SIGINT) is a graceful stop too.
    let status = b.signal("-INT");
    assert!(status.success(), "node exit on SIGINT: {status}");
    b.wait_for("left the cluster", STOP);
}

#[test]
fn bad_flags_and_failed_joins_exit_non_zero_with_one_line() {
    // Exactly one line on stderr (logs are kept to errors, and there are none).
    let one_line = |out: &Run| -> String {
        let err = out.stderr.clone();
        assert_eq!(err.lines().count(), 1, "one line, got:\n{err}");
        err
    };
    let out = run_sync(
        Command::new(example("node"))
            .arg("--bogus")
            .env("SERFER_LOG", "error"),
        COMMAND,
    );
    assert_eq!(out.code, 2, "{out:?}");
    let err = one_line(&out);
    assert!(err.contains("--bogus") && err.contains("--help"), "{err}");
    let out = run_sync(
        Command::new(example("node"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--join",
                "127.0.0.1:1",
                "--join",
                "127.0.0.1:2",
            ])
            .env("SERFER_LOG", "error"),
        COMMAND,
    );
    assert_eq!(out.code, 1, "{out:?}");
    let err = one_line(&out);
    assert!(
        err.starts_with("error: could not join the cluster"),
        "{err}"
    );
    assert!(
        err.contains("127.0.0.1:1") && err.contains("127.0.0.1:2"),
        "every address tried, with its cause: {err}"
    );
    let out = run_sync(
        Command::new(example("node"))
            .args(["--encrypt", "c2hvcnQ="])
            .env("SERFER_LOG", "error"),
        COMMAND,
    );
    assert_eq!(out.code, 1, "{out:?}");
    // The only key: `--encrypt` replaced the built-in one.
    assert!(one_line(&out).contains("encryption key #0 is invalid"));
    let help = run_sync(Command::new(example("node")).arg("--help"), COMMAND);
    let help = help.ok();
    for flag in [
        "--node",
        "--bind",
        "--advertise",
        "--join",
        "--encrypt",
        "--tag",
        "--snapshot",
        "--log",
        "--retry-join",
        "--keyring-file",
        "--tags-file",
        "--config-file",
        "--config-dir",
        "--event-handler",
        "--log-json",
        "--syslog",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn handlers_flag_lists_what_the_macros_registered() {
    let out = run_sync(Command::new(example("node")).arg("--handlers"), COMMAND);
    let text = out.ok();
    assert!(
        text.contains("user event\tuseless\tnode::useless"),
        "{text}"
    );
    assert!(text.contains("query\tstatus\tnode::status"), "{text}");
    assert!(
        text.contains("member event `join`\t*\tnode::join"),
        "{text}"
    );
}

#[test]
fn deploy_round_trips_a_typed_event_and_a_typed_answer() {
    let mut a = spawn("deploy", &["--bind", "127.0.0.1:0", "--node", "dep-a"]);
    let addr = a.serfer_addr();
    // The sender joins, sends one deployment, prints every node's answer, and exits.
    let mut s = spawn(
        "deploy",
        &[
            "--bind",
            "127.0.0.1:0",
            "--node",
            "dep-s",
            "--join",
            &addr,
            "--send",
            "web",
            "1.2",
        ],
    );
    a.wait_for("deploying web 1.2", LAN_DELIVERY);
    s.wait_for("deploying web 1.2", LAN_DELIVERY);
    // The typed (MessagePack) answers, decoded, from both nodes.
    let mut answers = [
        s.wait_for("Deployed {", LAN_DELIVERY),
        s.wait_for("Deployed {", LAN_DELIVERY),
    ];
    answers.sort();
    for (line, from) in answers.iter().zip(["dep-a", "dep-s"]) {
        assert!(
            line.contains(&format!(
                "{from}: Deployed {{ service: Some(\"web\"), version: Some(\"1.2\") }}"
            )),
            "{line}"
        );
    }
    // It exits once it has printed the answers (after leaving the cluster).
    let status = s.wait_exit(STOP);
    assert!(status.success(), "sender exit: {status}");
    assert!(a.terminate().success());
}

#[test]
fn an_explicit_encrypt_replaces_the_nodes_built_in_key() {
    // base64 of "AnotherKeyOf16By": a key the examples do not build in.
    const OTHER: &str = "QW5vdGhlcktleU9mMTZCeQ==";
    let mut a = spawn(
        "node",
        &[
            "--bind",
            "127.0.0.1:0",
            "--node",
            "enc-a",
            "--encrypt",
            OTHER,
        ],
    );
    let addr = a.serfer_addr();
    // A node with only the built-in key is refused: it is no longer one of a's keys.
    let out = run_sync(
        Command::new(example("node"))
            .args(["--bind", "127.0.0.1:0", "--node", "enc-b", "--join", &addr])
            .env("SERFER_LOG", "error"),
        COMMAND,
    );
    assert_eq!(out.code, 1, "joined with the built-in key: {out:?}");
    assert!(
        out.stderr.starts_with("error: could not join the cluster"),
        "{out:?}"
    );
    // The same key joins.
    let mut c = spawn(
        "node",
        &[
            "--bind",
            "127.0.0.1:0",
            "--node",
            "enc-c",
            "--encrypt",
            OTHER,
            "--join",
            &addr,
        ],
    );
    c.serfer_addr();
    a.wait_for("enc-c\talive", LAN_DELIVERY);
    assert!(c.terminate().success());
    assert!(a.terminate().success());
}

#[test]
fn the_guardian_sends_without_handlers_and_does_not_warn_about_them() {
    let mut g = spawn("guardian", &["--bind", "127.0.0.1:0", "--node", "g-quiet"]);
    g.serfer_addr();
    assert!(
        !g.seen().iter().any(|l| l.contains("no handlers found")),
        "{:?}",
        g.seen()
    );
    assert!(g.terminate().success());
}
