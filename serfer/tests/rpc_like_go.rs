//! Differential: the same `serf` command (or the same raw RPC exchange) against
//! HashiCorp's `serf agent` and against a Serfer node started as a process
//! (`serfer::run!()`, the `node` and `deploy` examples), each alone in its own
//! cluster and both named `n1`. Where a script reads the answer, the exit code
//! and the text must be the same, addresses aside.

use std::net::SocketAddr;
use std::path::Path;

use rmpv::Value;
use serfer::testing::agent::{serf_binary, serf_cli, Agent, AgentOptions};
use serfer::testing::bounds::{COMMAND, REPLY, STOP};
use serfer::testing::ports::free_port;
use serfer::testing::process::{Proc, Run};
use serfer_rpc::client::{Client, QueryRequest};
use serfer_rpc::codec::{self, map, Fields, FrameReader};
use tokio::net::TcpStream;

/// Both sides' node name: outputs then differ only in addresses.
const NAME: &str = "n1";

/// The `node` example's key (base64 of "SuperSecureToken").
const KEY: &str = "U3VwZXJTZWN1cmVUb2tlbg==";

/// A key of the right size that no node holds.
const OTHER_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// One side: where it gossips and where it serves RPC.
trait Side {
    fn bind(&self) -> SocketAddr;
    fn rpc(&self) -> SocketAddr;
}

impl Side for Agent {
    fn bind(&self) -> SocketAddr {
        Agent::bind(self)
    }
    fn rpc(&self) -> SocketAddr {
        Agent::rpc(self)
    }
}

/// A Serfer node process, killed by PID when dropped.
struct Ours {
    proc: Proc,
    bind: SocketAddr,
    rpc: SocketAddr,
}

impl Side for Ours {
    fn bind(&self) -> SocketAddr {
        self.bind
    }
    fn rpc(&self) -> SocketAddr {
        self.rpc
    }
}

/// Starts example `example` (`node`: encrypted with [`KEY`]; `deploy`:
/// plaintext) named [`NAME`] with RPC, and waits until it has started (its RPC
/// server is up by then).
fn ours(example: &str, extra: &[&str]) -> Ours {
    let (bind, rpc) = (loopback(), loopback());
    let (b, r) = (bind.to_string(), rpc.to_string());
    let mut args = vec!["--node", NAME, "--bind", &b, "--rpc-addr", &r];
    args.extend_from_slice(extra);
    let mut proc = Proc::example(example, &args, &[]);
    proc.serfer_addr();
    Ours { proc, bind, rpc }
}

/// A `serf agent` named [`NAME`], plaintext or with `key`.
async fn go(serf: &Path, key: Option<&str>, args: Vec<String>) -> Agent {
    let opts = AgentOptions {
        key: key.map(str::to_owned),
        no_event_handler: true,
        log_level: Some("info".into()),
        args,
        ..AgentOptions::default()
    };
    Agent::start(serf, NAME, opts).await
}

/// `serf COMMAND -rpc-addr=… ARGS…` against one side: exit code, and everything
/// printed with that side's addresses replaced by `BIND` and `RPC`.
async fn cli(serf: &Path, side: &dyn Side, command: &str, args: &[&str]) -> (i32, String) {
    let flag = format!("-rpc-addr={}", side.rpc());
    let mut all = vec![command, flag.as_str()];
    all.extend_from_slice(args);
    let Run {
        code,
        stdout,
        stderr,
    } = serf_cli(serf, &all).await;
    let text = format!("{stdout}{stderr}")
        .replace(&side.bind().to_string(), "BIND")
        .replace(&side.rpc().to_string(), "RPC");
    (code, text)
}

/// Runs the command on both sides and asserts the same outcome; Go's.
async fn same(serf: &Path, go: &Agent, ours: &Ours, command: &str, args: &[&str]) -> String {
    let theirs = cli(serf, go, command, args).await;
    let mine = cli(serf, ours, command, args).await;
    assert_eq!(
        mine, theirs,
        "serf {command} {args:?}: Serfer's answer (left) differs from Go's (right)"
    );
    theirs.1
}

async fn client(side: &dyn Side, auth: Option<&str>) -> Client {
    Client::connect(&side.rpc().to_string(), auth)
        .await
        .expect("RPC connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serf_leave_is_answered_every_time_and_the_node_exits() {
    let Some(serf) = serf_binary("serf_leave_is_answered_every_time_and_the_node_exits") else {
        return;
    };
    let agent = go(&serf, Some(KEY), vec![]).await;
    let want = cli(&serf, &agent, "leave", &[]).await;
    assert_eq!(want, (0, "Graceful leave complete\n".to_owned()));
    // Before the reply waited for the leave, the node stopped first about two
    // times in three and `serf leave` printed `Error leaving: EOF`; five fresh
    // nodes in a row all answer.
    for round in 0..5 {
        let mut node = ours("node", &[]);
        let got = cli(&serf, &node, "leave", &[]).await;
        assert_eq!(got, want, "round {round}: {:#?}", node.proc.seen());
        let exited = node.proc.try_wait_exit_async(STOP).await;
        assert!(
            exited.is_some_and(|s| s.success()),
            "round {round}: the node exits 0 after `serf leave`, got {exited:?}: {:#?}",
            node.proc.seen()
        );
    }
}

/// The largest payload under `name` the side accepts (found by bisection; the
/// accepted probes advance its event clock by a few ticks).
async fn largest_payload(c: &Client, name: &str) -> usize {
    let (mut ok, mut refused) = (0usize, 1024usize);
    assert!(c.event(name, Some(b""), false).await.is_ok());
    while refused - ok > 1 {
        let mid = (ok + refused) / 2;
        match c.event(name, Some(&vec![b'a'; mid]), false).await {
            Ok(()) => ok = mid,
            Err(_) => refused = mid,
        }
    }
    ok
}

async fn event_time(c: &Client) -> u64 {
    c.stats().await.expect("stats")["serf"]["event_time"]
        .parse()
        .expect("a number")
}

/// Sends small events until the event clock reads `ltime`.
async fn advance_event_clock(c: &Client, ltime: u64) {
    let now = event_time(c).await;
    assert!(now <= ltime, "the clock is at {now} already");
    for _ in now..ltime {
        c.event("tick", None, false).await.expect("a small event");
    }
    assert_eq!(event_time(c).await, ltime);
}

/// `serf event` takes any name, empty or `_serf_…` too (Go's `UserEvent` checks
/// only the size); so does a Serfer node over RPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_event_name_is_sent_as_go_sends_it() {
    let Some(serf) = serf_binary("any_event_name_is_sent_as_go_sends_it") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &[]);
    for name in ["", "_serf_x"] {
        let out = same(&serf, &agent, &node, "event", &[name, "y"]).await;
        assert!(out.contains("dispatched"), "{name:?}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_event_size_limits_are_gos_to_the_byte() {
    let Some(serf) = serf_binary("user_event_size_limits_are_gos_to_the_byte") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &[]);

    // The two texts: name + payload over the limit, then the encoded message.
    let big = "a".repeat(512);
    let out = same(&serf, &agent, &node, "event", &["x", &big]).await;
    assert_eq!(
        out,
        "Error sending event: user event exceeds configured limit of 512 bytes before encoding\n"
    );
    let near = "a".repeat(500);
    let out = same(&serf, &agent, &node, "event", &["x", &near]).await;
    assert_eq!(
        out,
        "Error sending event: encoded user event exceeds configured limit of 512 bytes after encoding\n"
    );

    // The largest payload each accepts, for a short and a long name.
    let (g, o) = (client(&agent, None).await, client(&node, None).await);
    for name in ["x", &"n".repeat(100)] {
        let theirs = largest_payload(&g, name).await;
        let mine = largest_payload(&o, name).await;
        assert_eq!(
            mine,
            theirs,
            "largest payload under a {}-byte name",
            name.len()
        );
    }

    // The event carries the clock's current time, whose encoding widens from one
    // byte to two at 128: at 127 the largest payload still fits, at 128 it is
    // one byte over.
    let fits = largest_payload(&g, "x").await;
    for (side, c) in [("go", &g), ("serfer", &o)] {
        advance_event_clock(c, 127).await;
        let at_127 = c.event("x", Some(&vec![b'a'; fits]), false).await;
        assert!(at_127.is_ok(), "{side}: {at_127:?}");
        assert_eq!(event_time(c).await, 128, "{side}");
        let at_128 = c.event("x", Some(&vec![b'a'; fits]), false).await;
        assert_eq!(
            at_128.err().map(|e| e.to_string()).as_deref(),
            Some("encoded user event exceeds configured limit of 512 bytes after encoding"),
            "{side}"
        );
        let smaller = c.event("x", Some(&vec![b'a'; fits - 1]), false).await;
        assert!(smaller.is_ok(), "{side}: {smaller:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_commands_without_encryption_ask_the_cluster() {
    let Some(serf) = serf_binary("key_commands_without_encryption_ask_the_cluster") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &[]);
    let no_keyring = "failed:  n1  No keyring to modify (encryption not enabled)\n\n";
    for (args, want) in [
        (
            &["-list"][..],
            "==> Asking all members for installed keys...\n\
             failed:  n1  Keyring is empty (encryption not enabled)\n\n\
             Failed to gather member keys: 1/1 nodes reported failure\n"
                .to_owned(),
        ),
        (
            &["-install", KEY],
            format!("==> Installing key on all members...\n{no_keyring}Error installing key: 1/1 nodes reported failure\n"),
        ),
        (
            &["-use", KEY],
            format!("==> Changing primary key on all members...\n{no_keyring}Error changing primary key: 1/1 nodes reported failure\n"),
        ),
        (
            &["-remove", KEY],
            format!("==> Removing key on all members...\n{no_keyring}Error removing key: 1/1 nodes reported failure\n"),
        ),
        // A key of the wrong size is sent to the cluster too.
        (
            &["-install", "c2hvcnQ="],
            format!("==> Installing key on all members...\n{no_keyring}Error installing key: 1/1 nodes reported failure\n"),
        ),
        (
            &["-install", "not-base64!"],
            "==> Installing key on all members...\n\n\
             Error installing key: illegal base64 data at input byte 3\n"
                .to_owned(),
        ),
        (
            &["-use", "abc"],
            "==> Changing primary key on all members...\n\n\
             Error changing primary key: illegal base64 data at input byte 0\n"
                .to_owned(),
        ),
        (
            &["-remove", "YQ=x"],
            "==> Removing key on all members...\n\n\
             Error removing key: illegal base64 data at input byte 2\n"
                .to_owned(),
        ),
    ] {
        let out = same(&serf, &agent, &node, "keys", args).await;
        assert_eq!(out, want, "serf keys {args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_commands_with_encryption_word_each_refusal_as_go() {
    let Some(serf) = serf_binary("key_commands_with_encryption_word_each_refusal_as_go") else {
        return;
    };
    let agent = go(&serf, Some(KEY), vec![]).await;
    let node = ours("node", &[]);
    let failed = |doing: &str, message: &str, error: &str| {
        format!("==> {doing}\nfailed:  n1  {message}\n\n{error}: 1/1 nodes reported failure\n")
    };
    for (args, want) in [
        (
            &["-use", OTHER_KEY][..],
            failed(
                "Changing primary key on all members...",
                "Requested key is not in the keyring",
                "Error changing primary key",
            ),
        ),
        (
            &["-remove", KEY],
            failed(
                "Removing key on all members...",
                "Removing the primary key is not allowed",
                "Error removing key",
            ),
        ),
        // Five bytes: every keyring refuses to install it, cannot use it, and
        // has nothing to remove.
        (
            &["-install", "c2hvcnQ="],
            failed(
                "Installing key on all members...",
                "key size must be 16, 24 or 32 bytes",
                "Error installing key",
            ),
        ),
        (
            &["-use", "c2hvcnQ="],
            failed(
                "Changing primary key on all members...",
                "Requested key is not in the keyring",
                "Error changing primary key",
            ),
        ),
        (
            &["-remove", "c2hvcnQ="],
            "==> Removing key on all members...\n==> Successfully removed key!\n".to_owned(),
        ),
        (
            &["-list"],
            format!("==> Asking all members for installed keys...\n==> Keys gathered, listing cluster keys...\n\n{KEY}  [1/1]\n"),
        ),
    ] {
        let out = same(&serf, &agent, &node, "keys", args).await;
        assert_eq!(out, want, "serf keys {args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_counts_and_failures_are_worded_as_gos() {
    let Some(serf) = serf_binary("join_counts_and_failures_are_worded_as_gos") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &[]);
    // A peer for each to join, named alike.
    let go_peer = Agent::start(
        &serf,
        "peer",
        AgentOptions {
            no_event_handler: true,
            log_level: Some("info".into()),
            ..AgentOptions::default()
        },
    )
    .await;
    let (pb, pr) = (loopback().to_string(), loopback().to_string());
    let mut our_peer = Proc::example(
        "deploy",
        &["--node", "peer", "--bind", &pb, "--rpc-addr", &pr],
        &[],
    );
    our_peer.serfer_addr();

    // Nothing listens on `closed`: the same address on both sides, so the
    // texts are the same byte for byte.
    let closed = format!("127.0.0.1:{}", free_port());
    let also_closed = format!("127.0.0.1:{}", free_port());
    let refused = |addr: &str| {
        format!("Failed to join 127.0.0.1: dial tcp {addr}: connect: connection refused")
    };
    for (args, want) in [
        (
            vec![closed.clone()],
            format!(
                "Error joining the cluster: 1 error occurred:\n\t* {}\n\n\n",
                refused(&closed)
            ),
        ),
        // `name/addr`: the name labels the address.
        (
            vec![format!("someone/{closed}")],
            format!(
                "Error joining the cluster: 1 error occurred:\n\t* {}\n\n\n",
                refused(&closed)
            ),
        ),
        (
            vec![format!("/{closed}"), also_closed.clone()],
            format!(
                "Error joining the cluster: 2 errors occurred:\n\t\
                 * Failed to resolve /{closed}: empty node name provided\n\t* {}\n\n\n",
                refused(&also_closed)
            ),
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = same(&serf, &agent, &node, "join", &args).await;
        assert_eq!(out, want, "serf join {args:?}");
    }

    // One address answers (given as `name/addr`), one does not: a success that
    // counts the one, as Go's.
    let theirs = cli(
        &serf,
        &agent,
        "join",
        &[&closed, &format!("peer/{}", go_peer.bind())],
    )
    .await;
    let mine = cli(&serf, &node, "join", &[&closed, &format!("peer/{pb}")]).await;
    assert_eq!(mine, theirs);
    assert_eq!(
        theirs,
        (
            0,
            "Successfully joined cluster by contacting 1 nodes.\n".to_owned()
        )
    );
}

/// A raw RPC connection: what a client that does not follow the rules sends.
struct Raw {
    write: tokio::net::tcp::OwnedWriteHalf,
    read: FrameReader<tokio::net::tcp::OwnedReadHalf>,
}

impl Raw {
    async fn connect(side: &dyn Side) -> Raw {
        let s = TcpStream::connect(side.rpc()).await.expect("RPC connects");
        let (read, write) = s.into_split();
        Raw {
            write,
            read: FrameReader::new(read),
        }
    }

    async fn send(&mut self, frames: &[Value]) {
        codec::write(&mut self.write, frames).await.expect("sent");
    }

    /// The next reply header's `(Seq, Error)`, skipping the body that follows
    /// when `body`.
    async fn header(&mut self, body: bool) -> (u64, String) {
        let h = self.next().await;
        let f = Fields::of(&h).expect("a header");
        let header = (f.uint("Seq").unwrap(), f.str("Error").unwrap());
        if body {
            self.next().await;
        }
        header
    }

    async fn next(&mut self) -> Value {
        tokio::time::timeout(REPLY, self.read.next())
            .await
            .expect("an answer within the reply bound")
            .expect("readable")
            .expect("not closed")
    }
}

fn request(fields: &[(&str, Value)]) -> Value {
    Value::Map(
        fields
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

/// Everything the exchange gets back, header by header.
async fn headers_without_seq(side: &dyn Side) -> Vec<(u64, String)> {
    let mut raw = Raw::connect(side).await;
    let mut got = Vec::new();
    raw.send(&[
        request(&[("Command", "handshake".into()), ("Seq", 1.into())]),
        map([("Version", 1.into())]),
    ])
    .await;
    got.push(raw.header(false).await);
    // No `Seq`: the previous one is kept.
    raw.send(&[request(&[("Command", "members".into())])]).await;
    got.push(raw.header(true).await);
    // No `Command`: the previous one is kept, and run again.
    raw.send(&[request(&[("Seq", 7.into())])]).await;
    got.push(raw.header(true).await);
    got
}

/// A command with a body sent before `auth`: the body is read as the next
/// header, which keeps the command and its `Seq`.
async fn body_before_auth(side: &dyn Side) -> Vec<(u64, String)> {
    let mut raw = Raw::connect(side).await;
    let mut got = Vec::new();
    raw.send(&[
        request(&[("Command", "handshake".into()), ("Seq", 1.into())]),
        map([("Version", 1.into())]),
        request(&[("Command", "event".into()), ("Seq", 2.into())]),
        map([
            ("Coalesce", false.into()),
            ("Name", "early".into()),
            ("Payload", Value::Binary(b"x".to_vec())),
        ]),
        request(&[("Command", "auth".into()), ("Seq", 3.into())]),
        map([("AuthKey", "s3cret".into())]),
        request(&[("Command", "members".into()), ("Seq", 4.into())]),
    ])
    .await;
    for body in [false, false, false, false, true] {
        got.push(raw.header(body).await);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_are_kept_from_one_request_to_the_next_as_go_keeps_them() {
    let Some(serf) =
        serf_binary("request_headers_are_kept_from_one_request_to_the_next_as_go_keeps_them")
    else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &[]);
    let theirs = headers_without_seq(&agent).await;
    assert_eq!(
        theirs,
        [(1, String::new()), (1, String::new()), (7, String::new())]
    );
    assert_eq!(headers_without_seq(&node).await, theirs);

    // The agent's token is a config-file setting; Serfer's a flag.
    let config = std::env::temp_dir().join(format!(
        "serfer-rpc-auth-{}-{}.json",
        std::process::id(),
        free_port()
    ));
    std::fs::write(&config, r#"{"rpc_auth": "s3cret"}"#).unwrap();
    let agent = go(
        &serf,
        None,
        vec![format!("-config-file={}", config.display())],
    )
    .await;
    let node = ours("deploy", &["--rpc-auth", "s3cret"]);
    let theirs = body_before_auth(&agent).await;
    let _ = std::fs::remove_file(&config);
    let auth_required = (2, "Authentication required".to_owned());
    assert_eq!(
        theirs,
        [
            (1, String::new()),
            auth_required.clone(),
            auth_required,
            (3, String::new()),
            (4, String::new()),
        ]
    );
    assert_eq!(body_before_auth(&node).await, theirs);
}

/// Streams queries on one connection, asks one from another, and answers it
/// twice: both answers' errors.
async fn respond_twice(side: &dyn Side) -> (Option<String>, Option<String>) {
    let listener = client(side, None).await;
    let (_, mut records) = listener.stream("query").await.expect("stream");
    let asker = client(side, None).await;
    // Go's agent answers `stream` before it registers the stream (a deferred
    // call in `handleStream`), so a query asked at once can miss it: ask again
    // until one arrives, each attempt bounded, all of them within REPLY.
    let deadline = tokio::time::Instant::now() + REPLY;
    let mut asked = Vec::new();
    let record = loop {
        asked.push(
            asker
                .query(&QueryRequest {
                    name: "ask".into(),
                    timeout: COMMAND / 2,
                    ..QueryRequest::default()
                })
                .await
                .expect("query sent"),
        );
        let wait = std::time::Duration::from_millis(500);
        if let Ok(record) = tokio::time::timeout(wait, records.recv()).await {
            break record.expect("open");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no query reached the stream at {} within {REPLY:?}",
            side.rpc()
        );
    };
    let id = Fields::of(&record).unwrap().uint("ID").unwrap();
    let first = listener
        .respond(id, b"one")
        .await
        .err()
        .map(|e| e.to_string());
    let second = listener
        .respond(id, b"two")
        .await
        .err()
        .map(|e| e.to_string());
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_response_to_a_query_is_refused_as_go_refuses_it() {
    let Some(serf) = serf_binary("a_second_response_to_a_query_is_refused_as_go_refuses_it") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &[]);
    let theirs = respond_twice(&agent).await;
    assert_eq!(
        theirs,
        (
            None,
            Some("failed to respond to key query: response already sent".to_owned())
        )
    );
    assert_eq!(respond_twice(&node).await, theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtt_on_a_lone_node_uses_its_own_coordinate() {
    let Some(serf) = serf_binary("rtt_on_a_lone_node_uses_its_own_coordinate") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &[]);
    let out = same(&serf, &agent, &node, "rtt", &[NAME]).await;
    assert_eq!(out, "Estimated n1 <-> n1 rtt: 0.020 ms\n");
    same(&serf, &agent, &node, "rtt", &["nobody"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_report_the_protocol_versions_the_node_speaks() {
    let Some(serf) = serf_binary("members_report_the_protocol_versions_the_node_speaks") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    // serf-rs's wire needs the serf-rs engine, whichever the suite runs on.
    let node = ours("deploy", &["--engine", "serf-rs"]);
    // Go's agent speaks memberlist protocol 2 (of 1–5) and Serf protocol 5 (of
    // 2–5), versions of Go's wire. serf-rs speaks version 1 of its own two
    // protocols and understands no other: every range is that one version.
    let theirs = client(&agent, None).await.members().await.unwrap();
    assert_eq!(theirs[0].delegate, (2, 5, 5));
    let mut raw = Raw::connect(&node).await;
    raw.send(&[
        request(&[("Command", "handshake".into()), ("Seq", 1.into())]),
        map([("Version", 1.into())]),
        request(&[("Command", "members".into()), ("Seq", 2.into())]),
    ])
    .await;
    raw.header(false).await;
    raw.header(false).await;
    let body = raw.next().await;
    let members = body
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("Members")))
        .and_then(|(_, v)| v.as_array())
        .unwrap_or_else(|| panic!("no member list in {body}"));
    let m = Fields::of(&members[0]).unwrap();
    for field in [
        "ProtocolMin",
        "ProtocolCur",
        "ProtocolMax",
        "DelegateMin",
        "DelegateCur",
        "DelegateMax",
    ] {
        assert_eq!(m.uint(field).unwrap(), 1, "{field}");
    }
    let (code, out) = cli(&serf, &node, "members", &["-detailed"]).await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "n1  BIND  alive    Protocol Version: 1  Available Protocol Range: [1, 1]\n"
        )
    );
    let (_, theirs) = cli(&serf, &agent, "members", &["-detailed"]).await;
    assert_eq!(
        theirs,
        "n1  BIND  alive    Protocol Version: 5  Available Protocol Range: [2, 5]\n"
    );
    // On Go's wire a node speaks Go's versions and reports them as Go does.
    let on_go_wire = ours("deploy", &["--wire", "hashicorp"]);
    let (code, out) = cli(&serf, &on_go_wire, "members", &["-detailed"]).await;
    assert_eq!((code, out), (0, theirs));
}

/// Starts `serf monitor -log-level=debug`, sends an event, and waits (bounded)
/// for a `[DEBUG]` line.
async fn monitor_sees_debug(serf: &Path, side: &dyn Side) -> Option<String> {
    let mut monitor = Proc::spawn(
        "serf monitor",
        std::process::Command::new(serf)
            .args([
                "monitor",
                &format!("-rpc-addr={}", side.rpc()),
                "-log-level=debug",
            ])
            .env_remove("SERF_RPC_ADDR")
            .env_remove("SERF_RPC_AUTH")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped()),
    );
    let deadline = tokio::time::Instant::now() + REPLY;
    loop {
        // Each `serf event` is an RPC connection and an event: both are logged
        // at debug level by Go's agent.
        cli(serf, side, "event", &["monitored", "x"]).await;
        if let Some(line) = monitor
            .wait_line_async(std::time::Duration::from_millis(500), |l| {
                l.contains("[DEBUG]")
            })
            .await
        {
            return Some(line);
        }
        if tokio::time::Instant::now() >= deadline || monitor.output_ended() {
            return None;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_streams_lines_at_the_monitors_level_not_the_nodes() {
    let Some(serf) = serf_binary("monitor_streams_lines_at_the_monitors_level_not_the_nodes")
    else {
        return;
    };
    // Both log at info; the monitor asks for debug.
    let agent = go(&serf, None, vec![]).await;
    let node = ours("deploy", &["--log", "info"]);
    let theirs = monitor_sees_debug(&serf, &agent).await;
    assert!(theirs.is_some(), "Go's agent streams its debug lines");
    let mine = monitor_sees_debug(&serf, &node).await;
    assert!(mine.is_some(), "Serfer streams its debug lines too");
}

/// Starts `serf monitor -log-level=info` on `side`, has `side` join `peer` (a
/// node named `peer`), and waits (bounded) for the membership line Go's agent
/// logs. Returns the line.
async fn monitor_sees_the_join(serf: &Path, side: &dyn Side, peer: SocketAddr) -> Option<String> {
    let mut monitor = Proc::spawn(
        "serf monitor",
        std::process::Command::new(serf)
            .args([
                "monitor",
                &format!("-rpc-addr={}", side.rpc()),
                "-log-level=info",
            ])
            .env_remove("SERF_RPC_ADDR")
            .env_remove("SERF_RPC_AUTH")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped()),
    );
    // The monitor subscribes some time after it starts; the agent replays its
    // recent lines to a new monitor, so joining once is enough either way.
    monitor
        .wait_line_async(REPLY, |l| l.contains("[INFO]"))
        .await?;
    let (code, out) = cli(serf, side, "join", &[&peer.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    let want = format!("EventMemberJoin: peer {}", peer.ip());
    monitor.wait_line_async(REPLY, |l| l.contains(&want)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_shows_membership_changes_in_gos_words() {
    let Some(serf) = serf_binary("monitor_shows_membership_changes_in_gos_words") else {
        return;
    };
    let agent = go(&serf, None, vec![]).await;
    let go_peer = Agent::start(
        &serf,
        "peer",
        AgentOptions {
            no_event_handler: true,
            log_level: Some("info".into()),
            ..AgentOptions::default()
        },
    )
    .await;
    let theirs = monitor_sees_the_join(&serf, &agent, go_peer.bind()).await;
    eprintln!("Go: {theirs:?}");
    assert!(theirs.is_some(), "Go's agent logs the join");

    let node = ours("deploy", &["--log", "info"]);
    let (pb, pr) = (loopback(), loopback().to_string());
    let mut our_peer = Proc::example(
        "deploy",
        &[
            "--node",
            "peer",
            "--bind",
            &pb.to_string(),
            "--rpc-addr",
            &pr,
        ],
        &[],
    );
    our_peer.serfer_addr();
    let mine = monitor_sees_the_join(&serf, &node, pb).await;
    eprintln!("Serfer: {mine:?}");
    assert!(mine.is_some(), "Serfer logs the join in Go's words");
}
