//! Declaring a Go struct once for both directions of the wire.
//!
//! Go's msgpack handle writes a struct as a map whose keys are the field names in
//! bytewise order, leaves out `omitempty` fields that hold their zero value, and
//! reads a map back by looking each field up by key. A hand-written encoder and
//! decoder per struct name every key twice and can drift apart (a key renamed on
//! one side, a field forgotten on the other). [`go_struct!`] takes one line per
//! field instead — wire key, Rust field, codec kind, omitempty — and generates
//! both directions from it, as an impl of [`GoStruct`]. The struct itself stays
//! an ordinary Rust declaration; the generated reader builds it with a struct
//! literal, so a field missing from the declaration does not compile (unless the
//! declaration ends in `..Default`, saying that some fields are not on the wire).
//!
//! Structs whose bytes are not a plain map (a raw trailer, an array, a prefix
//! that depends on the variant) are written by hand around these pieces.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use crate::error::Result;
use crate::msgpack::{Field, Fields, Reader, Value, Writer};

/// A Go struct that travels as a msgpack map, implemented by [`go_struct!`].
pub(crate) trait GoStruct: Sized {
    /// The struct's name in error messages.
    const NAME: &'static str;
    /// The wire keys, in declaration order, which is Go's bytewise order
    /// (checked when the crate compiles).
    const KEYS: &'static [&'static str];

    /// Writes the struct as a map: keys in order, empty `omitempty` fields left out.
    fn write_map(&self, w: &mut Writer);

    /// Builds the struct from a decoded map: unknown keys are ignored, missing
    /// ones give zero values.
    fn from_fields(f: &Fields<'_, '_>) -> Result<Self>;

    /// Builds the struct from a decoded value: a map, or nil for all zero values.
    fn from_value(value: &Value<'_>) -> Result<Self> {
        Self::from_fields(&Fields::new(Self::NAME, value)?)
    }

    /// Reads the struct from the next object of `r`.
    fn read_map(r: &mut Reader<'_>) -> Result<Self> {
        Self::from_value(&r.value()?)
    }

    /// `prefix` (a type byte, usually) followed by the map.
    fn encode_after(&self, prefix: &[u8]) -> Result<Vec<u8>> {
        let mut w = Writer::with_prefix(prefix);
        self.write_map(&mut w);
        w.finish()
    }
}

/// How a field's value is written and read. The kinds below implement it for
/// every Rust type they can carry, so a declaration names only the kind and the
/// field's type picks the implementation.
pub(crate) trait Codec<T> {
    /// Writes `value`.
    fn write(w: &mut Writer, value: &T);

    /// Reads a value under Go's rules: nil is the zero value, integers are
    /// range-checked against `T`. `field` names it in errors.
    fn read(value: &Value<'_>, field: Field) -> Result<T>;
}

/// Kinds that `omitempty` applies to. Other kinds have no implementation, so
/// marking one of their fields `[omitempty]` does not compile rather than
/// silently never omitting.
pub(crate) trait OmitEmpty<T>: Codec<T> {
    /// Go's zero test for `omitempty`: 0, "", an empty or nil slice.
    fn is_empty(value: &T) -> bool;
}

/// Unsigned integers of every width, written in their smallest encoding.
pub(crate) struct Uint;

/// Signed integers (Go `int`, `time.Duration`) and the enums sent as one.
pub(crate) struct Int;

/// Go `bool`.
pub(crate) struct Bool;

/// Go `float64`.
pub(crate) struct F64;

/// Go `string`: str on the wire; bin is refused on reading, as Go refuses it.
pub(crate) struct Str;

/// Go `[]byte` where nil and empty need not be told apart: written as a str
/// (Go's old-spec handle has no bin), read from str, bin or nil.
pub(crate) struct Bytes;

/// The `Vsn` version vector: six bytes, or nil for "unknown".
pub(crate) struct Vsn;

/// An `Option` of kind `K`: `None` is nil, in both directions. For the Go
/// slices and pointers whose nil must survive a round trip.
pub(crate) struct OrNil<K>(PhantomData<K>);

/// A Go slice of kind `K`. Nil reads as empty; empty is written as an empty
/// array, which is what Go sends for these fields (it fills them with `make`).
pub(crate) struct List<K>(PhantomData<K>);

/// A Go `map[string]V` with values of kind `K`.
pub(crate) struct Map<K>(PhantomData<K>);

/// A struct declared with [`go_struct!`], written as its own map.
pub(crate) struct Nested;

/// The unsigned integer types, each range-checked against its own width.
macro_rules! uint_codec {
    ($($t:ty),+) => {$(
        impl Codec<$t> for Uint {
            fn write(w: &mut Writer, value: &$t) {
                w.uint(u64::from(*value));
            }

            fn read(value: &Value<'_>, field: Field) -> Result<$t> {
                value.uint_as(field, stringify!($t))
            }
        }

        impl OmitEmpty<$t> for Uint {
            fn is_empty(value: &$t) -> bool {
                *value == 0
            }
        }
    )+};
}

uint_codec!(u8, u16, u32, u64);

impl Codec<i64> for Int {
    fn write(w: &mut Writer, value: &i64) {
        w.int(*value);
    }

    fn read(value: &Value<'_>, field: Field) -> Result<i64> {
        value.int(field)
    }
}

impl OmitEmpty<i64> for Int {
    fn is_empty(value: &i64) -> bool {
        *value == 0
    }
}

impl Codec<bool> for Bool {
    fn write(w: &mut Writer, value: &bool) {
        w.bool(*value);
    }

    fn read(value: &Value<'_>, field: Field) -> Result<bool> {
        value.boolean(field)
    }
}

impl OmitEmpty<bool> for Bool {
    fn is_empty(value: &bool) -> bool {
        !*value
    }
}

impl Codec<f64> for F64 {
    fn write(w: &mut Writer, value: &f64) {
        w.f64(*value);
    }

    fn read(value: &Value<'_>, field: Field) -> Result<f64> {
        value.float(field)
    }
}

impl Codec<String> for Str {
    fn write(w: &mut Writer, value: &String) {
        w.str(value.as_bytes());
    }

    fn read(value: &Value<'_>, field: Field) -> Result<String> {
        value.text(field)
    }
}

impl OmitEmpty<String> for Str {
    fn is_empty(value: &String) -> bool {
        value.is_empty()
    }
}

impl Codec<Vec<u8>> for Bytes {
    fn write(w: &mut Writer, value: &Vec<u8>) {
        w.str(value);
    }

    fn read(value: &Value<'_>, field: Field) -> Result<Vec<u8>> {
        Ok(value.bytes(field)?.unwrap_or_default().to_vec())
    }
}

impl OmitEmpty<Vec<u8>> for Bytes {
    fn is_empty(value: &Vec<u8>) -> bool {
        value.is_empty()
    }
}

impl Codec<Option<[u8; 6]>> for Vsn {
    fn write(w: &mut Writer, value: &Option<[u8; 6]>) {
        w.opt_str(value.as_ref().map(|v| &v[..]));
    }

    fn read(value: &Value<'_>, field: Field) -> Result<Option<[u8; 6]>> {
        value.vsn(field)
    }
}

impl<T, K: Codec<T>> Codec<Option<T>> for OrNil<K> {
    fn write(w: &mut Writer, value: &Option<T>) {
        match value {
            None => w.nil(),
            Some(v) => K::write(w, v),
        }
    }

    fn read(value: &Value<'_>, field: Field) -> Result<Option<T>> {
        match value {
            Value::Nil => Ok(None),
            other => K::read(other, field).map(Some),
        }
    }
}

impl<T, K: Codec<T>> OmitEmpty<Option<T>> for OrNil<K> {
    fn is_empty(value: &Option<T>) -> bool {
        value.is_none()
    }
}

impl<T, K: Codec<T>> Codec<Vec<T>> for List<K> {
    fn write(w: &mut Writer, value: &Vec<T>) {
        w.array(value.len());
        for item in value {
            K::write(w, item);
        }
    }

    fn read(value: &Value<'_>, field: Field) -> Result<Vec<T>> {
        value
            .array(field)?
            .unwrap_or_default()
            .iter()
            .map(|item| K::read(item, field))
            .collect()
    }
}

impl<T, K: Codec<T>> OmitEmpty<Vec<T>> for List<K> {
    fn is_empty(value: &Vec<T>) -> bool {
        value.is_empty()
    }
}

impl<T, K: Codec<T>> Codec<BTreeMap<String, T>> for Map<K> {
    fn write(w: &mut Writer, value: &BTreeMap<String, T>) {
        // Go writes map entries in random order; sorted is one of those orders,
        // and makes the output reproducible.
        w.map(value.len());
        for (k, v) in value {
            w.str(k.as_bytes());
            K::write(w, v);
        }
    }

    fn read(value: &Value<'_>, field: Field) -> Result<BTreeMap<String, T>> {
        let mut map = BTreeMap::new();
        // A repeated key keeps its last value, as Go assigns each in turn.
        for (k, v) in value.map(field)?.unwrap_or_default() {
            map.insert(Str::read(k, field)?, K::read(v, field)?);
        }
        Ok(map)
    }
}

impl<T: GoStruct> Codec<T> for Nested {
    fn write(w: &mut Writer, value: &T) {
        value.write_map(w);
    }

    /// Errors inside name the nested struct ([`GoStruct::NAME`]), not `field`.
    fn read(value: &Value<'_>, _field: Field) -> Result<T> {
        T::from_value(value)
    }
}

/// True when `keys` are strictly increasing bytewise: Go's order, no key twice.
/// A `const fn`, so that [`go_struct!`] checks every declaration at compile time.
pub(crate) const fn keys_sorted(keys: &[&str]) -> bool {
    let mut i = 1;
    while i < keys.len() {
        if !bytes_less(keys[i - 1].as_bytes(), keys[i].as_bytes()) {
            return false;
        }
        i += 1;
    }
    true
}

/// `a < b` bytewise, as Go's `sort.Strings` orders the field names.
const fn bytes_less(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// Implements [`GoStruct`] for a struct from one line per wire field:
///
/// ```text
/// go_struct! {
///     Ping as "ping" {
///         "Node"       => node: Str,
///         "SeqNo"      => seq_no: Uint,
///         "SourceAddr" => source_addr: Bytes [omitempty],
///     }
/// }
/// ```
///
/// Each line, comma included, gives the Go key, the Rust field and the codec
/// kind ([`Uint`], [`Str`], [`List`]`<Str>` …); `[omitempty]` leaves the field
/// out of the map while it holds Go's zero value. The string after `as` names
/// the struct in errors. Keys are written in the order declared, which must be Go's bytewise
/// order: a declaration out of order fails to compile. A final `..Default`
/// marks fields that are not in the map: reading leaves them at their default
/// for the caller to fill.
macro_rules! go_struct {
    (@count $kind:ty, $value:expr) => {
        1
    };
    (@count $kind:ty, $value:expr, omitempty) => {
        usize::from(!<$kind as $crate::message::OmitEmpty<_>>::is_empty($value))
    };
    (@entry $w:ident, $key:literal, $kind:ty, $value:expr) => {
        $w.str($key.as_bytes());
        <$kind as $crate::message::Codec<_>>::write($w, $value);
    };
    (@entry $w:ident, $key:literal, $kind:ty, $value:expr, omitempty) => {
        if !<$kind as $crate::message::OmitEmpty<_>>::is_empty($value) {
            $crate::message::go_struct!(@entry $w, $key, $kind, $value);
        }
    };
    (
        $name:ident as $message:literal {
            $( $key:literal => $field:ident : $kind:ty $([$omit:ident])? , )+
            $( ..$rest:ident )?
        }
    ) => {
        impl $crate::message::GoStruct for $name {
            const NAME: &'static str = $message;
            const KEYS: &'static [&'static str] = &[$($key),+];

            fn write_map(&self, w: &mut $crate::msgpack::Writer) {
                let len: usize = 0 $(
                    + $crate::message::go_struct!(@count $kind, &self.$field $(, $omit)?)
                )+;
                w.map(len);
                $( $crate::message::go_struct!(@entry w, $key, $kind, &self.$field $(, $omit)?); )+
            }

            fn from_fields(
                f: &$crate::msgpack::Fields<'_, '_>,
            ) -> $crate::error::Result<Self> {
                Ok($name {
                    $( $field: <$kind as $crate::message::Codec<_>>::read(
                        f.get($key),
                        f.field($key),
                    )?, )+
                    $( ..$rest::default() )?
                })
            }
        }

        const _: () = assert!(
            $crate::message::keys_sorted(<$name as $crate::message::GoStruct>::KEYS),
            concat!(stringify!($name), ": declare the keys in Go's bytewise order, each once")
        );
    };
}

pub(crate) use go_struct;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WireError;

    #[test]
    fn key_order_is_bytewise_and_strict() {
        assert!(keys_sorted(&[]));
        assert!(keys_sorted(&["Node"]));
        // Upper case sorts before lower case, a prefix before its extensions.
        assert!(keys_sorted(&["LTime", "LeftMembers"]));
        assert!(keys_sorted(&["Event", "EventLTime", "Events"]));
        assert!(keys_sorted(&["ID", "LTime", "Name"]));
        assert!(!keys_sorted(&["Node", "Addr"]));
        assert!(!keys_sorted(&["LeftMembers", "LTime"]));
        assert!(!keys_sorted(&["Events", "EventLTime"]));
        assert!(!keys_sorted(&["Node", "Node"]));
    }

    /// Exercises every kind and both options of the macro.
    #[derive(Debug, Default, PartialEq)]
    struct Sample {
        addr: Vec<u8>,
        count: u16,
        inner: Option<Inner>,
        list: Vec<String>,
        map: BTreeMap<String, u64>,
        name: String,
        not_on_wire: u8,
        offset: i64,
        payload: Option<Vec<u8>>,
        ratio: f64,
        vsn: Option<[u8; 6]>,
        yes: bool,
    }

    #[derive(Debug, Default, PartialEq)]
    struct Inner {
        id: u32,
    }

    go_struct! {
        Inner as "inner" {
            "ID" => id: Uint,
        }
    }

    go_struct! {
        Sample as "sample" {
            "Addr"    => addr: Bytes [omitempty],
            "Count"   => count: Uint [omitempty],
            "Inner"   => inner: OrNil<Nested>,
            "List"    => list: List<Str>,
            "Map"     => map: Map<Uint>,
            "Name"    => name: Str [omitempty],
            "Offset"  => offset: Int,
            "Payload" => payload: OrNil<Bytes>,
            "Ratio"   => ratio: F64,
            "Vsn"     => vsn: Vsn,
            "Yes"     => yes: Bool,
            ..Default
        }
    }

    /// The keys of the map at the start of `bytes`, in wire order.
    fn keys(bytes: &[u8]) -> Vec<String> {
        let v = Reader::new(bytes).value().unwrap();
        let Value::Map(entries) = v else {
            panic!("not a map: {v:?}")
        };
        entries
            .iter()
            .map(|(k, _)| match k {
                Value::Str(s) => String::from_utf8(s.to_vec()).unwrap(),
                other => panic!("key {other:?}"),
            })
            .collect()
    }

    #[test]
    fn empty_omitempty_fields_are_left_out_and_the_rest_kept_in_order() {
        let bytes = Sample::default().encode_after(&[]).unwrap();
        let expected = [
            "Inner", "List", "Map", "Offset", "Payload", "Ratio", "Vsn", "Yes",
        ];
        assert_eq!(keys(&bytes), expected);
        assert_eq!(
            Sample::read_map(&mut Reader::new(&bytes)),
            Ok(Sample::default())
        );
        let full = Sample {
            addr: vec![127, 0, 0, 1],
            count: 300,
            inner: Some(Inner { id: 7 }),
            list: vec!["a".into(), "b".into()],
            map: BTreeMap::from([("x".into(), 1), ("y".into(), u64::MAX)]),
            name: "n".into(),
            not_on_wire: 0,
            offset: -5,
            payload: Some(vec![]),
            ratio: 0.5,
            vsn: Some([1, 5, 2, 2, 5, 5]),
            yes: true,
        };
        let bytes = full.encode_after(&[9]).unwrap();
        assert_eq!(bytes[0], 9);
        assert_eq!(keys(&bytes[1..]), Sample::KEYS);
        assert_eq!(Sample::read_map(&mut Reader::at(&bytes, 1)), Ok(full));
    }

    #[test]
    fn fields_not_on_the_wire_read_as_their_default() {
        let sample = Sample {
            not_on_wire: 3,
            ..Sample::default()
        };
        let bytes = sample.encode_after(&[]).unwrap();
        assert_eq!(
            Sample::read_map(&mut Reader::new(&bytes))
                .unwrap()
                .not_on_wire,
            0
        );
    }

    #[test]
    fn errors_name_the_struct_and_key() {
        // sample {Count: 70000}
        let bytes = [
            0x81, 0xa5, b'C', b'o', b'u', b'n', b't', 0xce, 0, 1, 0x11, 0x70,
        ];
        assert_eq!(
            Sample::read_map(&mut Reader::new(&bytes))
                .unwrap_err()
                .to_string(),
            "sample: field `Count` holds 70000, which does not fit in u16"
        );
        // sample {Inner: 1}: the nested struct reports its own name.
        let bytes = [0x81, 0xa5, b'I', b'n', b'n', b'e', b'r', 1];
        assert!(matches!(
            Sample::read_map(&mut Reader::new(&bytes)),
            Err(WireError::FieldType {
                message: "inner",
                ..
            })
        ));
    }
}
