//! Starting and stopping node processes of either implementation.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
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
///
/// Taken below the kernel's ephemeral range: a port handed out by binding port 0 is
/// in that range, and between releasing it and the node binding it, an outgoing
/// connection (there are hundreds during a run) can take it; a Go agent then exits
/// with "address already in use". Ports are handed out in turn, never twice a run.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = ephemeral_low().clamp(2048, 65535);
    let span = low - 1024;
    // Different runs start at different places, so two benchmarks can share a host.
    let _ = NEXT.compare_exchange(
        0,
        1 + std::process::id() % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..1000 {
        let port = 1024 + NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = port as u16;
        let Ok(_t) = TcpListener::bind(("127.0.0.1", port)) else {
            continue;
        };
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 below {low} after 1000 tries");
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
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
