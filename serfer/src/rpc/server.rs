//! The RPC server: one task per connection reads requests in order; replies and
//! stream records go out through a per-connection writer, and stream records are
//! dropped (not waited for) when a client does not keep up, so no client can stall
//! the node.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmpv::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use super::codec::{self, map, FieldError, FrameError, FrameReader};
use crate::engine::ReceivedQuery;
use crate::node::RpcHandle;
use crate::{Error, Node};

/// How the RPC server listens.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// Where to listen (loopback unless you mean it: the protocol has no encryption).
    pub addr: SocketAddr,
    /// A token clients must send with `auth` first; `None` for no token.
    pub auth: Option<String>,
}

/// The RPC server.
pub(crate) struct RpcServer;

impl RpcServer {
    /// Starts serving `node`.
    pub(crate) async fn start(node: Node, settings: RpcSettings) -> Result<RpcHandle, Error> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: settings.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: settings.addr,
            source,
        })?;
        let auth = Arc::new(settings.auth);
        let weak = node.downgrade();
        drop(node);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                // Replies often follow a stream record on the same connection; with
                // Nagle's algorithm the reply waits for the client's delayed ACK
                // (measured: 22 ms per `event` call). Go's agent disables it too.
                let _ = stream.set_nodelay(true);
                let Some(node) = weak.upgrade() else { break };
                if node.wait_is_over() {
                    break;
                }
                let auth = auth.clone();
                tokio::spawn(async move {
                    tracing::debug!(%peer, "rpc client connected");
                    Connection::serve(node, stream, auth).await;
                    tracing::debug!(%peer, "rpc client gone");
                });
            }
        });
        tracing::info!(%addr, "RPC server listening");
        Ok(RpcHandle { addr, task })
    }
}

/// What the writer sends: replies wait for room, stream records do not.
pub(super) enum Out {
    Frames(Vec<Value>),
    /// Answered once everything before it is written.
    Flushed(tokio::sync::oneshot::Sender<()>),
    Close,
}

pub(super) const STREAM_BUFFER: usize = 512;

pub(super) struct Connection {
    pub(super) node: Node,
    pub(super) auth: Arc<Option<String>>,
    pub(super) out: mpsc::Sender<Out>,
    pub(super) handshaken: bool,
    pub(super) authed: bool,
    /// The request header as Go's agent keeps it: one per connection, each
    /// new header overwriting only the keys it has. A header without `Seq`
    /// (or a body read as a header) answers with the previous `Seq`.
    pub(super) last_command: String,
    pub(super) last_seq: u64,
    pub(super) streams: HashMap<u64, JoinHandle<()>>,
    pub(super) monitor: Option<(u64, JoinHandle<()>)>,
    pub(super) pending: Arc<Mutex<HashMap<u64, (ReceivedQuery, Instant)>>>,
    pub(super) next_query_id: Arc<AtomicU64>,
}

pub(super) fn header(seq: u64, error: &str) -> Value {
    map([("Error", Value::from(error)), ("Seq", Value::from(seq))])
}

/// What to do after a request.
pub(super) enum Next {
    Continue,
    Close,
}

impl Connection {
    async fn serve(node: Node, stream: TcpStream, auth: Arc<Option<String>>) {
        let (read, mut write) = stream.into_split();
        let (out, mut rx) = mpsc::channel::<Out>(STREAM_BUFFER);
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                match msg {
                    Out::Frames(frames) => {
                        let write_one = codec::write(&mut write, &frames);
                        // A client that stops reading is cut off rather than waited for.
                        match tokio::time::timeout(Duration::from_secs(10), write_one).await {
                            Ok(Ok(())) => {}
                            _ => break,
                        }
                    }
                    Out::Flushed(done) => {
                        let _ = write.flush().await;
                        let _ = done.send(());
                    }
                    Out::Close => break,
                }
            }
            let _ = write.shutdown().await;
        });
        let mut conn = Connection {
            node,
            auth,
            out,
            handshaken: false,
            authed: false,
            last_command: String::new(),
            last_seq: 0,
            streams: HashMap::new(),
            monitor: None,
            pending: Arc::new(Mutex::new(HashMap::new())),
            next_query_id: Arc::new(AtomicU64::new(1)),
        };
        let mut reader = FrameReader::new(read);
        let mut lifecycle = conn.node.inner.lifecycle.subscribe();
        loop {
            // A node that stops closes its RPC connections, as the Go agent does.
            let next = tokio::select! {
                next = reader.next() => next,
                _ = lifecycle.wait_for(|l| *l != crate::node::Lifecycle::Running) => break,
            };
            let header = match next {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(FrameError::Io(_)) | Err(FrameError::Truncated) => break,
                Err(e) => {
                    tracing::warn!("rpc: failed to evaluate request: {e}");
                    break;
                }
            };
            match conn.request(&header, &mut reader).await {
                Ok(Next::Continue) => {}
                Ok(Next::Close) => break,
                Err(e) => {
                    tracing::warn!("rpc: failed to evaluate request: decode failed: {e}");
                    break;
                }
            }
        }
        for (_, task) in conn.streams.drain() {
            task.abort();
        }
        if let Some((_, task)) = conn.monitor.take() {
            task.abort();
        }
        let _ = conn.out.send(Out::Close).await;
        let _ = writer.await;
    }

    pub(super) async fn reply(&self, frames: Vec<Value>) {
        let _ = self.out.send(Out::Frames(frames)).await;
    }

    /// Waits until everything sent so far is written to the socket (or the
    /// client is gone): before the node stops, so that the reply to `leave`
    /// reaches the client, as Go's agent's does.
    pub(super) async fn flushed(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.out.send(Out::Flushed(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    pub(super) async fn body(
        reader: &mut FrameReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> Result<Value, RequestError> {
        match reader.next().await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(RequestError::Closed),
            Err(e) => Err(RequestError::Frame(e)),
        }
    }
}

pub(super) fn err_text(e: Option<Error>) -> String {
    e.map(|e| e.to_string()).unwrap_or_default()
}

/// Why a request could not be carried out; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub(super) enum RequestError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Frame(FrameError),
    #[error("connection closed before the request body")]
    Closed,
}
