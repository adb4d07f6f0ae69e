//! The keyring file: a JSON list of base64 keys, the primary first — the format
//! of HashiCorp's agent (`-keyring-file`, `serf/serf.go` `writeKeyringFile`).
//!
//! Read here at start, with the rules of Go's `loadKeyringFile`
//! (`cmd/serf/command/agent/agent.go`): the file must exist and hold at least one
//! key, and no `-encrypt` key may be given beside it. Rewritten whenever a key
//! is installed, used or removed on this node, whoever started the operation:
//! by serf-rs (its `keyring_file` option), or by the native engine's arm.

use std::path::Path;

use super::FileError;
use crate::keys::Key;

const WHAT: &str = "keyring";

/// The keys in `path`, the primary first.
pub(crate) fn load(path: &Path) -> Result<Vec<Key>, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        what: WHAT,
        path: path.to_owned(),
        source,
    })?;
    let invalid = |reason: String| FileError::Invalid {
        what: WHAT,
        path: path.to_owned(),
        reason,
    };
    let texts: Vec<String> = serde_json::from_str(&text).map_err(|e| {
        invalid(format!(
            "{e}; it must be a JSON list of base64 keys, the primary first, like [\"{}\"]",
            "QUJDREVGR0hJSktMTU5PUA=="
        ))
    })?;
    if texts.is_empty() {
        return Err(invalid(
            "it contains no keys (Go's agent refuses an empty keyring file too)".into(),
        ));
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Key::parse_at(i, t).map_err(|e| invalid(format!("key #{}: {e}", i + 1))))
        .collect()
}

/// Writes `keys` (the primary first) as Go does: indented JSON, mode 0600.
pub(crate) fn write(path: &Path, keys: &[Key]) -> Result<(), FileError> {
    let texts: Vec<String> = keys.iter().map(Key::to_string).collect();
    let json = serde_json::to_vec_pretty(&texts).expect("strings always encode");
    super::write_private(path, &json).map_err(|source| FileError::Write {
        what: WHAT,
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("serfer-keyring-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trips_in_gos_format() {
        let path = temp("rt");
        let keys = vec![
            Key::generate(),
            Key::parse("QUJDREVGR0hJSktMTU5PUA==").unwrap(),
        ];
        write(&path, &keys).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("[\n  \""), "{text}");
        assert_eq!(load(&path).unwrap(), keys);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn refuses_what_go_refuses() {
        let path = temp("bad");
        for (content, needle) in [
            ("[]", "no keys"),
            ("{\"a\":1}", "JSON list"),
            ("[\"c2hvcnQ=\"]", "key #1"),
        ] {
            std::fs::write(&path, content).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(err.contains(needle), "{content}: {err}");
        }
        let _ = std::fs::remove_file(&path);
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("could not read the keyring file"), "{err}");
    }
}
