//! # Serfer
//!
//! Turn a Rust binary into a member of a [Serf](https://github.com/hashicorp/serf)
//! gossip cluster: membership, failure detection, user events, queries, tags and
//! encryption, with handlers that are plain async functions.
//!
//! ```no_run
//! use serfer::{MemberEvent, MemberEventKind, Node, Query, UserEvent};
//!
//! async fn useless(ev: UserEvent<String>) {
//!     println!("received {} #{} with {:?}", ev.name(), ev.ltime(), ev.payload());
//! }
//!
//! async fn status(_q: Query<()>) -> String {
//!     "I am OK, thanks for asking".to_owned()
//! }
//!
//! async fn joined(ev: MemberEvent) {
//!     for m in ev.members() {
//!         println!("{} joined from {}:{}", m.name, m.addr, m.port);
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), serfer::Error> {
//!     let node = Node::builder()
//!         .user_event("useless", useless)
//!         .query("status", status)
//!         .member_event(MemberEventKind::Join, joined)
//!         .start()
//!         .await?;
//!     node.wait().await
//! }
//! ```
//!
//! # Where to go from here
//!
//! * Handlers: any `async fn` whose arguments are extractors ([`UserEvent`],
//!   [`Query`], [`MemberEvent`], [`Node`], [`State`], or your own through
//!   [`extract::FromEvent`]); the attributes [`user_event`], [`query`] and
//!   [`member_event`] register them at link time for [`run!`].
//! * Payloads: [`Payload`] (derive it for serde types), [`Json`].
//! * Settings and start: [`NodeBuilder`]; a running node: [`Node`] (events,
//!   queries with [`QueryOptions`] → [`QueryStream`] → [`QueryReport`], members,
//!   tags, keys, leave).
//! * A command line for a node binary: [`cli`] (what [`run!`] parses).
//! * Tests: `serfer::testing` (feature `testing`): a real N-node cluster in one
//!   test, a real HashiCorp `serf agent` beside it, bounded waits.
//!
//! Serf's agent RPC is served by a node with [`NodeBuilder::rpc`]; its client is
//! the `serfer-rpc` crate, HashiCorp's gossip-wire codec the `serfer-wire` crate.
//! The gossip engine is Serfer's own ([`Engine::Native`], the `serfer-engine`
//! crate) by default, or serf-rs (`serf` 0.5.2, [`Engine::SerfRs`]), kept behind
//! Serfer's own types.

#![warn(missing_docs)]

mod agent;
mod builder;
pub mod cli;
mod config;
mod discovery;
mod dispatch;
mod engine;
mod error;
mod event;
mod event_script;
pub mod extract;
pub mod handler;
mod join;
mod keys;
pub mod logs;
mod member;
mod node;
mod pacing;
pub mod payload;
mod persist;
mod query;
mod registry;
mod rpc;
mod send;
mod state;
mod target;

#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use builder::NodeBuilder;
pub use config::{Engine, Profile, Wire, DEFAULT_PORT};
pub use discovery::discovered;
pub use engine::MAX_EVENT_SIZE;
#[cfg(feature = "unstable-engine")]
pub use engine::{EngineOptions, NativeOptions};
pub use error::{Error, JoinAttempt, PayloadError, Result};
pub use extract::{MemberEvent, Query, State, UserEvent};
pub use keys::Key;
pub use member::{Member, MemberEventKind, MemberStatus};
pub use node::{Coordinate, KeyReport, Node, Stats};
pub use payload::{Json, Payload};
pub use query::{QueryOptions, QueryReply, QueryReport, QueryStream};
pub use registry::{HandlerKind, Registry};
pub use send::Sent;
pub use target::{QueryFilters, Target, TargetError, TargetKind};

pub use serfer_macros::{member_event, query, user_event, Payload};

/// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
