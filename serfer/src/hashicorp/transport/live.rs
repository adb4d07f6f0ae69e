//! A serf-rs node on the translating transport in a cluster of real Debian
//! `serf agent` 0.9.4 processes (skipped with a notice when `/usr/bin/serf`
//! is absent, failing under `CI=true`, like `hashicorp::live_tests`).

use std::net::SocketAddr;
use std::time::Duration;

use serf::event::{Event, EventProducer, EventSubscriber};
use serf::types::{MaybeResolvedAddress, MemberStatus, SmolStr};

use super::super::live_tests::{base64, eventually, serf_installed, start_agent, test_key, BOUND};
use super::{NodeTransport, NodeTransportOptions};
use crate::engine::{add_trailer, strip_trailer};

type T = NodeTransport;
type D = serf::DefaultDelegate<T>;
type S = serf::Serf<T, D>;

/// A Serfer-configured serf-rs node (Go's LAN probe timings, two tags) on the
/// translating transport.
async fn start(name: &str, keys: &[Vec<u8>]) -> (S, EventSubscriber<T, D>) {
    let (producer, events) = EventProducer::unbounded();
    let ml = serf::MemberlistOptions::lan()
        .with_probe_interval(Duration::from_secs(1))
        .with_probe_timeout(Duration::from_millis(500));
    let opts = serf::Options::new()
        .with_memberlist_options(ml)
        // Not in sorted order, which Go's encoding of the meta would impose:
        // the meta must still come back to each node byte for byte.
        .with_tags([("zone", name), ("role", "rs")].into_iter())
        .with_coalesce_period(Duration::ZERO)
        .with_quiescent_period(Duration::ZERO)
        .with_user_coalesce_period(Duration::ZERO)
        .with_user_quiescent_period(Duration::ZERO);
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let transport = NodeTransportOptions::hashicorp(name, bind).with_keys(keys.to_vec());
    let serf = S::with_event_producer(transport, opts, producer)
        .await
        .expect("serf-rs starts on the translating transport");
    (serf, events)
}

async fn status_in_rs(s: &S, name: &str) -> Option<MemberStatus> {
    s.members()
        .await
        .iter()
        .find(|m| m.node().id() == &SmolStr::new(name))
        .map(|m| *m.status())
}

async fn wait_rs_alive(s: &S, name: &str) {
    eventually(
        &format!("the serf-rs node lists {name} alive"),
        BOUND,
        || async { (status_in_rs(s, name).await == Some(MemberStatus::Alive)).then_some(()) },
    )
    .await;
}

async fn wait_event(events: &EventSubscriber<T, D>, name: &str) -> bytes::Bytes {
    let got = tokio::time::timeout(BOUND, async {
        loop {
            if let Event::User(e) = events.recv().await.expect("event stream open") {
                if e.name().as_str() == name {
                    return e.payload().clone();
                }
            }
        }
    })
    .await;
    got.unwrap_or_else(|_| panic!("event {name} did not reach the serf-rs node within {BOUND:?}"))
}

async fn mixed_cluster(test: &str, keys: Vec<Vec<u8>>) {
    if !serf_installed(test) {
        return;
    }
    // The serf-rs side's warnings (dropped messages, failed probes) are shown
    // with a failure.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let extra: Vec<String> = keys
        .first()
        .map(|k| vec![format!("-encrypt={}", base64(k))])
        .unwrap_or_default();
    let go1 = start_agent("go-1", &extra).await;
    let (rs, rs_events) = start("rs", &keys).await;
    let rs_addr = *rs.advertise_node().address();

    // serf-rs joins a Go agent: a push/pull on a Go stream, both ways.
    rs.join(MaybeResolvedAddress::Resolved(go1.bind()), false)
        .await
        .expect("the serf-rs node joins the Go agent");
    let record = go1.wait_status("rs", "alive").await;
    assert_eq!(record["tags"]["role"], "rs", "tags cross in node meta");
    wait_rs_alive(&rs, "go-1").await;

    // A Go agent joins through the serf-rs node: it answers a Go push/pull.
    let mut extra2 = extra.clone();
    extra2.push(format!("-join={rs_addr}"));
    let go2 = start_agent("go-2", &extra2).await;
    go2.wait_status("rs", "alive").await;
    go2.wait_status("go-1", "alive").await;
    wait_rs_alive(&rs, "go-2").await;

    // A second serf-rs node joins through the Go agent and learns the first
    // from Go's state: serf-rs node meta and Serf state relayed by Go.
    let (rs2, rs2_events) = start("rs-2", &keys).await;
    rs2.join(MaybeResolvedAddress::Resolved(go2.bind()), false)
        .await
        .expect("the second serf-rs node joins the second Go agent");
    for name in ["go-1", "go-2", "rs"] {
        wait_rs_alive(&rs2, name).await;
    }
    wait_rs_alive(&rs, "rs-2").await;
    let record = go1.wait_status("rs-2", "alive").await;
    assert_eq!(record["tags"]["zone"], "rs-2");

    // Events both ways.
    go1.cli("event", &["from-go", "hello"]).await;
    let payload = wait_event(&rs_events, "from-go").await;
    assert_eq!(&strip_trailer(&payload)[..], b"hello");
    rs.user_event("from-rs", add_trailer(b"world"), false)
        .await
        .expect("serf-rs sends an event");
    let payload = wait_event(&rs2_events, "from-rs").await;
    assert_eq!(&strip_trailer(&payload)[..], b"world");
    for agent in [&go1, &go2] {
        eventually(
            "a Go agent receives the serf-rs node's event",
            BOUND,
            || async { agent.log().contains("user-event: from-rs").then_some(()) },
        )
        .await;
    }

    // A Go query answered by the serf-rs node: its ack and its response
    // travel back as Go query responses.
    let answer = tokio::spawn(async move {
        loop {
            if let Event::Query(q) = rs_events.recv().await.expect("event stream open") {
                if q.name().as_str() == "status" {
                    q.respond(bytes::Bytes::from_static(b"rs-ok"))
                        .await
                        .expect("respond");
                    // Handed back: a dropped subscriber makes serf-rs log errors.
                    return rs_events;
                }
            }
        }
    });
    let out = go1
        .cli("query", &["-format=json", "-timeout=3s", "status", "x"])
        .await;
    let json: serde_json::Value = serde_json::from_str(&out).expect("query output is JSON");
    assert!(
        json["Acks"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == "rs")),
        "rs acks: {out}"
    );
    assert_eq!(json["Responses"]["rs"], "rs-ok", "{out}");
    let _rs_events = tokio::time::timeout(BOUND, answer)
        .await
        .expect("the query reached the serf-rs node")
        .expect("answering task");

    // Several probe rounds on both sides: nobody is suspected.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for agent in [&go1, &go2] {
        let members = agent.members().await;
        for name in ["go-1", "go-2", "rs", "rs-2"] {
            assert_eq!(members[name]["status"], "alive", "{name} in {members:?}");
        }
        agent.assert_no_complaints(&[]);
    }
    for name in ["go-1", "go-2", "rs-2"] {
        assert_eq!(status_in_rs(&rs, name).await, Some(MemberStatus::Alive));
    }
    for name in ["go-1", "go-2", "rs"] {
        assert_eq!(status_in_rs(&rs2, name).await, Some(MemberStatus::Alive));
    }

    // A graceful leave ends `left`, not `failed`, on the Go side.
    rs.leave().await.expect("serf-rs leaves");
    for agent in [&go1, &go2] {
        agent.wait_status("rs", "left").await;
        agent.assert_no_complaints(&[]);
    }
    eventually(
        "the second serf-rs node sees the first left",
        BOUND,
        || async { (status_in_rs(&rs2, "rs").await == Some(MemberStatus::Left)).then_some(()) },
    )
    .await;
    rs.shutdown().await.expect("serf-rs shuts down");
    rs2.shutdown().await.expect("serf-rs shuts down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_serf_rs_node_in_a_go_cluster() {
    mixed_cluster("live_serf_rs_node_in_a_go_cluster", vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_serf_rs_node_in_an_encrypted_go_cluster() {
    mixed_cluster(
        "live_serf_rs_node_in_an_encrypted_go_cluster",
        vec![test_key()],
    )
    .await;
}
