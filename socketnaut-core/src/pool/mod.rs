//! The worker set as the acceptor thread holds it: spawning, the per-worker load that workers
//! publish, and the messages between the acceptor and the workers. The acceptor is the only
//! thread that changes the set; see docs/ARCHITECTURE.md for the states and counters.

pub(crate) mod reap;
mod slab;
mod worker;

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::{Poll, Waker};
use parking_lot::Mutex;

use crate::agent::ServiceAgent;
use crate::config::Config;
use crate::connection::Connection;
use crate::server::EventedConnection;
use crate::shared::Shared;
use crate::stats::{Counters, WorkerState};
use crate::targets::PROXY;

/// The waker's token on an evented worker's poll; connection tokens (see `slab`) never equal it.
pub(crate) const WORKER_WAKER: mio::Token = mio::Token(usize::MAX);

/// What one worker publishes about itself for the acceptor's choices and for [`crate::Stats`].
#[derive(Debug)]
pub(crate) struct WorkerLoad {
    /// Connections held or queued: the acceptor adds on hand-off, the worker subtracts on close
    /// or migration.
    pub(crate) conns: AtomicUsize,
    /// Evented: clock reading when the running callback began, 0 when none runs.
    pub(crate) busy_since: AtomicU64,
    /// Evented: clock reading when a callback last blocked past the busy threshold, 0 if never.
    pub(crate) blocked_at: AtomicU64,
    /// Clock reading when `conns` last fell to 0.
    pub(crate) last_idle: AtomicU64,
    /// Evented: the worker is (about to be) asleep in `poll` and needs its waker to see a
    /// message. While it runs, it checks its channel every iteration, so senders skip the wake
    /// (a syscall) then.
    pub(crate) parked: AtomicBool,
    /// Blocking: a clone of the socket being served, so the acceptor can force it closed at the
    /// drain deadline.
    pub(crate) serving: Mutex<Option<TcpStream>>,
}

impl WorkerLoad {
    fn new(now: u64) -> WorkerLoad {
        WorkerLoad {
            conns: AtomicUsize::new(0),
            busy_since: AtomicU64::new(0),
            blocked_at: AtomicU64::new(0),
            last_idle: AtomicU64::new(now),
            parked: AtomicBool::new(true),
            serving: Mutex::new(None),
        }
    }
}

/// Acceptor → worker.
pub(crate) enum ToWorker {
    /// A newly accepted connection.
    Conn(Connection),
    /// A connection moving from another (evented) worker. `isolate`: it is leaving a worker
    /// whose callback blocked, so it wants an empty worker; otherwise it is being packed onto
    /// fewer workers.
    Adopt {
        conn: Box<dyn EventedConnection>,
        isolate: bool,
    },
    /// Exit once no connection is held (the reaper's choice).
    Retire,
    /// Evented: hand every connection back to the acceptor, then exit (consolidation).
    Release,
    /// Shut down: finish in-flight work, close idle connections, exit.
    Drain,
    /// The drain deadline passed: close everything now and exit.
    Force,
}

/// Worker or handle → acceptor. Every send is followed by a wake of the acceptor's poll.
pub(crate) enum ToAcceptor {
    /// The factory returned a server.
    Started { id: usize },
    /// The start hook or factory failed.
    StartFailed { id: usize, message: String },
    /// The worker thread is ending (sent from a drop guard, so also while unwinding).
    Exited { id: usize },
    /// An evented worker hands these connections back for placement: because a callback
    /// blocked (`isolate`), or because it was released.
    Shed {
        id: usize,
        conns: Vec<Box<dyn EventedConnection>>,
        isolate: bool,
    },
    /// Begin the shutdown sequence; force-close at `deadline`.
    Shutdown { deadline: Instant },
}

/// A worker as the acceptor holds it.
pub(crate) struct Worker {
    pub(crate) id: usize,
    pub(crate) name: Arc<str>,
    pub(crate) load: Arc<WorkerLoad>,
    pub(crate) state: WorkerState,
    pub(crate) started_at: Instant,
    /// Last time the acceptor handed it a connection.
    pub(crate) last_handoff: Instant,
    /// One of the `min_workers` started with the proxy: its start decides `ready()`.
    pub(crate) initial: bool,
    pub(crate) start_failure: Option<String>,
    tx: Sender<ToWorker>,
    /// Kept so connections still queued to a worker that died can be recovered.
    rx: Receiver<ToWorker>,
    waker: Option<Arc<Waker>>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Sends a message, waking an evented worker's poll.
    ///
    /// # Errors
    ///
    /// Gives the message back if the worker's thread is gone.
    pub(crate) fn send(&self, msg: ToWorker) -> Result<(), ToWorker> {
        self.tx.send(msg).map_err(|e| e.0)?;
        // SeqCst fence: pairs with the worker's fence between setting `parked` and checking its
        // channel. Either this load sees `parked`, or the worker's check sees the message.
        // Swap, not load: the first sender to find the worker parked wakes it; later ones
        // (before it runs and drains its whole channel) need not.
        fence(Ordering::SeqCst);
        if let Some(waker) = self
            .waker
            .as_ref()
            .filter(|_| self.load.parked.swap(false, Ordering::Relaxed))
        {
            if let Err(e) = waker.wake() {
                log::warn!(target: PROXY, "waking worker {}: {e}", self.id);
            }
        }
        Ok(())
    }

    /// Hands over a connection, counting it against the worker.
    pub(crate) fn hand_off(&mut self, msg: ToWorker, now: Instant) -> Result<(), ToWorker> {
        // Relaxed: the worker's matching decrement happens after it receives the message,
        // which the channel orders.
        self.load.conns.fetch_add(1, Ordering::Relaxed);
        self.last_handoff = now;
        self.send(msg).inspect_err(|_| {
            self.load.conns.fetch_sub(1, Ordering::Relaxed);
        })
    }

    /// Takes back whatever is still queued (after the thread has ended).
    pub(crate) fn recover_queued(&self) -> Vec<ToWorker> {
        self.rx.try_iter().collect()
    }

    /// Joins the thread, which has said it is ending. `Err` carries the panic message.
    pub(crate) fn join(&mut self) -> Result<(), String> {
        match self.handle.take() {
            Some(h) => h.join().map_err(|p| crate::error::panic_message(&*p)),
            None => Ok(()),
        }
    }

    /// Whether the thread has ended (for the join at shutdown).
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Blocking kind: shuts down the socket being served, unblocking its reads and writes.
    pub(crate) fn force_close_serving(&self) {
        if let Some(stream) = self.load.serving.lock().as_ref() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Starts a worker thread. The evented kind's `Poll` and `Waker` are made here, on the acceptor,
/// so the acceptor can wake the worker from the first message on without a round trip.
pub(crate) fn spawn(
    id: usize,
    config: &Arc<Config>,
    shared: &Arc<Shared>,
    now: Instant,
    initial: bool,
) -> io::Result<Worker> {
    let name: Arc<str> = format!("{}-{}", config.thread_name, id).into();
    let load = Arc::new(WorkerLoad::new(shared.clock.nanos(now)));
    let (tx, rx) = crossbeam_channel::unbounded();
    let agent = ServiceAgent {
        worker_id: id,
        name: name.clone(),
        shared: shared.clone(),
        load: load.clone(),
    };
    let (poll, waker) = if config.factory.is_evented() {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WORKER_WAKER)?);
        (Some(poll), Some(waker))
    } else {
        (None, None)
    };
    let mut builder = thread::Builder::new().name(name.to_string());
    if let Some(size) = config.stack_size {
        builder = builder.stack_size(size);
    }
    let thread_rx = rx.clone();
    let thread_config = config.clone();
    let handle = builder.spawn(move || worker::run(agent, thread_config, thread_rx, poll))?;
    Counters::add(&shared.counters.spawned, 1);
    Ok(Worker {
        id,
        name,
        load,
        state: WorkerState::Starting,
        started_at: now,
        last_handoff: now,
        initial,
        start_failure: None,
        tx,
        rx,
        waker,
        handle: Some(handle),
    })
}
