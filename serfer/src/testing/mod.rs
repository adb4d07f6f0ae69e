//! A real cluster in one process, for testing your handlers (feature `testing`), and
//! the harness the workspace's own tests and benchmark share.
//!
//! ```no_run
//! use serfer::testing::{bounds, Recorder, TestCluster};
//! use serfer::{State, UserEvent};
//!
//! async fn deploy(ev: UserEvent<String>, State(seen): State<Recorder<String>>) {
//!     seen.record(ev.into_payload());
//! }
//!
//! # async fn demo() -> Result<(), serfer::Error> {
//! let seen: Recorder<String> = Recorder::new();
//! let cluster = TestCluster::start(3, |_, b| b.user_event("deploy", deploy).state(seen.clone())).await?;
//! cluster.node(0).event("deploy", &"v2".to_owned()).await?;
//! assert_eq!(seen.take(3, bounds::DELIVERY).await, vec!["v2"; 3]);
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! - [`TestCluster`], [`Recorder`], [`wait_until`], [`wait_for_status`]: Serfer nodes
//!   in this process, and what their handlers saw.
//! - [`agent`]: a real HashiCorp `serf agent` beside them, and its `serf` CLI.
//! - [`process`]: child processes (the examples, `serfer`, probes) under a guard that
//!   kills them by PID, their output awaited line by line.
//! - [`bounds`]: how long each kind of wait may take, and why.
//! - [`ports`]: free loopback ports for processes that need one up front.
//! - [`rss`]: resident memory of this process or another.
//! - [`TempDir`]: a directory of one test's own, removed when it ends.

pub mod agent;
pub mod bounds;
pub mod ports;
pub mod process;
pub mod rss;
mod temp_dir;

pub use temp_dir::TempDir;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex};

use crate::{Engine, Error, MemberStatus, Node, NodeBuilder, Profile};

/// The engine the tests run on: `SERFER_ENGINE` (`serf-rs` or `native`),
/// the default engine (native) when it is unset. Node processes a test starts read the same
/// variable (it is `--engine`'s), so one variable moves the whole suite.
///
/// # Panics
///
/// When the variable names no engine: a suite silently run on the wrong
/// engine would prove nothing.
pub fn engine() -> Engine {
    match std::env::var("SERFER_ENGINE") {
        Ok(v) if !v.is_empty() => v.parse().unwrap_or_else(|e| panic!("SERFER_ENGINE: {e}")),
        _ => Engine::default(),
    }
}

/// N real nodes on 127.0.0.1, each on a free port, all joined to the first.
pub struct TestCluster {
    nodes: Vec<Node>,
}

impl TestCluster {
    /// Starts `n` nodes. `configure(i, builder)` adds node `i`'s handlers and settings
    /// to a builder already set to bind `127.0.0.1:0`, use [`Profile::Local`] timing,
    /// be named `node-{i}-…`, run on [`engine()`], and (for `i > 0`) join node 0.
    /// Returns once every node sees all `n` alive (at most [`bounds::DELIVERY`]).
    pub async fn start<F>(n: usize, mut configure: F) -> Result<TestCluster, Error>
    where
        F: FnMut(usize, NodeBuilder) -> NodeBuilder,
    {
        let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let mut nodes: Vec<Node> = Vec::with_capacity(n);
        for i in 0..n {
            let mut b = Node::builder()
                .name(format!("node-{i}-{tag}"))
                .bind("127.0.0.1:0")
                .engine(engine())
                .profile(Profile::Local);
            if let Some(first) = nodes.first() {
                b = b.join(first.addr().to_string());
            }
            nodes.push(configure(i, b).start().await?);
        }
        let cluster = TestCluster { nodes };
        cluster
            .wait_converged(bounds::DELIVERY)
            .await
            .map_err(Error::Config)?;
        Ok(cluster)
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// All nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Waits until every node sees every node alive.
    pub async fn wait_converged(&self, timeout: Duration) -> Result<(), String> {
        let n = self.nodes.len();
        let nodes = self.nodes.clone();
        wait_until(
            timeout,
            &format!("all {n} nodes to see each other alive"),
            || {
                let nodes = nodes.clone();
                async move {
                    for node in &nodes {
                        let alive = node
                            .members()
                            .await
                            .iter()
                            .filter(|m| m.status == MemberStatus::Alive)
                            .count();
                        if alive != n {
                            return false;
                        }
                    }
                    true
                }
            },
        )
        .await
    }

    /// Shuts every node down.
    pub async fn shutdown(self) {
        for node in &self.nodes {
            let _ = node.shutdown().await;
        }
    }
}

/// Waits until `observer` sees the member `name` with `status`.
pub async fn wait_for_status(
    observer: &Node,
    name: &str,
    status: MemberStatus,
    timeout: Duration,
) -> Result<(), String> {
    let what = format!("{} to see {name} {status}", observer.name());
    let waited = wait_until(timeout, &what, || async {
        observer
            .members()
            .await
            .iter()
            .any(|m| m.name == name && m.status == status)
    })
    .await;
    match waited {
        Ok(()) => Ok(()),
        // Say what it saw instead: a member failed instead of left, or never
        // known, are different defects.
        Err(e) => {
            let seen = observer.members().await;
            let now = match seen.iter().find(|m| m.name == name) {
                Some(m) => format!("it sees {name} {}", m.status),
                None => format!("it does not know {name}"),
            };
            Err(format!("{e}; {now}"))
        }
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; `Err` names what was awaited.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut cond: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Collects what handlers saw, for a test to await. Clone it into handler state.
pub struct Recorder<T> {
    tx: mpsc::UnboundedSender<T>,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<T>>>,
}

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder {
            tx: self.tx.clone(),
            rx: self.rx.clone(),
        }
    }
}

impl<T: Send + 'static> Default for Recorder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> Recorder<T> {
    /// An empty recorder.
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Recorder {
            tx,
            rx: Arc::new(Mutex::new(rx)),
        }
    }

    /// Records one value (from a handler).
    pub fn record(&self, value: T) {
        let _ = self.tx.send(value);
    }

    /// The next value, or `None` after `timeout`.
    pub async fn next(&self, timeout: Duration) -> Option<T> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Up to `n` values, waiting at most `timeout` in all.
    pub async fn take(&self, n: usize, timeout: Duration) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.rx.lock().await;
        let mut out = Vec::with_capacity(n.min(1024));
        while out.len() < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(v)) => out.push(v),
                _ => break,
            }
        }
        out
    }

    /// Whatever arrives within `window`: for checking that nothing more comes.
    pub async fn drain_for(&self, window: Duration) -> Vec<T> {
        self.take(usize::MAX, window).await
    }
}
