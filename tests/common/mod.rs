//! Shared test helpers.
#![allow(dead_code)]

pub mod example;

use std::time::Duration;

/// A generous bound for anything gossip must deliver on loopback.
pub const DELIVERY: Duration = Duration::from_secs(15);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

#[allow(unused_imports)]
pub use serfer::testing::agent::serf_binary;

/// Runs `serf ARGS…` with a bounded wait; returns exit code and stdout.
pub async fn run_serf(serf: &std::path::Path, args: &[&str]) -> (i32, String) {
    let child = tokio::process::Command::new(serf)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), child)
        .await
        .unwrap_or_else(|_| panic!("serf {args:?} did not finish within 30 s"))
        .expect("serf runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Installs a subscriber that feeds `serfer::logs` (for `monitor`), once per test binary.
pub fn init_monitor_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            "info,serf_core=warn,memberlist=warn",
        ))
        .with(serfer::logs::layer())
        .try_init();
}

/// This process's resident memory, KiB (0 where /proc is missing).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}
