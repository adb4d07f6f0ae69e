//! `stream` and `monitor`: records pushed to a client as events and log lines
//! happen, dropped rather than waited for when the client does not keep up.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rmpv::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codec::map;
use super::commands::{member_value, versions};
use super::server::{header, Connection, Out};
use crate::event::{Incoming, Tapped};

impl Connection {
    pub(super) fn start_stream(&self, seq: u64, filter: StreamFilter) -> JoinHandle<()> {
        let mut rx = self.node.subscribe();
        let out = self.out.clone();
        let pending = self.pending.clone();
        let ids = self.next_query_id.clone();
        let timeout = self.node.inner.query_timeout;
        let engine = self.node.inner.engine.clone();
        let vsn = versions(self.node.inner.wire);
        tokio::spawn(async move {
            loop {
                let Tapped { incoming, query } = match rx.recv().await {
                    Ok(t) => t,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("rpc: stream fell behind, dropped {n} events");
                        continue;
                    }
                    Err(_) => break,
                };
                if !filter.accepts(&incoming) {
                    continue;
                }
                let record = match (&*incoming, query) {
                    (
                        Incoming::User {
                            name,
                            ltime,
                            coalesce,
                            payload,
                        },
                        _,
                    ) => map([
                        ("Coalesce", Value::Boolean(*coalesce)),
                        ("Event", Value::from("user")),
                        ("LTime", Value::from(*ltime)),
                        ("Name", Value::from(&**name)),
                        ("Payload", Value::Binary(payload.to_vec())),
                    ]),
                    (Incoming::Member { kind, members }, _) => map([
                        ("Event", Value::from(kind.serf_name())),
                        (
                            "Members",
                            Value::Array(members.iter().map(|m| member_value(m, vsn)).collect()),
                        ),
                    ]),
                    (
                        Incoming::Query {
                            name,
                            ltime,
                            payload,
                            ..
                        },
                        Some(q),
                    ) => {
                        let id = ids.fetch_add(1, Ordering::Relaxed);
                        let wait = match timeout {
                            Some(t) => t,
                            None => engine.default_query_timeout().await,
                        };
                        pending.lock().await.insert(id, (q, Instant::now() + wait));
                        let expire = pending.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            expire.lock().await.remove(&id);
                        });
                        map([
                            ("Event", Value::from("query")),
                            ("ID", Value::from(id)),
                            ("LTime", Value::from(*ltime)),
                            ("Name", Value::from(&**name)),
                            ("Payload", Value::Binary(payload.to_vec())),
                        ])
                    }
                    (Incoming::Query { .. }, None) => continue,
                };
                match out.try_send(Out::Frames(vec![header(seq, ""), record])) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!("rpc: client is not reading; dropping event");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        })
    }

    pub(super) fn start_monitor(&self, seq: u64, level: tracing::Level) -> JoinHandle<()> {
        let out = self.out.clone();
        // Held by the task: while it runs, the node formats lines at `level`.
        let watch = crate::logs::watch(level);
        tokio::spawn(async move {
            // Moved in whole, guard included (a block would capture only the
            // fields it uses).
            let mut watch = watch;
            let send = |text: String| {
                out.try_send(Out::Frames(vec![
                    header(seq, ""),
                    map([("Log", Value::from(text))]),
                ]))
            };
            for line in std::mem::take(&mut watch.recent) {
                if let Err(mpsc::error::TrySendError::Closed(_)) = send(line.text) {
                    return;
                }
            }
            loop {
                match watch.rx.recv().await {
                    Ok(line) if line.level <= level => {
                        if let Err(mpsc::error::TrySendError::Closed(_)) = send(line.text) {
                            return;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
        })
    }
}

/// `stream` filters: `*`, `member-join`…, `user`, `user:NAME`, `query`, `query:NAME`.
#[derive(Debug)]
pub(super) struct StreamFilter(Vec<Kind>);

#[derive(Debug)]
enum Kind {
    All,
    Member(&'static str),
    User(Option<String>),
    Query(Option<String>),
}

impl StreamFilter {
    pub(super) fn parse(text: &str) -> Option<StreamFilter> {
        if text.is_empty() {
            return Some(StreamFilter(vec![Kind::All]));
        }
        text.split(',')
            .map(|part| match part {
                "*" => Some(Kind::All),
                "user" => Some(Kind::User(None)),
                "query" => Some(Kind::Query(None)),
                p if p.starts_with("user:") => Some(Kind::User(Some(p[5..].to_owned()))),
                p if p.starts_with("query:") => Some(Kind::Query(Some(p[6..].to_owned()))),
                p => crate::MemberEventKind::ALL
                    .iter()
                    .find(|k| k.serf_name() == p)
                    .map(|k| Kind::Member(k.serf_name())),
            })
            .collect::<Option<Vec<_>>>()
            .map(StreamFilter)
    }

    pub(super) fn accepts(&self, incoming: &Incoming) -> bool {
        self.0.iter().any(|k| match (k, incoming) {
            (Kind::All, _) => true,
            (Kind::Member(name), Incoming::Member { kind, .. }) => *name == kind.serf_name(),
            (Kind::User(n), Incoming::User { name, .. }) => {
                n.as_deref().is_none_or(|n| n == &**name)
            }
            (Kind::Query(n), Incoming::Query { name, .. }) => {
                n.as_deref().is_none_or(|n| n == &**name)
            }
            _ => false,
        })
    }
}
