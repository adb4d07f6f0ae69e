//! The measurements, made identically for both implementations through their RPC.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serfer_rpc::client::{Client, QueryRecord, QueryRequest};
use serfer_rpc::codec::Fields;
use tokio::sync::mpsc;

use serfer::testing::bounds;
use serfer::testing::rss::rss_kib_of;

use crate::cluster::{self, Impl, Member};
use crate::RunArgs;

/// One measured number.
#[derive(Debug, Clone)]
pub enum Value2 {
    /// Milliseconds.
    Ms(f64),
    /// Milliseconds: quantile `q` of `samples` (kept so the report can say how sure the
    /// ratio to Go is).
    Quantile { ms: f64, q: f64, samples: Vec<f64> },
    /// Kibibytes.
    Kib(f64),
    /// Percent of one core.
    Pct(f64),
    /// A count.
    Count(usize),
    /// Not measured, and why.
    Na(String),
}

/// (metric, cluster size) → implementation → value.
pub type Table = BTreeMap<(usize, &'static str, usize), BTreeMap<Impl, Value2>>;

/// The row of `converge` that counts the clusters it gave up on.
const NOT_CONVERGED: &str = "clusters not converged within 120 s (counted as 120 s above)";
const _: () = assert!(
    CONVERGE_BOUND.as_secs() == 120,
    "NOT_CONVERGED names the bound"
);

/// The metrics, in table order.
pub const METRICS: [&str; 21] = [
    "all N alive (convergence)",
    NOT_CONVERGED,
    "event to last node, p50",
    "event to last node, p90",
    "events a node got only by push/pull (of the timed ones)",
    "query to last node, p50",
    "query to last node, p90",
    "query, all N answers, p50",
    "query, all N answers, p90",
    "query call returns, p50",
    "kill -9 seen failed by all (median)",
    "graceful leave seen by all (median)",
    "idle RSS per node",
    "idle CPU per node",
    "burst of events delivered everywhere (median)",
    "burst of events delivered everywhere (slowest)",
    "burst: time to hand all to the node",
    "400-byte event to last node (median)",
    "largest allowed event to last node (median)",
    "1 KB event to last node (median)",
    "log lines \"handler queue full\" (all nodes)",
];

fn idx(metric: &str) -> usize {
    METRICS
        .iter()
        .position(|m| *m == metric)
        .expect("known metric")
}

pub async fn run_all(args: &RunArgs) -> Result<Table, String> {
    let mut table = Table::new();
    let mut plan: Vec<(Impl, usize)> = Vec::new();
    let serfers: Vec<Impl> = args.engines.iter().map(|&e| Impl::serfer(e)).collect();
    for &n in &args.sizes {
        plan.extend(serfers.iter().map(|&imp| (imp, n)));
        if !args.no_go {
            plan.push((Impl::Go, n));
        }
    }
    for &n in args.serfer_only.iter().filter(|&&n| n > 0) {
        plan.extend(serfers.iter().map(|&imp| (imp, n)));
    }
    for (imp, n) in plan {
        eprintln!("== {imp}, N = {n}");
        // A configuration that fails is reported as such; the others still run.
        let results = match run_one(imp, n, args).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("   failed: {e}");
                vec![("all N alive (convergence)", Value2::Na(e))]
            }
        };
        for (metric, v) in results {
            eprintln!("   {metric}: {v:?}");
            table
                .entry((idx(metric), metric, n))
                .or_default()
                .insert(imp, v);
        }
    }
    Ok(table)
}

/// Nearest-rank quantile `p` of sorted samples (NaN when there are none).
pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Waits 0–199 ms, a different time for each `id` (the same in every run).
///
/// Timed sends must land at random points of the 200 ms gossip cycle. Sent one after
/// another with no pause, each would go out just after the gossip round that delivered
/// the previous one, and then wait a whole round: the loop locks onto the gossip
/// ticker. Worse, it locks only where the previous call ends at a delivery, so it
/// penalised Serfer's queries (done when the answers arrive) and not Go's (done at the
/// timeout, at a random phase): 199 ms against 152 ms at N = 3 before this pause.
async fn random_phase(id: u64) {
    tokio::time::sleep(phase_ms(id)).await;
}

/// 0–199 ms, a different time for each `id` (the same in every run).
fn phase_ms(id: u64) -> Duration {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    Duration::from_millis(x % 200)
}

/// Quantile `q` of the samples, keeping them (sorted) for the report.
fn quantile(mut samples: Vec<f64>, q: f64) -> Value2 {
    samples.sort_by(f64::total_cmp);
    Value2::Quantile {
        ms: pct(&samples, q),
        q,
        samples,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Node {
    proc: Member,
    client: Arc<Client>,
}

/// Receipts of user events: (node index, event id, when).
type Receipt = (usize, u64, Instant);

/// The log file of node `i` of a cluster.
fn log_name(imp: Impl, n: usize, run: usize, i: usize) -> String {
    let short = match imp {
        Impl::Native => "native",
        Impl::SerfRs => "serf-rs",
        Impl::Go => "go",
    };
    format!("{short}-n{n}-r{run}-{i}.log")
}

/// How long a cluster may take to converge before the run gives up on it.
const CONVERGE_BOUND: Duration = Duration::from_secs(120);

/// Why a cluster did not start.
#[derive(Debug)]
enum StartError {
    /// Every process ran, but some node did not see all N alive within
    /// [`CONVERGE_BOUND`].
    NotConverged,
    /// A process could not be started or reached.
    Other(String),
}

impl From<String> for StartError {
    fn from(e: String) -> Self {
        StartError::Other(e)
    }
}

impl From<StartError> for String {
    fn from(e: StartError) -> Self {
        match e {
            StartError::NotConverged => {
                format!("did not converge within {} s", CONVERGE_BOUND.as_secs())
            }
            StartError::Other(e) => e,
        }
    }
}

/// Starts `n` nodes of `imp` and waits until every node sees all `n` alive.
/// Returns the nodes and the convergence time (start of the first process to all
/// alive, without the deliberate pauses between starts). `run` tells apart the
/// clusters of one benchmark process (node names and log files).
async fn start_cluster(
    imp: Impl,
    n: usize,
    serf: &str,
    run: usize,
) -> Result<(Vec<Node>, Duration), StartError> {
    let tag = format!("{:x}", std::process::id());
    let log_dir = std::env::temp_dir().join(format!("serfer-bench-{tag}"));
    std::fs::create_dir_all(&log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let logs: Vec<_> = (0..n)
        .map(|i| log_dir.join(log_name(imp, n, run, i)))
        .collect();
    let started = Instant::now();
    let mut procs = Vec::with_capacity(n);
    let first = cluster::spawn(imp, serf, &format!("b{tag}-{run}-0"), None, &logs[0])
        .map_err(|e| e.to_string())?;
    let seed = first.gossip.clone();
    procs.push(first);
    // The seed must listen before the others try to join it.
    let _ = cluster::connect(&procs[0].rpc, bounds::START).await?;
    // Go's memberlist fixes each ticker's phase when it creates it: its "random
    // stagger" only delays the first read of a ticker that already runs
    // (memberlist state.go `triggerFunc`). Agents started back to back therefore
    // gossip and probe almost in step, in start order, which no real cluster
    // does and which lets a message cross several Go agents within one round.
    // serf-rs staggers its tickers for real. A random pause before each start
    // gives both implementations independent phases, as in production; the
    // pauses are taken out of the convergence time.
    let mut paused = Duration::ZERO;
    for (i, log) in logs.iter().enumerate().skip(1) {
        let pause = phase_ms((run * 1_000 + i) as u64 + 1_000_000);
        tokio::time::sleep(pause).await;
        paused += pause;
        procs.push(
            cluster::spawn(imp, serf, &format!("b{tag}-{run}-{i}"), Some(&seed), log)
                .map_err(|e| e.to_string())?,
        );
    }
    let mut nodes = Vec::with_capacity(n);
    for p in procs {
        let client = Arc::new(cluster::connect(&p.rpc, bounds::START).await?);
        nodes.push(Node { proc: p, client });
    }

    // Convergence: every node sees all N alive. Polled every 10 ms: at 50 ms the
    // poll alone added up to a fifth of a 3-node convergence.
    let converge_by = Instant::now() + CONVERGE_BOUND;
    loop {
        let mut all = true;
        for node in &nodes {
            let alive = node
                .client
                .members()
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .filter(|m| m.status == "alive")
                .count();
            all &= alive == n;
            if !all {
                break;
            }
        }
        if all {
            break;
        }
        if Instant::now() > converge_by {
            return Err(StartError::NotConverged);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((nodes, started.elapsed().saturating_sub(paused)))
}

/// Convergence alone, `runs` times per implementation and size, alternating the
/// implementations: one sample per size in the full run cannot tell a cause from
/// chance.
pub async fn converge_all(
    sizes: &[usize],
    runs: usize,
    serf: &str,
    engine: serfer::Engine,
) -> Result<Table, String> {
    let mut samples: BTreeMap<(usize, Impl), Vec<f64>> = BTreeMap::new();
    let mut stuck: BTreeMap<(usize, Impl), usize> = BTreeMap::new();
    for run in 0..runs {
        for &n in sizes {
            for imp in [Impl::serfer(engine), Impl::Go] {
                stuck.entry((n, imp)).or_default();
                // A cluster that does not converge is a result, not the end of
                // the run: it counts, and as a sample it weighs the bound (the
                // median then errs on the slow side, never the fast one).
                let took = match start_cluster(imp, n, serf, run).await {
                    Ok((nodes, took)) => {
                        drop(nodes); // every process is killed by PID when its handle drops
                        took
                    }
                    Err(StartError::NotConverged) => {
                        *stuck.entry((n, imp)).or_default() += 1;
                        CONVERGE_BOUND
                    }
                    Err(e) => return Err(e.into()),
                };
                eprintln!("   {imp}, N = {n}, run {run}: {:.0} ms", ms(took));
                samples.entry((n, imp)).or_default().push(ms(took));
            }
        }
    }
    let mut table = Table::new();
    for ((n, imp), count) in stuck {
        table
            .entry((idx(NOT_CONVERGED), NOT_CONVERGED, n))
            .or_default()
            .insert(imp, Value2::Count(count));
    }
    for ((n, imp), s) in samples {
        table
            .entry((
                idx("all N alive (convergence)"),
                "all N alive (convergence)",
                n,
            ))
            .or_default()
            .insert(imp, quantile(s, 0.5));
    }
    Ok(table)
}

async fn run_one(
    imp: Impl,
    n: usize,
    args: &RunArgs,
) -> Result<Vec<(&'static str, Value2)>, String> {
    let mut out = Vec::new();
    let tag = format!("{:x}", std::process::id());
    let log_dir = std::env::temp_dir().join(format!("serfer-bench-{tag}"));
    let (mut nodes, convergence) = start_cluster(imp, n, &args.serf, 0).await?;
    out.push(("all N alive (convergence)", Value2::Ms(ms(convergence))));
    let logs: Vec<_> = (0..n)
        .map(|i| log_dir.join(log_name(imp, n, 0, i)))
        .collect();

    // Every node: a stream of `bench` events into one channel, and `bench` queries answered at once.
    let (tx, mut receipts) = mpsc::unbounded_channel::<Receipt>();
    // When each node's stream delivered each query: separates how fast a query spreads
    // from how fast the answers travel back.
    let (qtx, mut query_receipts) = mpsc::unbounded_channel::<Receipt>();
    for (i, node) in nodes.iter().enumerate() {
        let (_, mut records) = node
            .client
            .stream("user:bench,query:bench")
            .await
            .map_err(|e| e.to_string())?;
        let tx = tx.clone();
        let qtx = qtx.clone();
        let client = node.client.clone();
        tokio::spawn(async move {
            while let Some(r) = records.recv().await {
                let at = Instant::now();
                let Ok(f) = Fields::of(&r) else { continue };
                let id = f
                    .bytes("Payload")
                    .ok()
                    .flatten()
                    .and_then(|p| {
                        String::from_utf8_lossy(&p)
                            .split(':')
                            .next()
                            .and_then(|s| s.parse().ok())
                    })
                    .unwrap_or(u64::MAX);
                match f.str("Event").unwrap_or_default().as_str() {
                    "user" => {
                        let _ = tx.send((i, id, at));
                    }
                    "query" => {
                        let _ = qtx.send((i, id, at));
                        let qid = f.uint("ID").unwrap_or(0);
                        let _ = client.respond(qid, b"ok").await;
                    }
                    _ => {}
                }
            }
        });
    }
    drop(tx);
    drop(qtx);

    let sender = nodes[0].client.clone();
    let send_and_wait = |id: u64, size: usize| {
        let sender = sender.clone();
        async move {
            let mut payload = format!("{id}:").into_bytes();
            payload.resize(size.max(payload.len()), b'x');
            random_phase(id).await;
            let t = Instant::now();
            sender
                .event("bench", Some(&payload), false)
                .await
                .map(|_| t)
        }
    };
    // Each node's receipt time, as time since the send, sorted: the spread's
    // shape (which hop is slow), not only its end.
    let bound = bounds::lan_delivery_within(n);
    let wait_arrivals =
        |id: u64, want: usize, sent: Instant, receipts: &mut mpsc::UnboundedReceiver<Receipt>| {
            let deadline = Instant::now() + bound;
            let mut got = HashMap::new();
            loop {
                if got.len() >= want {
                    let mut arrivals: Vec<f64> =
                        got.values().map(|&at: &Instant| ms(at - sent)).collect();
                    arrivals.sort_by(f64::total_cmp);
                    return Some(arrivals);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                match futures_block(receipts, left) {
                    Some((node, rid, at)) if rid == id => {
                        got.insert(node, at);
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
        };
    // Milliseconds until the last of `want` nodes had it.
    let wait_last =
        |id: u64, want: usize, sent: Instant, receipts: &mut mpsc::UnboundedReceiver<Receipt>| {
            wait_arrivals(id, want, sent, receipts).and_then(|a| a.last().copied())
        };

    // Event latency, one at a time.
    let mut lat = Vec::new();
    let mut by_rank: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut by_push_pull = 0;
    for k in 0..args.events {
        let id = k as u64;
        let sent = send_and_wait(id, 0).await.map_err(|e| e.to_string())?;
        if let Some(arrivals) = wait_arrivals(id, n, sent, &mut receipts) {
            let late: Vec<String> = arrivals
                .iter()
                .filter(|&&t| t > GOSSIP_WINDOW_MS)
                .map(|t| format!("{:.1} s", t / 1000.0))
                .collect();
            if !late.is_empty() {
                by_push_pull += 1;
                eprintln!(
                    "   event {id}: gossip missed {} node(s); push/pull delivered it after {}",
                    late.len(),
                    late.join(", ")
                );
            }
            lat.push(*arrivals.last().unwrap_or(&f64::NAN));
            for (rank, t) in arrivals.into_iter().enumerate() {
                by_rank[rank].push(t);
            }
        }
    }
    if args.ranks {
        let p50: Vec<String> = by_rank
            .iter_mut()
            .map(|r| {
                r.sort_by(f64::total_cmp);
                format!("{:.0}", pct(r, 0.5))
            })
            .collect();
        eprintln!(
            "   event arrival by rank (ms since send, p50 over events; rank 1 is the sender): {}",
            p50.join(" ")
        );
    }
    let missing = args.events - lat.len();
    let note = |q: f64| {
        if missing == 0 {
            quantile(lat.clone(), q)
        } else {
            Value2::Na(format!("{missing} events not delivered"))
        }
    };
    out.push(("event to last node, p50", note(0.5)));
    out.push(("event to last node, p90", note(0.9)));
    out.push((
        "events a node got only by push/pull (of the timed ones)",
        Value2::Count(by_push_pull),
    ));

    // Queries: time to all N answers, and when the call itself returns (`done`).
    let mut answers = Vec::new();
    let mut returns = Vec::new();
    let mut spreads = Vec::new();
    for k in 0..args.queries {
        let q = QueryRequest {
            name: "bench".into(),
            payload: format!("{k}:").into_bytes(),
            finish_early: true,
            ..QueryRequest::default()
        };
        random_phase(k as u64).await;
        let t = Instant::now();
        let mut rx = sender.query(&q).await.map_err(|e| e.to_string())?;
        let mut count = 0;
        let mut all_at = None;
        while let Some(rec) = rx.recv().await {
            if let QueryRecord::Response(..) = rec {
                count += 1;
                if count == n {
                    all_at = Some(t.elapsed());
                }
            }
        }
        if let Some(a) = all_at {
            answers.push(ms(a));
        }
        returns.push(ms(t.elapsed()));
        // Every node that answered had the query delivered first, so these are queued.
        if all_at.is_some() {
            if let Some(last) = wait_last(k as u64, n, t, &mut query_receipts) {
                spreads.push(last);
            }
        }
    }
    out.push(("query to last node, p50", quantile(spreads.clone(), 0.5)));
    out.push(("query to last node, p90", quantile(spreads, 0.9)));
    out.push(("query, all N answers, p50", quantile(answers.clone(), 0.5)));
    out.push(("query, all N answers, p90", quantile(answers, 0.9)));
    out.push(("query call returns, p50", quantile(returns, 0.5)));

    // Bursts: back to back, then until every node has every event. Repeated, because a
    // gossip miss that only push/pull repairs is a matter of chance.
    let mut bursts = Vec::new();
    let mut handed = Vec::new();
    let mut failed = None;
    for r in 0..args.bursts as u64 {
        let base = 1_000_000 * (r + 1);
        let range = base..base + args.burst as u64;
        random_phase(base).await;
        let t = Instant::now();
        for k in range.clone() {
            sender
                .event("bench", Some(format!("{k}:").as_bytes()), false)
                .await
                .map_err(|e| e.to_string())?;
        }
        handed.push(ms(t.elapsed()));
        let want = args.burst * n;
        let mut seen = 0usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = t;
        while seen < want {
            match futures_block(
                &mut receipts,
                deadline.saturating_duration_since(Instant::now()),
            ) {
                Some((_, id, at)) if range.contains(&id) => {
                    seen += 1;
                    last = last.max(at);
                }
                Some(_) => {}
                None => break,
            }
        }
        if seen == want {
            bursts.push(ms(last - t));
        } else {
            failed = Some(format!("{seen}/{want} delivered in 120 s"));
        }
    }
    match failed {
        None if !bursts.is_empty() => {
            let slowest = bursts.iter().copied().fold(0.0, f64::max);
            out.push((
                "burst of events delivered everywhere (median)",
                quantile(bursts, 0.5),
            ));
            out.push((
                "burst of events delivered everywhere (slowest)",
                Value2::Ms(slowest),
            ));
        }
        why => {
            let why = why.unwrap_or_else(|| "no burst sent".into());
            out.push((
                "burst of events delivered everywhere (median)",
                Value2::Na(why.clone()),
            ));
            out.push((
                "burst of events delivered everywhere (slowest)",
                Value2::Na(why),
            ));
        }
    }
    out.push(("burst: time to hand all to the node", quantile(handed, 0.5)));

    // Large events: the largest each accepts (found by trying, under the name the
    // measured events use, since the limit counts name plus payload), and 1 KB.
    let mut largest = 1024 - "bench".len();
    while largest > 256 {
        let probe = format!("{}:", u64::MAX - 1);
        let mut p = probe.into_bytes();
        p.resize(largest, b'x');
        if sender.event("bench", Some(&p), false).await.is_ok() {
            break;
        }
        largest -= 4;
    }
    let largest_metric = "largest allowed event to last node (median)";
    eprintln!(
        "   (largest accepted event: {} bytes)",
        largest + "bench".len()
    );
    // Each size is timed `SIZED` times, one at a time: a single sample of a gossip
    // spread says little (it varies by whole gossip rounds).
    const SIZED: u64 = 10;
    for (metric, size, first_id) in [
        (
            "400-byte event to last node (median)",
            400 - "bench".len(),
            2_000_000u64,
        ),
        (largest_metric, largest, 2_100_000),
        (
            "1 KB event to last node (median)",
            1024 - "bench".len(),
            2_200_000,
        ),
    ] {
        if size > largest {
            out.push((
                metric,
                Value2::Na(format!(
                    "refused: the limit is {} bytes",
                    largest + "bench".len()
                )),
            ));
            continue;
        }
        let mut times = Vec::new();
        let mut failure = None;
        for id in first_id..first_id + SIZED {
            match send_and_wait(id, size).await {
                Ok(sent) => match wait_last(id, n, sent, &mut receipts) {
                    Some(last) => times.push(last),
                    None => {
                        failure = Some(format!(
                            "not delivered in {} s",
                            bounds::lan_delivery_within(n).as_secs()
                        ))
                    }
                },
                Err(e) => failure = Some(format!("refused: {e}")),
            }
            if failure.is_some() {
                break;
            }
        }
        out.push((
            metric,
            match failure {
                Some(why) => Value2::Na(why),
                None => quantile(times, 0.5),
            },
        ));
    }

    // Idle cost.
    let pids: Vec<u32> = nodes.iter().map(|n| n.proc.pid()).collect();
    let before: Vec<u64> = pids
        .iter()
        .map(|p| cluster::cpu_ticks(*p).unwrap_or(0))
        .collect();
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let after: Vec<u64> = pids
        .iter()
        .map(|p| cluster::cpu_ticks(*p).unwrap_or(0))
        .collect();
    let rss: Vec<u64> = pids.iter().filter_map(|p| rss_kib_of(*p)).collect();
    let cpu: f64 = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b) as f64)
        .sum::<f64>()
        / (cluster::TICKS_PER_SEC * args.idle_secs as f64 * n as f64)
        * 100.0;
    out.push((
        "idle RSS per node",
        Value2::Kib(rss.iter().sum::<u64>() as f64 / rss.len().max(1) as f64),
    ));
    out.push(("idle CPU per node", Value2::Pct(cpu)));

    // Failure detection: kill -9 the last live nodes one at a time.
    let mut kills = Vec::new();
    let mut alive: Vec<usize> = (0..n).collect();
    for _ in 0..args.kills.min(n.saturating_sub(2)) {
        let victim = alive.pop().expect("more than two nodes");
        let name = nodes[victim].proc.name.clone();
        nodes[victim].proc.kill();
        let t = Instant::now();
        let bound = bounds::lan_failure_within(n);
        if wait_status(&nodes, &alive, &name, "failed", bound).await {
            kills.push(ms(t.elapsed()));
        }
    }
    out.push((
        "kill -9 seen failed by all (median)",
        if kills.is_empty() {
            Value2::Na("too few nodes".into())
        } else {
            quantile(kills, 0.5)
        },
    ));

    // Graceful leaves of up to `kills` more nodes, while three or more stay to watch.
    let mut leaves = Vec::new();
    let mut leave_failure = None;
    for _ in 0..args.kills {
        if alive.len() < 3 {
            break;
        }
        let leaver = alive.pop().expect("checked");
        let name = nodes[leaver].proc.name.clone();
        let t = Instant::now();
        let _ = nodes[leaver].client.leave().await;
        let bound = bounds::lan_delivery_within(n);
        if wait_status(&nodes, &alive, &name, "left", bound).await {
            leaves.push(ms(t.elapsed()));
        } else {
            leave_failure = Some(format!("not seen in {} s", bound.as_secs()));
            break;
        }
    }
    out.push((
        "graceful leave seen by all (median)",
        match leave_failure {
            Some(why) => Value2::Na(why),
            None if leaves.is_empty() => Value2::Na("too few nodes".into()),
            None => quantile(leaves, 0.5),
        },
    ));
    drop(nodes);
    // Both memberlists log this when they drop received gossip for want of handler room.
    let full = cluster::count_lines(&logs, "handler queue full");
    out.push((
        "log lines \"handler queue full\" (all nodes)",
        Value2::Count(full),
    ));
    eprintln!("   (node logs: {})", log_dir.display());
    Ok(out)
}

/// Waits until every node in `watchers` reports `name` with `status`.
async fn wait_status(
    nodes: &[Node],
    watchers: &[usize],
    name: &str,
    status: &str,
    within: Duration,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let mut all = true;
        for &w in watchers {
            let ok = match nodes[w].client.members().await {
                Ok(ms) => ms.iter().any(|m| m.name == name && m.status == status),
                Err(_) => false,
            };
            all &= ok;
            if !all {
                break;
            }
        }
        if all {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Gossip delivers an event everywhere within a few seconds or not at all: past this,
/// an arrival came by push/pull (anti-entropy), which carries recent events too.
const GOSSIP_WINDOW_MS: f64 = 5_000.0;

/// Receives with a timeout from inside a synchronous closure (the runtime is multi-threaded).
fn futures_block(rx: &mut mpsc::UnboundedReceiver<Receipt>, within: Duration) -> Option<Receipt> {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(async { tokio::time::timeout(within, rx.recv()).await.ok().flatten() })
    })
}

/// Memory across a long stream of events: `events` user events sent through the
/// RPC of node 0 of an `n`-node Serfer cluster, as fast as the node takes them
/// (its back-pressure holds the sender to what gossip carries), with every
/// node's RSS sampled every `every` events. A node whose state is bounded
/// (the 512-slot event ring) stays flat once the ring has filled.
pub async fn soak(
    n: usize,
    events: usize,
    every: usize,
    serf: &str,
    engine: serfer::Engine,
) -> Result<String, String> {
    let imp = Impl::serfer(engine);
    let (nodes, _) = start_cluster(imp, n, serf, 0).await?;
    let started = Instant::now();
    let mut rows =
        format!("| events sent | elapsed | RSS per node, MiB ({imp}) |\n|---|---|---|\n");
    let mut sample = |sent: usize| {
        let rss: Vec<String> = nodes
            .iter()
            .map(
                |node| match serfer::testing::rss::rss_kib_of(node.proc.pid()) {
                    Some(kib) => format!("{:.2}", kib as f64 / 1024.0),
                    None => "gone".to_owned(),
                },
            )
            .collect();
        let row = format!(
            "| {sent} | {:.0} s | {} |\n",
            started.elapsed().as_secs_f64(),
            rss.join(" / ")
        );
        eprint!("   {row}");
        rows.push_str(&row);
    };
    for i in 0..events {
        if i % every.max(1) == 0 {
            sample(i);
        }
        let payload = format!("soak-{i:08}");
        nodes[0]
            .client
            .event("soak", Some(payload.as_bytes()), false)
            .await
            .map_err(|e| format!("event {i}: {e}"))?;
    }
    sample(events);
    Ok(rows)
}
