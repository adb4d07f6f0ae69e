//! §12.3: packet and stream encryption, with the nonces the vectors were
//! sealed with.

use super::*;
use crate::crypto::{self, Version};

/// The nonce of an encrypted packet: the 12 bytes after the version byte.
fn nonce_at(bytes: &[u8], at: usize) -> [u8; 12] {
    bytes[at..at + 12].try_into().unwrap()
}

#[test]
fn v_encrypted_packet_v1_ping_key000102_0f() {
    let bytes = hex(V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F);
    assert_eq!(bytes.len(), 98);
    assert_eq!(
        to_hex(&crypto::decrypt_packet(&[KEY], &bytes).unwrap()),
        V_PING
    );
    let sealed =
        crypto::encrypt_packet_with_nonce(Version::V1, &KEY, &nonce_at(&bytes, 1), &hex(V_PING))
            .unwrap();
    assert_eq!(to_hex(&sealed), V_ENCRYPTED_PACKET_V1_PING_KEY000102_0F);
}

#[test]
fn v_encrypted_packet_v0_ping_key000102_0f() {
    let bytes = hex(V_ENCRYPTED_PACKET_V0_PING_KEY000102_0F);
    assert_eq!(bytes.len(), 109);
    assert_eq!(
        to_hex(&crypto::decrypt_packet(&[KEY], &bytes).unwrap()),
        V_PING
    );
    let sealed = crypto::encrypt_packet_with_nonce(
        Version::Padded,
        &KEY,
        &nonce_at(&bytes, 1),
        &hex(V_PING),
    )
    .unwrap();
    assert_eq!(to_hex(&sealed), V_ENCRYPTED_PACKET_V0_PING_KEY000102_0F);
}

#[test]
fn v_encrypted_stream_v1_of_abc() {
    let bytes = hex(V_ENCRYPTED_STREAM_V1_OF_ABC);
    assert_eq!(crypto::stream_frame_len(&bytes).unwrap(), 32);
    assert_eq!(crypto::decrypt_stream(&[KEY], &bytes).unwrap(), b"abc");
    let sealed =
        crypto::encrypt_stream_with_nonce(Version::V1, &KEY, &nonce_at(&bytes, 6), b"abc").unwrap();
    assert_eq!(to_hex(&sealed), V_ENCRYPTED_STREAM_V1_OF_ABC);
}
