//! Supervision: worker threads reporting in (started, failed to start, exited), replacing the
//! dead with exponential backoff, keeping `min_workers` alive, and telling `ready()` when the
//! initial set is up or why it is not.
//!
//! - Panics in `BlockingServer::serve`, `EventedServer::open` and every `EventedConnection`
//!   method are caught where they happen (in `pool::worker`), logged, counted, and cost that
//!   connection only. A panic anywhere else (the `after_events` hook, the loop itself) kills the
//!   worker thread. A drop guard in the thread sends `Exited` even while unwinding; [`on_exit`]
//!   joins the thread (getting the panic message), recovers connections still queued to it for
//!   re-placement, subtracts the ones that died with it from `active`, and owes a replacement.
//! - Replacements and failed starts go through an exponential backoff ([`Backoff`]: 100 ms
//!   doubling to 10 s by default), forgotten after twice the maximum without failure. A factory
//!   that always fails therefore costs a few attempts per ten seconds, and `ready()` returns its
//!   error instead of hanging.
//!
//! [`on_exit`]: Pool::on_exit

use std::time::{Duration, Instant};

use super::{Pool, ToWorker};
use crate::error::StartError;
use crate::report::{WorkerOutcome, WorkerReport};
use crate::shared::Lifecycle;
use crate::stats::{Counters, WorkerState};
use crate::targets::PROXY;

/// What an exited worker leaves behind.
pub(crate) struct Exited {
    /// Connections still queued to it, to be placed elsewhere.
    pub(crate) queued: Vec<ToWorker>,
    /// During shutdown: how it ended.
    pub(crate) report: Option<WorkerReport>,
}

impl Pool {
    /// A worker's factory returned a server.
    pub(crate) fn on_started(&mut self, id: usize) {
        if let Some(w) = self.worker_mut(id) {
            if w.state == WorkerState::Starting {
                w.state = WorkerState::Running;
            }
        }
        self.dirty = true;
        self.update_readiness();
    }

    /// A worker's start hook or factory failed; its thread exits next.
    pub(crate) fn on_start_failed(&mut self, id: usize, message: String, now: Instant) {
        Counters::add(&self.shared.counters.spawn_failures, 1);
        self.restart.fail(now);
        if let Some(w) = self.worker_mut(id) {
            w.start_failure = Some(message);
        }
        self.update_readiness();
    }

    /// A worker thread said it is ending: join it, account for what it held, and decide whether
    /// it must be replaced (not during shutdown, which reports it instead).
    pub(crate) fn on_exit(&mut self, id: usize, now: Instant, shutting_down: bool) -> Exited {
        let Some(index) = self.workers.iter().position(|w| w.id == id) else {
            return Exited {
                queued: Vec::new(),
                report: None,
            };
        };
        let mut worker = self.workers.remove(index);
        self.dirty = true;
        let joined = worker.join();
        let queued: Vec<ToWorker> = worker
            .recover_queued()
            .into_iter()
            .filter(ToWorker::is_connection)
            .collect();
        let lost = worker.load.conns().saturating_sub(queued.len());
        if lost > 0 {
            self.shared
                .closed_unserved(lost, &self.shared.counters.lost_to_worker_death);
            log::error!(target: PROXY, "{}: {lost} connections closed with the worker", worker.name);
        }
        if shutting_down {
            let outcome = match joined {
                Ok(()) => WorkerOutcome::Clean,
                Err(message) => WorkerOutcome::Panicked(message),
            };
            let report = WorkerReport {
                id,
                name: worker.name.to_string(),
                outcome,
            };
            return Exited {
                queued,
                report: Some(report),
            };
        }
        match (worker.start_failure.is_some(), worker.state, joined) {
            (true, _, _) => self.owed_replacements += 1,
            (false, WorkerState::Retiring, Ok(())) => {
                Counters::add(&self.shared.counters.retired, 1);
                log::debug!(target: PROXY, "retired {}", worker.name);
            }
            (false, _, result) => {
                match result {
                    Err(message) => log::error!(target: PROXY, "{} died: {message}", worker.name),
                    Ok(()) => log::error!(target: PROXY, "{} stopped unexpectedly", worker.name),
                }
                self.restart.fail(now);
                self.owed_replacements += 1;
            }
        }
        Exited {
            queued,
            report: None,
        }
    }

    /// Keeps the pool at `min_workers`, within the restart backoff.
    pub(crate) fn keep_minimum(&mut self, now: Instant) {
        while self.live() < self.config.min_workers
            && self.existing() < self.config.max_workers
            && self.restart.allows(now)
        {
            if self.spawn(now, false).is_none() {
                break;
            }
            if self.owed_replacements > 0 {
                self.owed_replacements -= 1;
                Counters::add(&self.shared.counters.replaced, 1);
            }
        }
    }

    /// When the acceptor should look again for a spawn the backoff holds up: only while the
    /// pool is short of `min_workers` or connections wait for a worker.
    pub(crate) fn restart_wait(&self, now: Instant, waiting: bool) -> Option<Instant> {
        if self.live() < self.config.min_workers || waiting {
            self.restart.wait_until(now)
        } else {
            None
        }
    }

    pub(super) fn update_readiness(&mut self) {
        let running = self
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Running)
            .count();
        if running >= self.config.min_workers {
            if !self.shared.is_ready() {
                log::info!(target: PROXY, "ready with {running} workers");
                self.shared.set_lifecycle(Lifecycle::Ready);
            }
            return;
        }
        let failed = self
            .workers
            .iter()
            .filter(|w| w.initial)
            .find_map(|w| w.start_failure.as_ref().map(|m| (w.id, m.clone())));
        if let Some((worker, message)) = failed {
            self.shared
                .set_lifecycle(Lifecycle::Failed(StartError::WorkerFailed {
                    worker,
                    message,
                }));
        }
    }
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
