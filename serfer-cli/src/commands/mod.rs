//! One module per subcommand; each returns `Ok` (exit 0) or a [`Failure`] (exit 1).

mod event;
mod info;
mod join;
mod keygen;
mod keys;
mod leave;
mod members;
mod monitor;
mod query;
mod send;
mod tags;

use serfer_rpc::client::{Client, ClientError};

use crate::cli::{Cli, Command, Rpc};
use crate::output;

/// Why a command exits 1: the text for stderr (possibly several lines, or none).
#[derive(Debug)]
pub struct Failure(pub String);

impl Failure {
    /// A failure that prints `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
    }

    /// A failure that prints nothing more (exit 1 after an interrupt).
    pub fn silent() -> Self {
        Failure(String::new())
    }
}

/// What a command returns.
pub type Outcome = Result<(), Failure>;

/// Runs the parsed command; returns the exit code.
pub async fn run(cli: Cli) -> u8 {
    let rpc = cli.rpc;
    let outcome = match cli.command {
        Command::Members(a) => members::run(&rpc, a).await,
        Command::Event(a) => event::run(&rpc, a).await,
        Command::Query(a) => query::run(&rpc, a).await,
        Command::Tags(a) => tags::run(&rpc, a).await,
        Command::Join(a) => join::run(&rpc, a).await,
        Command::Leave => leave::run(&rpc).await,
        Command::ForceLeave(a) => leave::force(&rpc, a).await,
        Command::Keys(a) => keys::run(&rpc, a).await,
        Command::Keygen => keygen::run(),
        Command::Monitor(a) => monitor::run(&rpc, a).await,
        Command::Info(a) => info::run(&rpc, a).await,
        Command::Send(a) => send::run(&rpc, a).await,
    };
    finish(outcome)
}

/// `keygen`, which needs neither an agent nor a runtime.
pub fn run_keygen() -> u8 {
    finish(keygen::run())
}

/// Prints a failure's message on stderr; the exit code.
fn finish(outcome: Outcome) -> u8 {
    match outcome {
        Ok(()) => 0,
        Err(Failure(message)) => {
            if !message.is_empty() {
                output::err(&message);
            }
            1
        }
    }
}

/// Connects, handshakes and authenticates, or fails with serf's
/// `Error connecting to Serf agent: …`.
pub async fn connect(rpc: &Rpc) -> Result<Client, Failure> {
    let addr = rpc.addr();
    Client::connect(&addr, rpc.auth().as_deref())
        .await
        .map_err(|e| {
            Failure::new(format!(
                "Error connecting to Serf agent: {}",
                connect_error(&addr, &e)
            ))
        })
}

/// Connection errors in the words of Go's dialer (`dial tcp ADDR: connect:
/// connection refused`), which is what serf prints and scripts look for.
fn connect_error(addr: &str, e: &ClientError) -> String {
    use std::io::ErrorKind;
    match e {
        ClientError::Io(io) => {
            let what = match io.kind() {
                ErrorKind::ConnectionRefused => "connect: connection refused".to_owned(),
                ErrorKind::TimedOut => "i/o timeout".to_owned(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
                    return "client closed".to_owned();
                }
                _ => strip_os_error(&io.to_string()),
            };
            format!("dial tcp {addr}: {what}")
        }
        other => other.to_string(),
    }
}

/// `Connection refused (os error 111)` → `Connection refused`.
fn strip_os_error(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text.to_owned(),
    }
}

/// `text` or `json`, or serf's error for anything else.
pub fn json_format(format: &str, error: impl FnOnce(&str) -> String) -> Result<bool, Failure> {
    match format {
        "text" => Ok(false),
        "json" => Ok(true),
        other => Err(Failure::new(error(other))),
    }
}

/// Serf's wording for a bad `--format` in `members` and `info`.
pub fn encoding_error(format: &str) -> String {
    format!("Encoding error: Invalid output format \"{format}\"")
}

/// Ctrl-C or SIGTERM, listened for from the moment it is created.
pub struct Interrupt {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Starts listening (needs the runtime).
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Interrupt {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Interrupt {}
        }
    }

    /// Resolves when a signal arrives.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
                let got = match s {
                    Some(s) => s.recv().await,
                    None => None,
                };
                if got.is_none() {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                _ = one(&mut self.int) => {}
                _ = one(&mut self.term) => {}
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_read_like_go() {
        let refused = ClientError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            connect_error("127.0.0.1:1", &refused),
            "dial tcp 127.0.0.1:1: connect: connection refused"
        );
        assert_eq!(
            connect_error(
                "x",
                &ClientError::Agent("Invalid authentication token".into())
            ),
            "Invalid authentication token"
        );
        assert_eq!(
            strip_os_error("No route to host (os error 113)"),
            "No route to host"
        );
    }
}
