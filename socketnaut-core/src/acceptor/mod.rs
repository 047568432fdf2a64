//! The acceptor thread: a hand-written mio loop that owns the listener. Each round it reads its
//! inbox (worker reports, shed connections, shutdown), lets the [`Pool`] supervise and reap,
//! places connections that wait, and accepts until `WouldBlock` (`listen`). Once shutdown
//! begins it runs the shutdown sequence instead (`drain`).
//!
//! It is the only thread that changes the worker set (through the pool) and the only one that
//! accepts; it never reads or writes a connection's bytes.

mod drain;
pub(crate) mod inbox;
mod listen;

use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Poll};

use drain::Drain;
use inbox::ToAcceptor;
use listen::{Accepted, Listen};

use crate::config::Config;
use crate::pool::{Pool, Shed, ToWorker};
use crate::shared::{Lifecycle, Shared};
use crate::stats::Counters;
use crate::targets::PROXY;

pub(crate) struct Acceptor {
    poll: Poll,
    rx: Receiver<ToAcceptor>,
    /// Connections evented workers hand back.
    shed: Receiver<Shed>,
    shared: Arc<Shared>,
    config: Arc<Config>,
    pool: Pool,
    listen: Listen,
    /// Connections no worker can take yet; while any wait, nothing more is accepted.
    pending: VecDeque<ToWorker>,
    /// Set once shutdown begins.
    drain: Option<Drain>,
    /// With the `metrics` feature: the figures' publication to the facade.
    #[cfg(feature = "metrics")]
    facade: crate::facade::Publisher,
}

impl Acceptor {
    pub(crate) fn new(
        poll: Poll,
        listener: TcpListener,
        rx: Receiver<ToAcceptor>,
        shared: Arc<Shared>,
        config: Arc<Config>,
    ) -> io::Result<Acceptor> {
        let listen = Listen::new(&poll, listener, shared.local_addr, config.nodelay)?;
        let (shed_tx, shed) = crossbeam_channel::unbounded();
        Ok(Acceptor {
            pool: Pool::new(config.clone(), shared.clone(), shed_tx, Instant::now()),
            shed,
            poll,
            rx,
            shared,
            config,
            listen,
            pending: VecDeque::new(),
            #[cfg(feature = "metrics")]
            facade: crate::facade::Publisher::new(Instant::now()),
            drain: None,
        })
    }

    pub(crate) fn run(mut self) {
        self.pool.start(Instant::now());
        let mut events = Events::with_capacity(64);
        loop {
            self.pool.publish();
            // Relaxed: a gauge read for monitoring (see `Counters::pending`).
            let pending = self.pending.len();
            self.shared
                .counters
                .pending
                .store(pending, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            self.facade.tick(Instant::now(), &self.shared);
            let timeout = self.next_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!(target: PROXY, "acceptor poll failed: {e}; shutting down");
                    self.begin_shutdown(Instant::now());
                }
            }
            let listener_ready = self.listen.saw_events(&events);
            let now = Instant::now();
            self.read_messages(now);
            if self.drain.is_some() {
                if self.drive_shutdown(now) {
                    break;
                }
                continue;
            }
            self.pool.keep_minimum(now);
            self.pool.reap(now);
            let taken = self.pool.monitor(now);
            self.pending.extend(taken);
            self.place_pending(now);
            if listener_ready || (self.listen.is_stalled() && self.may_accept(now)) {
                let accepted = self.accept(now);
                self.listen
                    .after_accepting(accepted, now, self.config.accept_batch_window);
            }
            if self.waiting_for_capacity() {
                // The capacity handshake (see `Active`): ask for a wake, then look again.
                self.shared.want_capacity_wake();
                self.place_pending(now);
                if self.listen.is_stalled() && self.may_accept(now) {
                    self.accept(now);
                }
            }
        }
        self.pool.publish();
        self.shared.workers.lock().clear();
        let reports = self.drain.map(|d| d.reports).unwrap_or_default();
        log::info!(target: PROXY, "stopped; {} worker reports", reports.len());
        self.shared.set_lifecycle(Lifecycle::Stopped(reports));
    }

    fn waiting_for_capacity(&self) -> bool {
        !self.pending.is_empty() || self.listen.is_stalled()
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        let candidates = [
            Some(self.pool.next_reap()),
            self.listen.retry_at(),
            self.pool.restart_wait(now, !self.pending.is_empty()),
            self.drain.as_ref().map(|d| d.next_check(now)),
            self.pool.next_monitor(now).filter(|_| self.drain.is_none()),
            #[cfg(feature = "metrics")]
            Some(self.facade.due()),
        ];
        let next = candidates.into_iter().flatten().min()?;
        Some(next.saturating_duration_since(now))
    }

    fn may_accept(&self, now: Instant) -> bool {
        self.pending.is_empty()
            && self.shared.counters.active.get() < self.config.max_connections
            && self.listen.retry_due(now)
    }

    /// Accepts until the backlog is empty or accepting must pause; returns how many.
    fn accept(&mut self, now: Instant) -> usize {
        let mut accepted = 0;
        loop {
            if !self.may_accept(now) {
                self.listen.stall();
                return accepted;
            }
            match self.listen.accept_one(now, &self.shared) {
                Accepted::Conn(conn) => {
                    accepted += 1;
                    let may_grow = self.drain.is_none();
                    if let Err(msg) = self.pool.place(ToWorker::Conn(conn), false, may_grow, now) {
                        self.pending.push_back(msg);
                    }
                }
                Accepted::Drained | Accepted::Paused => return accepted,
            }
        }
    }

    fn place_pending(&mut self, now: Instant) {
        let may_grow = self.drain.is_none();
        while let Some(msg) = self.pending.pop_front() {
            let prefer_empty = matches!(msg, ToWorker::Adopt { isolate: true, .. });
            if let Err(msg) = self.pool.place(msg, prefer_empty, may_grow, now) {
                self.pending.push_front(msg);
                return;
            }
        }
    }

    fn read_messages(&mut self, now: Instant) {
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                ToAcceptor::Started { id } => self.pool.on_started(id),
                ToAcceptor::StartFailed { id, message } => {
                    self.pool.on_start_failed(id, message, now)
                }
                ToAcceptor::Exited { id } => {
                    let exited = self.pool.on_exit(id, now, self.drain.is_some());
                    self.pending.extend(exited.queued);
                    if let (Some(drain), Some(report)) = (&mut self.drain, exited.report) {
                        drain.reports.push(report);
                    }
                }
                ToAcceptor::Shutdown { deadline } => self.begin_shutdown(deadline),
            }
        }
        while let Ok(Shed { id, conns, isolate }) = self.shed.try_recv() {
            let counters = &self.shared.counters;
            let counter = if isolate {
                &counters.migrated
            } else {
                &counters.consolidated
            };
            Counters::add(counter, conns.len() as u64);
            log::debug!(target: PROXY, "worker {id} handed back {} connections; re-placing them", conns.len());
            self.pending.extend(
                conns
                    .into_iter()
                    .map(|conn| ToWorker::Adopt { conn, isolate }),
            );
        }
    }
}
