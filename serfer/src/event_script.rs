//! Event handler scripts, as HashiCorp's agent runs them (`-event-handler`,
//! `cmd/serf/command/agent/event_handler.go` and `invoke.go`).
//!
//! A handler is `[FILTER=]SCRIPT`. FILTER is a comma-separated list of
//! `member-join`, `member-leave`, `member-failed`, `member-update`,
//! `member-reap`, `user`, `user:NAME`, `query`, `query:NAME` or `*` (the
//! default: every event). For each event, every matching script runs, one at a
//! time and in the order given, as `/bin/sh -c SCRIPT`, with Serf's environment:
//! `SERF_EVENT`, `SERF_SELF_NAME`, `SERF_SELF_ROLE`, `SERF_TAG_<NAME>`, and
//! `SERF_USER_EVENT`/`SERF_USER_LTIME` or `SERF_QUERY_NAME`/`SERF_QUERY_LTIME`.
//! Its stdin is the payload (a newline added when missing) or, for membership
//! events, one `NAME\tADDR\tROLE\tTAGS` line per member. Its stdout and stderr
//! go to one buffer that keeps the last 8 KiB; for a query, a script that exits
//! 0 with output answers the query with it (refused by the engine, with a
//! warning, when over the response size limit, as in Go). A failing script is
//! logged; the node carries on.

use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::event::{Incoming, Tapped};
use crate::member::{Member, MemberEventKind};
use crate::node::Node;

/// How much of a script's output is kept (Go's `maxBufSize`).
const MAX_OUTPUT: usize = 8 * 1024;

/// After this long a running script is reported as slow (Go's `warnSlow`).
const WARN_SLOW: Duration = Duration::from_secs(1);

/// Which events a script runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Any,
    Member(MemberEventKind),
    /// User events, of one name or (`None`) all.
    User(Option<String>),
    /// Queries, of one name or (`None`) all.
    Query(Option<String>),
}

impl Filter {
    fn parse(text: &str) -> Result<Filter, String> {
        let name = |n: &str| (!n.is_empty()).then(|| n.to_owned());
        if let Some(n) = text.strip_prefix("user:") {
            return Ok(Filter::User(name(n)));
        }
        if let Some(n) = text.strip_prefix("query:") {
            return Ok(Filter::Query(name(n)));
        }
        match text {
            "*" => Ok(Filter::Any),
            "user" => Ok(Filter::User(None)),
            "query" => Ok(Filter::Query(None)),
            member if member.starts_with("member-") => member
                .parse::<MemberEventKind>()
                .map(Filter::Member)
                .map_err(|_| unknown(member)),
            other => Err(unknown(other)),
        }
    }

    fn matches(&self, incoming: &Incoming) -> bool {
        match (self, incoming) {
            (Filter::Any, _) => true,
            (Filter::Member(k), Incoming::Member { kind, .. }) => k == kind,
            (Filter::User(n), Incoming::User { name, .. })
            | (Filter::Query(n), Incoming::Query { name, .. }) => {
                n.as_deref().is_none_or(|n| n == &**name)
            }
            _ => false,
        }
    }
}

fn unknown(event: &str) -> String {
    format!(
        "unknown event `{event}`; expected member-join, member-leave, member-failed, \
         member-update, member-reap, user, user:NAME, query, query:NAME or *"
    )
}

/// One script and the events it runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventScript {
    filter: Filter,
    script: String,
}

impl std::fmt::Display for EventScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let filter = match &self.filter {
            Filter::Any => "*".to_owned(),
            Filter::Member(k) => k.serf_name().to_owned(),
            Filter::User(None) => "user".to_owned(),
            Filter::User(Some(n)) => format!("user:{n}"),
            Filter::Query(None) => "query".to_owned(),
            Filter::Query(Some(n)) => format!("query:{n}"),
        };
        write!(f, "{filter} -> {}", self.script)
    }
}

/// Parses `[FILTER[,FILTER…]=]SCRIPT` into one script per filter, as Go's
/// `ParseEventScript` does (split at the first `=`).
pub(crate) fn parse(spec: &str) -> Result<Vec<EventScript>, String> {
    let (filters, script) = match spec.split_once('=') {
        Some((f, s)) => (if f.is_empty() { "*" } else { f }, s),
        None => ("*", spec),
    };
    if script.trim().is_empty() {
        return Err(format!("event handler `{spec}` has no script"));
    }
    filters
        .split(',')
        .map(|f| {
            Ok(EventScript {
                filter: Filter::parse(f).map_err(|e| format!("event handler `{spec}`: {e}"))?,
                script: script.to_owned(),
            })
        })
        .collect()
}

/// Runs `scripts` for every event `node` receives from now on, one at a time, in
/// a task of its own that ends with the node.
pub(crate) fn spawn(node: &Node, scripts: Arc<[EventScript]>) {
    let mut rx = node.subscribe();
    let weak = node.downgrade();
    tokio::spawn(async move {
        loop {
            let tapped = match rx.recv().await {
                Ok(t) => t,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("event handler scripts fell behind: {n} events were skipped");
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            let Some(node) = weak.upgrade() else { break };
            handle(&node, &scripts, tapped).await;
        }
    });
}

async fn handle(node: &Node, scripts: &[EventScript], tapped: Tapped) {
    let incoming = &*tapped.incoming;
    if incoming.name().starts_with("_serf_") {
        return;
    }
    let chosen: Vec<&EventScript> = scripts
        .iter()
        .filter(|s| s.filter.matches(incoming))
        .collect();
    if chosen.is_empty() {
        return;
    }
    let me = node.local_member().await;
    let env = environment(&me, incoming);
    let stdin = stdin_of(incoming);
    for script in chosen {
        match invoke(&script.script, &env, &stdin).await {
            Ok(out) if !out.status.success() => tracing::error!(
                script = %script.script,
                "error invoking script: {} (output: {:?})",
                out.status,
                String::from_utf8_lossy(&out.output)
            ),
            Ok(out) => {
                tracing::debug!(
                    "event '{}' script output: {}",
                    event_type(incoming),
                    String::from_utf8_lossy(&out.output)
                );
                if out.written > MAX_OUTPUT {
                    tracing::warn!(
                        script = %script.script,
                        "script generated {} bytes of output, truncated to {MAX_OUTPUT}",
                        out.written
                    );
                }
                if let (Some(q), true) = (&tapped.query, out.written > 0) {
                    if let Err(e) = q.respond(bytes::Bytes::from(out.output)).await {
                        tracing::warn!(
                            script = %script.script,
                            "failed to respond to query '{}': {e}",
                            incoming.name()
                        );
                    }
                }
            }
            Err(e) => tracing::error!(script = %script.script, "error invoking script: {e}"),
        }
    }
}

/// `SERF_EVENT` as Go spells it.
fn event_type(incoming: &Incoming) -> &'static str {
    match incoming {
        Incoming::User { .. } => "user",
        Incoming::Query { .. } => "query",
        Incoming::Member { kind, .. } => kind.serf_name(),
    }
}

/// Serf's variables for one event, added to the node's own environment.
fn environment(me: &Member, incoming: &Incoming) -> Vec<(String, String)> {
    let mut env = vec![
        ("SERF_EVENT".to_owned(), event_type(incoming).to_owned()),
        ("SERF_SELF_NAME".to_owned(), me.name.clone()),
        (
            "SERF_SELF_ROLE".to_owned(),
            me.tags.get("role").cloned().unwrap_or_default(),
        ),
    ];
    for (name, value) in &me.tags {
        env.push((format!("SERF_TAG_{}", sanitize(name)), value.clone()));
    }
    match incoming {
        Incoming::User { name, ltime, .. } => {
            env.push(("SERF_USER_EVENT".to_owned(), name.to_string()));
            env.push(("SERF_USER_LTIME".to_owned(), ltime.to_string()));
        }
        Incoming::Query { name, ltime, .. } => {
            env.push(("SERF_QUERY_NAME".to_owned(), name.to_string()));
            env.push(("SERF_QUERY_LTIME".to_owned(), ltime.to_string()));
        }
        Incoming::Member { .. } => {}
    }
    env
}

/// A tag name as an environment variable suffix: upper case, anything but
/// `[A-Z0-9_]` turned into `_` (Go's `sanitizeTagRegexp`).
fn sanitize(name: &str) -> String {
    name.to_uppercase()
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Tabs and newlines escaped, so that a member line stays one line of four fields.
fn clean(v: &str) -> String {
    v.replace('\t', "\\t").replace('\n', "\\n")
}

/// What the script reads: the payload with a final newline, or the member lines.
fn stdin_of(incoming: &Incoming) -> Vec<u8> {
    match incoming {
        Incoming::User { payload, .. } | Incoming::Query { payload, .. } => {
            let mut p = payload.to_vec();
            if p.last().is_some_and(|b| *b != b'\n') {
                p.push(b'\n');
            }
            p
        }
        Incoming::Member { members, .. } => members
            .iter()
            .map(|m| {
                let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{}\t{}\t{}\t{}\n",
                    clean(&m.name),
                    m.addr,
                    clean(m.tags.get("role").map_or("", String::as_str)),
                    clean(&tags.join(","))
                )
            })
            .collect::<String>()
            .into_bytes(),
    }
}

/// A finished script.
struct Outcome {
    status: ExitStatus,
    /// The last [`MAX_OUTPUT`] bytes of stdout and stderr together.
    output: Vec<u8>,
    /// How many bytes it wrote in all.
    written: usize,
}

/// Runs `/bin/sh -c script`, warning once it has run longer than [`WARN_SLOW`].
async fn invoke(script: &str, env: &[(String, String)], stdin: &[u8]) -> std::io::Result<Outcome> {
    // One pipe for stdout and stderr, as Go gives both the same writer.
    let (tx, rx) = tokio::net::unix::pipe::pipe()?;
    let (write_end, read_end) = (tx.into_blocking_fd()?, rx.into_blocking_fd()?);
    let (script_owned, env, stdin) = (script.to_owned(), env.to_vec(), stdin.to_vec());
    let mut run = tokio::task::spawn_blocking(move || {
        run_blocking(&script_owned, &env, stdin, write_end, read_end)
    });
    let joined = tokio::select! {
        r = &mut run => r,
        _ = tokio::time::sleep(WARN_SLOW) => {
            tracing::warn!("script '{script}' slow, execution exceeding {WARN_SLOW:?}");
            run.await
        }
    };
    joined.map_err(std::io::Error::other)?
}

fn run_blocking(
    script: &str,
    env: &[(String, String)],
    stdin: Vec<u8>,
    write_end: OwnedFd,
    read_end: OwnedFd,
) -> std::io::Result<Outcome> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::from(write_end.try_clone()?))
        .stderr(Stdio::from(write_end));
    let spawned = cmd.spawn();
    // The command holds this process's copies of the write end: dropped, the
    // read below ends when the script (and whatever it started) closes its own.
    drop(cmd);
    let mut child = spawned?;
    let feeder = child.stdin.take().map(|mut pipe| {
        std::thread::spawn(move || {
            // A script that does not read its stdin closes it: not an error.
            let _ = pipe.write_all(&stdin);
        })
    });
    let mut reader = std::fs::File::from(read_end);
    let mut output = Vec::new();
    let mut written = 0;
    let mut chunk = [0u8; 4096];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        written += n;
        output.extend_from_slice(&chunk[..n]);
        if output.len() > MAX_OUTPUT {
            output.drain(..output.len() - MAX_OUTPUT);
        }
    }
    let status = child.wait()?;
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Ok(Outcome {
        status,
        output,
        written,
    })
}

/// Every script of a node, for its start-up log.
pub(crate) fn describe(scripts: &[EventScript]) -> Vec<String> {
    scripts.iter().map(ToString::to_string).collect()
}

/// For tests: the parsed filters by their display form.
#[cfg(test)]
fn shown(spec: &str) -> Result<Vec<String>, String> {
    parse(spec).map(|s| describe(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn specs_parse_as_gos() {
        assert_eq!(shown("handler.sh").unwrap(), ["* -> handler.sh"]);
        assert_eq!(
            shown("member-join,user:deploy,query:status=run x=1").unwrap(),
            [
                "member-join -> run x=1",
                "user:deploy -> run x=1",
                "query:status -> run x=1"
            ]
        );
        assert_eq!(shown("user:=a").unwrap(), ["user -> a"]);
        let err = shown("member-joined=a").unwrap_err();
        assert!(err.contains("unknown event `member-joined`"), "{err}");
        assert!(
            shown("FOO=bar cmd").is_err(),
            "as in Go, FOO is taken for a filter"
        );
        assert!(shown("user=").is_err());
    }

    #[test]
    fn filters_match_names() {
        let user = Incoming::User {
            name: Arc::from("deploy"),
            ltime: 3,
            coalesce: false,
            payload: bytes::Bytes::from_static(b"v1"),
        };
        let scripts = parse("user:deploy,user:other,query,*=x").unwrap();
        let hits: Vec<bool> = scripts.iter().map(|s| s.filter.matches(&user)).collect();
        assert_eq!(hits, [true, false, false, true]);
        assert_eq!(stdin_of(&user), b"v1\n");
    }

    #[test]
    fn environment_and_member_lines() {
        let me = Member {
            name: "n1".into(),
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 7946,
            tags: BTreeMap::from([
                ("role".to_owned(), "web".to_owned()),
                ("dc-x.y".to_owned(), "eu".to_owned()),
            ]),
            status: crate::MemberStatus::Alive,
            protocol: 5,
        };
        let ev = Incoming::Member {
            kind: MemberEventKind::Join,
            members: Arc::from(vec![me.clone()]),
        };
        let env = environment(&me, &ev);
        for pair in [
            ("SERF_EVENT", "member-join"),
            ("SERF_SELF_ROLE", "web"),
            ("SERF_TAG_DC_X_Y", "eu"),
            ("SERF_TAG_ROLE", "web"),
        ] {
            assert!(
                env.iter().any(|(k, v)| (k.as_str(), v.as_str()) == pair),
                "{pair:?} in {env:?}"
            );
        }
        assert_eq!(
            String::from_utf8(stdin_of(&ev)).unwrap(),
            "n1\t127.0.0.1\tweb\tdc-x.y=eu,role=web\n"
        );
    }

    #[tokio::test]
    async fn output_is_both_streams_and_kept_to_8_kib() {
        let out = invoke("echo out; echo err >&2; cat", &[], b"in\n")
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.output, b"out\nerr\nin\n");
        let out = invoke("head -c 10000 /dev/zero; exit 3", &[], b"")
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!((out.output.len(), out.written), (MAX_OUTPUT, 10_000));
    }
}
