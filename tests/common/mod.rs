//! Shared test helpers.
#![allow(dead_code)]

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
