//! A fast, seeded hasher for the core's name lookups.
//!
//! The member table and the broadcast queue look names up on every message; at
//! a thousand nodes SipHash was a visible share of the simulator's time. This is
//! the multiply-rotate hash used by rustc with a final avalanche, keyed with the
//! node's seed so that another node cannot easily precompute colliding names. The maps are only
//! looked up, never iterated, so the hash never influences behaviour.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

/// The hasher state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// The multiply leaves the low bits, which pick the bucket, depending only
    /// on the low input bits; names like `node-123` differ in their high bytes.
    /// A final avalanche (murmur3's) spreads every bit over the whole word.
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Builds [`FxHasher`]s starting from a seed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FxBuild {
    seed: u64,
}

impl FxBuild {
    /// Hashers keyed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        FxBuild { seed }
    }
}

impl BuildHasher for FxBuild {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher { hash: self.seed }
    }
}

/// A map with the fast hasher.
pub(crate) type FxMap<K, V> = HashMap<K, V, FxBuild>;
