//! Nodes, members and the join and leave intents.

use super::*;

impl RsNode {
    /// memberlist-proto's `SocketAddr`: `0 ‖ ipv4 ‖ port` or `1 ‖ ipv6 ‖ port`,
    /// port big-endian.
    fn write_addr(addr: &SocketAddr) -> Vec<u8> {
        let mut out = Vec::with_capacity(19);
        match addr.ip() {
            IpAddr::V4(ip) => {
                out.push(0);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(1);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&addr.port().to_be_bytes());
        out
    }

    fn read_addr(r: &mut RsReader<'_>) -> Result<SocketAddr> {
        let bytes = r.rest();
        let ip = match bytes {
            [0, a, b, c, d, _, _] => IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)),
            [1, rest @ ..] if rest.len() == 18 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&rest[..16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            _ => {
                return Err(
                    r.layout("an address of 7 bytes (00, IPv4, port) or 19 bytes (01, IPv6, port)")
                )
            }
        };
        let port = u16::from_be_bytes([bytes[bytes.len() - 2], bytes[bytes.len() - 1]]);
        Ok(SocketAddr::new(ip, port))
    }

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_bytes(NODE_ID, "node id", self.name.as_bytes())?;
        w.field_bytes(NODE_ADDR, "node address", &Self::write_addr(&self.addr))
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(NODE_ID, "the node id (11)")?;
        let name = r.string("node id")?;
        r.expect_key(NODE_ADDR, "the node address (12)")?;
        let addr = Self::read_addr(&mut r.nested("node address")?)?;
        r.finish()?;
        Ok(RsNode { name, addr })
    }
}

impl RsLeave {
    pub(super) const PRUNE: u8 = key(BYTE, 2);
    pub(super) const ID: u8 = key(LEN, 3);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        if self.prune {
            w.byte(Self::PRUNE);
            w.byte(1);
        }
        w.field_bytes(Self::ID, "leave id", self.id.as_bytes())
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        let prune = r.take_key(Self::PRUNE) && flag_byte(r, "prune")?;
        r.expect_key(Self::ID, "the node id (13)")?;
        let id = r.string("leave id")?;
        Ok(RsLeave { ltime, id, prune })
    }
}

impl RsJoin {
    pub(super) const ID: u8 = key(LEN, 2);

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_varint(LTIME, self.ltime.into());
        w.field_bytes(Self::ID, "join id", self.id.as_bytes())
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(LTIME, "the ltime (09)")?;
        let ltime = r.u64("ltime")?;
        r.expect_key(Self::ID, "the node id (12)")?;
        let id = r.string("join id")?;
        Ok(RsJoin { ltime, id })
    }
}

impl RsMember {
    pub(super) const NODE: u8 = key(LEN, 1);
    pub(super) const TAGS: u8 = key(LEN, 2);
    const VERSIONS: [u8; 5] = [
        key(BYTE, 3),
        key(BYTE, 4),
        key(BYTE, 5),
        key(BYTE, 6),
        key(BYTE, 7),
    ];

    pub(super) fn write(&self, w: &mut RsWriter) -> Result<()> {
        w.field_nested(Self::NODE, "member node", |w| self.node.write(w))?;
        w.field_nested(Self::TAGS, "member tags", |w| {
            for (k, v) in &self.tags {
                w.field_nested(TAG_ENTRY, "tag", |w| {
                    w.field_bytes(TUPLE_A, "tag name", k.as_bytes())?;
                    w.field_bytes(TUPLE_B, "tag value", v.as_bytes())
                })?;
            }
            Ok(())
        })?;
        let values = [
            self.status,
            self.memberlist_protocol_version,
            self.memberlist_delegate_version,
            self.protocol_version,
            self.delegate_version,
        ];
        for (key, v) in Self::VERSIONS.into_iter().zip(values) {
            w.byte(key);
            w.byte(v);
        }
        Ok(())
    }

    pub(super) fn read(r: &mut RsReader<'_>) -> Result<Self> {
        r.expect_key(Self::NODE, "the member node (11)")?;
        let node = RsNode::read(&mut r.nested("member node")?.named("node"))?;
        r.expect_key(Self::TAGS, "the member tags (12)")?;
        let mut t = r.nested("member tags")?;
        let mut tags = Vec::new();
        while !t.at_end() {
            t.expect_key(TAG_ENTRY, "a tag (11)")?;
            let mut e = t.nested("tag")?;
            e.expect_key(TUPLE_A, "the tag name (11)")?;
            let k = e.string("tag name")?;
            e.expect_key(TUPLE_B, "the tag value (12)")?;
            let v = e.string("tag value")?;
            e.finish()?;
            tags.push((k, v));
        }
        let mut values = [0u8; 5];
        for (key, v) in Self::VERSIONS.into_iter().zip(values.iter_mut()) {
            r.expect_key(key, "the status and version bytes (03 to 07)")?;
            *v = r.byte("status or version")?;
        }
        let [status, mpv, mdv, pv, dv] = values;
        Ok(RsMember {
            node,
            tags,
            status,
            memberlist_protocol_version: mpv,
            memberlist_delegate_version: mdv,
            protocol_version: pv,
            delegate_version: dv,
        })
    }
}
