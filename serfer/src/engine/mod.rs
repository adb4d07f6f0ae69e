//! The gossip engine behind a node, and the one seam Serfer drives it through.
//!
//! Two engines can run a node ([`Engine`](crate::Engine)): serf-rs (the `serf`
//! crate, in [`serf_rs`], with its transport and the translation to
//! HashiCorp's wire) and Serfer's own (`serfer-engine`, in [`native`]).
//! [`Handle`] holds either one and offers exactly the calls the runtime makes,
//! in Serfer's types: the node, dispatch, pacing, joining and the RPC server
//! name no engine's types. An enum rather than a trait object: two engines, no
//! generics leaking into `Node`, and each arm deleted in one place.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{Config, Engine};
use crate::error::Error;
use crate::keys::Key;
use crate::member::{Member, MemberEventKind};
use crate::node::{Coordinate, KeyOp, KeyReport, Stats};

mod native;
pub(crate) mod serf_rs;

#[cfg(feature = "unstable-engine")]
pub use serf_rs::EngineOptions;
pub(crate) use serf_rs::Tweak;

/// The native engine's settings, for `NodeBuilder::native_options` (feature
/// `unstable-engine`).
pub use serfer_engine::serf::SerfConfig as NativeOptions;

/// A last adjustment of the native engine's settings, applied just before start.
pub(crate) type NativeTweak = Arc<dyn Fn(NativeOptions) -> NativeOptions + Send + Sync>;
pub use serf_rs::MAX_EVENT_SIZE;

/// What a node is started with beyond its [`Config`].
pub(crate) struct StartOptions {
    pub(crate) name: String,
    pub(crate) keyring_file: Option<PathBuf>,
    pub(crate) query_size_limit: Option<usize>,
    pub(crate) query_response_size_limit: Option<usize>,
    pub(crate) tweak: Option<Tweak>,
    pub(crate) native_tweak: Option<NativeTweak>,
}

/// A started engine: the handle, its events, the address it advertises and
/// the query size limit it enforces (errors name it).
pub(crate) struct Started {
    pub(crate) handle: Handle,
    pub(crate) events: Events,
    pub(crate) addr: SocketAddr,
    pub(crate) query_size_limit: usize,
}

/// Starts the engine `cfg` asks for.
pub(crate) async fn start(cfg: &Config, opts: StartOptions) -> Result<Started, Error> {
    match cfg.engine {
        Engine::SerfRs => serf_rs::start(cfg, opts).await,
        Engine::Native => native::start(cfg, opts).await,
    }
}

/// A running engine. Cheap to clone.
#[derive(Clone)]
pub(crate) enum Handle {
    SerfRs(serf_rs::Serf),
    Native(Arc<native::Native>),
}

/// A query's filters and settings, as the engine sends them.
pub(crate) struct QueryParams<'a> {
    pub(crate) nodes: &'a [String],
    pub(crate) tags: &'a [(String, String)],
    pub(crate) request_ack: bool,
    pub(crate) relay_factor: u8,
    pub(crate) timeout: Duration,
}

/// Why a query was not sent.
pub(crate) enum QueryRefused {
    /// Encoded, it is `size` bytes, over the limit.
    TooLarge(usize),
    Other(Error),
}

impl Handle {
    /// Gossips a user event (the caller has checked its size).
    pub(crate) async fn user_event(
        &self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), Error> {
        match self {
            Handle::SerfRs(s) => serf_rs::user_event(s, name, payload, coalesce).await,
            Handle::Native(n) => n.user_event(name, payload, coalesce).await,
        }
    }

    /// Sends a query; its acks and responses arrive on the returned stream.
    pub(crate) async fn query(
        &self,
        name: &str,
        payload: Bytes,
        params: QueryParams<'_>,
    ) -> Result<Answers, QueryRefused> {
        match self {
            Handle::SerfRs(s) => serf_rs::query(s, name, payload, params).await,
            Handle::Native(n) => n.query(name, &payload, params).await,
        }
    }

    /// Serf's default query timeout for the cluster's current size.
    pub(crate) async fn default_query_timeout(&self) -> Duration {
        match self {
            Handle::SerfRs(s) => s.default_query_timeout().await,
            Handle::Native(n) => n.default_query_timeout().await,
        }
    }

    pub(crate) async fn stats(&self) -> Stats {
        match self {
            Handle::SerfRs(s) => serf_rs::stats(s).await,
            Handle::Native(n) => n.stats().await,
        }
    }

    /// Every member, this node included, in no particular order.
    pub(crate) async fn members(&self) -> Vec<Member> {
        match self {
            Handle::SerfRs(s) => s.members().await.iter().map(serf_rs::member).collect(),
            Handle::Native(n) => n.members().await,
        }
    }

    pub(crate) async fn local_member(&self) -> Member {
        match self {
            Handle::SerfRs(s) => serf_rs::member(&s.local_member().await),
            Handle::Native(n) => n.local_member().await,
        }
    }

    pub(crate) async fn set_tags(&self, tags: BTreeMap<String, String>) -> Result<(), Error> {
        match self {
            Handle::SerfRs(s) => serf_rs::set_tags(s, &tags).await,
            Handle::Native(n) => n.set_tags(tags).await,
        }
    }

    /// Joins through one address (a push/pull with it).
    pub(crate) async fn join(&self, addr: SocketAddr, ignore_old: bool) -> Result<(), Error> {
        match self {
            Handle::SerfRs(s) => serf_rs::join(s, addr, ignore_old).await,
            Handle::Native(n) => n.join(addr, ignore_old).await,
        }
    }

    /// This node's keys, primary first; empty without encryption.
    pub(crate) async fn local_keys(&self) -> Vec<Vec<u8>> {
        match self {
            Handle::SerfRs(s) => serf_rs::local_keys(s),
            Handle::Native(n) => n.local_keys().await,
        }
    }

    /// Makes an installed key this node's primary, here only.
    pub(crate) async fn use_local_key(&self, key: &[u8]) -> bool {
        match self {
            Handle::SerfRs(s) => serf_rs::use_local_key(s, key),
            Handle::Native(n) => n.use_local_key(key).await,
        }
    }

    /// Marks a failed member left (Serf's `RemoveFailedNode`); with `prune`,
    /// forgets it.
    pub(crate) async fn force_leave(&self, name: &str, prune: bool) -> Result<(), Error> {
        match self {
            Handle::SerfRs(s) => serf_rs::force_leave(s, name, prune).await,
            Handle::Native(n) => n.force_leave(name, prune).await,
        }
    }

    /// The coordinate cached for `name`.
    pub(crate) fn coordinate(&self, name: &str) -> Option<Coordinate> {
        match self {
            Handle::SerfRs(s) => serf_rs::coordinate(s, name),
            Handle::Native(n) => n.coordinate(name),
        }
    }

    pub(crate) fn local_coordinate(&self) -> Option<Coordinate> {
        match self {
            Handle::SerfRs(s) => serf_rs::local_coordinate(s),
            Handle::Native(n) => n.local_coordinate(),
        }
    }

    pub(crate) fn encryption_enabled(&self) -> bool {
        match self {
            Handle::SerfRs(s) => s.encryption_enabled(),
            Handle::Native(n) => n.encryption_enabled(),
        }
    }

    /// Runs a key operation across the cluster.
    pub(crate) async fn key_op(&self, op: KeyOp, key: Option<&Key>) -> Result<KeyReport, Error> {
        match self {
            Handle::SerfRs(s) => serf_rs::key_op(s, op, key).await,
            Handle::Native(n) => n.key_op(op, key).await,
        }
    }

    /// Gossips this node's leave and waits until it has spread.
    pub(crate) async fn leave(&self) -> Result<(), Error> {
        match self {
            Handle::SerfRs(s) => s
                .leave()
                .await
                .map_err(|e| Error::engine("leaving the cluster", e)),
            Handle::Native(n) => n.leave().await,
        }
    }

    pub(crate) async fn shutdown(&self) -> Result<(), Error> {
        match self {
            Handle::SerfRs(s) => s
                .shutdown()
                .await
                .map_err(|e| Error::engine("shutting down", e)),
            Handle::Native(n) => {
                n.shutdown().await;
                Ok(())
            }
        }
    }

    /// Resolves when the engine has stopped, asked to or not.
    pub(crate) fn stopped(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match self {
            Handle::SerfRs(s) => {
                let rx = s.shutdown_rx();
                Box::pin(async move {
                    let _ = rx.recv().await;
                })
            }
            Handle::Native(n) => n.stopped(),
        }
    }
}

/// What the engine delivers to the node.
pub(crate) enum EngineEvent {
    User {
        name: String,
        ltime: u64,
        coalesce: bool,
        payload: Bytes,
    },
    Member {
        kind: MemberEventKind,
        members: Vec<Member>,
    },
    Query(ReceivedQuery),
}

/// The engine's events, in the order it emits them; `None` once it stopped.
pub(crate) enum Events {
    SerfRs(serf_rs::EventSubscriber),
    Native(tokio::sync::mpsc::UnboundedReceiver<EngineEvent>),
}

impl Events {
    pub(crate) async fn recv(&mut self) -> Option<EngineEvent> {
        match self {
            Events::SerfRs(s) => loop {
                let event = s.recv().await.ok()?;
                if let Some(e) = serf_rs::event(event) {
                    return Some(e);
                }
            },
            Events::Native(rx) => rx.recv().await,
        }
    }
}

/// A query from the cluster, with the means to answer it.
#[derive(Clone)]
pub(crate) struct ReceivedQuery {
    pub(crate) name: Arc<str>,
    pub(crate) ltime: u64,
    pub(crate) from: Arc<str>,
    pub(crate) payload: Bytes,
    /// When the asker stops listening, if the engine passes it on (serf-rs
    /// does not; the node then assumes its own default timeout).
    pub(crate) deadline: Option<Instant>,
    responder: Responder,
}

#[derive(Clone)]
enum Responder {
    SerfRs(serf_rs::QueryEvent),
    Native(native::Responder),
}

/// Why an answer to a query was not sent. Go's texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RespondError {
    #[error("response already sent")]
    AlreadySent,
    #[error("response is past the deadline")]
    PastDeadline,
    #[error("response exceeds limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Other(String),
}

impl ReceivedQuery {
    pub(crate) async fn respond(&self, payload: Bytes) -> Result<(), RespondError> {
        match &self.responder {
            Responder::SerfRs(q) => serf_rs::respond(q, payload).await,
            Responder::Native(r) => r.respond(&payload).await,
        }
    }
}

/// One answer to a query this node sent.
pub(crate) enum Answer {
    Ack(String),
    Response(String, Bytes),
}

/// The answers to a query this node sent, as they arrive; `None` once the
/// engine stops listening (at the query's deadline).
pub(crate) enum Answers {
    SerfRs(serf_rs::Answers),
    Native(serfer_engine::net::QueryStream),
}

impl Answers {
    pub(crate) async fn next(&mut self) -> Option<Answer> {
        match self {
            Answers::SerfRs(a) => a.next().await,
            Answers::Native(q) => q.next().await.map(|a| match a {
                serfer_engine::net::QueryAnswer::Ack { from } => Answer::Ack(from),
                serfer_engine::net::QueryAnswer::Response { from, payload } => {
                    Answer::Response(from, payload.into())
                }
            }),
        }
    }
}
