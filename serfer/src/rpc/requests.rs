//! The request dispatcher: one `match` on Serf's command names, each answered
//! the way Go's agent answers it.

use std::time::Instant;

use rmpv::Value;

use super::codec::{map, Fields, FrameReader};
use super::commands::{members_body, MemberFilter};
use super::go_words;
use super::server::{err_text, header, Connection, Next, RequestError};
use super::streams::StreamFilter;
use super::IPC_VERSION;
use crate::member::Member;

impl Connection {
    pub(super) async fn request(
        &mut self,
        request: &Value,
        reader: &mut FrameReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> Result<Next, RequestError> {
        let h = Fields::of(request)?;
        if h.present("Command") {
            self.last_command = h.str("Command")?;
        }
        if h.present("Seq") {
            self.last_seq = h.uint("Seq")?;
        }
        let command = self.last_command.clone();
        let seq = self.last_seq;

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
                let r = self.node.send_any_event(&name, &payload, coalesce).await;
                let err = r.err().map(go_words::event_error).unwrap_or_default();
                self.reply(vec![header(seq, &err)]).await;
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
                let existing = f.str_list("Existing")?;
                let (num, err) = self.join(&existing, f.bool("Replay")?).await;
                self.reply(vec![
                    header(seq, &err),
                    map([("Num", Value::from(num as u64))]),
                ])
                .await;
            }
            "members" => {
                let members = self.node.members().await;
                self.reply(vec![
                    header(seq, ""),
                    members_body(&members, self.node.inner.wire),
                ])
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
                self.reply(vec![
                    header(seq, ""),
                    members_body(&members, self.node.inner.wire),
                ])
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
                // Go's agent answers after leaving and before shutting down; a
                // node that stopped first would close the connection unanswered.
                let r = self.node.depart().await;
                self.reply(vec![header(seq, &err_text(r.err()))]).await;
                self.flushed().await;
                let _ = self.node.shutdown().await;
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
                // As Go's agent, the query stays pending until its deadline: a
                // second answer is refused by the query itself.
                let pending = self.pending.lock().await.get(&id).cloned();
                let err = match pending {
                    Some((q, deadline)) if Instant::now() < deadline => {
                        match q.respond(payload.into()).await {
                            Ok(()) => String::new(),
                            Err(e) => go_words::respond_error(&e),
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
                // Go's cache holds the node's own coordinate too, refreshed
                // with every probe: a lone node answers for itself.
                let c = if name == self.node.name() {
                    self.node.local_coordinate()
                } else {
                    self.node.coordinate(&name)
                };
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
}
