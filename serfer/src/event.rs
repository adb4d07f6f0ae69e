//! What arrives from the cluster, as Serfer passes it around inside a node, and
//! the rules for the names of user events and queries.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::engine::ReceivedQuery;
use crate::error::Error;
use crate::member::{Member, MemberEventKind};

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

/// An event as RPC streams see it: what arrived, and for queries the engine's
/// handle to answer with.
#[derive(Clone)]
pub(crate) struct Tapped {
    pub(crate) incoming: Arc<Incoming>,
    pub(crate) query: Option<ReceivedQuery>,
}

/// Checks a user-event or query name before it is registered or sent.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidName {
            name: name.to_owned(),
            reason: "names cannot be empty",
        });
    }
    if name.starts_with("_serf_") {
        return Err(Error::ReservedName(name.to_owned()));
    }
    Ok(())
}
