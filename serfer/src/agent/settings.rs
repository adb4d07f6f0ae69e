//! The settings of a `run!()` node once every layer is merged: defaults filled
//! in, Go's rules checked, and applied to a [`NodeBuilder`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use tracing::Level;

use super::config_file::Layer;
use super::logging::{Facility, LogOptions, SyslogOptions};
use super::retry::{RetryJoin, DEFAULT_INTERVAL, MIN_INTERVAL};
use super::SettingsError;
use crate::builder::NodeBuilder;
use crate::config::{Engine, Profile, Wire};

/// The default `--bind`.
pub(crate) const DEFAULT_BIND: &str = "127.0.0.1:7946";

/// Everything a `run!()` node is started with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    node: Option<String>,
    bind: String,
    advertise: Option<String>,
    join: Vec<String>,
    encrypt: Vec<String>,
    keyring_file: Option<PathBuf>,
    tags: BTreeMap<String, String>,
    tags_file: Option<PathBuf>,
    snapshot: Option<PathBuf>,
    profile: Profile,
    wire: Option<Wire>,
    /// Left out when not given: the builder then picks the engine that
    /// speaks the wire.
    engine: Option<Engine>,
    max_event_size: usize,
    query_size_limit: Option<usize>,
    query_response_size_limit: Option<usize>,
    replay: bool,
    rpc: Option<(String, Option<String>)>,
    event_handlers: Vec<String>,
    pub(crate) log: LogOptions,
    pub(crate) retry: Option<RetryJoin>,
    /// Things to tell the operator once logging is up.
    pub(crate) notices: Vec<String>,
}

impl Settings {
    /// Fills in the defaults and applies Go's rules to the merged layers.
    pub(crate) fn resolve(l: Layer) -> Result<Settings, SettingsError> {
        let mut notices = l.notices;
        let mut tags = l.tags;
        if let Some(role) = l.role {
            notices.push("the `role` setting is deprecated: use the tag `role`".into());
            tags.insert("role".into(), role);
        }
        if !l.encrypt.is_empty() && l.keyring_file.is_some() {
            return Err(SettingsError::KeyAndKeyring);
        }
        if !tags.is_empty() && l.tags_file.is_some() {
            return Err(SettingsError::TagsAndTagsFile);
        }
        for spec in &l.event_handlers {
            crate::event_script::parse(spec).map_err(|reason| SettingsError::Invalid {
                name: "event_handlers",
                reason,
            })?;
        }
        let syslog = if l.syslog {
            let facility = l.syslog_facility.as_deref().unwrap_or("LOCAL0");
            Some(SyslogOptions {
                facility: facility.parse::<Facility>().map_err(|reason| {
                    SettingsError::Invalid {
                        name: "syslog_facility",
                        reason,
                    }
                })?,
                socket: l.syslog_socket,
            })
        } else {
            None
        };
        let retry = if l.retry_join.is_empty() {
            None
        } else {
            let mut interval = l.retry_interval.unwrap_or(DEFAULT_INTERVAL);
            if interval < MIN_INTERVAL {
                notices.push(format!(
                    "the retry interval {interval:?} is too low; using {MIN_INTERVAL:?}"
                ));
                interval = MIN_INTERVAL;
            }
            Some(RetryJoin {
                addrs: l.retry_join,
                interval,
                max: l.retry_max.unwrap_or(0),
                replay: l.replay,
            })
        };
        Ok(Settings {
            node: l.node,
            bind: l.bind.unwrap_or_else(|| DEFAULT_BIND.to_owned()),
            advertise: l.advertise,
            join: l.join,
            encrypt: l.encrypt,
            keyring_file: l.keyring_file,
            tags,
            tags_file: l.tags_file,
            snapshot: l.snapshot,
            profile: l.profile.unwrap_or_default(),
            wire: l.wire,
            engine: l.engine,
            max_event_size: l.max_event_size.unwrap_or(512),
            query_size_limit: l.query_size_limit,
            query_response_size_limit: l.query_response_size_limit,
            replay: l.replay,
            rpc: l.rpc_addr.map(|a| (a, l.rpc_auth)),
            event_handlers: l.event_handlers,
            log: LogOptions {
                level: l.log.unwrap_or(Level::INFO),
                json: l.log_json,
                syslog,
            },
            retry,
            notices,
        })
    }

    /// Applies these settings on top of `b`. Keys given here (`--encrypt`, a
    /// keyring file) replace the builder's own, so that a program's built-in
    /// key never stays primary beside the operator's.
    pub(crate) fn apply(&self, mut b: NodeBuilder) -> NodeBuilder {
        if let Some(n) = &self.node {
            b = b.name(n.clone());
        }
        b = b
            .bind(self.bind.clone())
            .profile(self.profile)
            .max_event_size(self.max_event_size);
        if let Some(e) = self.engine {
            b = b.engine(e);
        }
        if let Some(w) = self.wire {
            b = b.wire(w);
        }
        if let Some(a) = &self.advertise {
            b = b.advertise(a.clone());
        }
        for j in &self.join {
            b = b.join(j.clone());
        }
        if !self.encrypt.is_empty() || self.keyring_file.is_some() {
            b = b.clear_keys();
        }
        for k in &self.encrypt {
            b = b.key(k.clone());
        }
        if let Some(p) = &self.keyring_file {
            b = b.keyring_file(p.clone());
        }
        for (k, v) in &self.tags {
            b = b.tag(k.clone(), v.clone());
        }
        if let Some(p) = &self.tags_file {
            b = b.tags_file(p.clone());
        }
        if let Some(s) = &self.snapshot {
            b = b.snapshot(s.clone());
        }
        if self.replay {
            b = b.replay_old_events(true);
        }
        if let Some(n) = self.query_size_limit {
            b = b.query_size_limit(n);
        }
        if let Some(n) = self.query_response_size_limit {
            b = b.query_response_size_limit(n);
        }
        if let Some((addr, auth)) = &self.rpc {
            b = b.rpc(addr.clone(), auth.clone());
        }
        for h in &self.event_handlers {
            b = b.event_handler(h);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gos_rules() {
        let l = Layer {
            encrypt: vec!["k".into()],
            keyring_file: Some("f".into()),
            ..Layer::default()
        };
        assert!(matches!(
            Settings::resolve(l),
            Err(SettingsError::KeyAndKeyring)
        ));
        let l = Layer {
            role: Some("web".into()),
            tags_file: Some("f".into()),
            ..Layer::default()
        };
        assert!(matches!(
            Settings::resolve(l),
            Err(SettingsError::TagsAndTagsFile)
        ));
        let l = Layer {
            retry_join: vec!["a".into()],
            retry_interval: Some(std::time::Duration::from_millis(10)),
            ..Layer::default()
        };
        let s = Settings::resolve(l).unwrap();
        let r = s.retry.unwrap();
        assert_eq!((r.interval, r.max), (MIN_INTERVAL, 0));
        assert_eq!(s.notices.len(), 1);
        let l = Layer {
            retry_join: vec!["a".into()],
            ..Layer::default()
        };
        assert_eq!(
            Settings::resolve(l).unwrap().retry.unwrap().interval,
            DEFAULT_INTERVAL
        );
        let l = Layer {
            event_handlers: vec!["nope=x".into()],
            ..Layer::default()
        };
        assert!(Settings::resolve(l).is_err());
    }
}
