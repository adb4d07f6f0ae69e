//! `leave` and `force-leave`.

use super::{connect, Failure, Outcome};
use crate::cli::{ForceLeaveArgs, Rpc};
use crate::output;

/// Graceful leave; the agent shuts down afterwards.
pub async fn run(rpc: &Rpc) -> Outcome {
    let client = connect(rpc).await?;
    client
        .leave()
        .await
        .map_err(|e| Failure::new(format!("Error leaving: {e}")))?;
    output::out("Graceful leave complete");
    Ok(())
}

/// Forces a member out; prints nothing on success, as serf.
pub async fn force(rpc: &Rpc, a: ForceLeaveArgs) -> Outcome {
    let client = connect(rpc).await?;
    client
        .force_leave(&a.node, a.prune)
        .await
        .map_err(|e| Failure::new(format!("Error force leaving: {e}")))
}
