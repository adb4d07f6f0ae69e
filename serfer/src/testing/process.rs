//! Child processes for tests and the benchmark: the workspace's examples located (and
//! built when missing), any command started under a guard that kills it by PID when
//! dropped (even when the test panics), its output read line by line with bounded
//! waits, and one-shot commands run to completion within a bound.
//!
//! ```no_run
//! use serfer::testing::bounds;
//! use serfer::testing::process::Proc;
//!
//! let mut node = Proc::example("node", &["--bind", "127.0.0.1:0"], &[]);
//! let addr = node.serfer_addr();
//! node.wait_for("handler: query `status`", bounds::START);
//! assert!(node.terminate().success());
//! # let _ = addr;
//! ```
//!
//! These are test helpers: they panic, with what the process printed, when something
//! does not happen in time.

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::bounds;

/// How often a wait for a process to exit looks (`std` has no timed wait on a child).
const EXIT_POLL: Duration = Duration::from_millis(20);

/// The path of example `name` of the `serfer` crate (e.g. `node`, `serfer-probe`),
/// built first if it is not there.
///
/// Test binaries live in `target/<profile>/deps` (the benchmark in
/// `target/<profile>`), examples in `target/<profile>/examples`. `cargo test` builds
/// the examples only when it builds every target; otherwise this runs
/// `cargo build -p serfer --example NAME` with the same profile and target directory.
///
/// # Panics
/// When the example cannot be built.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the path of this executable");
    let mut dir = exe
        .parent()
        .expect("an executable is in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    if !path.exists() {
        build_example(name, &dir);
        assert!(
            path.exists(),
            "example {name} was built but is not at {}",
            path.display()
        );
    }
    path
}

/// `cargo build -p serfer --example NAME` into the profile directory `profile_dir`
/// (`target/<profile>`).
fn build_example(name: &str, profile_dir: &Path) {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", "serfer", "--example", name])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
    }
    if let Some(target_dir) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target_dir);
    }
    let mut build = Proc::spawn(format!("cargo build --example {name}"), &mut cmd);
    // Compiling is not gossip: no protocol bound applies, only "not forever".
    let status = build.wait_exit(Duration::from_secs(600));
    assert!(status.success(), "building example {name}: {status}");
}

/// Which output stream a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a reader thread hands over.
enum Event {
    Line(Stream, String),
    /// One stream reached its end.
    End,
}

/// A child process, killed by PID (SIGKILL) and reaped when dropped, even when the
/// test panics.
///
/// Whichever of its stdout and stderr were piped when it was started are read line by
/// line on threads of their own (so the child never blocks on a full pipe), and the
/// lines are kept, in arrival order, for [`Proc::seen`] and the waits. Its stdin, when
/// piped, stays open until the guard is dropped.
pub struct Proc {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Event>,
    arrived: Arc<Notify>,
    /// Streams still being read.
    open: usize,
    seen: Vec<String>,
    from: Vec<Stream>,
    /// Lines before this index were already looked at by a `wait_*`.
    cursor: usize,
}

impl Proc {
    /// Starts `cmd` as `name` (used in messages). Set its stdio first: piped stdout or
    /// stderr is captured as lines, piped stdin is kept for [`Proc::stdin`].
    ///
    /// # Panics
    /// When it cannot be started.
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Proc {
        let name = name.into();
        Proc::try_spawn(name.clone(), cmd)
            .unwrap_or_else(|e| panic!("{name} does not start ({cmd:?}): {e}"))
    }

    /// As [`Proc::spawn`], returning the error instead of panicking.
    pub fn try_spawn(name: impl Into<String>, cmd: &mut Command) -> std::io::Result<Proc> {
        Ok(Proc::adopt(name, cmd.spawn()?))
    }

    /// Guards a child started elsewhere, capturing whichever of its stdout and stderr
    /// are still piped (take one out of the `Child` first to read it raw).
    pub fn adopt(name: impl Into<String>, child: Child) -> Proc {
        Proc::adopt_with(name.into(), child, false)
    }

    fn adopt_with(name: String, mut child: Child, strip_ansi: bool) -> Proc {
        let (tx, lines) = mpsc::channel();
        let arrived = Arc::new(Notify::new());
        let mut open = 0;
        if let Some(out) = child.stdout.take() {
            read_lines(out, Stream::Stdout, strip_ansi, tx.clone(), arrived.clone());
            open += 1;
        }
        if let Some(err) = child.stderr.take() {
            read_lines(err, Stream::Stderr, strip_ansi, tx, arrived.clone());
            open += 1;
        }
        Proc {
            name,
            stdin: child.stdin.take(),
            child,
            status: None,
            lines,
            arrived,
            open,
            seen: Vec::new(),
            from: Vec::new(),
            cursor: 0,
        }
    }

    /// Starts example `name` of the `serfer` crate (see [`example`]) with `args` and
    /// extra environment `env`: its log on stderr is captured (colour codes removed),
    /// stdout and stdin are null, `RUST_LOG` is cleared and `NO_COLOR` set.
    pub fn example(name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(example(name));
        cmd.args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("example {name} does not start: {e}"));
        Proc::adopt_with(name.to_owned(), child, true)
    }

    /// The name it was started as.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdin.
    ///
    /// # Panics
    /// When stdin was not piped.
    pub fn stdin(&mut self) -> &mut ChildStdin {
        let name = &self.name;
        self.stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{name} was started without a piped stdin"))
    }

    /// Takes in the lines that have arrived, without waiting.
    pub fn pump(&mut self) {
        while let Ok(event) = self.lines.try_recv() {
            self.take(event);
        }
    }

    fn take(&mut self, event: Event) {
        match event {
            Event::Line(stream, line) => {
                self.seen.push(line);
                self.from.push(stream);
            }
            Event::End => self.open = self.open.saturating_sub(1),
        }
    }

    /// Every line taken in so far, both streams, in arrival order.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The lines taken in so far from one stream.
    pub fn seen_on(&self, stream: Stream) -> impl Iterator<Item = &str> {
        self.seen
            .iter()
            .zip(&self.from)
            .filter(move |(_, s)| **s == stream)
            .map(|(l, _)| l.as_str())
    }

    /// Whether a line taken in so far is exactly `line` (see [`Proc::pump`]).
    pub fn has(&self, line: &str) -> bool {
        self.seen.iter().any(|l| l == line)
    }

    /// How many lines taken in so far are exactly `line`.
    pub fn count(&self, line: &str) -> usize {
        self.seen.iter().filter(|l| *l == line).count()
    }

    /// Whether every captured stream has ended (the process closed them, or exited).
    pub fn output_ended(&self) -> bool {
        self.open == 0
    }

    /// The first line after the last one a wait returned that satisfies `pred`,
    /// waiting for more at most `bound`; `None` at the bound, or when the output ends
    /// without one.
    pub fn wait_line(
        &mut self,
        bound: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(line) = self.scan(&mut pred) {
                return Some(line);
            }
            if self.output_ended() {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(event) => self.take(event),
                Err(_) => return None,
            }
        }
    }

    /// As [`Proc::wait_line`], without blocking the thread (for async tests whose
    /// nodes run on the same runtime).
    pub async fn wait_line_async(
        &mut self,
        bound: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            // A line sent after `pump` leaves a permit in `arrived`: none is missed.
            self.pump();
            if let Some(line) = self.scan(&mut pred) {
                return Some(line);
            }
            if self.output_ended() {
                return None;
            }
            let arrived = self.arrived.clone();
            if tokio::time::timeout_at(deadline, arrived.notified())
                .await
                .is_err()
            {
                self.pump();
                return self.scan(&mut pred);
            }
        }
    }

    /// Looks at the lines after the cursor; moves it past the first match, or to the end.
    fn scan(&mut self, pred: &mut impl FnMut(&str) -> bool) -> Option<String> {
        while self.cursor < self.seen.len() {
            let line = &self.seen[self.cursor];
            self.cursor += 1;
            if pred(line) {
                return Some(line.clone());
            }
        }
        None
    }

    /// Waits (at most `bound`) for the next line containing `needle`; returns it.
    ///
    /// # Panics
    /// When none comes, with everything the process printed.
    pub fn wait_for(&mut self, needle: &str, bound: Duration) -> String {
        match self.wait_line(bound, |l| l.contains(needle)) {
            Some(line) => line,
            None => panic!(
                "{}: no line with {needle:?} within {bound:?}{}; saw:\n{}",
                self.name,
                if self.output_ended() {
                    " (output ended)"
                } else {
                    ""
                },
                self.seen.join("\n")
            ),
        }
    }

    /// The gossip address a Serfer node (`serfer::run!()`) logs it started on: waits
    /// (at most [`bounds::START`]) for its `Starting serfer node on ADDR` line.
    pub fn serfer_addr(&mut self) -> String {
        const STARTING: &str = "Starting serfer node on ";
        let line = self.wait_for(STARTING, bounds::START);
        let rest = &line[line.find(STARTING).expect("matched") + STARTING.len()..];
        rest.split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("{}: no address in {line:?}", self.name))
            .to_owned()
    }

    /// Sends `signal` (as `kill(1)` spells it: `-TERM`, `-INT`, …) by PID, without
    /// waiting. Nothing is sent once the process has been reaped (its PID may be
    /// someone else's by then).
    ///
    /// # Panics
    /// When `kill` fails.
    pub fn send_signal(&mut self, signal: &str) {
        if self.status.is_some() {
            return;
        }
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill(1) runs");
        assert!(
            status.success(),
            "kill {signal} {pid} ({}) failed",
            self.name
        );
    }

    /// Sends `signal` and waits (at most [`bounds::STOP`]) for the process to exit.
    ///
    /// # Panics
    /// When it does not exit.
    pub fn signal(&mut self, signal: &str) -> ExitStatus {
        self.send_signal(signal);
        self.wait_exit(bounds::STOP)
    }

    /// SIGTERM, then waits for the exit as [`Proc::signal`].
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM")
    }

    /// The exit status, if it has exited (reaping it).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("wait on a child");
        }
        self.status
    }

    /// Waits at most `bound` for the process to exit by itself; `None` if it has not.
    /// The lines that arrived meanwhile are taken in.
    pub fn try_wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            self.pump();
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(EXIT_POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// As [`Proc::try_wait_exit`], without blocking the thread.
    pub async fn try_wait_exit_async(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            self.pump();
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    /// Waits at most `bound` for the process to exit by itself.
    ///
    /// # Panics
    /// When it does not, with everything it printed.
    pub fn wait_exit(&mut self, bound: Duration) -> ExitStatus {
        match self.try_wait_exit(bound) {
            Some(status) => status,
            None => panic!(
                "{} did not exit within {bound:?}; saw:\n{}",
                self.name,
                self.seen.join("\n")
            ),
        }
    }

    /// Waits (at most `bound`, without blocking the thread) for the process to exit
    /// and its output to end; what it printed, all of it, each line `\n`-terminated.
    ///
    /// # Panics
    /// When it does not exit, or its output does not end, within `bound`.
    pub async fn finish(mut self, bound: Duration) -> Run {
        let deadline = tokio::time::Instant::now() + bound;
        let Some(status) = self.try_wait_exit_async(bound).await else {
            panic!(
                "{} did not exit within {bound:?}; saw:\n{}",
                self.name,
                self.seen.join("\n")
            );
        };
        while !self.output_ended() {
            self.pump();
            if self.output_ended() {
                break;
            }
            let arrived = self.arrived.clone();
            if tokio::time::timeout_at(deadline, arrived.notified())
                .await
                .is_err()
            {
                panic!(
                    "{} exited but its output did not end within {bound:?}",
                    self.name
                );
            }
        }
        self.run_of(status)
    }

    /// What it printed, all of it, each line `\n`-terminated, with its exit status.
    fn run_of(&self, status: ExitStatus) -> Run {
        let text = |stream| {
            self.seen_on(stream)
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: text(Stream::Stdout),
            stderr: text(Stream::Stderr),
        }
    }

    /// SIGKILL by PID (a crash: no leave) and reap. Does nothing once reaped.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // By PID: only the process this guard started.
        self.kill();
    }
}

/// Waits (at most `bound`) until `done` holds for the output of several processes,
/// taking in their lines as they come; panics naming `what`, with everything each
/// printed, past the bound. For a condition over one process's lines, the `wait_*`
/// methods of [`Proc`] wake on each line instead of looking every 20 ms.
pub fn wait_all(
    procs: &mut [&mut Proc],
    bound: Duration,
    what: &str,
    done: impl Fn(&[&mut Proc]) -> bool,
) {
    let deadline = Instant::now() + bound;
    loop {
        for p in procs.iter_mut() {
            p.pump();
        }
        if done(procs) {
            return;
        }
        if Instant::now() >= deadline {
            let dump: Vec<String> = procs
                .iter()
                .map(|p| format!("--- {}:\n{}", p.name, p.seen.join("\n")))
                .collect();
            panic!("{what}: not done within {bound:?}\n{}", dump.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads `from` line by line on a thread of its own, to its end, handing each line
/// to `tx` (while anyone listens) and waking `arrived`.
fn read_lines(
    from: impl Read + Send + 'static,
    stream: Stream,
    strip: bool,
    tx: mpsc::Sender<Event>,
    arrived: Arc<Notify>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            let text = String::from_utf8_lossy(&buf);
            let line = if strip {
                strip_ansi(&text)
            } else {
                text.into_owned()
            };
            // Nobody listening any more: keep draining, so the child never blocks.
            if tx.send(Event::Line(stream, line)).is_ok() {
                arrived.notify_one();
            }
        }
        let _ = tx.send(Event::End);
        arrived.notify_one();
    });
}

/// `s` without ANSI escape sequences (colour codes).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What a command that ran to completion printed.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0; stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit code 1; stderr.
    pub fn failed(&self) -> &str {
        assert_eq!(self.code, 1, "expected failure: {self:#?}");
        &self.stderr
    }
}

/// Runs `cmd` to completion, waiting at most `bound`; past it the command is killed
/// by PID (`kill_on_drop`) and this panics. Stdin is null unless set.
pub async fn run(mut cmd: tokio::process::Command, bound: Duration) -> Run {
    cmd.kill_on_drop(true);
    let shown = format!("{cmd:?}");
    let out = tokio::time::timeout(bound, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{shown} did not finish within {bound:?}"))
        .unwrap_or_else(|e| panic!("{shown} does not run: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` to completion, waiting at most `bound` (the thread blocks: for tests
/// without a runtime); past it the command is killed by PID and this panics. Stdin
/// is null; stdout and stderr are captured (each line `\n`-terminated).
pub fn run_sync(cmd: &mut Command, bound: Duration) -> Run {
    try_run_sync(cmd, bound).unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"))
}

/// As [`run_sync`], with an `Err` when the command cannot be started (not installed,
/// say) instead of a panic.
pub fn try_run_sync(cmd: &mut Command, bound: Duration) -> std::io::Result<Run> {
    let deadline = Instant::now() + bound;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::try_spawn(format!("{cmd:?}"), cmd)?;
    let status = p.wait_exit(bound);
    // Its output ends when the pipes close, at once unless it left a child behind.
    let _ = p.wait_line(deadline.saturating_duration_since(Instant::now()), |_| {
        false
    });
    assert!(
        p.output_ended(),
        "{} exited but its output did not end within {bound:?}",
        p.name
    );
    Ok(p.run_of(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    #[test]
    fn lines_of_both_streams_are_waited_for_in_turn() {
        let mut p = Proc::spawn("sh", &mut sh("echo one; echo two >&2; echo one; exit 3"));
        assert_eq!(p.wait_for("one", bounds::START), "one");
        assert_eq!(p.wait_for("one", bounds::START), "one");
        assert_eq!(p.wait_exit(bounds::STOP).code(), Some(3));
        assert!(p.wait_line(bounds::START, |l| l == "nothing").is_none());
        assert_eq!(p.seen_on(Stream::Stderr).collect::<Vec<_>>(), ["two"]);
    }

    #[test]
    fn dropping_the_guard_kills_by_pid() {
        let p = Proc::spawn("sleeper", &mut sh("exec sleep 600"));
        let pid = p.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(p);
        // Killed and reaped: the PID is gone.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[tokio::test]
    async fn finish_collects_both_streams() {
        let mut p = Proc::spawn(
            "sh",
            sh("echo out; echo err >&2; read x; echo $x").stdin(Stdio::piped()),
        );
        use std::io::Write as _;
        writeln!(p.stdin(), "back").unwrap();
        assert!(p
            .wait_line_async(bounds::START, |l| l == "back")
            .await
            .is_some());
        let run = p.finish(bounds::STOP).await;
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (0, "out\nback\n", "err\n")
        );
    }

    #[test]
    fn run_sync_collects_and_bounds() {
        let run = run_sync(&mut sh("echo out; echo err >&2; exit 2"), bounds::COMMAND);
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (2, "out\n", "err\n")
        );
    }

    #[test]
    fn ansi_codes_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[2mhi\u{1b}[0m there"), "hi there");
    }
}
