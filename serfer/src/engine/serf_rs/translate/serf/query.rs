//! Queries, their filters and responses.

use super::*;

impl RsFilter {
    pub(super) const ID: u8 = key(LEN, 1);
    pub(super) const TAG: u8 = key(LEN, 2);
    pub(super) const TAG_NAME: u8 = key(LEN, 1);
    pub(super) const TAG_EXPR: u8 = key(LEN, 2);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        match self {
            RsFilter::Id(ids) => {
                for id in ids {
                    w.field_bytes(Self::ID, "filter id", id.as_bytes())?;
                }
                Ok(())
            }
            RsFilter::Tag { tag, expr } => w.field_nested(Self::TAG, "tag filter", |w| {
                w.field_bytes(Self::TAG_NAME, "filter tag", tag.as_bytes())?;
                match expr {
                    Some(e) => w.field_bytes(Self::TAG_EXPR, "filter expr", e.as_bytes()),
                    None => Ok(()),
                }
            }),
        }
    }

    /// One filter's body; an empty body is an id filter naming nobody.
    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        if r.take_key(Self::TAG) {
            let mut t = r.nested("tag filter")?;
            t.expect_key(Self::TAG_NAME, "the filter's tag (11)")?;
            let tag = t.string("filter tag")?;
            let expr = if t.take_key(Self::TAG_EXPR) {
                Some(t.string("filter expr")?)
            } else {
                None
            };
            t.finish()?;
            r.finish()?;
            return Ok(RsFilter::Tag { tag, expr });
        }
        let mut ids = Vec::new();
        while !r.at_end() {
            r.expect_key(Self::ID, "a filter id (11)")?;
            ids.push(r.string("filter id")?);
        }
        Ok(RsFilter::Id(ids))
    }
}

impl RsQuery {
    pub(super) const ID: u8 = key(VARINT, 2);
    pub(super) const FROM: u8 = key(LEN, 3);
    pub(super) const FILTER: u8 = key(LEN, 4);
    pub(super) const FLAGS: u8 = key(VARINT, 5);
    // A varint key, but serf-core writes the factor as one raw byte.
    pub(super) const RELAY_FACTOR: u8 = key(VARINT, 6);
    pub(super) const TIMEOUT: u8 = key(VARINT, 7);
    pub(super) const NAME: u8 = key(LEN, 8);
    pub(super) const PAYLOAD: u8 = key(LEN, 9);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        w.field_varint(Self::ID, self.id.into());
        w.field_nested(Self::FROM, "query from", |w| self.from.write(w))?;
        for f in &self.filters {
            w.field_nested(Self::FILTER, "query filter", |w| f.write(w))?;
        }
        w.field_varint(Self::FLAGS, self.flags.into());
        w.byte(Self::RELAY_FACTOR);
        w.byte(self.relay_factor);
        w.field_varint(Self::TIMEOUT, duration_to_wire(self.timeout));
        write_optional(w, Self::NAME, "query name", self.name.as_bytes())?;
        write_optional(w, Self::PAYLOAD, "query payload", &self.payload)
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        r.expect_key(Self::ID, "the query id (0a)")?;
        let id = r.u32("query id")?;
        r.expect_key(Self::FROM, "the source node (13)")?;
        let from = RsNode::read(&mut r.nested("query from")?.named("node"))?;
        let mut filters = Vec::new();
        while r.take_key(Self::FILTER) {
            filters.push(RsFilter::read(&mut r.nested("query filter")?)?);
        }
        r.expect_key(Self::FLAGS, "the flags (0d)")?;
        let flags = r.u32("flags")?;
        r.expect_key(Self::RELAY_FACTOR, "the relay factor (0e)")?;
        let relay_factor = r.byte("relay factor")?;
        r.expect_key(Self::TIMEOUT, "the timeout (0f)")?;
        let timeout = duration_from_wire(r)?;
        let name = optional_string(r, Self::NAME, "query name")?;
        let payload = optional_bytes(r, Self::PAYLOAD, "query payload")?;
        Ok(RsQuery {
            ltime,
            id,
            from,
            filters,
            flags,
            relay_factor,
            timeout,
            name,
            payload,
        })
    }
}

/// varing's `Duration`: one varint of `secs << 32 | nanos`.
fn duration_to_wire(d: Duration) -> u128 {
    (u128::from(d.as_secs()) << 32) | u128::from(d.subsec_nanos())
}

fn duration_from_wire(r: &mut RsReader<'_>) -> Result<Duration> {
    let v = r.varint("timeout", 96)?;
    let nanos = (v & 0xffff_ffff) as u32;
    if nanos >= 1_000_000_000 {
        // varing would carry them into the seconds; serf-rs never writes that.
        return Err(r.layout("a timeout with fewer than 10^9 nanoseconds"));
    }
    Ok(Duration::new((v >> 32) as u64, nanos))
}

impl RsQueryResponse {
    pub(super) const ID: u8 = key(VARINT, 2);
    pub(super) const FROM: u8 = key(LEN, 3);
    pub(super) const FLAGS: u8 = key(VARINT, 4);
    pub(super) const PAYLOAD: u8 = key(LEN, 5);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        w.field_varint(Self::ID, self.id.into());
        w.field_nested(Self::FROM, "response from", |w| self.from.write(w))?;
        w.field_varint(Self::FLAGS, self.flags.into());
        write_optional(w, Self::PAYLOAD, "response payload", &self.payload)
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        r.expect_key(Self::ID, "the query id (0a)")?;
        let id = r.u32("query id")?;
        r.expect_key(Self::FROM, "the answering node (13)")?;
        let from = RsNode::read(&mut r.nested("response from")?.named("node"))?;
        r.expect_key(Self::FLAGS, "the flags (0c)")?;
        let flags = r.u32("flags")?;
        let payload = optional_bytes(r, Self::PAYLOAD, "response payload")?;
        Ok(RsQueryResponse {
            ltime,
            id,
            from,
            flags,
            payload,
        })
    }
}
