//! Recent log lines, kept for the RPC `monitor` command (`serf monitor`).
//!
//! [`layer`] is a `tracing` layer that formats each event the way Serf's agent does
//! (`2026/11/28 03:29:31 [INFO] serfer::cli: message`), keeps the last 512 lines and
//! passes new ones to monitors. `serfer::run!()` installs it; a program with its own
//! subscriber adds `serfer::logs::layer()` to it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

const KEEP: usize = 512;

/// A log line and its level.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The line's level.
    pub level: Level,
    /// The formatted line.
    pub text: String,
}

struct Sink {
    recent: Mutex<VecDeque<LogLine>>,
    live: broadcast::Sender<LogLine>,
}

fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| Sink {
        recent: Mutex::new(VecDeque::with_capacity(KEEP)),
        live: broadcast::channel(KEEP).0,
    })
}

/// The layer that records log lines for monitors.
///
/// Like Go's agent, it sees lines whatever level the node logs at itself: give
/// it its own filter, [`wanted`], rather than the node's.
pub fn layer() -> MonitorLayer {
    MonitorLayer
}

/// Monitors asking for debug or trace lines right now.
static VERBOSE_MONITORS: AtomicUsize = AtomicUsize::new(0);

/// The monitor layer's filter: info and above always (so `monitor` starts with
/// the recent ones), debug and trace only while a monitor asks for them, so that
/// nobody pays for formatting them otherwise. Its answer for a call site changes
/// over time: give debug and trace call sites `Interest::sometimes`.
pub fn wanted(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || VERBOSE_MONITORS.load(Ordering::Relaxed) > 0
}

/// Counts a verbose monitor for as long as it is held.
pub(crate) struct VerboseMonitor(());

impl Drop for VerboseMonitor {
    fn drop(&mut self) {
        VERBOSE_MONITORS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// See [`layer`].
pub struct MonitorLayer;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

fn serf_level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        _ => "ERR",
    }
}

impl<S: Subscriber> Layer<S> for MonitorLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let now = time_text();
        let line = LogLine {
            level: *meta.level(),
            text: format!(
                "{now} [{}] {}: {}",
                serf_level(meta.level()),
                meta.target(),
                msg.0.trim_start()
            ),
        };
        let s = sink();
        let mut recent = s.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(line.clone());
        let _ = s.live.send(line);
    }
}

/// `YYYY/MM/DD HH:MM:SS` in UTC.
fn time_text() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// What a monitor gets: the recent lines at its level or more severe, a receiver
/// for new ones, and while it is held, debug and trace lines when it asked for
/// them.
pub(crate) struct Watch {
    pub(crate) recent: Vec<LogLine>,
    pub(crate) rx: broadcast::Receiver<LogLine>,
    _verbose: Option<VerboseMonitor>,
}

/// Starts watching at `level`.
pub(crate) fn watch(level: Level) -> Watch {
    let verbose = (level > Level::INFO).then(|| {
        VERBOSE_MONITORS.fetch_add(1, Ordering::Relaxed);
        VerboseMonitor(())
    });
    let (recent, rx) = recent_and_live(level);
    Watch {
        recent,
        rx,
        _verbose: verbose,
    }
}

fn recent_and_live(level: Level) -> (Vec<LogLine>, broadcast::Receiver<LogLine>) {
    let s = sink();
    let recent = s.recent.lock().unwrap_or_else(|p| p.into_inner());
    let rx = s.live.subscribe();
    let lines = recent
        .iter()
        .filter(|l| l.level <= level)
        .cloned()
        .collect();
    (lines, rx)
}

/// Parses a Serf log level: TRACE, DEBUG, INFO, WARN or ERR (any case).
pub(crate) fn parse_level(text: &str) -> Option<Level> {
    match text.to_ascii_uppercase().as_str() {
        "TRACE" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERR" | "ERROR" => Some(Level::ERROR),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("err"), Some(Level::ERROR));
        assert_eq!(parse_level("bogus"), None);
    }
}
