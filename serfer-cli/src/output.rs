//! How results are printed: serf's column tables, serf's JSON, and Go's `%#v`
//! rendering of stream records (what `serf monitor` shows for events).

use std::fmt::Write as _;
use std::io::Write as _;

use rmpv::Value;
use serde::Serialize;

/// A line on stdout. Write errors (a closed pipe) are ignored, as serf does.
pub fn out(line: &str) {
    out_bytes(line.as_bytes());
}

/// Raw bytes and a newline on stdout (payloads need not be UTF-8).
pub fn out_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.write_all(b"\n");
    let _ = stdout.flush();
}

/// A line on stderr.
pub fn err(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Serf's tables (`columnize.SimpleFormat` as `serf` uses it): cells are trimmed;
/// every cell but the last of its row is left-justified to its column's widest cell
/// (in characters) and followed by two spaces; rows end in `\n`; the whole table is
/// then trimmed. The result has no trailing newline; an empty table is `""`.
pub fn columnize<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let n = cell.as_ref().trim().chars().count();
            if i == widths.len() {
                widths.push(n);
            } else if n > widths[i] {
                widths[i] = n;
            }
        }
    }
    let mut text = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let cell = cell.as_ref().trim();
            if i + 1 == row.len() {
                text.push_str(cell);
                text.push('\n');
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
    }
    text.trim().to_owned()
}

/// JSON as `serf` prints it (Go's `json.MarshalIndent(v, "", "  ")`): two-space
/// indentation, struct fields in declaration order, map keys sorted, and `<`, `>`,
/// `&`, U+2028 and U+2029 escaped as Go escapes them.
pub fn json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string_pretty(value).expect("plain data always serializes");
    go_html_escape(text)
}

/// Go's encoder escapes these inside strings; they never occur outside one in JSON.
fn go_html_escape(text: String) -> String {
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text;
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("\\u003c"),
            '>' => escaped.push_str("\\u003e"),
            '&' => escaped.push_str("\\u0026"),
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A stream record as `serf monitor` prints it: `Event Info:` and one
/// `\tKey: value` line per field, values in Go's `%#v` notation (as Go's msgpack
/// decoder types them), fields sorted by name (serf's order is random).
pub fn event_lines(record: &Value) -> Vec<String> {
    let mut lines = vec!["Event Info:".to_owned()];
    match record {
        Value::Map(fields) => {
            let mut fields: Vec<(String, &Value)> =
                fields.iter().map(|(k, v)| (key_text(k), v)).collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, value) in fields {
                lines.push(format!("\t{key}: {}", go_value(value)));
            }
        }
        other => lines.push(format!("\t{}", go_value(other))),
    }
    lines
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => go_value(other),
    }
}

/// Go's `%#v` of a value as serf's Go client decodes it from msgpack into
/// `interface{}`. Go's decoder gives positive fixints (0–127) as `int64` (printed in
/// decimal) and wider unsigned encodings as `uint64` (printed in hex); encoders use
/// the smallest form, so the value tells which. Negative integers are `int64`.
/// Strings are quoted; binaries are `[]byte{…}` at the top and `[]uint8{…}` inside
/// collections; arrays are `[]interface {}{…}`; maps
/// `map[interface {}]interface {}{…}` with sorted keys; nil is `<nil>` at the top
/// and `interface {}(nil)` inside collections.
pub fn go_value(value: &Value) -> String {
    go_value_at(value, false)
}

fn go_value_at(value: &Value, nested: bool) -> String {
    match value {
        Value::Nil if nested => "interface {}(nil)".to_owned(),
        Value::Nil => "<nil>".to_owned(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) if u > 127 => format!("0x{u:x}"),
            (Some(u), _) => u.to_string(),
            (None, Some(n)) => n.to_string(),
            (None, None) => i.to_string(),
        },
        Value::F32(f) => f.to_string(),
        Value::F64(f) => f.to_string(),
        Value::String(s) => go_quote(&String::from_utf8_lossy(s.as_bytes())),
        Value::Binary(b) | Value::Ext(_, b) => go_bytes(b, if nested { "uint8" } else { "byte" }),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|v| go_value_at(v, true)).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Map(entries) => {
            let mut inner: Vec<(String, String)> = entries
                .iter()
                .map(|(k, v)| (go_value_at(k, true), go_value_at(v, true)))
                .collect();
            inner.sort();
            let inner: Vec<String> = inner.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[interface {{}}]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

fn go_bytes(bytes: &[u8], elem: &str) -> String {
    let inner: Vec<String> = bytes.iter().map(|b| format!("0x{b:x}")).collect();
    format!("[]{elem}{{{}}}", inner.join(", "))
}

/// Go's `strconv.Quote`, for the characters that occur in practice.
fn go_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            '\u{7}' => q.push_str("\\a"),
            '\u{8}' => q.push_str("\\b"),
            '\u{c}' => q.push_str("\\f"),
            '\u{b}' => q.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(q, "\\x{:02x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columnize_pads_all_but_the_last_cell_and_trims() {
        let rows = vec![
            vec!["node-a", "127.0.0.21:7946", "alive", "role=web"],
            vec!["node-bb", "127.0.0.22:7946", "alive", "role=db,dc=east"],
        ];
        assert_eq!(
            columnize(&rows),
            "node-a   127.0.0.21:7946  alive  role=web\nnode-bb  127.0.0.22:7946  alive  role=db,dc=east"
        );
        // An empty last cell leaves the row's padding, except at the very end.
        let rows = vec![vec!["a", "x", ""], vec!["bbb", "y", ""]];
        assert_eq!(columnize(&rows), "a    x  \nbbb  y");
        assert_eq!(columnize::<&str>(&[]), "");
        // Widths count characters, not bytes; cells are trimmed.
        let rows = vec![vec![" é ", "1"], vec!["ab", "2"]];
        assert_eq!(columnize(&rows), "é   1\nab  2");
    }

    #[test]
    fn json_is_indented_and_escaped_like_go() {
        let v = serde_json::json!({"b": "<a&b>", "a": [1, 2], "c": {}});
        assert_eq!(
            json(&v),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"\\u003ca\\u0026b\\u003e\",\n  \"c\": {}\n}"
        );
    }

    #[test]
    fn go_values() {
        // A user event and a member event as HashiCorp's `serf monitor` printed them
        // (fields sorted here; serf's order is random).
        let user = Value::Map(vec![
            (Value::from("Payload"), Value::Binary(b"hello".to_vec())),
            (Value::from("Name"), Value::from("deploy")),
            (Value::from("LTime"), Value::from(2u64)),
            (Value::from("Coalesce"), Value::Boolean(true)),
            (Value::from("Event"), Value::from("user")),
        ]);
        assert_eq!(
            event_lines(&user),
            vec![
                "Event Info:",
                "\tCoalesce: true",
                "\tEvent: \"user\"",
                "\tLTime: 2",
                "\tName: \"deploy\"",
                "\tPayload: []byte{0x68, 0x65, 0x6c, 0x6c, 0x6f}",
            ]
        );
        let member = Value::Map(vec![
            (Value::from("Name"), Value::from("manual-a")),
            (Value::from("Addr"), Value::Binary(vec![127, 0, 0, 1])),
            (Value::from("Port"), Value::from(17946u64)),
            (Value::from("DelegateCur"), Value::from(5u64)),
            (
                Value::from("Tags"),
                Value::Map(vec![
                    (Value::from("role"), Value::from("web")),
                    (Value::from("dc"), Value::from("eu")),
                ]),
            ),
        ]);
        let update = Value::Map(vec![
            (Value::from("Event"), Value::from("member-update")),
            (Value::from("Members"), Value::Array(vec![member])),
        ]);
        assert_eq!(
            event_lines(&update),
            vec![
                "Event Info:",
                "\tEvent: \"member-update\"",
                "\tMembers: []interface {}{map[interface {}]interface {}{\"Addr\":[]uint8{0x7f, 0x0, 0x0, 0x1}, \
                 \"DelegateCur\":5, \"Name\":\"manual-a\", \"Port\":0x461a, \
                 \"Tags\":map[interface {}]interface {}{\"dc\":\"eu\", \"role\":\"web\"}}}",
            ]
        );
        assert_eq!(go_value(&Value::Binary(vec![])), "[]byte{}");
        assert_eq!(go_value(&Value::Nil), "<nil>");
        assert_eq!(
            go_value(&Value::Array(vec![Value::Nil, Value::from(-3i64)])),
            "[]interface {}{interface {}(nil), -3}"
        );
        assert_eq!(go_value(&Value::from("a\"b\n\u{1}")), "\"a\\\"b\\n\\x01\"");
    }
}
