//! Encryption keys: parsing, generating and printing them.

use base64::{engine::general_purpose::STANDARD, Engine as _};

use crate::error::Error;

/// An AES key for the gossip encryption: 16, 24 or 32 bytes, written as base64.
///
/// ```
/// let key = serfer::Key::parse("U3VwZXJTZWN1cmVUb2tlbg==").unwrap(); // "SuperSecureToken"
/// assert_eq!(key.len(), 16);
/// assert_eq!(key.to_string(), "U3VwZXJTZWN1cmVUb2tlbg==");
/// assert!(serfer::Key::parse("c2hvcnQ=").is_err()); // 5 bytes
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Vec<u8>);

impl Key {
    /// Parses a base64 key (standard alphabet, padded, like `serf keygen` prints).
    pub fn parse(text: &str) -> Result<Key, Error> {
        Self::parse_at(0, text)
    }

    pub(crate) fn parse_at(index: usize, text: &str) -> Result<Key, Error> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| Error::InvalidKey {
                index,
                reason: format!("not base64 ({e})"),
            })?;
        Self::from_bytes_at(index, bytes)
    }

    /// Makes a key from raw bytes (16, 24 or 32 of them).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Key, Error> {
        Self::from_bytes_at(0, bytes.into())
    }

    fn from_bytes_at(index: usize, bytes: Vec<u8>) -> Result<Key, Error> {
        match bytes.len() {
            16 | 24 | 32 => Ok(Key(bytes)),
            n => Err(Error::InvalidKey {
                index,
                reason: format!("decodes to {n} bytes, not 16, 24 or 32"),
            }),
        }
    }

    /// A new random 32-byte key.
    pub fn generate() -> Key {
        let mut bytes = vec![0u8; 32];
        rand::Rng::fill(&mut rand::thread_rng(), &mut bytes[..]);
        Key(bytes)
    }

    /// The key's length in bytes.
    #[allow(clippy::len_without_is_empty)] // a key is never empty
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&STANDARD.encode(&self.0))
    }
}

/// Keys are secret: `Debug` shows only the length.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} bytes)", self.0.len())
    }
}

impl std::str::FromStr for Key {
    type Err = Error;
    fn from_str(s: &str) -> Result<Key, Error> {
        Key::parse(s)
    }
}

/// Parses a list of base64 keys; errors name the position of the bad key.
pub(crate) fn parse_all(texts: &[String]) -> Result<Vec<Key>, Error> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Key::parse_at(i, t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        for n in [16, 24, 32] {
            let k = Key::from_bytes(vec![7; n]).unwrap();
            assert_eq!(Key::parse(&k.to_string()).unwrap(), k);
        }
        let err = Key::from_bytes(vec![1; 17]).unwrap_err();
        assert!(err.to_string().contains("17 bytes"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let keys = vec![Key::generate().to_string(), "!!!".to_owned()];
        match parse_all(&keys) {
            Err(Error::InvalidKey { index, reason }) => {
                assert_eq!(index, 1);
                assert!(reason.contains("base64"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let k = Key::generate();
        assert_eq!(format!("{k:?}"), "Key(32 bytes)");
    }
}
