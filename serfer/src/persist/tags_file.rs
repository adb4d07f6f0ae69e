//! The tags file: the node's tags as a JSON object, as HashiCorp's agent keeps
//! them (`-tags-file`, `cmd/serf/command/agent/agent.go` `loadTagsFile` and
//! `writeTagsFile`).
//!
//! Read at start when it exists (a missing file means no tags yet; it is created
//! at the first change), refused beside tags given any other way (Go: "Tags
//! config not allowed while using tag files"), and rewritten, indented, mode
//! 0600, before every tag change gossips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::FileError;
use crate::state::StateMap;

const WHAT: &str = "tags";

/// The tags file a node writes, kept in the node's state map (a private type:
/// no handler can ask for it).
#[derive(Clone)]
pub(crate) struct TagsFile(pub(crate) Arc<PathBuf>);

/// The tags in `path`; `None` when there is no such file yet.
pub(crate) fn load(path: &Path) -> Result<Option<BTreeMap<String, String>>, FileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError::Read {
                what: WHAT,
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| FileError::Invalid {
            what: WHAT,
            path: path.to_owned(),
            reason: format!(
                "{e}; it must be a JSON object of string tags, like {{\"role\": \"web\"}}"
            ),
        })
}

/// Writes `tags` to `path` as Go does (indented JSON, keys sorted, mode 0600).
pub(crate) fn write(path: &Path, tags: &BTreeMap<String, String>) -> Result<(), FileError> {
    let json = serde_json::to_vec_pretty(tags).expect("string maps always encode");
    super::write_private(path, &json).map_err(|source| FileError::Write {
        what: WHAT,
        path: path.to_owned(),
        source,
    })
}

/// The hook [`Node::set_tags`](crate::Node::set_tags) calls before the new tags
/// gossip: writes them to the node's tags file, if it has one. A failed write
/// fails the change, as in Go's `Agent.SetTags`.
pub(crate) fn persist(
    states: &StateMap,
    tags: &BTreeMap<String, String>,
) -> Result<(), crate::Error> {
    match states.get::<TagsFile>() {
        Some(TagsFile(path)) => write(&path, tags).map_err(|e| crate::Error::Config(e.to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_missing_file_is_no_tags() {
        let path = std::env::temp_dir().join(format!("serfer-tags-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        assert_eq!(load(&path).unwrap(), None);
        let tags = BTreeMap::from([("role".to_owned(), "web".to_owned())]);
        write(&path, &tags).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"role\": \"web\"\n}"
        );
        assert_eq!(load(&path).unwrap(), Some(tags));
        std::fs::write(&path, "[1]").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("JSON object"));
        let _ = std::fs::remove_file(&path);
    }
}
