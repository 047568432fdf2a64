//! The hub every thread of a proxy holds: its lifecycle (what `ready()` and `wait()` block
//! on), the draining flag, the counters, the clock, the acceptor's inbox and the published
//! worker views. It imports nothing of the runtime but the message type it carries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use mio::Waker;
use parking_lot::{Condvar, Mutex};

use crate::clock::Clock;
use crate::error::StartError;
use crate::pool::{ToAcceptor, WorkerLoad};
use crate::report::WorkerReport;
use crate::stats::{Counters, WorkerState};
use crate::targets::PROXY;

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
    pub(crate) draining: AtomicBool,
    /// Set by the acceptor when it waits for capacity (a connection to close); the first worker
    /// that closes one clears it and wakes the acceptor.
    pub(crate) wants_wake: AtomicBool,
    to_acceptor: Sender<ToAcceptor>,
    waker: Waker,
    lifecycle: Mutex<Lifecycle>,
    changed: Condvar,
    pub(crate) workers: Mutex<Vec<WorkerView>>,
}

impl Shared {
    pub(crate) fn new(
        local_addr: SocketAddr,
        to_acceptor: Sender<ToAcceptor>,
        waker: Waker,
    ) -> Shared {
        Shared {
            clock: Clock::new(),
            counters: Counters::default(),
            local_addr,
            draining: AtomicBool::new(false),
            wants_wake: AtomicBool::new(false),
            to_acceptor,
            waker,
            lifecycle: Mutex::new(Lifecycle::Starting),
            changed: Condvar::new(),
            workers: Mutex::new(Vec::new()),
        }
    }

    /// Sends a message to the acceptor and wakes it. A send after the acceptor has stopped is
    /// dropped: there is nobody left to act on it.
    pub(crate) fn notify(&self, msg: ToAcceptor) {
        if self.to_acceptor.send(msg).is_ok() {
            if let Err(e) = self.waker.wake() {
                log::error!(target: PROXY, "waking the acceptor: {e}");
            }
        }
    }

    /// Wakes the acceptor if it waits for capacity.
    pub(crate) fn wake_if_waiting(&self) {
        // SeqCst: pairs with the acceptor's store-then-recheck (a Dekker-style handshake): either
        // this swap sees its `true`, or its recheck sees the count this thread just lowered.
        if self.wants_wake.swap(false, Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                log::error!(target: PROXY, "waking the acceptor: {e}");
            }
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
