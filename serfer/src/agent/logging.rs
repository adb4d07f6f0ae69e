//! Where a `run!()` node's log goes: stderr as text (coloured only on a
//! terminal, and never with `NO_COLOR` set) or as JSON lines (`--log-json`),
//! plus syslog (`--syslog`), as `serf agent -syslog` does.
//!
//! Syslog lines are RFC 3164, the local form Go's `log/syslog` writes
//! (`<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`), sent as datagrams to the first of
//! `/dev/log`, `/var/run/syslog`, `/var/run/log` that accepts a connection (or to
//! `--syslog-socket`). Levels map as in Go's `syslog.go`: TRACE→debug,
//! DEBUG→info, INFO→notice, WARN→warning, ERROR→err. Timestamps are UTC.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::SettingsError;

/// How a node logs.
#[derive(Debug, Clone)]
pub(crate) struct LogOptions {
    pub(crate) level: Level,
    pub(crate) json: bool,
    pub(crate) syslog: Option<SyslogOptions>,
}

/// `--syslog`: the facility, and the socket when not the usual ones.
#[derive(Debug, Clone)]
pub(crate) struct SyslogOptions {
    pub(crate) facility: Facility,
    pub(crate) socket: Option<PathBuf>,
}

/// A syslog facility, by Go's `go-syslog` names (`LOCAL0` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facility(u8);

const FACILITIES: &[(&str, u8)] = &[
    ("KERN", 0),
    ("USER", 1),
    ("MAIL", 2),
    ("DAEMON", 3),
    ("AUTH", 4),
    ("SYSLOG", 5),
    ("LPR", 6),
    ("NEWS", 7),
    ("UUCP", 8),
    ("CRON", 9),
    ("AUTHPRIV", 10),
    ("FTP", 11),
    ("LOCAL0", 16),
    ("LOCAL1", 17),
    ("LOCAL2", 18),
    ("LOCAL3", 19),
    ("LOCAL4", 20),
    ("LOCAL5", 21),
    ("LOCAL6", 22),
    ("LOCAL7", 23),
];

impl std::str::FromStr for Facility {
    type Err = String;
    fn from_str(s: &str) -> Result<Facility, String> {
        let upper = s.to_ascii_uppercase();
        FACILITIES
            .iter()
            .find(|(n, _)| *n == upper)
            .map(|(_, code)| Facility(*code))
            .ok_or_else(|| {
                let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown syslog facility `{s}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Installs the global subscriber: the filter (the node at `level`, serf-rs at
/// warn or quieter; `RUST_LOG` replaces it), stderr text or JSON, the monitor
/// layer behind `serf monitor`, and syslog if asked.
pub(crate) fn init(opts: &LogOptions) -> Result<(), SettingsError> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = opts.level;
    // Targets match by prefix: `serf` would also silence `serfer`, so name serf-rs's
    // crates exactly (the `serf` crate itself only re-exports and never logs).
    let engine = level.min(Level::WARN);
    let default = format!("{level},serf_core={engine},memberlist={engine}");
    // One filter per output: the node's level for its own logs, while monitors
    // (`serf monitor`) get lines at the level they ask for, as in Go's agent.
    let filter = || match std::env::var("RUST_LOG") {
        Ok(custom) if !custom.trim().is_empty() => tracing_subscriber::EnvFilter::new(custom),
        _ => tracing_subscriber::EnvFilter::new(&default),
    };
    let syslog = opts.syslog.as_ref().map(SyslogLayer::connect).transpose()?;
    let text = (!opts.json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(use_colour())
    });
    let json = opts.json.then_some(JsonLayer);
    // Debug and trace call sites are asked each time (`sometimes`), since a
    // monitor may want them later; the hint keeps the other outputs' (the node's
    // level) from capping what a verbose monitor can get.
    let monitors = crate::logs::layer().with_filter(
        tracing_subscriber::filter::dynamic_filter_fn(|meta, _| crate::logs::wanted(meta))
            .with_callsite_filter(|meta| {
                if *meta.level() <= Level::INFO {
                    tracing::subscriber::Interest::always()
                } else {
                    tracing::subscriber::Interest::sometimes()
                }
            })
            .with_max_level_hint(tracing::level_filters::LevelFilter::TRACE),
    );
    let _ = tracing_subscriber::registry()
        .with(text.with_filter(filter()))
        .with(json.with_filter(filter()))
        .with(syslog.with_filter(filter()))
        .with(monitors)
        .try_init();
    Ok(())
}

/// Colour only for a person: stderr is a terminal and `NO_COLOR` is unset or empty.
fn use_colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// An event's message and fields.
#[derive(Default)]
struct Fields {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), format!("{value:?}").into());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.insert(field.name().to_owned(), value.into());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
}

impl Fields {
    fn of(event: &Event<'_>) -> Fields {
        let mut f = Fields::default();
        event.record(&mut f);
        f
    }

    /// `message k=v k=v`, for syslog.
    fn text(&self) -> String {
        let mut s = self.message.clone();
        for (k, v) in &self.fields {
            match v {
                serde_json::Value::String(v) => {
                    let _ = write!(s, " {k}={v}");
                }
                v => {
                    let _ = write!(s, " {k}={v}");
                }
            }
        }
        s
    }
}

/// `--log-json`: one JSON object per line on stderr:
/// `{"timestamp","level","target","message","fields"}`.
struct JsonLayer;

impl<S: Subscriber> Layer<S> for JsonLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let f = Fields::of(event);
        let line = serde_json::json!({
            "timestamp": rfc3339_now(),
            "level": meta.level().as_str(),
            "target": meta.target(),
            "message": f.message,
            "fields": f.fields,
        });
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}

/// `--syslog`: each event as one datagram.
struct SyslogLayer {
    socket: UnixDatagram,
    facility: Facility,
    tag: String,
}

impl SyslogLayer {
    fn connect(opts: &SyslogOptions) -> Result<SyslogLayer, SettingsError> {
        let candidates: Vec<PathBuf> = match &opts.socket {
            Some(p) => vec![p.clone()],
            None => ["/dev/log", "/var/run/syslog", "/var/run/log"]
                .iter()
                .map(PathBuf::from)
                .collect(),
        };
        let mut tried = Vec::new();
        for path in &candidates {
            let socket =
                UnixDatagram::unbound().map_err(|e| SettingsError::Syslog(e.to_string()))?;
            match socket.connect(path) {
                Ok(()) => {
                    let tag = std::env::args()
                        .next()
                        .and_then(|a| {
                            std::path::Path::new(&a)
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                        })
                        .unwrap_or_else(|| "serfer".to_owned());
                    return Ok(SyslogLayer {
                        socket,
                        facility: opts.facility,
                        tag,
                    });
                }
                Err(e) => tried.push(format!("{}: {e}", path.display())),
            }
        }
        Err(SettingsError::Syslog(format!(
            "no syslog socket accepts datagrams ({}); is a syslog daemon running? \
             --syslog-socket names another socket",
            tried.join("; ")
        )))
    }
}

/// Go's `levelPriority`: the syslog severity of each level.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::TRACE => 7, // debug
        Level::DEBUG => 6, // info
        Level::INFO => 5,  // notice
        Level::WARN => 4,  // warning
        _ => 3,            // err
    }
}

impl<S: Subscriber> Layer<S> for SyslogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let pri = u16::from(self.facility.0) * 8 + u16::from(severity(meta.level()));
        let line = format!(
            "<{pri}>{} {}[{}]: {}: {}\n",
            rfc3164_now(),
            self.tag,
            std::process::id(),
            meta.target(),
            Fields::of(event).text()
        );
        // A syslog daemon that went away loses lines; the node carries on.
        let _ = self.socket.send(line.as_bytes());
    }
}

/// Seconds since the epoch, and the civil date and time of day, in UTC.
fn utc_now() -> (i64, u32, u32, u64, u32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = crate::logs::civil_from_days((secs / 86_400) as i64);
    (y, m, d, secs % 86_400, now.subsec_millis())
}

/// `2026-11-28T03:29:31.123Z`.
fn rfc3339_now() -> String {
    let (y, m, d, t, ms) = utc_now();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// `Nov 28 03:29:31` (Go's `time.Stamp`).
fn rfc3164_now() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d, t, _) = utc_now();
    format!(
        "{} {d:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities_and_dates() {
        assert_eq!("local0".parse::<Facility>(), Ok(Facility(16)));
        assert_eq!("DAEMON".parse::<Facility>(), Ok(Facility(3)));
        assert!("local9".parse::<Facility>().unwrap_err().contains("LOCAL7"));
        assert_eq!(rfc3164_now().len(), "Nov 28 03:29:31".len());
        assert!(rfc3339_now().ends_with('Z'));
    }
}
