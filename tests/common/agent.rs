//! A real HashiCorp `serf agent` for interop tests: started on a free loopback port,
//! with user-event and query handler scripts, driven through its CLI, and killed by
//! PID when dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::DELIVERY;

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
#[derive(Default)]
pub struct AgentConfig {
    /// The base64 key for `-encrypt`.
    pub key: Option<String>,
    /// `-join` addresses.
    pub join: Vec<SocketAddr>,
    /// `-tag` pairs.
    pub tags: Vec<(String, String)>,
    /// `-bind` and `-rpc-addr`; free loopback ports when `None`.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
}

/// A running `serf agent`. Its user-event handler appends `NAME PAYLOAD` lines to
/// [`Agent::events`]; its `whoami` query handler answers `agent-<name>`.
pub struct Agent {
    pub name: String,
    pub bind: SocketAddr,
    pub rpc: SocketAddr,
    serf: PathBuf,
    child: Child,
    dir: PathBuf,
}

impl Agent {
    /// Starts `serf agent` and waits (bounded) until its RPC port answers, which it
    /// opens after gossip is up and any `-join` has succeeded.
    pub async fn start(serf: &Path, name: &str, cfg: AgentConfig) -> Agent {
        let (bind, rpc) = cfg.addrs.unwrap_or_else(|| {
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
        let events = dir.join("events");
        let handler = dir.join("on-event.sh");
        std::fs::write(
            &handler,
            format!(
                "#!/bin/sh\nprintf '%s %s\\n' \"$SERF_USER_EVENT\" \"$(cat)\" >> '{}'\n",
                events.display()
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
            .arg(format!(
                "-event-handler=user:deploy=sh {}",
                handler.display()
            ))
            .arg(format!("-event-handler=query:whoami=printf agent-{name}"));
        if let Some(key) = &cfg.key {
            cmd.arg(format!("-encrypt={key}"));
        }
        for addr in &cfg.join {
            cmd.arg(format!("-join={addr}"));
        }
        for (k, v) in &cfg.tags {
            cmd.arg(format!("-tag={k}={v}"));
        }
        let child = cmd
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
        let deadline = tokio::time::Instant::now() + DELIVERY;
        loop {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("agent {name} exited early ({status}):\n{}", agent.log());
            }
            if tokio::net::TcpStream::connect(rpc).await.is_ok() {
                return agent;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "agent {name}: RPC {rpc} not open within {DELIVERY:?}:\n{}",
                agent.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// memberlist and Serf warnings and errors in the log, except lines containing
    /// one of `expected`.
    pub fn complaints(&self, expected: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("[ERR]") || l.contains("[WARN]"))
            .filter(|l| l.contains(" memberlist: ") || l.contains(" serf: "))
            .filter(|l| !expected.iter().any(|e| l.contains(e)))
            .map(str::to_owned)
            .collect()
    }

    /// Runs `serf <command> -rpc-addr=<this agent> <args>`: exit code, stdout, stderr.
    pub async fn try_cli(&self, command: &str, args: &[&str]) -> (i32, String, String) {
        let child = tokio::process::Command::new(&self.serf)
            .arg(command)
            .arg(format!("-rpc-addr={}", self.rpc))
            .args(args)
            .env_remove("SERF_RPC_ADDR")
            .env_remove("SERF_RPC_AUTH")
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(30), child)
            .await
            .unwrap_or_else(|_| panic!("serf {command} {args:?} not done within 30 s"))
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

    /// Waits (bounded) until this agent lists `name` with `status`; its record.
    pub async fn wait_status(&self, name: &str, status: &str) -> serde_json::Value {
        self.wait_status_within(name, status, DELIVERY).await
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

    /// Waits (bounded) until the event handler has recorded `line` (`NAME PAYLOAD`).
    pub async fn wait_event(&self, line: &str) {
        let path = self.dir.join("events");
        let deadline = tokio::time::Instant::now() + DELIVERY;
        loop {
            let seen = std::fs::read_to_string(&path).unwrap_or_default();
            if seen.lines().any(|l| l == line) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}'s event handler did not see {line:?} within {DELIVERY:?}; it saw {seen:?}",
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
