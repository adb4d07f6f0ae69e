//! The protobuf-like field encoding serf-rs builds its Serf messages from
//! (memberlist-proto 0.3.4's `Data`): a field key byte `wire_type << 3 | tag`,
//! then a LEB128 varint, a single byte, or a varint `u32` length and that many
//! bytes.
//!
//! Written here rather than borrowed from memberlist-proto because its decoders
//! are not safe on arbitrary bytes: some slice past the end (`SecretKey`) and
//! others trip `debug_assert`s, which panic in debug builds. This reader never
//! panics. It is also *strict*: it accepts only canonical varints, and the
//! message readers in [`super::serf`] accept fields only in the order and form
//! serf-core's encoder writes them. So anything it decodes re-encodes to the same
//! bytes, and a serf-rs upgrade that changes the layout fails loudly instead of
//! being half-understood.

use serfer_wire::error::{Result, WireError};

/// Wire type of a field holding one raw byte.
pub const BYTE: u8 = 0;
/// Wire type of a LEB128 varint field.
pub const VARINT: u8 = 1;
/// Wire type of a length-delimited field.
pub const LEN: u8 = 2;

/// A field key byte. Tags above 7 spill into the wire-type bits; serf-core
/// does that too (query name and payload are tags 8 and 9) and matches the
/// whole byte, so the collision is harmless as long as nobody splits it.
pub const fn key(wire_type: u8, tag: u8) -> u8 {
    (wire_type << 3) | tag
}

/// Builds serf-rs bytes.
#[derive(Debug, Default)]
pub struct RsWriter {
    buf: Vec<u8>,
}

impl RsWriter {
    /// An empty writer.
    pub fn new() -> Self {
        RsWriter::default()
    }

    /// One raw byte.
    pub fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// Raw bytes, unframed.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// An unsigned LEB128 varint, as `varing` writes it for every width.
    pub fn varint(&mut self, mut v: u128) {
        loop {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(low);
                return;
            }
            self.buf.push(low | 0x80);
        }
    }

    /// `key` and a varint.
    pub fn field_varint(&mut self, key: u8, v: u128) {
        self.byte(key);
        self.varint(v);
    }

    /// A varint `u32` length and the bytes.
    pub fn len_prefixed(&mut self, what: &'static str, bytes: &[u8]) -> Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| WireError::TooLong {
            what,
            len: bytes.len(),
            max: u32::MAX as usize,
        })?;
        self.varint(len.into());
        self.raw(bytes);
        Ok(())
    }

    /// `key`, a length and the bytes.
    pub fn field_bytes(&mut self, key: u8, what: &'static str, bytes: &[u8]) -> Result<()> {
        self.byte(key);
        self.len_prefixed(what, bytes)
    }

    /// `key`, a length and what `body` writes.
    pub fn field_nested(
        &mut self,
        key: u8,
        what: &'static str,
        body: impl FnOnce(&mut RsWriter) -> Result<()>,
    ) -> Result<()> {
        let mut inner = RsWriter::new();
        body(&mut inner)?;
        self.field_bytes(key, what, &inner.buf)
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads serf-rs bytes, strictly.
#[derive(Debug, Clone)]
pub struct RsReader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the outermost input, for error messages.
    base: usize,
    message: &'static str,
}

impl<'a> RsReader<'a> {
    /// A reader of `buf`, which holds (part of) a `message`.
    pub fn new(buf: &'a [u8], message: &'static str) -> Self {
        RsReader {
            buf,
            pos: 0,
            base: 0,
            message,
        }
    }

    /// The same bytes, reported as another structure.
    pub fn named(mut self, message: &'static str) -> Self {
        self.message = message;
        self
    }

    /// Renames in place, for readers borrowed mutably.
    pub fn rename(&mut self, message: &'static str) -> &mut Self {
        self.message = message;
        self
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// A layout error at the current position.
    pub fn layout(&self, expected: &'static str) -> WireError {
        WireError::RsLayout {
            message: self.message,
            offset: self.offset(),
            expected,
        }
    }

    fn truncated(&self, what: &'static str, needed: u64) -> WireError {
        WireError::Truncated {
            what,
            offset: self.offset(),
            needed,
        }
    }

    /// True when every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// True when the next byte is `key` (which is then not consumed).
    pub fn next_is(&self, key: u8) -> bool {
        self.buf.get(self.pos) == Some(&key)
    }

    /// Consumes `key` if it comes next.
    pub fn take_key(&mut self, key: u8) -> bool {
        let found = self.next_is(key);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Consumes `key`, which must come next.
    pub fn expect_key(&mut self, key: u8, expected: &'static str) -> Result<()> {
        if self.at_end() {
            return Err(self.truncated(expected, 1));
        }
        if !self.take_key(key) {
            return Err(self.layout(expected));
        }
        Ok(())
    }

    /// One raw byte.
    pub fn byte(&mut self, what: &'static str) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or(self.truncated(what, 1))?;
        self.pos += 1;
        Ok(b)
    }

    /// A canonical LEB128 varint of at most `bits` bits.
    pub fn varint(&mut self, what: &'static str, bits: u32) -> Result<u128> {
        let start = self.pos;
        let mut value: u128 = 0;
        for i in 0..bits.div_ceil(7) {
            let b = self.byte(what)?;
            let shift = 7 * i;
            let low = u128::from(b & 0x7f);
            // The last byte may only hold the bits that remain.
            if shift + 7 > bits && low >> (bits - shift) != 0 {
                self.pos = start;
                return Err(self.layout("a varint within its integer's range"));
            }
            value |= low << shift;
            if b & 0x80 == 0 {
                // varing never writes a redundant trailing zero byte.
                if i > 0 && b == 0 {
                    self.pos = start;
                    return Err(self.layout("a varint in its shortest form"));
                }
                return Ok(value);
            }
        }
        self.pos = start;
        Err(self.layout("a varint within its integer's range"))
    }

    /// A varint `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        // 32 bits always fit: `varint` checked the range.
        Ok(self.varint(what, 32)? as u32)
    }

    /// A varint `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(self.varint(what, 64)? as u64)
    }

    /// A varint `u32` length and that many bytes.
    pub fn len_prefixed(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = self.u32(what)? as usize;
        let rest = self.buf.len() - self.pos;
        if len > rest {
            return Err(self.truncated(what, (len - rest) as u64));
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    /// A length-delimited field's body, as a reader of its own.
    pub fn nested(&mut self, what: &'static str) -> Result<RsReader<'a>> {
        let body = self.len_prefixed(what)?;
        Ok(RsReader {
            buf: body,
            pos: 0,
            base: self.base + self.pos - body.len(),
            message: what,
        })
    }

    /// A length-delimited UTF-8 string.
    pub fn string(&mut self, what: &'static str) -> Result<String> {
        let bytes = self.len_prefixed(what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WireError::NotUtf8 {
            message: self.message,
            field: what,
        })
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        self.pos = self.buf.len();
        rest
    }

    /// Succeeds only when every byte has been read.
    pub fn finish(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.layout("the end of the message"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memberlist_proto::Data;

    /// Our varints are memberlist-proto's (varing's) byte for byte.
    #[test]
    fn varints_match_memberlist_proto() {
        let mut values: Vec<u64> = (0..300).collect();
        for shift in 0..64 {
            let p = 1u64 << shift;
            values.extend([p - 1, p, p + 1]);
        }
        values.push(u64::MAX);
        for v in values {
            let mut w = RsWriter::new();
            w.varint(v.into());
            let ours = w.finish();
            assert_eq!(ours, v.encode_to_vec().unwrap(), "{v}");
            assert_eq!(RsReader::new(&ours, "t").u64("v").unwrap(), v);
            if let Ok(v32) = u32::try_from(v) {
                assert_eq!(ours, v32.encode_to_vec().unwrap());
                assert_eq!(RsReader::new(&ours, "t").u32("v").unwrap(), v32);
            } else {
                assert!(RsReader::new(&ours, "t").u32("v").is_err());
            }
        }
    }

    #[test]
    fn non_canonical_and_oversized_varints_are_refused() {
        // 0 written in two bytes.
        assert!(matches!(
            RsReader::new(&[0x80, 0x00], "t").u64("v"),
            Err(WireError::RsLayout { .. })
        ));
        // 2^32 does not fit a u32.
        assert!(RsReader::new(&[0x80, 0x80, 0x80, 0x80, 0x10], "t")
            .u32("v")
            .is_err());
        // Eleven continuation bytes.
        assert!(RsReader::new(&[0xff; 11], "t").u64("v").is_err());
        assert!(RsReader::new(&[0x80], "t")
            .u64("v")
            .unwrap_err()
            .is_truncated());
    }

    #[test]
    fn lengths_past_the_end_are_truncations() {
        let mut r = RsReader::new(&[5, 1, 2], "t");
        assert_eq!(
            r.len_prefixed("body"),
            Err(WireError::Truncated {
                what: "body",
                offset: 1,
                needed: 3
            })
        );
    }
}
