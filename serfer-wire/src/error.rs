//! The one error type of the wire codec.

/// Everything that can be wrong with bytes on the HashiCorp gossip wire, or with a
/// value that cannot be put on it.
///
/// Each variant says what was expected and where (a byte offset, or the message
/// and field name), so that a log line is enough to see which peer sent what.
/// [`WireError::Truncated`] is kept apart from the others: on a TCP stream it
/// means "read more bytes and try again" rather than "this peer is broken".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended in the middle of something.
    #[error("input ends early: {what} at offset {offset} needs {needed} more byte(s)")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset of the thing being read, from the start of the input.
        offset: usize,
        /// How many more bytes it needs.
        needed: u64,
    },

    /// A byte that is not valid msgpack where a msgpack object starts.
    #[error("invalid msgpack at offset {offset}: {reason}")]
    Msgpack {
        /// Offset of the offending byte.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Arrays and maps nested deeper than any real message.
    #[error("msgpack arrays/maps nested deeper than {limit} levels at offset {offset}")]
    TooDeep {
        /// Offset of the array or map that went over the limit.
        offset: usize,
        /// The nesting limit.
        limit: usize,
    },

    /// A field holds a msgpack type that its Go type does not accept.
    #[error("{message}: field `{field}` must be {expected}, found {found}")]
    FieldType {
        /// The message or structure being decoded.
        message: &'static str,
        /// The Go field name (or a description such as `(body)`).
        field: &'static str,
        /// What the Go decoder accepts there.
        expected: &'static str,
        /// The msgpack type found.
        found: &'static str,
    },

    /// An integer field holds a value outside its Go type's range.
    #[error("{message}: field `{field}` holds {value}, which does not fit in {target}")]
    OutOfRange {
        /// The message or structure being decoded.
        message: &'static str,
        /// The Go field name.
        field: &'static str,
        /// The value found.
        value: i128,
        /// The Rust type it had to fit in.
        target: &'static str,
    },

    /// A string field holds bytes that are not UTF-8.
    #[error("{message}: field `{field}` is not valid UTF-8")]
    NotUtf8 {
        /// The message or structure being decoded.
        message: &'static str,
        /// The Go field name.
        field: &'static str,
    },

    /// A version vector that is neither absent nor six entries long.
    #[error("{message}: field `Vsn` has {len} entries; a version vector has exactly 6 (PMin, PMax, PCur, DMin, DMax, DCur) or is empty")]
    BadVsn {
        /// The message being decoded.
        message: &'static str,
        /// How many entries it had.
        len: usize,
    },

    /// A value too long for its length prefix (msgpack 32-bit lengths, compound
    /// 16-bit part lengths and the like).
    #[error("{what} is too long to encode: {len}, at most {max}")]
    TooLong {
        /// What was being encoded.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The largest length the wire format can carry.
        max: usize,
    },

    /// Nothing where at least one byte (a type or version byte) was expected.
    #[error("empty {what}: there is nothing to decode")]
    Empty {
        /// What was empty.
        what: &'static str,
    },

    /// A type byte that this layer does not define.
    #[error("unknown {layer} message type {ty}")]
    UnknownType {
        /// `memberlist` or `serf`.
        layer: &'static str,
        /// The type byte.
        ty: u8,
    },

    /// A known type byte in a place where it may not appear.
    #[error("memberlist message type {ty} is not accepted {context}")]
    UnexpectedType {
        /// The type byte.
        ty: u8,
        /// Where it appeared and what to do instead.
        context: &'static str,
    },

    /// A compound with more parts than the Go 0.2.2 receiver can count.
    #[error("compound message with {parts} parts: at most 127 are allowed (the Go 0.2.2 receiver counts length bytes in 8 bits)")]
    TooManyParts {
        /// Number of parts asked for.
        parts: usize,
    },

    /// A compound whose length table is cut short.
    #[error("compound message declares {parts} parts but has only {available} bytes for their 2-byte lengths")]
    CompoundHeader {
        /// Number of parts declared.
        parts: u8,
        /// Bytes left after the count.
        available: usize,
    },

    /// A CRC-wrapped packet whose checksum does not match.
    #[error("invalid checksum: the header says {expected:08x}, the data's CRC-32 is {actual:08x}")]
    CrcMismatch {
        /// The CRC in the header.
        expected: u32,
        /// The CRC of the data.
        actual: u32,
    },

    /// A compress message naming an algorithm other than LZW.
    #[error("cannot decompress unknown algorithm {algo} (only 0, LZW, is defined)")]
    UnknownAlgo {
        /// The `Algo` field.
        algo: u8,
    },

    /// LZW data that Go's `compress/lzw` could not have written.
    #[error("invalid LZW data at byte {offset}: {reason}")]
    Lzw {
        /// Byte offset in the compressed data.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },

    /// Decompressed data over the caller's limit (a decompression bomb, or a limit
    /// set too low).
    #[error("decompressed data would exceed the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },

    /// compress/compound wrappers nested deeper than any real packet.
    #[error("compress/compound wrappers nested deeper than {limit} levels")]
    NestedTooDeep {
        /// The nesting limit.
        limit: usize,
    },

    /// An AES key of an impossible length.
    #[error("encryption key #{index} is {len} bytes; AES-GCM keys are 16, 24 or 32 bytes")]
    KeySize {
        /// Position of the key in the keyring.
        index: usize,
        /// Its length.
        len: usize,
    },

    /// Decryption asked for with an empty keyring.
    #[error("no encryption keys given: a keyring needs at least one 16, 24 or 32-byte key")]
    NoKeys,

    /// An encryption version byte other than 0 or 1.
    #[error("unsupported encryption version {version} (only 0 and 1 are defined)")]
    EncryptionVersion {
        /// The version byte.
        version: u8,
    },

    /// An encrypted payload too short to hold a version, nonce and tag.
    #[error("encrypted payload is {len} bytes; version {version} needs at least {min}")]
    EncryptedTooShort {
        /// The version byte.
        version: u8,
        /// Length of the payload.
        len: usize,
        /// Minimum length for that version.
        min: usize,
    },

    /// No key of the keyring opened the message (wrong key, or corrupted data).
    #[error("No installed keys could decrypt the message (tried {tried} key(s))")]
    DecryptFailed {
        /// Number of keys tried.
        tried: usize,
    },

    /// Version-0 plaintext whose PKCS#7 padding is not 1–16 bytes of the pad length.
    #[error("invalid PKCS#7 padding after decryption (last byte {pad})")]
    BadPadding {
        /// The last plaintext byte.
        pad: u8,
    },

    /// A stream that should start with the encryption frame type byte does not.
    #[error("stream is not encrypted: first byte is {found:#04x}, expected 0x0a (Encryption is configured but remote state is not encrypted)")]
    NotEncryptedFrame {
        /// The first byte.
        found: u8,
    },

    /// An encrypted stream frame over the 20 MiB limit.
    #[error("encrypted stream frame declares {len} bytes; the limit is {limit}")]
    FrameTooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        limit: usize,
    },

    /// A Serf ack payload with a version other than 1.
    #[error("unsupported ping payload version {version} (Serf sends 1)")]
    PingVersion {
        /// The version byte.
        version: u8,
    },

    /// A query filter of an undefined type.
    #[error("unknown query filter type {ty} (0 = node list, 1 = tag regex)")]
    FilterType {
        /// The filter type byte.
        ty: u8,
    },

    /// An address field that is neither an IPv4 (4 bytes) nor an IPv6 (16 bytes)
    /// address.
    #[error("{message}: address has {len} bytes, expected 4 (IPv4) or 16 (IPv6)")]
    BadAddress {
        /// The message that carried it.
        message: &'static str,
        /// Its length.
        len: usize,
    },

    /// serf-rs's own encoding of a message failed to decode or encode while
    /// being translated. `reason` is serf-rs's error text.
    #[error("serf-rs {what}: {reason}")]
    Engine {
        /// What was being translated.
        what: &'static str,
        /// serf-rs's error, as text (its error types are not `Clone`).
        reason: String,
    },

    /// serf-rs Serf-message bytes that are not exactly what serf-core 0.5.2's
    /// encoder writes (the translator's mirror of that encoder reads nothing
    /// else, so this also flags an upgraded serf-rs whose layout changed).
    #[error("serf-rs {message} at offset {offset}: expected {expected}; the mirror reads exactly what serf-core 0.5.2 writes, so re-check it if serf-rs was upgraded")]
    RsLayout {
        /// The message or structure being decoded.
        message: &'static str,
        /// Offset from the start of the input.
        offset: usize,
        /// What serf-core's encoder writes there.
        expected: &'static str,
    },

    /// A value that one side can carry and the other cannot.
    #[error("{message}: `{field}` cannot be translated: {reason}")]
    Untranslatable {
        /// The message being translated.
        message: &'static str,
        /// The field (either side's name).
        field: &'static str,
        /// Why, and what the value was.
        reason: String,
    },

    /// A message that has no counterpart where it was going, such as a gossip
    /// message on a TCP stream.
    #[error("{message} cannot travel {path} on the HashiCorp wire")]
    NoCounterpart {
        /// The message kind.
        message: &'static str,
        /// "in a packet" or "on a stream".
        path: &'static str,
    },
}

impl WireError {
    /// True when the input was a correct beginning that just needs more bytes; a
    /// stream reader then reads more and decodes again.
    pub fn is_truncated(&self) -> bool {
        matches!(self, WireError::Truncated { .. })
    }
}

/// Result with a [`WireError`].
pub type Result<T, E = WireError> = std::result::Result<T, E>;
