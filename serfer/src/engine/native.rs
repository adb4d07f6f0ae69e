//! The native arm of the engine seam: Serfer's own engine (`serfer-engine`),
//! a Sans-I/O memberlist and Serf core on its tokio driver, speaking
//! HashiCorp's wire without translation.
//!
//! The core lives on its driver's task; every call here is a message to that
//! task. What Serfer reads synchronously (coordinates) or often (the clock)
//! the driver publishes after each of its turns, into [`Published`]. The
//! files Go's Serf keeps itself (the snapshot, the keyring file) are kept
//! here, from the engine's events: the core does no I/O.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use serfer_engine::memberlist::{Config as MemberlistConfig, Keyring};
use serfer_engine::net::{JoinFailure, NetError, SerfNode};
use serfer_engine::serf::{self as core, QueryId, RestoredClocks, SerfConfig, SerfError};

use super::{Answers, EngineEvent, QueryParams, QueryRefused, ReceivedQuery, RespondError};
use super::{Responder as AnyResponder, StartOptions, Started};
use crate::config::{Config, Profile};
use crate::error::Error;
use crate::keys::Key;
use crate::member::{Member, MemberEventKind, MemberStatus};
use crate::node::{Coordinate, KeyOp, KeyReport, Stats};
use crate::persist::snapshot::Snapshot;

/// How often the snapshot records the clock: Go's snapshot clock interval.
const SNAPSHOT_CLOCK: Duration = Duration::from_millis(500);

/// A running native engine.
pub(crate) struct Native {
    node: SerfNode,
    /// The driver's time origin, or a moment just before it: engine instants
    /// are offsets from it. Taken before the start, so deadlines converted
    /// with it are never later than the engine's.
    origin: std::time::Instant,
    encrypted: bool,
    keyring_file: Option<PathBuf>,
    snapshot: Option<Mutex<Snapshot>>,
    published: Arc<Published>,
}

/// What the driver's task publishes of the core after each turn, so reading
/// it costs no message to that task and back.
#[derive(Default)]
struct Published {
    clock: AtomicU64,
    coordinates: RwLock<Coordinates>,
}

#[derive(Default)]
struct Coordinates {
    local: Option<Coordinate>,
    /// Every cached coordinate by node name, this node's own included (Go's
    /// `coordCache`).
    peers: HashMap<String, Coordinate>,
}

impl Published {
    /// The observer the driver calls after each turn. The clock is one
    /// store; the coordinates are copied again only when the core's
    /// generation of them moved (a probe ack, a reap), at most once per
    /// probe interval in a steady cluster.
    fn observer(self: Arc<Self>) -> serfer_engine::net::Observer {
        let mut seen = None;
        Box::new(move |serf: &core::Serf| {
            self.clock.store(serf.clock(), Ordering::Relaxed);
            let generation = serf.coordinate_generation();
            if serf.config().disable_coordinates || seen == Some(generation) {
                return;
            }
            seen = Some(generation);
            let local = serf.coordinate().clone();
            let mut peers: HashMap<String, Coordinate> = serf
                .peer_coordinates()
                .map(|(name, c)| (name.to_owned(), c.clone()))
                .collect();
            peers.insert(serf.name().to_owned(), local.clone());
            let mut c = self.coordinates.write().unwrap_or_else(|p| p.into_inner());
            c.local = Some(local);
            c.peers = peers;
        })
    }
}

fn stopped(e: NetError, context: &'static str) -> Error {
    match e {
        NetError::Stopped => Error::Stopped("the engine has stopped".into()),
        e => Error::engine(context, e),
    }
}

/// Why a join failed, with what to change when the peer took the push/pull
/// and never answered, which is what a node does with one it cannot read
/// (serf-rs waits for more of its own framing until the exchange times out).
fn not_joined(failures: &[(SocketAddr, JoinFailure)]) -> String {
    // Serfer joins one address at a time and names it already, so only the
    // reasons are said here.
    let reasons: Vec<String> = failures.iter().map(|(_, why)| why.to_string()).collect();
    let mut text = format!("no push/pull completed: {}", reasons.join("; "));
    if failures.iter().any(|(_, f)| {
        matches!(
            f,
            JoinFailure::Unanswered | JoinFailure::Timeout { connected: true }
        )
    }) {
        text.push_str(
            " (every node of a cluster must speak one wire and hold one key; \
             Serfer nodes started before the native engine was the default speak \
             serf-rs's wire: join them with `--engine serf-rs`)",
        );
    }
    text
}

/// Memberlist settings from Serfer's: the profile's timings, the name, the
/// advertised address (the bound one unless another is given) and the keys.
fn memberlist_config(cfg: &Config, name: &str) -> Result<MemberlistConfig, Error> {
    let advertise = cfg.advertise.unwrap_or(cfg.bind);
    let mut ml = match cfg.profile {
        Profile::Lan => MemberlistConfig::lan(name, advertise),
        Profile::Wan => MemberlistConfig::wan(name, advertise),
        Profile::Local => MemberlistConfig::local(name, advertise),
    };
    if let Some((primary, others)) = cfg.keys.split_first() {
        ml.keyring = Keyring::new(
            primary.as_bytes().to_vec(),
            others.iter().map(|k| k.as_bytes().to_vec()).collect(),
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        ml.gossip_verify_incoming = true;
        ml.gossip_verify_outgoing = true;
    }
    Ok(ml)
}

pub(crate) async fn start(cfg: &Config, opts: StartOptions) -> Result<Started, Error> {
    if opts.tweak.is_some() {
        return Err(Error::Config(
            "engine options are serf-rs's: they do not apply to the native engine".into(),
        ));
    }
    let advertise = cfg.advertise.unwrap_or(cfg.bind);
    if advertise.ip().is_unspecified() {
        return Err(Error::Config(format!(
            "{} binds every interface: give the address to advertise to the other nodes",
            cfg.bind
        )));
    }
    let mut serf = SerfConfig::new(memberlist_config(cfg, &opts.name)?);
    serf.tags = cfg.tags.clone();
    serf.user_event_size_limit = cfg.max_event_size;
    serf.event_buffer = cfg.event_buffer_size;
    if let Some(n) = opts.query_size_limit {
        serf.query_size_limit = n;
    }
    if let Some(n) = opts.query_response_size_limit {
        serf.query_response_size_limit = n;
    }
    if let Some(tweak) = &opts.native_tweak {
        serf = tweak(serf);
    }
    let snapshot = match &cfg.snapshot {
        Some(path) => Some(Snapshot::open(path).map_err(|e| Error::Config(e.to_string()))?),
        None => None,
    };
    let previous: Vec<(String, String)> = match &snapshot {
        Some(s) => {
            let r = s.recorded();
            serf.restored_clocks = Some(RestoredClocks {
                clock: r.clock,
                event_clock: r.event_clock,
                query_clock: r.query_clock,
            });
            r.alive
                .iter()
                .filter(|(name, _)| **name != opts.name)
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect()
        }
        None => Vec::new(),
    };
    let query_size_limit = serf.query_size_limit;
    let origin = std::time::Instant::now();
    let published = Arc::new(Published::default());
    let mut node = SerfNode::start_observed(cfg.bind, serf, Some(published.clone().observer()))
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::InvalidInput => Error::Config(source.to_string()),
            _ => Error::Bind {
                addr: cfg.bind,
                source,
            },
        })?;
    let addr = node.local_addr();
    let raw_events = node
        .take_events()
        .expect("a freshly started node still has its events");
    let native = Arc::new(Native {
        node,
        origin,
        encrypted: !cfg.keys.is_empty(),
        keyring_file: opts.keyring_file,
        snapshot: snapshot.map(Mutex::new),
        published,
    });
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(pump(Arc::downgrade(&native), raw_events, tx));
    if native.snapshot.is_some() {
        tokio::spawn(snapshot_clock(Arc::downgrade(&native)));
    }
    if !previous.is_empty() {
        tokio::spawn(rejoin(native.clone(), previous));
    }
    Ok(Started {
        handle: super::Handle::Native(native),
        events: super::Events::Native(events),
        addr,
        query_size_limit,
    })
}

/// Turns the engine's events into Serfer's, in order, until the engine stops.
async fn pump(
    native: Weak<Native>,
    mut raw: tokio::sync::mpsc::UnboundedReceiver<core::Event>,
    tx: tokio::sync::mpsc::UnboundedSender<EngineEvent>,
) {
    while let Some(event) = raw.recv().await {
        let Some(n) = native.upgrade() else { break };
        n.record(&event);
        let out = match event {
            core::Event::User(u) => EngineEvent::User {
                name: u.name,
                ltime: u.ltime,
                coalesce: u.coalesce,
                payload: u.payload.into(),
            },
            core::Event::Member(m) => {
                let (kind, m) = match m {
                    core::MemberEvent::Join(m) => (MemberEventKind::Join, m),
                    core::MemberEvent::Leave(m) => (MemberEventKind::Leave, m),
                    core::MemberEvent::Failed(m) => (MemberEventKind::Failed, m),
                    core::MemberEvent::Update(m) => (MemberEventKind::Update, m),
                    core::MemberEvent::Reap(m) => (MemberEventKind::Reap, m),
                };
                EngineEvent::Member {
                    kind,
                    members: vec![member(&m)],
                }
            }
            core::Event::Query(q) => EngineEvent::Query(ReceivedQuery {
                name: Arc::from(q.name.as_str()),
                ltime: q.id.ltime,
                from: Arc::from(q.source_node.as_str()),
                payload: q.payload.into(),
                deadline: Some(n.origin + q.deadline.as_duration()),
                responder: AnyResponder::Native(Responder {
                    native: Arc::downgrade(&n),
                    id: q.id,
                }),
            }),
            core::Event::NameConflict {
                matching,
                responses,
                survived,
            } => {
                if survived {
                    tracing::warn!(
                        "another node claimed this node's name; the cluster sides with this \
                         node ({matching} of {responses} answers)"
                    );
                } else {
                    tracing::error!(
                        "another node claimed this node's name and the cluster sides with it \
                         ({matching} of {responses} answers): shutting down"
                    );
                }
                continue;
            }
            core::Event::KeyringChanged { keys } => {
                n.persist_keyring(&keys);
                continue;
            }
            // Answers to this node's own queries go to their streams; these
            // are left over from queries whose stream was dropped.
            core::Event::QueryAck { .. }
            | core::Event::QueryResponse { .. }
            | core::Event::QueryDone { .. }
            | core::Event::KeyReport { .. } => continue,
        };
        if tx.send(out).is_err() {
            break;
        }
    }
}

/// Rejoins the members a snapshot last saw alive, one at a time until one
/// answers, replaying the events this node missed (Go's `handleRejoin`).
async fn rejoin(native: Arc<Native>, previous: Vec<(String, String)>) {
    for (name, addr) in previous {
        let Ok(at) = addr.parse::<SocketAddr>() else {
            tracing::warn!(node = %name, addr = %addr, "snapshot: not an address, not rejoined");
            continue;
        };
        tracing::info!(node = %name, addr = %at, "attempting re-join to a previously known node");
        if native.join(at, false).await.is_ok() {
            tracing::info!(node = %name, addr = %at, "re-joined a previously known node");
            return;
        }
    }
    tracing::warn!("failed to re-join any previously known node");
}

/// Records the clock in the snapshot every [`SNAPSHOT_CLOCK`] while the
/// engine runs (the snapshot writes only a clock that moved).
async fn snapshot_clock(native: Weak<Native>) {
    let Some(stopped) = native.upgrade().map(|n| n.node.stopped()) else {
        return;
    };
    tokio::pin!(stopped);
    let mut tick = tokio::time::interval(SNAPSHOT_CLOCK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {}
        }
        let Some(n) = native.upgrade() else { break };
        if let Some(s) = &n.snapshot {
            let clock = n.published.clock.load(Ordering::Relaxed);
            s.lock().unwrap_or_else(|p| p.into_inner()).clock(clock);
        }
    }
}

fn member(m: &core::Member) -> Member {
    use serfer_wire::serf::MemberStatus as S;
    Member {
        name: m.name.clone(),
        addr: m.addr.ip(),
        port: m.addr.port(),
        tags: m.tags.clone(),
        status: match m.status {
            S::Alive => MemberStatus::Alive,
            S::Leaving => MemberStatus::Leaving,
            S::Left => MemberStatus::Left,
            S::Failed => MemberStatus::Failed,
            _ => MemberStatus::None,
        },
        // The memberlist protocol it speaks (`PCur`), as serf-rs reports it.
        protocol: m.vsn[2],
    }
}

/// Answers one received query.
#[derive(Clone)]
pub(crate) struct Responder {
    native: Weak<Native>,
    id: QueryId,
}

impl Responder {
    pub(crate) async fn respond(&self, payload: &[u8]) -> Result<(), RespondError> {
        let Some(n) = self.native.upgrade() else {
            return Err(RespondError::Other("the node has stopped".into()));
        };
        n.node.respond(self.id, payload).await.map_err(|e| match e {
            NetError::Serf(SerfError::ResponseAlreadySent) => RespondError::AlreadySent,
            NetError::Serf(SerfError::ResponsePastDeadline) => RespondError::PastDeadline,
            NetError::Serf(SerfError::ResponseTooLarge { limit }) => {
                RespondError::TooLarge { limit }
            }
            e => RespondError::Other(e.to_string()),
        })
    }
}

impl Native {
    /// Notes in the snapshot what a restart needs from this event.
    fn record(&self, event: &core::Event) {
        let Some(s) = &self.snapshot else { return };
        let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            core::Event::Member(core::MemberEvent::Join(m)) => s.member(&m.name, Some(m.addr)),
            core::Event::Member(core::MemberEvent::Leave(m) | core::MemberEvent::Failed(m)) => {
                s.member(&m.name, None)
            }
            core::Event::User(u) => s.user_event(u.ltime),
            core::Event::Query(q) => s.query(q.id.ltime),
            _ => {}
        }
    }

    /// Rewrites the keyring file after a key operation changed the keyring,
    /// as Go's `writeKeyringFile` does.
    fn persist_keyring(&self, keys: &[Vec<u8>]) {
        let Some(path) = &self.keyring_file else {
            return;
        };
        let keys: Vec<Key> = keys
            .iter()
            .filter_map(|k| Key::from_bytes(k.clone()).ok())
            .collect();
        if let Err(e) = crate::persist::keyring_file::write(path, &keys) {
            tracing::error!(path = %path.display(), error = %e, "could not rewrite the keyring file");
        }
    }

    pub(crate) async fn user_event(
        &self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), Error> {
        self.node
            .user_event(name, payload, coalesce)
            .await
            .map_err(|e| stopped(e, "sending a user event"))
    }

    pub(crate) async fn query(
        &self,
        name: &str,
        payload: &[u8],
        params: QueryParams<'_>,
    ) -> Result<Answers, QueryRefused> {
        let params = core::QueryParams {
            filter_nodes: params.nodes.to_vec(),
            filter_tags: params.tags.to_vec(),
            request_ack: params.request_ack,
            relay_factor: params.relay_factor,
            timeout: Some(params.timeout),
        };
        match self.node.query(name, payload, params).await {
            Ok(stream) => Ok(Answers::Native(stream)),
            Err(NetError::Serf(SerfError::QueryTooLarge { size, .. })) => {
                Err(QueryRefused::TooLarge(size))
            }
            Err(e) => Err(QueryRefused::Other(stopped(e, "sending a query"))),
        }
    }

    pub(crate) async fn default_query_timeout(&self) -> Duration {
        // A stopped engine answers nothing; any timeout will do.
        self.node
            .default_query_timeout()
            .await
            .unwrap_or(Duration::from_secs(1))
    }

    pub(crate) async fn stats(&self) -> Stats {
        let Ok(s) = self.node.info().await else {
            return Stats {
                members: 0,
                failed: 0,
                left: 0,
                health_score: 0,
                member_time: 0,
                event_time: 0,
                query_time: 0,
                intent_queue: 0,
                event_queue: 0,
                query_queue: 0,
                encrypted: self.encrypted,
                coordinate_resets: None,
            };
        };
        Stats {
            members: s.members,
            failed: s.failed,
            left: s.left,
            health_score: s.health_score as usize,
            member_time: s.member_time,
            event_time: s.event_time,
            query_time: s.query_time,
            intent_queue: s.intent_queue,
            event_queue: s.event_queue,
            query_queue: s.query_queue,
            encrypted: s.encrypted,
            coordinate_resets: s.coordinate_resets,
        }
    }

    pub(crate) async fn members(&self) -> Vec<Member> {
        self.node
            .members()
            .await
            .map(|ms| ms.iter().map(member).collect())
            .unwrap_or_default()
    }

    pub(crate) async fn local_member(&self) -> Member {
        match self.node.local_member().await {
            Ok(m) => member(&m),
            // Stopped: this node as it was configured, no longer alive.
            Err(_) => Member {
                name: self.node.name().to_owned(),
                addr: self.node.local_addr().ip(),
                port: self.node.local_addr().port(),
                tags: BTreeMap::new(),
                status: MemberStatus::None,
                protocol: 0,
            },
        }
    }

    pub(crate) async fn set_tags(&self, tags: BTreeMap<String, String>) -> Result<(), Error> {
        self.node
            .set_tags(tags)
            .await
            .map_err(|e| stopped(e, "setting tags"))
    }

    pub(crate) async fn join(&self, addr: SocketAddr, ignore_old: bool) -> Result<(), Error> {
        match self.node.join(vec![addr], ignore_old).await {
            Ok(0) => Err(Error::engine(
                "joining",
                std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    format!("no push/pull with {addr} completed"),
                ),
            )),
            Ok(_) => Ok(()),
            Err(NetError::NotJoined(failures)) => Err(Error::engine(
                "joining",
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, not_joined(&failures)),
            )),
            Err(e) => Err(stopped(e, "joining")),
        }
    }

    pub(crate) async fn local_keys(&self) -> Vec<Vec<u8>> {
        self.node.keys().await.unwrap_or_default()
    }

    pub(crate) async fn use_local_key(&self, key: &[u8]) -> bool {
        let key = key.to_vec();
        self.node
            .with_core(move |serf, _| serf.use_local_key(&key).is_ok())
            .await
            .unwrap_or(false)
    }

    pub(crate) async fn force_leave(&self, name: &str, prune: bool) -> Result<(), Error> {
        self.node
            .remove_failed_node(name, prune)
            .await
            .map_err(|e| stopped(e, "forcing a member out"))
    }

    pub(crate) fn coordinate(&self, name: &str) -> Option<Coordinate> {
        let c = self.published.coordinates.read();
        c.unwrap_or_else(|p| p.into_inner())
            .peers
            .get(name)
            .cloned()
    }

    pub(crate) fn local_coordinate(&self) -> Option<Coordinate> {
        let c = self.published.coordinates.read();
        c.unwrap_or_else(|p| p.into_inner()).local.clone()
    }

    pub(crate) fn encryption_enabled(&self) -> bool {
        self.encrypted
    }

    pub(crate) async fn key_op(&self, op: KeyOp, key: Option<&Key>) -> Result<KeyReport, Error> {
        let bytes = || key.map(|k| k.as_bytes().to_vec()).unwrap_or_default();
        let op = match op {
            KeyOp::Install => core::KeyOp::Install(bytes()),
            KeyOp::Use => core::KeyOp::Use(bytes()),
            KeyOp::Remove => core::KeyOp::Remove(bytes()),
            KeyOp::List => core::KeyOp::List,
        };
        let r = self
            .node
            .key_op(op)
            .await
            .map_err(|e| stopped(e, "running a key operation"))?;
        let tally = |m: BTreeMap<String, usize>| -> BTreeMap<Key, usize> {
            m.into_iter()
                .filter_map(|(k, n)| Key::parse(&k).ok().map(|k| (k, n)))
                .collect()
        };
        Ok(KeyReport {
            nodes: r.num_nodes,
            responses: r.num_resp,
            errors: r.num_err,
            messages: r.messages,
            keys: tally(r.keys),
            primary_keys: tally(r.primary_keys),
        })
    }

    pub(crate) async fn leave(&self) -> Result<(), Error> {
        if let Some(s) = &self.snapshot {
            s.lock().unwrap_or_else(|p| p.into_inner()).leave();
        }
        let bound = self
            .node
            .with_core(|serf, _| {
                let c = serf.config();
                // The intent's broadcast, memberlist's leave (at most a probe
                // interval or so to spread) and the propagate delay.
                c.broadcast_timeout + c.memberlist.probe_interval * 2 + c.leave_propagate_delay
            })
            .await
            .map_err(|e| stopped(e, "leaving the cluster"))?;
        if self.node.leave(bound).await {
            Ok(())
        } else {
            Err(Error::engine(
                "leaving the cluster",
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the leave did not complete within {bound:?}"),
                ),
            ))
        }
    }

    pub(crate) async fn shutdown(&self) {
        self.node.shutdown().await;
    }

    pub(crate) fn stopped(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.node.stopped())
    }
}
