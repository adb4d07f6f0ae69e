//! The msgpack dialect of the gossip port (spec §2).
//!
//! Go encodes gossip structures with go-msgpack's default handle, which predates
//! the msgpack str8/bin types: strings *and* byte slices are written as "raw"
//! (fixstr, str16, str32). Structs are maps whose keys are the Go field names in
//! bytewise order. [`Writer`] writes exactly that; callers give map keys already
//! sorted.
//!
//! Reading is lenient in the ways Go is: [`Reader`] accepts every msgpack type into
//! a [`Value`] tree, and the typed accessors ([`Fields`], [`Value::uint`] …) apply
//! Go's decoding rules: unknown keys are skipped, missing keys and nil give zero
//! values, integers of any width are range-checked, byte slices accept str or bin,
//! and string fields reject bin.

use super::error::{Result, WireError};

/// Deepest nesting of arrays and maps the reader accepts.
///
/// The deepest real structure, Serf push/pull state (map → Events → userEvents →
/// Events → event), is five levels; the limit only keeps a hostile input from
/// exhausting the stack.
pub const MAX_DEPTH: usize = 32;

/// One decoded msgpack object, borrowing strings and binaries from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `c0`.
    Nil,
    /// `c2` / `c3`.
    Bool(bool),
    /// Any unsigned encoding: positive fixint, `cc`–`cf`.
    Uint(u64),
    /// Any signed encoding: negative fixint, `d0`–`d3` (which may hold a
    /// non-negative value).
    Int(i64),
    /// `ca`.
    F32(f32),
    /// `cb`.
    F64(f64),
    /// The raw/str family: fixstr, str8, str16, str32.
    Str(&'a [u8]),
    /// The bin family: bin8, bin16, bin32.
    Bin(&'a [u8]),
    /// Arrays of any width.
    Array(Vec<Value<'a>>),
    /// Maps of any width, entries in wire order.
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// Extension types (never sent by Go gossip; accepted so they can be skipped).
    Ext(i8, &'a [u8]),
}

/// The nil value, for missing map keys (Go leaves such fields at their zero value).
const NIL: Value<'static> = Value::Nil;

/// Where a value sits, for error messages.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The message or structure being decoded.
    pub message: &'static str,
    /// The Go field name.
    pub name: &'static str,
}

impl Field {
    /// The error for a value of the wrong msgpack type.
    fn type_error(self, expected: &'static str, found: &Value<'_>) -> WireError {
        WireError::FieldType {
            message: self.message,
            field: self.name,
            expected,
            found: found.kind(),
        }
    }

    /// The error for an integer outside its field's range.
    fn range_error(self, value: i128, target: &'static str) -> WireError {
        WireError::OutOfRange {
            message: self.message,
            field: self.name,
            value,
            target,
        }
    }
}

impl<'a> Value<'a> {
    /// The msgpack type name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "a bool",
            Value::Uint(_) => "an unsigned integer",
            Value::Int(_) => "a signed integer",
            Value::F32(_) => "a float32",
            Value::F64(_) => "a float64",
            Value::Str(_) => "a str",
            Value::Bin(_) => "a bin",
            Value::Array(_) => "an array",
            Value::Map(_) => "a map",
            Value::Ext(..) => "an ext",
        }
    }

    /// The value as an unsigned integer; nil is 0 (Go's zero value).
    pub fn uint(&self, field: Field) -> Result<u64> {
        match *self {
            Value::Nil => Ok(0),
            Value::Uint(v) => Ok(v),
            Value::Int(v) => u64::try_from(v).map_err(|_| field.range_error(v.into(), "u64")),
            ref other => Err(field.type_error("an integer", other)),
        }
    }

    /// The value as an unsigned integer narrowed to `T` (Go checks the range of
    /// the field's own type).
    pub fn uint_as<T: TryFrom<u64>>(&self, field: Field, target: &'static str) -> Result<T> {
        let v = self.uint(field)?;
        T::try_from(v).map_err(|_| field.range_error(v.into(), target))
    }

    /// The value as a signed integer; nil is 0.
    pub fn int(&self, field: Field) -> Result<i64> {
        match *self {
            Value::Nil => Ok(0),
            Value::Int(v) => Ok(v),
            Value::Uint(v) => i64::try_from(v).map_err(|_| field.range_error(v.into(), "i64")),
            ref other => Err(field.type_error("an integer", other)),
        }
    }

    /// The value as a bool: `c2`/`c3`, the integers 0/1 (Go accepts them), or nil.
    pub fn boolean(&self, field: Field) -> Result<bool> {
        match *self {
            Value::Nil => Ok(false),
            Value::Bool(b) => Ok(b),
            Value::Uint(v @ 0..=1) => Ok(v == 1),
            Value::Int(v @ 0..=1) => Ok(v == 1),
            Value::Uint(v) => Err(field.range_error(v.into(), "bool (0 or 1)")),
            Value::Int(v) => Err(field.range_error(v.into(), "bool (0 or 1)")),
            ref other => Err(field.type_error("a bool", other)),
        }
    }

    /// The value as a float64; integers are converted, nil is 0.
    pub fn float(&self, field: Field) -> Result<f64> {
        match *self {
            Value::Nil => Ok(0.0),
            Value::F64(v) => Ok(v),
            Value::F32(v) => Ok(v.into()),
            // Exact for every value a coordinate could hold; a peer sending an
            // integer for a float is lenient-at-worst.
            Value::Uint(v) => Ok(v as f64),
            Value::Int(v) => Ok(v as f64),
            ref other => Err(field.type_error("a float", other)),
        }
    }

    /// The value as a Go `string`: any str width, or nil for "". Bin is refused,
    /// as the Go decoder refuses it.
    pub fn text(&self, field: Field) -> Result<String> {
        match *self {
            Value::Nil => Ok(String::new()),
            Value::Str(s) => {
                std::str::from_utf8(s)
                    .map(str::to_owned)
                    .map_err(|_| WireError::NotUtf8 {
                        message: field.message,
                        field: field.name,
                    })
            }
            ref other => Err(field.type_error("a str (bin is not accepted for strings)", other)),
        }
    }

    /// The value as a Go `[]byte`: str or bin, or `None` for nil.
    pub fn bytes(&self, field: Field) -> Result<Option<&'a [u8]>> {
        match *self {
            Value::Nil => Ok(None),
            Value::Str(s) | Value::Bin(s) => Ok(Some(s)),
            ref other => Err(field.type_error("a str or bin (bytes)", other)),
        }
    }

    /// The value as a Go slice: an array, or `None` for nil.
    pub fn array(&self, field: Field) -> Result<Option<&[Value<'a>]>> {
        match self {
            Value::Nil => Ok(None),
            Value::Array(items) => Ok(Some(items)),
            other => Err(field.type_error("an array", other)),
        }
    }

    /// The value as a Go map: entries in wire order, or `None` for nil.
    pub fn map(&self, field: Field) -> Result<Option<&[(Value<'a>, Value<'a>)]>> {
        match self {
            Value::Nil => Ok(None),
            Value::Map(entries) => Ok(Some(entries)),
            other => Err(field.type_error("a map", other)),
        }
    }
}

/// The fields of a Go struct decoded from a msgpack map.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'v, 'a> {
    message: &'static str,
    entries: &'v [(Value<'a>, Value<'a>)],
}

impl<'v, 'a> Fields<'v, 'a> {
    /// Views `value` as the struct `message`. Nil is a struct of zero values.
    /// Go could also decode a struct from an array in field order; nobody sends
    /// that, so it is refused rather than guessed at.
    pub fn new(message: &'static str, value: &'v Value<'a>) -> Result<Self> {
        let entries: &'v [(Value<'a>, Value<'a>)] = match value {
            Value::Map(entries) => entries,
            Value::Nil => &[],
            other => {
                return Err(WireError::FieldType {
                    message,
                    field: "(body)",
                    expected: "a map",
                    found: other.kind(),
                })
            }
        };
        for (key, _) in entries {
            if !matches!(key, Value::Str(_)) {
                return Err(WireError::FieldType {
                    message,
                    field: "(map key)",
                    expected: "a str",
                    found: key.kind(),
                });
            }
        }
        Ok(Fields { message, entries })
    }

    /// The value of `key`, nil when missing. Keys match exactly, case included;
    /// when a key repeats the last one wins, as Go assigns each in turn.
    pub fn get(&self, key: &str) -> &'v Value<'a> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| matches!(k, Value::Str(s) if *s == key.as_bytes()))
            .map_or(&NIL, |(_, v)| v)
    }

    /// A [`Field`] naming `name` in this struct.
    pub fn field(&self, name: &'static str) -> Field {
        Field {
            message: self.message,
            name,
        }
    }

    /// An unsigned integer field narrowed to `T`.
    pub fn uint<T: TryFrom<u64>>(&self, name: &'static str, target: &'static str) -> Result<T> {
        self.get(name).uint_as(self.field(name), target)
    }

    /// A `u64` field.
    pub fn u64(&self, name: &'static str) -> Result<u64> {
        self.get(name).uint(self.field(name))
    }

    /// A `u32` field.
    pub fn u32(&self, name: &'static str) -> Result<u32> {
        self.uint(name, "u32")
    }

    /// A `u16` field.
    pub fn u16(&self, name: &'static str) -> Result<u16> {
        self.uint(name, "u16")
    }

    /// A `u8` field.
    pub fn u8(&self, name: &'static str) -> Result<u8> {
        self.uint(name, "u8")
    }

    /// A signed integer field.
    pub fn i64(&self, name: &'static str) -> Result<i64> {
        self.get(name).int(self.field(name))
    }

    /// A bool field.
    pub fn bool(&self, name: &'static str) -> Result<bool> {
        self.get(name).boolean(self.field(name))
    }

    /// A float64 field.
    pub fn f64(&self, name: &'static str) -> Result<f64> {
        self.get(name).float(self.field(name))
    }

    /// A string field.
    pub fn string(&self, name: &'static str) -> Result<String> {
        self.get(name).text(self.field(name))
    }

    /// A byte-slice field where nil and empty need not be told apart.
    pub fn bytes(&self, name: &'static str) -> Result<Vec<u8>> {
        Ok(self.opt_bytes(name)?.unwrap_or_default())
    }

    /// A byte-slice field where nil (`c0`) and empty (`a0`) are kept apart, so
    /// that a decoded message encodes back to the same bytes.
    pub fn opt_bytes(&self, name: &'static str) -> Result<Option<Vec<u8>>> {
        Ok(self.get(name).bytes(self.field(name))?.map(<[u8]>::to_vec))
    }

    /// The `Vsn` field: six bytes, sent as a 6-byte str or bin, or as an array of
    /// six small integers (Go accepts all three). Absent, nil or empty means
    /// "versions unknown". Any other length is refused: a short vector would make
    /// Go index out of range, so it is never passed on as if it were valid.
    pub fn vsn(&self, name: &'static str) -> Result<Option<[u8; 6]>> {
        let field = self.field(name);
        let bad = |len| WireError::BadVsn {
            message: self.message,
            len,
        };
        match self.get(name) {
            Value::Nil => Ok(None),
            Value::Str(s) | Value::Bin(s) => match s.len() {
                0 => Ok(None),
                _ => <[u8; 6]>::try_from(*s).map(Some).map_err(|_| bad(s.len())),
            },
            Value::Array(items) => {
                if items.is_empty() {
                    return Ok(None);
                }
                if items.len() != 6 {
                    return Err(bad(items.len()));
                }
                let mut out = [0u8; 6];
                for (slot, item) in out.iter_mut().zip(items) {
                    *slot = item.uint_as(field, "u8")?;
                }
                Ok(Some(out))
            }
            other => Err(field.type_error("6 bytes (str, bin or array)", other)),
        }
    }
}

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

/// Reads msgpack objects one after the other from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// A reader at offset `pos` of `data`, so that error offsets count from the
    /// start of the whole message (type byte included).
    pub fn at(data: &'a [u8], pos: usize) -> Self {
        Reader { data, pos }
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Bytes left to read.
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Takes `n` raw bytes. The length is checked against the input before
    /// anything is allocated, so a forged length prefix costs nothing.
    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let remaining = self.remaining();
        let truncated = || WireError::Truncated {
            what,
            offset: self.pos,
            needed: n.saturating_sub(remaining as u64),
        };
        let n = match usize::try_from(n) {
            Ok(n) if n <= remaining => n,
            _ => return Err(truncated()),
        };
        let out = self
            .data
            .get(self.pos..self.pos + n)
            .ok_or_else(truncated)?;
        self.pos += n;
        Ok(out)
    }

    /// A big-endian unsigned integer of `width` bytes.
    fn be(&mut self, width: usize, what: &'static str) -> Result<u64> {
        let bytes = self.take(width as u64, what)?;
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Reads one complete msgpack object.
    pub fn value(&mut self) -> Result<Value<'a>> {
        self.value_at(0)
    }

    /// Reads one object nested `depth` levels deep.
    fn value_at(&mut self, depth: usize) -> Result<Value<'a>> {
        let start = self.pos;
        let tag = self.be(1, "msgpack type byte")?;
        // `be(1)` yields a single byte.
        let tag = tag as u8;
        Ok(match tag {
            0x00..=0x7f => Value::Uint(tag.into()),
            0x80..=0x8f => self.map_body(u64::from(tag & 0x0f), depth, start)?,
            0x90..=0x9f => self.array_body(u64::from(tag & 0x0f), depth, start)?,
            0xa0..=0xbf => Value::Str(self.take(u64::from(tag & 0x1f), "fixstr")?),
            0xc0 => Value::Nil,
            0xc1 => {
                return Err(WireError::Msgpack {
                    offset: start,
                    reason: "byte 0xc1 is reserved and never starts an object",
                })
            }
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.be(1 << (tag - 0xc4), "bin length")?;
                Value::Bin(self.take(n, "bin")?)
            }
            0xc7..=0xc9 => {
                let n = self.be(1 << (tag - 0xc7), "ext length")?;
                let ty = self.ext_type()?;
                Value::Ext(ty, self.take(n, "ext")?)
            }
            0xca => Value::F32(f32::from_bits(self.be(4, "float32")? as u32)),
            0xcb => Value::F64(f64::from_bits(self.be(8, "float64")?)),
            0xcc..=0xcf => Value::Uint(self.be(1 << (tag - 0xcc), "unsigned integer")?),
            0xd0..=0xd3 => {
                let width = 1usize << (tag - 0xd0);
                let raw = self.be(width, "signed integer")?;
                // Sign-extend from `width` bytes.
                let shift = 64 - 8 * width as u32;
                Value::Int(((raw << shift) as i64) >> shift)
            }
            0xd4..=0xd8 => {
                let ty = self.ext_type()?;
                Value::Ext(ty, self.take(1 << (tag - 0xd4), "fixext")?)
            }
            0xd9..=0xdb => {
                let n = self.be(1 << (tag - 0xd9), "str length")?;
                Value::Str(self.take(n, "str")?)
            }
            0xdc | 0xdd => {
                let n = self.be(2 << (tag - 0xdc), "array length")?;
                self.array_body(n, depth, start)?
            }
            0xde | 0xdf => {
                let n = self.be(2 << (tag - 0xde), "map length")?;
                self.map_body(n, depth, start)?
            }
            0xe0..=0xff => Value::Int(i64::from(tag as i8)),
        })
    }

    /// The type byte of an ext.
    fn ext_type(&mut self) -> Result<i8> {
        Ok(self.be(1, "ext type")? as u8 as i8)
    }

    /// Checks that `count` items of at least `min_size` bytes each can still
    /// follow, and the depth, before allocating anything for them.
    fn check_container(&self, count: u64, min_size: u64, depth: usize, start: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(WireError::TooDeep {
                offset: start,
                limit: MAX_DEPTH,
            });
        }
        let need = count.saturating_mul(min_size);
        let remaining = self.remaining() as u64;
        if need > remaining {
            return Err(WireError::Truncated {
                what: if min_size == 2 {
                    "map entries"
                } else {
                    "array items"
                },
                offset: start,
                needed: need - remaining,
            });
        }
        Ok(())
    }

    /// The `n` items of an array whose header started at `start`.
    fn array_body(&mut self, n: u64, depth: usize, start: usize) -> Result<Value<'a>> {
        self.check_container(n, 1, depth, start)?;
        // Capacity grows with what is actually parsed, so memory stays
        // proportional to the input whatever the length prefix claims.
        let mut items = Vec::with_capacity(n.min(16) as usize);
        for _ in 0..n {
            items.push(self.value_at(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    /// The `n` entries of a map whose header started at `start`.
    fn map_body(&mut self, n: u64, depth: usize, start: usize) -> Result<Value<'a>> {
        self.check_container(n, 2, depth, start)?;
        let mut entries = Vec::with_capacity(n.min(16) as usize);
        for _ in 0..n {
            let key = self.value_at(depth + 1)?;
            let value = self.value_at(depth + 1)?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::new();
        f(&mut w);
        w.finish().unwrap()
    }

    fn decode(bytes: &[u8]) -> Result<Value<'_>> {
        Reader::new(bytes).value()
    }

    const F: Field = Field {
        message: "test",
        name: "X",
    };

    #[test]
    fn integers_use_the_smallest_encoding() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0xcc, 0x80]),
            (255, &[0xcc, 0xff]),
            (256, &[0xcd, 0x01, 0x00]),
            (65535, &[0xcd, 0xff, 0xff]),
            (65536, &[0xce, 0, 1, 0, 0]),
            (1 << 32, &[0xcf, 0, 0, 0, 1, 0, 0, 0, 0]),
            (-1, &[0xff]),
            (-32, &[0xe0]),
            (-33, &[0xd0, 0xdf]),
            (-128, &[0xd0, 0x80]),
            (-129, &[0xd1, 0xff, 0x7f]),
            (-32769, &[0xd2, 0xff, 0xff, 0x7f, 0xff]),
            (i64::MIN, &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for &(v, bytes) in cases {
            assert_eq!(encode(|w| w.int(v)), bytes, "{v}");
            assert_eq!(decode(bytes).unwrap().int(F).unwrap(), v, "{v}");
        }
        assert_eq!(encode(|w| w.uint(u64::MAX))[0], 0xcf);
        assert_eq!(
            decode(&encode(|w| w.uint(u64::MAX))).unwrap().uint(F),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn strings_and_containers_use_the_raw_family() {
        assert_eq!(encode(|w| w.str(&[7; 31]))[0], 0xbf);
        assert_eq!(encode(|w| w.str(&[7; 32]))[..3], [0xda, 0x00, 0x20]);
        assert_eq!(encode(|w| w.str(&[7; 65536]))[..5], [0xdb, 0, 1, 0, 0]);
        assert_eq!(encode(|w| w.array(15)), [0x9f]);
        assert_eq!(encode(|w| w.array(16)), [0xdc, 0, 16]);
        assert_eq!(encode(|w| w.array(1 << 16)), [0xdd, 0, 1, 0, 0]);
        assert_eq!(encode(|w| w.map(15)), [0x8f]);
        assert_eq!(encode(|w| w.map(16)), [0xde, 0, 16]);
        assert_eq!(encode(|w| w.map(1 << 16)), [0xdf, 0, 1, 0, 0]);
        assert_eq!(encode(|w| w.f64(1.5)), [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode(|w| w.opt_str(None)), [0xc0]);
        assert_eq!(encode(|w| w.opt_str(Some(b""))), [0xa0]);
        assert_eq!(encode(|w| w.raw(&[1, 2])), [1, 2]);
        let mut w = Writer::with_prefix(&[9]);
        w.bool(true);
        w.bool(false);
        assert_eq!(w.finish().unwrap(), [9, 0xc3, 0xc2]);
    }

    #[test]
    fn reader_accepts_every_type() {
        let bytes = [
            0x9f, // array of 15
            0xd9, 1, b'a', // str8
            0xc4, 1, 2, // bin8
            0xc5, 0, 1, 3, // bin16
            0xc6, 0, 0, 0, 1, 4, // bin32
            0xc7, 1, 5, 6, // ext8
            0xd4, 7, 8, // fixext1
            0xca, 0x3f, 0xc0, 0, 0, // float32 1.5
            0xd0, 0x05, // int8 holding a positive value
            0xd1, 0xff, 0xfe, // int16 -2
            0xd2, 0xff, 0xff, 0xff, 0xfd, // int32 -3
            0xd3, 0, 0, 0, 0, 0, 0, 0, 4, // int64 4
            0xcc, 0xfa, // uint8
            0xdc, 0, 0, // array16 empty
            0xde, 0, 0,    // map16 empty
            0x80, // fixmap empty
        ];
        let Value::Array(items) = decode(&bytes).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(items[0], Value::Str(b"a"));
        assert_eq!(items[1], Value::Bin(&[2]));
        assert_eq!(items[4], Value::Ext(5, &[6]));
        assert_eq!(items[5], Value::Ext(7, &[8]));
        assert_eq!(items[6].float(F), Ok(1.5));
        assert_eq!(items[7].uint(F), Ok(5));
        assert_eq!(items[8].int(F), Ok(-2));
        assert_eq!(items[9].int(F), Ok(-3));
        assert_eq!(items[10].uint(F), Ok(4));
        assert_eq!(items[11].uint_as::<u8>(F, "u8"), Ok(250));
        assert!(items[11].uint_as::<i8>(F, "i8").is_err());
        assert_eq!(items[12], Value::Array(vec![]));
        assert_eq!(items.len(), 15);
        assert_eq!(
            decode(&[0xc1]).unwrap_err().to_string(),
            "invalid msgpack at offset 0: byte 0xc1 is reserved and never starts an object"
        );
    }

    #[test]
    fn accessors_follow_go_rules() {
        assert_eq!(
            decode(&[0xff]).unwrap().uint(F).unwrap_err().to_string(),
            "test: field `X` holds -1, which does not fit in u64"
        );
        assert_eq!(Value::Nil.uint(F), Ok(0));
        assert_eq!(Value::Uint(1).boolean(F), Ok(true));
        assert_eq!(Value::Int(0).boolean(F), Ok(false));
        assert!(Value::Uint(2).boolean(F).is_err());
        assert!(Value::Int(-1).boolean(F).is_err());
        assert!(Value::Str(b"x").boolean(F).is_err());
        assert!(Value::Uint(u64::MAX).int(F).is_err());
        assert!(Value::F64(1.0).int(F).is_err());
        assert_eq!(Value::Int(-2).float(F), Ok(-2.0));
        assert_eq!(Value::Uint(2).float(F), Ok(2.0));
        assert!(Value::Str(b"").float(F).is_err());
        assert_eq!(Value::Bin(b"ab").bytes(F), Ok(Some(&b"ab"[..])));
        assert_eq!(Value::Str(b"ab").text(F).as_deref(), Ok("ab"));
        assert_eq!(
            Value::Bin(b"ab").text(F).unwrap_err().to_string(),
            "test: field `X` must be a str (bin is not accepted for strings), found a bin"
        );
        assert!(matches!(
            Value::Str(&[0xff]).text(F),
            Err(WireError::NotUtf8 { .. })
        ));
        assert!(Value::Uint(1).bytes(F).is_err());
        assert!(Value::Uint(1).array(F).is_err());
        assert!(Value::Uint(1).map(F).is_err());
        assert_eq!(Value::Nil.map(F), Ok(None));
        // Last duplicate key wins; unknown keys are ignored; missing keys are zero.
        let bytes = [0x83, 0xa1, b'A', 1, 0xa1, b'A', 2, 0xa1, b'Z', 0xc3];
        let v = decode(&bytes).unwrap();
        let f = Fields::new("t", &v).unwrap();
        assert_eq!(f.u8("A"), Ok(2));
        assert_eq!(f.u8("a"), Ok(0));
        assert_eq!(f.i64("B"), Ok(0));
        assert_eq!(f.f64("B"), Ok(0.0));
        assert!(Fields::new("t", &Value::Uint(1)).is_err());
        assert!(Fields::new("t", &Value::Array(vec![])).is_err());
        assert!(Fields::new("t", &Value::Map(vec![(Value::Bin(b"A"), Value::Nil)])).is_err());
    }

    #[test]
    fn vsn_accepts_six_bytes_or_six_integers_only() {
        let vsn = |value: Value<'static>| {
            let v = Value::Map(vec![(Value::Str(b"Vsn"), value)]);
            Fields::new("alive", &v).unwrap().vsn("Vsn")
        };
        let six = [1, 5, 2, 2, 5, 5];
        assert_eq!(vsn(Value::Str(&[1, 5, 2, 2, 5, 5])), Ok(Some(six)));
        assert_eq!(vsn(Value::Bin(&[1, 5, 2, 2, 5, 5])), Ok(Some(six)));
        let ints = six.iter().map(|&b| Value::Uint(b.into())).collect();
        assert_eq!(vsn(Value::Array(ints)), Ok(Some(six)));
        assert_eq!(vsn(Value::Nil), Ok(None));
        assert_eq!(vsn(Value::Str(b"")), Ok(None));
        assert_eq!(vsn(Value::Array(vec![])), Ok(None));
        assert!(matches!(
            vsn(Value::Str(&[1, 5, 2])),
            Err(WireError::BadVsn { len: 3, .. })
        ));
        assert!(matches!(
            vsn(Value::Array(vec![Value::Uint(1); 3])),
            Err(WireError::BadVsn { len: 3, .. })
        ));
        assert!(vsn(Value::Array(vec![Value::Uint(256); 6])).is_err());
        assert!(vsn(Value::Uint(6)).is_err());
    }

    #[test]
    fn forged_lengths_fail_before_allocating() {
        // str32 of 4 GB in a 10-byte input.
        let bytes = [0xdb, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5];
        assert_eq!(
            decode(&bytes),
            Err(WireError::Truncated {
                what: "str",
                offset: 5,
                needed: 0xffff_ffff - 5
            })
        );
        for tag in [0xdd, 0xdf, 0xc6, 0xc9] {
            let bytes = [tag, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0];
            assert!(decode(&bytes).unwrap_err().is_truncated(), "{tag:x}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = vec![0x91; MAX_DEPTH + 1];
        assert!(matches!(decode(&deep), Err(WireError::TooDeep { .. })));
        let mut ok = vec![0x91; MAX_DEPTH - 1];
        ok.push(0xc0);
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn reader_tracks_position_and_rest() {
        let bytes = [0x01, 0x02, 0xaa];
        let mut r = Reader::at(&bytes, 1);
        assert_eq!(r.value(), Ok(Value::Uint(2)));
        assert_eq!(r.position(), 2);
        assert_eq!(r.rest(), &[0xaa]);
        assert_eq!(r.take(1, "x"), Ok(&[0xaa][..]));
        assert!(r.take(1, "x").unwrap_err().is_truncated());
    }
}
