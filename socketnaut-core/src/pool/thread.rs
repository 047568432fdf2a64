//! A worker thread as the pool holds it ([`Worker`]): starting it, sending it messages
//! (waking it only when it sleeps), handing it connections, and joining it.

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::{Poll, Waker};
use parking_lot::Mutex;

use super::load::WorkerLoad;
use super::monitor::Look;
use super::slab::Slab;
use super::worker::table::{Steal, Table};
use super::worker::{self, Shed, ToWorker, WORKER_WAKER};
use crate::agent::ServiceAgent;
use crate::config::Config;
use crate::error::panic_message;
use crate::shared::Shared;
use crate::stats::{Counters, WorkerState};
use crate::targets::PROXY;

/// A worker as the pool holds it.
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
    /// A hand-off found its thread gone (its exit message is on the way): take nothing more.
    pub(crate) gone: bool,
    tx: Sender<ToWorker>,
    /// Kept so connections still queued to a worker that died can be recovered.
    rx: Receiver<ToWorker>,
    waker: Option<Arc<Waker>>,
    /// Evented: the worker's connection table and registry, for the monitor.
    pub(crate) steal: Option<Steal>,
    /// The monitor's notes on this worker's current slow callback.
    pub(crate) looked: Option<Look>,
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
        if let Some(waker) = self
            .waker
            .as_ref()
            .filter(|_| self.load.parked.take_sleeper())
        {
            if let Err(e) = waker.wake() {
                log::warn!(target: PROXY, "waking worker {}: {e}", self.id);
            }
        }
        Ok(())
    }

    /// Hands over a connection, counting it against the worker. A worker whose thread is gone
    /// gives it back and is marked `gone`.
    pub(crate) fn hand_off(
        &mut self,
        msg: ToWorker,
        now: Instant,
        clock_now: u64,
    ) -> Result<(), ToWorker> {
        self.load.add();
        self.last_handoff = now;
        self.send(msg).inspect_err(|_| {
            self.load.remove(1, clock_now);
            self.gone = true;
        })
    }

    /// Takes the connections queued to a worker that is stuck (it will not read them soon);
    /// other messages go back in its channel.
    pub(crate) fn take_queued(&self) -> Vec<ToWorker> {
        let mut conns = Vec::new();
        for msg in self.rx.try_iter().collect::<Vec<_>>() {
            if msg.is_connection() {
                conns.push(msg);
            } else if let Err(msg) = self.send(msg) {
                drop(msg); // its thread is gone; its exit is accounted for on its own
            }
        }
        conns
    }

    /// Takes back whatever is still queued (after the thread has ended).
    pub(crate) fn recover_queued(&self) -> Vec<ToWorker> {
        self.rx.try_iter().collect()
    }

    /// Joins the thread, which has said it is ending. `Err` carries the panic message.
    pub(crate) fn join(&mut self) -> Result<(), String> {
        match self.handle.take() {
            Some(h) => h.join().map_err(|p| panic_message(&*p)),
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
pub(super) fn spawn(
    id: usize,
    config: &Arc<Config>,
    shared: &Arc<Shared>,
    shed: &Sender<Shed>,
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
    let (evented, waker, steal) = if config.factory.is_evented() {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WORKER_WAKER)?);
        let table: Table = Arc::new(Mutex::new(Slab::new()));
        let steal = Steal {
            table: table.clone(),
            registry: poll.registry().try_clone()?,
        };
        (Some((poll, table)), Some(waker), Some(steal))
    } else {
        (None, None, None)
    };
    let mut builder = thread::Builder::new().name(name.to_string());
    if let Some(size) = config.stack_size {
        builder = builder.stack_size(size);
    }
    let thread_rx = rx.clone();
    let thread_config = config.clone();
    let thread_shed = shed.clone();
    let handle = builder
        .spawn(move || worker::run(agent, thread_config, thread_rx, thread_shed, evented))?;
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
        gone: false,
        tx,
        rx,
        waker,
        steal,
        looked: None,
        handle: Some(handle),
    })
}
