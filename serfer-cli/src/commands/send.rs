//! `send`: sends what an event URI says (`serf://HOSTS/event|query/PATH?payload=…;TAG=…`),
//! through the same requests as `event` and `query`.

use std::ffi::OsString;

use serfer::{Target, TargetKind};

use super::{connect, event, query, Failure, Outcome};
use crate::cli::{EventArgs, QueryArgs, Rpc, SendArgs};

pub async fn run(rpc: &Rpc, a: SendArgs) -> Outcome {
    let target: Target = a
        .uri
        .parse()
        .map_err(|e| Failure::new(format!("Error: invalid event URI: {e}")))?;
    let payload = target.payload.clone().map(OsString::from);
    match target.kind {
        TargetKind::Event => {
            let args = EventArgs {
                coalesce: a.coalesce,
                name: target.event_name(),
                payload,
            };
            event::run(rpc, args).await
        }
        TargetKind::Query => {
            let members: Vec<String> = if target.hosts.is_empty() {
                Vec::new()
            } else {
                connect(rpc)
                    .await?
                    .members()
                    .await
                    .map_err(|e| Failure::new(format!("Error listing members: {e}")))?
                    .into_iter()
                    .map(|m| m.name)
                    .collect()
            };
            let filters = target
                .query_filters(&members)
                .map_err(|e| Failure::new(format!("Error: {e}")))?;
            let args = QueryArgs {
                node: filters.nodes,
                tag: filters
                    .tags
                    .into_iter()
                    .map(|(k, re)| format!("{k}={re}"))
                    .collect(),
                timeout: a.timeout,
                no_ack: a.no_ack,
                relay_factor: 0,
                format: a.format,
                name: target.name.clone(),
                payload,
            };
            query::run(rpc, args).await
        }
    }
}
