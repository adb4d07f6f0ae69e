//! `serfer-bench`: starts N Serfer nodes and N HashiCorp `serf agent`s as separate
//! processes on 127.0.0.1 and measures both the same way, through the agent RPC that
//! both serve. See BENCHMARKS.md for the results and what each row means.
//!
//! ```text
//! cargo run --release -p serfer-bench -- run             # the full table
//! cargo run --release -p serfer-bench -- run --sizes 3   # a quick look
//! cargo run --release -p serfer-bench -- sim --sizes 1000 # the native engine, simulated
//! cargo run --release -p serfer-bench -- bursts           # gossip's misses, simulated
//! ```

mod bursts;
mod cluster;
mod measure;
mod report;
mod sim;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Serfer vs HashiCorp serf: cluster benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one Serfer node (what the benchmark starts; takes `serfer::run!()`'s flags).
    Node {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Runs the benchmark and prints the table.
    Run(RunArgs),
    /// Times convergence alone, several times per size, both implementations.
    Converge {
        /// Cluster sizes.
        #[arg(long, value_delimiter = ',', default_value = "3,10")]
        sizes: Vec<usize>,
        /// Clusters started per implementation and size.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// The `serf` binary.
        #[arg(long, default_value = "/usr/bin/serf")]
        serf: String,
        /// Serfer's engine: native (Serfer's default) or serf-rs.
        #[arg(long, default_value = "native")]
        engine: serfer::Engine,
    },
    /// Memory of real node processes across a long stream of user events.
    Soak {
        /// Nodes in the cluster.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// User events sent from the first node.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Sample every node's RSS every this many events.
        #[arg(long, default_value_t = 10_000)]
        every: usize,
        /// Serfer's engine: native (Serfer's default) or serf-rs.
        #[arg(long, default_value = "native")]
        engine: serfer::Engine,
    },
    /// The native engine's Serf cores in its deterministic simulator (virtual
    /// time): convergence, event spread, failure detection, cost.
    Sim(sim::SimArgs),
    /// The native engine's simulator: how often gossip leaves part of a burst
    /// of user events to push/pull, by how gossip picks its targets.
    Bursts(bursts::BurstArgs),
}

/// What to measure.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// Cluster sizes measured for both implementations.
    #[arg(long, value_delimiter = ',', default_value = "3,10,30")]
    pub sizes: Vec<usize>,
    /// Extra sizes measured for Serfer alone (`--serfer-only 0` for none).
    #[arg(long, value_delimiter = ',', default_value = "60")]
    pub serfer_only: Vec<usize>,
    /// User events timed one at a time.
    #[arg(long, default_value_t = 60)]
    pub events: usize,
    /// Queries timed one at a time.
    #[arg(long, default_value_t = 60)]
    pub queries: usize,
    /// kill -9 repetitions, then as many graceful leaves while three nodes remain
    /// (medians reported).
    #[arg(long, default_value_t = 3)]
    pub kills: usize,
    /// Seconds of idle time for RSS and CPU.
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
    /// Events in the burst.
    #[arg(long, default_value_t = 100)]
    pub burst: usize,
    /// How many bursts (the median and the slowest are reported).
    #[arg(long, default_value_t = 3)]
    pub bursts: usize,
    /// Also print when the k-th node received each timed event (p50 per rank), to
    /// see which hop of the spread is slow.
    #[arg(long)]
    pub ranks: bool,
    /// Skip HashiCorp's agent (when `serf` is not installed).
    #[arg(long)]
    pub no_go: bool,
    /// The `serf` binary.
    #[arg(long, default_value = "/usr/bin/serf")]
    pub serf: String,
    /// Serfer's engines, each measured in the same run: native (Serfer's
    /// default), serf-rs, or both (`native,serf-rs`).
    #[arg(long = "engine", value_delimiter = ',', default_value = "native")]
    pub engines: Vec<serfer::Engine>,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Node { args } => {
            let mut argv = vec!["serfer-bench-node".to_owned()];
            argv.extend(args);
            let parsed = <serfer::cli::Args as Parser>::parse_from(argv);
            let code =
                serfer::cli::run_with(parsed, serfer::NodeBuilder::new(), serfer::cli::NO_BODY);
            std::process::exit(code);
        }
        Command::Run(args) => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            let code = rt.block_on(async move {
                match measure::run_all(&args).await {
                    Ok(table) => {
                        println!("{}", report::render(&table, &args));
                        0
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        1
                    }
                }
            });
            // Give killed children a moment to be reaped before exiting.
            std::thread::sleep(Duration::from_millis(100));
            std::process::exit(code);
        }
        Command::Converge {
            sizes,
            runs,
            serf,
            engine,
        } => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            let code = rt.block_on(async move {
                match measure::converge_all(&sizes, runs, &serf, engine).await {
                    Ok(table) => {
                        println!("clusters per size: {runs} each (median)\n");
                        println!("{}", report::rows(&table));
                        0
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        1
                    }
                }
            });
            std::thread::sleep(Duration::from_millis(100));
            std::process::exit(code);
        }
        Command::Soak {
            nodes,
            events,
            every,
            engine,
        } => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            let code = rt.block_on(async move {
                match measure::soak(nodes, events, every, "/usr/bin/serf", engine).await {
                    Ok(table) => {
                        println!("{table}");
                        0
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        1
                    }
                }
            });
            std::thread::sleep(Duration::from_millis(100));
            std::process::exit(code);
        }
        Command::Sim(args) => {
            println!("{}", sim::run_all(&args));
        }
        Command::Bursts(args) => {
            println!("{}", bursts::run_all(&args));
        }
    }
}
