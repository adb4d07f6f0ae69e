//! A real HashiCorp `serf agent` beside your nodes, for interoperation tests.
//!
//! ```no_run
//! use serfer::testing::agent::{serf_binary, Agent, AgentOptions};
//! use serfer::{Node, Wire};
//!
//! # async fn demo() -> Result<(), serfer::Error> {
//! // `None` (after a printed notice) where Debian's `serf` is not installed.
//! let Some(serf) = serf_binary("my_interop_test") else { return Ok(()) };
//! let node = Node::builder().bind("127.0.0.1:0").wire(Wire::HashiCorp).start().await?;
//! let agent = Agent::start(
//!     &serf,
//!     "go-1",
//!     AgentOptions { join: vec![node.addr()], ..AgentOptions::default() },
//! )
//! .await;
//! agent.wait_status(node.name(), "alive").await;
//! agent.cli("event", &["deploy", "v2"]).await;
//! # Ok(()) }
//! ```
//!
//! These are test helpers: they panic, with the agent's log, when something does not
//! happen in time.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::bounds;
use super::ports::free_port;
use super::process::{self, Proc, Run};

/// Where Debian puts HashiCorp's `serf`.
pub const SERF: &str = "/usr/bin/serf";

/// The path of HashiCorp's `serf` binary, or `None` after printing a skip notice
/// naming `test` when it is not installed. Under CI (`CI=true`) a missing binary
/// panics instead: a skip must never count as a pass there.
pub fn serf_binary(test: &str) -> Option<PathBuf> {
    let path = PathBuf::from(SERF);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {SERF} is missing under CI=true; install it (apt-get install serf)");
    }
    // libtest captures `eprintln!` but not a direct write: the skip stays visible.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: HashiCorp's serf is not installed (apt-get install serf)"
    );
    None
}

/// Runs HashiCorp's `serf ARGS…` (the CLI, not an agent) to completion, at most
/// [`bounds::COMMAND`], with no RPC address or token from the environment. The CLI
/// prints everything, errors too, on stdout.
pub async fn serf_cli(serf: &Path, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(serf);
    cmd.args(args)
        .env_remove("SERF_RPC_ADDR")
        .env_remove("SERF_RPC_AUTH")
        .stdin(Stdio::null());
    process::run(cmd, bounds::COMMAND).await
}

/// What an agent is started with.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// The base64 key for `-encrypt`.
    pub key: Option<String>,
    /// `-join` addresses.
    pub join: Vec<SocketAddr>,
    /// `-tag` pairs.
    pub tags: Vec<(String, String)>,
    /// Queries the agent answers, and the answer: `query:NAME` handlers.
    pub answers: Vec<(String, String)>,
    /// `-bind` and `-rpc-addr`; free loopback ports ([`free_port`]) when `None`.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// `-log-level`; `debug` when `None`.
    pub log_level: Option<String>,
    /// Where the agent's stdout and stderr go, kept after the agent is dropped; a file
    /// in the agent's temporary directory, removed with it, when `None`.
    pub log_file: Option<PathBuf>,
    /// No user-event handler: the agent forks nothing per event (for measurements),
    /// and [`Agent::events`] stays empty.
    pub no_event_handler: bool,
    /// Any other flags.
    pub args: Vec<String>,
}

/// A running `serf agent`, logging at debug level unless told otherwise. Its
/// user-event handler records every user event (see [`Agent::events`]). Dropping it
/// kills the process by PID and reaps it; if the test is failing, the agent's log is
/// printed first.
pub struct Agent {
    name: String,
    bind: SocketAddr,
    rpc: SocketAddr,
    serf: PathBuf,
    proc: Proc,
    dir: PathBuf,
    log: PathBuf,
}

impl Agent {
    /// Starts `serf agent -node=NAME` and waits (at most [`bounds::START`]) until its
    /// RPC port answers, which it opens once gossip is up and any `-join` has
    /// succeeded.
    ///
    /// # Panics
    /// When the agent cannot start, exits early, or does not open its RPC port.
    pub async fn start(serf: &Path, name: &str, opts: AgentOptions) -> Agent {
        let mut agent = Agent::spawn(serf, name, opts);
        agent.wait_ready().await;
        agent
    }

    /// Starts `serf agent -node=NAME` without waiting for it (see
    /// [`Agent::wait_ready`]): for starting many at once.
    ///
    /// # Panics
    /// When the agent cannot be started.
    pub fn spawn(serf: &Path, name: &str, opts: AgentOptions) -> Agent {
        let (bind, rpc) = opts.addrs.unwrap_or_else(|| {
            (
                SocketAddr::from(([127, 0, 0, 1], free_port())),
                SocketAddr::from(([127, 0, 0, 1], free_port())),
            )
        });
        let dir = std::env::temp_dir().join(format!(
            "serfer-agent-{name}-{}-{}",
            std::process::id(),
            bind.port()
        ));
        std::fs::create_dir_all(&dir).expect("agent directory");
        let log = opts.log_file.clone().unwrap_or_else(|| dir.join("log"));
        let out = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("agent log {}: {e}", log.display()));
        let mut cmd = Command::new(serf);
        cmd.arg("agent")
            .arg(format!("-node={name}"))
            .arg(format!("-bind={bind}"))
            .arg(format!("-rpc-addr={rpc}"))
            .arg(format!(
                "-log-level={}",
                opts.log_level.as_deref().unwrap_or("debug")
            ));
        if !opts.no_event_handler {
            let on_event = dir.join("on-event.sh");
            std::fs::write(
                &on_event,
                format!(
                    "#!/bin/sh\nprintf '%s %s\\n' \"$SERF_USER_EVENT\" \"$(cat)\" >> '{}'\n",
                    dir.join("events").display()
                ),
            )
            .expect("event handler script");
            cmd.arg(format!("-event-handler=user=sh {}", on_event.display()));
        }
        for (i, (query, answer)) in opts.answers.iter().enumerate() {
            // The answer is read from a file: no shell quoting to get wrong.
            let file = dir.join(format!("answer-{i}"));
            std::fs::write(&file, answer).expect("answer file");
            cmd.arg(format!(
                "-event-handler=query:{query}=cat {}",
                file.display()
            ));
        }
        if let Some(key) = &opts.key {
            cmd.arg(format!("-encrypt={key}"));
        }
        for addr in &opts.join {
            cmd.arg(format!("-join={addr}"));
        }
        for (k, v) in &opts.tags {
            cmd.arg(format!("-tag={k}={v}"));
        }
        cmd.args(&opts.args)
            .env_remove("SERF_RPC_ADDR")
            .env_remove("SERF_RPC_AUTH")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("duplicate log handle"))
            .stderr(out);
        Agent {
            name: name.to_owned(),
            bind,
            rpc,
            serf: serf.to_owned(),
            proc: Proc::spawn(format!("serf agent {name}"), &mut cmd),
            dir,
            log,
        }
    }

    /// Waits (at most [`bounds::START`]) until the agent's RPC port answers.
    ///
    /// # Panics
    /// When the agent exits first, or the port does not open in time.
    pub async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + bounds::START;
        loop {
            if let Some(status) = self.proc.try_status() {
                panic!(
                    "agent {} exited early ({status}):\n{}",
                    self.name,
                    self.log()
                );
            }
            if tokio::net::TcpStream::connect(self.rpc).await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "agent {}: RPC {} not open within {:?}:\n{}",
                self.name,
                self.rpc,
                bounds::START,
                self.log()
            );
            // Polling a port that is not open yet (a refused connect returns at once).
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The node name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The gossip address (`-bind`).
    pub fn bind(&self) -> SocketAddr {
        self.bind
    }

    /// The RPC address (`-rpc-addr`).
    pub fn rpc(&self) -> SocketAddr {
        self.rpc
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// memberlist and Serf warnings and errors in the log (a packet it could not
    /// decode, a bad checksum, a failed probe, …), except lines containing one of
    /// `expected`.
    pub fn complaints(&self, expected: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("[ERR]") || l.contains("[WARN]"))
            .filter(|l| l.contains(" memberlist: ") || l.contains(" serf: "))
            .filter(|l| !expected.iter().any(|e| l.contains(e)))
            .map(str::to_owned)
            .collect()
    }

    /// Panics if [`Agent::complaints`] finds any.
    pub fn assert_no_complaints(&self, expected: &[&str]) {
        let complaints = self.complaints(expected);
        assert!(
            complaints.is_empty(),
            "agent {} complained:\n{}",
            self.name,
            complaints.join("\n")
        );
    }

    /// Runs `serf <command> -rpc-addr=<this agent> <args>` (see [`serf_cli`]).
    ///
    /// # Panics
    /// When `serf` cannot run or takes longer than [`bounds::COMMAND`].
    pub async fn try_cli(&self, command: &str, args: &[&str]) -> Run {
        let rpc = format!("-rpc-addr={}", self.rpc);
        let mut all = vec![command, rpc.as_str()];
        all.extend_from_slice(args);
        serf_cli(&self.serf, &all).await
    }

    /// As [`Agent::try_cli`], panicking unless the command succeeds; its stdout.
    pub async fn cli(&self, command: &str, args: &[&str]) -> String {
        let run = self.try_cli(command, args).await;
        assert_eq!(
            run.code, 0,
            "serf {command} {args:?} on {} failed:\n{}{}",
            self.name, run.stdout, run.stderr
        );
        run.stdout
    }

    /// `serf members -format=json`: name → member record.
    pub async fn members(&self) -> BTreeMap<String, serde_json::Value> {
        let out = self.cli("members", &["-format=json"]).await;
        let json: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("members output is not JSON ({e}): {out}"));
        json["members"]
            .as_array()
            .unwrap_or_else(|| panic!("no members array in {out}"))
            .iter()
            .map(|m| (m["name"].as_str().unwrap_or_default().to_owned(), m.clone()))
            .collect()
    }

    /// Waits (at most [`bounds::LAN_DELIVERY`]: the agent runs Go's LAN timings)
    /// until this agent lists `name` with `status` (`alive`, `leaving`, `left`); its
    /// member record. For `failed`, use [`Agent::wait_status_within`] with
    /// [`bounds::FAILURE`].
    pub async fn wait_status(&self, name: &str, status: &str) -> serde_json::Value {
        self.wait_status_within(name, status, bounds::LAN_DELIVERY)
            .await
    }

    /// As [`Agent::wait_status`], waiting at most `bound`.
    pub async fn wait_status_within(
        &self,
        name: &str,
        status: &str,
        bound: Duration,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let members = self.members().await;
            if let Some(m) = members.get(name).filter(|m| m["status"] == status) {
                return m.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not list {name} as {status} within {bound:?}: {members:#?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The user events the agent's handler has run for, as `NAME PAYLOAD` lines.
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits (at most [`bounds::LAN_DELIVERY`]) until the event handler has run for
    /// `line` (`NAME PAYLOAD`).
    pub async fn wait_event(&self, line: &str) {
        let bound = bounds::LAN_DELIVERY;
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let seen = self.events();
            if seen.iter().any(|l| l == line) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}'s event handler did not see {line:?} within {bound:?}; it saw {seen:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits at most `bound` for the agent to exit by itself (it quits when its
    /// Serf shuts down, e.g. after losing a name conflict); `None` if it has not.
    pub async fn try_wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        self.proc.try_wait_exit_async(bound).await
    }

    /// Kills the agent by PID with SIGKILL (a crash: no leave) and reaps it.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Killed first, so that the log printed is complete.
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- log of serf agent {} ({}) ----\n{}",
                self.name,
                self.bind,
                self.log()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
