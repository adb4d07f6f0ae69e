//! What the translator remembers about each node, so that what it re-encodes
//! is byte-for-byte what the node itself sent.
//!
//! Both memberlists refute an `alive` about themselves whose meta differs from
//! their own by a single byte, with a higher incarnation. Go writes its tags in
//! map-iteration (random) order and serf-rs in insertion order, so a meta that
//! is decoded and re-encoded comes back different. The table keeps, per node
//! name, the pair of meta encodings last seen on either side, and the node's
//! `Vsn`, which serf-rs has no room for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use serf::types::SmolStr;

/// A node's versions, `[PMin, PMax, PCur, DMin, DMax, DCur]`, for nodes that
/// never told us theirs: Serfer's own and serf-rs peers. memberlist protocol 1–5
/// speaking 2, Serf protocol 2–5 speaking 5, as the Debian agent sends.
pub const DEFAULT_VSN: [u8; 6] = [1, 5, 2, 2, 5, 5];

/// Upper bound on remembered nodes. A cluster larger than this still works:
/// a forgotten node's meta is re-encoded, which costs at most one refute.
const MAX_NODES: usize = 16_384;

/// One node as last seen on the wire.
#[derive(Debug, Clone, Default)]
struct Seen {
    addr: Option<SocketAddr>,
    meta: Option<MetaPair>,
    vsn: Option<[u8; 6]>,
}

/// One meta as serf-rs encodes it and as Go encodes it.
#[derive(Debug, Clone)]
struct MetaPair {
    rs: Vec<u8>,
    go: Vec<u8>,
}

/// Which side's encoding a meta is in.
#[derive(Debug, Clone, Copy)]
enum Side {
    Rs,
    Go,
}

/// The translator's memory of nodes, shared by its packet and stream paths.
#[derive(Debug, Default)]
pub struct Peers {
    nodes: Mutex<HashMap<SmolStr, Seen>>,
}

impl Peers {
    /// A table that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, name: &SmolStr, f: impl FnOnce(&mut Seen) -> R) -> R {
        // A poisoned lock only means another translation panicked half-way
        // through an update of plain data; the data is still usable.
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if !nodes.contains_key(name) && nodes.len() >= MAX_NODES {
            if let Some(victim) = nodes.keys().next().cloned() {
                nodes.remove(&victim);
            }
        }
        f(nodes.entry(name.clone()).or_default())
    }

    /// The Go meta for `rs_meta`: the remembered one if serf-rs sends what it
    /// sent before, else `encode()`'s, which is then remembered.
    pub fn meta_to_go<E>(
        &self,
        name: &SmolStr,
        rs_meta: &[u8],
        encode: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        self.translate_meta(name, Side::Rs, rs_meta, encode)
    }

    /// The serf-rs meta for `go_meta`, the mirror of [`Peers::meta_to_go`].
    pub fn meta_to_rs<E>(
        &self,
        name: &SmolStr,
        go_meta: &[u8],
        encode: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        self.translate_meta(name, Side::Go, go_meta, encode)
    }

    /// `from` (in `side`'s encoding) in the other side's: the remembered pair's
    /// other half when `from` is its `side` half, else `encode(from)`, remembered.
    fn translate_meta<E>(
        &self,
        name: &SmolStr,
        side: Side,
        from: &[u8],
        encode: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        let cached = self.with(name, |seen| {
            let m = seen.meta.as_ref()?;
            let (same, other) = match side {
                Side::Rs => (&m.rs, &m.go),
                Side::Go => (&m.go, &m.rs),
            };
            (same.as_slice() == from).then(|| other.clone())
        });
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let to = encode(from)?;
        let pair = match side {
            Side::Rs => MetaPair {
                rs: from.to_vec(),
                go: to.clone(),
            },
            Side::Go => MetaPair {
                rs: to.clone(),
                go: from.to_vec(),
            },
        };
        self.with(name, |seen| seen.meta = Some(pair));
        Ok(to)
    }

    /// Records where `name` is and, if it said so, its versions.
    pub fn saw(&self, name: &SmolStr, addr: SocketAddr, vsn: Option<[u8; 6]>) {
        self.with(name, |seen| {
            seen.addr = Some(addr);
            if vsn.is_some() {
                seen.vsn = vsn;
            }
        });
    }

    /// The versions `name` announced, or [`DEFAULT_VSN`].
    pub fn vsn(&self, name: &SmolStr) -> [u8; 6] {
        self.with(name, |seen| seen.vsn.unwrap_or(DEFAULT_VSN))
    }

    /// The name of the node last seen at `addr`.
    pub fn name_at(&self, addr: SocketAddr) -> Option<SmolStr> {
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .iter()
            .find(|(_, seen)| seen.addr == Some(addr))
            .map(|(name, _)| name.clone())
    }

    /// Where `name` was last seen.
    pub fn addr_of(&self, name: &SmolStr) -> Option<SocketAddr> {
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes.get(name).and_then(|seen| seen.addr)
    }
}
