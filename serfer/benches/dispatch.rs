//! Micro-benchmarks: dispatching one user event to a typed handler, and encoding
//! payloads. `cargo bench -p serfer --bench dispatch`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serfer::__private::{DispatchBench, Registry};
use serfer::{Payload, State, UserEvent};

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Clone)]
struct Deploy {
    service: String,
    version: String,
}

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Clone)]
#[payload(codec = "msgpack")]
struct DeployPacked {
    service: String,
    version: String,
}

#[derive(Clone, Default)]
struct Count(Arc<AtomicU64>);

async fn deploy(ev: UserEvent<Deploy>, State(c): State<Count>) {
    black_box(ev.payload().version.len());
    c.0.fetch_add(1, Ordering::Relaxed);
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let count = Count::default();
    let node = rt
        .block_on(
            serfer::Node::builder()
                .bind("127.0.0.1:0")
                .state(count.clone())
                .start(),
        )
        .unwrap();
    let mut registry = Registry::default();
    registry.user_event(Some("deploy"), deploy);
    let bench = DispatchBench::new(node.clone(), registry).unwrap();
    let payload = Deploy {
        service: "web".into(),
        version: "1.2.3".into(),
    }
    .encode()
    .unwrap();
    let _guard = rt.enter();
    c.bench_function(
        "dispatch user event to typed handler (decode + route + spawn)",
        |b| {
            let mut ltime = 0;
            b.iter(|| {
                ltime += 1;
                bench.user_event("deploy", ltime, payload.clone());
            })
        },
    );
    rt.block_on(node.shutdown()).unwrap();
}

fn encode(c: &mut Criterion) {
    let d = Deploy {
        service: "web".into(),
        version: "1.2.3".into(),
    };
    let p = DeployPacked {
        service: "web".into(),
        version: "1.2.3".into(),
    };
    c.bench_function("encode payload (JSON)", |b| {
        b.iter(|| black_box(&d).encode().unwrap())
    });
    c.bench_function("encode payload (MessagePack)", |b| {
        b.iter(|| black_box(&p).encode().unwrap())
    });
    let bytes = d.encode().unwrap();
    c.bench_function("decode payload (JSON)", |b| {
        b.iter(|| Deploy::decode(black_box(&bytes)).unwrap())
    });
}

criterion_group!(benches, dispatch, encode);
criterion_main!(benches);
