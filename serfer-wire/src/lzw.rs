//! LZW as Go's `compress/lzw` writes it with LSB bit order and 8-bit literals
//! (spec §4.2): the only compression memberlist uses.
//!
//! Codes 0–255 are literals, 256 clears the table, 257 ends the data, and new
//! strings get codes from 258 on. Codes start 9 bits wide and widen up to 12.
//! Byte-exact output matters: peers do not care, but the golden vectors do, and
//! they pin down the two places where encoders may legitimately differ: when the
//! table is reset, and the width of the final codes.

use super::error::{Result, WireError};

/// The clear code.
const CLEAR: u32 = 256;
/// The end-of-data code.
const EOF: u32 = 257;
/// The first code assigned to a new string.
const FIRST_FREE: u32 = 258;
/// Code width after a clear.
const MIN_WIDTH: u32 = 9;
/// Widest code.
const MAX_WIDTH: u32 = 12;
/// Number of codes at the widest width.
const TABLE_SIZE: usize = 1 << MAX_WIDTH;
/// When the code to assign next reaches this, Go's encoder resets instead of
/// using it (it keeps the last 12-bit code unused).
const ENCODER_LIMIT: u32 = (1 << MAX_WIDTH) - 1;

/// Packs codes LSB-first into bytes.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    bits: u32,
}

impl BitWriter {
    /// Appends `code` in `width` bits.
    fn put(&mut self, code: u32, width: u32) {
        self.acc |= code << self.bits;
        self.bits += width;
        while self.bits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }

    /// Flushes the last partial byte, zero-padded.
    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// The encoder's code counter: the last code assigned, and the width it implies.
struct Counter {
    hi: u32,
    width: u32,
}

impl Counter {
    /// The state right after a clear code: codes 0–257 taken, 9 bits wide.
    fn new() -> Self {
        Counter {
            hi: EOF,
            width: MIN_WIDTH,
        }
    }

    /// Accounts for one emitted code. Returns true when the table is exhausted;
    /// then a clear code has been written at the current width and everything is
    /// back to its initial state, and the caller must not record a new string.
    ///
    /// The counter advances after *every* emitted code, the last one before the
    /// end code included, because the decoder does the same when it reads them:
    /// that is what keeps both sides agreeing on the width of the next code.
    fn advance(&mut self, out: &mut BitWriter) -> bool {
        self.hi += 1;
        if self.hi == 1 << self.width {
            self.width += 1;
        }
        if self.hi == ENCODER_LIMIT {
            out.put(CLEAR, self.width);
            *self = Counter::new();
            return true;
        }
        false
    }
}

/// The encoder's string table as a trie: each string's children (itself plus
/// one byte) are a linked list. Lookups walk at most 256 siblings and a reset
/// clears 8 KiB, which keeps small packets cheap.
struct Trie {
    first_child: Vec<u16>,
    next_sibling: Vec<u16>,
    last_byte: Vec<u8>,
}

/// "No code": 0 is a literal and is never anyone's child.
const NONE: u16 = 0;

impl Trie {
    /// An empty table.
    fn new() -> Self {
        Trie {
            first_child: vec![NONE; TABLE_SIZE],
            next_sibling: vec![NONE; TABLE_SIZE],
            last_byte: vec![0; TABLE_SIZE],
        }
    }

    /// Forgets every string; sibling links and bytes are rewritten on insertion,
    /// so only the child heads need resetting.
    fn clear(&mut self) {
        self.first_child.fill(NONE);
    }

    /// The code of the string `code` + `byte`, if the table has it.
    fn find(&self, code: u32, byte: u8) -> Option<u32> {
        let mut child = *self.first_child.get(code as usize)?;
        while child != NONE {
            let c = usize::from(child);
            if self.last_byte.get(c) == Some(&byte) {
                return Some(child.into());
            }
            child = *self.next_sibling.get(c)?;
        }
        None
    }

    /// Records `new` as the string `code` + `byte`. Codes stay below 4096, so
    /// the casts are lossless.
    fn insert(&mut self, code: u32, byte: u8, new: u32) {
        let (code, new_idx) = (code as usize, new as usize);
        if let (Some(head), Some(sibling), Some(last)) = (
            self.first_child.get(code).copied(),
            self.next_sibling.get_mut(new_idx),
            self.last_byte.get_mut(new_idx),
        ) {
            *sibling = head;
            *last = byte;
            if let Some(first) = self.first_child.get_mut(code) {
                *first = new as u16;
            }
            // The new string has no children yet.
            if let Some(first) = self.first_child.get_mut(new_idx) {
                *first = NONE;
            }
        }
    }
}

/// Compresses `data` exactly as Go's `lzw.NewWriter(w, lzw.LSB, 8)` does.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = BitWriter::default();
    let mut counter = Counter::new();
    let mut table = Trie::new();
    // GIF asks encoders to start with a clear code, and Go always does.
    out.put(CLEAR, counter.width);
    let Some((&first, rest)) = data.split_first() else {
        out.put(EOF, counter.width);
        return out.finish();
    };
    let mut code = u32::from(first);
    for &byte in rest {
        if let Some(known) = table.find(code, byte) {
            code = known;
            continue;
        }
        out.put(code, counter.width);
        let prefix = code;
        code = u32::from(byte);
        if counter.advance(&mut out) {
            table.clear();
            continue;
        }
        table.insert(prefix, byte, counter.hi);
    }
    out.put(code, counter.width);
    counter.advance(&mut out);
    out.put(EOF, counter.width);
    out.finish()
}

/// Reads codes LSB-first.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    bits: u32,
}

impl BitReader<'_> {
    /// The next `width`-bit code, or `None` at the end of the data.
    fn get(&mut self, width: u32) -> Option<u32> {
        while self.bits < width {
            let byte = *self.data.get(self.pos)?;
            self.pos += 1;
            self.acc |= u32::from(byte) << self.bits;
            self.bits += 8;
        }
        let code = self.acc & ((1 << width) - 1);
        self.acc >>= width;
        self.bits -= width;
        Some(code)
    }
}

/// Decompresses LZW data written by Go's `compress/lzw` (LSB, 8-bit literals),
/// refusing to produce more than `max_output` bytes.
///
/// Garbage gives an error, never a panic: codes that are not defined yet, data
/// that ends before the end code, or output over the limit.
pub fn decompress(data: &[u8], max_output: usize) -> Result<Vec<u8>> {
    // Each string is its prefix's string plus one byte; literals have no prefix.
    let mut prefix = vec![0u16; TABLE_SIZE];
    let mut suffix = vec![0u8; TABLE_SIZE];
    let mut length = vec![0u16; TABLE_SIZE];
    for (code, (s, l)) in suffix
        .iter_mut()
        .zip(length.iter_mut())
        .take(256)
        .enumerate()
    {
        *s = code as u8;
        *l = 1;
    }
    let mut input = BitReader {
        data,
        pos: 0,
        acc: 0,
        bits: 0,
    };
    let mut out: Vec<u8> = Vec::new();
    let mut width = MIN_WIDTH;
    let mut next = FIRST_FREE;
    let mut previous: Option<u32> = None;
    loop {
        let at = input.pos;
        let Some(code) = input.get(width) else {
            return Err(WireError::Lzw {
                offset: data.len(),
                reason: "data ends before the end code",
            });
        };
        if code == CLEAR {
            width = MIN_WIDTH;
            next = FIRST_FREE;
            previous = None;
            continue;
        }
        if code == EOF {
            return Ok(out);
        }
        let start = out.len();
        let known = code < 256 || (FIRST_FREE..next).contains(&code);
        match previous {
            _ if known => write_string(code, &prefix, &suffix, &length, &mut out, max_output)?,
            // The string being defined by this very code: the previous string
            // plus its own first byte.
            Some(prev) if code == next => {
                write_string(prev, &prefix, &suffix, &length, &mut out, max_output)?;
                let first = *out.get(start).unwrap_or(&0);
                push_limited(&mut out, first, max_output)?;
            }
            _ => {
                return Err(WireError::Lzw {
                    offset: at,
                    reason: "code refers to a string not defined yet",
                })
            }
        }
        if let Some(prev) = previous {
            // A full table stays as it is until the next clear code.
            if (next as usize) < TABLE_SIZE {
                let slot = next as usize;
                let first = *out.get(start).unwrap_or(&0);
                let prev_len = length.get(prev as usize).copied().unwrap_or(0);
                if let (Some(p), Some(s), Some(l)) = (
                    prefix.get_mut(slot),
                    suffix.get_mut(slot),
                    length.get_mut(slot),
                ) {
                    *p = prev as u16;
                    *s = first;
                    *l = prev_len.saturating_add(1);
                }
                next += 1;
                if next == 1 << width && width < MAX_WIDTH {
                    width += 1;
                }
            }
        }
        previous = Some(code);
    }
}

/// Appends the string of `code`, walking its prefix chain backwards into place.
fn write_string(
    code: u32,
    prefix: &[u16],
    suffix: &[u8],
    length: &[u16],
    out: &mut Vec<u8>,
    max_output: usize,
) -> Result<()> {
    let len = usize::from(length.get(code as usize).copied().unwrap_or(0));
    let start = out.len();
    if len > max_output.saturating_sub(start) {
        return Err(WireError::TooLarge { limit: max_output });
    }
    out.resize(start + len, 0);
    let mut c = code as usize;
    for slot in out[start..].iter_mut().rev() {
        *slot = suffix.get(c).copied().unwrap_or(0);
        c = usize::from(prefix.get(c).copied().unwrap_or(0));
    }
    Ok(())
}

/// Appends one byte unless that would exceed `max_output`.
fn push_limited(out: &mut Vec<u8>, byte: u8, max_output: usize) -> Result<()> {
    if out.len() >= max_output {
        return Err(WireError::TooLarge { limit: max_output });
    }
    out.push(byte);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{hex, Rng};

    fn round_trip(data: &[u8]) {
        let packed = compress(data);
        assert_eq!(decompress(&packed, data.len()).unwrap(), data);
    }

    #[test]
    fn empty_input_is_clear_then_end() {
        assert_eq!(compress(b""), [0x00, 0x03, 0x02]);
        assert_eq!(decompress(&[0x00, 0x03, 0x02], 0).unwrap(), b"");
    }

    #[test]
    fn round_trips() {
        round_trip(b"");
        round_trip(b"x");
        round_trip(&vec![0u8; 100_000]);
        let mut rng = Rng::new(7);
        let random: Vec<u8> = (0..100_000).map(|_| rng.next_u64() as u8).collect();
        round_trip(&random);
        // Random bytes give about one code per byte, so these lengths put the
        // final code and the end code on each side of every width change
        // (512, 1024 and 2048 codes) and of the table reset at 4095, the last
        // code being the one that triggers it included.
        for len in (0..2_100).chain(3_880..4_080) {
            round_trip(&random[..len]);
        }
    }

    #[test]
    fn text_forces_several_table_resets() {
        let words = [
            "serf", "gossip", "member", "alive", "suspect", "dead", "query", "event",
        ];
        let mut rng = Rng::new(11);
        let mut text = Vec::new();
        while text.len() < 200_000 {
            text.extend_from_slice(words[rng.below(words.len())].as_bytes());
            text.extend_from_slice(format!(" {} ", rng.below(10_000)).as_bytes());
        }
        let packed = compress(&text);
        // Go resets after every 4095 - 258 + 1 = 3838 codes and a code is at most
        // 12 bits, so this much output holds at least three resets.
        assert!(packed.len() * 8 / 12 > 3 * 3838, "too short to have reset");
        assert_eq!(decompress(&packed, text.len()).unwrap(), text);
    }

    #[test]
    fn output_is_bounded() {
        let packed = compress(&vec![0u8; 100_000]);
        assert_eq!(
            decompress(&packed, 99_999),
            Err(WireError::TooLarge { limit: 99_999 })
        );
        assert_eq!(decompress(&packed, 100_000).unwrap().len(), 100_000);
    }

    #[test]
    fn garbage_is_an_error() {
        // Ends without an end code.
        assert!(decompress(&[0x00], 10).is_err());
        assert!(decompress(&[], 10).is_err());
        // After a clear, code 258 is not defined yet and there is no previous code.
        let mut w = BitWriter::default();
        w.put(CLEAR, 9);
        w.put(258, 9);
        assert!(matches!(
            decompress(&w.finish(), 10),
            Err(WireError::Lzw { .. })
        ));
        // Code far beyond the table.
        let mut w = BitWriter::default();
        w.put(65, 9);
        w.put(400, 9);
        assert!(decompress(&w.finish(), 10).is_err());
        // KwKwK: "aaa" is literal a, then code 258 = "a" + "a".
        let mut w = BitWriter::default();
        w.put(97, 9);
        w.put(258, 9);
        w.put(EOF, 9);
        assert_eq!(decompress(&w.finish(), 10).unwrap(), b"aaa");
        let mut rng = Rng::new(3);
        for _ in 0..2_000 {
            let len = rng.below(64);
            let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let _ = decompress(&junk, 4096);
        }
    }

    #[test]
    fn full_table_stops_growing_until_clear() {
        // A stream that never clears: literals only, 4000 of them, then more. The
        // decoder must keep going at 12 bits without defining codes past 4095.
        let mut w = BitWriter::default();
        let mut next = FIRST_FREE;
        let mut width = MIN_WIDTH;
        let mut expected = Vec::new();
        for i in 0..5_000u32 {
            let byte = (i % 251) as u8;
            w.put(byte.into(), width);
            expected.push(byte);
            if i > 0 && (next as usize) < TABLE_SIZE {
                next += 1;
                if next == 1 << width && width < MAX_WIDTH {
                    width += 1;
                }
            }
        }
        w.put(EOF, width);
        assert_eq!(decompress(&w.finish(), 10_000).unwrap(), expected);
    }

    #[test]
    fn matches_go_on_the_alive_vector() {
        // The `compress_alive` golden vector's Buf, and the message it wraps.
        let buf = hex("0009182215840c1939a4fe0000206055123763c2c87113864e9a376e02906a52864e9855ff029192f3864d995177ca8821e5e40d9932a6dcb82cd3220c29286fe4d069f641c1282b73dc980a5040808002050202");
        let alive = hex("0486a441646472a47f000002ab496e6361726e6174696f6e01a44d657461abff81a4726f6c65a3776562a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502020505");
        assert_eq!(compress(&alive), buf);
        assert_eq!(decompress(&buf, 1 << 16).unwrap(), alive);
    }
}

/// Go's own `compress/lzw` output (go1.19.8, `lzw.NewWriter(w, lzw.LSB, 8)`), as length
/// and CRC-32 of the compressed bytes, for inputs long enough to reach 12-bit codes
/// and table resets, which no golden vector of the spec does. The inputs are made
/// here by the same formulas as the Go program that printed these numbers.
#[cfg(test)]
mod go_vectors {
    use super::{compress, decompress};

    /// "event {i} from node-{i % 7} status=ok;\n" for i in 0..3000.
    fn text() -> Vec<u8> {
        (0..3000)
            .flat_map(|i| format!("event {i} from node-{} status=ok;\n", i % 7).into_bytes())
            .collect()
    }

    /// xorshift32 from 2463534242, low byte of each step.
    fn noise(n: usize) -> Vec<u8> {
        let mut x: u32 = 2_463_534_242;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    /// Five distinct bytes: long matches, so the table fills and resets often.
    fn few_symbols(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * i / 7) % 5) as u8).collect()
    }

    #[test]
    fn compressed_bytes_match_go_beyond_nine_bit_codes() {
        let cases: Vec<(&str, Vec<u8>, usize, u32, u32)> = vec![
            ("text", text(), 12901, 0x6aec73dd, 0xea42c746),
            ("noise", noise(50_000), 68389, 0x7116f74c, 0xa4c9b246),
            (
                "few symbols",
                few_symbols(200_000),
                5185,
                0x7bd500d2,
                0x7679268f,
            ),
            ("noise 511", noise(511), 605, 0x152d9a5a, 0x055d9598),
            ("noise 512", noise(512), 606, 0x5d725ce8, 0xb2b39437),
            ("noise 1023", noise(1023), 1264, 0xc3f36dda, 0xfea10dbe),
            ("noise 4093", noise(4093), 5558, 0xa07a68cc, 0xa24e2317),
            ("noise 4094", noise(4094), 5559, 0x1eaee270, 0x07091c65),
            ("noise 4095", noise(4095), 5560, 0x06a7718d, 0xbe50b633),
            ("noise 4096", noise(4096), 5561, 0x26d0fdad, 0x69c512e7),
            ("noise 8189", noise(8189), 11150, 0xb9161659, 0x08c53b40),
        ];
        for (name, input, out_len, crc_in, crc_out) in cases {
            // The input formula is right if Go and we agree on what was compressed.
            assert_eq!(
                crc32fast::hash(&input),
                crc_in,
                "{name}: input differs from Go's"
            );
            let ours = compress(&input);
            assert_eq!(ours.len(), out_len, "{name}: compressed length");
            assert_eq!(crc32fast::hash(&ours), crc_out, "{name}: compressed bytes");
            assert_eq!(decompress(&ours, input.len()).unwrap(), input, "{name}");
        }
    }
}
