//! The two payloads memberlist carries for Serf without looking inside: the
//! tags in node meta and the coordinate in ack payloads. Each side encodes them
//! its own way.

use std::collections::BTreeMap;

use serf::types::coordinate::Coordinate as RsCoordinate;
use serf::types::{Data, Tags};

use serfer_wire::error::{Result, WireError};
use serfer_wire::serf::{self as go, Coordinate};

/// serf-rs's ack payload starts with the same version byte as Go's.
const PING_VERSION: u8 = 1;

fn engine(what: &'static str, e: impl std::fmt::Display) -> WireError {
    WireError::Engine {
        what,
        reason: e.to_string(),
    }
}

/// serf-rs meta (its `Tags` encoding, empty for no tags) → Go's (`0xFF` and a
/// msgpack map, also for no tags).
pub fn tags_to_go(rs_meta: &[u8]) -> Result<Vec<u8>> {
    let tags = if rs_meta.is_empty() {
        BTreeMap::new()
    } else {
        let (_, tags) = <Tags as Data>::decode(rs_meta).map_err(|e| engine("tags decode", e))?;
        tags.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    go::encode_tags(&tags)
}

/// Go meta → serf-rs's. Go's pre-tags form (the bare role) becomes a `role` tag.
pub fn tags_to_rs(go_meta: &[u8]) -> Result<Vec<u8>> {
    let tags = go::decode_tags(go_meta)?;
    if tags.is_empty() {
        // What serf-rs itself sends for a node without tags.
        return Ok(Vec::new());
    }
    let tags: Tags = tags.into_iter().collect();
    tags.encode_to_vec().map_err(|e| engine("tags encode", e))
}

/// serf-rs ack payload → Go's.
pub fn ack_payload_to_go(rs: &[u8]) -> Result<Vec<u8>> {
    let (&version, body) = rs.split_first().ok_or(WireError::Empty {
        what: "ack payload",
    })?;
    if version != PING_VERSION {
        return Err(WireError::PingVersion { version });
    }
    let (_, c) =
        <RsCoordinate as Data>::decode(body).map_err(|e| engine("coordinate decode", e))?;
    go::encode_ping_payload(&Coordinate {
        vec: c.portion().to_vec(),
        error: c.error(),
        adjustment: c.adjustment(),
        height: c.height(),
    })
}

/// Go ack payload (non-empty) → serf-rs's.
pub fn ack_payload_to_rs(go_payload: &[u8]) -> Result<Vec<u8>> {
    let Some(c) = go::decode_ping_payload(go_payload)? else {
        return Ok(Vec::new());
    };
    let rs = RsCoordinate::new()
        .with_portion(c.vec.into_iter().collect())
        .with_error(c.error)
        .with_adjustment(c.adjustment)
        .with_height(c.height);
    let mut out = vec![PING_VERSION];
    out.extend(
        rs.encode_to_vec()
            .map_err(|e| engine("coordinate encode", e))?,
    );
    Ok(out)
}
