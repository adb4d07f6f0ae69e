//! Node settings and their defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::keys::Key;

/// The default gossip port, as Serf's.
pub const DEFAULT_PORT: u16 = 7946;

/// Failure-detection and gossip timing.
///
/// | profile | probe interval | probe timeout | gossip interval | suspicion mult | push/pull |
/// |---|---|---|---|---|---|
/// | `Lan` (default) | 1 s | 500 ms | 200 ms | 4 | 30 s |
/// | `Wan` | 5 s | 3 s | 500 ms | 6 | 60 s |
/// | `Local` | 1 s | 200 ms | 100 ms | 3 | 15 s |
///
/// These are the values of Go memberlist's presets, which HashiCorp's `serf agent`
/// uses. serf-rs's own `lan()` preset differs (500 ms interval, 1 s timeout); Serfer
/// uses Go's so that a Serfer node and a Go agent judge failures alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// A local network.
    #[default]
    Lan,
    /// A wide-area network.
    Wan,
    /// One machine (loopback): the fastest failure detection.
    Local,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "lan" => Ok(Profile::Lan),
            "wan" => Ok(Profile::Wan),
            "local" => Ok(Profile::Local),
            other => Err(format!(
                "unknown profile `{other}`, expected one of: lan, wan, local"
            )),
        }
    }
}

/// The gossip wire format a node speaks.
///
/// Every node of a cluster must speak the same one. HashiCorp's is the
/// default: it makes the node a peer of HashiCorp's `serf agent` (and of the
/// Go Serfer), so that a stock agent can join it and `serf members`,
/// `serf event` and `serf query` work across both. [`Wire::SerfRs`] is
/// serf-rs's own encoding, spoken only by the serf-rs engine: the wire of
/// Serfer clusters started before the native engine became the default.
///
/// ```no_run
/// # async fn demo() -> Result<(), serfer::Error> {
/// // A peer of `serf agent -encrypt=QUJDREVGR0hJSktMTU5PUA== -bind=127.0.0.1:7946`.
/// let node = serfer::Node::builder()
///     .wire(serfer::Wire::HashiCorp)
///     .bind("127.0.0.1:7947")
///     .key("QUJDREVGR0hJSktMTU5PUA==")
///     .join("127.0.0.1:7946")
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// serf-rs's encoding: Serfer nodes on the serf-rs engine and serf-rs
    /// nodes only. Choosing it without an engine selects [`Engine::SerfRs`],
    /// and it is that engine's default.
    SerfRs,
    /// HashiCorp Serf's encoding (memberlist 0.2.2, Serf protocol 4/5, as
    /// spoken by `serf agent` 0.9.4), the default: Go agents and Serfer nodes
    /// together.
    #[default]
    HashiCorp,
}

impl std::str::FromStr for Wire {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "serf-rs" => Ok(Wire::SerfRs),
            "hashicorp" => Ok(Wire::HashiCorp),
            other => Err(format!(
                "unknown wire `{other}`, expected one of: serf-rs, hashicorp"
            )),
        }
    }
}

impl std::fmt::Display for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Wire::SerfRs => "serf-rs",
            Wire::HashiCorp => "hashicorp",
        })
    }
}

/// The gossip engine that runs a node.
///
/// Both speak Serf: membership, failure detection, user events, queries,
/// tags, encryption and key rotation, behind the same [`Node`](crate::Node)
/// API and handlers. The native engine is the default: Serfer's own
/// (`serfer-engine`), Go's memberlist and Serf written from their behaviour,
/// speaking HashiCorp's wire without translation. serf-rs (the `serf` crate,
/// 0.5.2) stays selectable for clusters that still speak its wire
/// ([`Wire::SerfRs`]); `docs/engine.md` says how the two compare.
///
/// ```no_run
/// # async fn demo() -> Result<(), serfer::Error> {
/// // A node of a cluster started before the native engine was the default.
/// let node = serfer::Node::builder()
///     .engine(serfer::Engine::SerfRs)
///     .bind("127.0.0.1:7946")
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// serf-rs 0.5.2, on the wire chosen with [`Wire`] (its own unless
    /// [`Wire::HashiCorp`] is chosen).
    SerfRs,
    /// Serfer's own engine (the default), on HashiCorp's wire.
    #[default]
    Native,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "serf-rs" => Ok(Engine::SerfRs),
            "native" => Ok(Engine::Native),
            other => Err(format!(
                "unknown engine `{other}`, expected one of: serf-rs, native"
            )),
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::SerfRs => "serf-rs",
            Engine::Native => "native",
        })
    }
}

/// Everything a node is started with (the builder's fields, resolved).
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) name: Option<String>,
    pub(crate) bind: SocketAddr,
    pub(crate) advertise: Option<SocketAddr>,
    pub(crate) join: Vec<String>,
    pub(crate) keys: Vec<Key>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) profile: Profile,
    pub(crate) wire: Wire,
    pub(crate) engine: Engine,
    pub(crate) snapshot: Option<PathBuf>,
    pub(crate) max_event_size: usize,
    pub(crate) event_buffer_size: usize,
    pub(crate) event_queue_wait: Duration,
    pub(crate) query_timeout: Option<Duration>,
    pub(crate) coalesce: Option<Duration>,
    pub(crate) replay_old_events: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: None,
            bind: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            advertise: None,
            join: Vec::new(),
            keys: Vec::new(),
            tags: BTreeMap::new(),
            profile: Profile::Lan,
            wire: Wire::HashiCorp,
            engine: Engine::Native,
            snapshot: None,
            max_event_size: 512,
            event_buffer_size: 512,
            event_queue_wait: Duration::from_secs(10),
            query_timeout: None,
            coalesce: None,
            replay_old_events: false,
        }
    }
}

/// The default node name: the host name and a short random suffix, so that two
/// nodes started on one machine do not collide.
pub(crate) fn default_name() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let host = if host.is_empty() {
        "serfer".to_owned()
    } else {
        host
    };
    format!("{host}-{:04x}", rand::random::<u16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_round_trip_and_unknown_ones_are_explained() {
        for engine in [Engine::SerfRs, Engine::Native] {
            assert_eq!(engine.to_string().parse::<Engine>(), Ok(engine));
        }
        assert_eq!(Engine::default(), Engine::Native);
        let err = "go".parse::<Engine>().unwrap_err();
        assert!(
            err.contains("`go`") && err.contains("serf-rs, native"),
            "{err}"
        );
    }

    #[test]
    fn wire_names_round_trip_and_unknown_ones_are_explained() {
        for wire in [Wire::SerfRs, Wire::HashiCorp] {
            assert_eq!(wire.to_string().parse::<Wire>(), Ok(wire));
        }
        assert_eq!("HashiCorp".parse::<Wire>(), Ok(Wire::HashiCorp));
        assert_eq!(Wire::default(), Wire::HashiCorp);
        let err = "go".parse::<Wire>().unwrap_err();
        assert!(
            err.contains("`go`") && err.contains("serf-rs, hashicorp"),
            "{err}"
        );
    }
}
