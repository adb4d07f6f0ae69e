//! [`SerfNode`]: a [`Serf`] core on real sockets, with a handle an
//! application (or a runtime wrapper) drives: user events, queries whose acks
//! and responses stream back on a channel of their own, responses, tags,
//! join, leave, force-leave, members, key management, stats and the event
//! channel. Every command takes `&self`, shutdown included, so one node can
//! be shared between tasks behind an `Arc`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time;

use super::{DriverCore, Handle, NetError, Running};
use crate::core::{Core, CoreOutput};
use crate::memberlist::{StreamError, StreamOutcome};
use crate::serf::{
    Coordinate, Event, KeyOp, KeyReport, Member, MemberStatus, QueryId, QueryParams, Serf,
    SerfConfig, SerfError, SerfInfo, SerfState,
};
use crate::Instant;

/// One answer to a query this node sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAnswer {
    /// `from` received the query (only when acks were requested).
    Ack {
        /// The acknowledging node.
        from: String,
    },
    /// `from` answered.
    Response {
        /// The answering node.
        from: String,
        /// Its answer.
        payload: Vec<u8>,
    },
}

/// The answers to one query, until its deadline (then the channel closes).
#[derive(Debug)]
pub struct QueryStream {
    /// The query.
    pub id: QueryId,
    answers: mpsc::UnboundedReceiver<QueryAnswer>,
}

impl QueryStream {
    /// The next answer; `None` once the query's deadline has passed.
    pub async fn next(&mut self) -> Option<QueryAnswer> {
        self.answers.recv().await
    }

    /// Every answer until the deadline.
    pub async fn collect(mut self) -> Vec<QueryAnswer> {
        let mut all = Vec::new();
        while let Some(a) = self.next().await {
            all.push(a);
        }
        all
    }
}

/// The Serf core plus the routing of query answers to their streams, and of
/// finished force-leave broadcasts to whoever waits for them.
struct SerfCore {
    serf: Serf,
    queries: HashMap<QueryId, mpsc::UnboundedSender<QueryAnswer>>,
    keys: HashMap<QueryId, oneshot::Sender<KeyReport>>,
    broadcasts: HashMap<u64, oneshot::Sender<()>>,
    observer: Option<Observer>,
}

/// Called with the core after every turn of the node's task; see
/// [`SerfNode::start_observed`].
pub type Observer = Box<dyn FnMut(&Serf) + Send>;

impl SerfCore {
    /// Routes an answer to its query's stream; gives back events that are
    /// not for a stream.
    fn route(&mut self, e: Event) -> Option<Event> {
        match e {
            Event::QueryAck { query, from } if self.queries.contains_key(&query) => {
                if let Some(tx) = self.queries.get(&query) {
                    let _ = tx.send(QueryAnswer::Ack { from });
                }
                None
            }
            Event::QueryResponse {
                query,
                from,
                payload,
            } if self.queries.contains_key(&query) => {
                if let Some(tx) = self.queries.get(&query) {
                    let _ = tx.send(QueryAnswer::Response { from, payload });
                }
                None
            }
            Event::QueryDone { query } if self.queries.contains_key(&query) => {
                self.queries.remove(&query);
                None
            }
            Event::KeyReport { query, report } if self.keys.contains_key(&query) => {
                if let Some(tx) = self.keys.remove(&query) {
                    let _ = tx.send(report);
                }
                None
            }
            e => Some(e),
        }
    }
}

impl Core for SerfCore {
    type Event = Event;
    fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        Core::handle_packet(&mut self.serf, now, from, bytes)
    }
    fn handle_stream(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> StreamOutcome {
        Core::handle_stream(&mut self.serf, now, from, bytes)
    }
    fn handle_push_pull_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        join: bool,
    ) -> Result<(), StreamError> {
        Core::handle_push_pull_reply(&mut self.serf, now, from, bytes, join)
    }
    fn handle_stream_ping_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), StreamError> {
        Core::handle_stream_ping_reply(&mut self.serf, now, from, bytes)
    }
    fn tick(&mut self, now: Instant) {
        Core::tick(&mut self.serf, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Core::poll_timeout(&self.serf)
    }
    /// The Serf core's outputs, with its events routed: answers to this
    /// node's own queries go to their streams, the rest to the event channel.
    fn poll_output(&mut self) -> Option<CoreOutput<Event>> {
        // The driver polls after every input, so a waiter hears of its
        // broadcast as soon as the core does.
        for id in self.serf.take_finished_broadcasts() {
            if let Some(tx) = self.broadcasts.remove(&id) {
                let _ = tx.send(());
            }
        }
        Some(match Core::poll_output(&mut self.serf)? {
            CoreOutput::Event(e) => match self.route(e) {
                Some(e) => CoreOutput::Event(e),
                None => CoreOutput::Ignore,
            },
            other => other,
        })
    }
}

impl DriverCore for SerfCore {
    fn tcp_timeout(&self) -> Duration {
        self.serf.config().memberlist.tcp_timeout
    }

    fn after_turn(&mut self) {
        if let Some(observe) = &mut self.observer {
            observe(&self.serf);
        }
    }
}

/// A running Serf node. Dropping it stops the node without a leave.
///
/// Every method but [`SerfNode::take_events`] and [`SerfNode::events`] takes
/// `&self`, so the node can be shared (`Arc<SerfNode>`) and driven from many
/// tasks. Once its task has ended — [`SerfNode::shutdown`], or the core
/// shutting itself down after a lost name conflict — commands fail with
/// [`NetError::Stopped`] and [`SerfNode::stopped`] resolves.
pub struct SerfNode {
    handle: Handle<SerfCore>,
    /// Taken by the first [`SerfNode::shutdown`], which awaits it.
    task: Mutex<Option<JoinHandle<()>>>,
    stopped: watch::Receiver<bool>,
    events: mpsc::UnboundedReceiver<Event>,
    events_taken: bool,
    name: String,
    addr: SocketAddr,
}

impl std::fmt::Debug for SerfNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerfNode")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish()
    }
}

impl SerfNode {
    /// Binds `config.memberlist.advertise` for UDP and TCP (port 0 picks a
    /// free port for both; the advertised address becomes the bound one) and
    /// starts the node.
    pub async fn start(config: SerfConfig) -> io::Result<SerfNode> {
        let bind = config.memberlist.advertise;
        Self::start_on(bind, config).await
    }

    /// Binds `bind` for UDP and TCP and starts the node, advertising
    /// `config.memberlist.advertise` (behind a NAT, or when bound to every
    /// interface). An unspecified advertised IP or port 0 is filled in from
    /// the bound address.
    pub async fn start_on(bind: SocketAddr, config: SerfConfig) -> io::Result<SerfNode> {
        Self::start_observed(bind, config, None).await
    }

    /// [`SerfNode::start_on`], with `observer` called on the node's task with
    /// the core after each input, timer or command has been handled and its
    /// packets sent. It lets a wrapper keep a copy of what it reads often
    /// (coordinates, the clock) without a message to the task and back; it
    /// must be quick, since the node waits for it.
    ///
    /// ```no_run
    /// # async fn demo(config: serfer_engine::serf::SerfConfig) -> std::io::Result<()> {
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let clock = Arc::new(AtomicU64::new(0));
    /// let seen = clock.clone();
    /// let bind = "127.0.0.1:0".parse().unwrap();
    /// let node = serfer_engine::net::SerfNode::start_observed(
    ///     bind,
    ///     config,
    ///     Some(Box::new(move |serf| seen.store(serf.clock(), Ordering::Relaxed))),
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_observed(
        bind: SocketAddr,
        config: SerfConfig,
        observer: Option<Observer>,
    ) -> io::Result<SerfNode> {
        let name = config.memberlist.name.clone();
        let wanted = config.memberlist.advertise;
        let advertised = move |bound: SocketAddr| {
            SocketAddr::new(
                if wanted.ip().is_unspecified() {
                    bound.ip()
                } else {
                    wanted.ip()
                },
                if wanted.port() == 0 {
                    bound.port()
                } else {
                    wanted.port()
                },
            )
        };
        let Running {
            handle,
            events,
            addr: bound,
            task,
            stopped,
        } = Running::start(bind, move |bound, now, seed| {
            let mut config = config;
            config.memberlist.advertise = advertised(bound);
            config.memberlist.seed = seed;
            let serf = Serf::new(config, now)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Ok(SerfCore {
                serf,
                queries: HashMap::new(),
                keys: HashMap::new(),
                broadcasts: HashMap::new(),
                observer,
            })
        })
        .await?;
        Ok(SerfNode {
            handle,
            task: Mutex::new(Some(task)),
            stopped,
            events,
            events_taken: false,
            name,
            addr: advertised(bound),
        })
    }

    /// Runs `f` on the whole core (Serf plus the answer routing).
    async fn call_core<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SerfCore, Instant) -> R + Send + 'static,
    ) -> Result<R, NetError> {
        self.handle.call(f).await.ok_or(NetError::Stopped)
    }

    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Serf, Instant) -> R + Send + 'static,
    ) -> Result<R, NetError> {
        self.call_core(move |core, now| f(&mut core.serf, now))
            .await
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the node advertises (the bound one unless
    /// [`SerfNode::start_on`] was given another).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Joins through `addrs`; returns how many push/pull exchanges
    /// succeeded, or [`NetError::NotJoined`] with each address's failure when
    /// none did. With `ignore_old`, earlier user events are not replayed.
    pub async fn join(&self, addrs: Vec<SocketAddr>, ignore_old: bool) -> Result<usize, NetError> {
        let n = addrs.len();
        self.handle
            .join(n, move |core, now| {
                core.serf
                    .join(now, &addrs, ignore_old)
                    .map_err(NetError::from)
            })
            .await
    }

    /// Leaves gracefully; true if the leave completed within `timeout`. The
    /// node keeps answering until [`SerfNode::shutdown`].
    pub async fn leave(&self, timeout: Duration) -> bool {
        self.handle
            .leave(timeout, |core, now| {
                // Refused only when already leaving or left; the waiter
                // then times out, as the caller asked for a bound.
                let _ = core.serf.leave(now);
            })
            .await
    }

    /// Forcibly marks a failed member as left, and with `prune` forgets it
    /// (Go's `RemoveFailedNode` and `RemoveFailedNodePrune`; see
    /// [`Serf::remove_failed_node`]). Returns once the leave intent has been
    /// fully gossiped, or at once when no other member is alive to hear it;
    /// [`NetError::BroadcastTimeout`] after the configured
    /// `broadcast_timeout`.
    pub async fn remove_failed_node(&self, name: &str, prune: bool) -> Result<(), NetError> {
        let name = name.to_owned();
        let (tx, rx) = oneshot::channel();
        let (id, timeout) = self
            .call_core(move |core, now| {
                let id = core.serf.remove_failed_node(now, &name, prune)?;
                if let Some(id) = id {
                    // Registered before the driver next polls the core, so
                    // the end of the broadcast cannot be missed.
                    core.broadcasts.insert(id, tx);
                }
                Ok::<_, SerfError>((id, core.serf.config().broadcast_timeout))
            })
            .await??;
        if id.is_none() {
            return Ok(());
        }
        match time::timeout(timeout, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(NetError::Stopped),
            Err(_) => Err(NetError::BroadcastTimeout),
        }
    }

    /// Gossips a user event.
    pub async fn user_event(
        &self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), NetError> {
        let (name, payload) = (name.to_owned(), payload.to_vec());
        self.call(move |serf, _| serf.user_event(&name, &payload, coalesce))
            .await?
            .map_err(NetError::from)
    }

    /// Sends a query; its acks and responses arrive on the returned stream
    /// until the deadline.
    pub async fn query(
        &self,
        name: &str,
        payload: &[u8],
        params: QueryParams,
    ) -> Result<QueryStream, NetError> {
        let (name, payload) = (name.to_owned(), payload.to_vec());
        let (tx, answers) = mpsc::unbounded_channel();
        let id = self
            .call_core(move |core, now| {
                let id = core.serf.query(now, &name, &payload, params)?;
                core.queries.insert(id, tx);
                Ok::<_, SerfError>(id)
            })
            .await??;
        Ok(QueryStream { id, answers })
    }

    /// Answers a query received as [`Event::Query`].
    pub async fn respond(&self, query: QueryId, payload: &[u8]) -> Result<(), NetError> {
        let payload = payload.to_vec();
        self.call(move |serf, now| serf.respond(now, query, &payload))
            .await?
            .map_err(NetError::from)
    }

    /// The deadline a query gets when its parameters set none (Go's
    /// `DefaultQueryTimeout`), for the cluster's current size.
    pub async fn default_query_timeout(&self) -> Result<Duration, NetError> {
        self.call(|serf, _| serf.default_query_timeout()).await
    }

    /// Replaces this node's tags.
    pub async fn set_tags(&self, tags: BTreeMap<String, String>) -> Result<(), NetError> {
        self.call(move |serf, now| serf.set_tags(now, tags))
            .await?
            .map_err(NetError::from)
    }

    /// Every member Serf knows, this node included.
    pub async fn members(&self) -> Result<Vec<Member>, NetError> {
        self.call(|serf, _| serf.members().cloned().collect()).await
    }

    /// This node as a member (Go's `LocalMember`).
    pub async fn local_member(&self) -> Result<Member, NetError> {
        self.call(|serf, _| local_member(serf)).await
    }

    /// Counts, clocks and queues (Go's `Stats`).
    pub async fn info(&self) -> Result<SerfInfo, NetError> {
        self.call(|serf, _| serf.info()).await
    }

    /// Runs a key operation on every node and waits for the tally (every
    /// member answered, or the query deadline).
    pub async fn key_op(&self, op: KeyOp) -> Result<KeyReport, NetError> {
        let (tx, rx) = oneshot::channel();
        self.call_core(move |core, now| {
            let id = core.serf.key_query(now, op, 0)?;
            core.keys.insert(id, tx);
            Ok::<_, SerfError>(())
        })
        .await??;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The keys of this node's keyring, primary first.
    pub async fn keys(&self) -> Result<Vec<Vec<u8>>, NetError> {
        self.call(|serf, _| serf.memberlist().keyring().keys().to_vec())
            .await
    }

    /// Whether gossip is encrypted (Go's `EncryptionEnabled`).
    pub async fn encryption_enabled(&self) -> Result<bool, NetError> {
        self.call(|serf, _| serf.encryption_enabled()).await
    }

    /// This node's coordinate, or a peer's latest.
    pub async fn coordinate(&self, node: &str) -> Result<Option<Coordinate>, NetError> {
        let node = node.to_owned();
        self.call(move |serf, _| serf.node_coordinate(&node).cloned())
            .await
    }

    /// Runs `f` on the core, for what the handle does not cover.
    pub async fn with_core<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Serf, Instant) -> R + Send + 'static,
    ) -> Result<R, NetError> {
        self.call(f).await
    }

    /// Serf events as they happen (answers to this node's queries go to their
    /// [`QueryStream`]s instead). After [`SerfNode::take_events`] this
    /// receiver is closed and yields nothing.
    pub fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event> {
        &mut self.events
    }

    /// Moves the event receiver out, for a task of its own; `None` when it
    /// was already taken.
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<Event>> {
        if self.events_taken {
            return None;
        }
        self.events_taken = true;
        let (_, closed) = mpsc::unbounded_channel();
        Some(std::mem::replace(&mut self.events, closed))
    }

    /// Resolves once the node's task has ended, for any reason:
    /// [`SerfNode::shutdown`], a lost name conflict, or the node being
    /// dropped. It does not borrow the node.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.stopped.clone();
        async move {
            // An error means the task was aborted: stopped as well.
            let _ = stopped.wait_for(|&s| s).await;
        }
    }

    /// Stops the node (without a leave) and waits for its task. Calling it
    /// again, or from several tasks at once, is harmless: every call returns
    /// once the task has ended.
    pub async fn shutdown(&self) {
        self.handle.stop();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match task {
            // A task that panicked has ended all the same.
            Some(task) => {
                let _ = task.await;
            }
            // Another call holds the task; wait for the same end.
            None => self.stopped().await,
        }
    }
}

/// This node's own record; rebuilt from memberlist in the rare case it was
/// forgotten (pruned or reaped while leaving).
fn local_member(serf: &Serf) -> Member {
    if let Some(m) = serf.member(serf.name()) {
        return m.clone();
    }
    let me = serf.memberlist().local_member();
    Member {
        name: me.name.clone(),
        addr: me.addr,
        tags: serf.tags().clone(),
        status: match serf.state() {
            SerfState::Alive => MemberStatus::Alive,
            SerfState::Leaving => MemberStatus::Leaving,
            SerfState::Left | SerfState::Shutdown => MemberStatus::Left,
        },
        vsn: me.vsn,
    }
}

impl Drop for SerfNode {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.as_ref() {
            task.abort();
        }
    }
}
