// Every accepted shape of `#[serfer::user_event]`.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serfer::{Node, State, UserEvent};

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]
struct Deploy {
    service: String,
    version: String,
}

#[derive(Debug)]
struct DeployError(String);

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deploy failed: {}", self.0)
    }
}

#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

// Named, async, returning `Result<(), E>`, with every user-event extractor.
#[serfer::user_event("deploy")]
async fn deploy(
    ev: UserEvent<Deploy>,
    node: Node,
    State(counter): State<Counter>,
) -> Result<(), DeployError> {
    counter.0.fetch_add(1, Ordering::Relaxed);
    let d = ev.into_payload();
    node.event("deployed", &d.version)
        .await
        .map_err(|e| DeployError(format!("{}: {e}", d.service)))
}

// Named, async, returning `()`.
#[serfer::user_event("restart")]
pub async fn restart(ev: UserEvent<String>) {
    println!(
        "{} #{} coalesce={} {}",
        ev.name(),
        ev.ltime(),
        ev.coalesce(),
        ev.payload()
    );
}

// Catch-all, async, payload ignored, extractor written with its path.
#[serfer::user_event]
pub(crate) async fn log_all(ev: serfer::UserEvent<()>) {
    println!("event {}", ev.name());
}

// Plain functions run on the blocking pool.
#[serfer::user_event("sync")]
fn sync_handler(ev: UserEvent<Vec<u8>>, State(counter): State<Counter>) -> Result<(), DeployError> {
    counter
        .0
        .fetch_add(ev.payload().len() as u64, Ordering::Relaxed);
    Ok(())
}

#[serfer::user_event]
fn sync_catch_all(_: UserEvent<()>) {}

// No arguments at all.
#[serfer::user_event("tick")]
async fn tick() {}

#[serfer::user_event("tock")]
fn tock() {}

// Patterns in arguments, a raw identifier as the name.
#[serfer::user_event("match")]
async fn r#match(State(Counter(n)): State<Counter>, _node: Node) {
    n.fetch_add(1, Ordering::Relaxed);
}

// Sixteen arguments, the most a handler takes.
#[serfer::user_event("many")]
async fn many(
    _a1: UserEvent<()>,
    _a2: Node,
    _a3: Node,
    _a4: Node,
    _a5: Node,
    _a6: Node,
    _a7: Node,
    _a8: Node,
    _a9: Node,
    _a10: Node,
    _a11: Node,
    _a12: Node,
    _a13: Node,
    _a14: Node,
    _a15: Node,
    _a16: State<Counter>,
) {
}

mod nested {
    use serfer::UserEvent;

    #[serfer::user_event("nested")]
    pub async fn in_a_module(_ev: UserEvent<String>) {}
}

fn main() {
    let builder = serfer::Node::builder().discovered_handlers();
    let functions: Vec<&str> = builder
        .handlers()
        .map(|(_, _, function)| function.rsplit("::").next().unwrap())
        .collect();
    for f in [
        "deploy",
        "restart",
        "log_all",
        "sync_handler",
        "sync_catch_all",
        "tick",
        "tock",
        "match",
        "many",
        "in_a_module",
    ] {
        assert!(functions.contains(&f), "{f} not registered: {functions:?}");
    }
    assert!(builder
        .handlers()
        .any(|(kind, name, _)| kind == serfer::HandlerKind::UserEvent && name.is_none()));
    assert!(builder
        .handlers()
        .any(|(_, name, f)| name == Some("nested") && f.ends_with("nested::in_a_module")));
}
