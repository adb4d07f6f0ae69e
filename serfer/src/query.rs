//! Sending queries and collecting their answers.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::engine::{Answer, Answers};
use crate::payload::{Payload, PayloadError};

/// How a query is sent: which nodes answer, whether they ack, how long to wait.
///
/// ```
/// use std::time::Duration;
/// let opts = serfer::QueryOptions::new()
///     .nodes(["web-1", "web-2"])
///     .tag("dc", "^eu-")
///     .request_ack(true)
///     .timeout(Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub(crate) nodes: Vec<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) request_ack: bool,
    pub(crate) relay_factor: u8,
    pub(crate) timeout: Option<Duration>,
}

impl QueryOptions {
    /// Every node answers; no acks; the node's default timeout.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only these nodes answer.
    pub fn nodes<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.nodes.extend(names.into_iter().map(Into::into));
        self
    }
    /// Only nodes whose tag `name` matches the regular expression `regex` answer.
    /// Several tag filters must all match.
    pub fn tag(mut self, name: impl Into<String>, regex: impl Into<String>) -> Self {
        self.tags.push((name.into(), regex.into()));
        self
    }
    /// Ask every selected node to acknowledge receipt.
    pub fn request_ack(mut self, yes: bool) -> Self {
        self.request_ack = yes;
        self
    }
    /// Each responder also relays its answer through this many other nodes.
    ///
    /// With serf-rs 0.5.2 this adds traffic but no path: it sends the relayed
    /// copies to the responder itself instead of the asker (serf-core
    /// `event.rs:68`). The direct answer is unaffected. Go agents relay correctly.
    pub fn relay_factor(mut self, n: u8) -> Self {
        self.relay_factor = n;
        self
    }
    /// How long the query stays open.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

/// One thing that came back for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryReply {
    /// A node acknowledged receipt.
    Ack(String),
    /// A node answered.
    Response {
        /// The node's name.
        from: String,
        /// The encoded answer.
        payload: Bytes,
    },
}

/// What a query collected by its end: who acknowledged and who answered what
/// (the Go Serfer `GetResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryReport {
    /// Nodes that acknowledged.
    pub acks: BTreeSet<String>,
    /// Answers, by node name.
    pub responses: BTreeMap<String, Bytes>,
}

impl QueryReport {
    /// Decodes every answer as `R`.
    pub fn decode<R: Payload>(&self) -> BTreeMap<String, Result<R, PayloadError>> {
        self.responses
            .iter()
            .map(|(from, bytes)| (from.clone(), R::decode(bytes)))
            .collect()
    }
}

/// The acks and answers of a query, as they arrive.
///
/// Finishes when the query times out, or earlier, as soon as every node it was
/// expected to reach (the alive members that match its filters when it was sent)
/// has answered, and acknowledged if acks were asked for.
pub struct QueryStream {
    answers: Answers,
    expected: HashSet<String>,
    want_acks: bool,
    acks: HashSet<String>,
    responded: HashSet<String>,
    deadline: Instant,
    done: bool,
    finish_early: bool,
}

impl QueryStream {
    pub(crate) fn new(
        answers: Answers,
        expected: Vec<String>,
        request_ack: bool,
        timeout: Duration,
    ) -> Self {
        QueryStream {
            answers,
            expected: expected.into_iter().collect(),
            want_acks: request_ack,
            acks: HashSet::new(),
            responded: HashSet::new(),
            deadline: Instant::now() + timeout,
            done: false,
            finish_early: true,
        }
    }

    /// When the query stops listening at the latest.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Listens until the deadline even when everyone has answered, as Serf's agent does
    /// for RPC clients: HashiCorp's `serf query` stops at the first channel that closes,
    /// so an early `done` record raced with its still-buffered acks and lost some.
    pub(crate) fn until_deadline(mut self) -> Self {
        self.finish_early = false;
        self
    }

    fn everyone_answered(&self) -> bool {
        self.finish_early
            && !self.expected.is_empty()
            && self.expected.iter().all(|n| self.responded.contains(n))
            && (!self.want_acks || self.expected.iter().all(|n| self.acks.contains(n)))
    }

    /// The next ack or answer; `None` once the query is finished.
    pub async fn next(&mut self) -> Option<QueryReply> {
        loop {
            if self.done || self.everyone_answered() {
                self.done = true;
                return None;
            }
            let deadline = tokio::time::Instant::from_std(self.deadline);
            tokio::select! {
                a = self.answers.next() => match a {
                    // A relayed duplicate of an answer already seen is not news.
                    Some(Answer::Response(from, payload)) => {
                        if self.responded.insert(from.clone()) {
                            return Some(QueryReply::Response { from, payload });
                        }
                    }
                    Some(Answer::Ack(from)) => {
                        if self.acks.insert(from.clone()) {
                            return Some(QueryReply::Ack(from));
                        }
                    }
                    // The engine stops listening at the deadline.
                    None => self.done = true,
                },
                _ = tokio::time::sleep_until(deadline) => self.done = true,
            }
        }
    }

    /// Waits until the query finishes and returns everything it collected.
    pub async fn collect(mut self) -> QueryReport {
        let mut result = QueryReport::default();
        while let Some(reply) = self.next().await {
            match reply {
                QueryReply::Ack(from) => {
                    result.acks.insert(from);
                }
                QueryReply::Response { from, payload } => {
                    result.responses.insert(from, payload);
                }
            }
        }
        result
    }
}
