//! The push/pull user state.

use super::*;

impl RsPushPull {
    pub(super) const STATUS: u8 = key(LEN, 2);
    pub(super) const LEFT: u8 = key(LEN, 3);
    pub(super) const EVENT_LTIME: u8 = key(VARINT, 4);
    pub(super) const EVENTS: u8 = key(LEN, 5);
    pub(super) const QUERY_LTIME: u8 = key(VARINT, 6);
    pub(super) const EVENT: u8 = key(LEN, 2);
    pub(super) const EVENT_NAME: u8 = key(LEN, 1);
    pub(super) const EVENT_PAYLOAD: u8 = key(LEN, 2);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        for (name, t) in &self.status_ltimes {
            w.field_nested(Self::STATUS, "status time", |w| {
                w.field_bytes(TUPLE_A, "member name", name.as_bytes())?;
                // `LamportTime` keeps `Data`'s default wire type, so inside
                // the tuple its varint is length-delimited like a string.
                let mut time = RsWriter::new();
                time.varint((*t).into());
                w.field_bytes(TUPLE_B, "status time", &time.finish())
            })?;
        }
        for name in &self.left_members {
            w.field_bytes(Self::LEFT, "left member", name.as_bytes())?;
        }
        w.field_varint(Self::EVENT_LTIME, self.event_ltime.into());
        for slot in &self.events {
            w.field_nested(Self::EVENTS, "user events", |w| {
                w.field_varint(LTIME, slot.ltime.into());
                for e in &slot.events {
                    w.field_nested(Self::EVENT, "user event", |w| {
                        write_optional(w, Self::EVENT_NAME, "event name", e.name.as_bytes())?;
                        write_optional(w, Self::EVENT_PAYLOAD, "event payload", &e.payload)
                    })?;
                }
                Ok(())
            })?;
        }
        w.field_varint(Self::QUERY_LTIME, self.query_ltime.into());
        Ok(())
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        let mut status_ltimes = Vec::new();
        while r.take_key(Self::STATUS) {
            let mut t = r.nested("status time")?;
            t.expect_key(TUPLE_A, "the member name (11)")?;
            let name = t.string("member name")?;
            t.expect_key(TUPLE_B, "the status time (12)")?;
            let mut v = t.nested("status time")?;
            let time = v.u64("status time")?;
            v.finish()?;
            t.finish()?;
            status_ltimes.push((name, time));
        }
        let mut left_members = Vec::new();
        while r.take_key(Self::LEFT) {
            left_members.push(r.string("left member")?);
        }
        r.expect_key(Self::EVENT_LTIME, "the event ltime (0c)")?;
        let event_ltime = r.u64("event ltime")?;
        let mut events = Vec::new();
        while r.take_key(Self::EVENTS) {
            let mut s = r.nested("user events")?;
            s.expect_key(LTIME, "the events' ltime (09)")?;
            let slot_ltime = s.u64("ltime")?;
            let mut entries = Vec::new();
            while !s.at_end() {
                s.expect_key(Self::EVENT, "a user event (12)")?;
                let mut e = s.nested("user event")?;
                let name = optional_string(&mut e, Self::EVENT_NAME, "event name")?;
                let payload = optional_bytes(&mut e, Self::EVENT_PAYLOAD, "event payload")?;
                e.finish()?;
                entries.push(RsEventEntry { name, payload });
            }
            events.push(RsUserEvents {
                ltime: slot_ltime,
                events: entries,
            });
        }
        r.expect_key(Self::QUERY_LTIME, "the query ltime (0e)")?;
        let query_ltime = r.u64("query ltime")?;
        Ok(RsPushPull {
            ltime,
            status_ltimes,
            left_members,
            event_ltime,
            events,
            query_ltime,
        })
    }
}
