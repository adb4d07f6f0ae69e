//! Per-binary helpers for the CLI tests: the `serfer` binary under test, started with
//! a clean environment. Bounds, process guards, ports and agents come from
//! `serfer::testing`.
#![allow(dead_code)]

use std::process::Stdio;

use serfer::testing::bounds;
use serfer::testing::process::{self, Proc, Run};

/// The binary under test.
pub const SERFER: &str = env!("CARGO_BIN_EXE_serfer");

/// `serfer ARGS…` with a clean environment (no inherited RPC settings), stdin null.
pub fn std_command(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(SERFER);
    cmd.args(args)
        .env_remove("SERFER_RPC_ADDR")
        .env_remove("SERF_RPC_ADDR")
        .env_remove("SERFER_RPC_AUTH")
        .env_remove("SERF_RPC_AUTH")
        .stdin(Stdio::null());
    cmd
}

/// As [`std_command`], for [`run`].
pub fn command(args: &[&str]) -> tokio::process::Command {
    std_command(args).into()
}

/// Runs `serfer ARGS…` to completion (at most [`bounds::COMMAND`]).
pub async fn serfer(args: &[&str]) -> Run {
    run(command(args)).await
}

/// Runs a prepared command to completion (at most [`bounds::COMMAND`]).
pub async fn run(cmd: tokio::process::Command) -> Run {
    process::run(cmd, bounds::COMMAND).await
}

/// A long-running `serfer ARGS…` (e.g. `monitor`), its stdout and stderr read line
/// by line; killed by PID when dropped.
pub fn streaming(args: &[&str]) -> Proc {
    Proc::spawn(
        format!("serfer {}", args.join(" ")),
        std_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// `--rpc-addr=ADDR` for a node.
pub fn rpc(node: &serfer::Node) -> String {
    format!(
        "--rpc-addr={}",
        node.rpc_addr().expect("the node serves RPC")
    )
}
