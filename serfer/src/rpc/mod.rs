//! The server side of Serf's agent RPC protocol, so that HashiCorp's `serf` CLI (and
//! `serfer`'s own) drive a Serfer node: `serf members`, `serf event`, `serf query`,
//! `serf keys`, …
//!
//! The framing and the client live in the `serfer-rpc` crate. The server is off by
//! default; turn it on with [`NodeBuilder::rpc`](crate::NodeBuilder::rpc) or
//! `--rpc-addr 127.0.0.1:7373` (and `--rpc-auth TOKEN`) under `serfer::run!()`.

mod commands;
mod go_words;
mod requests;
mod server;
mod streams;

pub(crate) use serfer_rpc::{codec, IPC_VERSION};
pub(crate) use server::{RpcServer, RpcSettings};
