//! `monitor`: the agent's log lines and events, until Ctrl-C or the agent goes away.

use std::time::Duration;

use super::{connect, Failure, Interrupt, Outcome};
use crate::cli::{MonitorArgs, Rpc};
use crate::output;

/// What serf prints when the connection ends under the monitor.
pub const REMOTE_ENDED: &str =
    "Remote side ended the monitor! This usually means that the\nremote side has exited or crashed.";

pub async fn run(rpc: &Rpc, a: MonitorArgs) -> Outcome {
    let mut interrupt = Interrupt::new();
    let client = connect(rpc).await?;
    let (stream, mut events) = client
        .stream("*")
        .await
        .map_err(|e| Failure::new(format!("Error starting stream: {e}")))?;
    let (monitor, mut logs) = client
        .monitor(&a.log_level)
        .await
        .map_err(|e| Failure::new(format!("Error starting monitor: {e}")))?;
    loop {
        tokio::select! {
            line = logs.recv() => match line {
                Some(line) if !line.is_empty() => output::out(&line),
                Some(_) => {}
                None => break,
            },
            event = events.recv() => match event {
                Some(record) => {
                    for line in output::event_lines(&record) {
                        output::out(&line);
                    }
                }
                None => break,
            },
            _ = interrupt.recv() => {
                // Tell the agent, but do not hang on an agent that does not answer.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    let _ = client.stop(stream).await;
                    let _ = client.stop(monitor).await;
                })
                .await;
                return Ok(());
            }
        }
    }
    Err(Failure::new(format!("\n{REMOTE_ENDED}")))
}
