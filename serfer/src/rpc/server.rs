//! The RPC server: one task per connection reads requests in order; replies and
//! stream records go out through a per-connection writer, and stream records are
//! dropped (not waited for) when a client does not keep up, so no client can stall
//! the node.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmpv::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use super::codec::{self, map, FieldError, Fields, FrameError, FrameReader};
use super::IPC_VERSION;
use crate::dispatch::Tapped;
use crate::engine::QueryEvent;
use crate::extract::Incoming;
use crate::member::Member;
use crate::{Error, Key, KeyReport, Node, QueryOptions, QueryReply};

/// How the RPC server listens.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// Where to listen (loopback unless you mean it: the protocol has no encryption).
    pub addr: SocketAddr,
    /// A token clients must send with `auth` first; `None` for no token.
    pub auth: Option<String>,
}

/// A running RPC server.
pub struct RpcServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RpcServer {
    /// Starts serving `node`.
    pub async fn start(node: Node, settings: RpcSettings) -> Result<RpcServer, Error> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .map_err(|e| Error::Bind {
                addr: settings.addr,
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| Error::Bind {
            addr: settings.addr,
            reason: e.to_string(),
        })?;
        let auth = Arc::new(settings.auth);
        let weak = node.downgrade();
        drop(node);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                // Replies often follow a stream record on the same connection; with
                // Nagle's algorithm the reply waits for the client's delayed ACK
                // (measured: 22 ms per `event` call). Go's agent disables it too.
                let _ = stream.set_nodelay(true);
                let Some(node) = weak.upgrade() else { break };
                if node.wait_is_over() {
                    break;
                }
                let auth = auth.clone();
                tokio::spawn(async move {
                    tracing::debug!(%peer, "rpc client connected");
                    Connection::serve(node, stream, auth).await;
                    tracing::debug!(%peer, "rpc client gone");
                });
            }
        });
        tracing::info!(%addr, "RPC server listening");
        Ok(RpcServer { addr, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the writer sends: replies wait for room, stream records do not.
enum Out {
    Frames(Vec<Value>),
    Close,
}

const STREAM_BUFFER: usize = 512;

struct Connection {
    node: Node,
    auth: Arc<Option<String>>,
    out: mpsc::Sender<Out>,
    handshaken: bool,
    authed: bool,
    streams: HashMap<u64, JoinHandle<()>>,
    monitor: Option<(u64, JoinHandle<()>)>,
    pending: Arc<Mutex<HashMap<u64, (QueryEvent, Instant)>>>,
    next_query_id: Arc<AtomicU64>,
}

fn header(seq: u64, error: &str) -> Value {
    map([("Error", Value::from(error)), ("Seq", Value::from(seq))])
}

/// What to do after a request.
enum Next {
    Continue,
    Close,
}

impl Connection {
    async fn serve(node: Node, stream: TcpStream, auth: Arc<Option<String>>) {
        let (read, mut write) = stream.into_split();
        let (out, mut rx) = mpsc::channel::<Out>(STREAM_BUFFER);
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                match msg {
                    Out::Frames(frames) => {
                        let write_one = codec::write(&mut write, &frames);
                        // A client that stops reading is cut off rather than waited for.
                        match tokio::time::timeout(Duration::from_secs(10), write_one).await {
                            Ok(Ok(())) => {}
                            _ => break,
                        }
                    }
                    Out::Close => break,
                }
            }
            let _ = write.shutdown().await;
        });
        let mut conn = Connection {
            node,
            auth,
            out,
            handshaken: false,
            authed: false,
            streams: HashMap::new(),
            monitor: None,
            pending: Arc::new(Mutex::new(HashMap::new())),
            next_query_id: Arc::new(AtomicU64::new(1)),
        };
        let mut reader = FrameReader::new(read);
        let mut lifecycle = conn.node.inner.lifecycle.subscribe();
        loop {
            // A node that stops closes its RPC connections, as the Go agent does.
            let next = tokio::select! {
                next = reader.next() => next,
                _ = lifecycle.wait_for(|l| *l != crate::node::Lifecycle::Running) => break,
            };
            let header = match next {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(FrameError::Io(_)) | Err(FrameError::Truncated) => break,
                Err(e) => {
                    tracing::warn!("rpc: failed to evaluate request: {e}");
                    break;
                }
            };
            match conn.request(&header, &mut reader).await {
                Ok(Next::Continue) => {}
                Ok(Next::Close) => break,
                Err(e) => {
                    tracing::warn!("rpc: failed to evaluate request: decode failed: {e}");
                    break;
                }
            }
        }
        for (_, task) in conn.streams.drain() {
            task.abort();
        }
        if let Some((_, task)) = conn.monitor.take() {
            task.abort();
        }
        let _ = conn.out.send(Out::Close).await;
        let _ = writer.await;
    }

    async fn reply(&self, frames: Vec<Value>) {
        let _ = self.out.send(Out::Frames(frames)).await;
    }

    async fn body(
        reader: &mut FrameReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> Result<Value, RequestError> {
        match reader.next().await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(RequestError::Closed),
            Err(e) => Err(RequestError::Frame(e)),
        }
    }

    async fn request(
        &mut self,
        request: &Value,
        reader: &mut FrameReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> Result<Next, RequestError> {
        let h = Fields::of(request)?;
        let command = h.str("Command")?;
        let seq = h.uint("Seq")?;

        if !self.handshaken && command != "handshake" {
            self.reply(vec![header(seq, "Handshake required")]).await;
            return Ok(Next::Close);
        }
        if self.auth.is_some() && !self.authed && command != "auth" && command != "handshake" {
            self.reply(vec![header(seq, "Authentication required")])
                .await;
            return Ok(Next::Continue);
        }
        match command.as_str() {
            "handshake" => {
                let body = Self::body(reader).await?;
                let version = Fields::of(&body)?.int("Version")?;
                let err = if version != IPC_VERSION {
                    "Unsupported IPC version"
                } else if self.handshaken {
                    "Handshake already performed"
                } else {
                    self.handshaken = true;
                    ""
                };
                self.reply(vec![header(seq, err)]).await;
            }
            "auth" => {
                let body = Self::body(reader).await?;
                let key = Fields::of(&body)?.str("AuthKey")?;
                let expected = self.auth.as_deref().unwrap_or("");
                let err = if key == expected {
                    self.authed = true;
                    ""
                } else {
                    "Invalid authentication token"
                };
                self.reply(vec![header(seq, err)]).await;
            }
            "event" => {
                let body = Self::body(reader).await?;
                let f = Fields::of(&body)?;
                let name = f.str("Name")?;
                let payload = bytes::Bytes::from(f.bytes("Payload")?.unwrap_or_default());
                let coalesce = f.bool("Coalesce")?;
                let r = if coalesce {
                    self.node.event_coalesced(&name, &payload).await
                } else {
                    self.node.event(&name, &payload).await
                };
                self.reply(vec![header(seq, &err_text(r.err()))]).await;
            }
            "force-leave" => {
                let body = Self::body(reader).await?;
                let f = Fields::of(&body)?;
                let r = self
                    .node
                    .force_leave(&f.str("Node")?, f.bool("Prune")?)
                    .await;
                self.reply(vec![header(seq, &err_text(r.err()))]).await;
            }
            "join" => {
                let body = Self::body(reader).await?;
                let f = Fields::of(&body)?;
                let addrs = f.str_list("Existing")?;
                let r = self.node.join_with_replay(&addrs, f.bool("Replay")?).await;
                let (num, err) = match r {
                    Ok(n) => (n, String::new()),
                    Err(e) => (0, e.to_string()),
                };
                self.reply(vec![
                    header(seq, &err),
                    map([("Num", Value::from(num as u64))]),
                ])
                .await;
            }
            "members" => {
                let members = self.node.members().await;
                self.reply(vec![header(seq, ""), members_body(&members)])
                    .await;
            }
            "members-filtered" => {
                let body = Self::body(reader).await?;
                let f = Fields::of(&body)?;
                let filter = match MemberFilter::new(
                    &f.str_map("Tags")?,
                    &f.str("Status")?,
                    &f.str("Name")?,
                ) {
                    Ok(filter) => filter,
                    // As the Go agent: a bad regex closes the connection without a reply.
                    Err(_) => return Ok(Next::Close),
                };
                let members: Vec<Member> = self
                    .node
                    .members()
                    .await
                    .into_iter()
                    .filter(|m| filter.matches(m))
                    .collect();
                self.reply(vec![header(seq, ""), members_body(&members)])
                    .await;
            }
            "tags" => {
                let body = Self::body(reader).await?;
                let f = Fields::of(&body)?;
                let mut tags = self.node.local_member().await.tags;
                for k in f.str_list("DeleteTags")? {
                    tags.remove(&k);
                }
                tags.extend(f.str_map("Tags")?);
                let r = self.node.set_tags(tags).await;
                self.reply(vec![header(seq, &err_text(r.err()))]).await;
            }
            "stream" => {
                let body = Self::body(reader).await?;
                let filter = Fields::of(&body)?.str("Type")?;
                let err = match StreamFilter::parse(&filter) {
                    None => "Invalid event filter",
                    Some(_) if self.streams.contains_key(&seq) => {
                        "Stream with given sequence exists"
                    }
                    Some(filter) => {
                        // Registered before the reply, so nothing after it is missed.
                        let task = self.start_stream(seq, filter);
                        self.streams.insert(seq, task);
                        ""
                    }
                };
                self.reply(vec![header(seq, err)]).await;
            }
            "monitor" => {
                let body = Self::body(reader).await?;
                let level_text = Fields::of(&body)?.str("LogLevel")?;
                match (crate::logs::parse_level(&level_text), &self.monitor) {
                    (_, Some(_)) => {
                        self.reply(vec![header(seq, "Monitor already exists")])
                            .await
                    }
                    (None, None) => {
                        let msg = format!("Unknown log level: {}", level_text.to_ascii_uppercase());
                        self.reply(vec![header(seq, &msg)]).await
                    }
                    (Some(level), None) => {
                        self.reply(vec![header(seq, "")]).await;
                        let task = self.start_monitor(seq, level);
                        self.monitor = Some((seq, task));
                    }
                }
            }
            "stop" => {
                let body = Self::body(reader).await?;
                let which = Fields::of(&body)?.uint("Stop")?;
                if let Some(task) = self.streams.remove(&which) {
                    task.abort();
                }
                if self.monitor.as_ref().is_some_and(|(s, _)| *s == which) {
                    if let Some((_, task)) = self.monitor.take() {
                        task.abort();
                    }
                }
                self.reply(vec![header(seq, "")]).await;
            }
            "leave" => {
                let r = self.node.leave().await;
                self.reply(vec![header(seq, &err_text(r.err()))]).await;
                return Ok(Next::Close);
            }
            "install-key" | "use-key" | "remove-key" | "list-keys" => {
                let key = if command == "list-keys" {
                    None
                } else {
                    let body = Self::body(reader).await?;
                    Some(Fields::of(&body)?.str("Key")?)
                };
                let (err, body) = self.key_command(&command, key).await;
                self.reply(vec![header(seq, &err), body]).await;
            }
            "query" => {
                let body = Self::body(reader).await?;
                self.query(seq, &Fields::of(&body)?).await?;
            }
            "respond" => {
                let body = Self::body(reader).await?;
                let f = Fields::of(&body)?;
                let id = f.uint("ID")?;
                let payload = f.bytes("Payload")?.unwrap_or_default();
                let pending = self.pending.lock().await.remove(&id);
                let err = match pending {
                    Some((q, deadline)) if Instant::now() < deadline => {
                        match q.respond(payload.into()).await {
                            Ok(()) => String::new(),
                            Err(e) => format!("failed to respond to key query: {e}"),
                        }
                    }
                    _ => "No pending queries matching ID".to_owned(),
                };
                self.reply(vec![header(seq, &err)]).await;
            }
            "stats" => {
                let body = self.stats().await;
                self.reply(vec![header(seq, ""), body]).await;
            }
            "get-coordinate" => {
                let body = Self::body(reader).await?;
                let name = Fields::of(&body)?.str("Node")?;
                let c = self.node.coordinate(&name);
                let coord = match &c {
                    Some(c) => map([
                        ("Adjustment", Value::F64(c.adjustment)),
                        ("Error", Value::F64(c.error)),
                        ("Height", Value::F64(c.height)),
                        (
                            "Vec",
                            Value::Array(c.vec.iter().map(|x| Value::F64(*x)).collect()),
                        ),
                    ]),
                    None => map([
                        ("Adjustment", Value::F64(0.0)),
                        ("Error", Value::F64(0.0)),
                        ("Height", Value::F64(0.0)),
                        ("Vec", Value::Nil),
                    ]),
                };
                let body = map([("Coord", coord), ("Ok", Value::Boolean(c.is_some()))]);
                self.reply(vec![header(seq, ""), body]).await;
            }
            _ => {
                self.reply(vec![header(seq, "Unsupported command")]).await;
                return Ok(Next::Close);
            }
        }
        Ok(Next::Continue)
    }

    fn start_stream(&self, seq: u64, filter: StreamFilter) -> JoinHandle<()> {
        let mut rx = self.node.subscribe();
        let out = self.out.clone();
        let pending = self.pending.clone();
        let ids = self.next_query_id.clone();
        let timeout = self.node.inner.query_timeout;
        let serf = self.node.inner.serf.clone();
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
                            Value::Array(members.iter().map(member_value).collect()),
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
                            None => serf.default_query_timeout().await,
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

    fn start_monitor(&self, seq: u64, level: tracing::Level) -> JoinHandle<()> {
        let out = self.out.clone();
        let (recent, mut rx) = crate::logs::watch(level);
        tokio::spawn(async move {
            let send = |text: String| {
                out.try_send(Out::Frames(vec![
                    header(seq, ""),
                    map([("Log", Value::from(text))]),
                ]))
            };
            for line in recent {
                if let Err(mpsc::error::TrySendError::Closed(_)) = send(line.text) {
                    return;
                }
            }
            loop {
                match rx.recv().await {
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

    async fn query(&self, seq: u64, f: &Fields<'_>) -> Result<(), RequestError> {
        let name = f.str("Name")?;
        let mut opts = QueryOptions::new()
            .request_ack(f.bool("RequestAck")?)
            .relay_factor(f.uint("RelayFactor")?.min(255) as u8);
        let nodes = f.str_list("FilterNodes")?;
        if !nodes.is_empty() {
            opts = opts.nodes(nodes);
        }
        for (tag, expr) in f.str_map("FilterTags")? {
            opts = opts.tag(tag, expr);
        }
        let timeout = f.int("Timeout")?;
        if timeout > 0 {
            opts = opts.timeout(Duration::from_nanos(timeout as u64));
        }
        let payload = bytes::Bytes::from(f.bytes("Payload")?.unwrap_or_default());
        // Serfer's own clients may ask for the stream to end once everyone answered.
        let finish_early = f.bool("FinishEarly")?;
        // As HashiCorp's agent: internal names are refused, except the bare ping
        // that `serf reachability` sends.
        let ping = name == crate::node::PING_QUERY && payload.is_empty();
        if name.starts_with("_serf_") && !ping {
            self.reply(vec![header(
                seq,
                "Queries cannot contain the '_serf_' prefix",
            )])
            .await;
            return Ok(());
        }
        let sent = if ping {
            self.node.ping_query(opts).await
        } else {
            self.node.query(&name, &payload, opts).await
        };
        let mut responses = match sent {
            Ok(r) if finish_early => r,
            Ok(r) => r.until_deadline(),
            Err(e) => {
                self.reply(vec![header(seq, &e.to_string())]).await;
                return Ok(());
            }
        };
        self.reply(vec![header(seq, "")]).await;
        let out = self.out.clone();
        tokio::spawn(async move {
            let record = |ty: &str, from: &str, payload: Option<&[u8]>| {
                vec![
                    header(seq, ""),
                    map([
                        ("From", Value::from(from)),
                        ("Payload", codec::bin_or_nil(payload)),
                        ("Type", Value::from(ty)),
                    ]),
                ]
            };
            while let Some(reply) = responses.next().await {
                let frames = match &reply {
                    QueryReply::Ack(from) => record("ack", from, None),
                    QueryReply::Response { from, payload } => {
                        record("response", from, Some(payload))
                    }
                };
                if out.send(Out::Frames(frames)).await.is_err() {
                    return;
                }
            }
            let _ = out.send(Out::Frames(record("done", "", None))).await;
        });
        Ok(())
    }

    async fn key_command(&self, command: &str, key: Option<String>) -> (String, Value) {
        let result = match (command, key) {
            ("list-keys", _) => self.node.list_keys_anyway().await,
            (_, Some(text)) => match Key::parse(&text) {
                Err(e) => Err(e),
                Ok(k) => match command {
                    "install-key" => self.node.install_key(&k).await,
                    "use-key" => self.node.use_key(&k).await,
                    _ => self.node.remove_key(&k).await,
                },
            },
            _ => Err(Error::Config("missing key".into())),
        };
        let listing = command == "list-keys";
        match result {
            Ok(r) => {
                let err = if r.errors > 0 {
                    format!("{}/{} nodes reported failure", r.errors, r.nodes)
                } else if r.responses < r.nodes {
                    format!("{}/{} nodes reported success", r.responses, r.nodes)
                } else {
                    String::new()
                };
                (err, key_body(&r, listing))
            }
            Err(e) => (e.to_string(), key_body(&KeyReport::default(), listing)),
        }
    }

    async fn stats(&self) -> Value {
        let s = self.node.stats().await;
        let me = self.node.local_member().await;
        let section = |pairs: Vec<(&str, String)>| {
            Value::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (Value::from(k), Value::from(v)))
                    .collect(),
            )
        };
        let serf = section(
            vec![
                ("members", s.members.to_string()),
                ("failed", s.failed.to_string()),
                ("left", s.left.to_string()),
                ("health_score", s.health_score.to_string()),
                ("member_time", s.member_time.to_string()),
                ("event_time", s.event_time.to_string()),
                ("query_time", s.query_time.to_string()),
                ("intent_queue", s.intent_queue.to_string()),
                ("event_queue", s.event_queue.to_string()),
                ("query_queue", s.query_queue.to_string()),
                ("encrypted", s.encrypted.to_string()),
            ]
            .into_iter()
            // As Go's agent: only when coordinates are on.
            .chain(
                s.coordinate_resets
                    .map(|n| ("coordinate_resets", n.to_string())),
            )
            .collect(),
        );
        let runtime = section(vec![
            ("os", std::env::consts::OS.to_owned()),
            ("arch", std::env::consts::ARCH.to_owned()),
            ("version", format!("serfer {}", env!("CARGO_PKG_VERSION"))),
            (
                "max_procs",
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .to_string(),
            ),
            // Go counts goroutines; the closest thing here is live tokio tasks.
            (
                "goroutines",
                tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks()
                    .to_string(),
            ),
            (
                "cpu_count",
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .to_string(),
            ),
        ]);
        Value::Map(vec![
            (
                Value::from("agent"),
                section(vec![("name", self.node.name().to_owned())]),
            ),
            (Value::from("runtime"), runtime),
            (Value::from("serf"), serf),
            (Value::from("tags"), codec::str_map(&me.tags)),
            (Value::from("event_handlers"), Value::Map(Vec::new())),
        ])
    }
}

fn err_text(e: Option<Error>) -> String {
    e.map(|e| e.to_string()).unwrap_or_default()
}

/// Why a request could not be carried out; the connection is closed.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Frame(FrameError),
    #[error("connection closed before the request body")]
    Closed,
}

pub(crate) fn member_value(m: &Member) -> Value {
    let addr = match m.addr {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    map([
        ("Addr", Value::Binary(addr)),
        ("DelegateCur", Value::from(m.protocol)),
        ("DelegateMax", Value::from(m.protocol)),
        ("DelegateMin", Value::from(m.protocol)),
        ("Name", Value::from(m.name.as_str())),
        ("Port", Value::from(m.port)),
        ("ProtocolCur", Value::from(2u8)),
        ("ProtocolMax", Value::from(5u8)),
        ("ProtocolMin", Value::from(1u8)),
        ("Status", Value::from(m.status.as_str())),
        ("Tags", codec::str_map(&m.tags)),
    ])
}

fn members_body(members: &[Member]) -> Value {
    map([(
        "Members",
        Value::Array(members.iter().map(member_value).collect()),
    )])
}

fn key_body(r: &KeyReport, listing: bool) -> Value {
    let keys = if listing {
        Value::Map(
            r.keys
                .iter()
                .map(|(k, n)| (Value::from(k.to_string()), Value::from(*n as u64)))
                .collect(),
        )
    } else {
        Value::Nil
    };
    let messages: BTreeMap<&String, &String> = r.messages.iter().collect();
    map([
        ("Keys", keys),
        ("Messages", codec::str_map(messages)),
        ("NumErr", Value::from(r.errors as u64)),
        ("NumNodes", Value::from(r.nodes as u64)),
        ("NumResp", Value::from(r.responses as u64)),
    ])
}

/// `members-filtered`: anchored regexes on tags, status and name.
struct MemberFilter {
    tags: Vec<(String, regex::Regex)>,
    status: Option<regex::Regex>,
    name: Option<regex::Regex>,
}

impl MemberFilter {
    fn new(tags: &[(String, String)], status: &str, name: &str) -> Result<Self, regex::Error> {
        let anchored = |e: &str| regex::Regex::new(&format!("^(?:{e})$"));
        Ok(MemberFilter {
            tags: tags
                .iter()
                .map(|(k, e)| Ok((k.clone(), anchored(e)?)))
                .collect::<Result<_, regex::Error>>()?,
            status: (!status.is_empty()).then(|| anchored(status)).transpose()?,
            name: (!name.is_empty()).then(|| anchored(name)).transpose()?,
        })
    }

    fn matches(&self, m: &Member) -> bool {
        self.tags
            .iter()
            .all(|(k, r)| r.is_match(m.tags.get(k).map_or("", String::as_str)))
            && self
                .status
                .as_ref()
                .is_none_or(|r| r.is_match(m.status.as_str()))
            && self.name.as_ref().is_none_or(|r| r.is_match(&m.name))
    }
}

/// `stream` filters: `*`, `member-join`…, `user`, `user:NAME`, `query`, `query:NAME`.
#[derive(Debug)]
struct StreamFilter(Vec<Kind>);

#[derive(Debug)]
enum Kind {
    All,
    Member(&'static str),
    User(Option<String>),
    Query(Option<String>),
}

impl StreamFilter {
    fn parse(text: &str) -> Option<StreamFilter> {
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

    fn accepts(&self, incoming: &Incoming) -> bool {
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
