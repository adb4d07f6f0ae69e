//! Starting and stopping node processes of either implementation.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serfer::rpc::client::Client;
use tokio::process::{Child, Command};

/// Which implementation a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Impl {
    Serfer,
    Go,
}

impl std::fmt::Display for Impl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Impl::Serfer => "Serfer",
            Impl::Go => "Go serf",
        })
    }
}

/// One node process, killed (SIGKILL, by PID) when dropped.
pub struct Proc {
    pub name: String,
    pub gossip: String,
    pub rpc: String,
    pub child: Child,
    pub pid: u32,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A free port on 127.0.0.1 for both TCP and UDP (bound, then released).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(t) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 after 100 tries");
}

/// Starts a node; its stdout and stderr go to `log` (kept, so its warnings can be counted).
pub fn spawn(
    imp: Impl,
    serf: &str,
    name: &str,
    join: Option<&str>,
    log: &Path,
) -> std::io::Result<Proc> {
    let gossip = format!("127.0.0.1:{}", free_port());
    let rpc = format!("127.0.0.1:{}", free_port());
    let mut cmd = match imp {
        Impl::Serfer => {
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
                "warn",
                "--max-event-size",
                "1024",
            ]);
            if let Some(j) = join {
                c.args(["--join", j]);
            }
            c
        }
        Impl::Go => {
            let mut c = Command::new(serf);
            c.args([
                "agent",
                &format!("-node={name}"),
                &format!("-bind={gossip}"),
                &format!("-rpc-addr={rpc}"),
                "-profile=lan",
                "-log-level=warn",
            ]);
            if let Some(j) = join {
                c.arg(format!("-join={j}"));
            }
            c
        }
    };
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    Ok(Proc {
        name: name.to_owned(),
        gossip,
        rpc,
        child,
        pid,
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

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
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
