//! `info`: the agent's statistics.

use std::collections::BTreeMap;

use super::{connect, encoding_error, json_format, Failure, Outcome};
use crate::cli::{InfoArgs, Rpc};
use crate::output;

pub async fn run(rpc: &Rpc, a: InfoArgs) -> Outcome {
    let json = json_format(&a.format, encoding_error)?;
    let client = connect(rpc).await?;
    let stats = client
        .stats()
        .await
        .map_err(|e| Failure::new(format!("Error querying agent: {e}")))?;
    if json {
        output::out(&output::json(&stats));
    } else {
        output::out(&render_text(&stats));
    }
    Ok(())
}

/// `section:` lines, each followed by `\tkey = value` lines, all sorted.
pub fn render_text(stats: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut text = String::new();
    for (section, values) in stats {
        text.push_str(section);
        text.push_str(":\n");
        for (k, v) in values {
            text.push_str(&format!("\t{k} = {v}\n"));
        }
    }
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_like_serf() {
        let stats = BTreeMap::from([
            (
                "serf".to_owned(),
                BTreeMap::from([
                    ("members".to_owned(), "2".to_owned()),
                    ("failed".to_owned(), "0".to_owned()),
                ]),
            ),
            (
                "agent".to_owned(),
                BTreeMap::from([("name".to_owned(), "node-a".to_owned())]),
            ),
            ("event_handlers".to_owned(), BTreeMap::new()),
        ]);
        assert_eq!(
            render_text(&stats),
            "agent:\n\tname = node-a\nevent_handlers:\nserf:\n\tfailed = 0\n\tmembers = 2"
        );
    }
}
