//! Files a node keeps up to date while it runs, as HashiCorp's agent does:
//! the keyring file (`-keyring-file`), the tags file (`-tags-file`) and, on
//! the native engine, the snapshot (`-snapshot`).
//!
//! All are read when the node starts; the keyring file is rewritten whenever a
//! key operation changes this node's keyring (as Go's Serf library does in its
//! internal key queries: serf-rs itself, or the native arm on the engine's
//! report), the tags file by [`Node::set_tags`](crate::Node::set_tags) before
//! the new tags gossip, the snapshot as members, events and clocks change.

pub(crate) mod keyring_file;
pub(crate) mod snapshot;
pub(crate) mod tags_file;

/// What can go wrong reading or writing a keyring or tags file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// The file could not be read.
    #[error("could not read the {what} file {path}: {source}")]
    Read {
        /// "keyring" or "tags".
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not what it should be.
    #[error("the {what} file {path} is invalid: {reason}")]
    Invalid {
        /// "keyring" or "tags".
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, and what it should look like.
        reason: String,
    },
    /// The file could not be written.
    #[error("could not write the {what} file {path}: {source} (is its directory writable?)")]
    Write {
        /// "keyring" or "tags".
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` with mode 0600 (the file may hold secrets), as Go's
/// `ioutil.WriteFile(path, data, 0600)`.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
