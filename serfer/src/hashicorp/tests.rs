//! Golden vectors from the real Go encoders (spec §12), real captures from Go
//! agents (§11), and robustness against truncated and mutated input.
//!
//! Each §12 vector has its own test, named after it, checking both directions:
//! encoding the described value gives exactly the vector's bytes, and decoding the
//! bytes gives back the value.

use std::collections::BTreeMap;

use super::crypto::{self, Version};
use super::frame::{self, PacketOptions, PushPull, StreamMessage};
use super::lzw;
use super::memberlist::{
    Ack, Alive, Dead, ErrResp, IndirectPing, Message, Nack, NodeState, Ping, PushNodeState,
    PushPullHeader, Suspect, UserMsgHeader,
};
use super::msgpack::{Fields, Reader, Value, Writer};
use super::serf::{
    self, Coordinate, EventEntry, Filter, JoinIntent, KeyRequest, KeyResponse, LeaveIntent, Member,
    MemberStatus, Query, QueryResponse, Relay, SerfMessage, SerfPushPull, UdpAddr, UserEvent,
    UserEvents, QUERY_FLAG_ACK, QUERY_FLAG_NO_BROADCAST,
};
use super::WireError;

/// §12 `ping`.
pub(crate) const V_PING: &str = "0085a44e6f6465a66e6f64652d62a55365714e6f2aaa536f7572636541646472a47f000002aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a";
/// §12 `ping_no_source`.
pub(crate) const V_PING_NO_SOURCE: &str = "0082a44e6f6465a66e6f64652d62a55365714e6f2a";
/// §12 `indirect_ping`.
pub(crate) const V_INDIRECT_PING: &str = "0188a44e61636bc3a44e6f6465a66e6f64652d63a4506f7274cd1f0aa55365714e6f2baa536f7572636541646472a47f000002aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0aa6546172676574a47f000003";
/// §12 `ack_empty`.
pub(crate) const V_ACK_EMPTY: &str = "0282a75061796c6f6164c0a55365714e6f2a";
/// §12 `ack_with_payload`.
pub(crate) const V_ACK_WITH_PAYLOAD: &str = "0282a75061796c6f6164da00820184aa41646a7573746d656e74cb0000000000000000a54572726f72cb3ff8000000000000a6486569676874cb3ee4f8b588e368f1a356656398cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000a55365714e6f2a";
/// §12 `nack`.
pub(crate) const V_NACK: &str = "0b81a55365714e6f2b";
/// §12 `suspect`.
pub(crate) const V_SUSPECT: &str =
    "0383a446726f6da66e6f64652d61ab496e6361726e6174696f6e05a44e6f6465a66e6f64652d62";
/// §12 `alive`.
pub(crate) const V_ALIVE: &str = "0486a441646472a47f000002ab496e6361726e6174696f6e01a44d657461abff81a4726f6c65a3776562a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502020505";
/// §12 `dead`.
pub(crate) const V_DEAD: &str =
    "0583a446726f6da66e6f64652d61ab496e6361726e6174696f6e05a44e6f6465a66e6f64652d62";
/// §12 `dead_leave`.
pub(crate) const V_DEAD_LEAVE: &str =
    "0583a446726f6da66e6f64652d61ab496e6361726e6174696f6e01a44e6f6465a66e6f64652d61";
/// §12 `err_resp`.
pub(crate) const V_ERR_RESP: &str = "0d81a54572726f72a4626f6f6d";
/// §12 `pushpull_header`.
pub(crate) const V_PUSHPULL_HEADER: &str =
    "0683a44a6f696ec3a54e6f64657301ac5573657253746174654c656e75";
/// §12 `pushpull_node_state`.
pub(crate) const V_PUSHPULL_NODE_STATE: &str = "87a441646472a47f000002ab496e6361726e6174696f6e01a44d657461abff81a4726f6c65a3776562a44e616d65a66e6f64652d61a4506f7274cd1f0aa5537461746500a356736ea6010502020505";
/// §12 `pushpull_stream_plain`.
pub(crate) const V_PUSHPULL_STREAM_PLAIN: &str = "0683a44a6f696ec3a54e6f64657301ac5573657253746174654c656e7587a441646472a47f000002ab496e6361726e6174696f6e01a44d657461abff81a4726f6c65a3776562a44e616d65a66e6f64652d61a4506f7274cd1f0aa5537461746500a356736ea60105020205050286aa4576656e744c54696d6504a64576656e747392c082a64576656e74739182a44e616d65a66465706c6f79a75061796c6f6164a27631a54c54696d6503a54c54696d650aab4c6566744d656d6265727390aa51756572794c54696d6503ac5374617475734c54696d657381a66e6f64652d6107";
/// §12 `compress_pushpull_stream`.
pub(crate) const V_COMPRESS_PUSHPULL_STREAM: &str = "0982a4416c676f00a3427566da00d3000d0c22a5e44d1a37c34a397943a6cc9c00acaacc2923670a9d3074ca3029e3a6ce215241c8909143ea0f00000256257133268c1c3718d3bc7113805493321757fd0b444ace1b366546dd2923869493306dca9872c3b04c8b30a4a0bc9143a7d90705a52c622c03609495396e4c052820404001b2865415b1c3910e132a69921230b5b6ed1c49c004d165eb86ce9c48828c2255da100e9b37794e410993e7701832a2ecc428f5366e990194e12655b06aa3193a37db88a1380792aa287528e6a99c74002bad74eacc61ed30d0d2a64f0f0404";
/// §12 `user_stream_prefix_for_3_bytes`.
pub(crate) const V_USER_STREAM_PREFIX_FOR_3_BYTES: &str = "0881aa557365724d73674c656e03";
/// §12 `compound_ping_suspect`.
pub(crate) const V_COMPOUND_PING_SUSPECT: &str = "0702004500270085a44e6f6465a66e6f64652d62a55365714e6f2aaa536f7572636541646472a47f000002aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a0383a446726f6da66e6f64652d61ab496e6361726e6174696f6e05a44e6f6465a66e6f64652d62";
/// §12 `compress_alive`.
pub(crate) const V_COMPRESS_ALIVE: &str = "0982a4416c676f00a3427566da00540009182215840c1939a4fe0000206055123763c2c87113864e9a376e02906a52864e9855ff029192f3864d995177ca8821e5e40d9932a6dcb82cd3220c29286fe4d069f641c1282b73dc980a5040808002050202";
/// §12 `crc_alive`.
pub(crate) const V_CRC_ALIVE: &str = "0ca111b5010486a441646472a47f000002ab496e6361726e6174696f6e01a44d657461abff81a4726f6c65a3776562a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502020505";
/// §12 `encrypted_packet_v1_ping_key000102..0f`.
pub(crate) const V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F: &str = "010c67acb009b1198dafa429de26f231a6f44df1ff757e16d34727ecdfafec0269a8533d68ed5d4b69f945be7ba4945f1f14a8f23dfcc9e6027b315334ec1b288236a2cad2b0c7250603429a8859822a41299064c405e618810a4a4e0e86b1a47363";
/// §12 `encrypted_packet_v0_ping_key000102..0f`.
pub(crate) const V_ENCRYPTED_PACKET_V0_PING_KEY000102_0F: &str = "00ed94fe782909f7a1e364e9475db740a4b1ce94f2e6321c4aac2159b23e32fbca6f3b7cdfd4e129539d0eb74b4e43715d706a9793e200a9f1519b7d387a5cb7a8a660124bb02f0aac976e67e88fc27c7de1f52582b73333cf74cc5307fb67270b809a11061210c948e05570bd";
/// §12 `encrypted_stream_v1_of_abc`.
pub(crate) const V_ENCRYPTED_STREAM_V1_OF_ABC: &str =
    "0a0000002001ebc2c1169f89072c89c47bb382a5e5b00f8cfa5b6305c28ac12db14c4e4518";
/// §12 `serf_join`.
pub(crate) const V_SERF_JOIN: &str = "0182a54c54696d6507a44e6f6465a66e6f64652d61";
/// §12 `serf_leave`.
pub(crate) const V_SERF_LEAVE: &str = "0083a54c54696d6508a44e6f6465a66e6f64652d61a55072756e65c2";
/// §12 `serf_leave_prune`.
pub(crate) const V_SERF_LEAVE_PRUNE: &str =
    "0083a54c54696d6509a44e6f6465a66e6f64652d63a55072756e65c3";
/// §12 `serf_user_event`.
pub(crate) const V_SERF_USER_EVENT: &str =
    "0384a24343c3a54c54696d6503a44e616d65a66465706c6f79a75061796c6f6164a27631";
/// §12 `serf_user_event_nil_payload`.
pub(crate) const V_SERF_USER_EVENT_NIL_PAYLOAD: &str =
    "0384a24343c2a54c54696d6504a44e616d65a470696e67a75061796c6f6164c0";
/// §12 `serf_filter_node`.
pub(crate) const V_SERF_FILTER_NODE: &str = "0091a66e6f64652d62";
/// §12 `serf_filter_tag`.
pub(crate) const V_SERF_FILTER_TAG: &str = "0182a445787072a3776562a3546167a4726f6c65";
/// §12 `serf_query`.
pub(crate) const V_SERF_QUERY: &str = "048ba441646472a47f000002a746696c7465727392a90091a66e6f64652d62b40182a445787072a3776562a3546167a4726f6c65a5466c61677301a24944ce12345678a54c54696d6502a44e616d65a6757074696d65a75061796c6f6164a178a4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a66e6f64652d61a754696d656f7574cf000000012a05f200";
/// §12 `serf_query_nofilters`.
pub(crate) const V_SERF_QUERY_NOFILTERS: &str = "048ba441646472a47f000002a746696c74657273c0a5466c61677300a24944ce12345678a54c54696d6502a44e616d65a6757074696d65a75061796c6f6164c0a4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a66e6f64652d61a754696d656f7574cf000000012a05f200";
/// §12 `serf_query_response`.
pub(crate) const V_SERF_QUERY_RESPONSE: &str = "0585a5466c61677300a446726f6da66e6f64652d62a24944ce12345678a54c54696d6502a75061796c6f6164a9757020332064617973";
/// §12 `serf_query_ack`.
pub(crate) const V_SERF_QUERY_ACK: &str =
    "0585a5466c61677301a446726f6da66e6f64652d62a24944ce12345678a54c54696d6502a75061796c6f6164c0";
/// §12 `serf_relay_query_ack`.
pub(crate) const V_SERF_RELAY_QUERY_ACK: &str = "0982a8446573744164647283a24950a47f000002a4506f7274cd1f0aa45a6f6e65a0a8446573744e616d65a66e6f64652d610585a5466c61677301a446726f6da66e6f64652d62a24944ce12345678a54c54696d6502a75061796c6f6164c0";
/// §12 `serf_pushpull`.
pub(crate) const V_SERF_PUSHPULL: &str = "0286aa4576656e744c54696d6504a64576656e747392c082a64576656e74739182a44e616d65a66465706c6f79a75061796c6f6164a27631a54c54696d6503a54c54696d650aab4c6566744d656d6265727390aa51756572794c54696d6503ac5374617475734c54696d657381a66e6f64652d6107";
/// §12 `serf_key_request`.
pub(crate) const V_SERF_KEY_REQUEST: &str = "0781a34b6579b0000102030405060708090a0b0c0d0e0f";
/// §12 `serf_key_request_list`.
pub(crate) const V_SERF_KEY_REQUEST_LIST: &str = "0781a34b6579a0";
/// §12 `serf_key_response`.
pub(crate) const V_SERF_KEY_RESPONSE: &str = "0884a44b65797391b841414543417751464267634943516f4c4441304f44773d3da74d657373616765a0aa5072696d6172794b6579b841414543417751464267634943516f4c4441304f44773d3da6526573756c74c3";
/// §12 `serf_key_response_error`.
pub(crate) const V_SERF_KEY_RESPONSE_ERROR: &str = "0884a44b657973c0a74d657373616765da00294b657972696e6720697320656d7074792028656e6372797074696f6e206e6f7420656e61626c656429aa5072696d6172794b6579a0a6526573756c74c2";
/// §12 `serf_conflict_response`.
pub(crate) const V_SERF_CONFLICT_RESPONSE: &str = "068ba441646472a47f000002ab44656c656761746543757205ab44656c65676174654d617805ab44656c65676174654d696e02a44e616d65a66e6f64652d61a4506f7274cd1f0aab50726f746f636f6c43757202ab50726f746f636f6c4d617805ab50726f746f636f6c4d696e01a653746174757301a45461677381a4726f6c65a3776562";
/// §12 `serf_conflict_response_unknown`.
pub(crate) const V_SERF_CONFLICT_RESPONSE_UNKNOWN: &str = "06c0";
/// §12 `tags_meta_role_web`.
pub(crate) const V_TAGS_META_ROLE_WEB: &str = "ff81a4726f6c65a3776562";
/// §12 `tags_meta_empty`.
pub(crate) const V_TAGS_META_EMPTY: &str = "ff80";
/// §12 `ack_payload_initial_coordinate`.
pub(crate) const V_ACK_PAYLOAD_INITIAL_COORDINATE: &str = "0184aa41646a7573746d656e74cb0000000000000000a54572726f72cb3ff8000000000000a6486569676874cb3ee4f8b588e368f1a356656398cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000";
/// §12 `codec_sample_gossip_handle`.
pub(crate) const V_CODEC_SAMPLE_GOSSIP_HANDLE: &str = "8ba5416c706861cd012ca54279746573a20102a3447572ce59682f00a4466c6167c3a24950a47f000001a44c6f6e67da002830313233343536373839303132333435363738393031323334353637383930313233343536373839a34e6567fba44e696c42c0a74e696c53747273c0a45374727391a161a45a657461a17a";
/// §12 `codec_sample_rpc_handle`.
pub(crate) const V_CODEC_SAMPLE_RPC_HANDLE: &str = "8ba5416c706861cd012ca54279746573c4020102a3447572ce59682f00a4466c6167c3a24950c4047f000001a44c6f6e67d92830313233343536373839303132333435363738393031323334353637383930313233343536373839a34e6567fba44e696c42c0a74e696c53747273c0a45374727391a161a45a657461a17a";

/// §11: a probe ping from node-a.
pub(crate) const CAPTURE_PING: &str = "0085a44e6f6465a770792d70656572a55365714e6f02aa536f7572636541646472a47f000015aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a";
/// §11: node-a's ack, with its coordinate.
pub(crate) const CAPTURE_ACK: &str = "0282a75061796c6f6164da00820184aa41646a7573746d656e74cb3f11c36ffb7fb9eea54572726f72cb3fec5c5dadfd4df9a6486569676874cb3f0e77436a3e4ca4a356656398cb3f106bb5ebb8cb73cb3f25bc492fce894acbbf1277b98d8c0f48cb3f256c34f67f6e07cb3f24d9a817c18558cb3ec9e75373325e92cb3f0859692a58440dcb3f1e6a6fa49ab107a55365714e6fcd02c6";
/// §11: a gossip round, CRC + compound.
pub(crate) const CAPTURE_GOSSIP: &str = "0c15e548700702004f00170486a441646472a47f000019ab496e6361726e6174696f6e01a44d657461b0ff82a4726f6c65a27079a3766572a131a44e6f6465a770792d70656572a4506f7274cd1f0aa356736ea6010502020505080182a54c54696d6502a44e6f6465a770792d70656572";
/// §11: a compressed gossip round, CRC + compress + compound.
pub(crate) const CAPTURE_COMPRESSED_GOSSIP: &str = "0c0febc74b0982a4416c676f00a3427566da00f6000f0c0080048012007508182215840c1939a4fe0000606155123763c2c87113864e9a376e04906a52864e1855ff029192f3864d195164c49072f2864c19536e6a96692113ca1b39749a7d5030caca1c37a602141020a04001850c1d4294082083458c1a397a042992a4c9552957b62c330a4e1e1933759e32db024e9932107d02154ad42852a54c9d2220b028eac38813339c3292860d1db873209532c226cc993901442521e28c8f0e05bb4a31a192a64d190233c378261566ce1a31a7a084c9c3e64d1832a17e90921b74e82a29651ae73112660c9d9f00544d795347ce9832346daecdd3f6ad9c539c3d13a7e34c16342f000202";
/// §11: what the compressed gossip round decompresses to.
pub(crate) const CAPTURE_COMPRESSED_GOSSIP_INNER: &str = "07030048004a00750486a441646472a47f000016ab496e6361726e6174696f6e02a44d657461aaff81a4726f6c65a26462a44e6f6465a66e6f64652d62a4506f7274cd1f0aa356736ea60105020205050486a441646472a47f000019ab496e6361726e6174696f6e02a44d657461abff81a4726f6c65a3707932a44e6f6465a770792d70656572a4506f7274cd1f0aa356736ea601050202050508048ba441646472a47f000019a746696c7465727390a5466c61677301a24944ce7c3a0abba54c54696d6504a44e616d65a461736b62a75061796c6f6164a13fa4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a770792d70656572a754696d656f7574ceb2d05e00";

/// Every §12 vector.
const VECTORS: [&str; 46] = [
    V_PING,
    V_PING_NO_SOURCE,
    V_INDIRECT_PING,
    V_ACK_EMPTY,
    V_ACK_WITH_PAYLOAD,
    V_NACK,
    V_SUSPECT,
    V_ALIVE,
    V_DEAD,
    V_DEAD_LEAVE,
    V_ERR_RESP,
    V_PUSHPULL_HEADER,
    V_PUSHPULL_NODE_STATE,
    V_PUSHPULL_STREAM_PLAIN,
    V_COMPRESS_PUSHPULL_STREAM,
    V_USER_STREAM_PREFIX_FOR_3_BYTES,
    V_COMPOUND_PING_SUSPECT,
    V_COMPRESS_ALIVE,
    V_CRC_ALIVE,
    V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F,
    V_ENCRYPTED_PACKET_V0_PING_KEY000102_0F,
    V_ENCRYPTED_STREAM_V1_OF_ABC,
    V_SERF_JOIN,
    V_SERF_LEAVE,
    V_SERF_LEAVE_PRUNE,
    V_SERF_USER_EVENT,
    V_SERF_USER_EVENT_NIL_PAYLOAD,
    V_SERF_FILTER_NODE,
    V_SERF_FILTER_TAG,
    V_SERF_QUERY,
    V_SERF_QUERY_NOFILTERS,
    V_SERF_QUERY_RESPONSE,
    V_SERF_QUERY_ACK,
    V_SERF_RELAY_QUERY_ACK,
    V_SERF_PUSHPULL,
    V_SERF_KEY_REQUEST,
    V_SERF_KEY_REQUEST_LIST,
    V_SERF_KEY_RESPONSE,
    V_SERF_KEY_RESPONSE_ERROR,
    V_SERF_CONFLICT_RESPONSE,
    V_SERF_CONFLICT_RESPONSE_UNKNOWN,
    V_TAGS_META_ROLE_WEB,
    V_TAGS_META_EMPTY,
    V_ACK_PAYLOAD_INITIAL_COORDINATE,
    V_CODEC_SAMPLE_GOSSIP_HANDLE,
    V_CODEC_SAMPLE_RPC_HANDLE,
];

/// Every §11 capture.
const CAPTURES: [&str; 5] = [
    CAPTURE_PING,
    CAPTURE_ACK,
    CAPTURE_GOSSIP,
    CAPTURE_COMPRESSED_GOSSIP,
    CAPTURE_COMPRESSED_GOSSIP_INNER,
];

/// Bytes from a hex string (test data only).
pub(crate) fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Hex of bytes, so that a failing comparison shows where the bytes differ.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A small deterministic PRNG (splitmix64), so that tests need no extra crate
/// and every run sees the same inputs.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for tests; `n` must be positive.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The key of the encryption vectors: 00 01 … 0f.
const KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// The version vector of a `serf agent` 0.9.4.
const VSN: [u8; 6] = [1, 5, 2, 2, 5, 5];
/// Generous decompression limit for tests.
const LIMIT: usize = 1 << 20;

fn ip(last: u8) -> Vec<u8> {
    vec![127, 0, 0, last]
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Both directions for a memberlist message.
fn check_message(vector: &str, msg: Message) {
    assert_eq!(to_hex(&msg.encode().unwrap()), vector);
    assert_eq!(Message::decode(&hex(vector)).unwrap(), msg);
}

/// Both directions for a Serf message.
fn check_serf(vector: &str, msg: SerfMessage) {
    assert_eq!(to_hex(&msg.encode().unwrap()), vector);
    assert_eq!(SerfMessage::decode(&hex(vector)).unwrap(), msg);
}

fn ping() -> Ping {
    Ping {
        seq_no: 42,
        node: "node-b".into(),
        source_addr: ip(2),
        source_port: 7946,
        source_node: "node-a".into(),
    }
}

fn suspect() -> Suspect {
    Suspect {
        incarnation: 5,
        node: "node-b".into(),
        from: "node-a".into(),
    }
}

fn alive() -> Alive {
    Alive {
        incarnation: 1,
        node: "node-a".into(),
        addr: ip(2),
        port: 7946,
        meta: hex(V_TAGS_META_ROLE_WEB),
        vsn: Some(VSN),
    }
}

fn node_state() -> PushNodeState {
    PushNodeState {
        name: "node-a".into(),
        addr: ip(2),
        port: 7946,
        meta: hex(V_TAGS_META_ROLE_WEB),
        incarnation: 1,
        state: NodeState::Alive,
        vsn: Some(VSN),
    }
}

fn serf_pushpull() -> SerfPushPull {
    SerfPushPull {
        ltime: 10,
        status_ltimes: BTreeMap::from([("node-a".to_owned(), 7)]),
        left_members: vec![],
        event_ltime: 4,
        events: vec![
            None,
            Some(UserEvents {
                ltime: 3,
                events: vec![EventEntry {
                    name: "deploy".into(),
                    payload: Some(b"v1".to_vec()),
                }],
            }),
        ],
        query_ltime: 3,
    }
}

fn pushpull_stream() -> StreamMessage {
    StreamMessage::PushPull(PushPull {
        join: true,
        nodes: vec![node_state()],
        user_state: hex(V_SERF_PUSHPULL),
    })
}

fn query() -> Query {
    Query {
        ltime: 2,
        id: 0x1234_5678,
        addr: ip(2),
        port: 7946,
        source_node: "node-a".into(),
        filters: Some(vec![hex(V_SERF_FILTER_NODE), hex(V_SERF_FILTER_TAG)]),
        flags: QUERY_FLAG_ACK,
        relay_factor: 0,
        timeout_ns: 5_000_000_000,
        name: "uptime".into(),
        payload: Some(b"x".to_vec()),
    }
}

fn query_ack() -> QueryResponse {
    QueryResponse {
        ltime: 2,
        id: 0x1234_5678,
        from: "node-b".into(),
        flags: QUERY_FLAG_ACK,
        payload: None,
    }
}

// §12.1 memberlist messages.

#[test]
fn v_ping() {
    check_message(V_PING, Message::Ping(ping()));
    assert_eq!(to_hex(&ping().encode().unwrap()), V_PING);
    assert_eq!(Ping::decode(&hex(V_PING)).unwrap(), ping());
}

#[test]
fn v_ping_no_source() {
    let p = Ping {
        seq_no: 42,
        node: "node-b".into(),
        ..Default::default()
    };
    check_message(V_PING_NO_SOURCE, Message::Ping(p));
}

#[test]
fn v_indirect_ping() {
    let p = IndirectPing {
        seq_no: 43,
        target: ip(3),
        port: 7946,
        node: "node-c".into(),
        nack: true,
        source_addr: ip(2),
        source_port: 7946,
        source_node: "node-a".into(),
    };
    check_message(V_INDIRECT_PING, Message::IndirectPing(p));
}

#[test]
fn v_ack_empty() {
    check_message(
        V_ACK_EMPTY,
        Message::Ack(Ack {
            seq_no: 42,
            payload: None,
        }),
    );
}

#[test]
fn v_ack_with_payload() {
    let payload = serf::encode_ping_payload(&Coordinate::initial()).unwrap();
    check_message(
        V_ACK_WITH_PAYLOAD,
        Message::Ack(Ack {
            seq_no: 42,
            payload: Some(payload),
        }),
    );
}

#[test]
fn v_nack() {
    check_message(V_NACK, Message::Nack(Nack { seq_no: 43 }));
}

#[test]
fn v_suspect() {
    check_message(V_SUSPECT, Message::Suspect(suspect()));
}

#[test]
fn v_alive() {
    check_message(V_ALIVE, Message::Alive(alive()));
    assert_eq!(
        serf::decode_tags(&alive().meta).unwrap(),
        tags(&[("role", "web")])
    );
}

#[test]
fn v_dead() {
    let d = Dead {
        incarnation: 5,
        node: "node-b".into(),
        from: "node-a".into(),
    };
    assert!(!d.is_leave());
    check_message(V_DEAD, Message::Dead(d));
}

#[test]
fn v_dead_leave() {
    let d = Dead {
        incarnation: 1,
        node: "node-a".into(),
        from: "node-a".into(),
    };
    assert!(d.is_leave());
    check_message(V_DEAD_LEAVE, Message::Dead(d));
}

#[test]
fn v_err_resp() {
    check_message(
        V_ERR_RESP,
        Message::Err(ErrResp {
            error: "boom".into(),
        }),
    );
}

// §12.2 push/pull.

#[test]
fn v_pushpull_header() {
    let h = PushPullHeader {
        join: true,
        nodes: 1,
        user_state_len: 117,
    };
    assert_eq!(to_hex(&h.encode().unwrap()), V_PUSHPULL_HEADER);
    assert_eq!(PushPullHeader::decode(&hex(V_PUSHPULL_HEADER)).unwrap(), h);
}

#[test]
fn v_pushpull_node_state() {
    assert_eq!(
        to_hex(&node_state().encode().unwrap()),
        V_PUSHPULL_NODE_STATE
    );
    assert_eq!(
        PushNodeState::decode(&hex(V_PUSHPULL_NODE_STATE)).unwrap(),
        node_state()
    );
}

#[test]
fn v_pushpull_stream_plain() {
    assert_eq!(
        to_hex(&pushpull_stream().encode().unwrap()),
        V_PUSHPULL_STREAM_PLAIN
    );
    assert_eq!(
        to_hex(&pushpull_stream().encode_stream(false).unwrap()),
        V_PUSHPULL_STREAM_PLAIN
    );
    assert_eq!(
        StreamMessage::decode(&hex(V_PUSHPULL_STREAM_PLAIN), 0).unwrap(),
        pushpull_stream()
    );
}

#[test]
fn v_compress_pushpull_stream() {
    assert_eq!(
        to_hex(&pushpull_stream().encode_stream(true).unwrap()),
        V_COMPRESS_PUSHPULL_STREAM
    );
    let bytes = hex(V_COMPRESS_PUSHPULL_STREAM);
    assert_eq!(
        to_hex(&frame::decompress(&bytes, LIMIT).unwrap()),
        V_PUSHPULL_STREAM_PLAIN
    );
    assert_eq!(
        StreamMessage::decode(&bytes, LIMIT).unwrap(),
        pushpull_stream()
    );
    // The limit applies to the decompressed size (225 bytes).
    assert_eq!(
        StreamMessage::decode(&bytes, 224),
        Err(WireError::TooLarge { limit: 224 })
    );
}

#[test]
fn v_user_stream_prefix_for_3_bytes() {
    let h = UserMsgHeader { user_msg_len: 3 };
    assert_eq!(
        to_hex(&h.encode().unwrap()),
        V_USER_STREAM_PREFIX_FOR_3_BYTES
    );
    assert_eq!(
        UserMsgHeader::decode(&hex(V_USER_STREAM_PREFIX_FOR_3_BYTES)).unwrap(),
        h
    );
    let msg = StreamMessage::User(b"xyz".to_vec());
    let full = format!("{V_USER_STREAM_PREFIX_FOR_3_BYTES}78797a");
    assert_eq!(to_hex(&msg.encode().unwrap()), full);
    assert_eq!(StreamMessage::decode(&hex(&full), 0).unwrap(), msg);
}

// §12.3 wrappers.

#[test]
fn v_compound_ping_suspect() {
    let parts = [hex(V_PING), hex(V_SUSPECT)];
    assert_eq!(
        to_hex(&frame::encode_compound(&parts).unwrap()),
        V_COMPOUND_PING_SUSPECT
    );
    assert_eq!(
        to_hex(&frame::encode_packet(&parts, PacketOptions::default()).unwrap()),
        V_COMPOUND_PING_SUSPECT
    );
    let bytes = hex(V_COMPOUND_PING_SUSPECT);
    let c = frame::decode_compound(&bytes).unwrap();
    assert_eq!(c.parts, [&parts[0][..], &parts[1][..]]);
    assert_eq!(c.truncated, 0);
    let un = frame::decode_packet(&bytes, 0).unwrap();
    assert_eq!(
        un.messages,
        [Message::Ping(ping()), Message::Suspect(suspect())]
    );
    assert!(un.errors.is_empty());
}

#[test]
fn v_compress_alive() {
    let alive_bytes = hex(V_ALIVE);
    assert_eq!(
        to_hex(&frame::compress(&alive_bytes).unwrap()),
        V_COMPRESS_ALIVE
    );
    let bytes = hex(V_COMPRESS_ALIVE);
    assert_eq!(frame::decompress(&bytes, LIMIT).unwrap(), alive_bytes);
    assert_eq!(
        frame::decode_packet(&bytes, LIMIT).unwrap().messages,
        [Message::Alive(alive())]
    );
    // Longer than the original, so a sender keeps the original.
    let opts = PacketOptions {
        compress: true,
        crc: false,
    };
    assert_eq!(
        frame::encode_packet(&[&alive_bytes], opts).unwrap(),
        alive_bytes
    );
}

#[test]
fn v_crc_alive() {
    let alive_bytes = hex(V_ALIVE);
    assert_eq!(to_hex(&frame::add_crc(&alive_bytes)), V_CRC_ALIVE);
    let opts = PacketOptions {
        compress: true,
        crc: true,
    };
    assert_eq!(
        to_hex(&frame::encode_packet(&[&alive_bytes], opts).unwrap()),
        V_CRC_ALIVE
    );
    let bytes = hex(V_CRC_ALIVE);
    assert_eq!(frame::strip_crc(&bytes).unwrap(), alive_bytes);
    assert_eq!(
        frame::decode_packet(&bytes, 0).unwrap().messages,
        [Message::Alive(alive())]
    );
}

/// The nonce of an encrypted packet: the 12 bytes after the version byte.
fn nonce_at(bytes: &[u8], at: usize) -> [u8; 12] {
    bytes[at..at + 12].try_into().unwrap()
}

#[test]
fn v_encrypted_packet_v1_ping_key000102_0f() {
    let bytes = hex(V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F);
    assert_eq!(bytes.len(), 98);
    assert_eq!(
        to_hex(&crypto::decrypt_packet(&[KEY], &bytes).unwrap()),
        V_PING
    );
    let sealed =
        crypto::encrypt_packet_with_nonce(Version::V1, &KEY, &nonce_at(&bytes, 1), &hex(V_PING))
            .unwrap();
    assert_eq!(to_hex(&sealed), V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F);
}

#[test]
fn v_encrypted_packet_v0_ping_key000102_0f() {
    let bytes = hex(V_ENCRYPTED_PACKET_V0_PING_KEY000102_0F);
    assert_eq!(bytes.len(), 109);
    assert_eq!(
        to_hex(&crypto::decrypt_packet(&[KEY], &bytes).unwrap()),
        V_PING
    );
    let sealed = crypto::encrypt_packet_with_nonce(
        Version::Padded,
        &KEY,
        &nonce_at(&bytes, 1),
        &hex(V_PING),
    )
    .unwrap();
    assert_eq!(to_hex(&sealed), V_ENCRYPTED_PACKET_V0_PING_KEY000102_0F);
}

#[test]
fn v_encrypted_stream_v1_of_abc() {
    let bytes = hex(V_ENCRYPTED_STREAM_V1_OF_ABC);
    assert_eq!(crypto::stream_frame_len(&bytes).unwrap(), 32);
    assert_eq!(crypto::decrypt_stream(&[KEY], &bytes).unwrap(), b"abc");
    let sealed =
        crypto::encrypt_stream_with_nonce(Version::V1, &KEY, &nonce_at(&bytes, 6), b"abc").unwrap();
    assert_eq!(to_hex(&sealed), V_ENCRYPTED_STREAM_V1_OF_ABC);
}

// §12.4 Serf messages.

#[test]
fn v_serf_join() {
    check_serf(
        V_SERF_JOIN,
        SerfMessage::Join(JoinIntent {
            ltime: 7,
            node: "node-a".into(),
        }),
    );
}

#[test]
fn v_serf_leave() {
    check_serf(
        V_SERF_LEAVE,
        SerfMessage::Leave(LeaveIntent {
            ltime: 8,
            node: "node-a".into(),
            prune: false,
        }),
    );
}

#[test]
fn v_serf_leave_prune() {
    check_serf(
        V_SERF_LEAVE_PRUNE,
        SerfMessage::Leave(LeaveIntent {
            ltime: 9,
            node: "node-c".into(),
            prune: true,
        }),
    );
}

#[test]
fn v_serf_user_event() {
    check_serf(
        V_SERF_USER_EVENT,
        SerfMessage::UserEvent(UserEvent {
            ltime: 3,
            name: "deploy".into(),
            payload: Some(b"v1".to_vec()),
            cc: true,
        }),
    );
}

#[test]
fn v_serf_user_event_nil_payload() {
    check_serf(
        V_SERF_USER_EVENT_NIL_PAYLOAD,
        SerfMessage::UserEvent(UserEvent {
            ltime: 4,
            name: "ping".into(),
            payload: None,
            cc: false,
        }),
    );
}

#[test]
fn v_serf_filter_node() {
    let f = Filter::Nodes(vec!["node-b".into()]);
    assert_eq!(to_hex(&f.encode().unwrap()), V_SERF_FILTER_NODE);
    assert_eq!(Filter::decode(&hex(V_SERF_FILTER_NODE)).unwrap(), f);
}

#[test]
fn v_serf_filter_tag() {
    let f = Filter::Tag {
        tag: "role".into(),
        expr: "web".into(),
    };
    assert_eq!(to_hex(&f.encode().unwrap()), V_SERF_FILTER_TAG);
    assert_eq!(Filter::decode(&hex(V_SERF_FILTER_TAG)).unwrap(), f);
}

#[test]
fn v_serf_query() {
    check_serf(V_SERF_QUERY, SerfMessage::Query(query()));
    assert_eq!(
        query().decoded_filters().unwrap(),
        [
            Filter::Nodes(vec!["node-b".into()]),
            Filter::Tag {
                tag: "role".into(),
                expr: "web".into()
            }
        ]
    );
}

#[test]
fn v_serf_query_nofilters() {
    let q = Query {
        filters: None,
        flags: 0,
        payload: None,
        ..query()
    };
    check_serf(V_SERF_QUERY_NOFILTERS, SerfMessage::Query(q));
}

#[test]
fn query_flags_are_separate_bits() {
    let q = Query {
        flags: QUERY_FLAG_ACK | QUERY_FLAG_NO_BROADCAST,
        ..query()
    };
    let bytes = SerfMessage::Query(q).encode().unwrap();
    let SerfMessage::Query(back) = SerfMessage::decode(&bytes).unwrap() else {
        panic!("not a query")
    };
    assert_eq!(
        back.flags & QUERY_FLAG_NO_BROADCAST,
        QUERY_FLAG_NO_BROADCAST
    );
    assert_eq!(back.flags & QUERY_FLAG_ACK, QUERY_FLAG_ACK);
}

#[test]
fn v_serf_query_response() {
    check_serf(
        V_SERF_QUERY_RESPONSE,
        SerfMessage::QueryResponse(QueryResponse {
            flags: 0,
            payload: Some(b"up 3 days".to_vec()),
            ..query_ack()
        }),
    );
}

#[test]
fn v_serf_query_ack() {
    check_serf(V_SERF_QUERY_ACK, SerfMessage::QueryResponse(query_ack()));
}

#[test]
fn v_serf_relay_query_ack() {
    let relay = Relay {
        dest_addr: UdpAddr {
            ip: ip(2),
            port: 7946,
            zone: String::new(),
        },
        dest_name: "node-a".into(),
        inner: hex(V_SERF_QUERY_ACK),
    };
    assert_eq!(
        relay.inner_message().unwrap(),
        SerfMessage::QueryResponse(query_ack())
    );
    check_serf(V_SERF_RELAY_QUERY_ACK, SerfMessage::Relay(relay));
}

#[test]
fn v_serf_pushpull() {
    check_serf(V_SERF_PUSHPULL, SerfMessage::PushPull(serf_pushpull()));
}

#[test]
fn v_serf_key_request() {
    check_serf(
        V_SERF_KEY_REQUEST,
        SerfMessage::KeyRequest(KeyRequest { key: KEY.to_vec() }),
    );
}

#[test]
fn v_serf_key_request_list() {
    check_serf(
        V_SERF_KEY_REQUEST_LIST,
        SerfMessage::KeyRequest(KeyRequest { key: vec![] }),
    );
}

#[test]
fn v_serf_key_response() {
    check_serf(
        V_SERF_KEY_RESPONSE,
        SerfMessage::KeyResponse(KeyResponse {
            result: true,
            message: String::new(),
            keys: Some(vec!["AAECAwQFBgcICQoLDA0ODw==".into()]),
            primary_key: "AAECAwQFBgcICQoLDA0ODw==".into(),
        }),
    );
}

#[test]
fn v_serf_key_response_error() {
    check_serf(
        V_SERF_KEY_RESPONSE_ERROR,
        SerfMessage::KeyResponse(KeyResponse {
            result: false,
            message: "Keyring is empty (encryption not enabled)".into(),
            keys: None,
            primary_key: String::new(),
        }),
    );
}

#[test]
fn v_serf_conflict_response() {
    let m = Member {
        name: "node-a".into(),
        addr: ip(2),
        port: 7946,
        tags: tags(&[("role", "web")]),
        status: MemberStatus::Alive,
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 5,
    };
    check_serf(
        V_SERF_CONFLICT_RESPONSE,
        SerfMessage::ConflictResponse(Some(m)),
    );
}

#[test]
fn v_serf_conflict_response_unknown() {
    check_serf(
        V_SERF_CONFLICT_RESPONSE_UNKNOWN,
        SerfMessage::ConflictResponse(None),
    );
}

// §12.5 node meta and ping payload.

#[test]
fn v_tags_meta_role_web() {
    let t = tags(&[("role", "web")]);
    assert_eq!(
        to_hex(&serf::encode_tags(&t).unwrap()),
        V_TAGS_META_ROLE_WEB
    );
    assert_eq!(serf::decode_tags(&hex(V_TAGS_META_ROLE_WEB)).unwrap(), t);
}

#[test]
fn v_tags_meta_empty() {
    assert_eq!(
        to_hex(&serf::encode_tags(&BTreeMap::new()).unwrap()),
        V_TAGS_META_EMPTY
    );
    assert_eq!(
        serf::decode_tags(&hex(V_TAGS_META_EMPTY)).unwrap(),
        BTreeMap::new()
    );
}

#[test]
fn v_ack_payload_initial_coordinate() {
    assert_eq!(
        to_hex(&serf::encode_ping_payload(&Coordinate::initial()).unwrap()),
        V_ACK_PAYLOAD_INITIAL_COORDINATE
    );
    assert_eq!(
        serf::decode_ping_payload(&hex(V_ACK_PAYLOAD_INITIAL_COORDINATE)).unwrap(),
        Some(Coordinate::initial())
    );
}

// §12.6 codec illustration.

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

// §11 real captures from Go agents.

#[test]
fn capture_probe_ping() {
    let p = Ping {
        seq_no: 2,
        node: "py-peer".into(),
        source_addr: ip(21),
        source_port: 7946,
        source_node: "node-a".into(),
    };
    check_message(CAPTURE_PING, Message::Ping(p));
}

#[test]
fn capture_ack_with_coordinate() {
    let Message::Ack(ack) = Message::decode(&hex(CAPTURE_ACK)).unwrap() else {
        panic!("not an ack")
    };
    assert_eq!(ack.seq_no, 710);
    let payload = ack.payload.clone().unwrap();
    assert_eq!(payload.len(), 130);
    let c = serf::decode_ping_payload(&payload).unwrap().unwrap();
    assert_eq!(c.vec.len(), 8);
    assert!(c.error > 0.8 && c.error < 0.9, "{c:?}");
    assert!(c.height > 5e-5 && c.height < 6e-5, "{c:?}");
    // Floats survive exactly, so the ack encodes back to the same bytes.
    assert_eq!(serf::encode_ping_payload(&c).unwrap(), payload);
    check_message(CAPTURE_ACK, Message::Ack(ack));
}

#[test]
fn capture_gossip_round_with_crc_and_compound() {
    let bytes = hex(CAPTURE_GOSSIP);
    let un = frame::decode_packet(&bytes, LIMIT).unwrap();
    assert!(un.errors.is_empty() && un.truncated == 0);
    let [Message::Alive(a), Message::User(user)] = &un.messages[..] else {
        panic!("{:?}", un.messages)
    };
    assert_eq!(
        (a.node.as_str(), a.incarnation, &a.addr[..], a.port, a.vsn),
        ("py-peer", 1, &ip(25)[..], 7946, Some(VSN))
    );
    assert_eq!(
        serf::decode_tags(&a.meta).unwrap(),
        tags(&[("role", "py"), ("ver", "1")])
    );
    assert_eq!(
        SerfMessage::decode(user).unwrap(),
        SerfMessage::Join(JoinIntent {
            ltime: 2,
            node: "py-peer".into()
        })
    );
    // Re-encoding gives the same packet, compression declined as longer.
    let parts = [
        un.messages[0].encode().unwrap(),
        un.messages[1].encode().unwrap(),
    ];
    let opts = PacketOptions {
        compress: true,
        crc: true,
    };
    assert_eq!(
        to_hex(&frame::encode_packet(&parts, opts).unwrap()),
        CAPTURE_GOSSIP
    );
}

#[test]
fn capture_compressed_gossip_round() {
    let bytes = hex(CAPTURE_COMPRESSED_GOSSIP);
    let compressed = frame::strip_crc(&bytes).unwrap();
    assert_eq!(
        to_hex(&frame::decompress(compressed, LIMIT).unwrap()),
        CAPTURE_COMPRESSED_GOSSIP_INNER
    );
    let un = frame::decode_packet(&bytes, LIMIT).unwrap();
    assert!(un.errors.is_empty() && un.truncated == 0);
    let [Message::Alive(b), Message::Alive(p), Message::User(user)] = &un.messages[..] else {
        panic!("{:?}", un.messages)
    };
    assert_eq!(
        (b.node.as_str(), b.incarnation, &b.addr[..]),
        ("node-b", 2, &ip(22)[..])
    );
    assert_eq!(serf::decode_tags(&b.meta).unwrap(), tags(&[("role", "db")]));
    assert_eq!(
        (p.node.as_str(), p.incarnation, &p.addr[..]),
        ("py-peer", 2, &ip(25)[..])
    );
    assert_eq!(
        serf::decode_tags(&p.meta).unwrap(),
        tags(&[("role", "py2")])
    );
    let expected = Query {
        ltime: 4,
        id: 0x7c3a_0abb,
        addr: ip(25),
        port: 7946,
        source_node: "py-peer".into(),
        filters: Some(vec![]),
        flags: QUERY_FLAG_ACK,
        relay_factor: 0,
        timeout_ns: 3_000_000_000,
        name: "askb".into(),
        payload: Some(b"?".to_vec()),
    };
    assert_eq!(
        SerfMessage::decode(user).unwrap(),
        SerfMessage::Query(expected)
    );
    // Our LZW writes Go's bytes, so the whole packet re-encodes identically.
    let parts: Vec<Vec<u8>> = un.messages.iter().map(|m| m.encode().unwrap()).collect();
    let opts = PacketOptions {
        compress: true,
        crc: true,
    };
    assert_eq!(
        to_hex(&frame::encode_packet(&parts, opts).unwrap()),
        CAPTURE_COMPRESSED_GOSSIP
    );
}

#[test]
fn full_serf_pushpull_has_512_slots() {
    // What a real agent sends (§11, join reply): 512 event slots as an array16.
    let state = SerfPushPull {
        ltime: 2,
        status_ltimes: BTreeMap::from([("node-a".into(), 0), ("node-b".into(), 1)]),
        event_ltime: 1,
        events: vec![None; 512],
        query_ltime: 1,
        ..Default::default()
    };
    let bytes = SerfMessage::PushPull(state.clone()).encode().unwrap();
    assert!(to_hex(&bytes).contains("dc0200c0c0"));
    assert_eq!(
        SerfMessage::decode(&bytes).unwrap(),
        SerfMessage::PushPull(state)
    );
}

// Robustness.

/// Every vector and capture, as bytes.
fn all_inputs() -> Vec<Vec<u8>> {
    VECTORS
        .iter()
        .chain(CAPTURES.iter())
        .map(|v| hex(v))
        .collect()
}

/// Runs every decoder on `bytes`. None may panic; a message that decodes must
/// encode, and decode again to the same value.
fn all_decoders(bytes: &[u8], with_crypto: bool) {
    if let Ok(m) = Message::decode(bytes) {
        let again = m.encode().unwrap();
        assert_eq!(Message::decode(&again).unwrap(), m);
    }
    if let Ok(m) = SerfMessage::decode(bytes) {
        let again = m.encode().unwrap();
        assert_eq!(SerfMessage::decode(&again).unwrap(), m);
        if let SerfMessage::Query(q) = m {
            let _ = q.decoded_filters();
        }
    }
    if let Ok(un) = frame::decode_packet(bytes, 1 << 16) {
        for m in &un.messages {
            m.encode().unwrap();
        }
    }
    if let Ok(m) = StreamMessage::decode(bytes, 1 << 16) {
        let again = m.encode().unwrap();
        assert_eq!(StreamMessage::decode(&again, 0).unwrap(), m);
    }
    let _ = frame::decode_compound(bytes);
    let _ = frame::decompress(bytes, 1 << 16);
    let _ = frame::strip_crc(bytes);
    let _ = lzw::decompress(bytes, 1 << 16);
    let _ = lzw::decompress(bytes.get(1..).unwrap_or_default(), 1 << 16);
    let _ = PushPullHeader::decode(bytes);
    let _ = PushNodeState::decode(bytes);
    let _ = UserMsgHeader::decode(bytes);
    let _ = Filter::decode(bytes);
    let _ = serf::decode_tags(bytes);
    if let Ok(Some(c)) = serf::decode_ping_payload(bytes) {
        serf::encode_ping_payload(&c).unwrap();
    }
    let _ = Reader::new(bytes).value();
    if with_crypto {
        let _ = crypto::decrypt_packet(&[KEY], bytes);
        let _ = crypto::decrypt_stream(&[KEY], bytes);
        let _ = crypto::stream_frame_len(bytes);
    }
}

#[test]
fn truncated_prefixes_never_panic() {
    for input in all_inputs() {
        for len in 0..input.len() {
            all_decoders(&input[..len], true);
        }
        all_decoders(&input, true);
    }
}

#[test]
fn random_mutations_never_panic() {
    let inputs = all_inputs();
    let mut rng = Rng::new(0x5e7f);
    for round in 0..20_000 {
        let mut bytes = inputs[rng.below(inputs.len())].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            let byte = rng.next_u64() as u8;
            match rng.below(6) {
                0 | 1 if at < bytes.len() => bytes[at] = byte,
                2 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
                3 => bytes.insert(at, byte),
                4 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        // AES is slow in debug builds; a tenth of the rounds is plenty for it.
        all_decoders(&bytes, round % 10 == 0);
    }
}

#[test]
fn named_bad_inputs_are_errors() {
    // Compound with a part length beyond the data: the part counts as truncated.
    let c = frame::decode_compound(&[7, 2, 0, 2, 0, 50, 11, 0x80, 11]).unwrap();
    assert_eq!((c.parts.len(), c.truncated), (1, 1));
    // CRC mismatch.
    let mut bad = hex(V_CRC_ALIVE);
    bad[1] ^= 1;
    assert!(matches!(
        frame::decode_packet(&bad, 0),
        Err(WireError::CrcMismatch { .. })
    ));
    // Unknown compression algorithm.
    let mut algo = hex(V_COMPRESS_ALIVE);
    assert_eq!(algo[7], 0x00, "Algo value");
    algo[7] = 0x01;
    assert_eq!(
        frame::decompress(&algo, LIMIT),
        Err(WireError::UnknownAlgo { algo: 1 })
    );
    // A 3-byte Vsn is an error, never taken for six.
    let short =
        to_hex(&Message::Alive(alive()).encode().unwrap()).replace("a6010502020505", "a3010502");
    assert!(matches!(
        Message::decode(&hex(&short)),
        Err(WireError::BadVsn { len: 3, .. })
    ));
    // A str32 of 4 GB on a 10-byte input.
    let huge = [0xdb, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0];
    assert!(Reader::new(&huge).value().unwrap_err().is_truncated());
    assert!(Message::decode(&[8, 0xdb, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_ok());
    assert!(Message::decode(&[0, 0xdb, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    // Wrong key.
    let other = [0x42u8; 16];
    assert_eq!(
        crypto::decrypt_packet(&[other], &hex(V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F)),
        Err(WireError::DecryptFailed { tried: 1 })
    );
    assert_eq!(
        crypto::decrypt_stream(&[other], &hex(V_ENCRYPTED_STREAM_V1_OF_ABC)),
        Err(WireError::DecryptFailed { tried: 1 })
    );
    // Stream frame over 20 MiB.
    let l = (20u32 * 1024 * 1024 + 1).to_be_bytes();
    assert!(matches!(
        crypto::decrypt_stream(&[KEY], &[0x0a, l[0], l[1], l[2], l[3], 1]),
        Err(WireError::FrameTooLarge { .. })
    ));
    // A string field sent as bin.
    let bin_node = to_hex(&Message::Suspect(suspect()).encode().unwrap())
        .replace("a66e6f64652d62", "c4066e6f64652d62");
    assert!(matches!(
        Message::decode(&hex(&bin_node)),
        Err(WireError::FieldType {
            field: "Node",
            found: "a bin",
            ..
        })
    ));
    // …while a bytes field sent as bin is accepted.
    let bin_addr = V_ALIVE.replace("a47f000002", "c4047f000002");
    assert_eq!(
        Message::decode(&hex(&bin_addr)).unwrap(),
        Message::Alive(alive())
    );
}

#[test]
fn error_messages_say_what_and_where() {
    let e = Message::decode(&hex("0082a44e6f6465")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input ends early: msgpack type byte at offset 7 needs 1 more byte(s)"
    );
    let e = Ping::decode(&hex(V_NACK)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "memberlist message type 11 is not accepted where a ping (0) was expected"
    );
    let e = frame::decode_packet(&hex(V_CRC_ALIVE)[..20], 0).unwrap_err();
    assert!(e.to_string().starts_with("invalid checksum"), "{e}");
}
