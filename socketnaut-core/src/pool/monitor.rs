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
//! connections keep the few-threads path). The stuck thread keeps the connection it is
//! serving and carries on with it when the callback returns.
//!
//! When to act ([`verdict`]), by what the stuck thread is doing (its state and CPU time in
//! `/proc`):
//! - *waiting* (sleeping, blocked on I/O or a lock): more threads help at once, so after
//!   `busy_threshold` (2 ms by default) its neighbours move, each to an empty worker;
//! - *computing*: after [`COMPUTE_FACTOR`] thresholds (10 ms, about a scheduler time slice) and
//!   a threshold of CPU time used since the first look, its neighbours are packed onto the
//!   workers that are not busy and its thread is demoted (below). Another thread helps a
//!   computing callback's neighbours too (the kernel runs it on another core, or time-slices);
//! - *runnable but preempted* (running long in wall time, little CPU): left alone. On a busy
//!   machine such a thread comes back on its own, and moving its connections would only add
//!   threads.
//!
//! Connections move only where there is room: the pool is below `max_workers`, or some worker
//! is not busy. An overloaded fixed pool is not shuffled (that would only make waits unfair).
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
//! cpu_heavy` (60 connections on `GET /` beside 4 computing 50 ms, five rounds, 2 cores),
//! 2026-12-02: at commit 47ae0c5 (neighbours moved, no demotion) the worst round's fast p99
//! was 7.0–8.1 ms and fast throughput 0.18 of the same round without the heavy connections,
//! the heavy route 23–26 requests/s; with demotion (this code) 2.1–2.3 ms and 0.63–0.71 over
//! four runs, the heavy route 7–15 requests/s (it gets what the fast route leaves).
//!
//! A thread cannot raise its priority back without privileges, so demotion is one way: a
//! demoted worker counts as busy for placement (it takes a connection only when every worker
//! is busy and the pool is at `max_workers`), and retires as soon as it holds none (the pool
//! replaces it if it falls below `min_workers`).

use std::time::Duration;
use std::time::Instant;

use super::load::COMPUTE_FACTOR;
use super::thread::Worker;
use super::{Pool, ToWorker};
use crate::shared::Shared;
use crate::stats::{Counters, WorkerState};
use crate::sys::{self, ThreadState};
use crate::targets::PROXY;

/// What the monitor does about a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing yet: look again next tick.
    Wait,
    /// The thread waits (sleeps, blocks): move its neighbours, each to an empty worker.
    Move,
    /// The thread computes: lower its priority, and pack its neighbours onto the workers that
    /// are not busy.
    Demote,
}

/// The verdict on a callback that has run `ran` (wall time) on a thread in `state`, which has
/// used `cpu` of CPU time since the monitor first looked at this callback (`None` if unknown).
///
/// A running thread is computing only if it has both run a slice ([`COMPUTE_FACTOR`] busy
/// thresholds) and used a busy threshold of CPU since the first look: a short callback
/// preempted on a saturated machine runs long in wall time but uses little CPU, and moving its
/// neighbours or lowering its priority would not help anybody.
pub(crate) fn verdict(
    ran: Duration,
    state: ThreadState,
    cpu: Option<Duration>,
    threshold: Duration,
) -> Verdict {
    match state {
        ThreadState::Waiting if ran >= threshold => Verdict::Move,
        ThreadState::Running | ThreadState::Unknown
            if ran >= threshold * COMPUTE_FACTOR && cpu.is_some_and(|c| c >= threshold) =>
        {
            Verdict::Demote
        }
        _ => Verdict::Wait,
    }
}

/// The monitor's notes on a worker's current slow callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Look {
    /// The callback (its start).
    since: u64,
    /// The thread's CPU time at the first look.
    cpu: Option<Duration>,
    /// Acted on: nothing more to do for this callback.
    decided: bool,
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
        // Moving connections helps only where they can go: a new worker, or one that is not
        // busy. A pool at `max_workers` whose every worker is busy is simply overloaded, and
        // shuffling its connections would only make waits unfair.
        let room = self.workers.len() < self.config.max_workers
            || self.workers.iter().any(|w| {
                w.state == WorkerState::Running
                    && !w.gone
                    && !w.load.is_demoted()
                    && !w
                        .load
                        .callback_longer_than(now_nanos, threshold.as_nanos() as u64)
            });
        if !room {
            return out;
        }
        for w in &mut self.workers {
            let Some((verdict, ran)) = judge(w, now_nanos, threshold) else {
                continue;
            };
            // Neighbours of a blocking callback may block too (a burst): each gets an empty
            // worker. Neighbours of a computing one are packed onto the workers that are not
            // busy, so fast connections keep the few-threads path.
            let isolate = verdict == Verdict::Move;
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

/// Whether the monitor should act on worker `w` now: `Some` with its [`verdict`] and how long
/// its callback has run. Reading the thread's state and CPU time costs a few microseconds:
/// only callbacks past the threshold are looked at (and a worker without neighbours only once
/// it has run two slices, when it could be demoted), each until it is decided.
fn judge(w: &mut Worker, now_nanos: u64, threshold: Duration) -> Option<(Verdict, Duration)> {
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
    // A worker without neighbours matters only if it computes (to demote it); looking at it
    // from two slices on spares the reads for the many lone workers of a blocking workload.
    if w.load.conns() < 2 && ran < threshold * COMPUTE_FACTOR * 2 {
        return None;
    }
    let tid = w.load.tid();
    let look = match w.looked {
        Some(look) if look.since == since => look,
        _ => Look {
            since,
            cpu: sys::thread_cpu(tid),
            decided: false,
        },
    };
    if look.decided {
        return None;
    }
    let cpu = sys::thread_cpu(tid)
        .zip(look.cpu)
        .map(|(now, first)| now.saturating_sub(first));
    let v = verdict(ran, sys::thread_state(tid), cpu, threshold);
    w.looked = Some(Look {
        decided: v != Verdict::Wait,
        ..look
    });
    (v != Verdict::Wait).then_some((v, ran))
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
    fn verdicts() {
        let ms = Duration::from_millis;
        let t = ms(2);
        use ThreadState::*;
        use Verdict::*;
        let rows = [
            (ms(1), Waiting, None, Wait, "waiting, under the threshold"),
            (ms(2), Waiting, None, Move, "waiting, at the threshold"),
            (
                ms(3),
                Running,
                Some(ms(1)),
                Wait,
                "running, a few ms: maybe preempted",
            ),
            (ms(9), Running, Some(ms(7)), Wait, "running, under a slice"),
            (
                ms(10),
                Running,
                Some(ms(8)),
                Demote,
                "a slice, computing all along",
            ),
            (
                ms(10),
                Running,
                Some(ms(2)),
                Demote,
                "a slice and a threshold of CPU: computing, though starved",
            ),
            (
                ms(30),
                Running,
                Some(ms(1)),
                Wait,
                "long but little CPU: preempted on a busy machine",
            ),
            (
                ms(10),
                Unknown,
                Some(ms(5)),
                Demote,
                "an unknown state counts as running",
            ),
            (
                ms(10),
                Running,
                None,
                Wait,
                "no CPU figure: not judged computing",
            ),
        ];
        for (ran, state, cpu, want, why) in rows {
            assert_eq!(verdict(ran, state, cpu, t), want, "{why}");
        }
    }
}
