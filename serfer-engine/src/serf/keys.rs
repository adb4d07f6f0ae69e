//! Key management over internal queries (Go's `keymanager.go` and the key
//! handlers of `internal_query.go`): `_serf_install-key`, `_serf_use-key`,
//! `_serf_remove-key` and `_serf_list-keys`, answered against memberlist's
//! keyring, and the sending side that tallies every node's answer.

use std::collections::BTreeMap;

use serfer_wire::serf::{KeyRequest, KeyResponse, SerfMessage};

use super::queries::{QueryId, QueryParams};
use super::{Serf, SerfError};
use crate::memberlist::ConfigError;
use crate::Instant;

/// Go's `minEncodedKeyLength`: a base64 16-byte key and its msgpack header,
/// which bounds how many keys a list-keys answer can carry.
const MIN_ENCODED_KEY_LENGTH: usize = 25;

/// A keyring operation to run on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOp {
    /// Add a key (raw bytes, 16, 24 or 32 long).
    Install(Vec<u8>),
    /// Make an installed key the primary.
    Use(Vec<u8>),
    /// Remove a key that is not the primary.
    Remove(Vec<u8>),
    /// Report every node's keys.
    List,
}

impl KeyOp {
    fn query_name(&self) -> &'static str {
        match self {
            KeyOp::Install(_) => "_serf_install-key",
            KeyOp::Use(_) => "_serf_use-key",
            KeyOp::Remove(_) => "_serf_remove-key",
            KeyOp::List => "_serf_list-keys",
        }
    }
}

/// The tally of a key operation (Go's `KeyResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// Error or note per node.
    pub messages: BTreeMap<String, String>,
    /// Members memberlist knew when the query went out.
    pub num_nodes: usize,
    /// Answers received.
    pub num_resp: usize,
    /// Answers that reported failure or could not be decoded.
    pub num_err: usize,
    /// Base64 key → how many nodes hold it (list-keys).
    pub keys: BTreeMap<String, usize>,
    /// Base64 primary key → how many nodes use it (list-keys).
    pub primary_keys: BTreeMap<String, usize>,
}

impl KeyReport {
    /// Go's `streamKeyResp` for one answer.
    pub fn add_response(&mut self, from: &str, payload: &[u8]) {
        self.num_resp += 1;
        let resp = match SerfMessage::decode(payload) {
            Ok(SerfMessage::KeyResponse(r)) => r,
            Ok(_) => {
                self.messages.insert(
                    from.to_owned(),
                    format!("Invalid key query response type: {payload:?}"),
                );
                self.num_err += 1;
                return;
            }
            Err(_) => {
                self.messages.insert(
                    from.to_owned(),
                    format!("Failed to decode key query response: {payload:?}"),
                );
                self.num_err += 1;
                return;
            }
        };
        if !resp.result {
            self.messages.insert(from.to_owned(), resp.message.clone());
            self.num_err += 1;
        } else if !resp.message.is_empty() {
            self.messages.insert(from.to_owned(), resp.message.clone());
        }
        for key in resp.keys.into_iter().flatten() {
            *self.keys.entry(key).or_default() += 1;
        }
        *self.primary_keys.entry(resp.primary_key).or_default() += 1;
    }

    /// Every node answered (Go stops waiting then).
    pub fn complete(&self) -> bool {
        self.num_resp >= self.num_nodes
    }

    /// Go's verdict: `Ok` when every node answered with success.
    pub fn result(&self) -> Result<(), String> {
        if self.num_err != 0 {
            return Err(format!(
                "{}/{} nodes reported failure",
                self.num_err, self.num_nodes
            ));
        }
        if self.num_resp != self.num_nodes {
            return Err(format!(
                "{}/{} nodes reported success",
                self.num_resp, self.num_nodes
            ));
        }
        Ok(())
    }
}

/// Go's memberlist keyring error texts.
fn keyring_error(e: ConfigError) -> String {
    match e {
        ConfigError::KeySize { .. } => "key size must be 16, 24 or 32 bytes".into(),
        ConfigError::UnknownKey => "Requested key is not in the keyring".into(),
        ConfigError::RemovePrimary => "Removing the primary key is not allowed".into(),
        other => other.to_string(),
    }
}

/// Standard base64 (Go's `base64.StdEncoding`).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Serf {
    /// Whether gossip is encrypted (Go's `EncryptionEnabled`).
    pub fn encryption_enabled(&self) -> bool {
        !self.ml.keyring().is_empty()
    }

    /// Makes an installed key this node's primary, on this node only (no
    /// query, no [`super::Event::KeyringChanged`]): for a node trying each of
    /// its keys in turn while it joins, before anyone depends on its choice.
    pub fn use_local_key(&mut self, key: &[u8]) -> Result<(), ConfigError> {
        self.ml.keyring_mut().use_key(key)
    }

    /// Sends a key operation to every node (Go's `KeyManager`), this one
    /// included. The tally arrives as [`super::Event::KeyReport`] once every
    /// member answered or the query's deadline passed.
    pub fn key_query(
        &mut self,
        now: Instant,
        op: KeyOp,
        relay_factor: u8,
    ) -> Result<QueryId, SerfError> {
        let key = match &op {
            KeyOp::Install(k) | KeyOp::Use(k) | KeyOp::Remove(k) => k.clone(),
            KeyOp::List => Vec::new(),
        };
        let payload = SerfMessage::KeyRequest(KeyRequest { key }).encode()?;
        // Go's `NumMembers` counts the nodes not dead or left.
        let report = KeyReport {
            num_nodes: self.ml.num_alive(),
            ..KeyReport::default()
        };
        let params = QueryParams {
            relay_factor,
            ..QueryParams::default()
        };
        self.query_internal(
            now,
            op.query_name(),
            &payload,
            params,
            super::queries::Internal::Key(report),
        )
    }

    /// Answers a key query (Go's `handleInstallKey` and siblings).
    pub(super) fn answer_key_query(&mut self, now: Instant, id: QueryId, op: &str, payload: &[u8]) {
        let mut resp = KeyResponse::default();
        let list = op == "list-keys";
        if list {
            if !self.encryption_enabled() {
                resp.message = "Keyring is empty (encryption not enabled)".into();
            } else {
                let ring = self.ml.keyring();
                resp.keys = Some(ring.keys().iter().map(|k| base64_encode(k)).collect());
                resp.primary_key = ring.primary().map(base64_encode).unwrap_or_default();
                resp.result = true;
            }
        } else {
            match SerfMessage::decode(payload) {
                Ok(SerfMessage::KeyRequest(req)) if self.encryption_enabled() => {
                    let before = self.ml.keyring().clone();
                    let ring = self.ml.keyring_mut();
                    let r = match op {
                        "install-key" => ring.install(req.key),
                        "use-key" => ring.use_key(&req.key),
                        // Go: removing a key that is not installed succeeds.
                        _ => match ring.remove(&req.key) {
                            Err(ConfigError::UnknownKey) => Ok(()),
                            r => r,
                        },
                    };
                    match r {
                        Ok(()) => {
                            resp.result = true;
                            // Go rewrites its keyring file after every
                            // success; reporting only real changes is enough
                            // to keep a file in step.
                            if *self.ml.keyring() != before {
                                let keys = self.ml.keyring().keys().to_vec();
                                self.emit(super::Event::KeyringChanged { keys });
                            }
                        }
                        Err(e) => resp.message = keyring_error(e),
                    }
                }
                Ok(SerfMessage::KeyRequest(_)) => {
                    resp.message = "No keyring to modify (encryption not enabled)".into();
                }
                // Go answers an undecodable request with a bare failure.
                _ => {}
            }
        }
        // Go's keyListResponseWithCorrectSize: drop keys until the answer fits.
        let limit = self.config.query_response_size_limit;
        let actual = resp.keys.as_ref().map_or(0, Vec::len);
        let max_keys = limit / MIN_ENCODED_KEY_LENGTH;
        for i in (0..=max_keys).rev() {
            let Ok(raw) = SerfMessage::KeyResponse(resp.clone()).encode() else {
                return;
            };
            // The wrapping response adds its header; respond() checks it.
            match self.respond(now, id, &raw) {
                Err(SerfError::ResponseTooLarge { .. }) if list => {
                    if let Some(keys) = resp.keys.as_mut() {
                        keys.truncate(i);
                    }
                    resp.message =
                        format!("truncated key list response, showing first {i} of {actual} keys");
                }
                // Sent, or refused for a reason truncation cannot fix.
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_go() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(&[0xff; 16]), "/////////////////////w==");
    }

    #[test]
    fn tally() {
        let mut r = KeyReport {
            num_nodes: 3,
            ..KeyReport::default()
        };
        let ok = SerfMessage::KeyResponse(KeyResponse {
            result: true,
            keys: Some(vec!["a".into(), "b".into()]),
            primary_key: "a".into(),
            ..KeyResponse::default()
        })
        .encode()
        .unwrap();
        let bad = SerfMessage::KeyResponse(KeyResponse {
            message: "nope".into(),
            ..KeyResponse::default()
        })
        .encode()
        .unwrap();
        r.add_response("x", &ok);
        r.add_response("y", &bad);
        assert!(!r.complete());
        r.add_response("z", &[0xff]);
        assert!(r.complete());
        assert_eq!(r.num_err, 2);
        assert_eq!(r.keys.get("a"), Some(&1));
        assert_eq!(r.messages.get("y").map(String::as_str), Some("nope"));
        assert_eq!(r.result(), Err("2/3 nodes reported failure".into()));
    }
}
