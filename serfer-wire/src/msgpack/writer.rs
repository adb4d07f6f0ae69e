//! The writer of the gossip dialect: smallest encodings, raw strings only.

use crate::error::{Result, WireError};

/// Writes the gossip msgpack dialect into a growing buffer.
///
/// Methods never fail on the spot: a length that cannot be encoded is remembered
/// and reported by [`Writer::finish`], which keeps encoders free of `?` on every
/// line.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    error: Option<WireError>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer whose output starts with `prefix` (a type byte, usually).
    pub fn with_prefix(prefix: &[u8]) -> Self {
        Writer {
            buf: prefix.to_vec(),
            error: None,
        }
    }

    /// Remembers the first error; later ones are consequences of it.
    fn fail(&mut self, error: WireError) {
        self.error.get_or_insert(error);
    }

    /// Appends bytes as they are (type bytes, raw trailers).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Nil: Go's nil slice, map or pointer.
    pub fn nil(&mut self) {
        self.buf.push(0xc0);
    }

    /// A bool.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { 0xc3 } else { 0xc2 });
    }

    /// A non-negative integer in its smallest encoding, whatever its Go type.
    pub fn uint(&mut self, v: u64) {
        if let Ok(b) = u8::try_from(v) {
            if b < 0x80 {
                self.buf.push(b);
            } else {
                self.buf.extend_from_slice(&[0xcc, b]);
            }
        } else if let Ok(v) = u16::try_from(v) {
            self.buf.push(0xcd);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = u32::try_from(v) {
            self.buf.push(0xce);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.buf.push(0xcf);
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A signed integer: non-negative values as unsigned (as Go writes them),
    /// negative ones in the smallest signed encoding.
    pub fn int(&mut self, v: i64) {
        if let Ok(u) = u64::try_from(v) {
            self.uint(u);
        } else if let Ok(b) = i8::try_from(v) {
            if b >= -32 {
                self.buf.extend_from_slice(&b.to_be_bytes());
            } else {
                self.buf.push(0xd0);
                self.buf.extend_from_slice(&b.to_be_bytes());
            }
        } else if let Ok(v) = i16::try_from(v) {
            self.buf.push(0xd1);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = i32::try_from(v) {
            self.buf.push(0xd2);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.buf.push(0xd3);
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A float64 (Go never writes float32 in these messages).
    pub fn f64(&mut self, v: f64) {
        self.buf.push(0xcb);
        self.buf.extend_from_slice(&v.to_bits().to_be_bytes());
    }

    /// A string or byte slice, in the raw family: fixstr, str16, str32. Never str8
    /// or bin, which the old-spec Go handle does not write.
    pub fn str(&mut self, s: &[u8]) {
        let len = s.len();
        if len < 32 {
            // `len < 32` makes the cast lossless.
            self.buf.push(0xa0 | len as u8);
        } else if let Ok(l) = u16::try_from(len) {
            self.buf.push(0xda);
            self.buf.extend_from_slice(&l.to_be_bytes());
        } else if let Ok(l) = u32::try_from(len) {
            self.buf.push(0xdb);
            self.buf.extend_from_slice(&l.to_be_bytes());
        } else {
            self.fail(WireError::TooLong {
                what: "msgpack str",
                len,
                max: u32::MAX as usize,
            });
            return;
        }
        self.buf.extend_from_slice(s);
    }

    /// A byte slice that may be nil.
    pub fn opt_str(&mut self, s: Option<&[u8]>) {
        match s {
            Some(s) => self.str(s),
            None => self.nil(),
        }
    }

    /// An array header; the caller writes `len` values after it.
    pub fn array(&mut self, len: usize) {
        self.container(len, 0x90, 0xdc, 0xdd, "msgpack array");
    }

    /// A map header; the caller writes `len` key/value pairs after it, keys in
    /// bytewise order for structs.
    pub fn map(&mut self, len: usize) {
        self.container(len, 0x80, 0xde, 0xdf, "msgpack map");
    }

    /// An array or map header in its smallest form.
    fn container(&mut self, len: usize, fix: u8, b16: u8, b32: u8, what: &'static str) {
        if len < 16 {
            // `len < 16` makes the cast lossless.
            self.buf.push(fix | len as u8);
        } else if let Ok(l) = u16::try_from(len) {
            self.buf.push(b16);
            self.buf.extend_from_slice(&l.to_be_bytes());
        } else if let Ok(l) = u32::try_from(len) {
            self.buf.push(b32);
            self.buf.extend_from_slice(&l.to_be_bytes());
        } else {
            self.fail(WireError::TooLong {
                what,
                len,
                max: u32::MAX as usize,
            });
        }
    }

    /// The bytes written, or the first length that could not be encoded.
    pub fn finish(self) -> Result<Vec<u8>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.buf),
        }
    }
}
