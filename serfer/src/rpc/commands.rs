//! The commands with more to them than a reply: queries (whose acks and answers
//! stream back), key operations, `stats`, and the bodies members and keys are
//! written in.

use std::collections::BTreeMap;
use std::time::Duration;

use rmpv::Value;

use super::codec::{self, map, Fields};
use super::go_words;
use super::server::{header, Connection, Out, RequestError};
use crate::config::Wire;
use crate::member::Member;
use crate::node::KeyOp;
use crate::{Error, Key, KeyReport, QueryOptions, QueryReply};

impl Connection {
    pub(super) async fn query(&self, seq: u64, f: &Fields<'_>) -> Result<(), RequestError> {
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
                self.reply(vec![header(seq, &go_words::query_error(e))])
                    .await;
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

    /// `join`, as Go's agent answers it: every entry is tried, `Num` counts
    /// the addresses that answered, and when none did the error lists each
    /// failure in memberlist's words (go-multierror's format). When any
    /// answered there is no error, as in Go.
    pub(super) async fn join(&self, existing: &[String], replay: bool) -> (usize, String) {
        let port = self.node.addr().port();
        let targets: Vec<Result<String, String>> = existing
            .iter()
            .map(|text| go_words::join_target(text, port))
            .collect();
        let addrs: Vec<String> = targets.iter().filter_map(|t| t.clone().ok()).collect();
        let mut attempts = match addrs.is_empty() {
            true => Vec::new(),
            false => match self.node.join_with_replay(&addrs, replay).await {
                Ok(n) => return (n, String::new()),
                Err(Error::JoinFailed { attempts }) => attempts,
                Err(e) => return (0, e.to_string()),
            },
        }
        .into_iter();
        // Each address tried has its attempt, in order.
        let errors: Vec<String> = existing
            .iter()
            .zip(&targets)
            .map(|(given, target)| match target {
                Err(local) => local.clone(),
                Ok(addr) => match attempts.next() {
                    Some(a) => go_words::join_failure(given, addr, &a.error),
                    None => format!("Failed to join {addr}"),
                },
            })
            .collect();
        (0, go_words::multi_error(&errors))
    }

    /// The key commands, as Go's agent runs them: always asked of the
    /// cluster (a node without a keyring answers so, and the report counts it
    /// as a failure), bad base64 refused with Go's decoder's words.
    pub(super) async fn key_command(&self, command: &str, key: Option<String>) -> (String, Value) {
        let listing = command == "list-keys";
        let op = match command {
            "install-key" => KeyOp::Install,
            "use-key" => KeyOp::Use,
            "remove-key" => KeyOp::Remove,
            _ => KeyOp::List,
        };
        let mut wrong_size = false;
        let result = match op {
            KeyOp::List => self.node.key_op_anyway(KeyOp::List, None).await,
            op => {
                // Go's agent sends an empty `Key` on too: it decodes to no bytes.
                let bytes = match go_words::std_base64(key.as_deref().unwrap_or("")) {
                    Ok(b) => b,
                    Err(e) => return (e, key_body(&KeyReport::default(), listing)),
                };
                match Key::from_bytes(bytes) {
                    Ok(k) => self.node.key_op_anyway(op, Some(&k)).await,
                    Err(_) => {
                        // Go sends a key of the wrong size to every node, and each
                        // answers from its keyring: no keyring, or (memberlist's
                        // keyring) install refused for its size, use refused as
                        // unknown, remove a no-op. serf-rs cannot carry such a
                        // key; a fresh random key, which is in no keyring, gets
                        // the same answer from every node for `use-key` and
                        // `remove-key`, and an `install-key` of the wrong size
                        // is refused wherever `use-key` of an unknown key is.
                        wrong_size = true;
                        let probe = match op {
                            KeyOp::Remove => KeyOp::Remove,
                            _ => KeyOp::Use,
                        };
                        self.node.key_op_anyway(probe, Some(&Key::generate())).await
                    }
                }
            }
        };
        match result {
            Ok(mut r) => {
                for message in r.messages.values_mut() {
                    let go = go_words::key_message(command, message);
                    *message = match command {
                        "install-key"
                            if wrong_size && go == "Requested key is not in the keyring" =>
                        {
                            go_words::KEY_SIZE.to_owned()
                        }
                        _ => go,
                    };
                }
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

    pub(super) async fn stats(&self) -> Value {
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

/// The protocol versions members are reported with, as Go's `Vsn`: memberlist
/// min, max, current, then Serf's. They are what the wire speaks. Go's wire
/// is memberlist protocol 2 (of 1–5) and Serf protocol 5 (of 2–5), which is
/// what a node on it advertises and what Debian's agents send. serf-rs's own
/// wire is version 1 of its memberlist and Serf protocols and understands no
/// other, so each range is that one version.
pub(super) fn versions(wire: Wire) -> [u8; 6] {
    match wire {
        Wire::HashiCorp => crate::engine::serf_rs::translate::peers::DEFAULT_VSN,
        Wire::SerfRs => {
            let memberlist = u8::from(memberlist_proto::ProtocolVersion::default());
            let serf = 1;
            [memberlist, memberlist, memberlist, serf, serf, serf]
        }
    }
}

/// A member as Go's agent writes one, with the versions of [`versions`].
pub(super) fn member_value(m: &Member, vsn: [u8; 6]) -> Value {
    let addr = match m.addr {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    map([
        ("Addr", Value::Binary(addr)),
        ("DelegateCur", Value::from(vsn[5])),
        ("DelegateMax", Value::from(vsn[4])),
        ("DelegateMin", Value::from(vsn[3])),
        ("Name", Value::from(m.name.as_str())),
        ("Port", Value::from(m.port)),
        ("ProtocolCur", Value::from(vsn[2])),
        ("ProtocolMax", Value::from(vsn[1])),
        ("ProtocolMin", Value::from(vsn[0])),
        ("Status", Value::from(m.status.as_str())),
        ("Tags", codec::str_map(&m.tags)),
    ])
}

pub(super) fn members_body(members: &[Member], wire: Wire) -> Value {
    let vsn = versions(wire);
    map([(
        "Members",
        Value::Array(members.iter().map(|m| member_value(m, vsn)).collect()),
    )])
}

pub(super) fn key_body(r: &KeyReport, listing: bool) -> Value {
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
pub(super) struct MemberFilter {
    tags: Vec<(String, regex::Regex)>,
    status: Option<regex::Regex>,
    name: Option<regex::Regex>,
}

impl MemberFilter {
    pub(super) fn new(
        tags: &[(String, String)],
        status: &str,
        name: &str,
    ) -> Result<Self, regex::Error> {
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

    pub(super) fn matches(&self, m: &Member) -> bool {
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
