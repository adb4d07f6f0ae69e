//! Paths used by the code the macros generate. Not a public API.

pub use crate::discovery::HandlerDescriptor;
pub use crate::extract::{ForMember, ForQuery, ForUserEvent, FromEvent};
pub use crate::handler::{blocking, MemberEventOutput, QueryOutput, UserEventOutput};
pub use crate::member::MemberEventKind;
pub use crate::payload::{codec, Payload, PayloadError};
pub use crate::registry::{HandlerKind, Registry};
pub use bytes::Bytes;
pub use inventory;
pub use serde;
