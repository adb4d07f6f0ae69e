//! Serfer's errors in the words of HashiCorp's agent, where the `serf` CLI
//! prints them and scripts read them: the event and query size limits, query
//! responses, joins, key operations and base64 keys. Each text is the Go
//! agent's, from the source named beside it (Debian's serf 0.9.4 and the
//! memberlist it vendors).

use std::net::SocketAddr;

use crate::Error;

/// `Serf.UserEvent` (serf/serf.go): the name plus the payload against the
/// limit, then the encoded message.
pub(super) fn event_error(e: Error) -> String {
    match e {
        Error::PayloadTooLarge {
            what: "user event",
            limit,
            encoded: false,
            ..
        } => format!("user event exceeds configured limit of {limit} bytes before encoding"),
        Error::PayloadTooLarge {
            what: "user event",
            limit,
            encoded: true,
            ..
        } => format!("encoded user event exceeds configured limit of {limit} bytes after encoding"),
        e => e.to_string(),
    }
}

/// `Serf.Query` (serf/serf.go): the encoded query against `QuerySizeLimit`.
pub(super) fn query_error(e: Error) -> String {
    match e {
        Error::PayloadTooLarge {
            what: "query",
            limit,
            ..
        } => format!("query exceeds limit of {limit} bytes"),
        e => e.to_string(),
    }
}

/// `Query.Respond` (serf/event.go) wraps every failure in
/// `failed to respond to key query: …`, whatever the query.
pub(super) fn respond_error(e: &crate::engine::RespondError) -> String {
    // The engine's error texts are Go's.
    format!("failed to respond to key query: {e}")
}

/// One `Existing` entry of a `join`: `host`, `host:port`, `[v6]:port`, each
/// optionally behind `nodename/`, as memberlist's `resolveAddr` reads it. The
/// node name only labels the address (memberlist's TCP transport ignores it);
/// the default port is the node's own, as Go's is its bind port. `Err` is the
/// entry's failure in Go's words (`Failed to resolve /x: empty node name
/// provided`).
pub(super) fn join_target(text: &str, own_port: u16) -> Result<String, String> {
    let host = match text.find('/') {
        Some(0) => {
            return Err(format!(
                "Failed to resolve {text}: empty node name provided"
            ))
        }
        Some(i) => &text[i + 1..],
        None => text,
    };
    Ok(ensure_port(host, own_port))
}

/// memberlist's `ensurePort` (util.go).
fn ensure_port(s: &str, port: u16) -> String {
    let has_port = if s.rfind('[') == Some(0) {
        s.rfind(':') > s.rfind(']')
    } else {
        s.matches(':').count() == 1
    };
    if has_port {
        return s.to_owned();
    }
    let host = s.trim_matches(|c| c == '[' || c == ']');
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One failed join address as memberlist's `Join` words it:
/// `Failed to join 127.0.0.1: dial tcp 127.0.0.1:1: connect: connection refused`.
/// `given` is the entry as the client sent it, `addr` what was joined.
pub(super) fn join_failure(given: &str, addr: &str, error: &Error) -> String {
    if let Error::InvalidAddress { reason, .. } = error {
        return format!("Failed to resolve {given}: {reason}");
    }
    let ip = match addr.parse::<SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => addr
            .rsplit_once(':')
            .map_or(addr, |(h, _)| h)
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned(),
    };
    let why = match dial_failure(error) {
        Some(text) => format!("dial tcp {addr}: {text}"),
        None => engine_text(error),
    };
    format!("Failed to join {ip}: {why}")
}

/// What Go's dialer says for a connection that could not be opened, when
/// that is why the join failed.
fn dial_failure(error: &Error) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                K::ConnectionRefused => Some("connect: connection refused"),
                K::TimedOut => Some("i/o timeout"),
                K::NetworkUnreachable => Some("connect: network is unreachable"),
                K::HostUnreachable => Some("connect: no route to host"),
                _ => None,
            };
        }
        cur = e.source();
    }
    // serf-rs does not always expose the socket error as a source; its text
    // is the operating system's.
    let text = error.to_string();
    if text.contains("Connection refused") {
        Some("connect: connection refused")
    } else if text.contains("timed out") {
        Some("i/o timeout")
    } else {
        None
    }
}

/// The engine's own words, without Serfer's context prefix.
fn engine_text(error: &Error) -> String {
    match error {
        Error::Engine { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

/// go-multierror's `ListFormatFunc`, which memberlist's `Join` errors print
/// with: `1 error occurred:\n\t* …\n\n`.
pub(super) fn multi_error(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => format!("1 error occurred:\n\t* {one}\n\n"),
        many => {
            let points: Vec<String> = many.iter().map(|e| format!("* {e}")).collect();
            format!(
                "{} errors occurred:\n\t{}\n\n",
                many.len(),
                points.join("\n\t")
            )
        }
    }
}

/// A node's answer to a key query in the words of Go's `serfQueries`
/// (serf/internal_query.go) and memberlist's keyring (keyring.go). Serfer
/// nodes answer with serf-rs's words; Go agents' answers pass unchanged.
pub(super) fn key_message(command: &str, message: &str) -> String {
    match message {
        "encryption is not enabled" if command == "list-keys" => {
            "Keyring is empty (encryption not enabled)".to_owned()
        }
        "encryption is not enabled" => "No keyring to modify (encryption not enabled)".to_owned(),
        "secret key is not in the keyring" => "Requested key is not in the keyring".to_owned(),
        "removing the primary key is not allowed" => {
            "Removing the primary key is not allowed".to_owned()
        }
        other => other.to_owned(),
    }
}

/// memberlist's `ValidateKey`, which every keyring-holding node answers an
/// `install-key` of the wrong size with.
pub(super) const KEY_SIZE: &str = "key size must be 16, 24 or 32 bytes";

/// Go's `base64.StdEncoding.DecodeString`: padded standard base64, `\r` and
/// `\n` skipped, nothing else tolerated (no trimming). The error is Go's
/// `CorruptInputError` text, `illegal base64 data at input byte N`, with the
/// offset Go reports.
pub(super) fn std_base64(text: &str) -> Result<Vec<u8>, String> {
    go_base64(text.as_bytes()).map_err(|at| format!("illegal base64 data at input byte {at}"))
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Go's `Encoding.Decode` for `StdEncoding` (encoding/base64), quantum by
/// quantum; the error is the offset of the offending byte.
fn go_base64(src: &[u8]) -> Result<Vec<u8>, usize> {
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut quantum = [0u8; 4];
        let mut len = 4;
        let mut trailing = None;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is required: a short last quantum is corrupt.
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = sextet(c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if newline(c) {
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    // "==" expected; the first is read.
                    while si < src.len() && newline(src[si]) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                trailing = Some(si);
            }
            len = j;
            break;
        }
        let v = u32::from(quantum[0]) << 18
            | u32::from(quantum[1]) << 12
            | u32::from(quantum[2]) << 6
            | u32::from(quantum[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if let Some(at) = trailing {
            return Err(at);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_go_decodes_it() {
        assert_eq!(
            go_base64(b"U3VwZXJTZWN1cmVUb2tlbg==").unwrap(),
            b"SuperSecureToken"
        );
        assert_eq!(go_base64(b"YWI=").unwrap(), b"ab");
        assert_eq!(go_base64(b"YQ==").unwrap(), b"a");
        assert_eq!(go_base64(b"YW\nI=").unwrap(), b"ab");
        assert_eq!(go_base64(b"").unwrap(), b"");
        // Offsets as Go's CorruptInputError gives them.
        assert_eq!(go_base64(b"not-base64!"), Err(3));
        assert_eq!(go_base64(b"abc"), Err(0));
        assert_eq!(go_base64(b"abcde"), Err(4));
        assert_eq!(go_base64(b"YQ="), Err(3));
        assert_eq!(go_base64(b"YQ=x"), Err(2));
        assert_eq!(go_base64(b"Y==="), Err(1));
        assert_eq!(go_base64(b"YWI=YWI="), Err(4));
        assert_eq!(go_base64(b" YWI="), Err(0));
    }

    #[test]
    fn join_entries_as_memberlist_reads_them() {
        assert_eq!(join_target("10.0.0.1", 7000).unwrap(), "10.0.0.1:7000");
        assert_eq!(join_target("n1/10.0.0.1:1", 7000).unwrap(), "10.0.0.1:1");
        assert_eq!(join_target("::1", 7000).unwrap(), "[::1]:7000");
        assert_eq!(join_target("[::1]", 7000).unwrap(), "[::1]:7000");
        assert_eq!(join_target("[::1]:5", 7000).unwrap(), "[::1]:5");
        assert_eq!(
            join_target("/10.0.0.1", 7000).unwrap_err(),
            "Failed to resolve /10.0.0.1: empty node name provided"
        );
        assert_eq!(
            multi_error(&["a".into(), "b".into()]),
            "2 errors occurred:\n\t* a\n\t* b\n\n"
        );
    }
}
