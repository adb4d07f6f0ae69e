//! The examples, run as real processes on loopback: two `node`s and a `guardian`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process, killed by PID when dropped (even when the test fails).
struct Proc {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; `cargo test` builds the examples
    // into target/<profile>/examples.
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "building example {name}");
    }
    path
}

fn spawn(name: &'static str, args: &[&str]) -> Proc {
    spawn_env(name, args, &[])
}

fn spawn_env(name: &'static str, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut child = Command::new(example(name))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let clean = strip_ansi(&line);
            if tx.send(clean).is_err() {
                break;
            }
        }
    });
    Proc {
        name,
        child,
        lines,
        seen: Vec::new(),
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Proc {
    /// Waits for a line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "{}: no line with {needle:?} within {timeout:?}; saw:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn addr(&mut self) -> String {
        let line = self.wait_for("Starting serfer node on ", Duration::from_secs(30));
        let rest = line.split("Starting serfer node on ").nth(1).unwrap();
        rest.split_whitespace().next().unwrap().to_owned()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM")
    }

    /// Sends `signal` (as `kill` spells it) and waits, bounded, for the exit.
    fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args([signal, &pid]).status();
        self.wait_exit(&format!("after {signal}"))
    }

    /// Waits at most 30 s for the process to exit by itself or after a signal
    /// (`std` has no timed wait on a child, so it polls `try_wait`).
    fn wait_exit(&mut self, when: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit {when}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
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
    let addr = a.addr();
    // The startup log names every handler the macros registered.
    for handler in [
        "handler: query `status` -> node::status",
        "handler: user event `useless` -> node::useless",
    ] {
        assert!(
            a.seen.iter().any(|l| l.contains(handler)),
            "no {handler:?} in:\n{}",
            a.seen.join("\n")
        );
    }
    let rpc = a.wait_for("RPC on ", Duration::from_secs(30));
    let rpc = rpc.split("RPC on ").nth(1).unwrap().trim().to_owned();
    // Node b takes its settings from the environment instead of flags.
    let mut b = spawn_env(
        "node",
        &[],
        &[
            ("SERFER_BIND", "127.0.0.1:0"),
            ("SERFER_NODE", "ex-b"),
            ("SERFER_JOIN", &addr),
        ],
    );
    b.addr();
    a.wait_for("ex-b\talive", Duration::from_secs(30));
    let mut g = spawn(
        "guardian",
        &["--bind", "127.0.0.1:0", "--node", "ex-g", "--join", &addr],
    );
    g.addr();

    for node in [&mut a, &mut b] {
        let line = node.wait_for("Received user event \"useless\"", Duration::from_secs(30));
        assert!(
            line.contains("with payload \"this is a payload\""),
            "{line}"
        );
        node.wait_for("query \"status\" number", Duration::from_secs(30));
    }
    g.wait_for("Response from query 'status':", Duration::from_secs(30));
    let mut froms = vec![
        g.wait_for("  From ", Duration::from_secs(5)),
        g.wait_for("  From ", Duration::from_secs(5)),
    ];
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
    let total = g.wait_for("Total Ack:", Duration::from_secs(5));
    assert!(
        total.ends_with("Total Ack: 3, Total Response: 2"),
        "{total}"
    );

    // The node's `--rpc-addr`/`--rpc-auth` flags: an RPC client with the token
    // sees all three members; one without it is refused.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use serfer::rpc::client::Client;
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
    g.wait_for("left the cluster", Duration::from_secs(5));
    // Ctrl-C (SIGINT) is a graceful stop too.
    let status = b.signal("-INT");
    assert!(status.success(), "node exit on SIGINT: {status}");
    b.wait_for("left the cluster", Duration::from_secs(5));
}

#[test]
fn bad_flags_and_failed_joins_exit_non_zero_with_one_line() {
    // Exactly one line on stderr (logs are kept to errors, and there are none).
    let one_line = |out: &std::process::Output| -> String {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "one line, got:\n{err}");
        err
    };
    let out = Command::new(example("node"))
        .arg("--bogus")
        .env("SERFER_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = one_line(&out);
    assert!(err.contains("--bogus") && err.contains("--help"), "{err}");
    let out = Command::new(example("node"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--join",
            "127.0.0.1:1",
            "--join",
            "127.0.0.1:2",
        ])
        .env("SERFER_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = one_line(&out);
    assert!(
        err.starts_with("error: could not join the cluster"),
        "{err}"
    );
    assert!(
        err.contains("127.0.0.1:1") && err.contains("127.0.0.1:2"),
        "every address tried, with its cause: {err}"
    );
    let out = Command::new(example("node"))
        .args(["--encrypt", "c2hvcnQ="])
        .env("SERFER_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line(&out).contains("encryption key #1 is invalid"));
    let help = Command::new(example("node"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--node",
        "--bind",
        "--advertise",
        "--join",
        "--encrypt",
        "--tag",
        "--snapshot",
        "--log",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn handlers_flag_lists_what_the_macros_registered() {
    let out = Command::new(example("node"))
        .arg("--handlers")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
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
    let addr = a.addr();
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
    a.wait_for("deploying web 1.2", Duration::from_secs(30));
    s.wait_for("deploying web 1.2", Duration::from_secs(30));
    // The typed (MessagePack) answers, decoded, from both nodes.
    let mut answers = [
        s.wait_for("Deployed {", Duration::from_secs(30)),
        s.wait_for("Deployed {", Duration::from_secs(30)),
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
    let status = s.wait_exit("once it had printed the answers");
    assert!(status.success(), "sender exit: {status}");
    assert!(a.terminate().success());
}
