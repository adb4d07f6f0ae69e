//! The snapshot file of the native engine, in the format of Go's Serf
//! (`serf/snapshot.go`): one line per change, `alive: NAME ADDR`,
//! `not-alive: NAME`, `clock: N`, `event-clock: N`, `query-clock: N`,
//! `leave`, and `#` comments. A node restarted with it rejoins the members it
//! last saw alive and is not handed again the user events and queries it had
//! already seen. The serf-rs engine writes its own snapshots.
//!
//! The file only grows between compactions: when it outgrows twice 128 bytes
//! per alive member (at least 128 KiB, Go's `snapshotSizeLimit`), it is
//! rewritten with only what a restart needs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use super::FileError;
use crate::config::Engine;

const WHAT: &str = "snapshot";

/// Go's `snapshotBytesPerNode` and `snapshotCompactionThreshold`.
const BYTES_PER_NODE: u64 = 128;
const COMPACTION_THRESHOLD: u64 = 2;
/// Go's `snapshotSizeLimit`, the least size that triggers a compaction.
const MIN_COMPACT_SIZE: u64 = 128 * 1024;

/// Which engine wrote a snapshot, from its first byte; `None` when it is
/// empty. serf-rs's records start with a tag byte from 0 to 7, and every line
/// of Go's format with a letter or `#`, so neither can be taken for the other:
/// a snapshot read in the wrong format would be skipped line by line, and the
/// node would start without the members and clocks it recorded.
fn written_by(bytes: &[u8]) -> Option<Engine> {
    match bytes.first()? {
        0..=7 => Some(Engine::SerfRs),
        _ => Some(Engine::Native),
    }
}

/// Refuses, before serf-rs opens it, a snapshot the native engine wrote.
pub(crate) fn check_serf_rs_can_read(path: &Path) -> Result<(), FileError> {
    let mut first = [0u8; 1];
    let n = match File::open(path).and_then(|mut f| f.read(&mut first)) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(FileError::Read {
                what: WHAT,
                path: path.to_owned(),
                source,
            })
        }
    };
    if written_by(&first[..n]) == Some(Engine::Native) {
        return Err(FileError::Invalid {
            what: WHAT,
            path: path.to_owned(),
            reason: "it was written by the native engine (in Go Serf's format), which the \
                     serf-rs engine cannot read: start this node on the native engine, the \
                     default, or move the file away to start it afresh on serf-rs"
                .into(),
        });
    }
    Ok(())
}

/// What a snapshot recorded before the node stopped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Members last seen alive: name → `ip:port`.
    pub(crate) alive: BTreeMap<String, String>,
    pub(crate) clock: u64,
    pub(crate) event_clock: u64,
    pub(crate) query_clock: u64,
}

impl Recorded {
    /// Reads a snapshot as Go's `replay` does: later lines win, a `leave`
    /// forgets everything before it, lines it does not know are skipped (with
    /// a warning, as Go logs them).
    fn parse(text: &str) -> Recorded {
        let mut r = Recorded::default();
        for line in text.lines() {
            let number = |rest: &str| match rest.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    tracing::warn!(line, "snapshot: bad clock value, line skipped");
                    None
                }
            };
            if let Some(rest) = line.strip_prefix("alive: ") {
                match rest.rsplit_once(' ') {
                    Some((name, addr)) => {
                        r.alive.insert(name.to_owned(), addr.to_owned());
                    }
                    None => tracing::warn!(line, "snapshot: no address, line skipped"),
                }
            } else if let Some(name) = line.strip_prefix("not-alive: ") {
                r.alive.remove(name);
            } else if let Some(rest) = line.strip_prefix("clock: ") {
                r.clock = number(rest).unwrap_or(r.clock);
            } else if let Some(rest) = line.strip_prefix("event-clock: ") {
                r.event_clock = number(rest).unwrap_or(r.event_clock);
            } else if let Some(rest) = line.strip_prefix("query-clock: ") {
                r.query_clock = number(rest).unwrap_or(r.query_clock);
            } else if line == "leave" {
                // A node that left starts afresh, as Go's without
                // `RejoinAfterLeave`.
                r = Recorded::default();
            } else if !(line.starts_with('#') || line.starts_with("coordinate: ")) {
                tracing::warn!(line, "snapshot: unrecognised line skipped");
            }
        }
        r
    }
}

/// Keeps the snapshot file up to date; one per node.
pub(crate) struct Snapshot {
    path: PathBuf,
    file: File,
    size: u64,
    recorded: Recorded,
    /// After a leave nothing more is recorded (as Go).
    leaving: bool,
}

impl Snapshot {
    /// Opens (or creates) the snapshot at `path` and reads what it recorded.
    pub(crate) fn open(path: &Path) -> Result<Snapshot, FileError> {
        let read_err = |source| FileError::Read {
            what: WHAT,
            path: path.to_owned(),
            source,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(read_err(e)),
        };
        if written_by(&bytes) == Some(Engine::SerfRs) {
            return Err(FileError::Invalid {
                what: WHAT,
                path: path.to_owned(),
                reason: "it was written by the serf-rs engine, whose binary format the native \
                         engine cannot read: start this node with `--engine serf-rs` \
                         (`NodeBuilder::engine(Engine::SerfRs)`) as before, or move the file \
                         away to start the node afresh on the native engine"
                    .into(),
            });
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| FileError::Write {
                what: WHAT,
                path: path.to_owned(),
                source,
            })?;
        Ok(Snapshot {
            path: path.to_owned(),
            size: text.len() as u64,
            recorded: Recorded::parse(&text),
            file,
            leaving: false,
        })
    }

    /// What the file recorded when it was opened, and since.
    pub(crate) fn recorded(&self) -> &Recorded {
        &self.recorded
    }

    /// A member joined (`alive`) or failed or left (`not-alive`); updates
    /// change nothing a restart needs.
    pub(crate) fn member(&mut self, name: &str, addr: Option<std::net::SocketAddr>) {
        if self.leaving {
            return;
        }
        match addr {
            Some(addr) => {
                self.recorded
                    .alive
                    .insert(name.to_owned(), addr.to_string());
                self.append(&format!("alive: {name} {addr}\n"));
            }
            None => {
                self.recorded.alive.remove(name);
                self.append(&format!("not-alive: {name}\n"));
            }
        }
    }

    /// The member clock's current time; recorded as the last time seen.
    pub(crate) fn clock(&mut self, now: u64) {
        let seen = now.saturating_sub(1);
        if !self.leaving && seen > self.recorded.clock {
            self.recorded.clock = seen;
            self.append(&format!("clock: {seen}\n"));
        }
    }

    pub(crate) fn user_event(&mut self, ltime: u64) {
        if !self.leaving && ltime > self.recorded.event_clock {
            self.recorded.event_clock = ltime;
            self.append(&format!("event-clock: {ltime}\n"));
        }
    }

    pub(crate) fn query(&mut self, ltime: u64) {
        if !self.leaving && ltime > self.recorded.query_clock {
            self.recorded.query_clock = ltime;
            self.append(&format!("query-clock: {ltime}\n"));
        }
    }

    /// This node leaves: recorded, and nothing after it.
    pub(crate) fn leave(&mut self) {
        if !self.leaving {
            self.recorded = Recorded::default();
            self.append("leave\n");
            self.leaving = true;
        }
    }

    fn append(&mut self, line: &str) {
        if let Err(e) = self.file.write_all(line.as_bytes()) {
            tracing::error!(path = %self.path.display(), error = %e, "could not write the snapshot");
            return;
        }
        self.size += line.len() as u64;
        let limit = (self.recorded.alive.len() as u64 * BYTES_PER_NODE * COMPACTION_THRESHOLD)
            .max(MIN_COMPACT_SIZE);
        if self.size > limit {
            if let Err(e) = self.compact() {
                tracing::error!(path = %self.path.display(), error = %e, "could not compact the snapshot");
            }
        }
    }

    /// Rewrites the file with only the current state, through a temporary
    /// file renamed over it (Go's `.compact`), so a crash leaves one whole file.
    fn compact(&mut self) -> std::io::Result<()> {
        let mut text = String::new();
        for (name, addr) in &self.recorded.alive {
            text.push_str(&format!("alive: {name} {addr}\n"));
        }
        text.push_str(&format!("clock: {}\n", self.recorded.clock));
        text.push_str(&format!("event-clock: {}\n", self.recorded.event_clock));
        text.push_str(&format!("query-clock: {}\n", self.recorded.query_clock));
        let tmp = self.path.with_extension("compact");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        self.size = text.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_go_writes_later_lines_winning() {
        let r = Recorded::parse(
            "alive: a 10.0.0.1:7946\nalive: b c 10.0.0.2:7946\nclock: 4\n\
             event-clock: 9\nnot-alive: a\n# comment\ncoordinate: {}\nquery-clock: 3\n\
             clock: x\nbogus\n",
        );
        assert_eq!(
            r.alive,
            BTreeMap::from([("b c".to_owned(), "10.0.0.2:7946".to_owned())])
        );
        assert_eq!((r.clock, r.event_clock, r.query_clock), (4, 9, 3));
        let r = Recorded::parse("alive: a 10.0.0.1:7946\nevent-clock: 9\nleave\nclock: 2\n");
        assert_eq!(
            r,
            Recorded {
                clock: 2,
                ..Recorded::default()
            }
        );
    }

    #[test]
    fn records_survive_a_reopen_and_a_compaction() {
        let dir = std::env::temp_dir().join(format!("serfer-snapshot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.snap");
        let mut s = Snapshot::open(&path).unwrap();
        s.member("a", Some("127.0.0.1:1".parse().unwrap()));
        s.member("b", Some("127.0.0.1:2".parse().unwrap()));
        s.member("a", None);
        s.user_event(5);
        s.user_event(3);
        s.query(2);
        s.clock(8);
        let want = s.recorded().clone();
        assert_eq!(want.event_clock, 5);
        assert_eq!(want.clock, 7);
        drop(s);
        let mut s = Snapshot::open(&path).unwrap();
        assert_eq!(s.recorded(), &want);
        // Enough clock lines to pass the minimum compaction size.
        for t in 0..20_000 {
            s.clock(10 + t);
        }
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len < MIN_COMPACT_SIZE, "compacted: {len} bytes");
        let after = s.recorded().clone();
        drop(s);
        assert_eq!(Snapshot::open(&path).unwrap().recorded(), &after);
        s = Snapshot::open(&path).unwrap();
        s.leave();
        s.member("c", Some("127.0.0.1:3".parse().unwrap()));
        drop(s);
        assert_eq!(
            Snapshot::open(&path).unwrap().recorded(),
            &Recorded::default()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
