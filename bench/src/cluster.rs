//! Starting and stopping node processes of either implementation.
//!
//! Nodes log at `warn` into their files under `$TMPDIR/serfer-bench-<pid>/`;
//! `SERFER_BENCH_LOG=info` (or `debug`) makes both implementations say more,
//! to find out why a run was slow.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serfer::testing::agent::{Agent, AgentOptions};
use serfer::testing::ports::free_port;
use serfer::testing::process::Proc;
use serfer_rpc::client::Client;

/// Which implementation a cluster runs: Serfer on one of its engines, or Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Impl {
    /// Serfer on its own engine.
    Native,
    /// Serfer on serf-rs.
    SerfRs,
    /// HashiCorp's agent.
    Go,
}

impl Impl {
    /// Serfer on `engine`.
    pub fn serfer(engine: serfer::Engine) -> Impl {
        match engine {
            serfer::Engine::Native => Impl::Native,
            serfer::Engine::SerfRs => Impl::SerfRs,
        }
    }

    /// Serfer's engine, or None for Go's agent.
    pub fn engine(self) -> Option<serfer::Engine> {
        match self {
            Impl::Native => Some(serfer::Engine::Native),
            Impl::SerfRs => Some(serfer::Engine::SerfRs),
            Impl::Go => None,
        }
    }
}

impl std::fmt::Display for Impl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.engine() {
            Some(e) => write!(f, "Serfer ({e})"),
            None => f.write_str("Go serf"),
        }
    }
}

/// One node process of either implementation, killed (SIGKILL, by PID) and reaped
/// when dropped.
pub struct Member {
    pub name: String,
    pub gossip: String,
    pub rpc: String,
    running: Running,
}

/// The guard that owns the process.
enum Running {
    Serfer(Proc),
    Go(Agent),
}

impl Member {
    /// The process ID.
    pub fn pid(&self) -> u32 {
        match &self.running {
            Running::Serfer(p) => p.pid(),
            Running::Go(a) => a.pid(),
        }
    }

    /// `kill -9`, by PID: a crash, no leave.
    pub fn kill(&mut self) {
        match &mut self.running {
            Running::Serfer(p) => p.kill(),
            Running::Go(a) => a.kill(),
        }
    }
}

/// The level both implementations' nodes log at.
fn log_level() -> String {
    std::env::var("SERFER_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned())
}

/// Starts a node; its stdout and stderr go to `log` (kept, so its warnings can be
/// counted). Ports come from [`free_port`].
pub fn spawn(
    imp: Impl,
    serf: &str,
    name: &str,
    join: Option<&str>,
    log: &Path,
) -> std::io::Result<Member> {
    let gossip = format!("127.0.0.1:{}", free_port());
    let rpc = format!("127.0.0.1:{}", free_port());
    let running = match imp.engine() {
        Some(engine) => {
            let mut c = Command::new(std::env::current_exe()?);
            c.args([
                "node",
                "--node",
                name,
                "--bind",
                &gossip,
                "--rpc-addr",
                &rpc,
                "--profile",
                "lan",
                "--log",
                &log_level(),
                "--max-event-size",
                "1024",
                "--engine",
                &engine.to_string(),
            ]);
            if let Some(j) = join {
                c.args(["--join", j]);
            }
            let out = std::fs::File::create(log)?;
            let err = out.try_clone()?;
            c.stdin(Stdio::null()).stdout(out).stderr(err);
            Running::Serfer(Proc::try_spawn(name, &mut c)?)
        }
        None => {
            let addr = |a: &str| {
                a.parse().map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{a}: {e}"))
                })
            };
            let opts = AgentOptions {
                join: join.map(addr).transpose()?.into_iter().collect(),
                addrs: Some((addr(&gossip)?, addr(&rpc)?)),
                log_level: Some(log_level()),
                log_file: Some(log.to_owned()),
                // No handler forked per event: both sides deliver to no one.
                no_event_handler: true,
                args: vec!["-profile=lan".to_owned()],
                ..AgentOptions::default()
            };
            Running::Go(Agent::spawn(Path::new(serf), name, opts))
        }
    };
    Ok(Member {
        name: name.to_owned(),
        gossip,
        rpc,
        running,
    })
}

/// Connects to a node's RPC, retrying until it listens (at most `within`).
pub async fn connect(rpc: &str, within: Duration) -> Result<Client, String> {
    let deadline = Instant::now() + within;
    loop {
        match Client::connect(rpc, None).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() >= deadline => return Err(format!("{rpc}: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// User + system CPU time of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second (sysconf(_SC_CLK_TCK); 100 on Linux).
pub const TICKS_PER_SEC: f64 = 100.0;

/// How many lines of the log files contain `needle`.
pub fn count_lines(logs: &[std::path::PathBuf], needle: &str) -> usize {
    logs.iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| text.lines().filter(|l| l.contains(needle)).count())
        .sum()
}
