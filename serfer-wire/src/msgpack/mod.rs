//! The msgpack dialect of the gossip port (spec §2).
//!
//! Go encodes gossip structures with go-msgpack's default handle, which predates
//! the msgpack str8/bin types: strings *and* byte slices are written as "raw"
//! (fixstr, str16, str32). Structs are maps whose keys are the Go field names in
//! bytewise order. [`Writer`] writes exactly that; the callers that write structs
//! declare their keys in that order.
//!
//! Reading is lenient in the ways Go is: [`Reader`] accepts every msgpack type into
//! a [`Value`] tree, and the typed accessors ([`Fields`], [`Value::uint`] …) apply
//! Go's decoding rules: unknown keys are skipped, missing keys and nil give zero
//! values, integers of any width are range-checked, byte slices accept str or bin,
//! and string fields reject bin.

mod reader;
#[cfg(test)]
mod tests;
mod value;
mod writer;

pub use reader::Reader;
pub use value::{Field, Fields, Value};
pub use writer::Writer;

/// Deepest nesting of arrays and maps the reader accepts.
///
/// The deepest real structure, Serf push/pull state (map → Events → userEvents →
/// Events → event), is five levels; the limit only keeps a hostile input from
/// exhausting the stack.
pub const MAX_DEPTH: usize = 32;
