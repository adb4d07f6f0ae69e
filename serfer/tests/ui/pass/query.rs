// Every accepted shape of `#[serfer::query]`.
use std::fmt;

use serfer::{Node, Query, State};

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]
pub struct Ask {
    pub verbose: bool,
}

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub healthy: bool,
    pub detail: Option<String>,
}

#[derive(Debug)]
struct NotReady;

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not ready")
    }
}

#[derive(Clone)]
pub struct Version(pub &'static str);

// Returning `String`.
#[serfer::query("status")]
async fn status(q: Query<()>) -> String {
    format!("I am OK, thanks for asking, {} (#{})", q.from(), q.ltime())
}

// Returning a derived payload, with every query extractor.
#[serfer::query("health")]
pub async fn health(q: Query<Ask>, _node: Node, State(v): State<Version>) -> Status {
    Status {
        healthy: true,
        detail: q.payload().verbose.then(|| format!("{} {}", q.name(), v.0)),
    }
}

// Returning `Result<R, E>`.
#[serfer::query("ready")]
async fn ready(_q: Query<String>) -> Result<Status, NotReady> {
    Err(NotReady)
}

// Returning `()`: an empty response.
#[serfer::query("ping")]
async fn ping() {}

// Catch-all, plain function (runs on the blocking pool).
#[serfer::query]
fn echo(q: Query<Vec<u8>>) -> Vec<u8> {
    q.payload().clone()
}

#[serfer::query("sync-result")]
fn sync_result(q: Query<String>) -> Result<String, NotReady> {
    Ok(q.payload().to_uppercase())
}

fn main() {
    let builder = serfer::Node::builder().discovered_handlers();
    let mut names: Vec<Option<&str>> = builder
        .handlers()
        .filter(|(kind, _, _)| *kind == serfer::HandlerKind::Query)
        .map(|(_, name, _)| name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            None,
            Some("health"),
            Some("ping"),
            Some("ready"),
            Some("status"),
            Some("sync-result")
        ]
    );
}
