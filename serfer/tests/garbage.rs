//! Garbage on the wire: random datagrams and TCP streams at the gossip and RPC ports
//! of a live node. It keeps its membership, handles the next real event, and its
//! memory stays bounded.

mod common;

use std::time::Duration;

use common::init_logs;
use serfer::testing::bounds::DELIVERY;
use serfer::testing::rss::rss_kib;
use serfer::testing::{Recorder, TestCluster};
use serfer::{Node, State, UserEvent};
use tokio::io::AsyncWriteExt;

async fn on_event(ev: UserEvent<String>, node: Node, State(seen): State<Recorder<String>>) {
    seen.record(format!("{}:{}", node.name(), ev.payload()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_datagrams_and_streams_change_nothing() {
    init_logs();
    let seen: Recorder<String> = Recorder::new();
    let cluster = TestCluster::start(3, |_, b| {
        b.rpc("127.0.0.1:0", None)
            .any_user_event(on_event)
            .state(seen.clone())
    })
    .await
    .unwrap();
    let target = cluster.node(0).addr();
    let rpc = cluster.node(0).rpc_addr().unwrap();
    let mut rng = XorShift(0x5e7f_e12a_9b3c_4d11);
    let rss_before = rss_kib();

    // Datagrams: random sizes, random bytes, and valid-looking first bytes.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3000u32 {
        let len = (rng.next_u32() % 1500) as usize;
        let mut buf = vec![0u8; len];
        rng.fill_bytes(&mut buf);
        if let Some(b) = buf.first_mut() {
            *b = (i % 16) as u8; // message-type bytes the engine dispatches on
        }
        let _ = udp.send_to(&buf, target).await;
    }
    // Streams: random content, some cut short, to both the gossip and the RPC port.
    for i in 0..300u32 {
        let port_addr = if i % 2 == 0 { target } else { rpc };
        if let Ok(Ok(mut s)) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(port_addr),
        )
        .await
        {
            let len = (rng.next_u32() % 4096) as usize;
            let mut buf = vec![0u8; len];
            rng.fill_bytes(&mut buf);
            if let Some(b) = buf.first_mut() {
                *b = (i % 16) as u8;
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), s.write_all(&buf)).await;
            if i % 3 == 0 {
                let _ = s.shutdown().await;
            }
        }
    }

    cluster
        .wait_converged(DELIVERY)
        .await
        .expect("membership intact");
    cluster
        .node(1)
        .event("after", &"garbage".to_owned())
        .await
        .unwrap();
    assert_eq!(
        seen.take(3, DELIVERY).await.len(),
        3,
        "the next real event reached every node"
    );
    let client = serfer_rpc::client::Client::connect(&rpc.to_string(), None)
        .await
        .unwrap();
    assert_eq!(client.members().await.unwrap().len(), 3, "RPC still serves");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 64 * 1024,
        "memory grew by {grown} KiB under garbage"
    );
    cluster.shutdown().await;
}

/// A small deterministic generator: the same garbage on every run.
struct XorShift(u64);

impl XorShift {
    fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u32() as u8;
        }
    }
}
