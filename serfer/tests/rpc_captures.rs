//! The exact bytes HashiCorp's `serf` CLI sent to a real agent, replayed against a
//! Serfer node: every answer must have the shape the real agent's had.
//!
//! `tests/fixtures/serf-cli-rpc-exchanges.json`, recorded from Debian's `serf` 0.9.4,
//! holds, per CLI invocation, the bytes the CLI wrote and the objects the Go agent
//! answered. The clusters differ (addresses, coordinates, clocks), so values that
//! describe the cluster are not compared; what is compared is what a client relies
//! on: the order and kinds of objects, every map's keys, every value's msgpack
//! type, `Seq`, whether `Error` is empty, record `Type`s and fixed error texts.

mod common;

use std::collections::BTreeSet;

use rmpv::Value;
use serde_json::Value as Json;
use serfer::testing::bounds::REPLY;
use serfer::testing::TestCluster;
use serfer::Node;
use serfer_rpc::codec::FrameReader;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const EXCHANGES: &str = include_str!("fixtures/serf-cli-rpc-exchanges.json");

/// Invocations that need the capture's own addresses (joining 127.0.0.22, leaving
/// through node-b's RPC port); the live `serf` CLI tests cover them.
fn replayable(cmd: &[String]) -> bool {
    let args = cmd.join(" ");
    let joins_their_node = args.starts_with("join") && args.contains("127.0.0.22");
    !(joins_their_node || args.starts_with("leave"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What a client can rely on in one value, as text, for comparing with the
/// capture's JSON rendering of the Go agent's value.
fn shape_of_go(v: &Json, key: Option<&str>) -> String {
    match v {
        Json::Null => "nil".into(),
        Json::Bool(_) => "bool".into(),
        Json::Number(n) if n.is_f64() => "float".into(),
        Json::Number(_) => "int".into(),
        Json::String(s) => string_shape(key, s),
        Json::Array(items) => array_shape(items.iter().map(|i| shape_of_go(i, None))),
        Json::Object(m) if m.len() == 1 && m.contains_key("__bytes__") => "bin".into(),
        Json::Object(m) => map_shape(
            key,
            m.iter().map(|(k, v)| (k.clone(), shape_of_go(v, Some(k)))),
        ),
    }
}

fn shape_of_ours(v: &Value, key: Option<&str>) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Boolean(_) => "bool".into(),
        Value::F32(_) | Value::F64(_) => "float".into(),
        Value::Integer(_) => "int".into(),
        Value::String(s) => string_shape(key, s.as_str().unwrap_or("<not utf-8>")),
        Value::Binary(_) => "bin".into(),
        Value::Array(items) => array_shape(items.iter().map(|i| shape_of_ours(i, None))),
        Value::Map(m) => map_shape(
            key,
            m.iter().map(|(k, v)| {
                let k = k.as_str().unwrap_or("<non-string key>").to_owned();
                let shape = shape_of_ours(v, Some(&k));
                (k, shape)
            }),
        ),
        Value::Ext(..) => "ext".into(),
    }
}

/// Strings are compared by value only where the value is protocol, not data.
fn string_shape(key: Option<&str>, s: &str) -> String {
    match key {
        Some("Type") => format!("str {s:?}"),
        Some("Error") if s.is_empty() => "no error".into(),
        Some("Error") if s.contains("_serf_") => format!("str {s:?}"),
        Some("Error") => "an error".into(),
        _ => "str".into(),
    }
}

/// Arrays: the set of element shapes (lengths depend on the cluster).
fn array_shape(items: impl Iterator<Item = String>) -> String {
    let kinds: BTreeSet<String> = items.collect();
    format!("[{}]", kinds.into_iter().collect::<Vec<_>>().join(" | "))
}

/// Maps: every key with its value's shape, except maps keyed by data (node names,
/// tag names, stats) whose keys depend on the cluster.
fn map_shape(key: Option<&str>, entries: impl Iterator<Item = (String, String)>) -> String {
    let entries: Vec<(String, String)> = entries.collect();
    if matches!(
        key,
        Some("Tags" | "Messages" | "Keys" | "tags" | "event_handlers" | "FilterTags")
    ) {
        let values: BTreeSet<&str> = entries.iter().map(|(_, v)| v.as_str()).collect();
        return format!(
            "map of {}",
            values.into_iter().collect::<Vec<_>>().join(" | ")
        );
    }
    let mut sorted = entries;
    sorted.sort();
    let body: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", body.join(", "))
}

async fn cluster() -> TestCluster {
    TestCluster::start(2, |i, b| {
        let b = b.name(["node-a", "node-b"][i]);
        if i == 0 {
            b.rpc("127.0.0.1:0", None).tag("role", "web")
        } else {
            b.tag("role", "db").tag("dc", "east")
        }
    })
    .await
    .unwrap()
}

/// Sends the CLI's bytes and reads as many objects as the Go agent sent.
async fn replay(node: &Node, c2s: &[u8], expected: usize) -> Vec<Value> {
    let stream = TcpStream::connect(node.rpc_addr().unwrap()).await.unwrap();
    let (read, mut write) = stream.into_split();
    write.write_all(c2s).await.unwrap();
    let mut reader = FrameReader::new(read);
    let mut got = Vec::new();
    while got.len() < expected {
        match tokio::time::timeout(REPLY, reader.next()).await {
            Ok(Ok(Some(v))) => got.push(v),
            // Closed, unreadable, or silent past the reply bound: compare what arrived.
            _ => break,
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_captured_cli_exchange_gets_answers_shaped_like_the_agents() {
    common::init_logs();
    let exchanges: Vec<Json> = serde_json::from_str(EXCHANGES).unwrap();
    assert_eq!(exchanges.len(), 26, "the fixture is whole");
    let c = cluster().await;
    let mut replayed = 0;
    let mut mismatches = Vec::new();
    for ex in &exchanges {
        let cmd: Vec<String> = serde_json::from_value(ex["cmd"].clone()).unwrap();
        // One entry is the agent's view after a leave, not an exchange.
        let Some(c2s) = ex["c2s_hex"].as_str() else {
            continue;
        };
        if !replayable(&cmd) {
            continue;
        }
        replayed += 1;
        let go: Vec<&Json> = ex["s2c"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["obj"])
            .collect();
        let ours = replay(c.node(0), &hex(c2s), go.len()).await;
        // Query records may arrive in any order between the header and `done`.
        let mut go_shapes: Vec<String> = go.iter().map(|v| shape_of_go(v, None)).collect();
        let mut our_shapes: Vec<String> = ours.iter().map(|v| shape_of_ours(v, None)).collect();
        go_shapes.sort();
        our_shapes.sort();
        if go_shapes != our_shapes {
            mismatches.push(format!(
                "serf {}:\n  go:   {go_shapes:#?}\n  ours: {our_shapes:#?}",
                cmd.join(" ")
            ));
        }
    }
    assert_eq!(replayed, 23);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    c.shutdown().await;
}
