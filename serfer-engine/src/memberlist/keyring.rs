//! The encryption keyring: the primary key encrypts, every key decrypts.

use serfer_wire::crypto;

use super::error::ConfigError;

/// An ordered set of AES keys (16, 24 or 32 bytes), primary first.
///
/// Outgoing packets and streams are sealed with the primary only; incoming ones
/// are tried against every key in order, which is what lets a cluster rotate
/// keys without a flag day (install everywhere, switch primaries, remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<Vec<u8>>,
}

impl Keyring {
    /// A keyring whose primary is `primary`, followed by `others`.
    pub fn new(primary: Vec<u8>, others: Vec<Vec<u8>>) -> Result<Self, ConfigError> {
        let mut ring = Keyring::default();
        ring.install(primary)?;
        for key in others {
            ring.install(key)?;
        }
        Ok(ring)
    }

    /// True when no key is set: traffic is plaintext.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key that encrypts, if any.
    pub fn primary(&self) -> Option<&[u8]> {
        self.keys.first().map(Vec::as_slice)
    }

    /// Every key, primary first.
    pub fn keys(&self) -> &[Vec<u8>] {
        &self.keys
    }

    /// Adds a key (after the others; the first key installed becomes primary).
    /// Installing a key twice is a no-op.
    pub fn install(&mut self, key: Vec<u8>) -> Result<(), ConfigError> {
        crypto::check_key(&key).map_err(|_| ConfigError::KeySize {
            index: self.keys.len(),
            len: key.len(),
        })?;
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
        Ok(())
    }

    /// Makes an installed key the primary.
    pub fn use_key(&mut self, key: &[u8]) -> Result<(), ConfigError> {
        let pos = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(ConfigError::UnknownKey)?;
        let key = self.keys.remove(pos);
        self.keys.insert(0, key);
        Ok(())
    }

    /// Removes a key that is not the primary.
    pub fn remove(&mut self, key: &[u8]) -> Result<(), ConfigError> {
        match self.keys.iter().position(|k| k == key) {
            Some(0) => Err(ConfigError::RemovePrimary),
            Some(pos) => {
                self.keys.remove(pos);
                Ok(())
            }
            None => Err(ConfigError::UnknownKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation() {
        let a = vec![1u8; 16];
        let b = vec![2u8; 32];
        let mut ring = Keyring::new(a.clone(), vec![b.clone()]).unwrap();
        assert_eq!(ring.primary(), Some(&a[..]));
        assert_eq!(ring.remove(&a), Err(ConfigError::RemovePrimary));
        ring.use_key(&b).unwrap();
        assert_eq!(ring.primary(), Some(&b[..]));
        ring.remove(&a).unwrap();
        assert_eq!(ring.keys().len(), 1);
        assert!(matches!(
            ring.install(vec![0; 7]),
            Err(ConfigError::KeySize { len: 7, .. })
        ));
    }
}
