//! Minimum data rates: the deadline that a slow sender of a request body, or a slow reader of
//! a response, must keep ahead of. A pure function of a clock and a byte count.
//!
//! A progress timeout alone ("no byte for 30 s") lets a client hold a connection for as long
//! as its body is long by sending one byte every 29 s. A rate does not: after a grace period
//! the bytes moved must keep up with `bytes_per_second` on average since the measurement began.
//! The anchor is Kestrel's `MinRequestBodyDataRate` / `MinResponseDataRate` (240 bytes/s after
//! a 5 s grace, both on by default there too).

use std::time::{Duration, Instant};

/// A minimum average data rate, enforced after a grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinDataRate {
    /// Bytes per second the transfer must average, from the start of the measurement.
    pub bytes_per_second: u64,
    /// How long the transfer may run before the rate is enforced (a slow start, a TCP
    /// window opening).
    pub grace: Duration,
}

impl MinDataRate {
    /// `bytes_per_second` after `grace`.
    pub const fn new(bytes_per_second: u64, grace: Duration) -> MinDataRate {
        MinDataRate {
            bytes_per_second,
            grace,
        }
    }
}

impl MinDataRate {
    /// How long moving `bytes` may take: the grace, or the time the rate takes to move them
    /// if longer. `None` for a rate of 0 (nothing enforced).
    pub(crate) fn allowance(&self, bytes: u64) -> Option<Duration> {
        if self.bytes_per_second == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        Some(self.grace.max(earned))
    }
}

/// A rate applied to the time a lent connection's reads or writes wait (see `wire`): the
/// bytes moved and the time waited so far, counted from the first wait (`from_first_wait`)
/// or from the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitBudget {
    rate: Option<MinDataRate>,
    bytes: u64,
    waited: Duration,
    measuring: bool,
}

impl WaitBudget {
    pub(crate) fn new(rate: Option<MinDataRate>, from_first_wait: bool) -> WaitBudget {
        WaitBudget {
            rate,
            measuring: !from_first_wait,
            ..WaitBudget::default()
        }
    }

    /// When a wait beginning at `start` has used up what the bytes so far earned.
    pub(crate) fn limit(&self, start: Instant) -> Option<Instant> {
        let allowed = self.rate?.allowance(self.bytes)?;
        Some(start + allowed.saturating_sub(self.waited))
    }

    /// Bytes moved (counted once measuring).
    pub(crate) fn moved(&mut self, n: usize) {
        if self.measuring {
            self.bytes = self.bytes.saturating_add(n as u64);
        }
    }

    /// A call would have waited (measuring starts).
    pub(crate) fn would_wait(&mut self) {
        self.measuring = true;
    }

    /// Time a call spent, waiting or not.
    pub(crate) fn spent(&mut self, d: Duration) {
        self.waited += d;
    }
}

impl Default for MinDataRate {
    /// 240 bytes/s after 5 s: slower than any real client on any real network, and far
    /// faster than a byte-dribbling attack.
    fn default() -> Self {
        MinDataRate::new(240, Duration::from_secs(5))
    }
}

/// Bytes moved since a measurement began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Meter {
    since: Option<Instant>,
    bytes: u64,
}

impl Meter {
    /// Starts measuring at `now`, unless already measuring.
    pub(crate) fn start(&mut self, now: Instant) {
        if self.since.is_none() {
            *self = Meter {
                since: Some(now),
                bytes: 0,
            };
        }
    }

    /// Stops measuring (nothing is waiting on the peer any more).
    pub(crate) fn stop(&mut self) {
        *self = Meter::default();
    }

    /// Counts bytes moved while measuring.
    pub(crate) fn add(&mut self, n: usize) {
        if self.since.is_some() {
            self.bytes = self.bytes.saturating_add(n as u64);
        }
    }

    /// When the transfer falls below `rate` unless more bytes move: the start plus the
    /// larger of the grace and the time `rate` takes to move the bytes counted so far.
    pub(crate) fn deadline(&self, rate: Option<&MinDataRate>) -> Option<Instant> {
        Some(self.since? + rate?.allowance(self.bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_grace_then_bytes_over_rate() {
        let t0 = Instant::now();
        let rate = MinDataRate::new(100, Duration::from_secs(5));
        let at = |bytes: u64| {
            let mut m = Meter::default();
            m.start(t0);
            m.add(bytes as usize);
            m.deadline(Some(&rate)).map(|d| d - t0)
        };
        let rows: &[(u64, Duration)] = &[
            (0, Duration::from_secs(5)),
            (1, Duration::from_secs(5)),
            (499, Duration::from_secs(5)),
            (500, Duration::from_secs(5)),
            (501, Duration::from_millis(5010)),
            (1000, Duration::from_secs(10)),
        ];
        for &(bytes, want) in rows {
            assert_eq!(at(bytes), Some(want), "{bytes} bytes");
        }
    }

    #[test]
    fn no_deadline_when_off_or_stopped() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        assert_eq!(
            m.deadline(Some(&MinDataRate::default())),
            None,
            "not started"
        );
        m.start(t0);
        assert_eq!(m.deadline(None), None, "no rate set");
        assert_eq!(m.deadline(Some(&MinDataRate::new(0, Duration::ZERO))), None);
        m.add(10);
        m.start(t0 + Duration::from_secs(1));
        assert_eq!(
            m.deadline(Some(&MinDataRate::new(1, Duration::ZERO))),
            Some(t0 + Duration::from_secs(10)),
            "a second start keeps the first"
        );
        m.stop();
        assert_eq!(m.deadline(Some(&MinDataRate::default())), None);
        m.add(5);
        assert_eq!(m, Meter::default(), "bytes are not counted while stopped");
    }

    #[test]
    fn a_wait_budget_counts_only_waiting_and_starts_where_asked() {
        let t0 = Instant::now();
        let rate = MinDataRate::new(100, Duration::from_secs(2));
        let mut reads = WaitBudget::new(Some(rate), false);
        assert_eq!(
            reads.limit(t0).map(|l| l - t0),
            Some(Duration::from_secs(2))
        );
        reads.spent(Duration::from_millis(500));
        reads.moved(1000); // 10 s earned
        assert_eq!(
            reads.limit(t0).map(|l| l - t0),
            Some(Duration::from_millis(9500))
        );
        let mut writes = WaitBudget::new(Some(rate), true);
        writes.moved(1000); // before the first wait: not counted
        assert_eq!(
            writes.limit(t0).map(|l| l - t0),
            Some(Duration::from_secs(2))
        );
        writes.would_wait();
        writes.moved(1000);
        assert_eq!(
            writes.limit(t0).map(|l| l - t0),
            Some(Duration::from_secs(10))
        );
        assert_eq!(WaitBudget::new(None, false).limit(t0), None);
        let off = MinDataRate::new(0, Duration::ZERO);
        assert_eq!(WaitBudget::new(Some(off), false).limit(t0), None);
    }
}
