//! Event URIs: one string that says what to send and to whom,
//! `serf://[host[,host...]|*]/(event|query)/[pool]/[path]/name?payload=...;tag=value`.
//!
//! No Serf tool has them; the Go Serfer library planned them. A URI parses into a
//! [`Target`]; [`Node::send`](crate::Node::send) and `serfer send URI` send it.
//!
//! * The segments after the kind, joined with `/`, are the event or query name
//!   (`serf://*/event/kubekit/deploy` sends `kubekit/deploy`). Handlers are
//!   addressed by the same path, `#[serfer::user_event("kubekit/deploy")]`, and may
//!   use globs: `*` matches any run of characters, `?` one character. A `*` in
//!   the sent name matches handler names too (`kubekit-*/stats`); in the path a
//!   `?` starts the parameters, so it is a glob only in handler names and hosts.
//! * Hosts are node names, globs allowed (`web-?`); none or `*` is every node.
//! * `payload=` is the payload, as text (percent-encoding decoded); every other
//!   `name=value` pair is a tag filter, the value a glob over the tag's value.
//!
//! A query's hosts and tags become Serf's own node and tag filters (globs are
//! resolved against the members the sender knows). Serf has no filters for user
//! events, so an event's hosts and tags travel in its name, after a `?`
//! (`kubekit/deploy?hosts=web-*;role=worker`), and Serfer receivers apply them;
//! a Go agent sees the whole name.

use std::fmt;
use std::str::FromStr;

/// What a URI sends: a user event or a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A user event (`/event/`).
    Event,
    /// A query (`/query/`).
    Query,
}

/// A parsed event URI: what to send, to whom.
///
/// ```
/// use serfer::{Target, TargetKind};
///
/// let t: Target = "serf://web-1,web-2/query/kubekit-*/stats?role=worker".parse().unwrap();
/// assert_eq!(t.kind, TargetKind::Query);
/// assert_eq!(t.hosts, ["web-1", "web-2"]);
/// assert_eq!(t.name, "kubekit-*/stats");
/// assert_eq!(t.tags, [("role".to_owned(), "worker".to_owned())]);
///
/// let bad = "serf://*/deploy".parse::<Target>().unwrap_err();
/// assert!(bad.to_string().contains("`event` or `query`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Event or query.
    pub kind: TargetKind,
    /// Node-name globs; empty for every node.
    pub hosts: Vec<String>,
    /// The event or query name: the path after the kind.
    pub name: String,
    /// The payload, as given (decoded); `None` when the URI has none.
    pub payload: Option<String>,
    /// Tag filters: tag name and a glob over its value, in URI order.
    pub tags: Vec<(String, String)>,
}

/// Why a string is not an event URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// It does not start with `serf://`.
    #[error("`{0}` is not an event URI: it must start with `serf://`")]
    Scheme(String),
    /// The kind segment is missing or unknown.
    #[error("`{found}` where the URI needs `event` or `query` (serf://HOSTS/event/NAME or serf://HOSTS/query/NAME)")]
    Kind {
        /// What stood there.
        found: String,
    },
    /// No name after the kind.
    #[error("the URI names no event or query after `/{kind}/`")]
    NoName {
        /// `event` or `query`.
        kind: &'static str,
    },
    /// An empty path segment (`a//b`) or host (`h1,,h2`).
    #[error("the URI has an empty {0} (two separators in a row)")]
    Empty(&'static str),
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    #[error("bad percent-encoding in `{0}`")]
    Encoding(String),
    /// A query-string pair without `=`, or with an empty name.
    #[error("`{0}` is not `name=value` (payload=TEXT or TAG=VALUE)")]
    Pair(String),
    /// The same parameter twice.
    #[error("`{0}` is given twice")]
    Repeated(String),
    /// A query's hosts match no member this node knows.
    #[error("no member matches the hosts {0:?}")]
    NoHost(Vec<String>),
}

impl TargetKind {
    fn as_str(self) -> &'static str {
        match self {
            TargetKind::Event => "event",
            TargetKind::Query => "query",
        }
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(uri: &str) -> Result<Self, TargetError> {
        let rest = uri
            .strip_prefix("serf://")
            .ok_or_else(|| TargetError::Scheme(uri.to_owned()))?;
        // The host list ends at the first `/`, so a `?` there is a glob; after
        // it, the first `?` starts the parameters.
        let (hosts_text, after_hosts) = rest.split_once('/').unwrap_or((rest, ""));
        let (path, query) = match after_hosts.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (after_hosts, None),
        };
        let mut segments = path.split('/');
        let hosts = match hosts_text {
            "" | "*" => Vec::new(),
            text => text
                .split(',')
                .map(|h| match decode(h)? {
                    h if h.is_empty() => Err(TargetError::Empty("host")),
                    h => Ok(h),
                })
                .collect::<Result<_, _>>()?,
        };
        let kind = match segments.next() {
            Some("event") => TargetKind::Event,
            Some("query") => TargetKind::Query,
            other => {
                return Err(TargetError::Kind {
                    found: other.unwrap_or_default().to_owned(),
                })
            }
        };
        let parts: Vec<String> = segments.map(decode).collect::<Result<_, _>>()?;
        if parts.is_empty() || parts.iter().all(String::is_empty) {
            return Err(TargetError::NoName {
                kind: kind.as_str(),
            });
        }
        if parts.iter().any(String::is_empty) {
            return Err(TargetError::Empty("path segment"));
        }
        let mut payload = None;
        let mut tags: Vec<(String, String)> = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split([';', '&'])) {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = match pair.split_once('=') {
                Some((k, v)) if !k.is_empty() => (decode(k)?, decode(v)?),
                _ => return Err(TargetError::Pair(pair.to_owned())),
            };
            if key == "payload" {
                if payload.replace(value).is_some() {
                    return Err(TargetError::Repeated(key));
                }
            } else if tags.iter().any(|(k, _)| *k == key) {
                return Err(TargetError::Repeated(key));
            } else {
                tags.push((key, value));
            }
        }
        Ok(Target {
            kind,
            hosts,
            name: parts.join("/"),
            payload,
            tags,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = if self.hosts.is_empty() {
            "*".to_owned()
        } else {
            self.hosts.join(",")
        };
        write!(f, "serf://{hosts}/{}/{}", self.kind.as_str(), self.name)?;
        let mut sep = '?';
        if let Some(p) = &self.payload {
            write!(f, "{sep}payload={}", encode(p))?;
            sep = ';';
        }
        for (k, v) in &self.tags {
            write!(f, "{sep}{}={}", encode(k), encode(v))?;
            sep = ';';
        }
        Ok(())
    }
}

/// A query target's filters in Serf's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFilters {
    /// The members the hosts' globs match; empty for every node.
    pub nodes: Vec<String>,
    /// Tag name and an anchored regular expression for its value.
    pub tags: Vec<(String, String)>,
}

impl Target {
    /// Serf's node and tag filters for this target as a query: host globs
    /// resolved against `members` (the names the sender knows), tag globs as
    /// anchored regular expressions. Fails when hosts are given and none matches.
    pub fn query_filters<S: AsRef<str>>(&self, members: &[S]) -> Result<QueryFilters, TargetError> {
        let nodes: Vec<String> = if self.hosts.is_empty() {
            Vec::new()
        } else {
            let names: Vec<String> = members
                .iter()
                .map(AsRef::as_ref)
                .filter(|n| self.hosts.iter().any(|h| glob_match(h, n)))
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                return Err(TargetError::NoHost(self.hosts.clone()));
            }
            names
        };
        let tags = self
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), glob_to_regex(v)))
            .collect();
        Ok(QueryFilters { nodes, tags })
    }

    /// The name a user event goes out with: the path, then, when the URI has
    /// hosts or tags, `?hosts=…;tag=…` for Serfer receivers to apply.
    pub fn event_name(&self) -> String {
        let mut name = self.name.clone();
        let mut sep = '?';
        if !self.hosts.is_empty() {
            name.push_str(&format!("{sep}hosts={}", self.hosts.join(",")));
            sep = ';';
        }
        for (k, v) in &self.tags {
            name.push_str(&format!("{sep}{k}={v}"));
            sep = ';';
        }
        name
    }
}

/// The filters an event's name carries after `?`, as a receiver applies them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct NameFilter {
    hosts: Vec<String>,
    tags: Vec<(String, String)>,
}

/// Splits a received event name into the path handlers are matched on and the
/// filters that travelled with it (`None` when it has none).
pub(crate) fn split_event_name(name: &str) -> (&str, Option<NameFilter>) {
    let Some((path, query)) = name.split_once('?') else {
        return (name, None);
    };
    let mut filter = NameFilter::default();
    for pair in query.split(';') {
        match pair.split_once('=') {
            Some(("hosts", hosts)) => {
                filter.hosts = hosts.split(',').map(str::to_owned).collect();
            }
            Some((k, v)) => filter.tags.push((k.to_owned(), v.to_owned())),
            None => {}
        }
    }
    (path, Some(filter))
}

impl NameFilter {
    /// Whether a node with this name and these tags is addressed.
    pub(crate) fn accepts(
        &self,
        node: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|h| glob_match(h, node)))
            && self
                .tags
                .iter()
                .all(|(k, v)| tags.get(k).is_some_and(|t| glob_match(v, t)))
    }
}

/// Whether `text` has glob characters.
pub(crate) fn is_glob(text: &str) -> bool {
    text.contains(['*', '?'])
}

/// `*` matches any run of characters (`/` included), `?` exactly one.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point: linear in practice, and no
    // recursion a hostile pattern could blow up.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The anchored regular expression Serf's tag filter needs for a glob.
pub(crate) fn glob_to_regex(glob: &str) -> String {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

fn decode(text: &str) -> Result<String, TargetError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| TargetError::Encoding(text.to_owned()))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| TargetError::Encoding(text.to_owned()))
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'*' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Target {
        uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    #[test]
    fn the_go_serfer_examples_parse() {
        let t = parse("serf://host1/event/kubekit/deploy?payload=wave");
        assert_eq!(
            t,
            Target {
                kind: TargetKind::Event,
                hosts: vec!["host1".into()],
                name: "kubekit/deploy".into(),
                payload: Some("wave".into()),
                tags: vec![],
            }
        );
        // `?` in the host list is a glob; the parameters start after the path.
        let t = parse("serf://host01,host02,host1?/query/kubekit-*/stats?role=worker");
        assert_eq!(t.kind, TargetKind::Query);
        assert_eq!(t.hosts, ["host01", "host02", "host1?"]);
        assert_eq!(t.tags, [("role".to_owned(), "worker".to_owned())]);
        let t = parse("serf://*/query/kubekit-*/stats?role=master");
        assert!(t.hosts.is_empty());
        assert_eq!(t.name, "kubekit-*/stats");
        assert_eq!(t.tags, [("role".to_owned(), "master".to_owned())]);
    }

    #[test]
    fn payloads_are_percent_decoded_and_round_trip() {
        let t = parse("serf://*/event/deploy?payload=v1.2%20now;dc=eu-*");
        assert_eq!(t.payload.as_deref(), Some("v1.2 now"));
        assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
    }

    #[test]
    fn bad_uris_say_what_is_wrong() {
        let cases = [
            ("http://x/event/a", "must start with `serf://`"),
            ("serf://*/deploy", "`event` or `query`"),
            ("serf://*", "`event` or `query`"),
            ("serf://*/event", "names no event"),
            ("serf://*/event/", "names no event"),
            ("serf://*/event/a//b", "empty path segment"),
            ("serf://h1,,h2/event/a", "empty host"),
            ("serf://*/event/a?payload=%zz", "percent-encoding"),
            ("serf://*/event/a?role", "`role` is not `name=value`"),
            (
                "serf://*/event/a?payload=1;payload=2",
                "`payload` is given twice",
            ),
            ("serf://*/event/a?role=x&role=y", "`role` is given twice"),
        ];
        for (uri, says) in cases {
            let err = uri.parse::<Target>().unwrap_err().to_string();
            assert!(err.contains(says), "{uri}: {err}");
        }
    }

    #[test]
    fn globs_match_like_a_shell_with_slashes_included() {
        assert!(glob_match("kubekit-*/stats", "kubekit-prod/stats"));
        assert!(glob_match("web-?", "web-1"));
        assert!(!glob_match("web-?", "web-10"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("kubekit/*", "kubekit/a/b"));
        assert_eq!(glob_to_regex("eu-*.x"), r"^eu\-.*\.x$");
        let re = regex::Regex::new(&glob_to_regex("eu-*")).unwrap();
        assert!(re.is_match("eu-west") && !re.is_match("us-east"));
    }

    #[test]
    fn query_filters_resolve_host_globs_and_turn_tag_globs_into_regexes() {
        let t = parse("serf://web-?,db-1/query/stats?dc=eu-*");
        let f = t
            .query_filters(&["web-1", "web-22", "db-1", "db-2"])
            .unwrap();
        assert_eq!(f.nodes, ["web-1", "db-1"]);
        assert_eq!(f.tags, [("dc".to_owned(), r"^eu\-.*$".to_owned())]);
        let err = parse("serf://cache-*/query/stats")
            .query_filters(&["web-1"])
            .unwrap_err();
        assert_eq!(err, TargetError::NoHost(vec!["cache-*".into()]));
        assert_eq!(
            parse("serf://*/query/stats")
                .query_filters::<&str>(&[])
                .unwrap()
                .nodes
                .len(),
            0
        );
    }

    #[test]
    fn event_filters_travel_in_the_name_and_are_applied_by_receivers() {
        let t = parse("serf://web-*,db-1/event/kubekit/deploy?role=worker");
        let name = t.event_name();
        assert_eq!(name, "kubekit/deploy?hosts=web-*,db-1;role=worker");
        let (path, filter) = split_event_name(&name);
        assert_eq!(path, "kubekit/deploy");
        let filter = filter.unwrap();
        let worker = [("role".to_owned(), "worker".to_owned())].into();
        assert!(filter.accepts("web-3", &worker));
        assert!(filter.accepts("db-1", &worker));
        assert!(!filter.accepts("db-2", &worker));
        assert!(!filter.accepts("web-3", &Default::default()));
        assert_eq!(split_event_name("plain"), ("plain", None));
    }
}
