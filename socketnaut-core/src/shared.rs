//! The hub every thread of a proxy holds: its lifecycle (what `ready()` and `wait()` block
//! on), the draining flag, the counters, the clock, the acceptor's inbox and the published
//! worker views. It imports nothing of the runtime but the message type it carries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::acceptor::inbox::{Inbox, ToAcceptor};
use crate::clock::Clock;
use crate::error::StartError;
use crate::pool::load::WorkerLoad;
use crate::report::WorkerReport;
use crate::stats::{Counters, Stats, WorkerState, WorkerStats};

/// Where the proxy is in its life; `ready()` and `wait()` block on changes to it.
#[derive(Debug)]
pub(crate) enum Lifecycle {
    Starting,
    Ready,
    Failed(StartError),
    Stopped(Vec<WorkerReport>),
}

/// A worker as `stats()` sees it; published by the acceptor whenever the set or a state changes.
pub(crate) struct WorkerView {
    pub(crate) id: usize,
    pub(crate) name: Arc<str>,
    pub(crate) load: Arc<WorkerLoad>,
    pub(crate) state: WorkerState,
}

/// State shared by the handle, the acceptor and the workers.
pub(crate) struct Shared {
    pub(crate) clock: Clock,
    pub(crate) counters: Counters,
    pub(crate) local_addr: SocketAddr,
    /// The `service` label of the proxy's figures.
    pub(crate) service_name: Arc<str>,
    /// Set once when shutdown begins; read as a hint between requests (the drain message that
    /// follows is the synchronising event).
    draining: AtomicBool,
    /// When the drain ends by force (set with `draining`; moved earlier by a later, shorter
    /// shutdown).
    drain_deadline: Mutex<Option<Instant>>,
    inbox: Inbox,
    lifecycle: Mutex<Lifecycle>,
    changed: Condvar,
    /// The worker set as `stats()` shows it, published by the pool when it changes.
    pub(crate) workers: Mutex<Vec<WorkerView>>,
}

impl Shared {
    pub(crate) fn new(local_addr: SocketAddr, service_name: Arc<str>, inbox: Inbox) -> Shared {
        Shared {
            clock: Clock::new(),
            counters: Counters::default(),
            local_addr,
            service_name,
            draining: AtomicBool::new(false),
            drain_deadline: Mutex::new(None),
            inbox,
            lifecycle: Mutex::new(Lifecycle::Starting),
            changed: Condvar::new(),
            workers: Mutex::new(Vec::new()),
        }
    }

    /// Sends a message to the acceptor and wakes it.
    pub(crate) fn notify(&self, msg: ToAcceptor) {
        self.inbox.send(msg);
    }

    /// Wakes the acceptor, after a send on a channel other than its inbox.
    pub(crate) fn wake_acceptor(&self) {
        self.inbox.wake();
    }

    /// Worker: `n` connections closed. Wakes the acceptor if it waits for capacity.
    pub(crate) fn connections_closed(&self, n: usize) {
        self.counters.active.closed(n);
        self.inbox.wake_if_waiting();
    }

    /// Acceptor: closed `n` accepted connections without serving them, counted in `why`.
    pub(crate) fn closed_unserved(&self, n: usize, why: &AtomicU64) {
        self.counters.active.closed(n);
        Counters::add(why, n as u64);
    }

    /// Acceptor, at capacity: asks to be woken when a connection closes. The caller then
    /// re-reads `counters.active` (see [`Active`](crate::stats::Active)).
    pub(crate) fn want_capacity_wake(&self) {
        self.inbox.want_wake();
    }

    /// The drain begins (or its deadline moves earlier): `None` when there is no deadline to
    /// give (the acceptor died).
    pub(crate) fn begin_draining(&self, deadline: Option<Instant>) {
        *self.drain_deadline.lock() = deadline;
        // Relaxed: see the field.
        self.draining.store(true, Ordering::Relaxed);
    }

    pub(crate) fn drain_deadline(&self) -> Option<Instant> {
        *self.drain_deadline.lock()
    }

    pub(crate) fn is_draining(&self) -> bool {
        // Relaxed: see the field.
        self.draining.load(Ordering::Relaxed)
    }

    /// A snapshot of the pool and the counters (fields may be mutually a moment apart).
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = Counters::get;
        let workers = self
            .workers
            .lock()
            .iter()
            .map(|w| WorkerStats {
                id: w.id,
                name: w.name.to_string(),
                connections: w.load.conns(),
                state: w.state,
                in_callback: w.load.in_callback(),
                demoted: w.load.is_demoted(),
            })
            .collect();
        Stats {
            workers,
            accepted: get(&c.accepted),
            active: c.active.get(),
            pending: c.pending.load(Ordering::Relaxed),
            rejected: get(&c.rejected),
            spawned: get(&c.spawned),
            retired: get(&c.retired),
            replaced: get(&c.replaced),
            panics: get(&c.panics),
            spawn_failures: get(&c.spawn_failures),
            accept_errors: get(&c.accept_errors),
            migrated: get(&c.migrated),
            consolidated: get(&c.consolidated),
            lost_to_worker_death: get(&c.lost_to_worker_death),
            proxy_header_errors: get(&c.proxy_header_errors),
        }
    }

    pub(crate) fn set_lifecycle(&self, next: Lifecycle) {
        *self.lifecycle.lock() = next;
        self.changed.notify_all();
    }

    pub(crate) fn is_ready(&self) -> bool {
        matches!(*self.lifecycle.lock(), Lifecycle::Ready)
    }

    /// Blocks until the proxy is ready, failed or stopped, or `deadline` passes.
    pub(crate) fn wait_ready(&self, deadline: Option<Instant>) -> Result<(), StartError> {
        let mut state = self.lifecycle.lock();
        loop {
            match &*state {
                Lifecycle::Ready => return Ok(()),
                Lifecycle::Failed(e) => return Err(e.clone()),
                Lifecycle::Stopped(_) => return Err(StartError::ShutDown),
                Lifecycle::Starting => {}
            }
            match deadline {
                None => self.changed.wait(&mut state),
                Some(d) => {
                    if self.changed.wait_until(&mut state, d).timed_out() {
                        return Err(StartError::TimedOut);
                    }
                }
            }
        }
    }

    /// Blocks until the proxy has stopped; returns the worker reports.
    pub(crate) fn wait_stopped(&self) -> Vec<WorkerReport> {
        let mut state = self.lifecycle.lock();
        loop {
            if let Lifecycle::Stopped(reports) = &*state {
                return reports.clone();
            }
            self.changed.wait(&mut state);
        }
    }
}
