//! A typed round trip: a derived payload in a user event, and a typed query response.
//!
//! Start it twice (the second with `--bind 127.0.0.1:7947 --join 127.0.0.1:7946`), then
//! `serf event deploy '{"service":"web","version":"1.2"}'` or run it with `--send web 1.2`.

use std::sync::{Arc, Mutex};

use serfer::{Node, Query, QueryOptions, State, UserEvent};

#[derive(serfer::Payload, serde::Serialize, serde::Deserialize, Debug, Clone)]
struct Deploy {
    service: String,
    version: String,
}

#[derive(
    serfer::Payload, serde::Serialize, serde::Deserialize, Debug, Clone, Default, PartialEq,
)]
#[payload(codec = "msgpack")]
struct Deployed {
    service: Option<String>,
    version: Option<String>,
}

#[derive(Clone, Default)]
struct Current(Arc<Mutex<Deployed>>);

#[serfer::user_event("deploy")]
async fn deploy(ev: UserEvent<Deploy>, State(current): State<Current>) {
    let d = ev.into_payload();
    tracing::info!("deploying {} {}", d.service, d.version);
    *current.0.lock().unwrap() = Deployed {
        service: Some(d.service),
        version: Some(d.version),
    };
}

#[serfer::query("deployed")]
async fn deployed(_q: Query<()>, State(current): State<Current>) -> Deployed {
    current.0.lock().unwrap().clone()
}

async fn send(node: Node, service: String, version: String) -> Result<(), serfer::Error> {
    let wanted = Deployed {
        service: Some(service.clone()),
        version: Some(version.clone()),
    };
    node.event("deploy", &Deploy { service, version }).await?;
    // Gossip gives no order between an event and a later query: a node can
    // answer before the event reaches it. Ask until every node runs the new
    // version (a few gossip rounds), at most ten times.
    let mut answers = std::collections::BTreeMap::new();
    for _ in 0..10 {
        answers = node
            .query("deployed", &(), QueryOptions::new())
            .await?
            .collect()
            .await
            .decode::<Deployed>();
        let everyone = answers.len() == node.members().await.len();
        if everyone
            && answers
                .iter()
                .all(|(_, d)| d.as_ref().ok() == Some(&wanted))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for (from, d) in answers {
        match d {
            Ok(d) => tracing::info!("{from}: {d:?}"),
            Err(e) => tracing::warn!("{from}: undecodable answer: {e}"),
        }
    }
    Ok(())
}

fn main() {
    // `--send SERVICE VERSION` sends one deployment, prints what every node runs, and exits;
    // the remaining arguments are the node's own.
    let mut args: Vec<String> = std::env::args().collect();
    let send_at = args.iter().position(|a| a == "--send");
    let builder = Node::builder().state(Current::default());
    match send_at {
        Some(i) if args.len() > i + 2 => {
            let version = args.remove(i + 2);
            let service = args.remove(i + 1);
            args.remove(i);
            let cli = <serfer::cli::Args as clap::Parser>::parse_from(args);
            std::process::exit(serfer::cli::run_with(
                cli,
                builder,
                Some(move |node| send(node, service, version)),
            ))
        }
        _ => serfer::run!(builder: builder),
    }
}
