//! Serf's agent RPC protocol, so that HashiCorp's `serf` CLI (and `serfer`'s own)
//! drive a Serfer node: `serf members`, `serf event`, `serf query`, `serf keys`, …
//!
//! The server is off by default; turn it on with [`NodeBuilder::rpc`](crate::NodeBuilder::rpc)
//! or `--rpc-addr 127.0.0.1:7373` (and `--rpc-auth TOKEN`) under `serfer::run!()`.

pub mod client;
pub mod codec;
mod server;

pub use server::{RpcServer, RpcSettings};

/// The IPC version Serf speaks.
pub const IPC_VERSION: i64 = 1;

/// The default RPC address, as Serf's.
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:7373";
