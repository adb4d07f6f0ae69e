//! The serf-rs arm of the engine seam: where serf-rs is configured, started
//! and called.
//!
//! This module fixes serf-rs's generics once ([`Serf`], [`Transport`] and the
//! event aliases), builds the serf-rs options and transport (fresh for every
//! node, see [`options`]), converts members, events, query answers and key
//! reports into Serfer's types, and works around what serf-rs 0.5.2 cannot do
//! through its public API (the event [`trailer`]). The transport
//! ([`Transport`], built by [`transport_options`]) is memberlist-net's
//! sockets, plus the [`translate`]ion to HashiCorp's wire when the node is
//! configured with [`Wire::HashiCorp`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serf::types::{MemberStatus as EngineStatus, SmolStr, Tags};

use bytes::Bytes;
use serf::types::MaybeResolvedAddress;

use super::{Answer, EngineEvent, QueryParams, QueryRefused, ReceivedQuery, RespondError};
use super::{Responder, StartOptions, Started};
use crate::config::{Config, Profile, Wire};
use crate::engine::serf_rs::transport::{KeyRing, NodeTransportOptions};
use crate::error::Error;
use crate::keys::Key;
use crate::member::{Member, MemberEventKind, MemberStatus};
use crate::node::{Coordinate, KeyOp, KeyReport, Stats};

pub(crate) mod trailer;
pub(crate) mod translate;
pub(crate) mod transport;

pub(crate) use trailer::{add_trailer, strip_trailer, TRAILER_LEN};

/// The transport: UDP gossip plus TCP streams, on tokio, in serf-rs's
/// encoding or translated to HashiCorp's.
pub(crate) type Transport = crate::engine::serf_rs::transport::NodeTransport;
pub(crate) type Delegate = serf::DefaultDelegate<Transport>;
pub(crate) type Serf = serf::Serf<Transport, Delegate>;
pub(crate) type Event = serf::event::Event<Transport, Delegate>;
pub(crate) type QueryEvent = serf::event::QueryEvent<Transport, Delegate>;
type EngineQueryResponse = serf::QueryResponse<SmolStr, SocketAddr>;
type EngineNode = serf::types::Node<SmolStr, SocketAddr>;
type EngineResponse = serf::NodeResponse<SmolStr, SocketAddr>;
pub(crate) type EventSubscriber = serf::event::EventSubscriber<Transport, Delegate>;

/// The raw serf-rs options type, for `NodeBuilder::engine_options` (feature
/// `unstable-engine`).
pub use serf::Options as EngineOptions;

/// A last adjustment of the serf-rs options, applied just before start.
pub(crate) type Tweak = std::sync::Arc<dyn Fn(EngineOptions) -> EngineOptions + Send + Sync>;

/// serf-rs applies its size limit both to name + payload and to the encoded
/// message (Lamport time, lengths, flags). Serfer checks name + payload itself,
/// so the engine's limit leaves room for the encoding.
const ENCODING_SLACK: usize = 64;

/// The largest user event (name + payload) that still fits in one gossip packet
/// with encryption and message framing. Larger events never gossip in serf-rs
/// (they wait in the broadcast queue forever and only reach others by push/pull).
pub const MAX_EVENT_SIZE: usize = 1024;

/// How long memberlist keeps a dead member (see [`options`]).
const DEAD_MEMBER_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Builds fresh serf-rs options for one node.
///
/// Always a new `Options` value: serf-rs clones share one tag cell, so two nodes
/// built from clones of one value would publish each other's tags.
pub(crate) fn options(cfg: &Config, tweak: Option<&Tweak>) -> Result<EngineOptions, Error> {
    if let Some(path) = &cfg.snapshot {
        crate::persist::snapshot::check_serf_rs_can_read(path)
            .map_err(|e| Error::Config(e.to_string()))?;
    }
    let ml = match cfg.profile {
        // serf-rs's `lan()` probes every 500 ms with a 1 s timeout; Go's LAN preset
        // (which HashiCorp's agent uses) probes every 1 s with a 500 ms timeout.
        Profile::Lan => serf::MemberlistOptions::lan()
            .with_probe_interval(Duration::from_secs(1))
            .with_probe_timeout(Duration::from_millis(500)),
        Profile::Wan => serf::MemberlistOptions::wan(),
        Profile::Local => serf::MemberlistOptions::local(),
    };
    // memberlist-core 0.8.5's sweep of members dead longer than the gossip-to-the-dead
    // time swaps them to the end of its member vector without updating its name-to-index
    // map (state.rs `move_dead_nodes`). The shuffle that follows repairs every entry but
    // the one of the member left at index 0, one time in (live members), so about one
    // sweep in six in a 3-node cluster leaves an entry pointing past the end; lookups
    // then panic inside its suspicion, probe and packet tasks ("index out of bounds",
    // suspicion.rs:84, state.rs:305) and a crashed node is never marked failed. Seen
    // twice in CI. Keeping dead members a day, as long as Serf itself keeps trying to
    // reconnect them, keeps the sweep from running in practice. The cost: dead members
    // stay among gossip targets for that day, and a node restarted under the same name
    // refutes its death to come back (as it does in Go within the 30 s window).
    let ml = ml.with_gossip_to_the_dead_time(DEAD_MEMBER_KEPT);
    let ml = if let Some((primary, _)) = cfg.keys.split_first() {
        // serf-rs needs all four settings: with a primary key alone it leaves
        // encryption off, and without verify-incoming it accepts plaintext peers.
        // On the HashiCorp wire the transport encrypts and decrypts (and refuses
        // plaintext), declares itself secure so memberlist-core does not encrypt
        // again, and hands memberlist-core plaintext, which it must accept; the
        // keyring stays so that Serf's key manager has one to change.
        ml.with_primary_key(secret_key(primary))
            .with_secret_keys(cfg.keys.iter().map(secret_key).collect())
            .with_encryption_algo(serf::types::EncryptionAlgorithm::NoPadding)
            .with_gossip_verify_outgoing(true)
            .with_gossip_verify_incoming(cfg.wire == Wire::SerfRs)
    } else {
        ml
    };
    let tags: Tags = cfg
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let opts = EngineOptions::new()
        .with_tags(tags.into_iter())
        .with_memberlist_options(ml)
        // serf-rs's coalescers only flush when a later event arrives; Serfer coalesces itself.
        .with_coalesce_period(Duration::ZERO)
        .with_quiescent_period(Duration::ZERO)
        .with_user_coalesce_period(Duration::ZERO)
        .with_user_quiescent_period(Duration::ZERO)
        .with_max_user_event_size(cfg.max_event_size + TRAILER_LEN + ENCODING_SLACK)
        .with_event_buffer_size(cfg.event_buffer_size)
        .with_snapshot_path(cfg.snapshot.clone());
    Ok(match tweak {
        Some(tweak) => tweak(opts),
        None => opts,
    })
}

/// The transport options for node `name`.
pub(crate) fn transport_options(cfg: &Config, name: &str) -> NodeTransportOptions {
    let opts = match cfg.wire {
        Wire::SerfRs => NodeTransportOptions::serf_rs(name, cfg.bind),
        Wire::HashiCorp => NodeTransportOptions::hashicorp(name, cfg.bind)
            .with_keys(cfg.keys.iter().map(|k| k.as_bytes().to_vec()).collect()),
    };
    match cfg.advertise {
        Some(a) => NodeTransportOptions {
            net: opts.net.with_advertise_address(a),
            ..opts
        },
        None => opts,
    }
}

/// The socket error behind a start that failed to bind its address, if that is
/// why it failed.
///
/// serf-rs wraps it in three layers that do not expose it as a `source`, so it
/// is taken out by matching on those layers' variants.
pub(crate) fn bind_failure(e: &serf::error::Error<Transport, Delegate>) -> Option<std::io::Error> {
    use serf::net::error::NetTransportError as Net;
    match e {
        serf::error::Error::Memberlist(memberlist_core::error::Error::Transport(
            Net::ListenPacket(_, io) | Net::ListenPromised(_, io),
        )) => Some(std::io::Error::new(io.kind(), io.to_string())),
        _ => None,
    }
}

/// Makes the HashiCorp transport read its keys from the engine's keyring from
/// now on, so that `serf keys install/use/remove` (which change that keyring
/// through Serf's key manager) change what the wire encrypts with too.
pub(crate) fn follow_engine_keyring(serf: &Serf, keys: &KeyRing) {
    if let Some(ring) = serf.memberlist().keyring().cloned() {
        keys.follow(move || ring.keys().map(|k| k.as_ref().to_vec()).collect());
    }
}

pub(crate) fn member(m: &serf::types::Member<SmolStr, SocketAddr>) -> Member {
    let addr = *m.node().address();
    Member {
        name: m.node().id().to_string(),
        addr: addr.ip(),
        port: addr.port(),
        tags: tags(m.tags()),
        status: status(m.status()),
        protocol: u8::from(*m.protocol_version()),
    }
}

pub(crate) fn tags(t: &Tags) -> BTreeMap<String, String> {
    t.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn status(s: &EngineStatus) -> MemberStatus {
    match s {
        EngineStatus::Alive => MemberStatus::Alive,
        EngineStatus::Leaving => MemberStatus::Leaving,
        EngineStatus::Left => MemberStatus::Left,
        EngineStatus::Failed => MemberStatus::Failed,
        _ => MemberStatus::None,
    }
}

pub(crate) fn member_event_kind(t: serf::event::MemberEventType) -> MemberEventKind {
    use serf::event::MemberEventType as T;
    match t {
        T::Join => MemberEventKind::Join,
        T::Leave => MemberEventKind::Leave,
        T::Failed => MemberEventKind::Failed,
        T::Update => MemberEventKind::Update,
        T::Reap => MemberEventKind::Reap,
    }
}

/// Builds serf-rs query parameters.
///
/// serf-rs 0.5.2 keeps its filter types crate-private, so there is no public
/// constructor for a filtered query; its serde form is the only way in.
pub(crate) fn query_param(
    nodes: &[String],
    tag_filters: &[(String, String)],
    request_ack: bool,
    relay_factor: u8,
    timeout: Duration,
) -> Result<serf::QueryParam<SmolStr>, Error> {
    let mut filters = Vec::new();
    if !nodes.is_empty() {
        filters.push(serde_json::json!({ "Id": nodes }));
    }
    for (tag, expr) in tag_filters {
        filters.push(serde_json::json!({ "Tag": { "tag": tag, "expr": expr } }));
    }
    let value = serde_json::json!({
        "filters": filters,
        "request_ack": request_ack,
        "relay_factor": relay_factor,
        "timeout": format!("{}ms", timeout.as_millis().max(1)),
    });
    // MessagePack rather than a JSON value: serf-rs's regex field only deserialises
    // from borrowed strings, and MessagePack strings borrow without unescaping.
    let bytes = rmp_serde::to_vec_named(&value)
        .map_err(|e| Error::engine("building query parameters", e))?;
    rmp_serde::from_slice(&bytes).map_err(|e| Error::engine("building query parameters", e))
}

/// A key as serf-rs holds it (Serfer's keys are checked to be 16, 24 or 32 bytes).
fn secret_key(key: &Key) -> serf::types::SecretKey {
    use serf::types::SecretKey as K;
    let b = key.as_bytes();
    match b.len() {
        16 => K::Aes128(b.try_into().expect("length checked")),
        24 => K::Aes192(b.try_into().expect("length checked")),
        _ => K::Aes256(b.try_into().expect("length checked")),
    }
}

/// Starts serf-rs with Serfer's settings.
pub(crate) async fn start(cfg: &Config, opts: StartOptions) -> Result<Started, Error> {
    if cfg.advertise.is_some_and(|a| a.port() == 0) {
        return Err(Error::Config(format!(
            "the serf-rs engine fixes the advertised address before it binds, so it cannot \
             advertise port 0: bind a fixed port (not {}) or give the advertised port",
            cfg.bind
        )));
    }
    if opts.native_tweak.is_some() {
        return Err(Error::Config(
            "native engine options do not apply to the serf-rs engine: choose the native engine"
                .into(),
        ));
    }
    let (producer, subscriber) = serf::event::EventProducer::unbounded();
    let mut options = options(cfg, opts.tweak.as_ref())?;
    if let Some(path) = &opts.keyring_file {
        // serf-rs rewrites it on every key change, as Go's Serf does.
        options = options.with_keyring_file(Some(path.clone()));
    }
    if let Some(n) = opts.query_size_limit {
        options = options.with_query_size_limit(n);
    }
    if let Some(n) = opts.query_response_size_limit {
        options = options.with_query_response_size_limit(n);
    }
    // The escape hatch may have changed it; errors must name the real one.
    let query_size_limit = options.query_size_limit();
    let transport = transport_options(cfg, &opts.name);
    // The HashiCorp wire's keyring, handed over to the engine's once it exists.
    let wire_keys = transport.hashicorp.as_ref().map(|h| h.keys.clone());
    let serf = Serf::with_event_producer(transport, options, producer)
        .await
        .map_err(|e| match bind_failure(&e) {
            Some(source) => Error::Bind {
                addr: cfg.bind,
                source,
            },
            None => Error::engine("starting the node", e),
        })?;
    if let Some(keys) = wire_keys {
        follow_engine_keyring(&serf, &keys);
    }
    Ok(Started {
        addr: *serf.advertise_node().address(),
        handle: super::Handle::SerfRs(serf),
        events: super::Events::SerfRs(subscriber),
        query_size_limit,
    })
}

pub(crate) async fn user_event(
    serf: &Serf,
    name: &str,
    payload: &[u8],
    coalesce: bool,
) -> Result<(), Error> {
    serf.user_event(name, add_trailer(payload), coalesce)
        .await
        .map(|_| ())
        .map_err(|e| Error::engine("sending a user event", e))
}

pub(crate) async fn query(
    serf: &Serf,
    name: &str,
    payload: Bytes,
    params: QueryParams<'_>,
) -> Result<super::Answers, QueryRefused> {
    let param = query_param(
        params.nodes,
        params.tags,
        params.request_ack,
        params.relay_factor,
        params.timeout,
    )
    .map_err(QueryRefused::Other)?;
    let response = serf
        .query(name, payload, Some(param))
        .await
        .map_err(|e| match e {
            serf::error::Error::Serf(serf::error::SerfError::QueryTooLarge(size)) => {
                QueryRefused::TooLarge(size)
            }
            e => QueryRefused::Other(Error::engine("sending a query", e)),
        })?;
    Ok(super::Answers::SerfRs(Answers {
        acks: if params.request_ack {
            response.ack_rx()
        } else {
            None
        },
        responses: response.response_rx(),
        _engine: response,
    }))
}

/// A query's answer channels, as serf-rs hands them out.
pub(crate) struct Answers {
    // Kept so that serf-rs keeps the query registered while we listen.
    _engine: EngineQueryResponse,
    acks: Option<async_channel::Receiver<EngineNode>>,
    responses: async_channel::Receiver<EngineResponse>,
}

impl Answers {
    /// Responses before acks when both are ready; `None` when serf-rs closes
    /// the response channel, at the deadline.
    pub(crate) async fn next(&mut self) -> Option<Answer> {
        loop {
            let acks = self.acks.clone();
            let ack = async {
                match &acks {
                    Some(rx) => rx.recv().await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                r = self.responses.recv() => {
                    let r = r.ok()?;
                    return Some(Answer::Response(r.from().id().to_string(), r.payload().clone()));
                }
                a = ack => match a {
                    Some(n) => return Some(Answer::Ack(n.id().to_string())),
                    None => self.acks = None,
                },
            }
        }
    }
}

pub(crate) async fn respond(q: &QueryEvent, payload: Bytes) -> Result<(), RespondError> {
    use serf::error::{Error as E, SerfError as S};
    q.respond(payload).await.map_err(|e| match e {
        E::Serf(S::QueryAlreadyResponsed) => RespondError::AlreadySent,
        E::Serf(S::QueryTimeout) => RespondError::PastDeadline,
        E::Serf(S::QueryResponseTooLarge { limit, .. }) => RespondError::TooLarge { limit },
        e => RespondError::Other(e.to_string()),
    })
}

/// A serf-rs event in Serfer's terms; `None` for what Serfer does not use.
pub(crate) fn event(event: Event) -> Option<EngineEvent> {
    Some(match event {
        Event::User(msg) => EngineEvent::User {
            name: msg.name().to_string(),
            ltime: u64::from(msg.ltime()),
            coalesce: msg.cc(),
            payload: strip_trailer(msg.payload()),
        },
        Event::Member(ev) => {
            let kind = member_event_kind(ev.ty());
            let members: Vec<Member> = ev.members().iter().map(member).collect();
            // serf-rs does not log membership changes; the native engine and
            // Go's agent do, in these words, which operators grep for.
            let word = match kind {
                MemberEventKind::Join => "Join",
                MemberEventKind::Leave => "Leave",
                MemberEventKind::Failed => "Failed",
                MemberEventKind::Update => "Update",
                MemberEventKind::Reap => "Reap",
            };
            for m in &members {
                tracing::info!("EventMember{word}: {} {}", m.name, m.addr);
            }
            EngineEvent::Member { kind, members }
        }
        Event::Query(q) => EngineEvent::Query(ReceivedQuery {
            name: Arc::from(q.name().as_str()),
            ltime: u64::from(q.lamport_time()),
            from: Arc::from(q.from().id().as_str()),
            payload: q.payload().clone(),
            deadline: None,
            responder: Responder::SerfRs(q),
        }),
    })
}

pub(crate) async fn stats(serf: &Serf) -> Stats {
    let s = serf.stats().await;
    Stats {
        members: s.get_members(),
        failed: s.get_failed(),
        left: s.get_left(),
        health_score: s.get_health_score(),
        member_time: s.get_member_time(),
        event_time: s.get_event_time(),
        query_time: s.get_query_time(),
        intent_queue: s.get_intent_queue(),
        event_queue: s.get_event_queue(),
        query_queue: s.get_query_queue(),
        encrypted: s.get_encrypted(),
        coordinate_resets: s.get_coordinate_resets(),
    }
}

pub(crate) async fn set_tags(serf: &Serf, tags: &BTreeMap<String, String>) -> Result<(), Error> {
    let tags: Tags = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serf.set_tags(tags)
        .await
        .map_err(|e| Error::engine("setting tags", e))
}

pub(crate) async fn join(serf: &Serf, addr: SocketAddr, ignore_old: bool) -> Result<(), Error> {
    serf.join(MaybeResolvedAddress::Resolved(addr), ignore_old)
        .await
        .map(|_| ())
        .map_err(|e| Error::engine("joining", e))
}

pub(crate) fn local_keys(serf: &Serf) -> Vec<Vec<u8>> {
    let Some(ring) = serf.memberlist().keyring() else {
        return Vec::new();
    };
    let primary = ring.primary_key();
    let mut keys = vec![primary.as_ref().to_vec()];
    keys.extend(
        ring.keys()
            .filter(|k| *k != primary)
            .map(|k| k.as_ref().to_vec()),
    );
    keys
}

pub(crate) fn use_local_key(serf: &Serf, key: &[u8]) -> bool {
    let Some(ring) = serf.memberlist().keyring() else {
        return false;
    };
    let Some(k) = ring.keys().find(|k| k.as_ref() == key) else {
        return false;
    };
    ring.use_key(k.as_ref()).is_ok()
}

pub(crate) async fn force_leave(serf: &Serf, name: &str, prune: bool) -> Result<(), Error> {
    let id = SmolStr::new(name);
    let r = if prune {
        serf.remove_failed_node_prune(id).await
    } else {
        serf.remove_failed_node(id).await
    };
    r.map_err(|e| Error::engine("forcing a member out", e))
}

fn coordinate_of(c: &serf::coordinate::Coordinate) -> Coordinate {
    Coordinate {
        vec: c.portion().to_vec(),
        error: c.error(),
        adjustment: c.adjustment(),
        height: c.height(),
    }
}

pub(crate) fn coordinate(serf: &Serf, name: &str) -> Option<Coordinate> {
    let c = serf.cached_coordinate(&SmolStr::new(name)).ok()??;
    Some(coordinate_of(&c))
}

pub(crate) fn local_coordinate(serf: &Serf) -> Option<Coordinate> {
    serf.cooridate().ok().map(|c| coordinate_of(&c))
}

/// A key tally in Serfer's keys (serf-rs's are AES lengths by construction).
fn tally<'a>(
    counts: impl IntoIterator<Item = (&'a serf::types::SecretKey, &'a usize)>,
) -> BTreeMap<Key, usize> {
    counts
        .into_iter()
        .filter_map(|(k, n)| Key::from_bytes(k.as_ref().to_vec()).ok().map(|k| (k, *n)))
        .collect()
}

pub(crate) async fn key_op(serf: &Serf, op: KeyOp, key: Option<&Key>) -> Result<KeyReport, Error> {
    let km = serf.key_manager();
    let key = key.map(secret_key);
    let resp = match (op, key) {
        (KeyOp::Install, Some(k)) => km.install_key(k, None).await,
        (KeyOp::Use, Some(k)) => km.use_key(k, None).await,
        (KeyOp::Remove, Some(k)) => km.remove_key(k, None).await,
        _ => km.list_keys().await,
    }
    .map_err(|e| Error::engine("running a key operation", e))?;
    Ok(KeyReport {
        nodes: resp.num_nodes(),
        responses: resp.num_resp(),
        errors: resp.num_err(),
        messages: resp
            .messages()
            .iter()
            .map(|(n, m)| (n.to_string(), m.to_string()))
            .collect(),
        keys: tally(resp.keys()),
        primary_keys: tally(resp.primary_keys()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_bytes_in_serf_rs() {
        for n in [16, 24, 32] {
            let k = Key::from_bytes(vec![7; n]).unwrap();
            assert_eq!(secret_key(&k).as_ref(), k.as_bytes());
        }
    }

    #[test]
    fn query_param_carries_filters() {
        let p = query_param(
            &["a".into(), "b".into()],
            &[("role".into(), r"^web-\d+$".into())],
            true,
            2,
            Duration::from_secs(3),
        )
        .unwrap();
        assert_eq!(p.filters().len(), 2);
        assert!(p.request_ack());
        assert_eq!(p.relay_factor(), 2);
        assert_eq!(p.timeout(), Duration::from_secs(3));
        assert!(query_param(
            &[],
            &[("r".into(), "(".into())],
            false,
            0,
            Duration::from_secs(1)
        )
        .is_err());
    }

    /// The table in [`Profile`]'s docs, as serf-rs is actually configured.
    #[test]
    fn profiles_have_go_memberlists_timings() {
        let ms = Duration::from_millis;
        for (profile, probe, timeout, gossip, mult, push_pull) in [
            (Profile::Lan, ms(1000), ms(500), ms(200), 4, ms(30_000)),
            (Profile::Wan, ms(5000), ms(3000), ms(500), 6, ms(60_000)),
            (Profile::Local, ms(1000), ms(200), ms(100), 3, ms(15_000)),
        ] {
            let cfg = Config {
                profile,
                ..Config::default()
            };
            let opts = options(&cfg, None).unwrap();
            let ml = opts.memberlist_options();
            assert_eq!(
                (
                    ml.probe_interval(),
                    ml.probe_timeout(),
                    ml.gossip_interval(),
                    ml.suspicion_mult(),
                    ml.push_pull_interval()
                ),
                (probe, timeout, gossip, mult, push_pull),
                "{profile:?}"
            );
        }
    }

    #[test]
    fn defaults_are_safe_to_try_on_one_machine() {
        let cfg = Config::default();
        assert_eq!(cfg.bind, "127.0.0.1:7946".parse().unwrap());
        assert_eq!(cfg.profile, Profile::Lan);
        assert_eq!(cfg.max_event_size, 512, "Serf's default");
        assert!(cfg.keys.is_empty() && cfg.join.is_empty());
        // With keys on serf-rs's own wire (what this engine speaks unless told
        // otherwise), encryption is really on: all four serf-rs settings.
        let key = crate::keys::Key::parse("QUJDREVGR0hJSktMTU5PUA==").unwrap();
        let opts = options(
            &Config {
                keys: vec![key],
                engine: crate::config::Engine::SerfRs,
                wire: Wire::SerfRs,
                ..Config::default()
            },
            None,
        )
        .unwrap();
        let ml = opts.memberlist_options();
        assert!(ml.primary_key().is_some());
        assert!(ml.gossip_verify_outgoing() && ml.gossip_verify_incoming());
    }
}
