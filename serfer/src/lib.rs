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
//! The gossip engine is serf-rs (`serf` 0.5.2), kept entirely behind Serfer's own
//! types; see `engine` in the source for what Serfer configures differently and why.

#![warn(missing_docs)]

mod builder;
pub mod cli;
mod config;
mod discovery;
mod dispatch;
mod engine;
mod error;
pub mod extract;
pub mod handler;
// The node transport, and the HashiCorp gossip-wire codec and translation
// behind `Wire::HashiCorp` (issue #5).
mod hashicorp;
mod keys;
pub mod logs;
mod member;
mod node;
mod pacing;
pub mod payload;
mod query;
mod registry;
pub mod rpc;

#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use builder::NodeBuilder;
pub use config::{Profile, Wire, DEFAULT_PORT};
pub use discovery::discovered;
pub use engine::{EngineOptions, MAX_EVENT_SIZE};
pub use error::{Error, PayloadError, Result};
pub use extract::{MemberEvent, Query, State, UserEvent};
pub use keys::Key;
pub use member::{Member, MemberEventKind, MemberStatus};
pub use node::{Coordinate, KeyReport, Node, Stats};
pub use payload::{Json, Payload};
pub use query::{QueryOptions, QueryReply, QueryResponses, QueryResult};
pub use registry::{HandlerKind, Registry};

pub use serfer_macros::{member_event, query, user_event, Payload};

/// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
