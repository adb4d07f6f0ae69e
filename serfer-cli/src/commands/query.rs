//! `query`: sends a query and prints acks and responses as they arrive.

use std::collections::BTreeMap;

use serde::Serialize;
use serfer_rpc::client::{QueryRecord, QueryRequest};

use super::{connect, json_format, Failure, Interrupt, Outcome};
use crate::args::parse_tags;
use crate::cli::{QueryArgs, Rpc};
use crate::commands::event::raw_bytes;
use crate::output;

/// Serf's JSON result.
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct QueryJson {
    /// `null` when no node acked (or acks were not asked for).
    acks: Option<Vec<String>>,
    responses: BTreeMap<String, String>,
}

pub async fn run(rpc: &Rpc, a: QueryArgs) -> Outcome {
    let tags = parse_tags(&a.tag).map_err(|e| Failure::new(format!("Error: {e}")))?;
    let relay_factor = u8::try_from(a.relay_factor)
        .map_err(|_| Failure::new("Relay factor must be between 0 and 255"))?;
    let json = json_format(&a.format, |f| format!("Invalid format: {f}"))?;
    let mut interrupt = Interrupt::new();
    let client = connect(rpc).await?;
    let request = QueryRequest {
        name: a.name.clone(),
        payload: a.payload.as_deref().map(raw_bytes).unwrap_or_default(),
        nodes: a.node.clone(),
        tags,
        request_ack: !a.no_ack,
        relay_factor,
        timeout: a.timeout.unwrap_or_default(),
        // Records reach this command in order on one channel, so an early end loses
        // nothing here (unlike HashiCorp's `serf query`).
        finish_early: true,
    };
    let mut records = client
        .query(&request)
        .await
        .map_err(|e| Failure::new(format!("Error sending query: {e}")))?;
    if !json {
        output::out(&format!("Query '{}' dispatched", a.name));
    }
    let mut result = QueryJson::default();
    let (mut acks, mut responses) = (0usize, 0usize);
    loop {
        let record = tokio::select! {
            r = records.recv() => r,
            _ = interrupt.recv() => return Err(Failure::silent()),
        };
        match record {
            // The channel closes at the agent's `done` record.
            None => break,
            Some(QueryRecord::Ack(from)) => {
                acks += 1;
                if !json {
                    output::out(&format!("Ack from '{from}'"));
                }
                result.acks.get_or_insert_with(Vec::new).push(from);
            }
            Some(QueryRecord::Response(from, payload)) => {
                responses += 1;
                if !json {
                    output::out_bytes(&response_line(&from, &payload));
                }
                result
                    .responses
                    .insert(from, String::from_utf8_lossy(&payload).into_owned());
            }
        }
    }
    if json {
        output::out(&output::json(&result));
    } else {
        if !a.no_ack {
            output::out(&format!("Total Acks: {acks}"));
        }
        output::out(&format!("Total Responses: {responses}"));
    }
    Ok(())
}

/// `Response from 'node': payload`, without one trailing newline of the payload.
fn response_line(from: &str, payload: &[u8]) -> Vec<u8> {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    let mut line = format!("Response from '{from}': ").into_bytes();
    line.extend_from_slice(payload);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json_like_serf() {
        assert_eq!(response_line("a", b"ok\n\n"), b"Response from 'a': ok\n");
        assert_eq!(response_line("a", b""), b"Response from 'a': ");
        assert_eq!(
            output::json(&QueryJson::default()),
            "{\n  \"Acks\": null,\n  \"Responses\": {}\n}"
        );
        let full = QueryJson {
            acks: Some(vec!["b".into()]),
            responses: BTreeMap::from([("b".into(), "up".into())]),
        };
        assert_eq!(
            output::json(&full),
            "{\n  \"Acks\": [\n    \"b\"\n  ],\n  \"Responses\": {\n    \"b\": \"up\"\n  }\n}"
        );
    }
}
