//! A thin tokio driver: one Sans-I/O core — a bare [`Memberlist`] ([`Node`])
//! or a [`Serf`](crate::serf::Serf) ([`SerfNode`]) — on a real UDP socket and
//! TCP listener sharing one port, as Go's memberlist binds them.
//!
//! One task owns the core. It feeds it datagrams, streams and timer ticks (at
//! the core's `poll_timeout`) and carries out what it asks for: datagrams go
//! out on the socket; each stream exchange (push/pull, TCP ping) runs in a
//! task of its own (dial, write, read until the peer closes, bounded by
//! `tcp_timeout`) and hands the bytes back to the core's task; each accepted
//! connection is read until the core says the message is complete, then
//! answered and closed. Commands arrive through the handle as closures run on
//! the core's task; events leave through an unbounded channel.
//!
//! The driver adds nothing to the protocol: everything it decides is in the
//! core, so what the simulator verifies is what runs here.

mod serf;

pub use self::serf::{Observer, QueryAnswer, QueryStream, SerfNode};

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{self, Instant as TokioInstant};

use crate::core::{Core, CoreOutput};
use crate::memberlist::{
    CommandError, Config, Member, Memberlist, NodeEvent, Stats, StreamOutcome,
};
use crate::Instant;

/// Why a command to a running node failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The node's task has stopped (shut down, or lost a name conflict).
    #[error("the node has stopped")]
    Stopped,
    /// The core refused the command.
    #[error(transparent)]
    Serf(#[from] crate::serf::SerfError),
    /// A broadcast was not fully transmitted within the configured
    /// `broadcast_timeout` (Go's message for a force-leave).
    #[error("timed out broadcasting node removal")]
    BroadcastTimeout,
    /// A join reached none of its addresses (Go returns its errors from
    /// `Join` in this case too): why, address by address.
    #[error("no push/pull completed: {}", describe_failures(.0))]
    NotJoined(Vec<(SocketAddr, JoinFailure)>),
}

/// Why a join's push/pull with one address did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinFailure {
    /// The peer took the stream and closed it without a word: what a node
    /// does with a push/pull it cannot read (another wire, or another key).
    #[error("the peer closed without answering")]
    Unanswered,
    /// The exchange took longer than `tcp_timeout` (in Go's words). With
    /// `connected`, the peer took the stream and kept it without answering,
    /// as a node on another wire may while it waits for more of its framing.
    #[error("i/o timeout")]
    Timeout {
        /// Whether the connection was made and the push/pull written.
        connected: bool,
    },
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(String),
    /// The peer answered, and the answer was an error or was refused, in
    /// Go's words: an error from the peer (`remote error: …`), another key
    /// (`No installed keys could decrypt the message`), incompatible versions.
    #[error("{0}")]
    Refused(String),
}

fn describe_failures(failures: &[(SocketAddr, JoinFailure)]) -> String {
    let parts: Vec<String> = failures.iter().map(|(a, f)| format!("{a}: {f}")).collect();
    parts.join("; ")
}

/// Largest datagram accepted.
const UDP_RECV_BUFFER: usize = 65_536;
/// Largest stream accepted from a peer (Go refuses bigger encrypted frames).
const MAX_STREAM: usize = serfer_wire::crypto::MAX_STREAM_FRAME;
/// Room above the largest frame for its header.
const STREAM_SLACK: usize = 64;

/// A Sans-I/O core the driver can run: [`Core`], sendable to the core's task.
pub(crate) trait DriverCore: Core<Event: Send + 'static> + Send + 'static {
    /// How long a stream exchange may take.
    fn tcp_timeout(&self) -> Duration;

    /// Runs once per turn of the driver's loop, after the turn's outputs are
    /// sent: where a wrapper publishes what it reads of the core without a
    /// round trip to its task.
    fn after_turn(&mut self) {}
}

impl DriverCore for Memberlist {
    fn tcp_timeout(&self) -> Duration {
        self.config().tcp_timeout
    }
}

/// A command run on the core's task, with the time.
type Call<C> = Box<dyn FnOnce(&mut C, Instant) + Send>;

/// Starts a join on the core's task.
type JoinStart<C> = Box<dyn FnOnce(&mut C, Instant) -> Result<(), NetError> + Send>;

/// What a handle asks of the core's task.
pub(crate) enum Command<C> {
    /// Run a join (the closure starts it); the count of successful join
    /// push/pulls goes back, or the closure's error.
    Join {
        addrs: usize,
        start: JoinStart<C>,
        done: oneshot::Sender<Result<usize, NetError>>,
    },
    /// Start a leave; `done` fires at the core's `LeaveComplete`.
    Leave(Call<C>, oneshot::Sender<()>),
    /// Anything else.
    Call(Call<C>),
    Shutdown,
}

/// What the I/O tasks report to the core's task.
enum Io {
    /// An accepted stream's bytes so far; the answer says what to do next.
    Inbound {
        from: SocketAddr,
        bytes: Vec<u8>,
        reply: oneshot::Sender<StreamOutcome>,
    },
    /// The answer to a stream this node opened, or why there is none.
    Reply {
        to: SocketAddr,
        kind: Exchange,
        bytes: Result<Vec<u8>, JoinFailure>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Exchange {
    PushPull { join: Option<u64> },
    Ping,
}

/// The core's task, its command channel, its event channel, and whether it
/// has ended.
pub(crate) struct Running<C: DriverCore> {
    pub(crate) handle: Handle<C>,
    pub(crate) events: mpsc::UnboundedReceiver<C::Event>,
    pub(crate) addr: SocketAddr,
    pub(crate) task: JoinHandle<()>,
    /// Becomes true when the task returns; closes if it is aborted.
    pub(crate) stopped: watch::Receiver<bool>,
}

/// Sends commands to the core's task. Once the task has ended every command
/// fails, because the task's receiver is gone.
pub(crate) struct Handle<C> {
    commands: mpsc::UnboundedSender<Command<C>>,
}

impl<C: DriverCore> Running<C> {
    /// Binds `addr` for UDP and TCP (port 0 picks one free for both), builds
    /// the core with the bound address and a seed from the OS ([`os_seed`]),
    /// and starts the task.
    pub(crate) async fn start(
        addr: SocketAddr,
        build: impl FnOnce(SocketAddr, Instant, u64) -> io::Result<C>,
    ) -> io::Result<Running<C>> {
        let (udp, tcp) = bind_pair(addr).await?;
        let addr = tcp.local_addr()?;
        let origin = TokioInstant::now();
        let core = build(addr, Instant::ZERO, os_seed()?)?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            core,
            origin,
            udp,
            io_tx,
            event_tx,
            joins: BTreeMap::new(),
            next_join: 0,
            leave_waiters: Vec::new(),
            stopped: false,
        };
        let (stopped_tx, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            driver.run(tcp, command_rx, io_rx).await;
            // Nobody may be watching; an abort drops the sender instead,
            // which watchers see as the channel closing.
            let _ = stopped_tx.send(true);
        });
        Ok(Running {
            handle: Handle { commands },
            events,
            addr,
            task,
            stopped,
        })
    }
}

impl<C: DriverCore> Handle<C> {
    /// Runs `f` on the core's task and returns its result; `None` once the
    /// node has stopped.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut C, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let call: Call<C> = Box::new(move |core, now| {
            let _ = tx.send(f(core, now));
        });
        self.commands.send(Command::Call(call)).ok()?;
        rx.await.ok()
    }

    /// Starts a join and waits until its push/pulls are done.
    pub(crate) async fn join(
        &self,
        addrs: usize,
        start: impl FnOnce(&mut C, Instant) -> Result<(), NetError> + Send + 'static,
    ) -> Result<usize, NetError> {
        let (done, rx) = oneshot::channel();
        let command = Command::Join {
            addrs,
            start: Box::new(start),
            done,
        };
        if self.commands.send(command).is_err() {
            return Err(NetError::Stopped);
        }
        rx.await.unwrap_or(Err(NetError::Stopped))
    }

    /// Starts a leave; true if it completed within `timeout`.
    pub(crate) async fn leave(
        &self,
        timeout: Duration,
        start: impl FnOnce(&mut C, Instant) + Send + 'static,
    ) -> bool {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Leave(Box::new(start), tx))
            .is_err()
        {
            return false;
        }
        matches!(time::timeout(timeout, rx).await, Ok(Ok(())))
    }

    /// Asks the task to stop, without waiting.
    pub(crate) fn stop(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

/// A running memberlist node. Dropping it stops the node without a leave.
#[derive(Debug)]
pub struct Node {
    commands: mpsc::UnboundedSender<Command<Memberlist>>,
    events: mpsc::UnboundedReceiver<NodeEvent>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl<C> std::fmt::Debug for Command<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Join { .. } => "Join",
            Command::Leave(..) => "Leave",
            Command::Call(_) => "Call",
            Command::Shutdown => "Shutdown",
        })
    }
}

impl Node {
    /// Binds `config.advertise` for UDP and TCP (port 0 picks a free port for
    /// both, and the advertised address is updated to it) and starts the node.
    pub async fn start(config: Config) -> io::Result<Node> {
        let running = Running::start(config.advertise, move |addr, now, seed| {
            let mut config = config;
            config.advertise = addr;
            config.seed = seed;
            Memberlist::new(config, now).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        })
        .await?;
        Ok(Node {
            commands: running.handle.commands,
            events: running.events,
            addr: running.addr,
            task: Some(running.task),
        })
    }

    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memberlist, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let call: Call<Memberlist> = Box::new(move |core, now| {
            let _ = tx.send(f(core, now));
        });
        self.commands.send(Command::Call(call)).ok()?;
        rx.await.ok()
    }

    /// The address the node is bound to and advertises.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Joins through `addrs`; returns how many push/pull exchanges succeeded.
    pub async fn join(&self, addrs: Vec<SocketAddr>) -> usize {
        let (done, rx) = oneshot::channel();
        let n = addrs.len();
        let command = Command::Join {
            addrs: n,
            start: Box::new(move |core: &mut Memberlist, now| {
                core.join(now, &addrs);
                Ok(())
            }),
            done,
        };
        if self.commands.send(command).is_err() {
            return 0;
        }
        rx.await.ok().and_then(Result::ok).unwrap_or(0)
    }

    /// Every member the node knows, itself included.
    pub async fn members(&self) -> Vec<Member> {
        self.call(|core, _| core.members().cloned().collect())
            .await
            .unwrap_or_default()
    }

    /// The core's counters (packets received, dropped, probes failed, ...);
    /// `None` once the node has shut down.
    pub async fn stats(&self) -> Option<Stats> {
        self.call(|core, _| core.stats().clone()).await
    }

    /// Queues a user broadcast.
    pub async fn queue_broadcast(&self, msg: Vec<u8>) -> Result<(), CommandError> {
        self.call(move |core, _| core.queue_broadcast(msg))
            .await
            .unwrap_or(Err(CommandError::Left))
    }

    /// Changes the node's metadata.
    pub async fn update_meta(&self, meta: Vec<u8>) -> Result<(), CommandError> {
        self.call(move |core, now| core.update_meta(now, meta))
            .await
            .unwrap_or(Err(CommandError::Left))
    }

    /// Leaves gracefully; true if the leave was fully gossiped within
    /// `timeout`. The node keeps running until [`Node::shutdown`].
    pub async fn leave(&self, timeout: Duration) -> bool {
        let (tx, rx) = oneshot::channel();
        let start: Call<Memberlist> = Box::new(|core, now| core.leave(now));
        if self.commands.send(Command::Leave(start, tx)).is_err() {
            return false;
        }
        matches!(time::timeout(timeout, rx).await, Ok(Ok(())))
    }

    /// Membership events as they happen.
    pub fn events(&mut self) -> &mut mpsc::UnboundedReceiver<NodeEvent> {
        &mut self.events
    }

    /// Stops the node and waits for its task.
    pub async fn shutdown(mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Binds TCP and UDP on one port. With port 0, the TCP listener picks a port
/// and UDP takes the same one, retrying a few times if another process holds
/// it for UDP.
async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last_err = None;
    for _ in 0..16 {
        let tcp = TcpListener::bind(addr).await?;
        let bound = tcp.local_addr()?;
        match UdpSocket::bind(bound).await {
            Ok(udp) => {
                enlarge_receive_buffer(&udp);
                return Ok((udp, tcp));
            }
            Err(e) if addr.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no port free for both UDP and TCP")))
}

/// A seed for a live node's random source, drawn from the OS. The core takes
/// its seed from the configuration so the simulator can replay a run; a node
/// on a real network must share it with no other node and no earlier life of
/// itself: the generator makes the AES-GCM nonces, which must never repeat
/// under a key, and picks gossip and probe targets, which nodes must not pick
/// alike (the same peers would be left out every round).
fn os_seed() -> io::Result<u64> {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(io::Error::other)?;
    Ok(u64::from_le_bytes(bytes))
}

/// The UDP receive buffer Go's memberlist asks for: a burst of gossip from
/// many peers at once must not overflow the kernel's default (about 200 KB on
/// Linux), or datagrams are dropped before the node reads them.
const UDP_SOCKET_BUFFER: usize = 2 * 1024 * 1024;

/// Asks for [`UDP_SOCKET_BUFFER`], halving on refusal as Go does. Linux caps
/// the request at `net.core.rmem_max` without an error; a node whose every
/// request is refused keeps the default buffer and says so.
fn enlarge_receive_buffer(udp: &UdpSocket) {
    let socket = socket2::SockRef::from(udp);
    let mut size = UDP_SOCKET_BUFFER;
    let mut last_err = None;
    while size > 0 {
        match socket.set_recv_buffer_size(size) {
            Ok(()) => return,
            Err(e) => last_err = Some(e),
        }
        size /= 2;
    }
    if let Some(e) = last_err {
        tracing::warn!("Failed to resize UDP buffer: {e}");
    }
}

/// Join requests in flight: exchanges left, exchanges that succeeded, and
/// who waits for the count.
/// A join under way: push/pulls not yet answered, those that completed, and
/// why the others did not.
struct JoinWait {
    left: usize,
    succeeded: usize,
    failures: Vec<(SocketAddr, JoinFailure)>,
    done: oneshot::Sender<Result<usize, NetError>>,
}

struct Driver<C: DriverCore> {
    core: C,
    origin: TokioInstant,
    udp: UdpSocket,
    io_tx: mpsc::UnboundedSender<Io>,
    event_tx: mpsc::UnboundedSender<C::Event>,
    joins: BTreeMap<u64, JoinWait>,
    next_join: u64,
    leave_waiters: Vec<oneshot::Sender<()>>,
    stopped: bool,
}

impl<C: DriverCore> Driver<C> {
    fn now(&self) -> Instant {
        Instant::from_duration(self.origin.elapsed())
    }

    async fn run(
        mut self,
        tcp: TcpListener,
        mut commands: mpsc::UnboundedReceiver<Command<C>>,
        mut io_rx: mpsc::UnboundedReceiver<Io>,
    ) {
        let mut buf = vec![0u8; UDP_RECV_BUFFER];
        // One timer, moved each turn: cheaper than a new one per turn, and
        // the driver turns on every packet.
        let timer = time::sleep_until(TokioInstant::now());
        tokio::pin!(timer);
        loop {
            self.flush(None).await;
            self.core.after_turn();
            if self.stopped {
                return;
            }
            let wake = self
                .core
                .poll_timeout()
                .map(|t| self.origin + t.as_duration())
                .unwrap_or_else(|| TokioInstant::now() + Duration::from_secs(1));
            if timer.deadline() != wake {
                timer.as_mut().reset(wake);
            }
            tokio::select! {
                _ = &mut timer => {
                    let now = self.now();
                    self.core.tick(now);
                }
                received = self.udp.recv_from(&mut buf) => {
                    if let Ok((n, from)) = received {
                        let now = self.now();
                        self.core.handle_packet(now, from, &buf[..n]);
                    }
                }
                accepted = tcp.accept() => {
                    if let Ok((stream, from)) = accepted {
                        tokio::spawn(serve_stream(stream, from, self.io_tx.clone(), self.core.tcp_timeout()));
                    }
                }
                Some(io) = io_rx.recv() => self.handle_io(io),
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => return,
                    Some(command) => self.handle_command(command).await,
                },
            }
        }
    }

    fn handle_io(&mut self, io: Io) {
        let now = self.now();
        match io {
            Io::Inbound { from, bytes, reply } => {
                let outcome = self.core.handle_stream(now, from, &bytes);
                let _ = reply.send(outcome);
            }
            Io::Reply { to, kind, bytes } => {
                let outcome = match (kind, bytes) {
                    (Exchange::PushPull { join }, Ok(bytes)) => self
                        .core
                        .handle_push_pull_reply(now, to, &bytes, join.is_some())
                        .map_err(|e| JoinFailure::Refused(e.to_string())),
                    (Exchange::Ping, Ok(bytes)) => self
                        .core
                        .handle_stream_ping_reply(now, to, &bytes)
                        .map_err(|e| JoinFailure::Refused(e.to_string())),
                    (_, Err(e)) => Err(e),
                };
                if let Exchange::PushPull { join: Some(id) } = kind {
                    self.join_done(id, to, outcome);
                }
            }
        }
    }

    fn join_done(&mut self, id: u64, to: SocketAddr, outcome: Result<(), JoinFailure>) {
        let Some(wait) = self.joins.get_mut(&id) else {
            return;
        };
        wait.left = wait.left.saturating_sub(1);
        match outcome {
            Ok(()) => wait.succeeded += 1,
            Err(why) => wait.failures.push((to, why)),
        }
        if wait.left == 0 {
            if let Some(wait) = self.joins.remove(&id) {
                let result = if wait.succeeded == 0 && !wait.failures.is_empty() {
                    Err(NetError::NotJoined(wait.failures))
                } else {
                    Ok(wait.succeeded)
                };
                let _ = wait.done.send(result);
            }
        }
    }

    async fn handle_command(&mut self, command: Command<C>) {
        let now = self.now();
        match command {
            Command::Join { addrs, start, done } => {
                if addrs == 0 {
                    let _ = done.send(Ok(0));
                    return;
                }
                if let Err(e) = start(&mut self.core, now) {
                    let _ = done.send(Err(e));
                    return;
                }
                let id = self.next_join;
                self.next_join += 1;
                self.joins.insert(
                    id,
                    JoinWait {
                        left: addrs,
                        succeeded: 0,
                        failures: Vec::new(),
                        done,
                    },
                );
                self.flush(Some(id)).await;
            }
            Command::Leave(start, tx) => {
                self.leave_waiters.push(tx);
                start(&mut self.core, now);
            }
            Command::Call(f) => f(&mut self.core, now),
            Command::Shutdown => {}
        }
    }

    /// Carries out the core's outputs. Join push/pulls produced by the command
    /// being handled are tagged with `join`.
    async fn flush(&mut self, join: Option<u64>) {
        while let Some(out) = self.core.poll_output() {
            match out {
                CoreOutput::Packet { to, bytes } => {
                    // A failed send is a lost datagram, which the protocol
                    // tolerates by design.
                    if let Err(e) = self.udp.send_to(&bytes, to).await {
                        tracing::debug!("Failed to send a packet to {to}: {e}");
                    }
                }
                CoreOutput::PushPull {
                    to,
                    bytes,
                    join: is_join,
                } => {
                    let kind = Exchange::PushPull {
                        join: join.filter(|_| is_join),
                    };
                    let deadline = TokioInstant::now() + self.core.tcp_timeout();
                    tokio::spawn(exchange(to, bytes, kind, deadline, self.io_tx.clone()));
                }
                CoreOutput::StreamPing {
                    to,
                    bytes,
                    deadline,
                } => {
                    let deadline = self.origin + deadline.as_duration();
                    tokio::spawn(exchange(
                        to,
                        bytes,
                        Exchange::Ping,
                        deadline,
                        self.io_tx.clone(),
                    ));
                }
                CoreOutput::Event(e) => {
                    let _ = self.event_tx.send(e);
                }
                CoreOutput::LeaveComplete => {
                    for tx in self.leave_waiters.drain(..) {
                        let _ = tx.send(());
                    }
                }
                CoreOutput::Shutdown => self.stopped = true,
                CoreOutput::UserData(_) | CoreOutput::Ignore => {}
            }
        }
    }
}

/// Dials `to`, writes `bytes`, and reads the answer until the peer closes (Go
/// closes right after answering), all before `deadline`.
async fn exchange(
    to: SocketAddr,
    bytes: Vec<u8>,
    kind: Exchange,
    deadline: TokioInstant,
    io_tx: mpsc::UnboundedSender<Io>,
) {
    let mut connected = false;
    let work = async {
        let mut stream = TcpStream::connect(to).await?;
        stream.write_all(&bytes).await?;
        connected = true;
        let mut reply = Vec::new();
        (&mut stream)
            .take(MAX_STREAM as u64)
            .read_to_end(&mut reply)
            .await?;
        io::Result::Ok(reply)
    };
    let outcome = match time::timeout_at(deadline, work).await {
        Ok(Ok(reply)) if !reply.is_empty() => Ok(reply),
        Ok(Ok(_)) => Err(JoinFailure::Unanswered),
        Ok(Err(e)) => Err(JoinFailure::Io(e.to_string())),
        Err(_) => Err(JoinFailure::Timeout { connected }),
    };
    if let Err(e) = &outcome {
        match kind {
            // Go logs a failed join at debug: the caller of join gets
            // the error itself.
            Exchange::PushPull { join: Some(_) } => {
                tracing::debug!("Failed to join {to}: {e}")
            }
            Exchange::PushPull { join: None } => {
                tracing::error!("Push/Pull with {to} failed: {e}")
            }
            // A failed TCP ping is a probe's fallback failing; the probe's
            // verdict is logged by the core.
            Exchange::Ping => tracing::debug!("TCP ping to {to} failed: {e}"),
        }
    }
    let _ = io_tx.send(Io::Reply {
        to,
        kind,
        bytes: outcome,
    });
}

/// Reads an accepted stream until the core has a whole message, writes its
/// answer, and closes.
async fn serve_stream(
    mut stream: TcpStream,
    from: SocketAddr,
    io_tx: mpsc::UnboundedSender<Io>,
    timeout: Duration,
) {
    let work = async {
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return io::Result::Ok(());
            }
            bytes.extend_from_slice(&chunk[..n]);
            if bytes.len() > MAX_STREAM + STREAM_SLACK {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            let request = Io::Inbound {
                from,
                bytes: bytes.clone(),
                reply: tx,
            };
            if io_tx.send(request).is_err() {
                return Ok(());
            }
            match rx.await {
                Ok(StreamOutcome::NeedMore) => continue,
                Ok(StreamOutcome::Reply(reply)) => {
                    stream.write_all(&reply).await?;
                    stream.shutdown().await?;
                    return Ok(());
                }
                Ok(StreamOutcome::Done) | Err(_) => return Ok(()),
            }
        }
    };
    let _ = time::timeout(timeout, work).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's cap on a receive buffer an unprivileged socket may ask for.
    fn rmem_max() -> usize {
        std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Two nodes started with the same configuration must still draw
    /// different random numbers: the core's generator makes the encryption
    /// nonces (AES-GCM must never see one twice under a key) and picks gossip
    /// targets (nodes choosing alike leave the same peers out every round).
    /// The first encrypted stream of each, its join, shows the nonce.
    #[tokio::test]
    async fn nodes_with_one_configuration_draw_different_nonces() {
        use crate::memberlist::Keyring;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let mut config = Config::lan("twin", "127.0.0.1:0".parse().unwrap());
        config.keyring = Keyring::new(vec![7; 16], Vec::new()).unwrap();
        let mut nonces = Vec::new();
        for _ in 0..2 {
            let node = Node::start(config.clone()).await.unwrap();
            let join = tokio::spawn(async move {
                node.join(vec![target]).await;
                node
            });
            let (mut stream, _) = time::timeout(Duration::from_secs(10), listener.accept())
                .await
                .expect("the node dials its join target")
                .unwrap();
            // An encrypted stream frame: 0x0a, length (4), version (1), nonce (12).
            let mut head = [0u8; 18];
            time::timeout(Duration::from_secs(10), stream.read_exact(&mut head))
                .await
                .expect("the node sends its push/pull")
                .unwrap();
            assert_eq!(head[0], 0x0a, "an encrypted frame: {head:02x?}");
            nonces.push(head[6..].to_vec());
            drop(stream);
            join.await.unwrap().shutdown().await;
        }
        assert_ne!(nonces[0], nonces[1], "both nodes used one nonce");
    }

    #[tokio::test]
    async fn the_udp_receive_buffer_is_enlarged_as_go_does() {
        let (udp, _tcp) = bind_pair("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let got = socket2::SockRef::from(&udp).recv_buffer_size().unwrap();
        // Linux grants min(request, rmem_max) and reports twice that (the
        // doubling accounts for its bookkeeping).
        let granted = UDP_SOCKET_BUFFER.min(rmem_max());
        assert!(
            got >= granted,
            "receive buffer {got} bytes, asked for {UDP_SOCKET_BUFFER}, rmem_max allows {granted}"
        );
    }
}
