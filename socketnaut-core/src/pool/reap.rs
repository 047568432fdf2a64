//! The reaper's decision and the restart backoff: pure functions of a clock, so they are tested
//! with made-up instants.

use std::time::{Duration, Instant};

/// A worker as the reaper sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdleView {
    /// Index in the pool.
    pub(crate) index: usize,
    /// `Some(since)` when it has no connection and can be retired; `None` otherwise.
    pub(crate) idle_since: Option<Instant>,
}

/// Which workers to retire now: those idle for at least `threshold`, longest idle first, never
/// taking the pool below `min`. `live` is the number of workers counted against `min`.
pub(crate) fn to_retire(
    workers: &[IdleView],
    live: usize,
    min: usize,
    now: Instant,
    threshold: Duration,
) -> Vec<usize> {
    let mut idle: Vec<(Instant, usize)> = workers
        .iter()
        .filter_map(|w| w.idle_since.map(|since| (since, w.index)))
        .filter(|(since, _)| now.saturating_duration_since(*since) >= threshold)
        .collect();
    idle.sort();
    idle.into_iter()
        .take(live.saturating_sub(min))
        .map(|(_, index)| index)
        .collect()
}

/// Exponential backoff for restarting workers that died or failed to start.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next_delay: Duration,
    not_before: Option<Instant>,
    last_failure: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            next_delay: initial,
            not_before: None,
            last_failure: None,
        }
    }

    /// Records a failure: no spawn before `now + delay`, and the delay doubles.
    pub(crate) fn fail(&mut self, now: Instant) {
        self.not_before = Some(now + self.next_delay);
        self.next_delay = (self.next_delay * 2).min(self.max);
        self.last_failure = Some(now);
    }

    /// Whether a spawn is allowed at `now`.
    pub(crate) fn allows(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|t| now >= t)
    }

    /// When the current wait ends, if there is one.
    pub(crate) fn wait_until(&self, now: Instant) -> Option<Instant> {
        self.not_before.filter(|&t| t > now)
    }

    /// Forgets failures once none happened for twice the longest delay, so a later, unrelated
    /// failure starts from the short delay again.
    pub(crate) fn settle(&mut self, now: Instant) {
        if let Some(last) = self.last_failure {
            if now.saturating_duration_since(last) >= self.max * 2 {
                self.next_delay = self.initial;
                self.last_failure = None;
                self.not_before = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn retire_table() {
        let t0 = Instant::now();
        let now = t0 + 100 * S;
        let idle = |index, secs_ago: u32| IdleView {
            index,
            idle_since: Some(now - secs_ago * S),
        };
        let busy = |index| IdleView {
            index,
            idle_since: None,
        };
        type Row = (&'static str, Vec<IdleView>, usize, usize, Vec<usize>);
        let rows: Vec<Row> = vec![
            ("nothing idle", vec![busy(0), busy(1)], 2, 0, vec![]),
            (
                "idle long enough",
                vec![idle(0, 20), busy(1)],
                2,
                0,
                vec![0],
            ),
            ("idle too briefly", vec![idle(0, 5), busy(1)], 2, 0, vec![]),
            (
                "exactly the threshold retires",
                vec![idle(0, 10)],
                1,
                0,
                vec![0],
            ),
            (
                "never below min",
                vec![idle(0, 20), idle(1, 30)],
                2,
                1,
                vec![1],
            ),
            ("at min retires none", vec![idle(0, 20)], 1, 1, vec![]),
            (
                "longest idle first",
                vec![idle(0, 11), idle(1, 50), idle(2, 30)],
                3,
                1,
                vec![1, 2],
            ),
        ];
        for (name, workers, live, min, want) in rows {
            assert_eq!(to_retire(&workers, live, min, now, 10 * S), want, "{name}");
        }
    }

    #[test]
    fn backoff_doubles_caps_and_settles() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        assert!(b.allows(t0));
        b.fail(t0);
        assert!(!b.allows(t0 + Duration::from_millis(99)));
        assert!(b.allows(t0 + Duration::from_millis(100)));
        let t1 = t0 + Duration::from_millis(100);
        b.fail(t1);
        assert_eq!(b.wait_until(t1), Some(t1 + Duration::from_millis(200)));
        let t2 = t1 + Duration::from_millis(200);
        b.fail(t2);
        b.fail(t2);
        assert_eq!(
            b.wait_until(t2),
            Some(t2 + Duration::from_millis(400)),
            "capped"
        );
        b.settle(t2 + Duration::from_millis(799));
        assert!(b.wait_until(t2).is_some(), "too soon to forget");
        b.settle(t2 + Duration::from_millis(800));
        b.fail(t2 + S);
        assert_eq!(
            b.wait_until(t2 + S),
            Some(t2 + S + Duration::from_millis(100))
        );
    }
}
