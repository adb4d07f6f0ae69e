//! A thin tokio driver: one [`Memberlist`] core on a real UDP socket and TCP
//! listener sharing one port, as Go's memberlist binds them.
//!
//! One task owns the core. It feeds it datagrams, streams and timer ticks and
//! carries out what it asks for: datagrams go out on the socket; each stream
//! exchange runs in a task of its own (dial, write, read until the peer
//! closes, bounded by `tcp_timeout`) and hands the bytes back to the core's
//! task; each accepted connection is read until the core says the message is
//! complete, then answered and closed. Commands arrive through a [`Node`]
//! handle; membership events leave through [`Node::events`].
//!
//! The driver adds nothing to the protocol: everything it decides is in the
//! core, so what the simulator verifies is what runs here.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{self, Instant as TokioInstant};

use crate::memberlist::{
    CommandError, Config, Member, Memberlist, NodeEvent, Output, StreamOutcome,
};
use crate::Instant;

/// Largest datagram accepted.
const UDP_RECV_BUFFER: usize = 65_536;
/// Largest stream accepted from a peer (Go refuses bigger encrypted frames).
const MAX_STREAM: usize = serfer_wire::crypto::MAX_STREAM_FRAME;

/// What the handle asks of the core's task.
enum Command {
    Join(Vec<SocketAddr>, oneshot::Sender<usize>),
    Leave(oneshot::Sender<()>),
    Members(oneshot::Sender<Vec<Member>>),
    Broadcast(Vec<u8>, oneshot::Sender<Result<(), CommandError>>),
    UpdateMeta(Vec<u8>, oneshot::Sender<Result<(), CommandError>>),
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
    /// The answer to a stream this node opened; `None` when the exchange failed.
    Reply {
        to: SocketAddr,
        kind: Exchange,
        bytes: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Exchange {
    PushPull { join: Option<u64> },
    Ping,
}

/// A running node. Dropping it stops the node without a leave.
#[derive(Debug)]
pub struct Node {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<NodeEvent>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Node {
    /// Binds `config.advertise` for UDP and TCP (port 0 picks a free port for
    /// both, and the advertised address is updated to it) and starts the node.
    pub async fn start(mut config: Config) -> io::Result<Node> {
        let (udp, tcp) = bind_pair(config.advertise).await?;
        config.advertise = tcp.local_addr()?;
        let addr = config.advertise;
        let origin = TokioInstant::now();
        let core = Memberlist::new(config, Instant::ZERO)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
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
        };
        let task = tokio::spawn(driver.run(tcp, command_rx, io_rx));
        Ok(Node {
            commands,
            events,
            addr,
            task: Some(task),
        })
    }

    /// The address the node is bound to and advertises.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Joins through `addrs`; returns how many push/pull exchanges succeeded.
    pub async fn join(&self, addrs: Vec<SocketAddr>) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Join(addrs, tx)).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// Every member the node knows, itself included.
    pub async fn members(&self) -> Vec<Member> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Members(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Queues a user broadcast.
    pub async fn queue_broadcast(&self, msg: Vec<u8>) -> Result<(), CommandError> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Broadcast(msg, tx)).is_err() {
            return Err(CommandError::Left);
        }
        rx.await.unwrap_or(Err(CommandError::Left))
    }

    /// Changes the node's metadata.
    pub async fn update_meta(&self, meta: Vec<u8>) -> Result<(), CommandError> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::UpdateMeta(meta, tx)).is_err() {
            return Err(CommandError::Left);
        }
        rx.await.unwrap_or(Err(CommandError::Left))
    }

    /// Leaves gracefully; true if the leave was fully gossiped within
    /// `timeout`. The node keeps running until [`Node::shutdown`].
    pub async fn leave(&self, timeout: Duration) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Leave(tx)).is_err() {
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
            Ok(udp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no port free for both UDP and TCP")))
}

struct Driver {
    core: Memberlist,
    origin: TokioInstant,
    udp: UdpSocket,
    io_tx: mpsc::UnboundedSender<Io>,
    event_tx: mpsc::UnboundedSender<NodeEvent>,
    /// Join requests in flight: exchanges left, exchanges that succeeded, and
    /// who waits for the count.
    joins: BTreeMap<u64, (usize, usize, oneshot::Sender<usize>)>,
    next_join: u64,
    leave_waiters: Vec<oneshot::Sender<()>>,
}

impl Driver {
    fn now(&self) -> Instant {
        Instant::from_duration(self.origin.elapsed())
    }

    async fn run(
        mut self,
        tcp: TcpListener,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut io_rx: mpsc::UnboundedReceiver<Io>,
    ) {
        let mut buf = vec![0u8; UDP_RECV_BUFFER];
        loop {
            self.flush(None).await;
            let wake = self
                .core
                .poll_timeout()
                .map(|t| self.origin + t.as_duration())
                .unwrap_or_else(|| TokioInstant::now() + Duration::from_secs(1));
            tokio::select! {
                _ = time::sleep_until(wake) => {
                    let now = self.now();
                    self.core.tick(now);
                }
                received = self.udp.recv_from(&mut buf) => {
                    if let Ok((n, from)) = received {
                        let now = self.now();
                        // Dropped packets are counted in the core's stats.
                        let _ = self.core.handle_packet(now, from, &buf[..n]);
                    }
                }
                accepted = tcp.accept() => {
                    if let Ok((stream, from)) = accepted {
                        tokio::spawn(serve_stream(stream, from, self.io_tx.clone(), self.core.config().tcp_timeout));
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
                let ok = match (kind, bytes) {
                    (Exchange::PushPull { .. }, Some(bytes)) => matches!(
                        self.core.handle_push_pull_reply(now, to, &bytes),
                        Ok(StreamOutcome::Done)
                    ),
                    (Exchange::Ping, Some(bytes)) => matches!(
                        self.core.handle_stream_ping_reply(now, to, &bytes),
                        Ok(StreamOutcome::Done)
                    ),
                    (_, None) => false,
                };
                if let Exchange::PushPull { join: Some(id) } = kind {
                    self.join_done(id, ok);
                }
            }
        }
    }

    fn join_done(&mut self, id: u64, ok: bool) {
        let Some(entry) = self.joins.get_mut(&id) else {
            return;
        };
        entry.0 = entry.0.saturating_sub(1);
        entry.1 += usize::from(ok);
        if entry.0 == 0 {
            if let Some((_, succeeded, tx)) = self.joins.remove(&id) {
                let _ = tx.send(succeeded);
            }
        }
    }

    async fn handle_command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Join(addrs, tx) => {
                if addrs.is_empty() {
                    let _ = tx.send(0);
                    return;
                }
                let id = self.next_join;
                self.next_join += 1;
                self.joins.insert(id, (addrs.len(), 0, tx));
                self.core.join(now, &addrs);
                self.flush(Some(id)).await;
            }
            Command::Leave(tx) => {
                self.leave_waiters.push(tx);
                self.core.leave(now);
            }
            Command::Members(tx) => {
                let _ = tx.send(self.core.members().cloned().collect());
            }
            Command::Broadcast(msg, tx) => {
                let _ = tx.send(self.core.queue_broadcast(msg));
            }
            Command::UpdateMeta(meta, tx) => {
                let _ = tx.send(self.core.update_meta(now, meta));
            }
            Command::Shutdown => {}
        }
    }

    /// Carries out the core's outputs. Join push/pulls produced by the command
    /// being handled are tagged with `join`.
    async fn flush(&mut self, join: Option<u64>) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Packet { to, bytes } => {
                    // A failed send is a lost datagram, which the protocol
                    // tolerates by design.
                    let _ = self.udp.send_to(&bytes, to).await;
                }
                Output::PushPull {
                    to,
                    bytes,
                    join: is_join,
                } => {
                    let kind = Exchange::PushPull {
                        join: join.filter(|_| is_join),
                    };
                    let deadline = TokioInstant::now() + self.core.config().tcp_timeout;
                    tokio::spawn(exchange(to, bytes, kind, deadline, self.io_tx.clone()));
                }
                Output::StreamPing {
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
                Output::Event(e) => {
                    let _ = self.event_tx.send(e);
                }
                Output::LeaveComplete => {
                    for tx in self.leave_waiters.drain(..) {
                        let _ = tx.send(());
                    }
                }
                // The user layer is not wired to this driver yet.
                Output::UserData { .. }
                | Output::RemoteState { .. }
                | Output::PingComplete { .. } => {}
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
    let work = async {
        let mut stream = TcpStream::connect(to).await?;
        stream.write_all(&bytes).await?;
        let mut reply = Vec::new();
        (&mut stream)
            .take(MAX_STREAM as u64)
            .read_to_end(&mut reply)
            .await?;
        io::Result::Ok(reply)
    };
    let reply = match time::timeout_at(deadline, work).await {
        Ok(Ok(reply)) if !reply.is_empty() => Some(reply),
        _ => None,
    };
    let _ = io_tx.send(Io::Reply {
        to,
        kind,
        bytes: reply,
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
            if bytes.len() > MAX_STREAM + crate::net::STREAM_SLACK {
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

/// Room above the largest frame for its header.
const STREAM_SLACK: usize = 64;
