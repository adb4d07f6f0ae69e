//! The RPC wire: back-to-back msgpack objects, no framing, encoded like Go's
//! `go-msgpack` (struct fields as maps with alphabetically ordered keys).

use std::io::ErrorKind;

use rmpv::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest object Serfer reads from an RPC peer; larger is a protocol error.
pub const MAX_FRAME: usize = 1024 * 1024;

/// How deeply objects may nest (Serf's requests nest three levels at most).
pub const MAX_DEPTH: usize = 32;

/// Why a peer's bytes could not be read as a request.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not msgpack.
    #[error("decode failed: {0}")]
    Invalid(String),
    /// One object is larger than [`MAX_FRAME`].
    #[error("object larger than {MAX_FRAME} bytes")]
    TooLarge,
    /// The connection closed in the middle of an object.
    #[error("connection closed mid-object")]
    Truncated,
}

/// Reads one msgpack object at a time from a byte stream.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a stream.
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::with_capacity(4096),
        }
    }

    /// The next object; `None` when the peer closed cleanly between objects.
    pub async fn next(&mut self) -> Result<Option<Value>, FrameError> {
        loop {
            if !self.buf.is_empty() {
                let mut cursor = &self.buf[..];
                // Bounded nesting: a deeply nested object from a peer must be refused,
                // not recursed into until the stack overflows.
                match rmpv::decode::read_value_with_max_depth(&mut cursor, MAX_DEPTH) {
                    Ok(v) => {
                        let used = self.buf.len() - cursor.len();
                        self.buf.drain(..used);
                        return Ok(Some(v));
                    }
                    Err(e) if is_eof(&e) => {}
                    Err(e) => return Err(FrameError::Invalid(e.to_string())),
                }
                if self.buf.len() >= MAX_FRAME {
                    return Err(FrameError::TooLarge);
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn is_eof(e: &rmpv::decode::Error) -> bool {
    match e {
        rmpv::decode::Error::InvalidMarkerRead(io) | rmpv::decode::Error::InvalidDataRead(io) => {
            io.kind() == ErrorKind::UnexpectedEof
        }
        _ => false,
    }
}

/// Encodes objects back to back.
pub fn encode(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        rmpv::encode::write_value(&mut out, v).expect("writing to a Vec cannot fail");
    }
    out
}

/// Writes objects back to back and flushes.
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, values: &[Value]) -> std::io::Result<()> {
    w.write_all(&encode(values)).await?;
    w.flush().await
}

/// A msgpack map with its keys in alphabetical order, as Go writes structs.
pub fn map<const N: usize>(mut fields: [(&str, Value); N]) -> Value {
    fields.sort_by(|a, b| a.0.cmp(b.0));
    Value::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// A string → string map.
pub fn str_map<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Map(
        m.into_iter()
            .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
            .collect(),
    )
}

/// Binary data, or nil when there is none (Go's nil slice).
pub fn bin_or_nil(b: Option<&[u8]>) -> Value {
    match b {
        Some(b) => Value::Binary(b.to_vec()),
        None => Value::Nil,
    }
}

/// Typed access to the fields of a decoded request body. Field names are exact;
/// a missing field reads as its zero value, as the Go agent decodes.
pub struct Fields<'a>(&'a [(Value, Value)]);

/// A field of the wrong type: the Go agent closes the connection.
#[derive(Debug, thiserror::Error)]
#[error("field `{field}`: expected {expected}")]
pub struct FieldError {
    field: String,
    expected: &'static str,
}

impl<'a> Fields<'a> {
    /// The fields of a map; anything else is an error.
    pub fn of(v: &'a Value) -> Result<Fields<'a>, FieldError> {
        match v {
            Value::Map(m) => Ok(Fields(m)),
            _ => Err(FieldError {
                field: "<body>".into(),
                expected: "a map",
            }),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_nil())
    }

    fn err(key: &str, expected: &'static str) -> FieldError {
        FieldError {
            field: key.to_owned(),
            expected,
        }
    }

    /// Whether the field is present (and not nil).
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Whether the key is in the map at all, nil or not: Go's decoder sets a
    /// field only for the keys present, nil ones to their zero value.
    pub fn present(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k.as_str() == Some(key))
    }

    /// A string field: must be msgpack str.
    pub fn str(&self, key: &str) -> Result<String, FieldError> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => s
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Self::err(key, "UTF-8 text")),
            Some(_) => Err(Self::err(key, "a string")),
        }
    }

    /// A byte field: bin or str.
    pub fn bytes(&self, key: &str) -> Result<Option<Vec<u8>>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Binary(b)) => Ok(Some(b.clone())),
            Some(Value::String(s)) => Ok(Some(s.as_bytes().to_vec())),
            Some(_) => Err(Self::err(key, "bytes")),
        }
    }

    /// An unsigned integer field.
    pub fn uint(&self, key: &str) -> Result<u64, FieldError> {
        match self.get(key) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| Self::err(key, "an unsigned integer")),
        }
    }

    /// A signed integer field.
    pub fn int(&self, key: &str) -> Result<i64, FieldError> {
        match self.get(key) {
            None => Ok(0),
            Some(v) => v.as_i64().ok_or_else(|| Self::err(key, "an integer")),
        }
    }

    /// A bool field (0 and 1 accepted, as Go does).
    pub fn bool(&self, key: &str) -> Result<bool, FieldError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(v) => match v.as_u64() {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(Self::err(key, "a bool")),
            },
        }
    }

    /// A list of strings.
    pub fn str_list(&self, key: &str) -> Result<Vec<String>, FieldError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| Self::err(key, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(Self::err(key, "a list of strings")),
        }
    }

    /// A string → string map, in the order received.
    pub fn str_map(&self, key: &str) -> Result<Vec<(String, String)>, FieldError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Map(m)) => m
                .iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
                    _ => Err(Self::err(key, "a map of strings")),
                })
                .collect(),
            Some(_) => Err(Self::err(key, "a map of strings")),
        }
    }

    /// A string → unsigned integer map.
    pub fn uint_map(&self, key: &str) -> Result<Vec<(String, u64)>, FieldError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Map(m)) => m
                .iter()
                .map(|(k, v)| match (k.as_str(), v.as_u64()) {
                    (Some(k), Some(v)) => Ok((k.to_owned(), v)),
                    _ => Err(Self::err(key, "a map of counts")),
                })
                .collect(),
            Some(_) => Err(Self::err(key, "a map of counts")),
        }
    }

    /// A nested map.
    pub fn map(&self, key: &str) -> Option<Fields<'a>> {
        match self.get(key) {
            Some(Value::Map(m)) => Some(Fields(m)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn reads_back_to_back_objects_split_anywhere() {
        // The real CLI's handshake and members-filtered request (spec §9).
        let bytes = hex("82a7436f6d6d616e64a968616e647368616b65a35365710181a756657273696f6e0182a7436f6d6d616e64b06d656d626572732d66696c7465726564a35365710283a44e616d65a0a6537461747573a0a45461677380");
        for split in [1, 7, 30, bytes.len() - 1] {
            let (a, b) = bytes.split_at(split);
            let stream = tokio_test_stream(a.to_vec(), b.to_vec());
            let mut r = FrameReader::new(stream);
            let mut got = Vec::new();
            while let Some(v) = r.next().await.unwrap() {
                got.push(v);
            }
            assert_eq!(got.len(), 4);
            let h = Fields::of(&got[2]).unwrap();
            assert_eq!(h.str("Command").unwrap(), "members-filtered");
            assert_eq!(h.uint("Seq").unwrap(), 2);
        }
    }

    fn tokio_test_stream(a: Vec<u8>, b: Vec<u8>) -> impl AsyncRead + Unpin {
        let (mut w, r) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            w.write_all(&a).await.unwrap();
            w.write_all(&b).await.unwrap();
        });
        r
    }

    #[test]
    fn writes_what_the_agent_writes() {
        let header = map([("Seq", Value::from(1u64)), ("Error", Value::from(""))]);
        assert_eq!(encode(&[header]), hex("82a54572726f72a0a353657101"));
    }

    #[tokio::test]
    async fn garbage_and_truncation_are_errors() {
        // rmpv reads the reserved marker 0xc1 as nil: not a request the server accepts.
        let mut r = FrameReader::new(&[0xc1u8][..]);
        let v = r.next().await.unwrap().unwrap();
        assert!(Fields::of(&v).is_err());
        // Nesting deeper than the decoder allows is refused, not recursed into.
        let deep = vec![0x91u8; 5000];
        let mut r = FrameReader::new(&deep[..]);
        assert!(matches!(r.next().await, Err(FrameError::Invalid(_))));
        let mut r = FrameReader::new(&[0x82u8, 0xa3][..]);
        assert!(matches!(r.next().await, Err(FrameError::Truncated)));
    }

    #[test]
    fn strings_must_be_str_but_bytes_accept_both() {
        let v = Value::Map(vec![
            (Value::from("Name"), Value::Binary(b"x".to_vec())),
            (Value::from("Payload"), Value::from("text")),
        ]);
        let f = Fields::of(&v).unwrap();
        assert!(f.str("Name").is_err());
        assert_eq!(f.bytes("Payload").unwrap().unwrap(), b"text");
        assert_eq!(f.str("Missing").unwrap(), "");
        assert!(f.present("Name") && !f.present("Missing"));
        let nil = Value::Map(vec![(Value::from("Seq"), Value::Nil)]);
        let f = Fields::of(&nil).unwrap();
        assert!(f.present("Seq") && !f.has("Seq"));
    }
}
