//! A monotonic clock shared by the acceptor and the workers, so that times can
//! be published through atomics as plain nanosecond counts.

use std::time::{Duration, Instant};

/// Nanoseconds since the proxy's epoch; `0` is reserved for "never".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        // Start one nanosecond in the past so that no real reading is 0, which
        // the atomics use to mean "not set".
        let epoch = Instant::now()
            .checked_sub(Duration::from_nanos(1))
            .unwrap_or_else(Instant::now);
        Clock { epoch }
    }

    /// The reading of `at` on this clock.
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        // u64 nanoseconds last 584 years; saturate rather than wrap.
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant a reading stands for.
    pub(crate) fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }
}
