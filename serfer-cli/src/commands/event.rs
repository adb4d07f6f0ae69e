//! `event`: sends a user event.

use super::{connect, Failure, Outcome};
use crate::cli::{EventArgs, Rpc};
use crate::output;

pub async fn run(rpc: &Rpc, a: EventArgs) -> Outcome {
    let payload = a.payload.as_deref().map(raw_bytes);
    let client = connect(rpc).await?;
    client
        .event(&a.name, payload.as_deref(), a.coalesce.coalesce)
        .await
        .map_err(|e| Failure::new(format!("Error sending event: {e}")))?;
    output::out(&format!(
        "Event '{}' dispatched! Coalescing enabled: {}",
        a.name, a.coalesce.coalesce
    ));
    Ok(())
}

/// An argument's bytes as given (they need not be UTF-8 on Unix).
pub fn raw_bytes(arg: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        std::os::unix::ffi::OsStrExt::as_bytes(arg).to_vec()
    }
    #[cfg(not(unix))]
    {
        arg.to_string_lossy().into_owned().into_bytes()
    }
}
