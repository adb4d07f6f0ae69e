//! The network coordinate Serf puts in ack payloads (spec §7).

use crate::error::{Result, WireError};
use crate::message::{go_struct, GoStruct, List, F64};
use crate::msgpack::Reader;

/// Serf's version byte in ack payloads.
const PING_VERSION: u8 = 1;

/// A Vivaldi network coordinate, as Serf puts it in ack payloads (units: seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinate {
    /// The Euclidean part.
    pub vec: Vec<f64>,
    /// Confidence in the coordinate.
    pub error: f64,
    /// Distance offset.
    pub adjustment: f64,
    /// Height above the Euclidean plane.
    pub height: f64,
}

impl Coordinate {
    /// The coordinate a node starts with.
    pub fn initial() -> Self {
        Coordinate {
            vec: vec![0.0; 8],
            error: 1.5,
            adjustment: 0.0,
            height: 1e-5,
        }
    }

    /// Estimated round-trip time to `other`, as Serf computes it: the Euclidean
    /// distance plus both heights, plus both adjustments when that stays positive.
    pub fn rtt(&self, other: &Coordinate) -> std::time::Duration {
        let d: f64 = self
            .vec
            .iter()
            .zip(&other.vec)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let mut secs = d + self.height + other.height;
        let adjusted = secs + self.adjustment + other.adjustment;
        if adjusted > 0.0 {
            secs = adjusted;
        }
        std::time::Duration::from_secs_f64(secs.max(0.0))
    }
}

go_struct! {
    Coordinate as "coordinate" {
        "Adjustment" => adjustment: F64,
        "Error"      => error: F64,
        "Height"     => height: F64,
        "Vec"        => vec: List<F64>,
    }
}

/// The payload of a UDP ack: `01 ‖ msgpack(Coordinate)`.
pub fn encode_ping_payload(c: &Coordinate) -> Result<Vec<u8>> {
    c.encode_after(&[PING_VERSION])
}

/// The coordinate in an ack payload; `None` for an empty payload, which Go
/// ignores.
pub fn decode_ping_payload(payload: &[u8]) -> Result<Option<Coordinate>> {
    let Some((&version, _)) = payload.split_first() else {
        return Ok(None);
    };
    if version != PING_VERSION {
        return Err(WireError::PingVersion { version });
    }
    Coordinate::read_map(&mut Reader::at(payload, 1)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_payload_versions() {
        assert_eq!(decode_ping_payload(&[]), Ok(None));
        assert_eq!(
            decode_ping_payload(&[2, 0x80]),
            Err(WireError::PingVersion { version: 2 })
        );
        let c = Coordinate {
            vec: vec![0.5, -1.0],
            error: 0.25,
            adjustment: -0.001,
            height: 2.0,
        };
        assert_eq!(
            decode_ping_payload(&encode_ping_payload(&c).unwrap()).unwrap(),
            Some(c)
        );
    }
}
