//! Key-management answers and the secret keys inside them.

use super::*;

/// memberlist-proto's `SecretKey`: `key(LEN, 1|2|3)` for AES-128/192/256, the
/// key length as a varint, the key.
pub(super) fn write_secret_key(w: &mut RsWriter, k: &[u8]) -> Result<()> {
    let tag = match k.len() {
        16 => 1,
        24 => 2,
        32 => 3,
        len => {
            return Err(WireError::Untranslatable {
                message: "serf-rs key message",
                field: "key",
                reason: format!("a {len}-byte key; AES keys are 16, 24 or 32 bytes"),
            })
        }
    };
    w.field_bytes(key(LEN, tag), "key", k)
}

pub(super) fn read_secret_key(r: &mut RsReader<'_>) -> Result<Vec<u8>> {
    let want = match r.byte("key type")? {
        b if b == key(LEN, 1) => 16,
        b if b == key(LEN, 2) => 24,
        b if b == key(LEN, 3) => 32,
        _ => return Err(r.layout("an AES-128, -192 or -256 key type (11, 12, 13)")),
    };
    let k = r.len_prefixed("key")?;
    if k.len() != want {
        return Err(r.layout("a key as long as its type says"));
    }
    r.finish()?;
    Ok(k.to_vec())
}

impl RsKeyResponse {
    pub(super) const RESULT: u8 = key(BYTE, 1);
    pub(super) const MESSAGE: u8 = key(LEN, 2);
    pub(super) const KEYS: u8 = key(LEN, 3);
    pub(super) const PRIMARY: u8 = key(LEN, 4);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        if self.result {
            w.byte(Self::RESULT);
            w.byte(1);
        }
        write_optional(w, Self::MESSAGE, "key message", self.message.as_bytes())?;
        for k in &self.keys {
            w.field_nested(Self::KEYS, "key", |w| write_secret_key(w, k))?;
        }
        match &self.primary_key {
            Some(k) => w.field_nested(Self::PRIMARY, "primary key", |w| write_secret_key(w, k)),
            None => Ok(()),
        }
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        let result = r.take_key(Self::RESULT) && flag_byte(r, "result")?;
        let message = optional_string(r, Self::MESSAGE, "key message")?;
        let mut keys = Vec::new();
        while r.take_key(Self::KEYS) {
            keys.push(read_secret_key(&mut r.nested("key")?)?);
        }
        let primary_key = if r.take_key(Self::PRIMARY) {
            Some(read_secret_key(&mut r.nested("primary key")?)?)
        } else {
            None
        };
        Ok(RsKeyResponse {
            result,
            message,
            keys,
            primary_key,
        })
    }
}
