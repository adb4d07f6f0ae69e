//! Per-binary test setup: logging. Everything else a test needs (bounds, processes,
//! ports, agents, memory) is in `serfer::testing`.
#![allow(dead_code)]

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
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
