//! The seed's `guardian`: joins, sends `useless` every 2 s and asks `status` every 5 s.
//!
//! ```text
//! cargo run --example guardian -- --bind 127.0.0.1:7950 --join 127.0.0.1:7946
//! ```

use std::time::Duration;

use serfer::{Node, QueryOptions};

/// base64 of "SuperSecureToken", the seed's key.
const KEY: &str = "U3VwZXJTZWN1cmVUb2tlbg==";

async fn guard(node: Node) -> Result<(), serfer::Error> {
    let mut every_2s = tokio::time::interval(Duration::from_secs(2));
    let mut every_5s = tokio::time::interval(Duration::from_secs(5));
    every_2s.tick().await;
    every_5s.tick().await;
    loop {
        tokio::select! {
            _ = every_2s.tick() => {
                if let Err(e) = node.event("useless", &"this is a payload".to_owned()).await {
                    tracing::error!("sending event 'useless': {e}");
                }
            }
            _ = every_5s.tick() => {
                let asked = node
                    .query("status", &"are you ok?".to_owned(), QueryOptions::new().request_ack(true))
                    .await;
                match asked {
                    Err(e) => tracing::error!("sending query 'status': {e}"),
                    // Collected in its own task, so the ticks go on meanwhile.
                    Ok(responses) => {
                        tokio::spawn(async move {
                            let r = responses.collect().await;
                            tracing::info!("Response from query 'status':");
                            for (from, answer) in r.decode::<String>() {
                                match answer {
                                    Ok(text) => tracing::info!("  From {from}: {text}"),
                                    Err(e) => tracing::warn!("  From {from}: undecodable answer: {e}"),
                                }
                            }
                            tracing::info!("Total Ack: {}, Total Response: {}", r.acks.len(), r.responses.len());
                        });
                    }
                }
            }
        }
    }
}

fn main() {
    serfer::run!(builder: Node::builder().key(KEY), body: guard)
}
