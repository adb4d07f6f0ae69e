//! The one error type of Serfer.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything that can go wrong in Serfer.
///
/// Variants are meant to be matched on: each names what went wrong and carries
/// what a caller needs to act (which key, which address, which sizes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An encryption key given to the builder could not be used.
    #[error("encryption key #{index} is invalid: {reason} (a key is base64 of 16, 24 or 32 bytes; make one with `head -c32 /dev/urandom | base64`)")]
    InvalidKey {
        /// Position of the key in the list given to the builder (0 = primary).
        index: usize,
        /// Why the key was refused.
        reason: String,
    },

    /// An address could not be parsed or resolved.
    #[error("invalid address `{address}`: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it was refused.
        reason: String,
    },

    /// Joining failed: no address answered.
    #[error("could not join the cluster; every address failed:{}", format_join_causes(.attempts))]
    JoinFailed {
        /// Each address tried, with the error it failed with.
        attempts: Vec<JoinAttempt>,
    },

    /// A user event, query or response is larger than what may be sent.
    #[error("{what} `{name}` is {size} bytes{}, over the limit of {limit} bytes", if *.encoded { " encoded" } else { "" })]
    PayloadTooLarge {
        /// What was refused: "user event", "query" or "query response".
        what: &'static str,
        /// The event or query name.
        name: String,
        /// Its size in bytes, as the limit counts it. A user event is checked as
        /// Serf checks it, twice: the name plus the encoded payload, then the whole
        /// message as Go encodes it (`encoded`). A query counts the whole query
        /// message as the engine encodes it (name, payload, filters and the rest).
        size: usize,
        /// The limit in bytes.
        limit: usize,
        /// Whether `size` counts the encoded message rather than name + payload.
        encoded: bool,
    },

    /// A user event was not sent: this node's gossip queue stayed full for the whole
    /// [`NodeBuilder::event_queue_wait`](crate::NodeBuilder::event_queue_wait).
    #[error("user event `{name}` was not sent: {queued} events still waited to be gossiped after {waited:?}; peers are taking them too slowly (send more slowly, or raise NodeBuilder::event_queue_wait)")]
    Backlog {
        /// The event name.
        name: String,
        /// Events in this node's gossip queue when it gave up.
        queued: usize,
        /// How long it waited.
        waited: Duration,
    },

    /// An event URI is malformed, or addresses no one.
    #[error("invalid event URI: {0}")]
    Target(#[from] crate::target::TargetError),
    /// The name is reserved for Serf's internal use.
    #[error("the name `{0}` is reserved: names starting with `_serf_` belong to Serf's internal queries")]
    ReservedName(String),

    /// The name is empty or otherwise unusable.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A payload could not be encoded.
    #[error("could not encode the payload of `{name}`: {source}")]
    Encode {
        /// Event or query name.
        name: String,
        /// The codec's error.
        #[source]
        source: PayloadError,
    },

    /// The handler set is inconsistent (for example two query handlers for one name).
    #[error("invalid handler set: {0}")]
    Handlers(String),

    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The gossip engine (serf-rs) reported an error.
    #[error("{context}: {source}")]
    Engine {
        /// What Serfer was doing.
        context: &'static str,
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The engine stopped by itself, without `shutdown()` being called.
    #[error("the node stopped by itself: {0}")]
    Stopped(String),

    /// The node has been shut down; nothing more can be sent.
    #[error("the node is shut down")]
    ShutDown,

    /// Binding the node's address (or the RPC server's) failed.
    #[error("could not bind {addr}: {source} (is another node or agent already using it? pick another port, or port 0 for any)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error; its `kind()` tells `AddrInUse` from `PermissionDenied`.
        #[source]
        source: std::io::Error,
    },
}

/// One address a join went through, and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("{address}: {error}")]
pub struct JoinAttempt {
    /// The address as given.
    pub address: String,
    /// What failed: [`Error::InvalidAddress`] when it did not resolve, else the
    /// engine's error (a refused connection, a wrong key, …).
    #[source]
    pub error: Box<Error>,
}

fn format_join_causes(attempts: &[JoinAttempt]) -> String {
    if attempts.is_empty() {
        return " no address was given".to_owned();
    }
    attempts.iter().map(|a| format!("\n  {a}")).collect()
}

impl Error {
    /// Keeps the engine's error itself as the source, so callers can downcast
    /// to it.
    pub(crate) fn engine(
        context: &'static str,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Engine {
            context,
            source: Box::new(err),
        }
    }
}

/// A payload codec failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// JSON (de)serialisation failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// MessagePack encoding failed.
    #[error("MessagePack: {0}")]
    MsgpackEncode(#[from] rmp_serde::encode::Error),
    /// MessagePack decoding failed.
    #[error("MessagePack: {0}")]
    MsgpackDecode(#[from] rmp_serde::decode::Error),
    /// The bytes are not valid UTF-8 where text was expected.
    #[error("not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    /// Any other codec failure.
    #[error("{0}")]
    Other(String),
}

/// Shorthand for `Result<T, serfer::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_error_is_the_source_itself() {
        let e = Error::engine(
            "joining",
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        );
        assert_eq!(e.to_string(), "joining: refused");
        let source = std::error::Error::source(&e).expect("a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the original error type");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
