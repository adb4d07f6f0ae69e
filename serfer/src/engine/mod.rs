//! Where serf-rs is configured and instantiated.
//!
//! This module fixes serf-rs's generics once ([`Serf`], [`Transport`] and the
//! event aliases), builds the serf-rs options and transport (fresh for every node,
//! see [`options`]), converts members and events, and works around what serf-rs
//! 0.5.2 cannot do through its public API. The node, builder, query and key modules
//! call the serf-rs handle through these aliases; no serf-rs type appears in
//! Serfer's public API except the [`EngineOptions`] escape hatch. The transport
//! ([`Transport`], built by [`transport_options`]) lives in
//! `hashicorp::transport`: memberlist-net's sockets, plus the translation to
//! HashiCorp's wire when the node is configured with [`Wire::HashiCorp`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serf::types::{MemberStatus as EngineStatus, SmolStr, Tags};

use crate::config::{Config, Profile, Wire};
use crate::engine::transport::{KeyRing, NodeTransportOptions};
use crate::error::Error;
use crate::member::{Member, MemberEventKind, MemberStatus};

pub(crate) mod trailer;
pub(crate) mod translate;
pub(crate) mod transport;

pub(crate) use trailer::{add_trailer, strip_trailer, TRAILER_LEN};

/// The transport: UDP gossip plus TCP streams, on tokio, in serf-rs's
/// encoding or translated to HashiCorp's.
pub(crate) type Transport = crate::engine::transport::NodeTransport;
pub(crate) type Delegate = serf::DefaultDelegate<Transport>;
pub(crate) type Serf = serf::Serf<Transport, Delegate>;
pub(crate) type Event = serf::event::Event<Transport, Delegate>;
pub(crate) type QueryEvent = serf::event::QueryEvent<Transport, Delegate>;
pub(crate) type EngineQueryResponse = serf::QueryResponse<SmolStr, SocketAddr>;
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
        ml.with_primary_key(primary.to_engine())
            .with_secret_keys(cfg.keys.iter().map(|k| k.to_engine()).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // With keys, encryption is really on: all four serf-rs settings.
        let key = crate::keys::Key::parse("QUJDREVGR0hJSktMTU5PUA==").unwrap();
        let opts = options(
            &Config {
                keys: vec![key],
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
