//! §12.6: one sample struct as the gossip handle writes it and as the RPC
//! handle writes it.

use super::*;
use crate::msgpack::{Fields, Reader, Value, Writer};
use crate::WireError;

const LONG: &str = "0123456789012345678901234567890123456789";

/// Checks the typed fields of the sample struct, whichever handle wrote it.
fn check_sample(bytes: &[u8]) {
    let v = Reader::new(bytes).value().unwrap();
    let f = Fields::new("sample", &v).unwrap();
    assert_eq!(f.u32("Alpha"), Ok(300));
    assert_eq!(f.bytes("Bytes"), Ok(vec![1, 2]));
    assert_eq!(f.i64("Dur"), Ok(1_500_000_000));
    assert_eq!(f.bool("Flag"), Ok(true));
    assert_eq!(f.bytes("IP"), Ok(vec![127, 0, 0, 1]));
    assert_eq!(f.string("Long").as_deref(), Ok(LONG));
    assert_eq!(f.i64("Neg"), Ok(-5));
    assert_eq!(f.opt_bytes("NilB"), Ok(None));
    assert_eq!(f.get("NilStrs"), &Value::Nil);
    let strs = f.get("Strs").array(f.field("Strs")).unwrap().unwrap();
    assert_eq!(strs[0].text(f.field("Strs")).as_deref(), Ok("a"));
    assert_eq!(f.string("Zeta").as_deref(), Ok("z"));
}

#[test]
fn v_codec_sample_gossip_handle() {
    let mut w = Writer::new();
    w.map(11);
    w.str(b"Alpha");
    w.uint(300);
    w.str(b"Bytes");
    w.str(&[1, 2]);
    w.str(b"Dur");
    w.int(1_500_000_000);
    w.str(b"Flag");
    w.bool(true);
    w.str(b"IP");
    w.str(&[127, 0, 0, 1]);
    w.str(b"Long");
    w.str(LONG.as_bytes());
    w.str(b"Neg");
    w.int(-5);
    w.str(b"NilB");
    w.opt_str(None);
    w.str(b"NilStrs");
    w.nil();
    w.str(b"Strs");
    w.array(1);
    w.str(b"a");
    w.str(b"Zeta");
    w.str(b"z");
    assert_eq!(to_hex(&w.finish().unwrap()), V_CODEC_SAMPLE_GOSSIP_HANDLE);
    check_sample(&hex(V_CODEC_SAMPLE_GOSSIP_HANDLE));
}

#[test]
fn v_codec_sample_rpc_handle() {
    // The RPC handle's bin8 and str8 are never written here, but are read the
    // way Go reads them: bytes from bin, strings from str8.
    let bytes = hex(V_CODEC_SAMPLE_RPC_HANDLE);
    check_sample(&bytes);
    let v = Reader::new(&bytes).value().unwrap();
    let f = Fields::new("sample", &v).unwrap();
    assert_eq!(f.get("Bytes"), &Value::Bin(&[1, 2]));
    assert_eq!(f.get("Long"), &Value::Str(LONG.as_bytes()));
    // A bin where a string is expected is refused, as Go refuses it.
    assert!(matches!(
        f.string("IP"),
        Err(WireError::FieldType { field: "IP", .. })
    ));
}
