//! Dispatch: every event the engine delivers goes to its handlers, each call in
//! its own task, so that no handler can hold up gossip or other handlers.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::engine::{EngineEvent, Events, ReceivedQuery};
use crate::event::{Incoming, Tapped};
use crate::extract::Context;
use crate::node::{Node, WeakNode};
use crate::registry::{Route, Router};
use crate::target;

fn tap(node: &Node, incoming: &Arc<Incoming>, query: Option<&ReceivedQuery>) {
    if node.inner.tap.receiver_count() > 0 {
        let _ = node.inner.tap.send(Tapped {
            incoming: incoming.clone(),
            query: query.cloned(),
        });
    }
}

/// Runs until the engine closes its event channel (at shutdown).
///
/// The engine's events are unbounded and this loop never awaits a handler:
/// serf-rs stalls its event processing, `user_event()` and `shutdown()` when a
/// bounded subscriber is not drained.
pub(crate) async fn run(
    mut events: Events,
    router: Arc<Router>,
    node: WeakNode,
    coalesce: Option<Duration>,
) {
    let coalescer = coalesce.map(|period| Arc::new(Coalescer::new(period)));
    while let Some(event) = events.recv().await {
        let Some(node) = node.upgrade() else { break };
        match event {
            EngineEvent::User {
                name,
                ltime,
                coalesce,
                payload,
            } => {
                let incoming = Arc::new(Incoming::User {
                    name: Arc::from(name),
                    ltime,
                    coalesce,
                    payload,
                });
                tap(&node, &incoming, None);
                match &coalescer {
                    Some(c) if coalesce => c.offer(incoming, node, router.clone()),
                    _ => dispatch_user(&router, node, incoming),
                }
            }
            EngineEvent::Member { kind, members } => {
                let members: Arc<[crate::Member]> = members.into();
                let incoming = Arc::new(Incoming::Member { kind, members });
                tap(&node, &incoming, None);
                for route in router.member_routes(kind) {
                    invoke(route, &node, incoming.clone(), None);
                }
            }
            EngineEvent::Query(q) => dispatch_query(&router, node, q).await,
        }
    }
    tracing::debug!("event dispatch stopped");
}

pub(crate) fn dispatch_user(router: &Arc<Router>, node: Node, incoming: Arc<Incoming>) {
    let (path, filter) = target::split_event_name(incoming.name());
    let Some(filter) = filter else {
        return dispatch_to(router.user_routes(path), &node, &incoming);
    };
    // An event URI's hosts and tags travel in the name; whether they include
    // this node needs its tags, which the engine reads asynchronously.
    let router = router.clone();
    tokio::spawn(async move {
        let me = node.local_member().await;
        let (path, _) = target::split_event_name(incoming.name());
        if filter.accepts(&me.name, &me.tags) {
            dispatch_to(router.user_routes(path), &node, &incoming);
        } else {
            tracing::debug!(
                event = incoming.name(),
                "user event not addressed to this node"
            );
        }
    });
}

fn dispatch_to(routes: Vec<&Route>, node: &Node, incoming: &Arc<Incoming>) {
    if routes.is_empty() {
        tracing::debug!(event = incoming.name(), "no handler for user event");
    }
    for route in routes {
        invoke(route, node, incoming.clone(), None);
    }
}

async fn dispatch_query(router: &Router, node: Node, q: ReceivedQuery) {
    let route = router.query_route(&q.name);
    if route.is_none() && node.inner.tap.receiver_count() == 0 {
        tracing::debug!(query = &*q.name, "no handler for query");
        return;
    }
    // serf-rs does not pass the asker's timeout on; the deadline is then this
    // node's default.
    let deadline = match q.deadline {
        Some(d) => d,
        None => {
            Instant::now()
                + match node.inner.query_timeout {
                    Some(t) => t,
                    None => node.inner.engine.default_query_timeout().await,
                }
        }
    };
    let incoming = Arc::new(Incoming::Query {
        name: q.name.clone(),
        ltime: q.ltime,
        from: q.from.clone(),
        deadline,
        payload: q.payload.clone(),
    });
    tap(&node, &incoming, Some(&q));
    if let Some(route) = route {
        invoke(route, &node, incoming, Some(q));
    }
}

/// Calls one handler in its own task; logs decode failures, errors and panics.
fn invoke(route: &Route, node: &Node, incoming: Arc<Incoming>, query: Option<ReceivedQuery>) {
    let label = route.label.clone();
    let event = incoming.name().to_owned();
    let cx = Context {
        node: node.clone(),
        incoming,
    };
    // Extraction runs the payload's `Payload::decode`, user code that may panic
    // too; unguarded, that panic would end this dispatch loop for good.
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| (route.handler)(&cx))) {
        Ok(Ok(fut)) => fut,
        Ok(Err(e)) => {
            tracing::error!(handler = %label, event = %event, error = %e, "handler not run");
            return;
        }
        Err(panic) => {
            let msg = panic_message(panic.as_ref());
            tracing::error!(handler = %label, event = %event, panic = %msg, "decoding the payload panicked; handler not run");
            return;
        }
    };
    tokio::spawn(async move {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(Ok(response)) => {
                if let Some(q) = query {
                    if let Err(e) = q.respond(response).await {
                        tracing::error!(handler = %label, query = %event, error = %e, "could not send the query response");
                    }
                }
            }
            Ok(Err(msg)) => {
                tracing::error!(handler = %label, event = %event, error = %msg, "handler failed");
            }
            Err(panic) => {
                let msg = panic_message(panic.as_ref());
                tracing::error!(handler = %label, event = %event, panic = %msg, "handler panicked; the node carries on");
            }
        }
    });
}

/// Serfer's own user-event coalescing (serf-rs's coalescer only flushes when a later
/// event arrives, so it is left off). Coalescable events of one name that arrive
/// within `period` of the first are delivered once, as the newest of them.
/// A held event and its Lamport time.
type Held = (u64, Arc<Incoming>);

struct Coalescer {
    period: Duration,
    /// Per name: the newest held event and its Lamport time.
    pending: Mutex<HashMap<Arc<str>, Held>>,
}

impl Coalescer {
    fn new(period: Duration) -> Self {
        Coalescer {
            period,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn offer(self: &Arc<Self>, incoming: Arc<Incoming>, node: Node, router: Arc<Router>) {
        let Incoming::User { name, ltime, .. } = &*incoming else {
            return;
        };
        let (name, ltime) = (name.clone(), *ltime);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.get_mut(&name) {
            Some(held) => {
                if ltime > held.0 {
                    *held = (ltime, incoming);
                }
            }
            None => {
                pending.insert(name.clone(), (ltime, incoming));
                let this = self.clone();
                let weak = node.downgrade();
                drop(node);
                tokio::spawn(async move {
                    tokio::time::sleep(this.period).await;
                    let flushed = this
                        .pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&name);
                    if let (Some((_, incoming)), Some(node)) = (flushed, weak.upgrade()) {
                        dispatch_user(&router, node, incoming);
                    }
                });
            }
        }
    }
}

/// The text a panic was raised with, when it was raised with text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_owned())
}
