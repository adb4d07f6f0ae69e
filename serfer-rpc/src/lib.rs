//! Serf's agent RPC protocol, as HashiCorp's `serf` CLI speaks it: the msgpack
//! framing ([`codec`]) and an async [`client`].
//!
//! The server side lives in the `serfer` runtime, which answers these requests for
//! a running node; the `serfer` CLI and the cluster benchmark use the client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), serfer_rpc::client::ClientError> {
//! let client = serfer_rpc::client::Client::connect(serfer_rpc::DEFAULT_RPC_ADDR, None).await?;
//! for m in client.members().await? {
//!     println!("{} {}", m.name, m.status);
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod codec;

/// The IPC version Serf speaks.
pub const IPC_VERSION: i64 = 1;

/// The default RPC address, as Serf's.
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:7373";
