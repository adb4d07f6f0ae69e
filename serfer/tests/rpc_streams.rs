//! RPC streams and many clients: a client answers queries it streams, sees
//! members join, and neither a crowd of clients nor one that dies mid-stream or
//! sends garbage disturbs the others.

use std::time::Duration;

use rmpv::Value;
use serfer::testing::bounds::DELIVERY;
use serfer::testing::{Recorder, TestCluster};
use serfer::{Node, QueryOptions, State, UserEvent};
use serfer_rpc::client::Client;
use serfer_rpc::codec::{self, map, Fields};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;

/// Nodes whose user events are recorded; RPC on node 0.
async fn cluster(n: usize) -> (TestCluster, Recorder<String>) {
    let seen = Recorder::new();
    let c = TestCluster::start(n, |i, b| {
        let b = b
            .any_user_event(
                |ev: UserEvent<String>, State(s): State<Recorder<String>>| async move {
                    s.record(ev.into_payload())
                },
            )
            .state(seen.clone());
        if i == 0 {
            b.rpc("127.0.0.1:0", None)
        } else {
            b
        }
    })
    .await
    .unwrap();
    (c, seen)
}

async fn client(node: &Node) -> Client {
    Client::connect(&node.rpc_addr().unwrap().to_string(), None)
        .await
        .unwrap()
}

/// The next stream record, within the delivery bound.
async fn next_record(rx: &mut UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(DELIVERY, rx.recv())
        .await
        .expect("a stream record within the delivery bound")
        .expect("the stream is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_query_is_answered_through_respond() {
    let (c, _) = cluster(2).await;
    let rpc = client(c.node(0)).await;
    let (_, mut queries) = rpc.stream("query").await.unwrap();

    let asker = c.node(1).clone();
    let target = c.node(0).name().to_owned();
    let asked = tokio::spawn(async move {
        asker
            .query(
                "ask",
                &"hi".to_owned(),
                QueryOptions::new()
                    .nodes([target])
                    .timeout(Duration::from_secs(10)),
            )
            .await
            .unwrap()
            .collect()
            .await
    });
    let record = next_record(&mut queries).await;
    let f = Fields::of(&record).unwrap();
    assert_eq!(f.str("Event").unwrap(), "query");
    assert_eq!(f.str("Name").unwrap(), "ask");
    assert_eq!(
        f.bytes("Payload").unwrap().unwrap(),
        b"hi",
        "a String payload is its bytes"
    );
    rpc.respond(f.uint("ID").unwrap(), b"pong").await.unwrap();

    let result = asked.await.unwrap();
    assert_eq!(
        result.responses.get(c.node(0).name()).map(|b| b.as_ref()),
        Some(&b"pong"[..]),
        "{result:?}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reports_members_joining() {
    let (c, _) = cluster(1).await;
    let rpc = client(c.node(0)).await;
    let (_, mut joins) = rpc.stream("member-join").await.unwrap();
    let late = Node::builder()
        .engine(serfer::testing::engine())
        .name(format!("{}-late", c.node(0).name()))
        .bind("127.0.0.1:0")
        .profile(serfer::Profile::Local)
        .join(c.node(0).addr().to_string())
        .start()
        .await
        .unwrap();
    let record = next_record(&mut joins).await;
    assert_eq!(
        Fields::of(&record).unwrap().str("Event").unwrap(),
        "member-join"
    );
    let members = record
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("Members")))
        .and_then(|(_, v)| v.as_array().cloned())
        .expect("Members is an array");
    let names: Vec<String> = members
        .iter()
        .map(|m| Fields::of(m).unwrap().str("Name").unwrap())
        .collect();
    assert_eq!(names, vec![late.name().to_owned()]);
    late.shutdown().await.unwrap();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once_are_all_served() {
    let (c, seen) = cluster(2).await;
    let clients = 24;
    let mut tasks = Vec::new();
    for i in 0..clients {
        let node = c.node(0).clone();
        tasks.push(tokio::spawn(async move {
            let rpc = client(&node).await;
            let (_, mut stream) = rpc.stream("user").await.unwrap();
            assert_eq!(rpc.members().await.unwrap().len(), 2);
            rpc.event("crowd", Some(format!("client {i}").as_bytes()), false)
                .await
                .unwrap();
            // Each client's stream sees at least its own event.
            loop {
                let r = next_record(&mut stream).await;
                let f = Fields::of(&r).unwrap();
                if f.bytes("Payload").unwrap().unwrap() == format!("client {i}").as_bytes() {
                    break;
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(DELIVERY * 2, t)
            .await
            .expect("every client finishes")
            .unwrap();
    }
    // Both nodes' handlers saw every client's event.
    assert_eq!(seen.take(2 * clients, DELIVERY).await.len(), 2 * clients);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_dies_mid_stream_stalls_nothing() {
    let (c, seen) = cluster(1).await;
    let n = c.node(0);
    let survivor = client(n).await;
    let (_, mut survivor_stream) = survivor.stream("user").await.unwrap();
    {
        // Subscribes to everything, reads the first record, then vanishes with
        // its socket reset, while records are still being sent to it.
        let doomed = client(n).await;
        let (_, mut stream) = doomed.stream("*").await.unwrap();
        survivor.event("before", Some(b"0"), false).await.unwrap();
        next_record(&mut stream).await;
    }
    let total = 300;
    for i in 0..total {
        survivor
            .event("after", Some(i.to_string().as_bytes()), false)
            .await
            .unwrap();
    }
    assert_eq!(seen.take(total + 1, DELIVERY * 2).await.len(), total + 1);
    // The survivor's own stream got everything, in order.
    let mut got = Vec::new();
    while got.len() < total + 1 {
        let r = next_record(&mut survivor_stream).await;
        got.push(Fields::of(&r).unwrap().str("Name").unwrap());
    }
    assert_eq!(got.iter().filter(|n| *n == "after").count(), total);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_client_carries_on_through_anothers_garbage() {
    let (c, _) = cluster(1).await;
    let n = c.node(0);
    let steady = client(n).await;
    assert_eq!(steady.members().await.unwrap().len(), 1);
    for garbage in [
        &[0xc1u8, 0xff, 0x00][..],
        // A valid header for an unknown command, then a truncated body.
        &[
            0x82, 0xa7, b'C', b'o', b'm', b'm', b'a', b'n', b'd', 0xa3, b'x', b'y', b'z',
        ][..],
    ] {
        let mut raw = TcpStream::connect(n.rpc_addr().unwrap()).await.unwrap();
        let _ = raw.write_all(garbage).await;
        drop(raw);
        // Same connection as before the garbage, still answered.
        let members = tokio::time::timeout(Duration::from_secs(5), steady.members())
            .await
            .expect("the steady client is answered promptly")
            .unwrap();
        assert_eq!(members.len(), 1);
    }
    // And a frame of a valid handshake through the codec, from a third client.
    let mut raw = TcpStream::connect(n.rpc_addr().unwrap()).await.unwrap();
    codec::write(
        &mut raw,
        &[
            map([
                ("Command", Value::from("handshake")),
                ("Seq", Value::from(1)),
            ]),
            map([("Version", Value::from(1))]),
        ],
    )
    .await
    .unwrap();
    drop(raw);
    assert_eq!(steady.members().await.unwrap().len(), 1);
    c.shutdown().await;
}
