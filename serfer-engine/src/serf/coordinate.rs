//! Vivaldi network coordinates (Go's `serf/coordinate` package, default
//! configuration): each direct probe's RTT and the peer's coordinate, carried
//! in its ack payload, move this node's coordinate so that distances between
//! coordinates estimate round-trip times.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;
pub use serfer_wire::serf::Coordinate;

/// Go's `coordinate.DefaultConfig()`.
const DIMENSIONALITY: usize = 8;
const VIVALDI_ERROR_MAX: f64 = 1.5;
const VIVALDI_CE: f64 = 0.25;
const VIVALDI_CC: f64 = 0.25;
const ADJUSTMENT_WINDOW_SIZE: usize = 20;
const HEIGHT_MIN: f64 = 10.0e-6;
const LATENCY_FILTER_SIZE: usize = 3;
const GRAVITY_RHO: f64 = 150.0;
const ZERO_THRESHOLD: f64 = 1.0e-6;
/// Go refuses RTT samples above this.
const MAX_RTT: Duration = Duration::from_secs(10);

/// Why a sample was refused (Go's `Client.Update` errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinateError {
    /// The peer's coordinate has another dimensionality.
    #[error("dimensions aren't compatible")]
    Dimensions,
    /// The peer's coordinate holds NaN or infinity.
    #[error("coordinate is invalid")]
    Invalid,
    /// The RTT is above 10 s.
    #[error("round trip time not in valid range")]
    Rtt,
}

/// Go's `coordinate.Client`: this node's coordinate and the state that moves
/// it.
#[derive(Debug, Clone)]
pub struct CoordinateClient {
    coord: Coordinate,
    origin: Coordinate,
    adjustment_index: usize,
    adjustment_samples: [f64; ADJUSTMENT_WINDOW_SIZE],
    latency_samples: BTreeMap<String, Vec<f64>>,
    resets: u64,
}

impl Default for CoordinateClient {
    fn default() -> Self {
        CoordinateClient {
            coord: Coordinate::initial(),
            origin: Coordinate::initial(),
            adjustment_index: 0,
            adjustment_samples: [0.0; ADJUSTMENT_WINDOW_SIZE],
            latency_samples: BTreeMap::new(),
            resets: 0,
        }
    }
}

fn valid(c: &Coordinate) -> bool {
    c.vec.iter().all(|f| f.is_finite())
        && c.error.is_finite()
        && c.adjustment.is_finite()
        && c.height.is_finite()
}

fn magnitude(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

/// Distance without the adjustments (Go's `rawDistanceTo`).
fn raw_distance(a: &Coordinate, b: &Coordinate) -> f64 {
    magnitude(a.vec.iter().zip(&b.vec).map(|(x, y)| x - y)) + a.height + b.height
}

/// Go's `DistanceTo`, in seconds.
fn distance(a: &Coordinate, b: &Coordinate) -> f64 {
    let dist = raw_distance(a, b);
    let adjusted = dist + a.adjustment + b.adjustment;
    if adjusted > 0.0 {
        adjusted
    } else {
        dist
    }
}

/// Go's `ApplyForce`: moves `c` by `force` along the unit vector from
/// `other` to `c` (a random direction when they coincide).
fn apply_force(c: &Coordinate, force: f64, other: &Coordinate, rng: &mut SmallRng) -> Coordinate {
    let mut ret = c.clone();
    let mut unit: Vec<f64> = c.vec.iter().zip(&other.vec).map(|(a, b)| a - b).collect();
    let mut mag = magnitude(unit.iter().copied());
    if mag > ZERO_THRESHOLD {
        unit.iter_mut().for_each(|x| *x /= mag);
    } else {
        unit.iter_mut().for_each(|x| *x = rng.gen::<f64>() - 0.5);
        let m = magnitude(unit.iter().copied());
        if m > ZERO_THRESHOLD {
            unit.iter_mut().for_each(|x| *x /= m);
        } else {
            unit.iter_mut().for_each(|x| *x = 0.0);
            if let Some(first) = unit.first_mut() {
                *first = 1.0;
            }
        }
        mag = 0.0;
    }
    ret.vec
        .iter_mut()
        .zip(&unit)
        .for_each(|(v, u)| *v += u * force);
    if mag > ZERO_THRESHOLD {
        ret.height = (ret.height + other.height) * force / mag + ret.height;
        ret.height = ret.height.max(HEIGHT_MIN);
    }
    ret
}

impl CoordinateClient {
    /// This node's coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coord
    }

    /// How often the coordinate became invalid and was reset.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Forgets a node's latency samples (Go's `ForgetNode`).
    pub fn forget(&mut self, node: &str) {
        self.latency_samples.remove(node);
    }

    /// Estimated RTT from this node to `other`.
    pub fn distance_to(&self, other: &Coordinate) -> Duration {
        Duration::from_secs_f64(distance(&self.coord, other).max(0.0))
    }

    /// Go's `Client.Update`: one RTT sample to `node`, whose coordinate is
    /// `other`. The median of the last 3 samples per node drives a Vivaldi
    /// step, the adjustment window and gravity towards the origin.
    pub fn update(
        &mut self,
        node: &str,
        other: &Coordinate,
        rtt: Duration,
        rng: &mut SmallRng,
    ) -> Result<&Coordinate, CoordinateError> {
        if other.vec.len() != DIMENSIONALITY {
            return Err(CoordinateError::Dimensions);
        }
        if !valid(other) {
            return Err(CoordinateError::Invalid);
        }
        if rtt > MAX_RTT {
            return Err(CoordinateError::Rtt);
        }
        let rtt = self.latency_filter(node, rtt.as_secs_f64());
        self.update_vivaldi(other, rtt, rng);
        self.update_adjustment(other, rtt);
        self.update_gravity(rng);
        if !valid(&self.coord) {
            self.resets += 1;
            self.coord = Coordinate::initial();
        }
        Ok(&self.coord)
    }

    fn latency_filter(&mut self, node: &str, rtt: f64) -> f64 {
        let samples = self.latency_samples.entry(node.to_owned()).or_default();
        samples.push(rtt);
        if samples.len() > LATENCY_FILTER_SIZE {
            samples.remove(0);
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    fn update_vivaldi(&mut self, other: &Coordinate, rtt: f64, rng: &mut SmallRng) {
        let dist = distance(&self.coord, other);
        let rtt = rtt.max(ZERO_THRESHOLD);
        let wrongness = (dist - rtt).abs() / rtt;
        let total = (self.coord.error + other.error).max(ZERO_THRESHOLD);
        let weight = self.coord.error / total;
        self.coord.error = (VIVALDI_CE * weight * wrongness
            + self.coord.error * (1.0 - VIVALDI_CE * weight))
            .min(VIVALDI_ERROR_MAX);
        let force = VIVALDI_CC * weight * (rtt - dist);
        self.coord = apply_force(&self.coord, force, other, rng);
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt: f64) {
        let dist = raw_distance(&self.coord, other);
        self.adjustment_samples[self.adjustment_index] = rtt - dist;
        self.adjustment_index = (self.adjustment_index + 1) % ADJUSTMENT_WINDOW_SIZE;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.coord.adjustment = sum / (2.0 * ADJUSTMENT_WINDOW_SIZE as f64);
    }

    fn update_gravity(&mut self, rng: &mut SmallRng) {
        let dist = distance(&self.origin, &self.coord);
        let force = -(dist / GRAVITY_RHO).powi(2);
        self.coord = apply_force(&self.coord, force, &self.origin, rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn two_nodes_converge_to_their_rtt() {
        let mut rng = SmallRng::seed_from_u64(1);
        let (mut a, mut b) = (CoordinateClient::default(), CoordinateClient::default());
        let rtt = Duration::from_millis(10);
        for _ in 0..200 {
            let cb = b.coordinate().clone();
            a.update("b", &cb, rtt, &mut rng).unwrap();
            let ca = a.coordinate().clone();
            b.update("a", &ca, rtt, &mut rng).unwrap();
        }
        let est = a.distance_to(b.coordinate()).as_secs_f64();
        assert!((est - 0.010).abs() < 0.001, "estimate {est}");
    }

    #[test]
    fn bad_samples_are_refused() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut a = CoordinateClient::default();
        let mut bad = Coordinate::initial();
        bad.vec.pop();
        assert_eq!(
            a.update("x", &bad, Duration::from_millis(1), &mut rng)
                .err(),
            Some(CoordinateError::Dimensions)
        );
        let mut nan = Coordinate::initial();
        nan.height = f64::NAN;
        assert_eq!(
            a.update("x", &nan, Duration::from_millis(1), &mut rng)
                .err(),
            Some(CoordinateError::Invalid)
        );
        assert_eq!(
            a.update(
                "x",
                &Coordinate::initial(),
                Duration::from_secs(11),
                &mut rng
            )
            .err(),
            Some(CoordinateError::Rtt)
        );
    }
}
