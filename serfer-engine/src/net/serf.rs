//! [`SerfNode`]: a [`Serf`] core on real sockets, with a handle an
//! application (or a runtime wrapper) drives: user events, queries whose acks
//! and responses stream back on a channel of their own, responses, tags,
//! join, leave, members, key management and the event channel.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{DriverCore, NetError, Running};
use crate::core::{Core, CoreOutput};
use crate::memberlist::StreamOutcome;
use crate::serf::{
    Coordinate, Event, KeyOp, KeyReport, Member, QueryId, QueryParams, Serf, SerfConfig,
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

/// The Serf core plus the routing of query answers to their streams.
struct SerfCore {
    serf: Serf,
    queries: HashMap<QueryId, mpsc::UnboundedSender<QueryAnswer>>,
    keys: HashMap<QueryId, oneshot::Sender<KeyReport>>,
}

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
    fn handle_push_pull_reply(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> bool {
        Core::handle_push_pull_reply(&mut self.serf, now, from, bytes)
    }
    fn handle_stream_ping_reply(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> bool {
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
}

/// A running Serf node. Dropping it stops the node without a leave.
pub struct SerfNode {
    running: Option<Running<SerfCore>>,
    events: mpsc::UnboundedReceiver<Event>,
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
        let name = config.memberlist.name.clone();
        let running = Running::start(config.memberlist.advertise, move |addr, now| {
            let mut config = config;
            config.memberlist.advertise = addr;
            let serf = Serf::new(config, now)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Ok(SerfCore {
                serf,
                queries: HashMap::new(),
                keys: HashMap::new(),
            })
        })
        .await?;
        let addr = running.addr;
        let (_, placeholder) = mpsc::unbounded_channel();
        let mut running = running;
        let events = std::mem::replace(&mut running.events, placeholder);
        Ok(SerfNode {
            running: Some(running),
            events,
            name,
            addr,
        })
    }

    fn running(&self) -> Result<&Running<SerfCore>, NetError> {
        self.running.as_ref().ok_or(NetError::Stopped)
    }

    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Serf, Instant) -> R + Send + 'static,
    ) -> Result<R, NetError> {
        self.running()?
            .call(move |core, now| f(&mut core.serf, now))
            .await
            .ok_or(NetError::Stopped)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the node is bound to and advertises.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Joins through `addrs`; returns how many push/pull exchanges
    /// succeeded. With `ignore_old`, earlier user events are not replayed.
    pub async fn join(&self, addrs: Vec<SocketAddr>, ignore_old: bool) -> Result<usize, NetError> {
        let n = addrs.len();
        self.running()?
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
        match self.running() {
            Ok(r) => {
                r.leave(timeout, |core, now| {
                    // Refused only when already leaving or left; the waiter
                    // then times out, as the caller asked for a bound.
                    let _ = core.serf.leave(now);
                })
                .await
            }
            Err(_) => false,
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
            .running()?
            .call(move |core, now| {
                let id = core.serf.query(now, &name, &payload, params)?;
                core.queries.insert(id, tx);
                Ok::<_, crate::serf::SerfError>(id)
            })
            .await
            .ok_or(NetError::Stopped)??;
        Ok(QueryStream { id, answers })
    }

    /// Answers a query received as [`Event::Query`].
    pub async fn respond(&self, query: QueryId, payload: &[u8]) -> Result<(), NetError> {
        let payload = payload.to_vec();
        self.call(move |serf, now| serf.respond(now, query, &payload))
            .await?
            .map_err(NetError::from)
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

    /// Runs a key operation on every node and waits for the tally (every
    /// member answered, or the query deadline).
    pub async fn key_op(&self, op: KeyOp) -> Result<KeyReport, NetError> {
        let (tx, rx) = oneshot::channel();
        self.running()?
            .call(move |core, now| {
                let id = core.serf.key_query(now, op, 0)?;
                core.keys.insert(id, tx);
                Ok::<_, crate::serf::SerfError>(())
            })
            .await
            .ok_or(NetError::Stopped)??;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The keys of this node's keyring, primary first.
    pub async fn keys(&self) -> Result<Vec<Vec<u8>>, NetError> {
        self.call(|serf, _| serf.memberlist().keyring().keys().to_vec())
            .await
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
    /// [`QueryStream`]s instead).
    pub fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event> {
        &mut self.events
    }

    /// Stops the node (without a leave) and waits for its task.
    pub async fn shutdown(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

impl Drop for SerfNode {
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.task.abort();
        }
    }
}
