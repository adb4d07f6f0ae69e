//! `serfer`: a command-line client for Serf's agent RPC (msgpack over TCP), for
//! Serfer nodes started with an RPC address and for HashiCorp's `serf agent` alike.
//!
//! Each subcommand sends what the `serf` subcommand of the same name sends and
//! prints what it prints: `members`, `event`, `query`, `tags`, `join`, `leave`,
//! `force-leave`, `keys`, `keygen`, `monitor` and `info`. Exit status is 0 on
//! success and 1 on any failure, usage errors included.
//!
//! Where it differs from `serf`, on purpose:
//! - **Errors go to stderr** (serf prints everything on stdout), so stdout carries
//!   only results; the wording of every message is serf's.
//! - Flags are clap's `--flag`; serf's single-dash spelling (`-rpc-addr=…`) is
//!   accepted too. The address also comes from `SERFER_RPC_ADDR` before
//!   `SERF_RPC_ADDR`, and the token from `SERFER_RPC_AUTH` before `SERF_RPC_AUTH`.
//! - Tags, key lists and event fields are printed sorted where serf prints them
//!   in Go's random map order.
//! - `keys` without an action and `tags` without a change print their help on
//!   stderr (serf: stdout).

mod args;
mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let argv = args::normalize(std::env::args_os(), &cli::Cli::command());
    let parsed = cli::Cli::command()
        .try_get_matches_from(argv)
        .and_then(|m| cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` and `--version` succeed; usage errors exit 1, as serf's.
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if matches!(cli.command, cli::Command::Keygen) {
        return ExitCode::from(commands::run_keygen());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::err(&format!("Error starting the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    // Nothing left to wait for: the client's reader task is abandoned.
    runtime.shutdown_background();
    ExitCode::from(code)
}
