//! User events.

use super::*;

impl RsUserEvent {
    pub(super) const CC: u8 = key(BYTE, 2);
    pub(super) const NAME: u8 = key(LEN, 3);
    pub(super) const PAYLOAD: u8 = key(LEN, 4);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        if self.cc {
            w.byte(Self::CC);
            w.byte(1);
        }
        write_optional(w, Self::NAME, "event name", self.name.as_bytes())?;
        write_optional(w, Self::PAYLOAD, "event payload", &self.payload)
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        let cc = r.take_key(Self::CC) && flag_byte(r, "cc")?;
        let name = optional_string(r, Self::NAME, "event name")?;
        let payload = optional_bytes(r, Self::PAYLOAD, "event payload")?;
        Ok(RsUserEvent {
            ltime,
            name,
            payload,
            cc,
        })
    }
}
