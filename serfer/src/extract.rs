//! Extractors: the typed arguments a handler asks for.
//!
//! A handler is an async function whose every argument implements
//! [`FromEvent`] for the handler's kind: [`UserEvent<T>`] in user-event handlers,
//! [`Query<T>`] in query handlers, [`MemberEvent`] in membership handlers, and
//! [`Node`] and [`State<S>`] in any of them.

use std::sync::Arc;
use std::time::Instant;

use crate::event::Incoming;
use crate::member::{Member, MemberEventKind};
use crate::node::Node;
use crate::payload::{Payload, PayloadError};
pub use crate::state::StateMapView;

/// The handler kinds an extractor is built for. Users never name them: an
/// extractor that works in any handler is `impl<K> FromEvent<K> for …`, and the
/// built-in ones that only make sense for one kind (`UserEvent<T>`, `Query<T>`,
/// `MemberEvent`) use these to say so at compile time.
pub(crate) mod kind {
    /// Marker: the argument is for a user-event handler.
    pub struct ForUserEvent;
    /// Marker: the argument is for a query handler.
    pub struct ForQuery;
    /// Marker: the argument is for a membership-event handler.
    pub struct ForMember;
}
pub(crate) use kind::{ForMember, ForQuery, ForUserEvent};

/// What an extractor is built from: the event and the node that received it.
///
/// Its accessors let you write your own extractors:
///
/// ```
/// use serfer::extract::{Context, ExtractError, FromEvent};
/// use serfer::UserEvent;
///
/// /// The name of the event or query being handled, in any handler.
/// struct EventName(String);
///
/// impl<K> FromEvent<K> for EventName {
///     fn from_event(cx: &Context) -> Result<Self, ExtractError> {
///         Ok(EventName(cx.name().to_owned()))
///     }
/// }
///
/// /// The raw payload, refused when empty.
/// struct NonEmpty(Vec<u8>);
///
/// impl<K> FromEvent<K> for NonEmpty {
///     fn from_event(cx: &Context) -> Result<Self, ExtractError> {
///         match cx.payload() {
///             Some(p) if !p.is_empty() => Ok(NonEmpty(p.to_vec())),
///             _ => Err(ExtractError::Rejected("an empty payload".into())),
///         }
///     }
/// }
///
/// async fn deploy(EventName(name): EventName, NonEmpty(raw): NonEmpty, ev: UserEvent<String>) {
///     println!("{name}: {} bytes, {}", raw.len(), ev.payload());
/// }
/// # let _ = serfer::Node::builder().user_event("deploy", deploy);
/// ```
pub struct Context {
    pub(crate) node: Node,
    pub(crate) incoming: Arc<Incoming>,
}

impl Context {
    /// The node that received the event.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The user event's or query's name; for membership events, Serf's name of
    /// the kind (`member-join`, `member-leave`, …).
    pub fn name(&self) -> &str {
        self.incoming.name()
    }

    /// The raw payload of a user event or query, as it crossed the wire;
    /// `None` for membership events.
    pub fn payload(&self) -> Option<&[u8]> {
        match &*self.incoming {
            Incoming::User { payload, .. } | Incoming::Query { payload, .. } => Some(payload),
            Incoming::Member { .. } => None,
        }
    }

    /// The Lamport time of a user event or query; `None` for membership events.
    pub fn ltime(&self) -> Option<u64> {
        match &*self.incoming {
            Incoming::User { ltime, .. } | Incoming::Query { ltime, .. } => Some(*ltime),
            Incoming::Member { .. } => None,
        }
    }

    /// The name of the node that sent a query; `None` for other events (Serf
    /// does not say who sent a user event).
    pub fn sender(&self) -> Option<&str> {
        match &*self.incoming {
            Incoming::Query { from, .. } => Some(from),
            _ => None,
        }
    }

    /// The kind and members of a membership event; `None` for other events.
    pub fn members(&self) -> Option<(MemberEventKind, &[Member])> {
        match &*self.incoming {
            Incoming::Member { kind, members } => Some((*kind, members)),
            _ => None,
        }
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
    /// A user-written extractor refused the event; the reason says why.
    #[error("{0}")]
    Rejected(String),
    /// The extractor does not apply to this event (a bug in dispatch).
    #[error("extractor `{0}` does not apply to this event")]
    WrongKind(&'static str),
}

/// A type that can be a handler argument for handlers of kind `K`.
///
/// The kinds are Serfer's private markers; write your own extractor for every
/// kind at once, `impl<K> FromEvent<K> for YourType`, from what [`Context`] shows.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an argument this handler can take (a `{K}` handler)",
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
                // An event URI's filters travel after a `?` in the name; the
                // handler was chosen by the path before it, and sees that.
                name: match crate::target::split_event_name(name) {
                    (_, None) => name.clone(),
                    (path, Some(_)) => Arc::from(path),
                },
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
