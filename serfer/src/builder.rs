//! Configuring and starting a node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex};

use crate::config::{default_name, Config, Engine, Profile, Wire, DEFAULT_PORT};
use crate::engine::{self, MAX_EVENT_SIZE};
#[cfg(feature = "unstable-engine")]
use crate::engine::{EngineOptions, NativeOptions};
use crate::error::Error;
use crate::event_script::EventScript;
use crate::extract::{ForMember, ForQuery, ForUserEvent};
use crate::handler::{Handler, MemberEventOutput, QueryOutput, UserEventOutput};
use crate::join::{join, parse_socket_addr};
use crate::keys;
use crate::member::MemberEventKind;
use crate::node::{Lifecycle, Node, NodeInner};
use crate::persist::{keyring_file, tags_file};
use crate::registry::{Registry, Router};
use crate::state::StateMap;

/// Configures a node, registers its handlers and starts it.
///
/// ```no_run
/// use serfer::{Node, Query, UserEvent};
///
/// async fn deploy(ev: UserEvent<String>) {
///     println!("deploying {}", ev.payload());
/// }
///
/// async fn status(_q: Query<()>) -> String {
///     "I am OK, thanks for asking".to_owned()
/// }
///
/// # async fn demo() -> Result<(), serfer::Error> {
/// let node = Node::builder()
///     .name("web-1")
///     .bind("127.0.0.1:7946")
///     .join("127.0.0.1:7947")
///     .key("U3VwZXJTZWN1cmVUb2tlbg==")
///     .tag("role", "web")
///     .user_event("deploy", deploy)
///     .query("status", status)
///     .start()
///     .await?;
/// node.wait().await
/// # }
/// ```
#[must_use = "a builder does nothing until `.start()`"]
pub struct NodeBuilder {
    cfg: Config,
    bind_text: Option<String>,
    rpc: Option<(String, Option<String>)>,
    advertise_text: Option<String>,
    key_texts: Vec<String>,
    registry: Registry,
    states: StateMap,
    problems: Vec<Error>,
    engine_tweak: Option<engine::Tweak>,
    native_tweak: Option<engine::NativeTweak>,
    /// Whether the wire and the engine were chosen: each engine has its own
    /// default wire, and serf-rs's wire alone picks the engine that speaks it.
    wire_given: bool,
    engine_given: bool,
    keyring_file: Option<PathBuf>,
    tags_file: Option<PathBuf>,
    event_scripts: Vec<EventScript>,
    query_size_limit: Option<usize>,
    query_response_size_limit: Option<usize>,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeBuilder {
    /// A builder with the defaults: bind `127.0.0.1:7946`, no join, no keys, LAN timing.
    pub fn new() -> Self {
        NodeBuilder {
            cfg: Config::default(),
            bind_text: None,
            rpc: None,
            advertise_text: None,
            key_texts: Vec::new(),
            registry: Registry::default(),
            states: StateMap::default(),
            problems: Vec::new(),
            engine_tweak: None,
            native_tweak: None,
            wire_given: false,
            engine_given: false,
            keyring_file: None,
            tags_file: None,
            event_scripts: Vec::new(),
            query_size_limit: None,
            query_response_size_limit: None,
        }
    }

    /// The node's unique name (default: host name plus a short random suffix).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.cfg.name = Some(name.into());
        self
    }

    /// Where to listen, `ip:port` (default `127.0.0.1:7946`; port 0 picks a free port,
    /// see [`Node::addr`]). With `0.0.0.0` the advertised address is the first private one.
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.bind_text = Some(addr.into());
        self
    }

    /// The address other nodes should use to reach this one, `ip:port`.
    pub fn advertise(mut self, addr: impl Into<String>) -> Self {
        self.advertise_text = Some(addr.into());
        self
    }

    /// An address to join through (a "leader"), `host:port` or `host` (port 7946).
    /// Several may be given: all are tried and the join succeeds if any answers.
    /// With none, the node starts a new cluster.
    pub fn join(mut self, addr: impl Into<String>) -> Self {
        self.cfg.join.push(addr.into());
        self
    }

    /// An encryption key, base64 of 16, 24 or 32 bytes. The first key given is the
    /// primary (used to send); the others are accepted on receipt. With any key the
    /// node refuses unencrypted peers.
    pub fn key(mut self, base64: impl Into<String>) -> Self {
        self.key_texts.push(base64.into());
        self
    }

    /// Forgets the keys given so far (for settings that replace a program's
    /// built-in key rather than add to it).
    pub(crate) fn clear_keys(mut self) -> Self {
        self.key_texts.clear();
        self
    }

    /// A keyring file, as `serf agent -keyring-file`: a JSON list of base64 keys,
    /// the primary first. The node starts with those keys (the file must exist and
    /// hold at least one; no [`key`](Self::key) may be given beside it), and the
    /// file is rewritten whenever this node's keyring changes — a key installed,
    /// made primary or removed, by [`Node::install_key`] and friends, `serf keys`,
    /// or another node's rotation — so rotated keys survive a restart.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), serfer::Error> {
    /// // keyring.json: ["QUJDREVGR0hJSktMTU5PUA=="]
    /// let node = serfer::Node::builder().keyring_file("keyring.json").start().await?;
    /// # Ok(()) }
    /// ```
    pub fn keyring_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keyring_file = Some(path.into());
        self
    }

    /// A tags file, as `serf agent -tags-file`: a JSON object of tags. The node
    /// starts with the tags in it (none when it does not exist yet; no
    /// [`tag`](Self::tag) may be given beside it), and [`Node::set_tags`] (so
    /// `serf tags -set/-delete`) rewrites it before the new tags gossip.
    pub fn tags_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tags_file = Some(path.into());
        self
    }

    /// An event handler script, as `serf agent -event-handler`:
    /// `[FILTER[,FILTER…]=]SCRIPT`, FILTER one of `member-join`, `member-leave`,
    /// `member-failed`, `member-update`, `member-reap`, `user`, `user:NAME`,
    /// `query`, `query:NAME` or `*` (the default). Scripts run one at a time, in
    /// the order given, as `/bin/sh -c SCRIPT` with Serf's `SERF_*` environment and
    /// the payload (or member lines) on stdin; a query script's output (stdout and
    /// stderr, the last 8 KiB) is the node's response. Failures are logged.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), serfer::Error> {
    /// let node = serfer::Node::builder()
    ///     .event_handler("user:deploy=/usr/local/bin/deploy.sh")
    ///     .event_handler("query:uptime=uptime")
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn event_handler(mut self, spec: &str) -> Self {
        match crate::event_script::parse(spec) {
            Ok(scripts) => self.event_scripts.extend(scripts),
            Err(reason) => self.problems.push(Error::Config(reason)),
        }
        self
    }

    /// The event handler scripts given so far, as `FILTER -> SCRIPT`.
    pub(crate) fn event_handlers(&self) -> Vec<String> {
        crate::event_script::describe(&self.event_scripts)
    }

    /// Records a settings problem, reported by [`start`](Self::start).
    pub(crate) fn problem(mut self, e: Error) -> Self {
        self.problems.push(e);
        self
    }

    /// The largest query this node sends, encoded (default 1024 bytes, as Serf's
    /// `QuerySizeLimit`).
    pub fn query_size_limit(mut self, bytes: usize) -> Self {
        self.query_size_limit = Some(bytes);
        self
    }

    /// The largest query response this node sends, encoded (default 1024 bytes,
    /// as Serf's `QueryResponseSizeLimit`); a larger one is refused and logged.
    pub fn query_response_size_limit(mut self, bytes: usize) -> Self {
        self.query_response_size_limit = Some(bytes);
        self
    }

    /// A tag, `name = value`.
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.cfg.tags.insert(name.into(), value.into());
        self
    }

    /// Replaces all tags.
    pub fn tags(mut self, tags: BTreeMap<String, String>) -> Self {
        self.cfg.tags = tags;
        self
    }

    /// Failure-detection timing (default [`Profile::Lan`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.cfg.profile = profile;
        self
    }

    /// The gossip wire format (default [`Wire::HashiCorp`], a peer of
    /// HashiCorp's `serf agent`). Every node of a cluster must speak the same
    /// one. [`Wire::SerfRs`] is spoken only by the serf-rs engine, so choosing
    /// it without [`engine`](Self::engine) runs the node on serf-rs.
    pub fn wire(mut self, wire: Wire) -> Self {
        self.cfg.wire = wire;
        self.wire_given = true;
        self
    }

    /// The gossip engine (default [`Engine::Native`]). The native engine
    /// speaks HashiCorp's wire only; choosing it with [`Wire::SerfRs`] is an
    /// error at start. [`Engine::SerfRs`] speaks its own wire unless
    /// [`wire`](Self::wire) chooses HashiCorp's.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.cfg.engine = engine;
        self.engine_given = true;
        self
    }

    /// A snapshot file: the node records members and clocks there, and rejoins
    /// the members it knew when restarted with the same file.
    pub fn snapshot(mut self, path: impl Into<PathBuf>) -> Self {
        self.cfg.snapshot = Some(path.into());
        self
    }

    /// The user-event size limit, name plus payload (default 512 bytes, as Serf's).
    /// Capped at [`MAX_EVENT_SIZE`]: larger events do not fit in one gossip packet.
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.cfg.max_event_size = bytes;
        self
    }

    /// How many recent user events each node keeps (default 512, Serf's
    /// `EventBuffer`).
    ///
    /// The buffer drops duplicates, and on the native engine it is also what
    /// push/pull anti-entropy repairs from: every exchange carries the whole
    /// buffer, and a node takes an event only while it is fewer than `n`
    /// Lamport times older than the newest it has seen. An event gossip missed
    /// therefore arrives only if an exchange happens before `n` newer events
    /// exist. To have bursts of more than `n / 2` events arrive whole at any
    /// rate, raise it on every node, above the largest burst: with 2,048, a
    /// flood of 1,000 events sent back to back reaches every node of five
    /// (`RELIABILITY.md`). Each push/pull then carries up to `n` events, and Go
    /// agents in the same cluster, which keep 512, log `received old event`
    /// for the older ones. The sender's back-pressure (see
    /// [`event_queue_wait`](Self::event_queue_wait)) holds its queue to `n / 2`.
    ///
    /// On the serf-rs engine, push/pull carries no events: the buffer only
    /// drops duplicates.
    ///
    /// ```
    /// let builder = serfer::Node::builder().event_buffer_size(2048);
    /// # drop(builder);
    /// ```
    pub fn event_buffer_size(mut self, n: usize) -> Self {
        self.cfg.event_buffer_size = n;
        self
    }

    /// How long [`Node::event`] may wait for this node's gossip queue to drain
    /// (default 10 s; zero turns the wait off).
    ///
    /// Receivers drop user events that fall more than the event buffer behind the
    /// newest they have seen, and gossip sends the newest first. So while half a
    /// buffer of events still waits to be gossiped, a sender is held back rather than
    /// letting a burst overrun the receivers. If the queue does not drain in time,
    /// the send fails with [`Error::Backlog`](crate::Error::Backlog) and nothing is
    /// queued. A node without live peers is never held back.
    pub fn event_queue_wait(mut self, wait: Duration) -> Self {
        self.cfg.event_queue_wait = wait;
        self
    }

    /// The default query timeout (default: Serf's, gossip interval × 16 × log10(N+1)).
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.query_timeout = Some(timeout);
        self
    }

    /// Coalesce user events sent with [`Node::event_coalesced`]: of several events of one
    /// name arriving within `period`, handlers see only the newest. Off by default.
    pub fn coalesce(mut self, period: Duration) -> Self {
        self.cfg.coalesce = Some(period);
        self
    }

    /// Whether a joining node replays the cluster's recent user events to its handlers.
    /// Off by default, as in Serf's agent (`-replay`).
    pub fn replay_old_events(mut self, yes: bool) -> Self {
        self.cfg.replay_old_events = yes;
        self
    }

    /// Escape hatch: adjust the serf-rs options Serfer built, just before start.
    /// What you change here is outside Serfer's guarantees, and the type is
    /// serf-rs's own, so this exists only with the feature `unstable-engine`.
    /// Only for [`Engine::SerfRs`]: on the native engine, start refuses it.
    #[cfg(feature = "unstable-engine")]
    pub fn engine_options(
        mut self,
        f: impl Fn(EngineOptions) -> EngineOptions + Send + Sync + 'static,
    ) -> Self {
        self.engine_tweak = Some(Arc::new(f));
        self
    }

    /// Escape hatch for the native engine ([`Engine::Native`]): adjust the
    /// Serf and memberlist settings Serfer built, just before start. Outside
    /// Serfer's guarantees, like [`engine_options`](Self::engine_options), and
    /// only with the feature `unstable-engine`. On serf-rs, start refuses it.
    #[cfg(feature = "unstable-engine")]
    pub fn native_options(
        mut self,
        f: impl Fn(NativeOptions) -> NativeOptions + Send + Sync + 'static,
    ) -> Self {
        self.native_tweak = Some(Arc::new(f));
        self
    }

    /// Serves Serf's agent RPC on `addr` (`ip:port`, port 0 for any), so that
    /// HashiCorp's `serf` CLI and `serfer`'s drive this node. With `auth`, clients must
    /// send that token first. Off by default; keep it on loopback: RPC is unencrypted.
    pub fn rpc(mut self, addr: impl Into<String>, auth: Option<String>) -> Self {
        self.rpc = Some((addr.into(), auth));
        self
    }

    /// Shared state for handlers that take [`State<S>`](crate::State). One value per type.
    pub fn state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.states.insert(state);
        self
    }

    /// Handles user events named `name`.
    pub fn user_event<Args, H>(mut self, name: &str, handler: H) -> Self
    where
        H: Handler<ForUserEvent, Args>,
        H::Output: UserEventOutput,
    {
        self.registry.user_event(Some(name), handler);
        self
    }

    /// Handles user events that have no handler of their own name.
    pub fn any_user_event<Args, H>(mut self, handler: H) -> Self
    where
        H: Handler<ForUserEvent, Args>,
        H::Output: UserEventOutput,
    {
        self.registry.user_event(None, handler);
        self
    }

    /// Answers queries named `name`: the handler's return value is the response.
    pub fn query<Args, H>(mut self, name: &str, handler: H) -> Self
    where
        H: Handler<ForQuery, Args>,
        H::Output: QueryOutput,
    {
        self.registry.query(Some(name), handler);
        self
    }

    /// Answers queries that have no handler of their own name.
    pub fn any_query<Args, H>(mut self, handler: H) -> Self
    where
        H: Handler<ForQuery, Args>,
        H::Output: QueryOutput,
    {
        self.registry.query(None, handler);
        self
    }

    /// Handles membership events of one kind.
    pub fn member_event<Args, H>(mut self, kind: MemberEventKind, handler: H) -> Self
    where
        H: Handler<ForMember, Args>,
        H::Output: MemberEventOutput,
    {
        self.registry.member_event(Some(kind), handler);
        self
    }

    /// Handles membership events of every kind.
    pub fn any_member_event<Args, H>(mut self, handler: H) -> Self
    where
        H: Handler<ForMember, Args>,
        H::Output: MemberEventOutput,
    {
        self.registry.member_event(None, handler);
        self
    }

    /// Adds handlers through a registration function, as the `#[serfer::…]`
    /// attributes generate (the explicit path for platforms without link-time registration).
    pub fn register(mut self, f: impl FnOnce(&mut Registry)) -> Self {
        f(&mut self.registry);
        self
    }

    /// Adds every handler annotated with `#[serfer::user_event]`, `#[serfer::query]` or
    /// `#[serfer::member_event]` that was linked into this binary.
    pub fn discovered_handlers(mut self) -> Self {
        for d in crate::discovery::descriptors() {
            let before = self.registry.len();
            (d.register)(&mut self.registry);
            for route in &mut self.registry.routes[before..] {
                route.label = format!("{}::{}", d.module_path, d.function);
            }
        }
        self
    }

    /// The handlers registered so far: kind, name (`None` for catch-alls) and function.
    pub fn handlers(&self) -> impl Iterator<Item = (crate::HandlerKind, Option<&str>, &str)> {
        self.registry.handlers()
    }

    fn resolve(&mut self) -> Result<(), Error> {
        if let Some(p) = self.problems.pop() {
            return Err(p);
        }
        if let Some(text) = &self.bind_text {
            self.cfg.bind = parse_socket_addr(text, DEFAULT_PORT)?;
        }
        if let Some(text) = &self.advertise_text {
            self.cfg.advertise = Some(parse_socket_addr(text, self.cfg.bind.port())?);
        }
        self.cfg.keys = keys::parse_all(&self.key_texts)?;
        if let Some(path) = &self.keyring_file {
            if !self.cfg.keys.is_empty() {
                return Err(Error::Config(
                    "an encryption key and a keyring file were both given: use one (the \
                     keyring file's first key is the primary)"
                        .into(),
                ));
            }
            self.cfg.keys = keyring_file::load(path).map_err(|e| Error::Config(e.to_string()))?;
            tracing::info!(
                "restored keyring with {} keys from {}",
                self.cfg.keys.len(),
                path.display()
            );
        }
        if let Some(path) = &self.tags_file {
            if !self.cfg.tags.is_empty() {
                return Err(Error::Config(
                    "tags were given as well as a tags file: set tags in one place".into(),
                ));
            }
            if let Some(tags) = tags_file::load(path).map_err(|e| Error::Config(e.to_string()))? {
                tracing::info!("restored {} tag(s) from {}", tags.len(), path.display());
                self.cfg.tags = tags;
            }
            self.states
                .insert(tags_file::TagsFile(Arc::new(path.clone())));
        }
        if self.cfg.max_event_size > MAX_EVENT_SIZE {
            return Err(Error::Config(format!(
                "max_event_size {} is over {MAX_EVENT_SIZE} bytes, the most that fits one gossip packet",
                self.cfg.max_event_size
            )));
        }
        if !self.engine_given && self.wire_given && self.cfg.wire == Wire::SerfRs {
            // Only serf-rs speaks its wire: a cluster started on it keeps working
            // when the engine is left to its default.
            self.cfg.engine = Engine::SerfRs;
        }
        // Each engine has its own wire and its own escape hatch. A hatch for
        // the engine not running would be dropped unseen: options written
        // when serf-rs was the default would stop applying.
        match self.cfg.engine {
            Engine::Native => {
                if self.wire_given && self.cfg.wire == Wire::SerfRs {
                    return Err(Error::Config(
                        "the native engine speaks HashiCorp's wire only: leave out the wire \
                         `serf-rs`, or use the serf-rs engine"
                            .into(),
                    ));
                }
                if self.engine_tweak.is_some() {
                    return Err(Error::Config(
                        "engine_options adjusts serf-rs's options, and this node runs on the \
                         native engine (the default): choose `.engine(Engine::SerfRs)`, or use \
                         native_options"
                            .into(),
                    ));
                }
                self.cfg.wire = Wire::HashiCorp;
            }
            Engine::SerfRs => {
                if self.native_tweak.is_some() {
                    return Err(Error::Config(
                        "native_options adjusts the native engine's options, and this node runs \
                         on serf-rs: leave out `.engine(Engine::SerfRs)` and the wire `serf-rs`, \
                         or use engine_options"
                            .into(),
                    ));
                }
                if !self.wire_given {
                    self.cfg.wire = Wire::SerfRs;
                }
            }
        }
        if self.cfg.event_buffer_size == 0 {
            return Err(Error::Config("event_buffer_size must be at least 1".into()));
        }
        Ok(())
    }

    /// Starts the node: binds, joins (if addresses were given) and begins dispatching.
    pub async fn start(mut self) -> Result<Node, Error> {
        self.resolve()?;
        let router = Arc::new(Router::build(
            std::mem::take(&mut self.registry),
            &self.states,
        )?);
        let cfg = self.cfg;
        let name = cfg.name.clone().unwrap_or_else(default_name);

        let started = engine::start(
            &cfg,
            engine::StartOptions {
                name: name.clone(),
                keyring_file: self.keyring_file.clone(),
                query_size_limit: self.query_size_limit,
                query_response_size_limit: self.query_response_size_limit,
                tweak: self.engine_tweak.clone(),
                native_tweak: self.native_tweak.clone(),
            },
        )
        .await?;
        let addr = started.addr;
        let (lifecycle, _) = watch::channel(Lifecycle::Running);
        let node = Node {
            inner: Arc::new(NodeInner {
                engine: started.handle.clone(),
                name,
                addr,
                max_event_size: cfg.max_event_size,
                wire: cfg.wire,
                query_timeout: cfg.query_timeout,
                query_size_limit: started.query_size_limit,
                lifecycle,
                query_lock: Mutex::new(()),
                pacer: crate::pacing::Pacer::new(cfg.event_buffer_size, cfg.event_queue_wait),
                states: self.states,
                tap: tokio::sync::broadcast::channel(512).0,
                rpc: std::sync::Mutex::new(None),
            }),
        };
        if !self.event_scripts.is_empty() {
            // Subscribed before dispatch starts: the scripts see every event.
            crate::event_script::spawn(&node, Arc::from(self.event_scripts));
        }
        tokio::spawn(crate::dispatch::run(
            started.events,
            router,
            node.downgrade(),
            cfg.coalesce,
        ));
        watch_engine(&node);
        tracing::info!(node = node.name(), addr = %addr, engine = %cfg.engine, "node started");

        if let Some((text, auth)) = &self.rpc {
            let started = match parse_socket_addr(text, 7373) {
                Ok(addr) => {
                    crate::rpc::RpcServer::start(
                        node.clone(),
                        crate::rpc::RpcSettings {
                            addr,
                            auth: auth.clone(),
                        },
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            match started {
                Ok(server) => {
                    *node.inner.rpc.lock().unwrap_or_else(|p| p.into_inner()) = Some(server)
                }
                Err(e) => {
                    let _ = node.shutdown().await;
                    return Err(e);
                }
            }
        }

        if !cfg.join.is_empty() {
            if let Err(e) = join(&started.handle, &cfg.join, !cfg.replay_old_events).await {
                let _ = node.shutdown().await;
                return Err(e);
            }
        }
        Ok(node)
    }
}

/// Reports an engine that stops without being asked (both shut themselves down when
/// they lose a node-name conflict; serf-rs says so only in a log line).
fn watch_engine(node: &Node) {
    let stopped = node.inner.engine.stopped();
    let weak = node.downgrade();
    let name = node.name().to_owned();
    tokio::spawn(async move {
        stopped.await;
        if let Some(node) = weak.upgrade() {
            let reason = format!(
                "the engine shut down unasked; most likely another live node is also named `{name}`"
            );
            let changed = node.inner.lifecycle.send_if_modified(|l| {
                if *l == Lifecycle::Running {
                    *l = Lifecycle::Stopped(reason.clone());
                    true
                } else {
                    false
                }
            });
            if changed {
                tracing::error!(node = %name, "{reason}");
            }
        }
    });
}

impl Node {
    /// Starts configuring a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::new()
    }
}
