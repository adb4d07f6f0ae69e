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
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the waits below wait: generous for anything gossip does on loopback.
pub const BOUND: Duration = Duration::from_secs(30);

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

/// A port free for both TCP and UDP on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = tcp.local_addr().expect("local address").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1 after 50 tries");
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
    /// `-bind` and `-rpc-addr`; free loopback ports when `None`.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// Any other flags.
    pub args: Vec<String>,
}

/// A running `serf agent`, logging at debug level. Its user-event handler records
/// every user event (see [`Agent::events`]). Dropping it kills the process by PID and
/// reaps it; if the test is failing, the agent's log is printed first.
pub struct Agent {
    name: String,
    bind: SocketAddr,
    rpc: SocketAddr,
    serf: PathBuf,
    child: Child,
    dir: PathBuf,
}

impl Agent {
    /// Starts `serf agent -node=NAME` and waits (at most [`BOUND`]) until its RPC port
    /// answers, which it opens once gossip is up and any `-join` has succeeded.
    ///
    /// # Panics
    /// When the agent cannot start, exits early, or does not open its RPC port.
    pub async fn start(serf: &Path, name: &str, opts: AgentOptions) -> Agent {
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
        let on_event = dir.join("on-event.sh");
        std::fs::write(
            &on_event,
            format!(
                "#!/bin/sh\nprintf '%s %s\\n' \"$SERF_USER_EVENT\" \"$(cat)\" >> '{}'\n",
                dir.join("events").display()
            ),
        )
        .expect("event handler script");
        let log = std::fs::File::create(dir.join("log")).expect("agent log");
        let mut cmd = Command::new(serf);
        cmd.arg("agent")
            .arg(format!("-node={name}"))
            .arg(format!("-bind={bind}"))
            .arg(format!("-rpc-addr={rpc}"))
            .arg("-log-level=debug")
            .arg(format!("-event-handler=user=sh {}", on_event.display()));
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
        let child = cmd
            .args(&opts.args)
            .env_remove("SERF_RPC_ADDR")
            .env_remove("SERF_RPC_AUTH")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("duplicate log handle"))
            .stderr(log)
            .spawn()
            .expect("serf agent starts");
        let mut agent = Agent {
            name: name.to_owned(),
            bind,
            rpc,
            serf: serf.to_owned(),
            child,
            dir,
        };
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("agent {name} exited early ({status}):\n{}", agent.log());
            }
            if tokio::net::TcpStream::connect(rpc).await.is_ok() {
                return agent;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "agent {name}: RPC {rpc} not open within {BOUND:?}:\n{}",
                agent.log()
            );
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

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
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

    /// Runs `serf <command> -rpc-addr=<this agent> <args>`: exit code, stdout, stderr.
    ///
    /// # Panics
    /// When `serf` cannot run or takes longer than [`BOUND`].
    pub async fn try_cli(&self, command: &str, args: &[&str]) -> (i32, String, String) {
        let child = tokio::process::Command::new(&self.serf)
            .arg(command)
            .arg(format!("-rpc-addr={}", self.rpc))
            .args(args)
            .env_remove("SERF_RPC_ADDR")
            .env_remove("SERF_RPC_AUTH")
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(BOUND, child)
            .await
            .unwrap_or_else(|_| panic!("serf {command} {args:?} not done within {BOUND:?}"))
            .expect("serf CLI runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// As [`Agent::try_cli`], panicking unless the command succeeds; its stdout.
    pub async fn cli(&self, command: &str, args: &[&str]) -> String {
        let (code, out, err) = self.try_cli(command, args).await;
        assert_eq!(
            code, 0,
            "serf {command} {args:?} on {} failed:\n{out}{err}",
            self.name
        );
        out
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

    /// Waits (at most [`BOUND`]) until this agent lists `name` with `status`
    /// (`alive`, `leaving`, `left`, `failed`); its member record.
    pub async fn wait_status(&self, name: &str, status: &str) -> serde_json::Value {
        self.wait_status_within(name, status, BOUND).await
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

    /// Waits (at most [`BOUND`]) until the event handler has run for `line`
    /// (`NAME PAYLOAD`).
    pub async fn wait_event(&self, line: &str) {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            let seen = self.events();
            if seen.iter().any(|l| l == line) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}'s event handler did not see {line:?} within {BOUND:?}; it saw {seen:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the agent with SIGKILL (no leave) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // By PID: only the process this guard started.
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
