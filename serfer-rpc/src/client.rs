//! A client for Serf's agent RPC: what the `serfer` CLI speaks, to a Serfer node or
//! to HashiCorp's `serf agent` alike.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmpv::Value;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::codec::{self, map, Fields, FrameReader};

/// What went wrong talking to an agent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect or the connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The agent answered with an error.
    #[error("{0}")]
    Agent(String),
    /// The agent closed the connection.
    #[error("client closed")]
    Closed,
    /// The agent sent something unexpected.
    #[error("protocol error: {0}")]
    Protocol(String),
}

type Reply = (String, Option<Value>);

enum Waiter {
    Once {
        body: bool,
        tx: oneshot::Sender<Reply>,
    },
    Stream {
        first: Option<oneshot::Sender<Reply>>,
        records: mpsc::UnboundedSender<Value>,
    },
}

/// A connection to an agent's RPC address.
pub struct Client {
    write: Mutex<OwnedWriteHalf>,
    seq: AtomicU64,
    waiters: Arc<std::sync::Mutex<HashMap<u64, Waiter>>>,
    /// Set when the agent closed the connection: later calls fail at once.
    closed: Arc<std::sync::atomic::AtomicBool>,
}

/// A member as the agent lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberInfo {
    /// Node name.
    pub name: String,
    /// Gossip address.
    pub addr: std::net::IpAddr,
    /// Gossip port.
    pub port: u16,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// `alive`, `leaving`, `left` or `failed`.
    pub status: String,
    /// Serf protocol: min, max, current.
    pub delegate: (u8, u8, u8),
}

/// The answer to a key command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyResponse {
    /// Key → how many nodes hold it (`list-keys` only).
    pub keys: BTreeMap<String, u64>,
    /// Node → message.
    pub messages: BTreeMap<String, String>,
    /// Nodes known, answered, failed.
    pub num_nodes: u64,
    /// Nodes that answered.
    pub num_resp: u64,
    /// Nodes that failed.
    pub num_err: u64,
}

/// One record of a running query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryRecord {
    /// A node acknowledged.
    Ack(String),
    /// A node answered.
    Response(String, Vec<u8>),
}

/// What to ask with [`Client::query`].
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    /// Query name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Only these nodes.
    pub nodes: Vec<String>,
    /// Tag → regex.
    pub tags: BTreeMap<String, String>,
    /// Ask for acks.
    pub request_ack: bool,
    /// Relay factor.
    pub relay_factor: u8,
    /// Timeout (zero: the agent's default).
    pub timeout: Duration,
    /// Ask a Serfer agent to end the stream as soon as every node the query was
    /// expected to reach has answered (and acked, when acks were asked for). A Serfer
    /// extension: HashiCorp's agent ignores it and streams until the timeout, which
    /// is also Serfer's default, because `serf query` can lose acks to an early end.
    pub finish_early: bool,
}

impl Client {
    /// Connects, handshakes, and authenticates when `auth` is given.
    pub async fn connect(addr: &str, auth: Option<&str>) -> Result<Client, ClientError> {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .map_err(|_| {
                ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                ))
            })??;
        // Requests are small and latency-bound: no Nagle delay (as Go's client).
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let waiters: Arc<std::sync::Mutex<HashMap<u64, Waiter>>> = Arc::default();
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(read_loop(
            FrameReader::new(read),
            waiters.clone(),
            closed.clone(),
        ));
        let client = Client {
            write: Mutex::new(write),
            seq: AtomicU64::new(1),
            waiters,
            closed,
        };
        client
            .call(
                "handshake",
                Some(map([("Version", Value::from(super::IPC_VERSION))])),
                false,
            )
            .await?;
        if let Some(key) = auth.filter(|k| !k.is_empty()) {
            client
                .call("auth", Some(map([("AuthKey", Value::from(key))])), false)
                .await?;
        }
        Ok(client)
    }

    async fn send(
        &self,
        command: &str,
        body: Option<Value>,
        waiter: Waiter,
    ) -> Result<u64, ClientError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        {
            // Checked under the lock the reader clears waiters under, so no waiter
            // is left behind by a reader that has already finished.
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            if self.closed.load(Ordering::Acquire) {
                return Err(ClientError::Closed);
            }
            waiters.insert(seq, waiter);
        }
        let mut frames = vec![map([
            ("Command", Value::from(command)),
            ("Seq", Value::from(seq)),
        ])];
        frames.extend(body);
        let mut w = self.write.lock().await;
        codec::write(&mut *w, &frames).await?;
        Ok(seq)
    }

    async fn call(
        &self,
        command: &str,
        body: Option<Value>,
        has_body: bool,
    ) -> Result<Option<Value>, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.send(command, body, Waiter::Once { body: has_body, tx })
            .await?;
        let (err, body) = rx.await.map_err(|_| ClientError::Closed)?;
        if err.is_empty() {
            Ok(body)
        } else {
            Err(ClientError::Agent(err))
        }
    }

    /// Every member (`members-filtered` with no filters, as Serf's CLI does).
    pub async fn members(&self) -> Result<Vec<MemberInfo>, ClientError> {
        self.members_filtered(&BTreeMap::new(), "", "").await
    }

    /// Members whose tags, status and name match the anchored regexes.
    pub async fn members_filtered(
        &self,
        tags: &BTreeMap<String, String>,
        status: &str,
        name: &str,
    ) -> Result<Vec<MemberInfo>, ClientError> {
        let body = map([
            ("Name", Value::from(name)),
            ("Status", Value::from(status)),
            ("Tags", codec::str_map(tags)),
        ]);
        let reply = self.call("members-filtered", Some(body), true).await?;
        parse_members(reply.as_ref())
    }

    /// Sends a user event.
    pub async fn event(
        &self,
        name: &str,
        payload: Option<&[u8]>,
        coalesce: bool,
    ) -> Result<(), ClientError> {
        let body = map([
            ("Coalesce", Value::Boolean(coalesce)),
            ("Name", Value::from(name)),
            ("Payload", codec::bin_or_nil(payload)),
        ]);
        self.call("event", Some(body), false).await.map(drop)
    }

    /// Runs a query; records arrive on the returned channel, which closes when it is done.
    pub async fn query(
        &self,
        q: &QueryRequest,
    ) -> Result<mpsc::UnboundedReceiver<QueryRecord>, ClientError> {
        let body = map([
            (
                "FilterNodes",
                if q.nodes.is_empty() {
                    Value::Nil
                } else {
                    Value::Array(q.nodes.iter().map(|n| Value::from(n.as_str())).collect())
                },
            ),
            ("FilterTags", codec::str_map(&q.tags)),
            ("FinishEarly", Value::Boolean(q.finish_early)),
            ("Name", Value::from(q.name.as_str())),
            ("Payload", codec::bin_or_nil(Some(&q.payload))),
            ("RelayFactor", Value::from(q.relay_factor)),
            ("RequestAck", Value::Boolean(q.request_ack)),
            ("Timeout", Value::from(q.timeout.as_nanos() as u64)),
        ]);
        let (first, records) = self.stream_call("query", body).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = first;
        tokio::spawn(async move {
            let mut records = records;
            while let Some(r) = records.recv().await {
                let Ok(f) = Fields::of(&r) else { break };
                let from = f.str("From").unwrap_or_default();
                let ty = f.str("Type").unwrap_or_default();
                let rec = match ty.as_str() {
                    "ack" if !from.is_empty() => QueryRecord::Ack(from),
                    "response" if !from.is_empty() => QueryRecord::Response(
                        from,
                        f.bytes("Payload").ok().flatten().unwrap_or_default(),
                    ),
                    _ => break,
                };
                if tx.send(rec).is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }

    async fn stream_call(
        &self,
        command: &str,
        body: Value,
    ) -> Result<(u64, mpsc::UnboundedReceiver<Value>), ClientError> {
        let (first_tx, first_rx) = oneshot::channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let seq = self
            .send(
                command,
                Some(body),
                Waiter::Stream {
                    first: Some(first_tx),
                    records: tx,
                },
            )
            .await?;
        let (err, _) = first_rx.await.map_err(|_| ClientError::Closed)?;
        if !err.is_empty() {
            self.waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&seq);
            return Err(ClientError::Agent(err));
        }
        Ok((seq, rx))
    }

    /// Subscribes to events (`*`, `user`, `user:NAME`, `member-join`, `query`, …):
    /// each record as the agent sends it.
    pub async fn stream(
        &self,
        filter: &str,
    ) -> Result<(u64, mpsc::UnboundedReceiver<Value>), ClientError> {
        self.stream_call("stream", map([("Type", Value::from(filter))]))
            .await
    }

    /// Streams log lines at `level` (TRACE, DEBUG, INFO, WARN, ERR).
    pub async fn monitor(
        &self,
        level: &str,
    ) -> Result<(u64, mpsc::UnboundedReceiver<String>), ClientError> {
        let (seq, mut records) = self
            .stream_call("monitor", map([("LogLevel", Value::from(level))]))
            .await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(r) = records.recv().await {
                let line = Fields::of(&r)
                    .ok()
                    .and_then(|f| f.str("Log").ok())
                    .unwrap_or_default();
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok((seq, rx))
    }

    /// Ends a stream or monitor.
    pub async fn stop(&self, seq: u64) -> Result<(), ClientError> {
        self.call("stop", Some(map([("Stop", Value::from(seq))])), false)
            .await
            .map(drop)
    }

    /// Answers a query received on a stream of this connection.
    pub async fn respond(&self, id: u64, payload: &[u8]) -> Result<(), ClientError> {
        let body = map([
            ("ID", Value::from(id)),
            ("Payload", Value::Binary(payload.to_vec())),
        ]);
        self.call("respond", Some(body), false).await.map(drop)
    }

    /// Changes the agent's tags.
    pub async fn tags(
        &self,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), ClientError> {
        let body = map([
            (
                "DeleteTags",
                Value::Array(delete.iter().map(|d| Value::from(d.as_str())).collect()),
            ),
            ("Tags", codec::str_map(set)),
        ]);
        self.call("tags", Some(body), false).await.map(drop)
    }

    /// Joins through `addrs`; returns how many answered.
    pub async fn join(&self, addrs: &[String], replay: bool) -> Result<u64, ClientError> {
        let body = map([
            (
                "Existing",
                Value::Array(addrs.iter().map(|a| Value::from(a.as_str())).collect()),
            ),
            ("Replay", Value::Boolean(replay)),
        ]);
        let reply = self.call("join", Some(body), true).await?;
        Ok(reply
            .as_ref()
            .and_then(|b| Fields::of(b).ok()?.uint("Num").ok())
            .unwrap_or(0))
    }

    /// Makes the agent leave the cluster (it then shuts down).
    pub async fn leave(&self) -> Result<(), ClientError> {
        self.call("leave", None, false).await.map(drop)
    }

    /// Forces a failed member out.
    pub async fn force_leave(&self, node: &str, prune: bool) -> Result<(), ClientError> {
        let body = map([
            ("Node", Value::from(node)),
            ("Prune", Value::Boolean(prune)),
        ]);
        self.call("force-leave", Some(body), false).await.map(drop)
    }

    /// `install-key`, `use-key`, `remove-key` (with a key) or `list-keys` (without).
    /// The response comes back even when the agent reports an error.
    pub async fn keys(
        &self,
        command: &str,
        key: Option<&str>,
    ) -> Result<(KeyResponse, Option<String>), ClientError> {
        let (tx, rx) = oneshot::channel();
        let body = key.map(|k| map([("Key", Value::from(k))]));
        self.send(command, body, Waiter::Once { body: true, tx })
            .await?;
        let (err, body) = rx.await.map_err(|_| ClientError::Closed)?;
        let mut r = KeyResponse::default();
        if let Some(f) = body.as_ref().and_then(|b| Fields::of(b).ok()) {
            r.num_nodes = f.uint("NumNodes").unwrap_or(0);
            r.num_resp = f.uint("NumResp").unwrap_or(0);
            r.num_err = f.uint("NumErr").unwrap_or(0);
            r.messages = f
                .str_map("Messages")
                .unwrap_or_default()
                .into_iter()
                .collect();
            r.keys = f.uint_map("Keys").unwrap_or_default().into_iter().collect();
        }
        Ok((r, (!err.is_empty()).then_some(err)))
    }

    /// The agent's statistics: section → key → value.
    pub async fn stats(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>, ClientError> {
        let reply = self.call("stats", None, true).await?;
        let mut out = BTreeMap::new();
        if let Some(Value::Map(sections)) = reply {
            for (k, v) in sections {
                let section = match v {
                    Value::Map(m) => m
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), value_text(&v))))
                        .collect(),
                    _ => BTreeMap::new(),
                };
                out.insert(k.as_str().unwrap_or_default().to_owned(), section);
            }
        }
        Ok(out)
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

fn parse_members(body: Option<&Value>) -> Result<Vec<MemberInfo>, ClientError> {
    let bad = || ClientError::Protocol("malformed members reply".into());
    let list = match body {
        Some(Value::Map(m)) => match m.iter().find(|(k, _)| k.as_str() == Some("Members")) {
            Some((_, Value::Array(list))) => list,
            // `"Members": nil` is an empty cluster view.
            Some((_, Value::Nil)) | None => return Ok(Vec::new()),
            Some(_) => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    list.iter()
        .map(|m| {
            let f = Fields::of(m).map_err(|_| bad())?;
            let raw = f.bytes("Addr").map_err(|_| bad())?.unwrap_or_default();
            let addr = match raw.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(&raw[..]).map_err(|_| bad())?),
                16 => std::net::IpAddr::from(<[u8; 16]>::try_from(&raw[..]).map_err(|_| bad())?),
                _ => return Err(bad()),
            };
            Ok(MemberInfo {
                name: f.str("Name").map_err(|_| bad())?,
                addr,
                port: f.uint("Port").map_err(|_| bad())? as u16,
                tags: f.str_map("Tags").map_err(|_| bad())?.into_iter().collect(),
                status: f.str("Status").map_err(|_| bad())?,
                delegate: (
                    f.uint("DelegateMin").unwrap_or(0) as u8,
                    f.uint("DelegateMax").unwrap_or(0) as u8,
                    f.uint("DelegateCur").unwrap_or(0) as u8,
                ),
            })
        })
        .collect()
}

async fn read_loop(
    mut reader: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    waiters: Arc<std::sync::Mutex<HashMap<u64, Waiter>>>,
    closed: Arc<std::sync::atomic::AtomicBool>,
) {
    while let Ok(Some(header)) = reader.next().await {
        let Ok(h) = Fields::of(&header) else { break };
        let seq = h.uint("Seq").unwrap_or(0);
        let error = h.str("Error").unwrap_or_default();
        let waiter = waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq);
        match waiter {
            Some(Waiter::Once { body, tx }) => {
                // No body follows `Authentication required`, whatever the command.
                let body = if body && error != "Authentication required" {
                    match reader.next().await {
                        Ok(Some(b)) => Some(b),
                        _ => break,
                    }
                } else {
                    None
                };
                let _ = tx.send((error, body));
            }
            Some(Waiter::Stream {
                first: Some(first),
                records,
            }) => {
                let failed = !error.is_empty();
                let _ = first.send((error, None));
                if !failed {
                    waiters.lock().unwrap_or_else(|p| p.into_inner()).insert(
                        seq,
                        Waiter::Stream {
                            first: None,
                            records,
                        },
                    );
                }
            }
            Some(Waiter::Stream {
                first: None,
                records,
            }) => {
                let Ok(Some(body)) = reader.next().await else {
                    break;
                };
                if records.send(body).is_ok() {
                    waiters.lock().unwrap_or_else(|p| p.into_inner()).insert(
                        seq,
                        Waiter::Stream {
                            first: None,
                            records,
                        },
                    );
                }
            }
            // Out of sync; the Go client does the same: ignore the header.
            None => {}
        }
    }
    let mut waiters = waiters.lock().unwrap_or_else(|p| p.into_inner());
    closed.store(true, Ordering::Release);
    waiters.clear();
}
