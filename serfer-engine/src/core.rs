//! The Sans-I/O interface both cores offer to whatever runs them: a bare
//! [`Memberlist`], or a [`Serf`] on top of one. The simulator and the tokio
//! driver are written against it once, for either core.

use std::net::SocketAddr;

use crate::memberlist::{Memberlist, NodeEvent, Output, StreamError, StreamOutcome};
use crate::serf::{self, Serf};
use crate::Instant;

/// What a core asks of its runner, or reports, one at a time: the network work
/// both cores share, and their events.
#[derive(Debug)]
pub enum CoreOutput<E> {
    /// Send a datagram.
    Packet {
        /// Destination.
        to: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// Run a push/pull exchange and hand the answer to
    /// [`Core::handle_push_pull_reply`].
    PushPull {
        /// Destination.
        to: SocketAddr,
        /// The request.
        bytes: Vec<u8>,
        /// Part of a join.
        join: bool,
    },
    /// Run the TCP fallback ping and hand the answer to
    /// [`Core::handle_stream_ping_reply`].
    StreamPing {
        /// Destination.
        to: SocketAddr,
        /// The request.
        bytes: Vec<u8>,
        /// When the probe gives up on the answer.
        deadline: Instant,
    },
    /// An event.
    Event(E),
    /// A user message a bare memberlist received and does not handle itself.
    UserData(Vec<u8>),
    /// The leave has been fully gossiped.
    LeaveComplete,
    /// The core stopped itself (a lost name conflict); it ignores all input.
    Shutdown,
    /// Nothing for the runner.
    Ignore,
}

/// A Sans-I/O core: inputs are datagrams, streams and the time; outputs are
/// drained with [`Core::poll_output`].
pub trait Core {
    /// The events it reports.
    type Event: std::fmt::Debug;
    /// A received datagram; one that does not decode is the core's business
    /// (counted in its stats), the runner carries on.
    fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]);
    /// A received stream.
    fn handle_stream(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> StreamOutcome;
    /// The answer to a push/pull this core asked for (`join` as it asked):
    /// `Ok(())` if it completed, else why not, in Go's words.
    fn handle_push_pull_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        join: bool,
    ) -> Result<(), StreamError>;
    /// The answer to a TCP ping this core asked for, as
    /// [`Core::handle_push_pull_reply`].
    fn handle_stream_ping_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), StreamError>;
    /// Timers.
    fn tick(&mut self, now: Instant);
    /// When to tick next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next output.
    fn poll_output(&mut self) -> Option<CoreOutput<Self::Event>>;
}

/// An answer is read whole before the core sees it, so one the core finds
/// unfinished ended early.
fn whole_answer(outcome: Result<StreamOutcome, StreamError>) -> Result<(), StreamError> {
    match outcome? {
        StreamOutcome::Done => Ok(()),
        StreamOutcome::NeedMore => Err(StreamError::Unexpected("the answer ended early")),
        // Answers are never answered.
        StreamOutcome::Reply(_) => Err(StreamError::Unexpected("an answer asking for a reply")),
    }
}

impl Core for Memberlist {
    type Event = NodeEvent;
    fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let _ = Memberlist::handle_packet(self, now, from, bytes);
    }
    fn handle_stream(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> StreamOutcome {
        Memberlist::handle_stream(self, now, from, bytes)
    }
    fn handle_push_pull_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        join: bool,
    ) -> Result<(), StreamError> {
        whole_answer(Memberlist::handle_push_pull_reply(
            self, now, from, bytes, join,
        ))
    }
    fn handle_stream_ping_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), StreamError> {
        whole_answer(Memberlist::handle_stream_ping_reply(self, now, from, bytes))
    }
    fn tick(&mut self, now: Instant) {
        Memberlist::tick(self, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Memberlist::poll_timeout(self)
    }
    fn poll_output(&mut self) -> Option<CoreOutput<NodeEvent>> {
        Memberlist::poll_output(self).map(|o| match o {
            Output::Packet { to, bytes } => CoreOutput::Packet { to, bytes },
            Output::PushPull { to, bytes, join } => CoreOutput::PushPull { to, bytes, join },
            Output::StreamPing {
                to,
                bytes,
                deadline,
            } => CoreOutput::StreamPing {
                to,
                bytes,
                deadline,
            },
            Output::Event(e) => CoreOutput::Event(e),
            Output::UserData { bytes, .. } => CoreOutput::UserData(bytes),
            Output::LeaveComplete => CoreOutput::LeaveComplete,
            Output::RemoteState { .. } | Output::PingComplete { .. } => CoreOutput::Ignore,
        })
    }
}

impl Core for Serf {
    type Event = serf::Event;
    fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let _ = Serf::handle_packet(self, now, from, bytes);
    }
    fn handle_stream(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> StreamOutcome {
        Serf::handle_stream(self, now, from, bytes)
    }
    fn handle_push_pull_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        join: bool,
    ) -> Result<(), StreamError> {
        whole_answer(Serf::handle_push_pull_reply(self, now, from, bytes, join))
    }
    fn handle_stream_ping_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), StreamError> {
        whole_answer(Serf::handle_stream_ping_reply(self, now, from, bytes))
    }
    fn tick(&mut self, now: Instant) {
        Serf::tick(self, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Serf::poll_timeout(self)
    }
    fn poll_output(&mut self) -> Option<CoreOutput<serf::Event>> {
        use crate::serf::Output as S;
        Serf::poll_output(self).map(|o| match o {
            S::Packet { to, bytes } => CoreOutput::Packet { to, bytes },
            S::PushPull { to, bytes, join } => CoreOutput::PushPull { to, bytes, join },
            S::StreamPing {
                to,
                bytes,
                deadline,
            } => CoreOutput::StreamPing {
                to,
                bytes,
                deadline,
            },
            S::Event(e) => CoreOutput::Event(e),
            S::LeaveComplete => CoreOutput::LeaveComplete,
            S::Shutdown => CoreOutput::Shutdown,
        })
    }
}
