//! AES-GCM encryption of packets (spec §4.4) and streams (§5.2).
//!
//! A packet is `version ‖ nonce(12) ‖ ciphertext ‖ tag(16)` with no AAD. A stream
//! is framed as `0a ‖ L (u32 BE) ‖ version ‖ nonce ‖ ciphertext ‖ tag`, with the
//! first five bytes as AAD. Version 1 seals the plaintext as it is; version 0
//! (memberlist protocol 1) pads it with PKCS#7 first. Receivers try every key of
//! the keyring in order; senders use the primary (first) key.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};

use super::error::{Result, WireError};
use super::memberlist::ENCRYPT;

/// Length of the GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag.
pub const TAG_LEN: usize = 16;
/// PKCS#7 block size for version 0.
const BLOCK: usize = 16;
/// Largest encrypted stream frame a Go node accepts (and so do we).
pub const MAX_STREAM_FRAME: usize = 20 * 1024 * 1024;
/// Length of the stream frame header, which is also its AAD.
pub const STREAM_HEADER_LEN: usize = 5;

/// The encryption version byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 0: PKCS#7-padded plaintext; emitted by nodes speaking memberlist protocol 1.
    Padded,
    /// 1: no padding; what every Serf node emits.
    V1,
}

impl Version {
    /// The version byte on the wire.
    fn byte(self) -> u8 {
        match self {
            Version::Padded => 0,
            Version::V1 => 1,
        }
    }

    /// Smallest encrypted payload of this version: an empty plaintext for
    /// version 1, one full padding block for version 0.
    fn min_len(self) -> usize {
        match self {
            Version::Padded => 1 + NONCE_LEN + BLOCK + TAG_LEN,
            Version::V1 => 1 + NONCE_LEN + TAG_LEN,
        }
    }

    /// Parses the version byte; Go rejects anything but 0 and 1.
    fn from_byte(byte: u8) -> Result<Self> {
        match byte {
            0 => Ok(Version::Padded),
            1 => Ok(Version::V1),
            version => Err(WireError::EncryptionVersion { version }),
        }
    }
}

/// AES-GCM with the key length chosen by the key.
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<AesGcm<Aes192, U12>>),
    Aes256(Box<Aes256Gcm>),
}

impl Cipher {
    /// The cipher for `key`, the `index`-th of its keyring (for the error message).
    fn new(index: usize, key: &[u8]) -> Result<Self> {
        let bad = || WireError::KeySize {
            index,
            len: key.len(),
        };
        Ok(match key.len() {
            16 => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(key).map_err(|_| bad())?)),
            24 => Cipher::Aes192(Box::new(
                AesGcm::<Aes192, U12>::new_from_slice(key).map_err(|_| bad())?,
            )),
            32 => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(key).map_err(|_| bad())?)),
            _ => return Err(bad()),
        })
    }

    /// Ciphertext followed by the tag.
    fn seal(&self, nonce: &[u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let nonce = Nonce::<U12>::from(*nonce);
        let payload = Payload { msg, aad };
        let sealed = match self {
            Cipher::Aes128(c) => c.encrypt(&nonce, payload),
            Cipher::Aes192(c) => c.encrypt(&nonce, payload),
            Cipher::Aes256(c) => c.encrypt(&nonce, payload),
        };
        // GCM refuses only plaintexts of 64 GiB or more.
        sealed.map_err(|_| WireError::TooLong {
            what: "plaintext to encrypt",
            len: msg.len(),
            max: 1 << 36,
        })
    }

    /// The plaintext, or `None` when this key does not authenticate the message.
    fn open(&self, nonce: &[u8], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).ok()?;
        let nonce = Nonce::<U12>::from(nonce);
        let payload = Payload { msg, aad };
        let opened = match self {
            Cipher::Aes128(c) => c.decrypt(&nonce, payload),
            Cipher::Aes192(c) => c.decrypt(&nonce, payload),
            Cipher::Aes256(c) => c.decrypt(&nonce, payload),
        };
        opened.ok()
    }
}

/// Checks that `key` can be used: 16, 24 or 32 bytes.
pub fn check_key(key: &[u8]) -> Result<()> {
    Cipher::new(0, key).map(drop)
}

/// Length of the sealed form of `plaintext_len` bytes: version, nonce, padded
/// ciphertext and tag.
fn sealed_len(version: Version, plaintext_len: usize) -> usize {
    let body = match version {
        Version::V1 => plaintext_len,
        Version::Padded => (plaintext_len / BLOCK + 1) * BLOCK,
    };
    1 + NONCE_LEN + body + TAG_LEN
}

/// `version ‖ nonce ‖ ciphertext ‖ tag`.
fn seal(
    version: Version,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    let cipher = Cipher::new(0, key)?;
    let sealed = match version {
        Version::V1 => cipher.seal(nonce, plaintext, aad)?,
        Version::Padded => {
            // PKCS#7: always 1–16 bytes, each holding the pad length.
            let pad = BLOCK - plaintext.len() % BLOCK;
            let mut padded = Vec::with_capacity(plaintext.len() + pad);
            padded.extend_from_slice(plaintext);
            padded.resize(plaintext.len() + pad, pad as u8);
            cipher.seal(nonce, &padded, aad)?
        }
    };
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(version.byte());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens `version ‖ nonce ‖ ciphertext ‖ tag` with the first key that works.
fn open<K: AsRef<[u8]>>(keys: &[K], data: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    if keys.is_empty() {
        return Err(WireError::NoKeys);
    }
    let (&version_byte, rest) = data.split_first().ok_or(WireError::Empty {
        what: "encrypted payload",
    })?;
    let version = Version::from_byte(version_byte)?;
    if data.len() < version.min_len() {
        return Err(WireError::EncryptedTooShort {
            version: version_byte,
            len: data.len(),
            min: version.min_len(),
        });
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN.min(rest.len()));
    let ciphers = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Cipher::new(i, key.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let plain = ciphers
        .iter()
        .find_map(|c| c.open(nonce, sealed, aad))
        .ok_or(WireError::DecryptFailed { tried: keys.len() })?;
    match version {
        Version::V1 => Ok(plain),
        Version::Padded => unpad(plain),
    }
}

/// Strips version-0 PKCS#7 padding, refusing pad bytes that no sender writes.
fn unpad(mut plain: Vec<u8>) -> Result<Vec<u8>> {
    let pad = plain.last().copied().unwrap_or(0);
    let n = usize::from(pad);
    if n == 0 || n > BLOCK || n > plain.len() {
        return Err(WireError::BadPadding { pad });
    }
    plain.truncate(plain.len() - n);
    Ok(plain)
}

/// Encrypts a packet with `key` (the keyring's primary) and a random nonce.
pub fn encrypt_packet(version: Version, key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    encrypt_packet_with_nonce(version, key, &rand::random(), plaintext)
}

/// Encrypts a packet with a given nonce. Only tests should choose nonces: reusing
/// one with the same key breaks GCM.
pub fn encrypt_packet_with_nonce(
    version: Version,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    seal(version, key, nonce, plaintext, &[])
}

/// Decrypts a packet, trying each key of the keyring in order.
pub fn decrypt_packet<K: AsRef<[u8]>>(keys: &[K], packet: &[u8]) -> Result<Vec<u8>> {
    open(keys, packet, &[])
}

/// Encrypts a stream payload into a complete frame (`0a ‖ L ‖ …`) with a random
/// nonce.
pub fn encrypt_stream(version: Version, key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    encrypt_stream_with_nonce(version, key, &rand::random(), plaintext)
}

/// Encrypts a stream payload with a given nonce (for tests).
pub fn encrypt_stream_with_nonce(
    version: Version,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let len = sealed_len(version, plaintext.len());
    let wire_len = u32::try_from(len)
        .ok()
        .filter(|&l| l as usize <= MAX_STREAM_FRAME)
        .ok_or(WireError::TooLong {
            what: "encrypted stream frame",
            len,
            max: MAX_STREAM_FRAME,
        })?;
    let mut header = [0u8; STREAM_HEADER_LEN];
    header[0] = ENCRYPT;
    header[1..].copy_from_slice(&wire_len.to_be_bytes());
    let sealed = seal(version, key, nonce, plaintext, &header)?;
    let mut out = Vec::with_capacity(STREAM_HEADER_LEN + sealed.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Reads the frame header at the start of a stream: how many bytes follow the
/// five header bytes. A reader calls this once it has five bytes, then reads that
/// many more. Frames over 20 MiB are refused before anything is read or
/// allocated.
pub fn stream_frame_len(header: &[u8]) -> Result<usize> {
    let Some(&first) = header.first() else {
        return Err(WireError::Truncated {
            what: "stream frame header",
            offset: 0,
            needed: STREAM_HEADER_LEN as u64,
        });
    };
    if first != ENCRYPT {
        return Err(WireError::NotEncryptedFrame { found: first });
    }
    let Some(len) = header.get(1..STREAM_HEADER_LEN) else {
        return Err(WireError::Truncated {
            what: "stream frame header",
            offset: 0,
            needed: (STREAM_HEADER_LEN - header.len()) as u64,
        });
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    match usize::try_from(len) {
        Ok(len) if len <= MAX_STREAM_FRAME => Ok(len),
        _ => Err(WireError::FrameTooLarge {
            len: len.into(),
            limit: MAX_STREAM_FRAME,
        }),
    }
}

/// Decrypts a complete stream frame (`0a ‖ L ‖ …`), trying each key in order.
/// Bytes after the frame are ignored; a frame shorter than `L` is
/// [`WireError::Truncated`].
pub fn decrypt_stream<K: AsRef<[u8]>>(keys: &[K], frame: &[u8]) -> Result<Vec<u8>> {
    let len = stream_frame_len(frame)?;
    let end = STREAM_HEADER_LEN + len;
    let (Some(aad), Some(body)) = (
        frame.get(..STREAM_HEADER_LEN),
        frame.get(STREAM_HEADER_LEN..end),
    ) else {
        return Err(WireError::Truncated {
            what: "encrypted stream frame",
            offset: STREAM_HEADER_LEN,
            needed: (end - frame.len()) as u64,
        });
    };
    open(keys, body, aad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    #[test]
    fn every_key_size_round_trips_and_others_are_refused() {
        for len in [16, 24, 32] {
            let key = vec![7u8; len];
            check_key(&key).unwrap();
            for version in [Version::V1, Version::Padded] {
                for n in [0, 1, 15, 16, 17, 100] {
                    let plain = vec![9u8; n];
                    let packet = encrypt_packet(version, &key, &plain).unwrap();
                    assert_eq!(packet.len(), sealed_len(version, n));
                    assert_eq!(decrypt_packet(&[&key], &packet).unwrap(), plain);
                    let frame = encrypt_stream(version, &key, &plain).unwrap();
                    assert_eq!(stream_frame_len(&frame).unwrap(), frame.len() - 5);
                    assert_eq!(decrypt_stream(&[&key], &frame).unwrap(), plain);
                }
            }
        }
        for len in [0, 15, 17, 31, 33] {
            assert!(matches!(
                check_key(&vec![0; len]),
                Err(WireError::KeySize { .. })
            ));
            assert!(encrypt_packet(Version::V1, &vec![0; len], b"x").is_err());
        }
    }

    #[test]
    fn keyring_is_tried_in_order() {
        let other = [0xee; 32];
        let packet = encrypt_packet(Version::V1, &KEY, b"hello").unwrap();
        assert_eq!(
            decrypt_packet(&[&other[..], &KEY[..]], &packet).unwrap(),
            b"hello"
        );
        assert_eq!(
            decrypt_packet(&[&other[..]], &packet),
            Err(WireError::DecryptFailed { tried: 1 })
        );
        let none: [&[u8]; 0] = [];
        assert_eq!(decrypt_packet(&none, &packet), Err(WireError::NoKeys));
        assert!(matches!(
            decrypt_packet(&[&other[..5]], &packet),
            Err(WireError::KeySize { index: 0, len: 5 })
        ));
    }

    #[test]
    fn malformed_input_is_refused() {
        assert!(matches!(
            decrypt_packet(&[KEY], &[2; 40]),
            Err(WireError::EncryptionVersion { version: 2 })
        ));
        assert!(matches!(
            decrypt_packet(&[KEY], &[1; 28]),
            Err(WireError::EncryptedTooShort { min: 29, .. })
        ));
        assert!(matches!(
            decrypt_packet(&[KEY], &[0; 44]),
            Err(WireError::EncryptedTooShort { min: 45, .. })
        ));
        assert!(decrypt_packet(&[KEY], &[]).is_err());
        // Version 0 whose plaintext ends in a byte that is not valid padding.
        let bad = encrypt_packet_with_nonce(Version::V1, &KEY, &[0; 12], &[0u8; 16]).unwrap();
        let mut bad = bad;
        bad[0] = 0;
        assert_eq!(
            decrypt_packet(&[KEY], &bad),
            Err(WireError::BadPadding { pad: 0 })
        );
        assert_eq!(unpad(vec![17; 32]), Err(WireError::BadPadding { pad: 17 }));
        assert_eq!(unpad(vec![]), Err(WireError::BadPadding { pad: 0 }));
    }

    #[test]
    fn stream_frames_are_bounded() {
        let over = (MAX_STREAM_FRAME as u32 + 1).to_be_bytes();
        let header = [0x0a, over[0], over[1], over[2], over[3]];
        assert_eq!(
            stream_frame_len(&header),
            Err(WireError::FrameTooLarge {
                len: MAX_STREAM_FRAME as u64 + 1,
                limit: MAX_STREAM_FRAME
            })
        );
        assert!(decrypt_stream(&[KEY], &header).is_err());
        let max = (MAX_STREAM_FRAME as u32).to_be_bytes();
        assert_eq!(
            stream_frame_len(&[0x0a, max[0], max[1], max[2], max[3]]),
            Ok(MAX_STREAM_FRAME)
        );
        assert_eq!(
            stream_frame_len(&[0x06, 0, 0]),
            Err(WireError::NotEncryptedFrame { found: 6 })
        );
        assert!(stream_frame_len(&[]).unwrap_err().is_truncated());
        assert!(stream_frame_len(&[0x0a, 0]).unwrap_err().is_truncated());
        let frame = encrypt_stream(Version::V1, &KEY, b"abc").unwrap();
        assert!(decrypt_stream(&[KEY], &frame[..frame.len() - 1])
            .unwrap_err()
            .is_truncated());
        // The length is authenticated: changing it breaks the tag.
        let mut longer = frame.clone();
        longer[4] += 1;
        longer.push(0);
        assert_eq!(
            decrypt_stream(&[KEY], &longer),
            Err(WireError::DecryptFailed { tried: 1 })
        );
        let huge = vec![7u8; MAX_STREAM_FRAME];
        assert!(matches!(
            encrypt_stream_with_nonce(Version::V1, &KEY, &[0; 12], &huge),
            Err(WireError::TooLong { .. })
        ));
    }
}
