//! Shrinking the pool: the reaper retires workers idle for `worker_idle_timeout`, and
//! consolidation releases evented workers whose connections stopped blocking, beyond the
//! `spread` busiest, so connections spread out by blocking handlers are packed back onto one
//! worker per core. Both decisions are pure functions ([`to_retire`], [`to_release`]), tested
//! with made-up instants; [`Pool::reap`] gathers their inputs and carries them out.
//!
//! - **Reaper.** Every `reap_interval` the pool computes, for each `Running` worker with no
//!   connection, the instant it became idle (the latest of `last_idle`, its last hand-off and its
//!   start) and retires those idle for at least `worker_idle_timeout`, longest idle first, never
//!   below `min_workers`. A retiring worker takes no new connection; it exits when it holds none.
//! - **Consolidation.** On the same tick, workers whose connections have not blocked for
//!   `consolidate_after` (5 s), that were handed nothing for as long, and that are not in a
//!   callback are *quiet*; beyond the `available_parallelism` busiest quiet ones, each is sent
//!   `Release` (fewest connections first, never below `min_workers`). A released worker
//!   deregisters its connections and hands them back (a `Shed` without `isolate`); the acceptor
//!   places them by the usual rule (workers whose connections block stay avoided), and the
//!   emptied worker retires. So a burst of blocking does not leave a thread per connection
//!   behind, while connections that keep blocking stay isolated.

use std::time::{Duration, Instant};

use super::{Pool, ToWorker};
use crate::stats::WorkerState;
use crate::targets::PROXY;

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

/// An evented worker as consolidation sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QuietView {
    /// Index in the pool.
    pub(crate) index: usize,
    /// Connections it holds.
    pub(crate) conns: usize,
    /// Running, and neither handed a connection nor blocking for `consolidate_after`, nor in
    /// a callback now.
    pub(crate) quiet: bool,
}

/// Which quiet workers to release: all quiet workers holding connections beyond the `spread`
/// busiest of them, fewest connections first, at most `may_release` of them (so the pool
/// stays at `min_workers`).
pub(crate) fn to_release(workers: &[QuietView], spread: usize, may_release: usize) -> Vec<usize> {
    let mut quiet: Vec<(usize, usize)> = workers
        .iter()
        .filter(|w| w.quiet && w.conns > 0)
        .map(|w| (w.index, w.conns))
        .collect();
    if quiet.len() <= spread {
        return Vec::new();
    }
    // Keep the busiest; release the rest, fewest connections first.
    quiet.sort_by_key(|&(index, conns)| (std::cmp::Reverse(conns), index));
    quiet[spread..]
        .iter()
        .rev()
        .take(may_release)
        .map(|&(index, _)| index)
        .collect()
}

impl Pool {
    /// When the reaper runs next.
    pub(crate) fn next_reap(&self) -> Instant {
        self.next_reap
    }

    /// On the reap interval: retires idle workers, then releases quiet ones.
    pub(crate) fn reap(&mut self, now: Instant) {
        if now < self.next_reap {
            return;
        }
        self.next_reap = now + self.config.reap_interval;
        self.restart.settle(now);
        // A demoted worker (see `pool::monitor`) retires as soon as it holds nothing.
        let demoted: Vec<usize> = (0..self.workers.len())
            .filter(|&i| {
                let w = &self.workers[i];
                w.state == WorkerState::Running && w.load.is_demoted() && w.load.conns() == 0
            })
            .collect();
        for index in demoted {
            log::debug!(target: PROXY, "retiring demoted {}", self.workers[index].name);
            self.retire(index, ToWorker::Retire);
        }
        let clock = self.shared.clock;
        let views: Vec<IdleView> = self
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.state == WorkerState::Running)
            .map(|(index, w)| IdleView {
                index,
                idle_since: (w.load.conns() == 0).then(|| {
                    let last_idle = clock.instant(w.load.last_idle());
                    last_idle.max(w.last_handoff).max(w.started_at)
                }),
            })
            .collect();
        let live = self.live();
        let min = self.config.min_workers;
        let retire = to_retire(&views, live, min, now, self.config.worker_idle_timeout);
        let retiring = retire.len();
        for index in retire {
            log::debug!(target: PROXY, "retiring idle {}", self.workers[index].name);
            self.retire(index, ToWorker::Retire);
        }
        if self.config.factory.is_evented() && self.config.migrate {
            self.consolidate(now, (live - retiring).saturating_sub(min));
        }
    }

    fn consolidate(&mut self, now: Instant, may_release: usize) {
        let quiet_for = self.config.consolidate_after;
        let now_nanos = self.shared.clock.nanos(now);
        let quiet_nanos = quiet_for.as_nanos() as u64;
        let views: Vec<QuietView> = self
            .workers
            .iter()
            .enumerate()
            .map(|(index, w)| QuietView {
                index,
                conns: w.load.conns(),
                quiet: w.state == WorkerState::Running
                    && now.saturating_duration_since(w.last_handoff) >= quiet_for
                    && !w.load.in_callback()
                    && !w.load.blocked_within(now_nanos, quiet_nanos),
            })
            .collect();
        for index in to_release(&views, self.config.spread, may_release) {
            log::debug!(target: PROXY, "releasing {}: its connections have not blocked for {quiet_for:?}", self.workers[index].name);
            self.retire(index, ToWorker::Release);
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
    fn release_table() {
        let w = |index, conns, quiet| QuietView {
            index,
            conns,
            quiet,
        };
        type Row = (&'static str, Vec<QuietView>, usize, usize, Vec<usize>);
        let rows: Vec<Row> = vec![
            (
                "within spread",
                vec![w(0, 3, true), w(1, 1, true)],
                2,
                9,
                vec![],
            ),
            (
                "beyond spread, fewest first",
                vec![w(0, 3, true), w(1, 1, true), w(2, 2, true), w(3, 5, true)],
                2,
                9,
                vec![1, 2],
            ),
            (
                "never below min",
                vec![w(0, 3, true), w(1, 1, true), w(2, 2, true)],
                1,
                1,
                vec![1],
            ),
            (
                "busy workers stay and do not count",
                vec![w(0, 3, false), w(1, 1, true), w(2, 2, true)],
                1,
                9,
                vec![1],
            ),
            (
                "empty workers are the reaper's",
                vec![w(0, 3, true), w(1, 0, true)],
                1,
                9,
                vec![],
            ),
            (
                "ties by index",
                vec![w(0, 2, true), w(1, 2, true), w(2, 2, true)],
                1,
                9,
                vec![2, 1],
            ),
        ];
        for (name, workers, spread, may, want) in rows {
            assert_eq!(to_release(&workers, spread, may), want, "{name}");
        }
    }
}
