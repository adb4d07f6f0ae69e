//! Configuration files in `serf agent`'s JSON format, and the merge of every
//! source of settings, as Go's agent does it (`cmd/serf/command/agent/config.go`
//! `ReadConfigPaths`, `DecodeConfig`, `MergeConfig`; `command.go` `readConfig`).
//!
//! Each source is a [`Layer`]: each file, then the command line (flags and
//! `SERFER_*` variables) on top. Later layers win for single values; tags merge
//! key by key; `start_join`, `retry_join` and `event_handlers` add up. A
//! directory contributes its `*.json` files (not its subdirectories), in lexical
//! order. Keys `serf agent` does not know are an error, as in Go; keys it knows
//! that Serfer does not implement are ignored with a notice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tracing::Level;

use super::SettingsError;
use crate::config::{Engine, Profile, Wire};

/// One source of settings; `None` and empty lists are "not set here".
#[derive(Debug, Clone, Default)]
pub(crate) struct Layer {
    pub(crate) node: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) bind: Option<String>,
    pub(crate) advertise: Option<String>,
    pub(crate) join: Vec<String>,
    pub(crate) encrypt: Vec<String>,
    pub(crate) keyring_file: Option<PathBuf>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) tags_file: Option<PathBuf>,
    pub(crate) snapshot: Option<PathBuf>,
    pub(crate) profile: Option<Profile>,
    pub(crate) wire: Option<Wire>,
    pub(crate) engine: Option<Engine>,
    pub(crate) max_event_size: Option<usize>,
    pub(crate) query_size_limit: Option<usize>,
    pub(crate) query_response_size_limit: Option<usize>,
    pub(crate) replay: bool,
    pub(crate) log: Option<Level>,
    pub(crate) log_json: bool,
    pub(crate) syslog: bool,
    pub(crate) syslog_facility: Option<String>,
    pub(crate) syslog_socket: Option<PathBuf>,
    pub(crate) rpc_addr: Option<String>,
    pub(crate) rpc_auth: Option<String>,
    pub(crate) event_handlers: Vec<String>,
    pub(crate) retry_join: Vec<String>,
    pub(crate) retry_interval: Option<Duration>,
    pub(crate) retry_max: Option<u32>,
    /// Notices about settings read but not used, for the log.
    pub(crate) notices: Vec<String>,
}

impl Layer {
    /// `later` on top of `self`, as Go's `MergeConfig(self, later)`.
    pub(crate) fn merge(mut self, later: Layer) -> Layer {
        fn take<T>(a: &mut Option<T>, b: Option<T>) {
            if b.is_some() {
                *a = b;
            }
        }
        take(&mut self.node, later.node);
        take(&mut self.role, later.role);
        take(&mut self.bind, later.bind);
        take(&mut self.advertise, later.advertise);
        self.join.extend(later.join);
        if !later.encrypt.is_empty() {
            self.encrypt = later.encrypt;
        }
        take(&mut self.keyring_file, later.keyring_file);
        self.tags.extend(later.tags);
        take(&mut self.tags_file, later.tags_file);
        take(&mut self.snapshot, later.snapshot);
        take(&mut self.profile, later.profile);
        take(&mut self.wire, later.wire);
        take(&mut self.engine, later.engine);
        take(&mut self.max_event_size, later.max_event_size);
        take(&mut self.query_size_limit, later.query_size_limit);
        take(
            &mut self.query_response_size_limit,
            later.query_response_size_limit,
        );
        self.replay |= later.replay;
        take(&mut self.log, later.log);
        self.log_json |= later.log_json;
        self.syslog |= later.syslog;
        take(&mut self.syslog_facility, later.syslog_facility);
        take(&mut self.syslog_socket, later.syslog_socket);
        take(&mut self.rpc_addr, later.rpc_addr);
        take(&mut self.rpc_auth, later.rpc_auth);
        self.event_handlers.extend(later.event_handlers);
        self.retry_join.extend(later.retry_join);
        take(&mut self.retry_interval, later.retry_interval);
        take(&mut self.retry_max, later.retry_max);
        self.notices.extend(later.notices);
        self
    }
}

/// A configuration file as `serf agent` writes it, plus Serfer's `wire`, `engine`,
/// `log_json` and `syslog_socket`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_name: Option<String>,
    role: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    tags_file: Option<PathBuf>,
    bind: Option<String>,
    advertise: Option<String>,
    encrypt_key: Option<String>,
    keyring_file: Option<PathBuf>,
    log_level: Option<String>,
    rpc_addr: Option<String>,
    rpc_auth: Option<String>,
    replay_on_join: Option<bool>,
    query_response_size_limit: Option<usize>,
    query_size_limit: Option<usize>,
    user_event_size_limit: Option<usize>,
    start_join: Option<Vec<String>>,
    event_handlers: Option<Vec<String>>,
    profile: Option<String>,
    snapshot_path: Option<PathBuf>,
    enable_syslog: Option<bool>,
    syslog_facility: Option<String>,
    retry_join: Option<Vec<String>>,
    retry_max_attempts: Option<u32>,
    retry_interval: Option<String>,
    // Serfer's own.
    wire: Option<String>,
    engine: Option<String>,
    log_json: Option<bool>,
    syslog_socket: Option<PathBuf>,
}

/// Every key [`FileConfig`] reads.
const SUPPORTED: &[&str] = &[
    "node_name",
    "role",
    "tags",
    "tags_file",
    "bind",
    "advertise",
    "encrypt_key",
    "keyring_file",
    "log_level",
    "rpc_addr",
    "rpc_auth",
    "replay_on_join",
    "query_response_size_limit",
    "query_size_limit",
    "user_event_size_limit",
    "start_join",
    "event_handlers",
    "profile",
    "snapshot_path",
    "enable_syslog",
    "syslog_facility",
    "retry_join",
    "retry_max_attempts",
    "retry_interval",
    "wire",
    "engine",
    "log_json",
    "syslog_socket",
];

/// Keys of `serf agent` 0.9.4's `Config` that Serfer reads but does not act on.
const IGNORED: &[(&str, &str)] = &[
    ("disable_coordinates", "coordinates stay on"),
    ("protocol", "serf-rs speaks one protocol version"),
    (
        "leave_on_terminate",
        "Serfer always leaves gracefully on SIGTERM",
    ),
    (
        "skip_leave_on_interrupt",
        "Serfer always leaves gracefully on SIGINT",
    ),
    ("discover", "mDNS discovery is not implemented"),
    ("interface", "bind to an address instead"),
    ("reconnect_interval", "the engine's default applies"),
    ("reconnect_timeout", "the engine's default applies"),
    ("tombstone_timeout", "the engine's default applies"),
    ("disable_name_resolution", "the engine's default applies"),
    ("rejoin_after_leave", "not implemented"),
    ("enable_compression", "not implemented"),
    ("statsite_addr", "metrics sinks are not implemented"),
    ("statsd_addr", "metrics sinks are not implemented"),
    ("broadcast_timeout", "the engine's default applies"),
];

/// Reads `paths` in order (files, or directories of `*.json` files in lexical
/// order), each a layer over the ones before.
pub(crate) fn read_paths(paths: &[PathBuf]) -> Result<Layer, SettingsError> {
    let mut layer = Layer::default();
    for path in paths {
        let read_err = |source| SettingsError::Read {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if !meta.is_dir() {
            layer = layer.merge(read_file(path)?);
            continue;
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let name = entry.file_name();
            let is_dir = entry.file_type().map_err(read_err)?.is_dir();
            if !is_dir && name.to_string_lossy().ends_with(".json") {
                files.push(entry.path());
            }
        }
        files.sort();
        for file in files {
            layer = layer.merge(read_file(&file)?);
        }
    }
    Ok(layer)
}

/// One configuration file as a layer.
pub(crate) fn read_file(path: &Path) -> Result<Layer, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })?;
    decode(path, &text)
}

fn decode(path: &Path, text: &str) -> Result<Layer, SettingsError> {
    let decode_err = |reason: String| SettingsError::Decode {
        path: path.to_owned(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| decode_err(e.to_string()))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(decode_err("it must be a JSON object".into()));
    };
    let mut notices = Vec::new();
    for (key, why) in IGNORED {
        if map.remove(*key).is_some() {
            notices.push(format!(
                "{}: `{key}` is a serf agent setting Serfer ignores ({why})",
                path.display()
            ));
        }
    }
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !SUPPORTED.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(SettingsError::UnknownKeys {
            path: path.to_owned(),
            keys: unknown.join(", "),
        });
    }
    let f: FileConfig = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| decode_err(e.to_string()))?;
    fn parsed<T>(path: &Path, name: &str, r: Result<T, String>) -> Result<T, SettingsError> {
        r.map_err(|reason| SettingsError::Decode {
            path: path.to_owned(),
            reason: format!("`{name}`: {reason}"),
        })
    }
    Ok(Layer {
        node: f.node_name,
        role: f.role,
        bind: f.bind,
        advertise: f.advertise,
        join: f.start_join.unwrap_or_default(),
        encrypt: f
            .encrypt_key
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect(),
        keyring_file: f.keyring_file,
        tags: f.tags.unwrap_or_default(),
        tags_file: f.tags_file,
        snapshot: f.snapshot_path,
        profile: f
            .profile
            .map(|p| parsed(path, "profile", p.parse()))
            .transpose()?,
        wire: f
            .wire
            .map(|w| parsed(path, "wire", w.parse()))
            .transpose()?,
        engine: f
            .engine
            .map(|e| parsed(path, "engine", e.parse()))
            .transpose()?,
        max_event_size: f.user_event_size_limit,
        query_size_limit: f.query_size_limit,
        query_response_size_limit: f.query_response_size_limit,
        replay: f.replay_on_join.unwrap_or(false),
        log: f
            .log_level
            .map(|l| {
                parsed(
                    path,
                    "log_level",
                    crate::logs::parse_level(&l).ok_or_else(|| {
                        format!("unknown level `{l}`; expected TRACE, DEBUG, INFO, WARN or ERR")
                    }),
                )
            })
            .transpose()?,
        log_json: f.log_json.unwrap_or(false),
        syslog: f.enable_syslog.unwrap_or(false),
        syslog_facility: f.syslog_facility,
        syslog_socket: f.syslog_socket,
        rpc_addr: f.rpc_addr,
        rpc_auth: f.rpc_auth,
        event_handlers: f.event_handlers.unwrap_or_default(),
        retry_join: f.retry_join.unwrap_or_default(),
        retry_interval: f
            .retry_interval
            .map(|d| parsed(path, "retry_interval", super::duration::parse(&d)))
            .transpose()?,
        retry_max: f.retry_max_attempts,
        notices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> Result<Layer, SettingsError> {
        decode(Path::new("test.json"), text)
    }

    #[test]
    fn go_keys_decode() {
        let l = layer(
            r#"{"node_name":"a","tags":{"role":"web"},"start_join":["127.0.0.1:1"],
                "retry_interval":"2s","retry_max_attempts":3,"log_level":"err",
                "event_handlers":["user:x=true"],"profile":"local","statsd_addr":"x"}"#,
        )
        .unwrap();
        assert_eq!(l.node.as_deref(), Some("a"));
        assert_eq!(l.retry_interval, Some(Duration::from_secs(2)));
        assert_eq!(l.retry_max, Some(3));
        assert_eq!(l.log, Some(Level::ERROR));
        assert_eq!(l.profile, Some(Profile::Local));
        assert_eq!(l.notices.len(), 1, "{:?}", l.notices);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = layer(r#"{"node_name":"a","nodename":"b","bogus":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown keys: bogus, nodename"), "{err}");
        let err = layer(r#"{"retry_max_attempts":"3"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.json"), "{err}");
        let err = layer(r#"{"retry_interval":"3"}"#).unwrap_err().to_string();
        assert!(err.contains("`retry_interval`"), "{err}");
        assert!(layer("[1]").is_err());
    }

    #[test]
    fn later_layers_win_lists_add_up_tags_merge() {
        let a = layer(
            r#"{"node_name":"a","tags":{"x":"1","y":"1"},"retry_join":["j1"],"encrypt_key":"k1"}"#,
        )
        .unwrap();
        let b = layer(r#"{"node_name":"b","tags":{"y":"2"},"retry_join":["j2"]}"#).unwrap();
        let m = a.merge(b);
        assert_eq!(m.node.as_deref(), Some("b"));
        assert_eq!(m.tags["x"], "1");
        assert_eq!(m.tags["y"], "2");
        assert_eq!(m.retry_join, ["j1", "j2"]);
        assert_eq!(
            m.encrypt,
            ["k1"],
            "an unset key does not clear an earlier one"
        );
    }
}
