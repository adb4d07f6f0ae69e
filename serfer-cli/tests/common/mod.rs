//! Helpers shared by the CLI tests: run the built `serfer` binary with bounded waits.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// The binary under test.
pub const SERFER: &str = env!("CARGO_BIN_EXE_serfer");

/// A bound for anything gossip must deliver on loopback.
pub const DELIVERY: Duration = Duration::from_secs(20);

/// How long one `serfer` run may take (queries wait for their timeout).
const RUN_BOUND: Duration = Duration::from_secs(60);

/// What a finished run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit 1 and returns stderr.
    pub fn failed(&self) -> &str {
        assert_eq!(self.code, 1, "expected failure: {self:#?}");
        &self.stderr
    }
}

/// A `serfer` command with a clean environment (no inherited RPC settings).
pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(SERFER);
    cmd.args(args)
        .env_remove("SERFER_RPC_ADDR")
        .env_remove("SERF_RPC_ADDR")
        .env_remove("SERFER_RPC_AUTH")
        .env_remove("SERF_RPC_AUTH")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs `serfer ARGS…` to completion (at most a minute).
pub async fn serfer(args: &[&str]) -> Run {
    run(command(args)).await
}

/// Runs a prepared command to completion (at most a minute).
pub async fn run(mut cmd: tokio::process::Command) -> Run {
    let out = tokio::time::timeout(RUN_BOUND, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {RUN_BOUND:?}"))
        .expect("serfer runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `--rpc-addr=ADDR` for a node.
pub fn rpc(node: &serfer::Node) -> String {
    format!(
        "--rpc-addr={}",
        node.rpc_addr().expect("the node serves RPC")
    )
}

/// A long-running `serfer` (e.g. `monitor`) whose stdout is read line by line.
pub struct Streaming {
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Streaming {
    /// Starts `serfer ARGS…` with stdout piped.
    pub fn start(args: &[&str]) -> Streaming {
        let mut child = command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serfer starts");
        let stdout = child.stdout.take().expect("piped stdout");
        Streaming {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `pred` (true) or `timeout` passes or
    /// stdout ends (false).
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    let hit = pred(&line);
                    self.seen.push(line);
                    if hit {
                        return true;
                    }
                }
                _ => return false,
            }
        }
    }

    /// Waits (bounded) for the process to exit; returns its code and the rest of
    /// stdout and stderr.
    pub async fn finish(mut self, timeout: Duration) -> Run {
        let rest = async {
            let mut out = Vec::new();
            while let Ok(Some(line)) = self.lines.next_line().await {
                out.push(line);
            }
            out
        };
        let rest = tokio::time::timeout(timeout, rest)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "serfer did not close stdout within {timeout:?}; seen {:?}",
                    self.seen
                )
            });
        self.seen.extend(rest);
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("serfer did not exit within {timeout:?}"))
            .expect("wait works");
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(timeout, e.read_to_string(&mut stderr)).await;
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.seen.join("\n"),
            stderr,
        }
    }

    /// Sends SIGINT (Ctrl-C) to this child, by its PID.
    pub async fn interrupt(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = tokio::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill -INT {pid} failed");
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for "nothing listens here").
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}
