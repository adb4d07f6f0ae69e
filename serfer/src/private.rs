//! Paths used by the code the macros generate. Not a public API.

pub use crate::discovery::HandlerDescriptor;
pub use crate::extract::{
    arg, Arg, Context, ExtractError, ForMember, ForQuery, ForUserEvent, FromEvent, StateMapView,
};
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
