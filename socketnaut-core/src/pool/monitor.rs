//! The monitor: on the acceptor's thread, every `busy_threshold` while connections are open,
//! it looks for evented workers stuck inside one callback and takes their other connections
//! away, so that no connection waits behind another connection's slow callback for longer than
//! about the threshold, from the first slow callback on, whatever makes it slow.
//!
//! The anchor is the Go runtime's `sysmon`, which retakes the processor of a thread stuck in a
//! system call and hands it to another thread. Here the loop's state cannot move with a stuck
//! thread's stack, so what moves is the connections: a worker releases its connection table
//! (see `pool::worker::table`) for exactly the duration of each callback, and the monitor,
//! finding a worker whose callback has run too long with its table free, takes every other
//! connection in it (and the connections still queued to it), deregisters them from its poll
//! and hands them to the acceptor for placement: each on an empty worker when the stuck
//! thread is waiting (its neighbours may block too, as in a burst), by the usual
//! least-connections rule among the workers that are not busy when it computes (so fast
//! connections keep the few-threads path). The stuck thread keeps the connection it is serving and carries
//! on with it when the callback returns.
//!
//! When to take ([`should_take`]), by what the stuck thread is doing (`/proc`'s thread state):
//! - *waiting* (sleeping, blocked on I/O or a lock): more threads help at once, so after
//!   `busy_threshold` (2 ms by default);
//! - *running* (computing, or runnable but preempted): after [`COMPUTE_FACTOR`] thresholds
//!   (10 ms), about a scheduler time slice. Another thread helps a computing callback's
//!   neighbours too (the kernel runs it on another core, or time-slices), but a thread merely
//!   preempted for a few milliseconds on a busy machine would come back on its own, and moving
//!   its connections would only add threads.
//!
//! Taken connections count in `migrated`; the worker is marked as slow (`blocked_at`), so new
//! connections avoid it and consolidation leaves it alone for `consolidate_after`.
//!
//! # Computing callbacks run at the lowest priority
//!
//! Moving its neighbours gives a computing callback's neighbours a thread of their own, but on
//! a machine whose cores the computing callbacks fill, the kernel shares the CPU evenly among
//! all runnable threads, so fast connections (and their clients) still get a small share.
//! So a worker whose callback the monitor found computing lowers its own thread's priority to
//! the lowest (nice 19, through the `thread-priority` crate, as our crates forbid `unsafe`)
//! when the callback returns: the kernel then runs the short work of every other thread first
//! and the computing callbacks in the time left. Measured with `cargo bench --bench load --
//! cpu_heavy` (60 connections on `GET /` beside 4 computing 50 ms, five rounds, 2 cores): the
//! worst round's fast p99 went from 7.0–8.1 ms to 3.0 ms, fast throughput from 0.18 to 0.44 of
//! the same round without the heavy connections, while the heavy route went from 23–26 to 10
//! requests/s (it gets what the fast route leaves).
//!
//! A thread cannot raise its priority back without privileges, so demotion is one way: a
//! demoted worker counts as busy for placement (it takes a connection only when every worker
//! is busy and the pool is at `max_workers`), and retires as soon as it holds none (the pool
//! replaces it if it falls below `min_workers`).

use std::time::Duration;
use std::time::Instant;

use super::thread::Worker;
use super::{Pool, ToWorker};
use crate::shared::Shared;
use crate::stats::{Counters, WorkerState};
use crate::sys::{self, ThreadState};
use crate::targets::PROXY;

/// A running (computing or preempted) callback is taken from after this many busy thresholds.
pub(crate) const COMPUTE_FACTOR: u32 = 5;

/// Whether a callback that has run for `ran` on a thread in `state` has run long enough for
/// the monitor to take the worker's other connections.
pub(crate) fn should_take(ran: Duration, state: ThreadState, threshold: Duration) -> bool {
    match state {
        ThreadState::Waiting => ran >= threshold,
        ThreadState::Running | ThreadState::Unknown => ran >= threshold * COMPUTE_FACTOR,
    }
}

impl Pool {
    /// When the monitor should look next: every busy threshold while connections are open on
    /// evented workers that may migrate.
    pub(crate) fn next_monitor(&self, now: Instant) -> Option<Instant> {
        let watching = self.config.factory.is_evented()
            && self.config.migrate
            && self.shared.counters.active.get() > 0;
        watching.then(|| now + self.config.busy_threshold)
    }

    /// One look: the connections taken from stuck workers, to be placed elsewhere.
    pub(crate) fn monitor(&mut self, now: Instant) -> Vec<ToWorker> {
        let mut out = Vec::new();
        if !self.config.factory.is_evented() || !self.config.migrate {
            return out;
        }
        let now_nanos = self.shared.clock.nanos(now);
        let threshold = self.config.busy_threshold;
        for w in &mut self.workers {
            let Some((state, ran)) = judge(w, now_nanos, threshold) else {
                continue;
            };
            // Neighbours of a blocking callback may block too (a burst): each gets an empty
            // worker. Neighbours of a computing one are packed onto the workers that are not
            // busy, so fast connections keep the few-threads path.
            let isolate = state == ThreadState::Waiting;
            if !isolate {
                // Computing, alone or not: run at the lowest priority from now on.
                w.load.request_demotion();
            }
            if w.load.conns() < 2 {
                continue; // nobody to move
            }
            let taken = take_neighbours(w, &self.shared, now_nanos);
            if !taken.is_empty() {
                log::debug!(target: PROXY, "{}: a callback has run {ran:?}; moving its {} other connections", w.name, taken.len());
            }
            out.extend(taken.into_iter().map(|msg| match msg {
                ToWorker::Adopt { conn, .. } => ToWorker::Adopt { conn, isolate },
                other => other,
            }));
        }
        out
    }
}

/// Whether the monitor should act on worker `w` now: `Some` with its thread's state and how
/// long its callback has run when [`should_take`] says so. Reading the thread's state costs a
/// few microseconds, so it is read at most twice per slow callback (past the threshold, and
/// past a slice), and for a worker with no neighbour only once it could be demoted.
fn judge(w: &mut Worker, now_nanos: u64, threshold: Duration) -> Option<(ThreadState, Duration)> {
    if w.gone || w.state != WorkerState::Running {
        return None;
    }
    if !w
        .load
        .callback_longer_than(now_nanos, threshold.as_nanos() as u64)
    {
        return None;
    }
    let since = w.load.callback_since();
    let ran = Duration::from_nanos(now_nanos.saturating_sub(since));
    let slice = ran >= threshold * COMPUTE_FACTOR;
    if w.load.conns() < 2 && !slice {
        return None;
    }
    if w.looked == Some((since, slice)) || w.looked == Some((since, true)) {
        return None;
    }
    w.looked = Some((since, slice));
    let state = sys::thread_state(w.load.tid());
    should_take(ran, state, threshold).then_some((state, ran))
}

/// Takes every connection of `w` but the one in its callback (and those queued to it), as
/// `Adopt` and `Conn` messages for the acceptor, and accounts for them.
fn take_neighbours(w: &mut Worker, shared: &Shared, now_nanos: u64) -> Vec<ToWorker> {
    let Some(taken) = w.steal.as_ref().and_then(|s| s.take_idle()) else {
        return Vec::new(); // between callbacks after all
    };
    let queued = w.take_queued();
    let moved = taken.conns.len() + queued.len();
    let n = moved + taken.panicked;
    if n == 0 {
        return Vec::new();
    }
    w.load.remove(n, now_nanos);
    w.load.set_blocked(now_nanos);
    if taken.panicked > 0 {
        Counters::add(&shared.counters.panics, taken.panicked as u64);
        shared.connections_closed(taken.panicked);
        log::error!(target: PROXY, "{}: {} connections' socket() panicked while being moved; closed", w.name, taken.panicked);
    }
    Counters::add(&shared.counters.migrated, moved as u64);
    taken
        .conns
        .into_iter()
        .map(|conn| ToWorker::Adopt {
            conn,
            isolate: true,
        })
        .chain(queued)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_to_take() {
        let ms = Duration::from_millis;
        let t = ms(2);
        let rows = [
            (
                ms(1),
                ThreadState::Waiting,
                false,
                "waiting, under the threshold",
            ),
            (
                ms(2),
                ThreadState::Waiting,
                true,
                "waiting, at the threshold",
            ),
            (
                ms(3),
                ThreadState::Running,
                false,
                "running, a few ms: maybe preempted",
            ),
            (ms(9), ThreadState::Running, false, "running, under a slice"),
            (
                ms(10),
                ThreadState::Running,
                true,
                "running a slice: computing",
            ),
            (
                ms(10),
                ThreadState::Unknown,
                true,
                "unknown counts as running",
            ),
            (ms(5), ThreadState::Unknown, false, "unknown, under a slice"),
        ];
        for (ran, state, want, why) in rows {
            assert_eq!(should_take(ran, state, t), want, "{why}");
        }
    }
}
