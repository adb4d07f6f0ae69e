//! The decoded msgpack tree and Go's rules for reading typed values from it.

use crate::error::{Result, WireError};

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

    /// The value as a version vector, under the rules of [`Fields::vsn`].
    pub(crate) fn vsn(&self, field: Field) -> Result<Option<[u8; 6]>> {
        let bad = |len| WireError::BadVsn {
            message: field.message,
            len,
        };
        match self {
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
        self.get(name).vsn(self.field(name))
    }
}
