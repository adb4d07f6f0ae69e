//! Bad RPC input: each gets Serf's error or a closed connection; the node and other
//! clients carry on.

use std::time::Duration;

use rmpv::Value;
use serfer::testing::bounds::{DELIVERY, REPLY, STOP};
use serfer::testing::{Recorder, TestCluster};
use serfer::{Node, State, UserEvent};
use serfer_rpc::client::Client;
use serfer_rpc::codec::{self, map, Fields, FrameReader};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn header(command: &str, seq: u64) -> Value {
    map([("Command", Value::from(command)), ("Seq", Value::from(seq))])
}

fn handshake() -> Vec<Value> {
    vec![header("handshake", 1), map([("Version", Value::from(1))])]
}

struct Raw {
    write: tokio::net::tcp::OwnedWriteHalf,
    read: FrameReader<tokio::net::tcp::OwnedReadHalf>,
}

impl Raw {
    async fn connect(node: &Node) -> Raw {
        let s = TcpStream::connect(node.rpc_addr().unwrap()).await.unwrap();
        let (read, write) = s.into_split();
        Raw {
            write,
            read: FrameReader::new(read),
        }
    }
    async fn send(&mut self, frames: &[Value]) {
        codec::write(&mut self.write, frames).await.unwrap();
    }
    async fn send_bytes(&mut self, bytes: &[u8]) {
        // The server may already have closed: that is what some tests expect.
        let _ = self.write.write_all(bytes).await;
    }
    /// The next object, or `None` when the server closed the connection.
    async fn next(&mut self) -> Option<Value> {
        tokio::time::timeout(REPLY, self.read.next())
            .await
            .expect("the server answers or closes within the reply bound")
            .ok()
            .flatten()
    }
    async fn error_of_next(&mut self) -> String {
        let v = self.next().await.expect("a reply header");
        Fields::of(&v).unwrap().str("Error").unwrap()
    }
}

async fn node(auth: Option<&str>) -> (TestCluster, Recorder<String>) {
    let seen = Recorder::new();
    let c = TestCluster::start(1, |_, b| {
        b.rpc("127.0.0.1:0", auth.map(str::to_owned))
            .any_user_event(
                |ev: UserEvent<String>, State(s): State<Recorder<String>>| async move {
                    s.record(ev.into_payload())
                },
            )
            .state(seen.clone())
    })
    .await
    .unwrap();
    (c, seen)
}

/// A well-behaved client still gets served.
async fn still_serves(node: &Node) {
    let client = Client::connect(&node.rpc_addr().unwrap().to_string(), None)
        .await
        .unwrap();
    assert_eq!(client.members().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_unknown_commands_wrong_types_and_no_handshake() {
    let (c, _) = node(None).await;
    let n = c.node(0);

    let mut raw = Raw::connect(n).await;
    raw.send_bytes(&[0xc1, 0xff, 0x00, 0x13, 0x37]).await;
    assert!(
        raw.next().await.is_none(),
        "garbage closes the connection without a reply"
    );

    let mut raw = Raw::connect(n).await;
    raw.send(&[header("members", 1)]).await;
    assert_eq!(raw.error_of_next().await, "Handshake required");
    assert!(
        raw.next().await.is_none(),
        "closed after `Handshake required`"
    );

    let mut raw = Raw::connect(n).await;
    raw.send(&handshake()).await;
    assert_eq!(raw.error_of_next().await, "");
    raw.send(&[header("launch-missiles", 2)]).await;
    assert_eq!(raw.error_of_next().await, "Unsupported command");
    assert!(raw.next().await.is_none());

    // `Name` as binary instead of a string: decode error, closed without a reply.
    let mut raw = Raw::connect(n).await;
    raw.send(&handshake()).await;
    raw.next().await;
    raw.send(&[
        header("event", 2),
        map([
            ("Name", Value::Binary(b"x".to_vec())),
            ("Payload", Value::Nil),
        ]),
    ])
    .await;
    assert!(raw.next().await.is_none());

    // Nesting deep enough to overflow a recursive decoder: refused, the node lives.
    let mut raw = Raw::connect(n).await;
    raw.send_bytes(&vec![0x91u8; 100_000]).await;
    assert!(raw.next().await.is_none());

    // A header that is not a map.
    let mut raw = Raw::connect(n).await;
    raw.send(&[Value::from(42)]).await;
    assert!(raw.next().await.is_none());

    // Truncated mid-object, then the client goes away.
    let mut raw = Raw::connect(n).await;
    raw.send_bytes(&[0x82, 0xa7, b'C', b'o']).await;
    drop(raw);

    let mut raw = Raw::connect(n).await;
    raw.send(&[header("handshake", 1), map([("Version", Value::from(2))])])
        .await;
    assert_eq!(raw.error_of_next().await, "Unsupported IPC version");
    raw.send(&handshake()).await;
    assert_eq!(raw.error_of_next().await, "");
    raw.send(&handshake()).await;
    assert_eq!(raw.error_of_next().await, "Handshake already performed");

    still_serves(n).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_the_connection() {
    let (c, _) = node(None).await;
    let n = c.node(0);
    let mut raw = Raw::connect(n).await;
    raw.send(&handshake()).await;
    raw.next().await;
    // A bin32 claiming 16 MiB, fed in chunks: refused once past the frame limit.
    let mut big = vec![0xc6, 0x01, 0x00, 0x00, 0x00];
    big.extend(std::iter::repeat_n(0u8, 2 * codec::MAX_FRAME));
    raw.send_bytes(&big).await;
    assert!(raw.next().await.is_none());
    still_serves(n).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_and_checked() {
    let (c, _) = node(Some("s3cret")).await;
    let n = c.node(0);
    let addr = n.rpc_addr().unwrap().to_string();
    let mut raw = Raw::connect(n).await;
    raw.send(&handshake()).await;
    raw.next().await;
    raw.send(&[header("members", 2)]).await;
    assert_eq!(raw.error_of_next().await, "Authentication required");
    raw.send(&[header("auth", 3), map([("AuthKey", Value::from("wrong"))])])
        .await;
    assert_eq!(raw.error_of_next().await, "Invalid authentication token");
    raw.send(&[header("auth", 4), map([("AuthKey", Value::from("s3cret"))])])
        .await;
    assert_eq!(raw.error_of_next().await, "");
    raw.send(&[header("members", 5)]).await;
    assert_eq!(raw.error_of_next().await, "");

    let err = Client::connect(&addr, Some("nope")).await.err().unwrap();
    assert_eq!(err.to_string(), "Invalid authentication token");
    assert!(Client::connect(&addr, Some("s3cret")).await.is_ok());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_stalls_nothing() {
    let (c, seen) = node(None).await;
    let n = c.node(0);
    // Subscribes to everything, then never reads a byte.
    let mut sleeper = Raw::connect(n).await;
    sleeper.send(&handshake()).await;
    sleeper
        .send(&[header("stream", 2), map([("Type", Value::from("*"))])])
        .await;

    let client = Client::connect(&n.rpc_addr().unwrap().to_string(), None)
        .await
        .unwrap();
    let payload = "x".repeat(400);
    let total = 1500;
    for i in 0..total {
        client
            .event("flood", Some(format!("{i}{payload}").as_bytes()), false)
            .await
            .unwrap();
    }
    // Handlers saw every event and the node still answers promptly.
    assert_eq!(seen.take(total, DELIVERY * 2).await.len(), total);
    tokio::time::timeout(Duration::from_secs(5), still_serves(n))
        .await
        .unwrap();
    drop(sleeper);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_and_levels_get_serf_errors() {
    let (c, _) = node(None).await;
    let n = c.node(0);
    let mut raw = Raw::connect(n).await;
    raw.send(&handshake()).await;
    raw.next().await;
    raw.send(&[
        header("stream", 2),
        map([("Type", Value::from("user,bogus"))]),
    ])
    .await;
    assert_eq!(raw.error_of_next().await, "Invalid event filter");
    raw.send(&[
        header("monitor", 3),
        map([("LogLevel", Value::from("loud"))]),
    ])
    .await;
    assert_eq!(raw.error_of_next().await, "Unknown log level: LOUD");
    raw.send(&[
        header("respond", 4),
        map([("ID", Value::from(99)), ("Payload", Value::Nil)]),
    ])
    .await;
    assert_eq!(raw.error_of_next().await, "No pending queries matching ID");
    // An invalid regex closes the connection, as the Go agent does.
    raw.send(&[
        header("members-filtered", 5),
        map([
            ("Name", Value::from("(")),
            ("Status", Value::from("")),
            ("Tags", Value::Map(vec![])),
        ]),
    ])
    .await;
    assert!(raw.next().await.is_none());
    still_serves(n).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_closes_its_rpc_connections() {
    let (c, _) = node(None).await;
    let n = c.node(0).clone();
    let client = Client::connect(&n.rpc_addr().unwrap().to_string(), None)
        .await
        .unwrap();
    let (_, mut records) = client.stream("*").await.unwrap();
    n.shutdown().await.unwrap();
    let ended = tokio::time::timeout(STOP, async { while records.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the stream must end when the node stops");
    assert!(client.members().await.is_err());
}
