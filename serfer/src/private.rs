//! Paths used by the code the macros generate. Not a public API.

pub use crate::discovery::HandlerDescriptor;
pub use crate::extract::kind::{ForMember, ForQuery, ForUserEvent};
pub use crate::extract::{arg, Arg, Context, ExtractError, FromEvent, StateMapView};
pub use crate::handler::{
    blocking, member_event_output, query_output, user_event_output, BoxFuture, MemberEventOutput,
    QueryOutput, UserEventOutput,
};
pub use crate::member::MemberEventKind;
pub use crate::payload::{codec, Payload, PayloadError};
pub use crate::registry::{HandlerKind, Registry};
pub use bytes::Bytes;
pub use inventory;
pub use serde;

/// Drives dispatch directly, for the criterion benchmarks. Not a public API.
pub struct DispatchBench {
    node: crate::Node,
    router: std::sync::Arc<crate::registry::Router>,
}

impl DispatchBench {
    /// A router for `registry`, dispatching on `node`.
    pub fn new(node: crate::Node, registry: Registry) -> Result<Self, crate::Error> {
        let router = crate::registry::Router::build(registry, node.states())?;
        Ok(DispatchBench {
            node,
            router: std::sync::Arc::new(router),
        })
    }

    /// Dispatches one user event as if it had arrived from the cluster:
    /// route, extract (decode the payload), and spawn the handler call.
    pub fn user_event(&self, name: &str, ltime: u64, payload: Bytes) {
        let incoming = crate::event::Incoming::User {
            name: std::sync::Arc::from(name),
            ltime,
            coalesce: false,
            payload,
        };
        crate::dispatch::dispatch_user(
            &self.router,
            self.node.clone(),
            std::sync::Arc::new(incoming),
        );
    }
}
