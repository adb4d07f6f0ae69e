//! Multi-host faults: each node a separate process in its own network namespace, wired
//! through bridges in a hub namespace the test creates. Cutting the link between the
//! two bridges partitions the cluster. Needs root (or a user namespace that allows
//! `ip netns`); elsewhere each test says it was skipped, and under CI it fails instead.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serfer::testing::bounds::{COMMAND, DELIVERY, FAILURE, LOCAL_PUSH_PULL, REJOIN, START};
use serfer::testing::process::{example, run_sync, try_run_sync, wait_all as wait, Proc};
use serfer::testing::TempDir;

const PORT: u16 = 7946;

/// Runs `ip` with `args`; Err with its stderr when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = try_run_sync(Command::new("ip").args(args), COMMAND)
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.code == 0 {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), out.stderr.trim()))
    }
}

/// Namespaces, bridges and veths for `n` hosts; hosts `0..left` on one bridge and
/// the rest on the other. Dropping it deletes every namespace it made.
struct Net {
    prefix: String,
    made: Vec<String>,
    left: usize,
}

impl Net {
    /// `None` (after printing why) when this machine refuses network namespaces.
    fn new(test: &str, n: usize, left: usize) -> Option<Net> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "sfr{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Net {
            prefix,
            made: Vec::new(),
            left,
        };
        match net.build(n) {
            Ok(()) => Some(net),
            Err(e) => {
                let msg = format!("{test}: SKIPPED, network namespaces unavailable: {e}");
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("{msg} (CI must run the multi-host tests)");
                }
                // libtest captures `eprintln!` but not a direct write: the skip stays visible.
                let _ = writeln!(std::io::stderr(), "{msg}");
                None
            }
        }
    }

    fn hub(&self) -> String {
        format!("{}-hub", self.prefix)
    }

    fn host(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    fn addr(i: usize) -> String {
        format!("10.77.0.{}", i + 1)
    }

    fn add_ns(&mut self, name: &str) -> Result<(), String> {
        ip(&["netns", "add", name])?;
        self.made.push(name.to_owned());
        ip(&["-n", name, "link", "set", "lo", "up"])
    }

    fn build(&mut self, n: usize) -> Result<(), String> {
        let hub = self.hub();
        self.add_ns(&hub)?;
        for br in ["br0", "br1"] {
            ip(&["-n", &hub, "link", "add", br, "type", "bridge"])?;
            ip(&["-n", &hub, "link", "set", br, "up"])?;
        }
        // The link between the halves: taking it down is the partition.
        ip(&[
            "-n", &hub, "link", "add", "la", "type", "veth", "peer", "name", "lb",
        ])?;
        ip(&["-n", &hub, "link", "set", "la", "master", "br0", "up"])?;
        ip(&["-n", &hub, "link", "set", "lb", "master", "br1", "up"])?;
        for i in 0..n {
            let host = self.host(i);
            self.add_ns(&host)?;
            let port = format!("v{i}");
            ip(&[
                "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &host,
            ])?;
            let br = if i < self.left { "br0" } else { "br1" };
            ip(&["-n", &hub, "link", "set", &port, "master", br, "up"])?;
            let cidr = format!("{}/24", Self::addr(i));
            ip(&["-n", &host, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &host, "link", "set", "eth0", "up"])?;
        }
        Ok(())
    }

    fn partition(&self, cut: bool) {
        let state = if cut { "down" } else { "up" };
        for end in ["la", "lb"] {
            ip(&["-n", &self.hub(), "link", "set", end, state]).unwrap();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// One `serfer-probe` process in host `i`'s namespace, once it says `READY`; killed
/// by PID when dropped.
fn start_probe(net: &Net, i: usize, extra: &[String]) -> Proc {
    let mut p = spawn_probe(net, i, extra);
    let ready = format!("READY {}", p.name());
    wait(&mut [&mut p], START, "start", |p| p[0].has(&ready));
    p
}

/// Starts a probe without waiting for it to come up.
fn spawn_probe(net: &Net, i: usize, extra: &[String]) -> Proc {
    let name = format!("n{i}");
    let bind = format!("{}:{PORT}", Net::addr(i));
    let mut args: Vec<String> = vec![
        "netns".into(),
        "exec".into(),
        net.host(i),
        example("serfer-probe")
            .into_os_string()
            .into_string()
            .unwrap(),
        "--node".into(),
        name.clone(),
        "--bind".into(),
        bind,
        "--profile".into(),
        "local".into(),
        "--log".into(),
        "warn".into(),
    ];
    args.extend(extra.iter().cloned());
    // `ip netns exec` execs the probe, so this PID is the probe's.
    Proc::spawn(
        name,
        Command::new("ip")
            .args(&args)
            // Kept open: the probe reads commands from it.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    )
}

/// Tells probe `p` to send a user event; waits until it says it did.
fn send(p: &mut Proc, name: &str, payload: &str) {
    writeln!(p.stdin(), "send {name} {payload}").unwrap();
    let sent = format!("SENT {name} {payload}");
    wait(&mut [&mut *p], COMMAND, "send", |p| p[0].has(&sent));
}

/// Every probe has seen `line` at least once.
fn all_have(probes: &[&mut Proc], line: &str) -> bool {
    probes.iter().all(|p| p.has(line))
}

/// Counts of each `EVENT` line per probe, for exactly-once checks.
fn event_counts(p: &Proc) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in p.seen().iter().filter(|l| l.starts_with("EVENT ")) {
        *m.entry(l.clone()).or_default() += 1;
    }
    m
}

fn join_flag(i: usize) -> Vec<String> {
    vec!["--join".into(), format!("{}:{PORT}", Net::addr(i))]
}

fn start_cluster(net: &Net, n: usize, extra: impl Fn(usize) -> Vec<String>) -> Vec<Proc> {
    let mut probes = vec![start_probe(net, 0, &extra(0))];
    for i in 1..n {
        let mut args = join_flag(0);
        args.extend(extra(i));
        probes.push(start_probe(net, i, &args));
    }
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let mut refs: Vec<&mut Proc> = probes.iter_mut().collect();
    wait(&mut refs, Duration::from_secs(60), "converge", |ps| {
        ps.iter().all(|p| {
            names
                .iter()
                .filter(|n| *n != p.name())
                .all(|n| p.has(&format!("MEMBER Join {n}")))
        })
    });
    probes
}

#[test]
fn a_killed_node_restarts_from_its_snapshot_and_gets_what_it_missed_once() {
    let test = "kill_restart";
    let Some(net) = Net::new(test, 5, 5) else {
        return;
    };
    let dir = TempDir::new(test);
    let snap = |i: usize| vec!["--snapshot".into(), dir.arg(&format!("n{i}.snap"))];
    let mut probes = start_cluster(&net, 5, snap);

    send(&mut probes[0], "before", "0");
    {
        // Sent right after the start: DELIVERY counts the first push/pull's
        // stagger, which a node the gossip missed waits for.
        let mut all: Vec<&mut Proc> = probes.iter_mut().collect();
        wait(&mut all, DELIVERY, "event before the kill", |ps| {
            all_have(ps, "EVENT before 0")
        });
    }

    probes[4].kill();
    {
        let mut rest: Vec<&mut Proc> = probes[..4].iter_mut().collect();
        wait(&mut rest, FAILURE, "n4 seen failed", |ps| {
            all_have(ps, "MEMBER Failed n4")
        });
    }
    for k in 0..5 {
        send(&mut probes[0], "missed", &k.to_string());
    }

    // Same snapshot, no --join: the snapshot names the cluster to go back to.
    probes[4] = start_probe(&net, 4, &snap(4));
    let mut all: Vec<&mut Proc> = probes.iter_mut().collect();
    wait(
        &mut all,
        Duration::from_secs(120),
        "n4 back and caught up",
        |ps| {
            ps[..4].iter().all(|p| p.count("MEMBER Join n4") >= 2)
                && (0..5).all(|k| ps[4].has(&format!("EVENT missed {k}")))
        },
    );
    let restarted = event_counts(&probes[4]);
    eprintln!("restarted node saw: {restarted:?}");
    for k in 0..5 {
        assert_eq!(restarted[&format!("EVENT missed {k}")], 1, "{restarted:?}");
    }
    // Serf writes the event clock to the snapshot every 500 ms and flushes every
    // 500 ms, so an event seen in the last second before a crash may come again after
    // the restart (at-least-once, as in Go's Serf). Never twice more.
    let before = restarted.get("EVENT before 0").copied().unwrap_or(0);
    eprintln!("the event seen just before the crash came again {before} time(s)");
    assert!(before <= 1, "{restarted:?}");
}

#[test]
fn a_healed_partition_delivers_both_sides_events_everywhere_once() {
    let test = "partition";
    let Some(net) = Net::new(test, 6, 3) else {
        return;
    };
    let mut probes = start_cluster(&net, 6, |_| Vec::new());

    net.partition(true);
    {
        let mut all: Vec<&mut Proc> = probes.iter_mut().collect();
        wait(
            &mut all,
            Duration::from_secs(60),
            "halves see each other failed",
            |ps| {
                ps.iter().enumerate().all(|(i, p)| {
                    let other = if i < 3 { 3..6 } else { 0..3 };
                    other.clone().all(|j| p.has(&format!("MEMBER Failed n{j}")))
                })
            },
        );
    }
    for k in 0..3 {
        send(&mut probes[0], "left", &k.to_string());
        send(&mut probes[3], "right", &k.to_string());
    }
    let events: Vec<String> = (0..3)
        .flat_map(|k| [format!("EVENT left {k}"), format!("EVENT right {k}")])
        .collect();

    net.partition(false);
    let mut all: Vec<&mut Proc> = probes.iter_mut().collect();
    let healed = Instant::now();
    wait(
        &mut all,
        Duration::from_secs(150),
        "healed and delivered",
        |ps| {
            ps.iter().enumerate().all(|(i, p)| {
                let other = if i < 3 { 3..6 } else { 0..3 };
                other
                    .clone()
                    .all(|j| p.count(&format!("MEMBER Join n{j}")) >= 2)
                    && events.iter().all(|e| p.has(e))
            })
        },
    );
    eprintln!("healed and delivered in {:?}", healed.elapsed());
    for p in &probes {
        let counts = event_counts(p);
        for e in &events {
            assert_eq!(counts[e], 1, "{}: {counts:?}", p.name());
        }
    }
}

/// Serf's known limit: a key rotation reaches only the nodes that are up. A node that
/// was down comes back with its old key, cannot talk to anyone, and stays out until
/// the operator restarts it with the current key.
#[test]
fn a_node_down_during_a_key_rotation_stays_out_until_given_the_new_key() {
    let test = "key_rotation";
    let Some(net) = Net::new(test, 3, 3) else {
        return;
    };
    let dir = TempDir::new(test);
    let old = serfer::Key::generate().to_string();
    let new = serfer::Key::generate().to_string();
    let args = |i: usize, key: &str| {
        vec![
            "--snapshot".into(),
            dir.arg(&format!("n{i}.snap")),
            "--encrypt".into(),
            key.to_owned(),
        ]
    };
    let mut probes = start_cluster(&net, 3, |i| args(i, &old));

    probes[2].kill();
    {
        let mut up: Vec<&mut Proc> = probes[..2].iter_mut().collect();
        wait(&mut up, FAILURE, "n2 seen failed", |ps| {
            all_have(ps, "MEMBER Failed n2")
        });
    }
    // Two answer. The third, down, cannot; serf-rs counts it among the nodes
    // asked, Go's Serf (and the native engine) counts only live members.
    let asked = match serfer::testing::engine() {
        serfer::Engine::SerfRs => 3,
        serfer::Engine::Native => 2,
    };
    // A key operation is a query: a node kept off the CPU past the query's
    // timeout (Go's default, 1.6 s on the local preset) is missing from the
    // report, as from `serf keys`, and the operator runs it again; each
    // operation is idempotent. Every live node must still answer one of them.
    const ATTEMPTS: usize = 3;
    for (op, key) in [("install", &new), ("use", &new), ("remove", &old)] {
        let done = format!("KEYS {op} 2/{asked}");
        let prefix = format!("KEYS {op} ");
        let reports = |p: &Proc| p.seen().iter().filter(|l| l.starts_with(&prefix)).count();
        for attempt in 1..=ATTEMPTS {
            let before = reports(&probes[0]);
            writeln!(probes[0].stdin(), "{op} {key}").unwrap();
            wait(&mut [&mut probes[0]], DELIVERY, op, |p| {
                reports(p[0]) > before
            });
            if probes[0].has(&done) {
                break;
            }
            assert!(
                attempt < ATTEMPTS,
                "{op}: no report of {done:?} in {ATTEMPTS} attempts: {:?}",
                probes[0].seen()
            );
        }
    }
    send(&mut probes[0], "rotated", "0");

    // Back with the key it had: every packet it sends or gets fails to decrypt.
    probes[2] = start_probe(&net, 2, &args(2, &old));
    // Long enough for a push/pull exchange (the local preset's interval) to be tried.
    let shut_out = Instant::now() + LOCAL_PUSH_PULL + Duration::from_secs(5);
    while Instant::now() < shut_out {
        for p in probes.iter_mut() {
            p.pump();
        }
        assert!(
            probes[..2].iter().all(|p| p.count("MEMBER Join n2") == 1),
            "n2 got back in with a removed key"
        );
        assert!(
            !probes[2].has("EVENT rotated 0"),
            "n2 read an event with a removed key"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The operator's fix: restart it with the current key.
    probes[2].kill();
    probes[2] = start_probe(&net, 2, &args(2, &new));
    let mut all: Vec<&mut Proc> = probes.iter_mut().collect();
    wait(&mut all, REJOIN, "n2 back with the new key", |ps| {
        ps[..2].iter().all(|p| p.count("MEMBER Join n2") >= 2) && ps[2].has("EVENT rotated 0")
    });
    assert_eq!(probes[2].count("EVENT rotated 0"), 1);
}

/// Everything crossing the left bridge while `during` runs, as tcpdump's pcap bytes.
fn capture(net: &Net, during: impl FnOnce()) -> Vec<u8> {
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.hub(),
            "tcpdump",
            "-i",
            "br0",
            "-U",
            "-w",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump (apt-get install tcpdump) runs");
    // stdout is pcap, read raw; the guard reads stderr's lines and kills by PID.
    let mut out = child.stdout.take().unwrap();
    let mut dump = Proc::adopt("tcpdump", child);
    let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = bytes.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    // tcpdump says "listening on" on stderr once it captures.
    dump.wait_for("listening", START);
    during();
    // Packets the kernel filter already took are lost if tcpdump stops before writing
    // them. It writes in order, so once a marker datagram sent after `during` shows
    // up in its output, everything before it is there too.
    let marker = format!("capture-marker-{}", std::process::id());
    let send_marker = format!("printf {marker} > /dev/udp/{}/9", Net::addr(1));
    let deadline = Instant::now() + START;
    while !contains(&bytes.lock().unwrap(), marker.as_bytes()) {
        assert!(Instant::now() < deadline, "tcpdump never wrote the marker");
        run_sync(
            Command::new("ip").args(["netns", "exec", &net.host(0), "bash", "-c", &send_marker]),
            COMMAND,
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // `ip netns exec` execs tcpdump: this PID is tcpdump's.
    dump.signal("-INT");
    reader.join().unwrap();
    let captured = std::mem::take(&mut *bytes.lock().unwrap());
    captured
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// With a key, no event payload crosses the wire in the clear; without one it does
/// (which shows the capture sees the traffic).
#[test]
fn encrypted_gossip_shows_no_plaintext_on_the_wire() {
    let test = "capture";
    let Some(net) = Net::new(test, 5, 5) else {
        return;
    };
    let key = serfer::Key::generate().to_string();
    for encrypted in [true, false] {
        let extra = |_| {
            if encrypted {
                vec!["--encrypt".to_owned(), key.clone()]
            } else {
                Vec::new()
            }
        };
        let mut probes = start_cluster(&net, 3, extra);
        let canary = format!("canary-{}-{encrypted}", std::process::id());
        let pcap = capture(&net, || {
            send(&mut probes[0], "secret", &canary);
            let mut all: Vec<&mut Proc> = probes.iter_mut().collect();
            let got = format!("EVENT secret {canary}");
            wait(&mut all, DELIVERY, "event delivered", |ps| {
                all_have(ps, &got)
            });
        });
        eprintln!("encrypted={encrypted}: captured {} bytes", pcap.len());
        assert!(pcap.len() > 1000, "the capture saw nothing");
        assert_eq!(
            contains(&pcap, canary.as_bytes()),
            !encrypted,
            "encrypted={encrypted}"
        );
        if encrypted {
            // A node with another key, and one with none, are refused at the door.
            let wrong = serfer::Key::generate().to_string();
            for (i, args) in [(3, vec!["--encrypt".to_owned(), wrong]), (4, Vec::new())] {
                let mut intruder = spawn_probe(&net, i, &[join_flag(0), args].concat());
                assert_eq!(intruder.wait_exit(Duration::from_secs(60)).code(), Some(1));
                assert!(
                    !intruder.seen().iter().any(|l| l.starts_with("EVENT")),
                    "{:?}",
                    intruder.seen()
                );
            }
        }
        drop(probes);
    }
}
