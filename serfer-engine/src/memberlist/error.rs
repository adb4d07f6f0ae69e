//! Errors of the core: configuration, commands, and why an input was dropped.

use std::net::SocketAddr;

use serfer_wire::WireError;

/// A configuration the core refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The node needs a name.
    #[error("the node name is empty")]
    EmptyName,
    /// Go nodes refuse metadata over 512 bytes.
    #[error("node meta is {len} bytes, more than the 512 a Go node accepts")]
    MetaTooLong {
        /// Its length.
        len: usize,
    },
    /// An interval that must be positive is zero.
    #[error("{what} must not be zero")]
    ZeroInterval {
        /// Which setting.
        what: &'static str,
    },
    /// A probe must time out before the next one starts.
    #[error("probe_timeout is longer than probe_interval")]
    ProbeTimeoutTooLong,
    /// The packet budget is out of range.
    #[error("udp_buffer_size {size} is outside 128..=65507")]
    UdpBufferSize {
        /// The size given.
        size: usize,
    },
    /// A key that AES-GCM cannot use.
    #[error("encryption key {index} is {len} bytes; keys are 16, 24 or 32 bytes")]
    KeySize {
        /// Position in the keyring.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// Removing or selecting a key the keyring does not hold.
    #[error("the key is not installed")]
    UnknownKey,
    /// The primary key cannot be removed.
    #[error("the primary key cannot be removed")]
    RemovePrimary,
}

/// A command the core refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Metadata over the limit.
    #[error("node meta is {len} bytes, more than the 512 a Go node accepts")]
    MetaTooLong {
        /// Its length.
        len: usize,
    },
    /// A user message that can never fit in one packet.
    #[error("user message of {len} bytes does not fit in a packet (at most {max})")]
    MessageTooLarge {
        /// Its length.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// An empty user message: Go ignores them, so they are not sent.
    #[error("user messages must not be empty")]
    EmptyMessage,
    /// The node has left; it sends nothing more.
    #[error("the node has left the cluster")]
    Left,
    /// Encoding failed (a field over a wire limit).
    #[error("could not encode: {0}")]
    Encode(#[from] WireError),
}

/// Why a received packet was dropped as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// No key of the keyring opened it (or it was plaintext while keys are set).
    #[error("packet from {from}: no installed keys could decrypt the message")]
    Decrypt {
        /// The sender.
        from: SocketAddr,
    },
    /// The framing was unusable: empty, bad CRC.
    #[error("packet from {from}: {source}")]
    Frame {
        /// The sender.
        from: SocketAddr,
        /// What was wrong.
        source: WireError,
    },
    /// Every message in it failed to decode.
    #[error("packet from {from}: {count} undecodable message(s), first: {first}")]
    Messages {
        /// The sender.
        from: SocketAddr,
        /// How many failed.
        count: usize,
        /// The first failure.
        first: WireError,
    },
    /// The node has shut down after leaving.
    #[error("the node has left the cluster")]
    Left,
}

/// Why a stream (or a stream reply) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Plaintext stream while keys are set.
    #[error("Encryption is configured but remote state is not encrypted")]
    NotEncrypted,
    /// Encrypted stream while no keys are set.
    #[error("Remote state is encrypted and encryption is not configured")]
    UnexpectedEncryption,
    /// No key opened it.
    #[error("No installed keys could decrypt the message")]
    Decrypt,
    /// Bad bytes.
    #[error("{0}")]
    Wire(WireError),
    /// The remote node answered with an error message.
    #[error("remote error: {0}")]
    Remote(String),
    /// The push/pull carried incompatible protocol versions.
    #[error("{0}")]
    Incompatible(String),
    /// A well-formed stream of a kind not expected here.
    #[error("unexpected stream message ({0})")]
    Unexpected(&'static str),
}
