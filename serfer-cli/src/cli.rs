//! The command line: global RPC options and one subcommand per `serf` command.

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The default agent address, as serf's.
pub const DEFAULT_RPC_ADDR: &str = serfer_rpc::DEFAULT_RPC_ADDR;

/// Talk to a Serf agent (a Serfer node or HashiCorp's `serf agent`) over its RPC port.
///
/// Flags may also be written serf's way, with one dash (`-rpc-addr=…`, `-detailed`).
#[derive(Debug, Parser)]
#[command(
    name = "serfer",
    version,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub rpc: Rpc,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the agent is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct Rpc {
    /// RPC address of the agent [env: SERFER_RPC_ADDR, else SERF_RPC_ADDR] [default: 127.0.0.1:7373]
    #[arg(
        long,
        global = true,
        help_heading = "Agent",
        value_name = "ADDR",
        env = "SERFER_RPC_ADDR",
        hide_env = true
    )]
    rpc_addr: Option<String>,
    /// RPC auth token of the agent [env: SERFER_RPC_AUTH, else SERF_RPC_AUTH]
    #[arg(
        long,
        global = true,
        help_heading = "Agent",
        value_name = "TOKEN",
        env = "SERFER_RPC_AUTH",
        hide_env = true
    )]
    rpc_auth: Option<String>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Rpc {
    /// `--rpc-addr`, then `SERFER_RPC_ADDR`, then `SERF_RPC_ADDR`, then `127.0.0.1:7373`.
    pub fn addr(&self) -> String {
        self.rpc_addr
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| env_nonempty("SERF_RPC_ADDR"))
            .unwrap_or_else(|| DEFAULT_RPC_ADDR.to_owned())
    }

    /// `--rpc-auth`, then `SERFER_RPC_AUTH`, then `SERF_RPC_AUTH`; empty means none.
    pub fn auth(&self) -> Option<String> {
        self.rpc_auth
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| env_nonempty("SERF_RPC_AUTH"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the members of the cluster, as the agent sees them
    Members(MembersArgs),
    /// Send a user event to the cluster
    Event(EventArgs),
    /// Send a query to the cluster and print the acks and responses
    Query(QueryArgs),
    /// Change the agent's tags
    Tags(TagsArgs),
    /// Tell the agent to join a cluster through one or more members
    Join(JoinArgs),
    /// Make the agent leave the cluster gracefully and shut down
    Leave,
    /// Force a member (usually a failed one) into the `left` state
    ForceLeave(ForceLeaveArgs),
    /// Manage the cluster's encryption keyring
    Keys(KeysArgs),
    /// Print a new random encryption key (no agent needed)
    Keygen,
    /// Stream the agent's logs and events until Ctrl-C
    Monitor(MonitorArgs),
    /// Print the agent's statistics, for operators
    Info(InfoArgs),
    /// Send what an event URI says: serf://HOSTS/event|query/PATH?payload=TEXT;TAG=GLOB
    Send(SendArgs),
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub coalesce: Coalesce,
    /// For queries: how long to wait for answers, as a Go duration
    #[arg(long, value_name = "DURATION", value_parser = crate::args::parse_go_duration)]
    pub timeout: Option<Duration>,
    /// For queries: do not ask nodes to acknowledge
    #[arg(long)]
    pub no_ack: bool,
    /// For queries: output format, text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
    /// The event URI, e.g. serf://web-*/query/kubekit/stats?role=worker
    pub uri: String,
}

#[derive(Debug, Args)]
pub struct MembersArgs {
    /// Add each member's protocol versions (text output only)
    #[arg(long)]
    pub detailed: bool,
    /// Output format: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
    /// Only members whose name matches this regular expression (anchored)
    #[arg(long, value_name = "RE", default_value = "")]
    pub name: String,
    /// Only members whose status (alive, leaving, left, failed) matches (anchored)
    #[arg(long, value_name = "RE", default_value = "")]
    pub status: String,
    /// Only members whose tag KEY matches RE (anchored); repeatable
    #[arg(long, value_name = "KEY=RE")]
    pub tag: Vec<String>,
    /// Deprecated: same as --tag role=RE
    #[arg(long, value_name = "RE", hide = true)]
    pub role: Option<String>,
}

/// `--coalesce[=BOOL]`, of `event` and `send`.
#[derive(Debug, Args)]
pub struct Coalesce {
    /// Whether receivers may coalesce repeated events of this name (--coalesce=false to refuse)
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub coalesce: bool,
}

#[derive(Debug, Args)]
pub struct EventArgs {
    #[command(flatten)]
    pub coalesce: Coalesce,
    /// Event name
    pub name: String,
    /// Payload, sent as the argument's raw bytes
    pub payload: Option<OsString>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Only this node answers; repeatable
    #[arg(long, value_name = "NAME")]
    pub node: Vec<String>,
    /// Only nodes whose tag KEY matches RE answer (not anchored); repeatable
    #[arg(long, value_name = "KEY=RE")]
    pub tag: Vec<String>,
    /// How long to wait for answers, as a Go duration (default: the agent's)
    #[arg(long, value_name = "DURATION", value_parser = crate::args::parse_go_duration)]
    pub timeout: Option<Duration>,
    /// Do not ask nodes to acknowledge the query
    #[arg(long)]
    pub no_ack: bool,
    /// Relay each answer through this many other members as well (0-255)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub relay_factor: i64,
    /// Output format: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
    /// Query name
    pub name: String,
    /// Payload, sent as the argument's raw bytes
    pub payload: Option<OsString>,
}

#[derive(Debug, Args)]
pub struct TagsArgs {
    /// Create or change a tag; repeatable
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove a tag, if present; repeatable
    #[arg(long, value_name = "KEY")]
    pub delete: Vec<String>,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Replay past user events to the agent's handlers
    #[arg(long)]
    pub replay: bool,
    /// Addresses of existing members (host, host:port, [v6]:port or name/host:port)
    #[arg(value_name = "ADDR", required = true, num_args = 1..)]
    pub addrs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ForceLeaveArgs {
    /// Erase the member completely instead of keeping it as `left`
    #[arg(long)]
    pub prune: bool,
    /// Node name
    pub node: String,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// List the keys installed in the cluster and how many members hold each
    #[arg(long)]
    pub list: bool,
    /// Install a key on every member (for decryption until it is made primary)
    #[arg(long, value_name = "KEY")]
    pub install: Option<String>,
    /// Make an installed key the primary key (used for encryption) on every member
    #[arg(long = "use", value_name = "KEY")]
    pub use_key: Option<String>,
    /// Remove a key from every member (not the primary key)
    #[arg(long, value_name = "KEY")]
    pub remove: Option<String>,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Lowest level of the agent's log lines to show: TRACE, DEBUG, INFO, WARN or ERR
    #[arg(long, value_name = "LEVEL", default_value = "INFO")]
    pub log_level: String,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
}

/// The rendered `--help` of one subcommand (serf prints it after some usage errors).
pub fn subcommand_help(name: &str) -> String {
    let mut root = <Cli as clap::CommandFactory>::command();
    root.build();
    match root.find_subcommand_mut(name) {
        Some(sub) => sub.render_help().to_string(),
        None => root.render_help().to_string(),
    }
}
