//! The reader: any msgpack object into a [`Value`], bounded by the input.

use super::{Value, MAX_DEPTH};
use crate::error::{Result, WireError};

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
