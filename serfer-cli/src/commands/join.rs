//! `join`: makes the agent join through existing members.

use super::{connect, Failure, Outcome};
use crate::cli::{JoinArgs, Rpc};
use crate::output;

pub async fn run(rpc: &Rpc, a: JoinArgs) -> Outcome {
    let client = connect(rpc).await?;
    let n = client
        .join(&a.addrs, a.replay)
        .await
        .map_err(|e| Failure::new(format!("Error joining the cluster: {e}")))?;
    output::out(&format!(
        "Successfully joined cluster by contacting {n} nodes."
    ));
    Ok(())
}
