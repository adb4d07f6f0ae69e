//! Joins retried in the background until one succeeds, as `serf agent
//! -retry-join` does (`cmd/serf/command/agent/command.go` `retryJoin`): every
//! `interval` (30 s by default, at least 1 s), logging each failure, giving up
//! after `max` failed retries (0: never), when the program exits 1.

use std::time::Duration;

use crate::node::Node;

/// Go's default `-retry-interval`.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Go's floor on `-retry-interval` (`minRetryInterval`).
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What to retry.
#[derive(Debug, Clone)]
pub(crate) struct RetryJoin {
    pub(crate) addrs: Vec<String>,
    pub(crate) interval: Duration,
    /// Failed attempts allowed after the first; 0 for no limit.
    pub(crate) max: u32,
    pub(crate) replay: bool,
}

/// Tries until a join succeeds (`true`) or the attempts run out (`false`).
///
/// As in Go, the attempt that exceeds `max` is the last: `max` 2 makes three
/// attempts in all.
pub(crate) async fn run(node: Node, r: RetryJoin) -> bool {
    let mut attempt: u32 = 0;
    loop {
        tracing::info!("Joining cluster...(replay: {})", r.replay);
        match node.join_with_replay(&r.addrs, r.replay).await {
            Ok(n) => {
                tracing::info!("Join completed. Synced with {n} initial agents");
                return true;
            }
            Err(e) => {
                attempt = attempt.saturating_add(1);
                if r.max > 0 && attempt > r.max {
                    tracing::error!(
                        "maximum retry join attempts made, exiting: {}",
                        super::one_line(&e)
                    );
                    return false;
                }
                tracing::warn!(
                    "Join failed: {}, retrying in {:?}",
                    super::one_line(&e),
                    r.interval
                );
                tokio::time::sleep(r.interval).await;
            }
        }
    }
}
