//! Life of a node: shutdown, drop, name conflicts, old-event replay, stuck handlers.

mod common;

use std::time::Duration;

use common::init_logs;
use serfer::testing::bounds::{DELIVERY, GOSSIP, STOP};
use serfer::testing::{wait_until, Recorder, TempDir, TestCluster};
use serfer::{Error, Node, NodeBuilder, Profile, State, UserEvent};

fn builder() -> NodeBuilder {
    Node::builder()
        .engine(serfer::testing::engine())
        .bind("127.0.0.1:0")
        .profile(Profile::Local)
}

#[tokio::test]
async fn port_zero_reports_the_real_port_and_sends_after_shutdown_fail() {
    let node = builder().start().await.unwrap();
    assert_ne!(node.addr().port(), 0);
    assert_eq!(node.addr().ip().to_string(), "127.0.0.1");
    node.shutdown().await.unwrap();
    node.shutdown().await.unwrap(); // twice is fine
    assert!(matches!(node.event("e", &()).await, Err(Error::ShutDown)));
    assert!(matches!(
        node.query("q", &(), serfer::QueryOptions::new()).await,
        Err(Error::ShutDown)
    ));
    assert!(matches!(
        node.set_tags(Default::default()).await,
        Err(Error::ShutDown)
    ));
    tokio::time::timeout(Duration::from_secs(1), node.wait())
        .await
        .expect("wait() resolves after shutdown")
        .unwrap();
}

/// A node behind a NAT advertises another address than the one it binds:
/// itself and the nodes it joins see the advertised one (here another
/// loopback address, with the bound port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advertised_address_is_what_others_see() {
    init_logs();
    let behind_nat = || builder().name("behind-nat").advertise("127.0.0.3");
    // Port 0 with an advertised address: the native engine advertises the
    // port it bound; serf-rs fixes its advertised address before it binds,
    // so it is told to bind a fixed port.
    match serfer::testing::engine() {
        serfer::Engine::SerfRs => {
            let e = behind_nat().start().await.unwrap_err();
            assert!(e.to_string().contains("fixed port"), "{e}");
        }
        serfer::Engine::Native => {
            let n = behind_nat().start().await.unwrap();
            assert_eq!(n.addr().ip().to_string(), "127.0.0.3");
            assert_ne!(n.addr().port(), 0);
            n.shutdown().await.unwrap();
        }
    }
    let port = serfer::testing::ports::free_port();
    let hidden = behind_nat()
        .bind(format!("127.0.0.1:{port}"))
        .start()
        .await
        .unwrap();
    assert_eq!(hidden.addr().to_string(), format!("127.0.0.3:{port}"));
    let me = hidden.local_member().await;
    assert_eq!(
        (me.addr.to_string(), me.port),
        ("127.0.0.3".to_owned(), port)
    );
    // Joined through the bound address, which is where it listens.
    let other = builder()
        .join(format!("127.0.0.1:{port}"))
        .start()
        .await
        .unwrap();
    let seen = other
        .members()
        .await
        .into_iter()
        .find(|m| m.name == "behind-nat")
        .expect("the joined node is a member");
    assert_eq!(
        (seen.addr.to_string(), seen.port),
        ("127.0.0.3".to_owned(), port)
    );
    other.shutdown().await.unwrap();
    hidden.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_frees_the_port() {
    let node = builder().start().await.unwrap();
    let addr = node.addr();
    drop(node);
    wait_until(STOP, "the gossip port to be free", || async move {
        std::net::TcpListener::bind(addr).is_ok() && std::net::UdpSocket::bind(addr).is_ok()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_conflict_is_reported_by_wait() {
    init_logs();
    let first = builder().name("twin").start().await.unwrap();
    let helper = builder()
        .join(first.addr().to_string())
        .start()
        .await
        .unwrap();
    let second = builder()
        .name("twin")
        .join(helper.addr().to_string())
        .start()
        .await;
    // The engine either refuses the join or shuts the newer twin down soon after.
    match second {
        Err(e) => assert!(
            matches!(e, Error::JoinFailed { .. }),
            "a refused twin must fail its join, got {e:?}"
        ),
        Ok(second) => {
            let r = tokio::time::timeout(DELIVERY, second.wait())
                .await
                .expect("the conflicting node must stop within the delivery bound");
            match r {
                Err(Error::Stopped(why)) => assert!(why.contains("twin"), "{why}"),
                other => panic!("expected Error::Stopped, got {other:?}"),
            }
            assert!(matches!(
                second.event("e", &()).await,
                Err(Error::Stopped(_))
            ));
        }
    }
    first.shutdown().await.unwrap();
    helper.shutdown().await.unwrap();
}

type Seen = Recorder<(String, String)>;

async fn on_event(ev: UserEvent<String>, node: Node, State(seen): State<Seen>) {
    seen.record((node.name().to_owned(), ev.into_payload()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_are_not_replayed_to_a_joiner_unless_asked() {
    init_logs();
    let seen: Seen = Recorder::new();
    let cluster = TestCluster::start(2, |_, b| b.any_user_event(on_event).state(seen.clone()))
        .await
        .unwrap();
    for i in 0..5 {
        cluster.node(0).event("old", &format!("{i}")).await.unwrap();
    }
    assert_eq!(seen.take(10, DELIVERY).await.len(), 10);

    let joiner = |name: &str, replay: bool| {
        builder()
            .name(name)
            .replay_old_events(replay)
            .join(cluster.node(0).addr().to_string())
            .any_user_event(on_event)
            .state(seen.clone())
            .start()
    };
    let quiet = joiner("quiet", false).await.unwrap();
    let replay = joiner("replay", true).await.unwrap();
    let got = seen.take(5, DELIVERY).await;
    assert_eq!(got.len(), 5, "the replaying joiner gets all 5: {got:?}");
    assert!(got.iter().all(|(n, _)| n == "replay"), "{got:?}");
    assert!(seen.drain_for(Duration::from_secs(1)).await.is_empty());
    quiet.shutdown().await.unwrap();
    replay.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// The snapshot keeps the Lamport clock as it moves, as Go's does (`clock:`
/// the time less one, checked every 500 ms), so a restart resumes past it. A
/// lone node's clock stays at its start; a join's push/pull carries the
/// joiner's clock to it, which moves it on. The join has finished when
/// `start` returns, so the line is due within one check; `GOSSIP` bounds it.
/// Native on either run: serf-rs keeps a snapshot of its own binary format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_records_the_clock_a_join_moved() {
    init_logs();
    let dir = TempDir::new("clock");
    let path = dir.path("first.snap");
    let first = builder()
        .engine(serfer::Engine::Native)
        .name("first")
        .snapshot(&path)
        .start()
        .await
        .unwrap();
    let recorded = || -> Vec<u64> {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("clock: ")?.parse().ok())
            .collect()
    };
    let joiner = builder()
        .engine(serfer::Engine::Native)
        .name("joiner")
        .join(first.addr().to_string())
        .start()
        .await
        .unwrap();
    let moved = wait_until(GOSSIP, "a clock line above 0", || async {
        recorded().iter().any(|&c| c > 0)
    })
    .await;
    let lines = recorded();
    joiner.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
    moved.unwrap_or_else(|e| panic!("{e}; clock lines: {lines:?}"));
}

async fn stuck(_ev: UserEvent<()>) {
    std::future::pending::<()>().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_that_never_return_block_nothing() {
    init_logs();
    let seen: Seen = Recorder::new();
    let cluster = TestCluster::start(2, |_, b| {
        b.user_event("stuck", stuck)
            .user_event("ok", on_event)
            .state(seen.clone())
    })
    .await
    .unwrap();
    for _ in 0..200 {
        cluster.node(0).event("stuck", &()).await.unwrap();
    }
    cluster
        .node(0)
        .event("ok", &"through".to_owned())
        .await
        .unwrap();
    assert_eq!(seen.take(2, DELIVERY).await.len(), 2);
    cluster.wait_converged(DELIVERY).await.unwrap();
    tokio::time::timeout(STOP, cluster.shutdown())
        .await
        .expect("shutdown must not hang behind stuck handlers");
}

#[tokio::test]
async fn bad_settings_are_clear_errors() {
    let e = Node::builder()
        .engine(serfer::testing::engine())
        .bind("not an address")
        .start()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidAddress { .. }), "{e}");
    let e = builder().max_event_size(4096).start().await.unwrap_err();
    assert!(e.to_string().contains("4096"), "{e}");
    let e = builder().join("127.0.0.1:1").start().await.unwrap_err();
    match e {
        Error::JoinFailed { attempts } => assert_eq!(attempts[0].address, "127.0.0.1:1"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn joining_tries_every_address_and_resolves_host_names() {
    init_logs();
    let seed = builder().name("seed").start().await.unwrap();
    // Nothing listens on port 1; the second address is a host name.
    let joiner = builder()
        .name("joiner")
        .join("127.0.0.1:1")
        .join(format!("localhost:{}", seed.addr().port()))
        .start()
        .await
        .expect("one answering address is enough");
    wait_until(DELIVERY, "the seed to see the joiner", || {
        let seed = seed.clone();
        async move { seed.members().await.len() == 2 }
    })
    .await
    .unwrap();
    joiner.shutdown().await.unwrap();
    seed.shutdown().await.unwrap();
}

/// The message of the configuration error `started` must be; a node that
/// started anyway is stopped first.
async fn config_error(started: Result<Node, Error>, what: &str) -> String {
    match started {
        Err(Error::Config(m)) => m,
        Err(other) => panic!("{what}: another error: {other}"),
        Ok(node) => {
            node.shutdown().await.unwrap();
            panic!("{what}: the node started");
        }
    }
}

/// A snapshot the other engine wrote, with the node that wrote it and a peer
/// that joined it (so that it records a member and a moved clock).
async fn snapshot_written_by(engine: serfer::Engine, path: &std::path::Path) -> Vec<u8> {
    let _ = std::fs::remove_file(path);
    let writer = builder()
        .engine(engine)
        .name("writer")
        .snapshot(path)
        .start()
        .await
        .unwrap();
    let joiner = builder()
        .engine(engine)
        .name("joiner")
        .join(writer.addr().to_string())
        .start()
        .await
        .unwrap();
    let written = wait_until(GOSSIP, "the snapshot to record something", || async {
        std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
    })
    .await;
    joiner.shutdown().await.unwrap();
    writer.shutdown().await.unwrap();
    written.unwrap();
    std::fs::read(path).unwrap()
}

/// Each engine refuses the other's snapshot, naming the engine that can read
/// it, and leaves the file as it was: read in the wrong format it would be
/// skipped line by line and the node would start without what it recorded.
#[tokio::test]
async fn each_engine_refuses_the_snapshot_of_the_other() {
    init_logs();
    let dir = TempDir::new("foreign-snapshot");
    let cases = [
        (
            serfer::Engine::SerfRs,
            serfer::Engine::Native,
            "--engine serf-rs",
        ),
        (
            serfer::Engine::Native,
            serfer::Engine::SerfRs,
            "native engine",
        ),
    ];
    for (writer, reader, hint) in cases {
        let path = dir.path(&format!("{writer}.snap"));
        let before = snapshot_written_by(writer, &path).await;
        let started = builder().engine(reader).snapshot(&path).start().await;
        let m = config_error(started, &format!("{reader} reading {writer}'s snapshot")).await;
        assert!(m.contains(hint) && m.contains("snapshot"), "{m}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file is untouched"
        );
    }
}

/// The wire and the engine default to each other: serf-rs's wire alone picks
/// the serf-rs engine (a cluster started before the native engine was the
/// default keeps working by naming its wire), serf-rs alone keeps its own
/// wire, and a default node speaks HashiCorp's, which neither of those reads.
#[tokio::test]
async fn serf_rs_wire_and_engine_each_pick_the_other() {
    init_logs();
    let by_wire = Node::builder()
        .bind("127.0.0.1:0")
        .profile(Profile::Local)
        .name("by-wire")
        .wire(serfer::Wire::SerfRs)
        .start()
        .await
        .unwrap();
    let by_engine = Node::builder()
        .bind("127.0.0.1:0")
        .profile(Profile::Local)
        .name("by-engine")
        .engine(serfer::Engine::SerfRs)
        .join(by_wire.addr().to_string())
        .start()
        .await
        .expect("serf-rs's wire on both");
    wait_until(
        DELIVERY,
        "the two serf-rs nodes to see each other",
        || async { by_wire.members().await.len() == 2 && by_engine.members().await.len() == 2 },
    )
    .await
    .unwrap();
    let default = Node::builder()
        .bind("127.0.0.1:0")
        .profile(Profile::Local)
        .name("default")
        .join(by_wire.addr().to_string())
        .start()
        .await;
    let contradiction = Node::builder()
        .bind("127.0.0.1:0")
        .engine(serfer::Engine::Native)
        .wire(serfer::Wire::SerfRs)
        .start()
        .await;
    let serf_rs_members = by_wire.members().await.len();
    by_engine.shutdown().await.unwrap();
    by_wire.shutdown().await.unwrap();
    match default {
        // serf-rs never answers a stream in Go's framing; the joiner says
        // what to change.
        Err(Error::JoinFailed { attempts }) => {
            let why = attempts[0].error.to_string();
            assert!(why.contains("--engine serf-rs"), "{why}");
        }
        Err(other) => panic!("a default node joining serf-rs's wire: {other}"),
        Ok(node) => {
            node.shutdown().await.unwrap();
            panic!("a default node joined a node on serf-rs's wire");
        }
    }
    assert_eq!(serf_rs_members, 2, "the default node is not a member");
    let m = config_error(contradiction, "the native engine on serf-rs's wire").await;
    assert!(m.contains("HashiCorp's wire only"), "{m}");
}

/// An escape hatch for the engine a node does not run on is refused at start
/// rather than dropped: options written when serf-rs was the default would
/// otherwise stop applying without a word.
#[tokio::test]
async fn options_for_the_engine_not_running_are_refused() {
    let on_default = Node::builder()
        .bind("127.0.0.1:0")
        .engine_options(|o| o)
        .start()
        .await;
    let m = config_error(on_default, "serf-rs's options on a native node").await;
    assert!(m.contains(".engine(Engine::SerfRs)"), "{m}");
    let on_serf_rs = Node::builder()
        .bind("127.0.0.1:0")
        .engine(serfer::Engine::SerfRs)
        .native_options(|o| o)
        .start()
        .await;
    let m = config_error(on_serf_rs, "the native engine's options on a serf-rs node").await;
    assert!(m.contains("engine_options"), "{m}");
}
