//! HashiCorp's agent's operator features for `serfer::run!()`: configuration
//! files merged under the command line, retried joins, event handler scripts
//! wired to the builder, JSON logs and syslog.
//!
//! Only [`crate::cli`] uses this module; it builds on the builder and the node
//! and none of them import it.

pub(crate) mod config_file;
pub(crate) mod duration;
pub(crate) mod logging;
pub(crate) mod retry;
pub(crate) mod settings;

use std::path::PathBuf;

/// Why the settings of a `run!()` node were refused: printed as one line, and the
/// program exits 1 (as `serf agent` does for a bad configuration).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    /// A configuration file or directory could not be read.
    #[error("could not read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is not valid JSON of the expected shape.
    #[error("could not decode configuration file {path}: {reason}")]
    Decode { path: PathBuf, reason: String },
    /// A configuration file has keys `serf agent` does not know (Go refuses them too).
    #[error("configuration file {path} has unknown keys: {keys} (serf agent's keys are snake_case, like `node_name`, `retry_join`; see the README's Settings)")]
    UnknownKeys { path: PathBuf, keys: String },
    /// `--encrypt` and `--keyring-file` given together.
    #[error("an encryption key and a keyring file were both given: use one (the keyring file's first key is the primary), as serf agent requires (\"Encryption key not allowed while using a keyring\")")]
    KeyAndKeyring,
    /// Tags and a tags file given together.
    #[error("tags were given as well as a tags file: drop the --tag flags (and `tags`/`role` in configuration files) and set tags in the file or with `serf tags`, as serf agent requires (\"Tags config not allowed while using tag files\")")]
    TagsAndTagsFile,
    /// A setting's value is not valid.
    #[error("invalid setting `{name}`: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// Logging could not be set up (syslog unreachable).
    #[error("syslog setup failed: {0}")]
    Syslog(String),
}

/// An error on one line: a multi-line message (such as every address a join
/// tried) has its lines joined with "; ".
pub(crate) fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.join("; "))
    }
}
