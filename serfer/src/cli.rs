//! `serfer::run!()`: a whole node program from the command line.
//!
//! The node's settings come from flags, environment variables and `serf agent`
//! configuration files, merged as Go's agent merges them: the files first (each a
//! layer over the ones before; a directory's `*.json` files in lexical order),
//! then flags and variables on top. Single values are replaced by later layers,
//! tags merge key by key, and joins, retry joins and event handlers add up.
//!
//! | flag | environment | config file key | meaning |
//! |---|---|---|---|
//! | `--node NAME` | `SERFER_NODE` | `node_name` | node name (default: host name + suffix) |
//! | `--bind ADDR` | `SERFER_BIND` | `bind` | `ip:port` to listen on (default `127.0.0.1:7946`) |
//! | `--advertise ADDR` | `SERFER_ADVERTISE` | `advertise` | `ip:port` others use to reach this node |
//! | `--join ADDR` (repeatable) | `SERFER_JOIN` (comma-separated) | `start_join` | nodes to join through at start; failing exits 1 |
//! | `--retry-join ADDR` (repeatable) | `SERFER_RETRY_JOIN` | `retry_join` | nodes to join through in the background, retried until it works |
//! | `--retry-interval DURATION` | `SERFER_RETRY_INTERVAL` | `retry_interval` | time between retries (default `30s`, at least `1s`) |
//! | `--retry-max N` | `SERFER_RETRY_MAX` | `retry_max_attempts` | retries before giving up and exiting 1 (default 0: forever) |
//! | `--encrypt KEY` (repeatable) | `SERFER_ENCRYPT` (comma-separated) | `encrypt_key` | base64 keys, first is primary; replaces the program's own keys |
//! | `--keyring-file PATH` | `SERFER_KEYRING_FILE` | `keyring_file` | keys from this JSON list, kept up to date as keys rotate |
//! | `--tag K=V` (repeatable) | `SERFER_TAG` (comma-separated) | `tags` | tags |
//! | `--tags-file PATH` | `SERFER_TAGS_FILE` | `tags_file` | tags from this JSON object, kept up to date as tags change |
//! | `--event-handler [FILTER=]SCRIPT` (repeatable) | `SERFER_EVENT_HANDLER` (one) | `event_handlers` | shell scripts run on events, as `serf agent`'s |
//! | `--snapshot PATH` | `SERFER_SNAPSHOT` | `snapshot_path` | snapshot file |
//! | `--profile lan\|wan\|local` | `SERFER_PROFILE` | `profile` | failure-detection timing |
//! | `--wire hashicorp\|serf-rs` | `SERFER_WIRE` | `wire` | gossip wire format (default `hashicorp`, which `serf agent`s speak; `serf-rs` runs the serf-rs engine) |
//! | `--engine native\|serf-rs` | `SERFER_ENGINE` | `engine` | gossip engine (default `native`, Serfer's own; `serf-rs` speaks its own wire unless `--wire hashicorp`) |
//! | `--max-event-size BYTES` | `SERFER_MAX_EVENT_SIZE` | `user_event_size_limit` | user-event size limit (default 512) |
//! | `--query-size-limit BYTES` | `SERFER_QUERY_SIZE_LIMIT` | `query_size_limit` | largest query sent (default 1024) |
//! | `--query-response-size-limit BYTES` | `SERFER_QUERY_RESPONSE_SIZE_LIMIT` | `query_response_size_limit` | largest query response sent (default 1024) |
//! | `--replay` | `SERFER_REPLAY` | `replay_on_join` | replay recent events on join |
//! | `--log LEVEL` | `SERFER_LOG` | `log_level` | log level (default `info`) |
//! | `--log-json` | `SERFER_LOG_JSON` | `log_json` | log one JSON object per line |
//! | `--syslog` | `SERFER_SYSLOG` | `enable_syslog` | also log to syslog |
//! | `--syslog-facility NAME` | `SERFER_SYSLOG_FACILITY` | `syslog_facility` | syslog facility (default `LOCAL0`) |
//! | `--syslog-socket PATH` | `SERFER_SYSLOG_SOCKET` | `syslog_socket` | syslog socket (default: `/dev/log`, `/var/run/syslog`, `/var/run/log`) |
//! | `--rpc-addr ADDR` | `SERFER_RPC_ADDR` | `rpc_addr` | serve Serf's agent RPC (off by default) |
//! | `--rpc-auth TOKEN` | `SERFER_RPC_AUTH` | `rpc_auth` | token RPC clients must present |
//! | `--config-file FILE` (repeatable) | `SERFER_CONFIG_FILE` | | a `serf agent` JSON configuration file |
//! | `--config-dir DIR` (repeatable) | `SERFER_CONFIG_DIR` | | a directory of them |
//! | `--handlers` | | | print the handlers found and exit |

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::agent::config_file::{self, Layer};
use crate::agent::settings::Settings;
use crate::agent::{logging, one_line, SettingsError};
use crate::{Engine, Node, NodeBuilder, Profile, Wire};

/// The command-line settings of a node started by [`run!`](crate::run).
///
/// A setting left out here (`None`, empty) takes its value from the
/// configuration files, else its default.
#[derive(Debug, Clone, Parser)]
#[command(about = "A Serfer cluster node", long_about = None)]
pub struct Args {
    /// Node name, unique in the cluster (default: host name plus a short random suffix).
    #[arg(long, env = "SERFER_NODE", value_name = "NAME")]
    pub node: Option<String>,
    /// Address to listen on, `ip:port` (port 0 picks a free one) [default: 127.0.0.1:7946].
    #[arg(long, env = "SERFER_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// Address other nodes should use to reach this one, `ip:port`.
    #[arg(long, env = "SERFER_ADVERTISE", value_name = "ADDR")]
    pub advertise: Option<String>,
    /// A node to join through at start, `host:port`; repeat for several. If none answers, the program exits 1.
    #[arg(long, env = "SERFER_JOIN", value_name = "ADDR", value_delimiter = ',')]
    pub join: Vec<String>,
    /// A node to join through in the background, retried until a join succeeds; repeat for several.
    #[arg(
        long,
        env = "SERFER_RETRY_JOIN",
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub retry_join: Vec<String>,
    /// Time between --retry-join attempts, as Go writes durations (30s, 1m) [default: 30s; at least 1s].
    #[arg(long, env = "SERFER_RETRY_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub retry_interval: Option<Duration>,
    /// Failed --retry-join attempts allowed before the program exits 1 [default: 0, no limit].
    #[arg(long, env = "SERFER_RETRY_MAX", value_name = "N")]
    pub retry_max: Option<u32>,
    /// An encryption key (base64 of 16, 24 or 32 bytes); repeat for several, the first is primary.
    /// Replaces any key the program itself sets.
    #[arg(
        long,
        env = "SERFER_ENCRYPT",
        value_name = "KEY",
        value_delimiter = ','
    )]
    pub encrypt: Vec<String>,
    /// Keyring file (JSON list of base64 keys, primary first): read at start, rewritten as keys rotate.
    #[arg(long, env = "SERFER_KEYRING_FILE", value_name = "PATH")]
    pub keyring_file: Option<PathBuf>,
    /// A tag, `key=value`; repeat for several.
    #[arg(long = "tag", env = "SERFER_TAG", value_name = "KEY=VALUE", value_delimiter = ',', value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Tags file (JSON object): read at start, rewritten when tags change. Not with --tag.
    #[arg(long, env = "SERFER_TAGS_FILE", value_name = "PATH")]
    pub tags_file: Option<PathBuf>,
    /// An event handler script, `[FILTER=]SCRIPT` (FILTER: member-join, user:NAME, query:NAME, …, comma-separated); repeat for several.
    #[arg(long, env = "SERFER_EVENT_HANDLER", value_name = "[FILTER=]SCRIPT")]
    pub event_handler: Vec<String>,
    /// Snapshot file: remembers the cluster across restarts.
    #[arg(long, env = "SERFER_SNAPSHOT", value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// Failure-detection timing: lan, wan or local [default: lan].
    #[arg(long, env = "SERFER_PROFILE", value_name = "PROFILE")]
    pub profile: Option<Profile>,
    /// Gossip wire format: hashicorp (a peer of HashiCorp's `serf agent`), or
    /// serf-rs (which runs the serf-rs engine). Every node of a cluster must
    /// speak the same one [default: hashicorp; serf-rs with --engine serf-rs].
    #[arg(long, env = "SERFER_WIRE", value_name = "WIRE")]
    pub wire: Option<Wire>,
    /// Gossip engine: native (Serfer's own, which speaks HashiCorp's wire), or
    /// serf-rs [default: native; serf-rs with --wire serf-rs].
    #[arg(long, env = "SERFER_ENGINE", value_name = "ENGINE")]
    pub engine: Option<Engine>,
    /// The user-event size limit in bytes, name plus payload (at most 1024) [default: 512].
    #[arg(long, env = "SERFER_MAX_EVENT_SIZE", value_name = "BYTES")]
    pub max_event_size: Option<usize>,
    /// The largest query this node sends, encoded, in bytes [default: 1024].
    #[arg(long, env = "SERFER_QUERY_SIZE_LIMIT", value_name = "BYTES")]
    pub query_size_limit: Option<usize>,
    /// The largest query response this node sends, encoded, in bytes [default: 1024].
    #[arg(long, env = "SERFER_QUERY_RESPONSE_SIZE_LIMIT", value_name = "BYTES")]
    pub query_response_size_limit: Option<usize>,
    /// Replay the cluster's recent user events when joining.
    #[arg(long, env = "SERFER_REPLAY")]
    pub replay: bool,
    /// Log level: error, warn, info, debug or trace (the gossip engine logs at warn and above) [default: info].
    #[arg(long, env = "SERFER_LOG", value_name = "LEVEL")]
    pub log: Option<tracing::Level>,
    /// Log one JSON object per line (timestamp, level, target, message, fields).
    #[arg(long, env = "SERFER_LOG_JSON")]
    pub log_json: bool,
    /// Also send the log to the local syslog daemon.
    #[arg(long, env = "SERFER_SYSLOG")]
    pub syslog: bool,
    /// Syslog facility: LOCAL0…LOCAL7, DAEMON, USER, … [default: LOCAL0].
    #[arg(long, env = "SERFER_SYSLOG_FACILITY", value_name = "NAME")]
    pub syslog_facility: Option<String>,
    /// Syslog's datagram socket [default: the first of /dev/log, /var/run/syslog, /var/run/log].
    #[arg(long, env = "SERFER_SYSLOG_SOCKET", value_name = "PATH")]
    pub syslog_socket: Option<PathBuf>,
    /// Serve Serf's agent RPC here (e.g. 127.0.0.1:7373), for the `serf` and `serfer` CLIs.
    #[arg(long, env = "SERFER_RPC_ADDR", value_name = "ADDR")]
    pub rpc_addr: Option<String>,
    /// Token RPC clients must present.
    #[arg(long, env = "SERFER_RPC_AUTH", value_name = "TOKEN")]
    pub rpc_auth: Option<String>,
    /// A `serf agent` JSON configuration file; repeat for several, later ones win.
    #[arg(
        long,
        env = "SERFER_CONFIG_FILE",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub config_file: Vec<PathBuf>,
    /// A directory of `*.json` configuration files, read in lexical order; repeat for several.
    #[arg(
        long,
        env = "SERFER_CONFIG_DIR",
        value_name = "DIR",
        value_delimiter = ','
    )]
    pub config_dir: Vec<PathBuf>,
    /// Print the handlers found in this binary and exit.
    #[arg(long)]
    pub handlers: bool,
    /// `--config-file`s and `--config-dir`s in command-line order, when known.
    #[arg(skip)]
    config_order: Vec<PathBuf>,
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not a tag: write it as key=value")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::agent::duration::parse(s)
}

impl Args {
    /// Parses `argv` (the program name first), keeping the order of
    /// `--config-file` and `--config-dir` as given: Go reads them in that order.
    pub fn try_parse_ordered<I, T>(argv: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let m = Args::command().try_get_matches_from(argv)?;
        let mut args = Args::from_arg_matches(&m)?;
        let mut ordered: Vec<(usize, PathBuf)> = Vec::new();
        for id in ["config_file", "config_dir"] {
            if let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<PathBuf>(id)) {
                ordered.extend(idx.zip(vals.cloned()));
            }
        }
        ordered.sort_by_key(|(i, _)| *i);
        if ordered.len() == args.config_file.len() + args.config_dir.len() {
            args.config_order = ordered.into_iter().map(|(_, p)| p).collect();
        }
        Ok(args)
    }

    /// The flags and variables as one layer of settings.
    fn layer(&self) -> Layer {
        Layer {
            node: self.node.clone(),
            bind: self.bind.clone(),
            advertise: self.advertise.clone(),
            join: self.join.clone(),
            encrypt: self.encrypt.clone(),
            keyring_file: self.keyring_file.clone(),
            tags: self.tags.iter().cloned().collect(),
            tags_file: self.tags_file.clone(),
            snapshot: self.snapshot.clone(),
            profile: self.profile,
            wire: self.wire,
            engine: self.engine,
            max_event_size: self.max_event_size,
            query_size_limit: self.query_size_limit,
            query_response_size_limit: self.query_response_size_limit,
            replay: self.replay,
            log: self.log,
            log_json: self.log_json,
            syslog: self.syslog,
            syslog_facility: self.syslog_facility.clone(),
            syslog_socket: self.syslog_socket.clone(),
            rpc_addr: self.rpc_addr.clone(),
            rpc_auth: self.rpc_auth.clone(),
            event_handlers: self.event_handler.clone(),
            retry_join: self.retry_join.clone(),
            retry_interval: self.retry_interval,
            retry_max: self.retry_max,
            ..Layer::default()
        }
    }

    /// The configuration files, then these flags on top, checked.
    pub(crate) fn settings(&self) -> Result<Settings, SettingsError> {
        let paths = if self.config_order.is_empty() {
            self.config_file
                .iter()
                .chain(&self.config_dir)
                .cloned()
                .collect()
        } else {
            self.config_order.clone()
        };
        let files = config_file::read_paths(&paths)?;
        Settings::resolve(files.merge(self.layer()))
    }

    /// Applies these settings (configuration files included) on top of `builder`:
    /// they win over what the builder set, and keys given here replace the
    /// builder's. A settings error is reported by the builder's `start`.
    pub fn apply(&self, builder: NodeBuilder) -> NodeBuilder {
        match self.settings() {
            Ok(s) => s.apply(builder),
            Err(e) => builder.problem(crate::Error::Config(e.to_string())),
        }
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

impl<E: std::fmt::Display> BodyOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Sets up logging: the program at `level`, the gossip engine's chatter at warn,
/// as text on stderr (coloured only on a terminal without `NO_COLOR`).
pub fn init_logging(level: tracing::Level) {
    let _ = logging::init(&logging::LogOptions {
        level,
        json: false,
        syslog: None,
    });
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
    match Args::try_parse_ordered(std::env::args_os()) {
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

/// [`run`] with settings parsed elsewhere; returns the exit code: 0 on a clean
/// stop, 1 on an error (bad settings, a failed `--join`, `--retry-join` out of
/// attempts, the node stopping by itself).
pub fn run_with<B, F, O>(args: Args, builder: NodeBuilder, body: Option<B>) -> i32
where
    B: FnOnce(Node) -> F,
    F: Future<Output = O> + Send + 'static,
    O: BodyOutput,
{
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            return 1;
        }
    };
    if let Err(e) = logging::init(&settings.log) {
        eprintln!("error: {}", one_line(&e));
        return 1;
    }
    for notice in &settings.notices {
        tracing::warn!("{notice}");
    }
    let builder = settings.apply(builder.discovered_handlers());
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
    let retry = settings.retry.clone();
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
        for script in builder.event_handlers() {
            found += 1;
            tracing::info!("handler: event script {script}");
        }
        // A program with a body does its own work (the guardian only sends).
        if found == 0 && body.is_none() {
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
        // Before saying so: a signal sent once the node says it started is a graceful stop.
        let stop_signal = shutdown_signal();
        tracing::info!("Starting serfer node on {} (name {})", node.addr(), node.name());
        if let Some(rpc) = node.rpc_addr() {
            tracing::info!("RPC on {rpc}");
        }
        // `--retry-join` in the background; only running out of attempts matters here.
        let retry_task = retry.map(|r| tokio::spawn(crate::agent::retry::run(node.clone(), r)));
        let retry_gave_up = async {
            if let Some(task) = retry_task {
                if matches!(task.await, Ok(false)) {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        let body = async {
            match body {
                Some(b) => b(node.clone()).await.into_result(),
                None => std::future::pending().await,
            }
        };
        let code = tokio::select! {
            _ = stop_signal => {
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
            _ = retry_gave_up => {
                // As `serf agent`: no cluster was joined, so there is nothing to leave.
                eprintln!("error: --retry-join: every attempt failed; giving up");
                let _ = node.shutdown().await;
                return 1;
            }
        };
        match tokio::time::timeout(Duration::from_secs(15), node.leave()).await {
            Ok(Ok(())) => tracing::info!("left the cluster"),
            Ok(Err(e)) => tracing::warn!("leaving: {e}"),
            Err(_) => tracing::warn!("leaving took longer than 15 s; stopping anyway"),
        }
        code
    })
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when first polled, so that a signal sent as soon as the node
/// says it started is already a graceful stop.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
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
