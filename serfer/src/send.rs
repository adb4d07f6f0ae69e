//! Sending what an event URI says: [`Node::send`].

use std::fmt;

use crate::error::Error;
use crate::node::Node;
use crate::query::{QueryOptions, QueryStream};
use crate::target::{Target, TargetKind};

/// What [`Node::send`] started.
// One `Sent` per send, moved straight into a match: boxing the stream would cost
// an allocation and make it awkward to consume, for no gain.
#[allow(clippy::large_enum_variant)]
pub enum Sent {
    /// The user event is on its way.
    Event,
    /// The query is on its way; its acks and answers arrive here.
    Query(QueryStream),
}

impl fmt::Debug for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sent::Event => "Sent::Event",
            Sent::Query(_) => "Sent::Query(..)",
        })
    }
}

impl Node {
    /// Sends what an event URI says (see [`Target`]): a user event or a query,
    /// with the URI's payload as raw bytes, to the hosts and tags it names.
    ///
    /// ```no_run
    /// # async fn demo(node: serfer::Node) -> Result<(), serfer::Error> {
    /// use serfer::Sent;
    /// node.send("serf://*/event/kubekit/deploy?payload=v1.2").await?;
    /// if let Sent::Query(replies) = node.send("serf://web-*/query/kubekit/stats?role=worker").await? {
    ///     println!("{:?}", replies.collect().await.responses);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, uri: &str) -> Result<Sent, Error> {
        self.send_to(&uri.parse()?).await
    }

    /// Sends a parsed [`Target`]; see [`Node::send`].
    pub async fn send_to(&self, target: &Target) -> Result<Sent, Error> {
        let payload = target.payload.clone().unwrap_or_default().into_bytes();
        match target.kind {
            TargetKind::Event => {
                self.event(&target.event_name(), &payload).await?;
                Ok(Sent::Event)
            }
            TargetKind::Query => {
                let members: Vec<String> =
                    self.members().await.into_iter().map(|m| m.name).collect();
                let filters = target.query_filters(&members)?;
                let mut options = QueryOptions::new();
                if !filters.nodes.is_empty() {
                    options = options.nodes(filters.nodes);
                }
                for (tag, regex) in filters.tags {
                    options = options.tag(tag, regex);
                }
                let replies = self.query(&target.name, &payload, options).await?;
                Ok(Sent::Query(replies))
            }
        }
    }
}
