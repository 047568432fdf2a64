//! Fixed-bucket histograms: a worker's recorder (relaxed adds on its own counters) and the
//! merged snapshot users read ([`Histogram`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets per histogram: `BOUNDS` upper bounds, then `+Inf`.
pub(crate) const BUCKETS: usize = 15;

/// Upper bounds (inclusive) in the histogram's unit, ascending.
pub(crate) type Bounds = [u64; BUCKETS - 1];

/// Durations, in nanoseconds: 100 µs to 5 s.
pub(crate) const NANOS: Bounds = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

/// Sizes, in bytes: empty, then 64 B to 1 GiB by fours.
pub(crate) const BYTES: Bounds = [
    0,
    64,
    256,
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    16 << 20,
    64 << 20,
    256 << 20,
    1 << 30,
];

/// One worker's share of a histogram.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// Per bucket (not cumulative).
    counts: [AtomicU64; BUCKETS],
    sum: AtomicU64,
}

impl Recorder {
    // Relaxed: independent tallies, read for monitoring.
    pub(crate) fn record(&self, bounds: &Bounds, value: u64) {
        let i = bounds.partition_point(|&b| b < value);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Adds this recorder's counts into `into`.
    pub(crate) fn merge(&self, into: &mut Histogram) {
        for (total, c) in into.counts.iter_mut().zip(&self.counts) {
            *total += c.load(Ordering::Relaxed);
        }
        into.sum = into.sum.wrapping_add(self.sum.load(Ordering::Relaxed));
    }
}

/// A histogram in an [`HttpStats`](crate::HttpStats) snapshot: how many values fell at or
/// below each bucket's upper bound, and their sum, in the figure's unit (nanoseconds for a
/// duration, bytes for a size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    bounds: &'static Bounds,
    counts: [u64; BUCKETS],
    sum: u64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static Bounds) -> Histogram {
        Histogram {
            bounds,
            counts: [0; BUCKETS],
            sum: 0,
        }
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Their sum.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// `(upper bound, values at or below it)` per bucket, cumulative as Prometheus has them;
    /// the last bucket's bound is `None` (`+Inf`) and its count is [`count`](Self::count).
    pub fn buckets(&self) -> impl Iterator<Item = (Option<u64>, u64)> + '_ {
        let mut cumulative = 0;
        self.counts.iter().enumerate().map(move |(i, n)| {
            cumulative += n;
            (self.bounds.get(i).copied(), cumulative)
        })
    }

    /// The smallest bucket bound at or above the `q` quantile (0.0–1.0) of the values, `None`
    /// if it lies in the `+Inf` bucket or nothing was recorded: an upper estimate, as good as
    /// the buckets.
    pub fn quantile_bound(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        self.buckets()
            .find(|&(_, n)| n >= rank)
            .and_then(|(b, _)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_that_holds_them() {
        let r = Recorder::default();
        for v in [0, 1, 64, 65, 1 << 30, (1 << 30) + 1] {
            r.record(&BYTES, v);
        }
        let mut h = Histogram::new(&BYTES);
        r.merge(&mut h);
        let b: Vec<_> = h.buckets().collect();
        assert_eq!(b[0], (Some(0), 1));
        assert_eq!(b[1], (Some(64), 3));
        assert_eq!(b[2], (Some(256), 4));
        assert_eq!(b[13], (Some(1 << 30), 5));
        assert_eq!(b[14], (None, 6));
        assert_eq!((h.count(), h.sum()), (6, 1 + 64 + 65 + (1 << 31) + 1));
        assert_eq!(h.quantile_bound(0.5), Some(64));
        assert_eq!(h.quantile_bound(1.0), None);
        assert_eq!(Histogram::new(&NANOS).quantile_bound(0.5), None);
    }
}
