//! Extractors: the typed arguments a handler asks for.
//!
//! A handler is an async function whose every argument implements
//! [`FromEvent`] for the handler's kind: [`UserEvent<T>`] in user-event handlers,
//! [`Query<T>`] in query handlers, [`MemberEvent`] in membership handlers, and
//! [`Node`] and [`State<S>`] in any of them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::member::{Member, MemberEventKind};
use crate::node::Node;
use crate::payload::{Payload, PayloadError};

/// Marker: the argument is for a user-event handler.
pub struct ForUserEvent;
/// Marker: the argument is for a query handler.
pub struct ForQuery;
/// Marker: the argument is for a membership-event handler.
pub struct ForMember;

/// What arrived, shared by every handler it is dispatched to.
#[derive(Debug)]
pub(crate) enum Incoming {
    User {
        name: Arc<str>,
        ltime: u64,
        coalesce: bool,
        payload: Bytes,
    },
    Query {
        name: Arc<str>,
        ltime: u64,
        from: Arc<str>,
        deadline: Instant,
        payload: Bytes,
    },
    Member {
        kind: MemberEventKind,
        members: Arc<[Member]>,
    },
}

impl Incoming {
    pub(crate) fn name(&self) -> &str {
        match self {
            Incoming::User { name, .. } | Incoming::Query { name, .. } => name,
            Incoming::Member { kind, .. } => kind.serf_name(),
        }
    }
}

/// What an extractor is built from: the event and the node that received it.
pub struct Context {
    pub(crate) node: Node,
    pub(crate) incoming: Arc<Incoming>,
}

/// Application state handed to the builder with [`crate::NodeBuilder::state`].
#[derive(Default, Clone)]
pub(crate) struct StateMap(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl StateMap {
    pub(crate) fn insert<S: Clone + Send + Sync + 'static>(&mut self, s: S) {
        self.0.insert(TypeId::of::<S>(), Arc::new(s));
    }
    pub(crate) fn get<S: Clone + Send + Sync + 'static>(&self) -> Option<S> {
        self.0.get(&TypeId::of::<S>())?.downcast_ref::<S>().cloned()
    }
    pub(crate) fn contains<S: 'static>(&self) -> bool {
        self.0.contains_key(&TypeId::of::<S>())
    }
}

/// Why an extractor could not be built; the handler is not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The payload did not decode as the handler's type.
    #[error("payload does not decode as `{ty}`: {source}")]
    Decode {
        /// The type the handler asked for.
        ty: &'static str,
        /// The codec's error.
        #[source]
        source: PayloadError,
    },
    /// The handler asks for state that was never given to the builder.
    #[error("no state of type `{0}` was given to the builder (call `.state(value)`)")]
    MissingState(&'static str),
    /// The extractor does not apply to this event (a bug in dispatch).
    #[error("extractor `{0}` does not apply to this event")]
    WrongKind(&'static str),
}

/// A type that can be a handler argument for handlers of kind `K`
/// ([`ForUserEvent`], [`ForQuery`] or [`ForMember`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an argument a `{K}` handler can take",
    label = "not an extractor for this handler",
    note = "user-event handlers take `UserEvent<T>`, query handlers `Query<T>`, membership handlers `MemberEvent`; all take `Node` and `State<S>`"
)]
pub trait FromEvent<K>: Sized {
    /// Builds the argument from the event.
    fn from_event(cx: &Context) -> Result<Self, ExtractError>;

    /// Checked once at start-up: can this argument ever be built on this node?
    #[doc(hidden)]
    fn check(_states: &StateMapView<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// Read-only view of the builder's state, for start-up checks.
#[doc(hidden)]
pub struct StateMapView<'a>(pub(crate) &'a StateMap);

fn decode<T: Payload>(bytes: &[u8]) -> Result<T, ExtractError> {
    T::decode(bytes).map_err(|source| ExtractError::Decode {
        ty: std::any::type_name::<T>(),
        source,
    })
}

/// A user event, with its payload decoded as `T`.
///
/// ```
/// use serfer::UserEvent;
/// async fn deploy(ev: UserEvent<String>) {
///     println!("{} #{}: {}", ev.name(), ev.ltime(), ev.payload());
/// }
/// ```
#[derive(Debug, Clone)]
pub struct UserEvent<T> {
    name: Arc<str>,
    ltime: u64,
    coalesce: bool,
    payload: T,
}

impl<T> UserEvent<T> {
    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its Lamport time: the order of the event in the cluster.
    pub fn ltime(&self) -> u64 {
        self.ltime
    }
    /// Whether the sender allowed it to be coalesced.
    pub fn coalesce(&self) -> bool {
        self.coalesce
    }
    /// The decoded payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }
    /// Takes the decoded payload.
    pub fn into_payload(self) -> T {
        self.payload
    }
}

impl<T: Payload> FromEvent<ForUserEvent> for UserEvent<T> {
    fn from_event(cx: &Context) -> Result<Self, ExtractError> {
        match &*cx.incoming {
            Incoming::User {
                name,
                ltime,
                coalesce,
                payload,
            } => Ok(UserEvent {
                name: name.clone(),
                ltime: *ltime,
                coalesce: *coalesce,
                payload: decode(payload)?,
            }),
            _ => Err(ExtractError::WrongKind("UserEvent")),
        }
    }
}

/// A query, with its payload decoded as `T`. The handler's return value is the response.
///
/// ```
/// use serfer::Query;
/// async fn status(q: Query<()>) -> String {
///     format!("I am OK, thanks for asking, {}", q.from())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Query<T> {
    name: Arc<str>,
    ltime: u64,
    from: Arc<str>,
    deadline: Instant,
    payload: T,
}

impl<T> Query<T> {
    /// The query's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its Lamport time.
    pub fn ltime(&self) -> u64 {
        self.ltime
    }
    /// The name of the node that asked.
    pub fn from(&self) -> &str {
        &self.from
    }
    /// This node's estimate of when the asker stops listening: the arrival
    /// time plus this node's default query timeout.
    ///
    /// It is an estimate because serf-rs 0.5.2 keeps the asker's own timeout
    /// private. serf-rs does use it: a response after the asker's timeout is
    /// not sent, and the handler's error log says so.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
    /// The decoded payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }
    /// Takes the decoded payload.
    pub fn into_payload(self) -> T {
        self.payload
    }
}

impl<T: Payload> FromEvent<ForQuery> for Query<T> {
    fn from_event(cx: &Context) -> Result<Self, ExtractError> {
        match &*cx.incoming {
            Incoming::Query {
                name,
                ltime,
                from,
                deadline,
                payload,
            } => Ok(Query {
                name: name.clone(),
                ltime: *ltime,
                from: from.clone(),
                deadline: *deadline,
                payload: decode(payload)?,
            }),
            _ => Err(ExtractError::WrongKind("Query")),
        }
    }
}

/// A membership event: which members joined, left, failed, changed or were reaped.
#[derive(Debug, Clone)]
pub struct MemberEvent {
    kind: MemberEventKind,
    members: Arc<[Member]>,
}

impl MemberEvent {
    /// What happened.
    pub fn kind(&self) -> MemberEventKind {
        self.kind
    }
    /// To whom.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

impl FromEvent<ForMember> for MemberEvent {
    fn from_event(cx: &Context) -> Result<Self, ExtractError> {
        match &*cx.incoming {
            Incoming::Member { kind, members } => Ok(MemberEvent {
                kind: *kind,
                members: members.clone(),
            }),
            _ => Err(ExtractError::WrongKind("MemberEvent")),
        }
    }
}

impl<K> FromEvent<K> for Node {
    fn from_event(cx: &Context) -> Result<Self, ExtractError> {
        Ok(cx.node.clone())
    }
}

/// Shared application state, given to the builder with
/// [`NodeBuilder::state`](crate::NodeBuilder::state) and cloned into each call.
///
/// ```
/// use serfer::{State, UserEvent};
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
///
/// #[derive(Clone, Default)]
/// struct Counter(Arc<AtomicU64>);
///
/// async fn count(_ev: UserEvent<()>, State(c): State<Counter>) {
///     c.0.fetch_add(1, Ordering::Relaxed);
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S> std::ops::Deref for State<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0
    }
}

impl<K, S: Clone + Send + Sync + 'static> FromEvent<K> for State<S> {
    fn from_event(cx: &Context) -> Result<Self, ExtractError> {
        cx.node
            .states()
            .get::<S>()
            .map(State)
            .ok_or(ExtractError::MissingState(std::any::type_name::<S>()))
    }

    fn check(states: &StateMapView<'_>) -> Result<(), String> {
        if states.0.contains::<S>() {
            Ok(())
        } else {
            Err(ExtractError::MissingState(std::any::type_name::<S>()).to_string())
        }
    }
}

/// How to build one handler argument and check it at start-up (macro support).
#[doc(hidden)]
pub struct Arg<T> {
    /// Builds the argument.
    pub extract: fn(&Context) -> Result<T, ExtractError>,
    /// Checks it can be built on this node.
    pub check: fn(&StateMapView<'_>) -> Result<(), String>,
}

/// The [`Arg`] of an extractor (macro support: the call is spanned on the user's type).
#[doc(hidden)]
pub fn arg<T: FromEvent<K>, K>() -> Arg<T> {
    Arg {
        extract: T::from_event,
        check: T::check,
    }
}
