//! `tags`: sets and deletes the agent's tags.

use super::{connect, Failure, Outcome};
use crate::args::parse_tags;
use crate::cli::{subcommand_help, Rpc, TagsArgs};
use crate::output;

pub async fn run(rpc: &Rpc, a: TagsArgs) -> Outcome {
    if a.set.is_empty() && a.delete.is_empty() {
        return Err(Failure::new(subcommand_help("tags").trim_end()));
    }
    let set = parse_tags(&a.set).map_err(|e| Failure::new(format!("Error: {e}")))?;
    let client = connect(rpc).await?;
    client
        .tags(&set, &a.delete)
        .await
        .map_err(|e| Failure::new(format!("Error setting tags: {e}")))?;
    output::out("Successfully updated agent tags");
    Ok(())
}
