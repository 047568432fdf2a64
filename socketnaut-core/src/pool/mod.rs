//! The [`Pool`]: the worker set and everything decided about it. It places connections
//! (`balance`), starts workers, keeps `min_workers` alive and replaces the dead with backoff
//! (`supervise`), retires idle workers and releases spread-out ones (`reap`), and publishes
//! the set for `stats()`. It lives on the acceptor thread, the only thread that changes the
//! set; workers only publish their [`WorkerLoad`](load::WorkerLoad).
//!
//! # Worker states
//!
//! ```text
//!   spawn → Starting ──factory ok──→ Running ──reaper: idle ≥ worker_idle_timeout──→ Retiring → exit
//!              │                        │   └─consolidation: quiet, beyond `spread`─→ Retiring (Release) → exit
//!              └─factory failed─→ exit  └─shutdown─→ Draining → exit
//! ```
//!
//! A worker whose thread died (a panic outside the per-connection guard) is replaced with
//! exponential backoff; one whose start failed is replaced the same way, and while the initial
//! set has not started, `ready()` reports the failure.

pub(crate) mod balance;
pub(crate) mod load;
pub(crate) mod monitor;
mod reap;
mod slab;
mod supervise;
mod thread;
pub(crate) mod worker;

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use balance::{choose, Candidate, Choice, Rules};
use supervise::Backoff;
use thread::Worker;
pub(crate) use worker::{Shed, ToWorker};

use crate::config::Config;
use crate::error::StartError;
use crate::report::{WorkerOutcome, WorkerReport};
use crate::shared::{Lifecycle, Shared, WorkerView};
use crate::stats::{Counters, WorkerState};
use crate::targets::PROXY;

/// The worker set and the decisions about it.
pub(crate) struct Pool {
    config: Arc<Config>,
    shared: Arc<Shared>,
    workers: Vec<Worker>,
    next_id: usize,
    /// The rotation point for ties in the balancing choice.
    cursor: usize,
    /// Reused for every placement.
    candidates: Vec<Candidate>,
    restart: Backoff,
    /// Worker losses not yet made good by a replacement.
    owed_replacements: usize,
    /// Given to every evented worker, for the connections it sheds.
    shed: Sender<Shed>,
    next_reap: Instant,
    /// The set or a state changed since the last `publish`.
    dirty: bool,
}

impl Pool {
    pub(crate) fn new(
        config: Arc<Config>,
        shared: Arc<Shared>,
        shed: Sender<Shed>,
        now: Instant,
    ) -> Pool {
        Pool {
            shed,
            restart: Backoff::new(config.restart_backoff.0, config.restart_backoff.1),
            next_reap: now + config.reap_interval,
            config,
            shared,
            workers: Vec::new(),
            next_id: 0,
            cursor: 0,
            candidates: Vec::new(),
            owed_replacements: 0,
            dirty: false,
        }
    }

    /// Starts the initial `min_workers` workers.
    pub(crate) fn start(&mut self, now: Instant) {
        for _ in 0..self.config.min_workers {
            self.spawn(now, true);
        }
        self.update_readiness();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Workers counted against `min_workers`.
    fn live(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| matches!(w.state, WorkerState::Starting | WorkerState::Running))
            .count()
    }

    /// Workers counted against `max_workers` (a retiring thread still exists).
    fn existing(&self) -> usize {
        self.workers.len()
    }

    fn worker_mut(&mut self, id: usize) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.id == id)
    }

    /// Hands a connection to a worker, spawning one if the policy says so and `may_grow`.
    /// Gives it back when no worker can take it now.
    pub(crate) fn place(
        &mut self,
        mut msg: ToWorker,
        prefer_empty: bool,
        may_grow: bool,
        now: Instant,
    ) -> Result<(), ToWorker> {
        loop {
            let now_nanos = self.shared.clock.nanos(now);
            let threshold = self.config.busy_threshold.as_nanos() as u64;
            // A worker whose callback blocked is avoided for as long as consolidation waits
            // before packing connections back, so the two agree on what "blocking" means.
            let memory = self.config.consolidate_after.as_nanos() as u64;
            let evented = self.config.factory.is_evented();
            self.candidates.clear();
            self.candidates
                .extend(self.workers.iter().map(|w| Candidate {
                    conns: w.load.conns(),
                    // A demoted worker (see `monitor`) is always busy: taken only when every
                    // worker is and the pool is at `max_workers`.
                    busy: evented
                        && (w.load.callback_longer_than(now_nanos, threshold)
                            || w.load.blocked_within(now_nanos, memory)
                            || w.load.is_demoted()),
                    accepting: !w.gone
                        && matches!(w.state, WorkerState::Starting | WorkerState::Running),
                }));
            let rules = Rules {
                evented,
                can_spawn: may_grow
                    && self.existing() < self.config.max_workers
                    && self.restart.allows(now),
                spread: self.config.spread,
                prefer_empty,
            };
            let index = match choose(
                self.config.balance,
                &self.candidates,
                &mut self.cursor,
                rules,
            ) {
                Choice::Worker(i) => i,
                Choice::Spawn => match self.spawn(now, false) {
                    Some(i) => i,
                    None => continue, // backoff now forbids spawning; choose again
                },
                Choice::Full => return Err(msg),
            };
            match self.workers[index].hand_off(msg, now, now_nanos) {
                Ok(()) => return Ok(()),
                // Its thread is gone (now marked so); its exit message is on the way.
                Err(back) => msg = back,
            }
        }
    }

    /// Hands a connection to any worker whose thread still runs (during shutdown, where it
    /// is drained with the rest). Gives it back if there is none.
    pub(crate) fn hand_to_any(&mut self, msg: ToWorker, now: Instant) -> Result<(), ToWorker> {
        let now_nanos = self.shared.clock.nanos(now);
        match self.workers.iter_mut().find(|w| !w.is_finished()) {
            Some(w) => w.hand_off(msg, now, now_nanos),
            None => Err(msg),
        }
    }

    /// Starts a worker; returns its index, or `None` (and backs off) if the thread or its poll
    /// could not be made.
    fn spawn(&mut self, now: Instant, initial: bool) -> Option<usize> {
        let id = self.next_id;
        self.next_id += 1;
        match thread::spawn(id, &self.config, &self.shared, &self.shed, now, initial) {
            Ok(worker) => {
                log::debug!(target: PROXY, "spawned {}", worker.name);
                self.workers.push(worker);
                self.dirty = true;
                Some(self.workers.len() - 1)
            }
            Err(e) => {
                Counters::add(&self.shared.counters.spawn_failures, 1);
                self.restart.fail(now);
                log::error!(target: PROXY, "could not start a worker: {e}");
                if initial {
                    self.shared
                        .set_lifecycle(Lifecycle::Failed(StartError::WorkerFailed {
                            worker: id,
                            message: e.to_string(),
                        }));
                }
                None
            }
        }
    }

    /// Marks a worker retiring and tells it how: `Retire` (exit when empty) or `Release` (hand
    /// the connections back first).
    fn retire(&mut self, index: usize, how: ToWorker) {
        let worker = &mut self.workers[index];
        worker.state = WorkerState::Retiring;
        self.dirty = true;
        // A worker already gone will be accounted for by its exit message.
        let _ = worker.send(how);
    }

    /// The shutdown sequence's first step for the pool: every worker drains.
    pub(crate) fn drain(&mut self) {
        for w in &mut self.workers {
            w.state = WorkerState::Draining;
            let _ = w.send(ToWorker::Drain);
        }
        self.dirty = true;
    }

    /// The drain deadline passed: every worker closes what it holds now.
    pub(crate) fn force(&self) {
        log::warn!(target: PROXY, "drain deadline passed; force-closing {} workers", self.workers.len());
        for w in &self.workers {
            let _ = w.send(ToWorker::Force);
            w.force_close_serving();
        }
    }

    /// Gives up on the workers still running after the forced close.
    pub(crate) fn abandon(&mut self) -> Vec<WorkerReport> {
        self.dirty = true;
        self.workers
            .drain(..)
            .map(|w| {
                log::error!(target: PROXY, "{} did not stop after the forced close; abandoning it", w.name);
                WorkerReport {
                    id: w.id,
                    name: w.name.to_string(),
                    outcome: WorkerOutcome::Abandoned,
                }
            })
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.workers.len()
    }

    /// Publishes the set for `stats()` if it changed.
    pub(crate) fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        *self.shared.workers.lock() = self
            .workers
            .iter()
            .map(|w| WorkerView {
                id: w.id,
                name: w.name.clone(),
                load: w.load.clone(),
                state: w.state,
            })
            .collect();
    }
}
