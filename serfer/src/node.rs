//! The running node: a cheap, cloneable handle.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{watch, Mutex};

use crate::engine::{self, QueryParams, QueryRefused};
use crate::error::Error;
use crate::event::{check_name, Tapped};
use crate::keys::Key;
use crate::member::Member;
use crate::payload::Payload;
use crate::query::{QueryOptions, QueryStream};
use crate::state::StateMap;

/// Where a node is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Running,
    /// Shut down on request.
    ShutDown,
    /// The engine stopped by itself; the reason.
    Stopped(String),
}

pub(crate) struct NodeInner {
    pub(crate) engine: engine::Handle,
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) max_event_size: usize,
    /// The gossip wire the node speaks, which decides the protocol versions it
    /// reports for members.
    pub(crate) wire: crate::config::Wire,
    pub(crate) query_timeout: Option<Duration>,
    /// The engine's limit on an encoded query message, in bytes.
    pub(crate) query_size_limit: usize,
    pub(crate) lifecycle: watch::Sender<Lifecycle>,
    /// serf-rs reads the query Lamport clock without incrementing it, so two queries
    /// started at once share an id and one never finishes. Serfer starts queries one
    /// at a time (on either engine, to keep one behaviour); the engine's local
    /// handling of each advances the clock.
    pub(crate) query_lock: Mutex<()>,
    pub(crate) pacer: crate::pacing::Pacer,
    pub(crate) states: StateMap,
    /// Every event this node receives, for RPC streams (lagging receivers lose the oldest).
    pub(crate) tap: tokio::sync::broadcast::Sender<Tapped>,
    pub(crate) rpc: std::sync::Mutex<Option<RpcHandle>>,
}

/// Dropping the last handle without [`Node::shutdown`] would leave the engine running
/// with its port bound; Serfer shuts it down (abruptly, like a crash: others see `failed`).
impl Drop for NodeInner {
    fn drop(&mut self) {
        if *self.lifecycle.borrow() != Lifecycle::Running {
            return;
        }
        let engine = self.engine.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = engine.shutdown().await;
            });
        }
    }
}

/// A handle on a running node. Cheap to clone; every clone drives the same node.
///
/// # Stopping
///
/// [`Node::leave`] departs gracefully (others see `left`); [`Node::shutdown`]
/// stops without a word (others see `failed`). Dropping the last handle, inside
/// a tokio runtime, is a shutdown: the node stops and frees its ports. A
/// handler still running and an open RPC connection each hold a handle, so
/// they keep the node up until they finish.
///
/// ```no_run
/// # async fn demo() -> Result<(), serfer::Error> {
/// let node = serfer::Node::builder().bind("127.0.0.1:0").start().await?;
/// node.event("deploy", &"v1.2".to_owned()).await?;
/// for m in node.members().await {
///     println!("{} {}:{} {}", m.name, m.addr, m.port, m.status);
/// }
/// node.leave().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

/// A service running beside the node (the RPC server): where it listens, and
/// its task, stopped when the node goes.
pub(crate) struct RpcHandle {
    pub(crate) addr: SocketAddr,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Drop for RpcHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
pub(crate) struct WeakNode(Weak<NodeInner>);

impl WeakNode {
    pub(crate) fn upgrade(&self) -> Option<Node> {
        self.0.upgrade().map(|inner| Node { inner })
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("addr", &self.inner.addr)
            .finish()
    }
}

/// Operator statistics, as `serf info` shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Members known, in any state.
    pub members: usize,
    /// Members failed.
    pub failed: usize,
    /// Members left.
    pub left: usize,
    /// Local health (0 is best).
    pub health_score: usize,
    /// Membership Lamport time.
    pub member_time: u64,
    /// User-event Lamport time.
    pub event_time: u64,
    /// Query Lamport time.
    pub query_time: u64,
    /// Membership messages waiting to be gossiped.
    pub intent_queue: usize,
    /// User events waiting to be gossiped.
    pub event_queue: usize,
    /// Queries waiting to be gossiped.
    pub query_queue: usize,
    /// Whether gossip is encrypted.
    pub encrypted: bool,
    /// How often the network coordinate was reset; `None` when coordinates are
    /// off.
    pub coordinate_resets: Option<usize>,
}

/// A Vivaldi network coordinate (units: seconds): Serf's, as the wire carries it.
pub use serfer_wire::serf::Coordinate;

/// The cluster's answer to a key operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// Nodes the cluster knows of.
    pub nodes: usize,
    /// Nodes that answered.
    pub responses: usize,
    /// Nodes that answered with an error.
    pub errors: usize,
    /// Error messages, by node name.
    pub messages: BTreeMap<String, String>,
    /// For `list_keys`: each installed key and how many nodes hold it.
    pub keys: BTreeMap<Key, usize>,
    /// For `list_keys`: each primary key and how many nodes use it.
    pub primary_keys: BTreeMap<Key, usize>,
}

impl KeyReport {
    /// True when every known node answered without error.
    pub fn is_complete(&self) -> bool {
        self.errors == 0 && self.responses >= self.nodes
    }
}

/// A key operation, as Serf's internal key queries name them.
pub(crate) enum KeyOp {
    Install,
    Use,
    Remove,
    List,
}

impl Node {
    pub(crate) fn downgrade(&self) -> WeakNode {
        WeakNode(Arc::downgrade(&self.inner))
    }

    pub(crate) fn states(&self) -> &StateMap {
        &self.inner.states
    }

    /// Where the RPC server listens, when it is on.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.inner
            .rpc
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.addr)
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The address and port this node advertises (with port 0 at bind, the real port).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub(crate) fn wait_is_over(&self) -> bool {
        *self.inner.lifecycle.borrow() != Lifecycle::Running
    }

    fn ensure_running(&self) -> Result<(), Error> {
        match &*self.inner.lifecycle.borrow() {
            Lifecycle::Running => Ok(()),
            Lifecycle::ShutDown => Err(Error::ShutDown),
            Lifecycle::Stopped(why) => Err(Error::Stopped(why.clone())),
        }
    }

    /// Sends a user event to every node. The payload is encoded and its size checked
    /// (name + payload against the node's limit, 512 bytes by default) before anything is sent.
    pub async fn event<T: Payload>(&self, name: &str, payload: &T) -> Result<(), Error> {
        self.send_event(name, payload, false).await
    }

    /// Like [`event`](Self::event), but receivers with coalescing on may deliver only
    /// the newest of several such events of this name sent within their coalesce period.
    pub async fn event_coalesced<T: Payload>(&self, name: &str, payload: &T) -> Result<(), Error> {
        self.send_event(name, payload, true).await
    }

    async fn send_event<T: Payload>(
        &self,
        name: &str,
        payload: &T,
        coalesce: bool,
    ) -> Result<(), Error> {
        check_name(name)?;
        self.send_any_event(name, payload, coalesce).await
    }

    /// Sends a user event under any name, empty or `_serf_…` included: Serf's
    /// agent accepts those from `serf event`, and RPC clients get what it gives.
    pub(crate) async fn send_any_event<T: Payload>(
        &self,
        name: &str,
        payload: &T,
        coalesce: bool,
    ) -> Result<(), Error> {
        self.ensure_running()?;
        let bytes = payload.encode().map_err(|source| Error::Encode {
            name: name.to_owned(),
            source,
        })?;
        self.check_event_size(name, &bytes, coalesce).await?;
        let _admitted = self
            .inner
            .pacer
            .admit(&self.inner.engine)
            .await
            .map_err(|b| Error::Backlog {
                name: name.to_owned(),
                queued: b.queued,
                waited: b.waited,
            })?;
        self.ensure_running()?;
        self.inner.engine.user_event(name, &bytes, coalesce).await
    }

    /// Serf's two limits on a user event, as Go's `Serf.UserEvent` applies them:
    /// the name plus the payload, then the whole encoded message (Lamport time,
    /// field names and lengths: about 30 bytes more), each against the one
    /// configured limit.
    async fn check_event_size(
        &self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), Error> {
        let limit = self.inner.max_event_size;
        let too_large = |size, encoded| Error::PayloadTooLarge {
            what: "user event",
            name: name.to_owned(),
            size,
            limit,
            encoded,
        };
        let size = name.len() + payload.len();
        if size > limit {
            return Err(too_large(size, false));
        }
        let encoded_with = |ltime| {
            serfer_wire::serf::SerfMessage::UserEvent(serfer_wire::serf::UserEvent {
                ltime,
                name: name.to_owned(),
                payload: Some(payload.to_vec()),
                cc: coalesce,
            })
            .encode()
            .map(|raw| raw.len())
            .unwrap_or(usize::MAX)
        };
        // The Lamport time's width changes the size by up to 8 bytes; it is only
        // looked up when that decides. The event carries the clock's current
        // time (the clock moves on after it is sent), as in Go and serf-rs.
        if encoded_with(u64::MAX) <= limit {
            return Ok(());
        }
        let ltime = self.inner.engine.stats().await.event_time;
        match encoded_with(ltime) {
            encoded if encoded > limit => Err(too_large(encoded, true)),
            _ => Ok(()),
        }
    }

    /// Sends a query and returns a handle on its acks and responses.
    ///
    /// ```no_run
    /// # async fn demo(node: serfer::Node) -> Result<(), serfer::Error> {
    /// use serfer::QueryOptions;
    /// let answers = node
    ///     .query("status", &(), QueryOptions::new().tag("role", "^web$"))
    ///     .await?
    ///     .collect()
    ///     .await;
    /// for (from, status) in answers.decode::<String>() {
    ///     println!("{from}: {status:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn query<T: Payload>(
        &self,
        name: &str,
        payload: &T,
        options: QueryOptions,
    ) -> Result<QueryStream, Error> {
        self.ensure_running()?;
        check_name(name)?;
        let bytes = payload.encode().map_err(|source| Error::Encode {
            name: name.to_owned(),
            source,
        })?;
        self.send_query(name, bytes, options).await
    }

    /// Serf's reachability probe: the internal `_serf_ping` query, which every
    /// node acks and none answers. The one internal query HashiCorp's agent lets
    /// RPC clients send (`serf reachability`).
    pub(crate) async fn ping_query(&self, options: QueryOptions) -> Result<QueryStream, Error> {
        self.ensure_running()?;
        self.send_query(PING_QUERY, bytes::Bytes::new(), options)
            .await
    }

    async fn send_query(
        &self,
        name: &str,
        bytes: bytes::Bytes,
        options: QueryOptions,
    ) -> Result<QueryStream, Error> {
        let timeout = match options.timeout.or(self.inner.query_timeout) {
            Some(t) => t,
            None => self.inner.engine.default_query_timeout().await,
        };
        let expected = self.expected_responders(&options).await;
        let params = QueryParams {
            nodes: &options.nodes,
            tags: &options.tags,
            request_ack: options.request_ack,
            relay_factor: options.relay_factor,
            timeout,
        };
        let response = {
            let _one_at_a_time = self.inner.query_lock.lock().await;
            self.inner
                .engine
                .query(name, bytes.clone(), params)
                .await
                .map_err(|e| match e {
                    QueryRefused::TooLarge(size) => Error::PayloadTooLarge {
                        what: "query",
                        name: name.to_owned(),
                        size,
                        limit: self.inner.query_size_limit,
                        encoded: true,
                    },
                    QueryRefused::Other(e) => e,
                })?
        };
        Ok(QueryStream::new(
            response,
            expected,
            options.request_ack,
            timeout,
        ))
    }

    /// The names of the alive members that the query's filters select: the set the
    /// query waits for before finishing early.
    async fn expected_responders(&self, options: &QueryOptions) -> Vec<String> {
        let regexes: Vec<(String, regex::Regex)> = options
            .tags
            .iter()
            .filter_map(|(t, e)| regex::Regex::new(e).ok().map(|r| (t.clone(), r)))
            .collect();
        self.members()
            .await
            .into_iter()
            .filter(|m| m.status == crate::MemberStatus::Alive)
            .filter(|m| options.nodes.is_empty() || options.nodes.contains(&m.name))
            .filter(|m| {
                regexes
                    .iter()
                    .all(|(t, r)| m.tags.get(t).is_some_and(|v| r.is_match(v)))
            })
            .map(|m| m.name)
            .collect()
    }

    /// Every member this node knows of, sorted by name.
    pub async fn members(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self.inner.engine.members().await;
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members
    }

    /// This node as the cluster sees it.
    pub async fn local_member(&self) -> Member {
        self.inner.engine.local_member().await
    }

    /// Replaces this node's tags; the change gossips to every node as an `update` event.
    pub async fn set_tags(&self, tags: BTreeMap<String, String>) -> Result<(), Error> {
        self.ensure_running()?;
        // Hook: `--tags-file` is rewritten before the tags gossip, as Go's agent does.
        crate::persist::tags_file::persist(self.states(), &tags)?;
        self.inner.engine.set_tags(tags).await
    }

    /// Joins the cluster through any of `addrs` (`host:port`, port 7946 when left out).
    /// Every address is tried; this succeeds if any answers and returns how many did.
    /// The cluster's earlier user events are not replayed to this node's handlers.
    pub async fn join(&self, addrs: &[String]) -> Result<usize, Error> {
        self.join_with_replay(addrs, false).await
    }

    /// Like [`join`](Self::join), replaying the cluster's recent user events when `replay`.
    pub async fn join_with_replay(&self, addrs: &[String], replay: bool) -> Result<usize, Error> {
        self.ensure_running()?;
        crate::join::join(&self.inner.engine, addrs, !replay).await
    }

    /// Marks a failed member as left at once (instead of waiting for the reaper) and
    /// stops trying to reconnect to it; with `prune`, forgets it entirely.
    pub async fn force_leave(&self, name: &str, prune: bool) -> Result<(), Error> {
        self.ensure_running()?;
        self.inner.engine.force_leave(name, prune).await
    }

    /// The network coordinate this node has cached for `name`, if any.
    pub fn coordinate(&self, name: &str) -> Option<Coordinate> {
        self.inner.engine.coordinate(name)
    }

    /// This node's own network coordinate, if coordinates are on.
    pub fn local_coordinate(&self) -> Option<Coordinate> {
        self.inner.engine.local_coordinate()
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Tapped> {
        self.inner.tap.subscribe()
    }

    /// Leaves the cluster gracefully (others see `left`), then shuts down.
    pub async fn leave(&self) -> Result<(), Error> {
        let left = self.depart().await;
        self.shutdown().await?;
        left
    }

    /// Tells the cluster this node leaves, without stopping it yet.
    pub(crate) async fn depart(&self) -> Result<(), Error> {
        self.ensure_running()?;
        self.inner.engine.leave().await
    }

    /// Stops the node at once, without telling the others (they will see it `failed`).
    /// Safe to call more than once.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let first = self.inner.lifecycle.send_if_modified(|l| {
            if *l == Lifecycle::Running {
                *l = Lifecycle::ShutDown;
                true
            } else {
                false
            }
        });
        if first {
            self.inner.engine.shutdown().await?;
        }
        Ok(())
    }

    /// Resolves when the node has stopped: `Ok` after [`shutdown`](Self::shutdown) or
    /// [`leave`](Self::leave), `Err(Error::Stopped)` if the engine stopped by itself
    /// (for example because another live node has the same name).
    pub async fn wait(&self) -> Result<(), Error> {
        let mut rx = self.inner.lifecycle.subscribe();
        let state = rx
            .wait_for(|l| *l != Lifecycle::Running)
            .await
            .map(|l| l.clone())
            .unwrap_or(Lifecycle::ShutDown);
        match state {
            Lifecycle::Stopped(why) => Err(Error::Stopped(why)),
            _ => Ok(()),
        }
    }

    /// Operator statistics.
    pub async fn stats(&self) -> Stats {
        self.inner.engine.stats().await
    }

    /// Installs `key` on every node (not yet used for sending).
    pub async fn install_key(&self, key: &Key) -> Result<KeyReport, Error> {
        self.key_op(KeyOp::Install, Some(key)).await
    }

    /// Makes `key` (already installed) the primary key on every node.
    pub async fn use_key(&self, key: &Key) -> Result<KeyReport, Error> {
        self.key_op(KeyOp::Use, Some(key)).await
    }

    /// Removes `key` (not the primary) from every node.
    pub async fn remove_key(&self, key: &Key) -> Result<KeyReport, Error> {
        self.key_op(KeyOp::Remove, Some(key)).await
    }

    /// Lists the keys installed across the cluster.
    pub async fn list_keys(&self) -> Result<KeyReport, Error> {
        self.key_op(KeyOp::List, None).await
    }

    async fn key_op(&self, op: KeyOp, key: Option<&Key>) -> Result<KeyReport, Error> {
        self.ensure_running()?;
        if !self.inner.engine.encryption_enabled() {
            return Err(Error::Config(
                "key operations need encryption: start the node with at least one key".into(),
            ));
        }
        self.ask_keys(op, key).await
    }

    /// Runs a key operation across the cluster even when this node has no
    /// keyring, as HashiCorp's agent does for `serf keys`: the cluster is asked,
    /// and each node that has no keyring answers so in the report.
    pub(crate) async fn key_op_anyway(
        &self,
        op: KeyOp,
        key: Option<&Key>,
    ) -> Result<KeyReport, Error> {
        self.ensure_running()?;
        self.ask_keys(op, key).await
    }

    async fn ask_keys(&self, op: KeyOp, key: Option<&Key>) -> Result<KeyReport, Error> {
        // Key operations are internal queries: one at a time, like every query.
        let _one_at_a_time = self.inner.query_lock.lock().await;
        self.inner.engine.key_op(op, key).await
    }
}

/// Serf's internal reachability query.
pub(crate) const PING_QUERY: &str = "_serf_ping";
