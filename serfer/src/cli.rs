//! `serfer::run!()`: a whole node program from the command line.
//!
//! The node's settings come from flags or environment variables:
//!
//! | flag | environment | meaning |
//! |---|---|---|
//! | `--node NAME` | `SERFER_NODE` | node name (default: host name + suffix) |
//! | `--bind ADDR` | `SERFER_BIND` | `ip:port` to listen on (default `127.0.0.1:7946`) |
//! | `--advertise ADDR` | `SERFER_ADVERTISE` | `ip:port` others use to reach this node |
//! | `--join ADDR` (repeatable) | `SERFER_JOIN` (comma-separated) | nodes to join through |
//! | `--encrypt KEY` (repeatable) | `SERFER_ENCRYPT` (comma-separated) | base64 keys, first is primary |
//! | `--tag K=V` (repeatable) | `SERFER_TAG` (comma-separated) | tags |
//! | `--snapshot PATH` | `SERFER_SNAPSHOT` | snapshot file |
//! | `--profile lan\|wan\|local` | `SERFER_PROFILE` | failure-detection timing |
//! | `--wire serf-rs\|hashicorp` | `SERFER_WIRE` | gossip wire format; `hashicorp` to join `serf agent`s |
//! | `--replay` | `SERFER_REPLAY` | replay recent events on join |
//! | `--log LEVEL` | `SERFER_LOG` | log level (default `info`) |
//! | `--rpc-addr ADDR` | `SERFER_RPC_ADDR` | serve Serf's agent RPC (off by default) |
//! | `--rpc-auth TOKEN` | `SERFER_RPC_AUTH` | token RPC clients must present |
//! | `--handlers` | | print the handlers found and exit |

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use clap::Parser;

use crate::{Node, NodeBuilder, Profile, Wire};

/// The command-line settings of a node started by [`run!`](crate::run).
#[derive(Debug, Clone, Parser)]
#[command(about = "A Serfer cluster node", long_about = None)]
pub struct Args {
    /// Node name, unique in the cluster (default: host name plus a short random suffix).
    #[arg(long, env = "SERFER_NODE", value_name = "NAME")]
    pub node: Option<String>,
    /// Address to listen on, `ip:port` (port 0 picks a free one).
    #[arg(
        long,
        env = "SERFER_BIND",
        value_name = "ADDR",
        default_value = "127.0.0.1:7946"
    )]
    pub bind: String,
    /// Address other nodes should use to reach this one, `ip:port`.
    #[arg(long, env = "SERFER_ADVERTISE", value_name = "ADDR")]
    pub advertise: Option<String>,
    /// A node to join through, `host:port`; repeat for several.
    #[arg(long, env = "SERFER_JOIN", value_name = "ADDR", value_delimiter = ',')]
    pub join: Vec<String>,
    /// An encryption key (base64 of 16, 24 or 32 bytes); repeat for several, the first is primary.
    #[arg(
        long,
        env = "SERFER_ENCRYPT",
        value_name = "KEY",
        value_delimiter = ','
    )]
    pub encrypt: Vec<String>,
    /// A tag, `key=value`; repeat for several.
    #[arg(long = "tag", env = "SERFER_TAG", value_name = "KEY=VALUE", value_delimiter = ',', value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Snapshot file: remembers the cluster across restarts.
    #[arg(long, env = "SERFER_SNAPSHOT", value_name = "PATH")]
    pub snapshot: Option<std::path::PathBuf>,
    /// Failure-detection timing: lan, wan or local.
    #[arg(
        long,
        env = "SERFER_PROFILE",
        value_name = "PROFILE",
        default_value = "lan"
    )]
    pub profile: Profile,
    /// Gossip wire format: serf-rs, or hashicorp to be a peer of HashiCorp's
    /// `serf agent`. Every node of a cluster must speak the same one.
    #[arg(
        long,
        env = "SERFER_WIRE",
        value_name = "WIRE",
        default_value = "serf-rs"
    )]
    pub wire: Wire,
    /// The user-event size limit in bytes, name plus payload (at most 1024).
    #[arg(
        long,
        env = "SERFER_MAX_EVENT_SIZE",
        value_name = "BYTES",
        default_value_t = 512
    )]
    pub max_event_size: usize,
    /// Replay the cluster's recent user events when joining.
    #[arg(long, env = "SERFER_REPLAY")]
    pub replay: bool,
    /// Log level: error, warn, info, debug or trace (the gossip engine logs at warn and above).
    #[arg(long, env = "SERFER_LOG", value_name = "LEVEL", default_value = "info")]
    pub log: tracing::Level,
    /// Serve Serf's agent RPC here (e.g. 127.0.0.1:7373), for the `serf` and `serfer` CLIs.
    #[arg(long, env = "SERFER_RPC_ADDR", value_name = "ADDR")]
    pub rpc_addr: Option<String>,
    /// Token RPC clients must present.
    #[arg(long, env = "SERFER_RPC_AUTH", value_name = "TOKEN")]
    pub rpc_auth: Option<String>,
    /// Print the handlers found in this binary and exit.
    #[arg(long)]
    pub handlers: bool,
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not a tag: write it as key=value")),
    }
}

impl Args {
    /// Applies these settings on top of `builder` (flags win over what the builder set).
    pub fn apply(&self, mut b: NodeBuilder) -> NodeBuilder {
        if let Some(n) = &self.node {
            b = b.name(n.clone());
        }
        b = b
            .bind(self.bind.clone())
            .profile(self.profile)
            .wire(self.wire)
            .max_event_size(self.max_event_size);
        if let Some(a) = &self.advertise {
            b = b.advertise(a.clone());
        }
        for j in &self.join {
            b = b.join(j.clone());
        }
        for k in &self.encrypt {
            b = b.key(k.clone());
        }
        for (k, v) in &self.tags {
            b = b.tag(k.clone(), v.clone());
        }
        if let Some(s) = &self.snapshot {
            b = b.snapshot(s.clone());
        }
        if self.replay {
            b = b.replay_old_events(true);
        }
        if let Some(addr) = &self.rpc_addr {
            b = b.rpc(addr.clone(), self.rpc_auth.clone());
        }
        b
    }
}

/// What the body given to [`run!`](crate::run) may return: `()` or `Result<(), E: Display>`.
pub trait BodyOutput {
    /// `Err` carries the message to print.
    fn into_result(self) -> Result<(), String>;
}

impl BodyOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> BodyOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Sets up logging: the program at `level`, the gossip engine's chatter at warn.
pub fn init_logging(level: tracing::Level) {
    // Targets match by prefix: `serf` would also silence `serfer`, so name serf-rs's
    // crates exactly (the `serf` crate itself only re-exports and never logs).
    // serf-rs at warn, or quieter if the node itself is asked to be quieter.
    let engine = level.min(tracing::Level::WARN);
    let filter = format!("{level},serf_core={engine},memberlist={engine}");
    let filter = match std::env::var("RUST_LOG") {
        Ok(custom) if !custom.trim().is_empty() => tracing_subscriber::EnvFilter::new(custom),
        _ => tracing_subscriber::EnvFilter::new(filter),
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(crate::logs::layer())
        .try_init();
}

/// Runs a node program: parses the command line, starts a node with `builder`
/// plus every discovered handler, runs `body` (if any) with the node, and on
/// SIGINT or SIGTERM (or when `body` returns) leaves the cluster gracefully.
/// Exits the process with 0 on a clean stop, 1 on an error (printed as one line),
/// 2 on a bad command line.
pub fn run<B, F, O>(builder: NodeBuilder, body: Option<B>) -> !
where
    B: FnOnce(Node) -> F,
    F: Future<Output = O> + Send + 'static,
    O: BodyOutput,
{
    let args = parse_args();
    std::process::exit(run_with(args, builder, body))
}

/// The command line, or exit: `--help`/`--version` print and exit 0; anything
/// wrong exits 2 with one line (clap's own report is several).
fn parse_args() -> Args {
    use clap::error::ErrorKind;
    match Args::try_parse() {
        Ok(args) => args,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let report = e.render().to_string();
            let first = report
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("error: invalid command line");
            eprintln!("{first} (see --help)");
            std::process::exit(2)
        }
    }
}

/// An error on one line: a multi-line message (such as every address a join
/// tried) has its lines joined with "; ".
fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.join("; "))
    }
}

/// [`run`] with settings parsed elsewhere; returns the exit code.
pub fn run_with<B, F, O>(args: Args, builder: NodeBuilder, body: Option<B>) -> i32
where
    B: FnOnce(Node) -> F,
    F: Future<Output = O> + Send + 'static,
    O: BodyOutput,
{
    init_logging(args.log);
    let builder = args.apply(builder.discovered_handlers());
    if args.handlers {
        for (kind, name, function) in builder.handlers() {
            println!("{kind}\t{}\t{function}", name.unwrap_or("*"));
        }
        return 0;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let mut found = 0;
        for (kind, name, function) in builder.handlers() {
            found += 1;
            match name {
                Some(name) => tracing::info!("handler: {kind} `{name}` -> {function}"),
                None if matches!(kind, crate::HandlerKind::Member(_)) => {
                    tracing::info!("handler: {kind} -> {function}")
                }
                None => tracing::info!("handler: {kind} (catch-all) -> {function}"),
            }
        }
        if found == 0 {
            tracing::warn!(
                "no handlers found: annotate functions with #[serfer::user_event], #[serfer::query] or \
                 #[serfer::member_event]; handlers in a library crate need `use that_crate as _;` in the binary"
            );
        }
        let node = match builder.start().await {
            Ok(node) => node,
            Err(e) => {
                eprintln!("error: {}", one_line(&e));
                return 1;
            }
        };
        tracing::info!("Starting serfer node on {} (name {})", node.addr(), node.name());
        if let Some(rpc) = node.rpc_addr() {
            tracing::info!("RPC on {rpc}");
        }
        let body = async {
            match body {
                Some(b) => b(node.clone()).await.into_result(),
                None => std::future::pending().await,
            }
        };
        let code = tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("signal received, leaving the cluster");
                0
            }
            r = body => match r {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {}", one_line(&e));
                    1
                }
            },
            r = node.wait() => match r {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {}", one_line(&e));
                    return 1;
                }
            },
        };
        match tokio::time::timeout(Duration::from_secs(15), node.leave()).await {
            Ok(Ok(())) => tracing::info!("left the cluster"),
            Ok(Err(e)) => tracing::warn!("leaving: {e}"),
            Err(_) => tracing::warn!("leaving took longer than 15 s; stopping anyway"),
        }
        code
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts a node program from `main`: every handler found in the binary, settings
/// from the command line (`--help` lists them), graceful leave on Ctrl-C or SIGTERM.
///
/// ```no_run
/// #[serfer::user_event("deploy")]
/// async fn deploy(ev: serfer::UserEvent<String>) {
///     println!("deploying {}", ev.payload());
/// }
///
/// fn main() {
///     serfer::run!()
/// }
/// ```
///
/// Forms: `run!()`, `run!(builder: EXPR)` to start from a configured [`NodeBuilder`],
/// `run!(body: |node| async move { … })` to also run code with the [`Node`]
/// (the program leaves the cluster when the body returns), and
/// `run!(builder: EXPR, body: EXPR)`.
///
/// A program that sends as well as handles, like the guardian example:
///
/// ```no_run
/// serfer::run!(body: |node: serfer::Node| async move {
///     node.event("hello", &"world".to_owned()).await?;
///     Ok::<(), serfer::Error>(())
/// })
/// ```
#[macro_export]
macro_rules! run {
    () => {
        $crate::cli::run($crate::NodeBuilder::new(), $crate::cli::NO_BODY)
    };
    (builder: $builder:expr $(,)?) => {
        $crate::cli::run($builder, $crate::cli::NO_BODY)
    };
    (body: $body:expr $(,)?) => {
        $crate::cli::run(
            $crate::NodeBuilder::new(),
            ::core::option::Option::Some($body),
        )
    };
    (builder: $builder:expr, body: $body:expr $(,)?) => {
        $crate::cli::run($builder, ::core::option::Option::Some($body))
    };
}

/// The absent body (for `run!()` without `body:`).
#[doc(hidden)]
pub const NO_BODY: Option<fn(Node) -> std::future::Ready<()>> = None;
