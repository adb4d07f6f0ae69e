//! Errors of the Serf layer. The messages follow Go's where Go has one.

use serfer_wire::WireError;
use thiserror::Error;

use crate::memberlist::{CommandError, ConfigError};

/// Why a Serf command or constructor failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SerfError {
    /// The memberlist configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting of the Serf configuration is out of range.
    #[error("invalid Serf configuration: {0}")]
    BadConfig(&'static str),
    /// `name` plus `payload` exceed the configured limit.
    #[error("user event exceeds configured limit of {limit} bytes before encoding")]
    UserEventTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The encoded event exceeds the configured limit.
    #[error("encoded user event exceeds configured limit of {limit} bytes after encoding")]
    EncodedUserEventTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The encoded query exceeds the limit.
    #[error("query exceeds limit of {limit} bytes")]
    QueryTooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The encoded response exceeds the limit.
    #[error("response exceeds limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },
    /// This node already answered the query.
    #[error("response already sent")]
    ResponseAlreadySent,
    /// The query's deadline has passed (or it was never received).
    #[error("response is past the deadline")]
    ResponsePastDeadline,
    /// The encoded tags exceed the meta limit.
    #[error("Encoded length of tags exceeds limit of 512 bytes")]
    TagsTooLarge,
    /// The node left or is leaving.
    #[error("Serf can't {0} after Leave")]
    NotAlive(&'static str),
    /// [`super::Serf::leave`] was already called.
    #[error("Leave already in progress")]
    LeaveInProgress,
    /// The memberlist refused the message.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A message could not be encoded.
    #[error("could not encode: {0}")]
    Encode(#[from] WireError),
}
