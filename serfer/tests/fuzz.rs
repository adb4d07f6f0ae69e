//! Property tests on everything that parses outside input: payload codecs, the RPC
//! frame reader and field access, and the command line. Nothing may panic; what
//! encodes must decode back. Bounded: proptest's default 256 cases each.

use proptest::prelude::*;
use serfer::Payload;
use serfer_rpc::codec::{Fields, FrameReader};

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Deploy {
    service: String,
    version: u32,
    tags: Vec<String>,
}

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
#[payload(codec = "msgpack")]
struct Packed {
    service: String,
    version: u32,
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #[test]
    fn payload_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Deploy::decode(&bytes);
        let _ = Packed::decode(&bytes);
        let _ = String::decode(&bytes);
        let _ = <serfer::Json<Vec<u32>>>::decode(&bytes);
    }

    #[test]
    fn payloads_round_trip(service in ".{0,40}", version in any::<u32>(), tags in proptest::collection::vec(".{0,10}", 0..4)) {
        let d = Deploy { service: service.clone(), version, tags };
        prop_assert_eq!(Deploy::decode(&d.encode().unwrap()).unwrap(), d);
        let p = Packed { service, version };
        prop_assert_eq!(Packed::decode(&p.encode().unwrap()).unwrap(), p);
    }

    #[test]
    fn the_rpc_frame_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        block_on(async {
            let mut r = FrameReader::new(&bytes[..]);
            // Bounded: every object consumes at least one byte.
            for _ in 0..=bytes.len() {
                match r.next().await {
                    Ok(Some(v)) => {
                        if let Ok(f) = Fields::of(&v) {
                            let _ = (f.str("Command"), f.uint("Seq"), f.bytes("Payload"), f.bool("Coalesce"));
                            let _ = (f.str_list("Existing"), f.str_map("Tags"), f.int("Timeout"));
                        }
                    }
                    _ => break,
                }
            }
        });
    }

    #[test]
    fn valid_frames_survive_arbitrary_splits(seq in any::<u64>(), name in "[a-z-]{0,20}", split in 0usize..64) {
        use rmpv::Value;
        let frames = vec![
            serfer_rpc::codec::map([("Command", Value::from(name.as_str())), ("Seq", Value::from(seq))]),
            serfer_rpc::codec::map([("Version", Value::from(1))]),
        ];
        let bytes = serfer_rpc::codec::encode(&frames);
        let split = split.min(bytes.len());
        let (a, b) = bytes.split_at(split);
        let joined: Vec<u8> = a.iter().chain(b).copied().collect();
        block_on(async {
            let mut r = FrameReader::new(&joined[..]);
            let h = r.next().await.unwrap().unwrap();
            let f = Fields::of(&h).unwrap();
            assert_eq!(f.str("Command").unwrap(), name);
            assert_eq!(f.uint("Seq").unwrap(), seq);
            assert!(r.next().await.unwrap().is_some());
            assert!(r.next().await.unwrap().is_none());
        });
    }

    #[test]
    fn the_command_line_parser_never_panics(args in proptest::collection::vec(
        prop_oneof![
            Just("--bind".to_owned()), Just("--join".to_owned()), Just("--tag".to_owned()),
            Just("--encrypt".to_owned()), Just("--profile".to_owned()), Just("--log".to_owned()),
            Just("--rpc-addr".to_owned()), Just("--max-event-size".to_owned()), ".{0,12}",
        ],
        0..8,
    )) {
        let argv = std::iter::once("node".to_owned()).chain(args);
        if let Ok(parsed) = <serfer::cli::Args as clap::Parser>::try_parse_from(argv) {
            // Whatever parses must also configure a builder without panicking.
            let _ = parsed.apply(serfer::NodeBuilder::new());
        }
    }
}
