//! Encryption keys: who may join, and rotating keys in a running cluster.

mod common;

use std::time::{Duration, Instant};

use common::init_logs;
use serfer::testing::bounds::{DELIVERY, JOIN as REFUSAL};
use serfer::testing::{wait_until, Recorder, TestCluster};
use serfer::{Error, Key, Node, NodeBuilder, Profile, State, UserEvent};

fn builder() -> NodeBuilder {
    Node::builder()
        .engine(serfer::testing::engine())
        .bind("127.0.0.1:0")
        .profile(Profile::Local)
}

async fn seed(keys: &[&Key]) -> Node {
    keys.iter()
        .fold(builder(), |b, k| b.key(k.to_string()))
        .start()
        .await
        .unwrap()
}

async fn join_with(keys: &[&Key], to: &Node) -> (Result<Node, Error>, Duration) {
    let b = keys
        .iter()
        .fold(builder(), |b, k| b.key(k.to_string()))
        .join(to.addr().to_string());
    let started = Instant::now();
    let r = tokio::time::timeout(REFUSAL, b.start())
        .await
        .expect("a refused join must not hang");
    (r, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_joins_and_gossip_is_encrypted() {
    init_logs();
    let k = Key::generate();
    let a = seed(&[&k]).await;
    let (b, _) = join_with(&[&k], &a).await;
    let b = b.unwrap();
    assert!(a.stats().await.encrypted && b.stats().await.encrypted);
    wait_until(DELIVERY, "both members", || {
        let a = a.clone();
        async move { a.members().await.len() == 2 }
    })
    .await
    .unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_missing_key_and_unexpected_key_are_refused() {
    init_logs();
    let k = Key::generate();
    let a = seed(&[&k]).await;

    let (wrong, _) = join_with(&[&Key::generate()], &a).await;
    assert!(
        matches!(wrong, Err(Error::JoinFailed { .. })),
        "wrong key: {wrong:?}"
    );

    let (plain, _) = join_with(&[], &a).await;
    assert!(
        matches!(plain, Err(Error::JoinFailed { .. })),
        "no key: {plain:?}"
    );

    // And the other way: an encrypted node cannot join a plaintext one.
    let open = seed(&[]).await;
    let (enc, _) = join_with(&[&k], &open).await;
    assert!(
        matches!(enc, Err(Error::JoinFailed { .. })),
        "key into plaintext: {enc:?}"
    );
    // And says why, in Go's words, on the native engine (serf-rs's words
    // are its own): the refusing node answers with the error, as Go's does.
    if serfer::testing::engine() == serfer::Engine::Native {
        for (case, refused, words) in [
            (
                "wrong key",
                &wrong,
                "No installed keys could decrypt the message",
            ),
            (
                "no key",
                &plain,
                "Remote state is encrypted and encryption is not configured",
            ),
            (
                "key into plaintext",
                &enc,
                "Encryption is configured but remote state is not encrypted",
            ),
        ] {
            let text = refused.as_ref().err().map(ToString::to_string);
            assert!(
                text.as_deref().is_some_and(|t| t.contains(words)),
                "{case}: {text:?}"
            );
        }
    }

    assert_eq!(
        a.members().await.len(),
        1,
        "nobody got in: {:?}",
        a.members().await
    );
    assert_eq!(open.members().await.len(), 1);
    a.shutdown().await.unwrap();
    open.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_two_keys_joins_a_cluster_using_its_second() {
    init_logs();
    let (k1, k2) = (Key::generate(), Key::generate());
    let a = seed(&[&k2]).await;
    let (b, _) = join_with(&[&k1, &k2], &a).await;
    let b = b.expect("joins with its second key");
    wait_until(DELIVERY, "both members alive on both", || {
        let (a, b) = (a.clone(), b.clone());
        async move { a.members().await.len() == 2 && b.members().await.len() == 2 }
    })
    .await
    .unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

async fn on_event(
    ev: UserEvent<String>,
    node: Node,
    State(seen): State<Recorder<(String, String)>>,
) {
    seen.record((node.name().to_owned(), ev.into_payload()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_a_running_cluster_working() {
    init_logs();
    let (old, new) = (Key::generate(), Key::generate());
    let seen: Recorder<(String, String)> = Recorder::new();
    let cluster = TestCluster::start(3, |_, b| {
        b.key(old.to_string())
            .any_user_event(on_event)
            .state(seen.clone())
    })
    .await
    .unwrap();
    let n0 = cluster.node(0);

    let r = n0.install_key(&new).await.unwrap();
    assert!(r.is_complete(), "install: {r:?}");
    let listed = n0.list_keys().await.unwrap();
    assert_eq!(listed.keys.get(&new), Some(&3), "{listed:?}");
    assert_eq!(listed.keys.get(&old), Some(&3));

    let r = n0.use_key(&new).await.unwrap();
    assert!(r.is_complete(), "use: {r:?}");
    let r = n0.remove_key(&old).await.unwrap();
    assert!(r.is_complete(), "remove: {r:?}");
    let listed = n0.list_keys().await.unwrap();
    assert_eq!(
        listed.keys.keys().cloned().collect::<Vec<_>>(),
        vec![new.clone()]
    );
    assert_eq!(listed.primary_keys.get(&new), Some(&3));

    // Still one cluster: an event reaches everyone, and a node with only the new key joins.
    cluster
        .node(2)
        .event("after", &"rotation".to_owned())
        .await
        .unwrap();
    assert_eq!(seen.take(3, DELIVERY).await.len(), 3);
    let (late, _) = join_with(&[&new], n0).await;
    let late = late.expect("a node with the new key joins");
    let (stale, _) = join_with(&[&old], n0).await;
    assert!(stale.is_err(), "the removed key must be refused");
    late.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn key_operations_without_encryption_are_a_clear_error() {
    let node = builder().start().await.unwrap();
    let err = node.list_keys().await.unwrap_err();
    assert!(err.to_string().contains("need encryption"), "{err}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_key_is_an_error_naming_it() {
    let err = builder()
        .key(Key::generate().to_string())
        .key("dG9vIHNob3J0")
        .start()
        .await
        .unwrap_err();
    match err {
        Error::InvalidKey { index, reason } => {
            assert_eq!(index, 1);
            assert!(reason.contains("9 bytes"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
