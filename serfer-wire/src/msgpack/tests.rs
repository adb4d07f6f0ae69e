//! The dialect, byte by byte, and the reading rules.

use super::*;
use crate::error::{Result, WireError};

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
