//! The acceptor thread: a hand-written mio loop that owns the listener and the worker set. It
//! accepts until `WouldBlock`, places each connection on a worker, supervises and reaps
//! workers, and runs the shutdown sequence. It is the only thread that changes the worker set.

use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::net::TcpListener as MioListener;
use mio::{Events, Interest, Poll, Token};

use crate::balance::{choose, Candidate, Choice, Rules};
use crate::config::Config;
use crate::connection::{Connection, ProxySocketAddressInfo};
use crate::error::StartError;
use crate::pool::reap::{to_retire, Backoff, IdleView};
use crate::pool::{self, ToAcceptor, ToWorker, Worker};
use crate::report::{WorkerOutcome, WorkerReport};
use crate::shared::{Lifecycle, Shared, WorkerView};
use crate::stats::{Counters, WorkerState};
use crate::targets::PROXY;

const LISTENER: Token = Token(0);
pub(crate) const ACCEPTOR_WAKER: Token = Token(1);

/// First retry delay after an `accept` error such as `EMFILE`; it doubles up to the maximum.
const ACCEPT_RETRY_MIN: Duration = Duration::from_millis(10);
const ACCEPT_RETRY_MAX: Duration = Duration::from_secs(1);
/// How long to wait for threads after the forced close before reporting them abandoned.
const FORCE_GRACE: Duration = Duration::from_secs(1);

pub(crate) struct Acceptor {
    poll: Poll,
    listener: Option<MioListener>,
    /// The listener is bound to one address, so every connection's local end is known.
    local_fixed: bool,
    rx: Receiver<ToAcceptor>,
    shared: Arc<Shared>,
    config: Arc<Config>,
    workers: Vec<Worker>,
    next_id: usize,
    next_conn: u64,
    cursor: usize,
    restart: Backoff,
    /// Worker losses not yet made good by a replacement.
    owed_replacements: usize,
    /// Connections no worker can take yet; while any wait, nothing more is accepted.
    pending: VecDeque<ToWorker>,
    /// Accepting stopped before `WouldBlock` (capacity, error): no edge will come, so retry
    /// when capacity returns or the retry time passes.
    accept_stalled: bool,
    accept_retry_at: Option<Instant>,
    accept_delay: Duration,
    last_error_log: Option<Instant>,
    /// When the last wake that accepted something began (for accept batching).
    last_accept_wake: Option<Instant>,
    next_reap: Instant,
    shutdown_deadline: Option<Instant>,
    forced_at: Option<Instant>,
    reports: Vec<WorkerReport>,
    views_dirty: bool,
    /// Reused for every placement.
    candidates: Vec<Candidate>,
}

enum Readiness {
    Starting,
    Ready,
    Failed,
}

impl Acceptor {
    pub(crate) fn new(
        poll: Poll,
        listener: TcpListener,
        rx: Receiver<ToAcceptor>,
        shared: Arc<Shared>,
        config: Arc<Config>,
    ) -> io::Result<Acceptor> {
        let local_fixed = !shared.local_addr.ip().is_unspecified();
        let mut listener = MioListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let now = Instant::now();
        Ok(Acceptor {
            poll,
            listener: Some(listener),
            local_fixed,
            rx,
            restart: Backoff::new(config.restart_backoff.0, config.restart_backoff.1),
            next_reap: now + config.reap_interval,
            shared,
            config,
            workers: Vec::new(),
            next_id: 0,
            next_conn: 0,
            cursor: 0,
            owed_replacements: 0,
            pending: VecDeque::new(),
            accept_stalled: false,
            accept_retry_at: None,
            accept_delay: ACCEPT_RETRY_MIN,
            last_error_log: None,
            last_accept_wake: None,
            shutdown_deadline: None,
            forced_at: None,
            reports: Vec::new(),
            views_dirty: false,
            candidates: Vec::new(),
        })
    }

    pub(crate) fn run(mut self) {
        let now = Instant::now();
        for _ in 0..self.config.min_workers {
            self.spawn(now, true);
        }
        self.update_readiness();
        let mut events = Events::with_capacity(64);
        loop {
            self.publish_views();
            let timeout = self.next_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!(target: PROXY, "acceptor poll failed: {e}; shutting down");
                    self.begin_shutdown(Instant::now());
                }
            }
            let mut listener_ready = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => listener_ready = true,
                    _ => {
                        // A wake: a worker may have freed capacity (or file descriptors), so an
                        // accept paused by an error may retry now rather than at its timer.
                        self.accept_retry_at = None;
                    }
                }
            }
            let now = Instant::now();
            self.read_messages(now);
            if self.shutdown_deadline.is_some() {
                if self.drive_shutdown(now) {
                    break;
                }
                continue;
            }
            self.maintain(now);
            self.place_pending(now);
            if listener_ready || (self.accept_stalled && self.may_accept(now)) {
                let accepted = self.accept(now);
                if accepted > 0 {
                    let window = self.config.accept_batch_window;
                    let stream = batch_accepts(self.last_accept_wake, now, window);
                    self.last_accept_wake = Some(now);
                    // Only once the backlog is drained: a stalled accept has its own wake-ups.
                    if stream && !self.accept_stalled {
                        // Connections arriving meanwhile queue in the backlog, and the
                        // listener's edge waits in the poll: the next round takes them all.
                        std::thread::sleep(window);
                    }
                }
            }
            if self.waiting_for_capacity() {
                // SeqCst: store-then-recheck, paired with `Shared::wake_if_waiting`. If a worker
                // freed capacity before seeing the flag, the recheck below sees it.
                self.shared.wants_wake.store(true, Ordering::SeqCst);
                self.place_pending(now);
                if self.accept_stalled && self.may_accept(now) {
                    self.accept(now);
                }
            }
        }
        self.publish_views();
        self.shared.workers.lock().clear();
        let reports = std::mem::take(&mut self.reports);
        log::info!(target: PROXY, "stopped; {} worker reports", reports.len());
        self.shared.set_lifecycle(Lifecycle::Stopped(reports));
    }

    fn waiting_for_capacity(&self) -> bool {
        !self.pending.is_empty() || self.accept_stalled
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        let mut next = self.next_reap;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = next.min(t);
            }
        };
        if self.accept_stalled {
            consider(self.accept_retry_at);
        }
        if self.live() < self.config.min_workers || !self.pending.is_empty() {
            consider(self.restart.wait_until(now));
        }
        if let Some(deadline) = self.shutdown_deadline {
            consider(Some(match self.forced_at {
                Some(forced) => forced + FORCE_GRACE,
                None => deadline,
            }));
            // While draining, also look at the thread states regularly: a worker's exit message
            // arrives by itself, but this bounds any missed wake.
            consider(Some(now + Duration::from_millis(50)));
        }
        Some(next.saturating_duration_since(now))
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

    fn may_accept(&self, now: Instant) -> bool {
        self.pending.is_empty()
            && self.shared.counters.active.load(Ordering::SeqCst) < self.config.max_connections
            && self.accept_retry_at.is_none_or(|t| now >= t)
    }

    /// Accepts until the backlog is empty or accepting must pause; returns how many.
    fn accept(&mut self, now: Instant) -> usize {
        let mut accepted = 0;
        loop {
            if !self.may_accept(now) {
                self.accept_stalled = true;
                return accepted;
            }
            let Some(listener) = &self.listener else {
                return accepted;
            };
            match listener.accept() {
                Ok((stream, remote)) => {
                    accepted += 1;
                    self.accept_delay = ACCEPT_RETRY_MIN;
                    self.accept_retry_at = None;
                    let counters = &self.shared.counters;
                    Counters::add(&counters.accepted, 1);
                    // SeqCst: read by the capacity check paired with the wake handshake.
                    counters.active.fetch_add(1, Ordering::SeqCst);
                    let stream = std::net::TcpStream::from(stream);
                    // Linux accepted sockets inherit TCP_NODELAY from the listener (set at
                    // build); elsewhere set it here.
                    #[cfg(not(target_os = "linux"))]
                    if self.config.nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    let local = if self.local_fixed {
                        self.shared.local_addr
                    } else {
                        stream.local_addr().unwrap_or(self.shared.local_addr)
                    };
                    let info = ProxySocketAddressInfo {
                        local: local.into(),
                        remote: remote.into(),
                    };
                    self.next_conn += 1;
                    let conn = Connection::new(stream, info, self.next_conn, now);
                    if let Err(msg) = self.place(ToWorker::Conn(conn), false, now) {
                        self.pending.push_back(msg);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_stalled = false;
                    return accepted;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM and the unknown: the pending connection
                    // stays in the backlog. Retry on a doubling timer, or sooner when a worker
                    // closes a connection (freeing a descriptor) and wakes us.
                    Counters::add(&self.shared.counters.accept_errors, 1);
                    self.accept_retry_at = Some(now + self.accept_delay);
                    self.accept_delay = (self.accept_delay * 2).min(ACCEPT_RETRY_MAX);
                    self.accept_stalled = true;
                    if self
                        .last_error_log
                        .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
                    {
                        self.last_error_log = Some(now);
                        log::warn!(target: PROXY, "accept failed: {e}; clients wait in the backlog, retrying");
                    }
                    return accepted;
                }
            }
        }
    }

    /// Hands a connection to a worker (spawning one if the policy says so). Gives it back when no
    /// worker can take it now.
    fn place(
        &mut self,
        mut msg: ToWorker,
        prefer_empty: bool,
        now: Instant,
    ) -> Result<(), ToWorker> {
        loop {
            let clock = self.shared.clock;
            let now_nanos = clock.nanos(now);
            let threshold = self.config.busy_threshold.as_nanos() as u64;
            // A worker whose callback blocked is avoided for as long as consolidation waits
            // before packing connections back, so the two agree on what "blocking" means.
            let memory = self.config.consolidate_after.as_nanos() as u64;
            let evented = self.config.factory.is_evented();
            self.candidates.clear();
            self.candidates.extend(self.workers.iter().map(|w| {
                // Relaxed: load hints (see WorkerLoad).
                let busy_since = w.load.busy_since.load(Ordering::Relaxed);
                let blocked_at = w.load.blocked_at.load(Ordering::Relaxed);
                Candidate {
                    conns: w.load.conns.load(Ordering::SeqCst),
                    busy: evented
                        && ((busy_since != 0 && now_nanos.saturating_sub(busy_since) >= threshold)
                            || (blocked_at != 0 && now_nanos.saturating_sub(blocked_at) < memory)),
                    accepting: matches!(w.state, WorkerState::Starting | WorkerState::Running),
                }
            }));
            let rules = Rules {
                evented,
                can_spawn: self.shutdown_deadline.is_none()
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
            match self.workers[index].hand_off(msg, now) {
                Ok(()) => return Ok(()),
                Err(back) => {
                    // Its thread is gone; its exit message is on the way. Try another.
                    msg = back;
                    self.workers[index].state = WorkerState::Draining;
                    self.views_dirty = true;
                }
            }
        }
    }

    fn place_pending(&mut self, now: Instant) {
        while let Some(msg) = self.pending.pop_front() {
            let prefer_empty = matches!(msg, ToWorker::Adopt { isolate: true, .. });
            if let Err(msg) = self.place(msg, prefer_empty, now) {
                self.pending.push_front(msg);
                return;
            }
        }
    }

    /// Starts a worker; returns its index, or `None` (and backs off) if the thread or its poll
    /// could not be made.
    fn spawn(&mut self, now: Instant, initial: bool) -> Option<usize> {
        let id = self.next_id;
        self.next_id += 1;
        match pool::spawn(id, &self.config, &self.shared, now, initial) {
            Ok(worker) => {
                log::debug!(target: PROXY, "spawned {}", worker.name);
                self.workers.push(worker);
                self.views_dirty = true;
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

    fn read_messages(&mut self, now: Instant) {
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                ToAcceptor::Started { id } => {
                    if let Some(w) = self.worker_mut(id) {
                        if w.state == WorkerState::Starting {
                            w.state = WorkerState::Running;
                        }
                    }
                    self.views_dirty = true;
                    self.update_readiness();
                }
                ToAcceptor::StartFailed { id, message } => {
                    Counters::add(&self.shared.counters.spawn_failures, 1);
                    self.restart.fail(now);
                    if let Some(w) = self.worker_mut(id) {
                        w.start_failure = Some(message);
                    }
                    self.update_readiness();
                }
                ToAcceptor::Exited { id } => self.on_exit(id, now),
                ToAcceptor::Shed { id, conns, isolate } => {
                    let n = conns.len();
                    let counter = if isolate {
                        &self.shared.counters.migrated
                    } else {
                        &self.shared.counters.consolidated
                    };
                    Counters::add(counter, n as u64);
                    log::debug!(target: PROXY, "worker {id} handed back {n} connections; re-placing them");
                    for conn in conns {
                        self.pending.push_back(ToWorker::Adopt { conn, isolate });
                    }
                }
                ToAcceptor::Shutdown { deadline } => {
                    let deadline = self.shutdown_deadline.map_or(deadline, |d| d.min(deadline));
                    if self.shutdown_deadline.is_none() {
                        self.shutdown_deadline = Some(deadline);
                        self.begin_shutdown(now);
                    }
                    self.shutdown_deadline = Some(deadline);
                }
            }
        }
    }

    fn worker_mut(&mut self, id: usize) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.id == id)
    }

    fn update_readiness(&mut self) {
        let initial: Vec<&Worker> = self.workers.iter().filter(|w| w.initial).collect();
        let failed = initial
            .iter()
            .find_map(|w| w.start_failure.as_ref().map(|m| (w.id, m.clone())));
        let state = if self.live_running() >= self.config.min_workers {
            Readiness::Ready
        } else if failed.is_some() {
            Readiness::Failed
        } else {
            Readiness::Starting
        };
        match state {
            Readiness::Ready => {
                if !self.shared.is_ready() {
                    log::info!(target: PROXY, "ready with {} workers", self.live_running());
                    self.shared.set_lifecycle(Lifecycle::Ready);
                }
            }
            Readiness::Failed => {
                let (worker, message) = failed.expect("checked");
                self.shared
                    .set_lifecycle(Lifecycle::Failed(StartError::WorkerFailed {
                        worker,
                        message,
                    }));
            }
            Readiness::Starting => {}
        }
    }

    fn live_running(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.state == WorkerState::Running)
            .count()
    }

    /// A worker thread said it is ending: join it, account for what it held, and decide whether
    /// it must be replaced.
    fn on_exit(&mut self, id: usize, now: Instant) {
        let Some(index) = self.workers.iter().position(|w| w.id == id) else {
            return;
        };
        let mut worker = self.workers.remove(index);
        self.views_dirty = true;
        let joined = worker.join();
        let queued = worker.recover_queued();
        let queued_conns = queued
            .iter()
            .filter(|m| matches!(m, ToWorker::Conn(_) | ToWorker::Adopt { .. }))
            .count();
        // SeqCst: as in `Shared::wake_if_waiting`.
        let held = worker.load.conns.load(Ordering::SeqCst);
        let lost = held.saturating_sub(queued_conns);
        if lost > 0 {
            self.shared
                .counters
                .active
                .fetch_sub(lost, Ordering::SeqCst);
            Counters::add(&self.shared.counters.lost_to_worker_death, lost as u64);
            log::error!(target: PROXY, "{}: {lost} connections closed with the worker", worker.name);
        }
        for msg in queued {
            if matches!(msg, ToWorker::Conn(_) | ToWorker::Adopt { .. }) {
                self.pending.push_back(msg);
            }
        }
        if self.shutdown_deadline.is_some() {
            self.reports.push(WorkerReport {
                id,
                name: worker.name.to_string(),
                outcome: match joined {
                    Ok(()) => WorkerOutcome::Clean,
                    Err(message) => WorkerOutcome::Panicked(message),
                },
            });
            return;
        }
        if worker.start_failure.is_some() {
            self.owed_replacements += 1;
            return;
        }
        match (worker.state, joined) {
            (WorkerState::Retiring, Ok(())) => {
                Counters::add(&self.shared.counters.retired, 1);
                log::debug!(target: PROXY, "retired {}", worker.name);
            }
            (_, Err(message)) => {
                log::error!(target: PROXY, "{} died: {message}", worker.name);
                self.restart.fail(now);
                self.owed_replacements += 1;
            }
            (_, Ok(())) => {
                log::error!(target: PROXY, "{} stopped unexpectedly", worker.name);
                self.restart.fail(now);
                self.owed_replacements += 1;
            }
        }
    }

    /// Keeps the pool at `min_workers` (with backoff) and runs the reaper on its interval.
    fn maintain(&mut self, now: Instant) {
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
        if now < self.next_reap {
            return;
        }
        self.next_reap = now + self.config.reap_interval;
        self.restart.settle(now);
        let clock = self.shared.clock;
        let views: Vec<IdleView> = self
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.state == WorkerState::Running)
            .map(|(index, w)| IdleView {
                index,
                idle_since: (w.load.conns.load(Ordering::SeqCst) == 0).then(|| {
                    let last_idle = clock.instant(w.load.last_idle.load(Ordering::Relaxed));
                    last_idle.max(w.last_handoff).max(w.started_at)
                }),
            })
            .collect();
        let live = self.live();
        let retire = to_retire(
            &views,
            live,
            self.config.min_workers,
            now,
            self.config.idle_timeout,
        );
        let retiring = retire.len();
        for index in retire {
            let worker = &mut self.workers[index];
            worker.state = WorkerState::Retiring;
            self.views_dirty = true;
            log::debug!(target: PROXY, "retiring idle {}", worker.name);
            let _ = worker.send(ToWorker::Retire);
        }
        self.consolidate(now, live - retiring);
    }

    /// Evented: packs connections back onto fewer workers once blocking has stopped. Workers
    /// holding connections that have not blocked for `consolidate_after` (and were not handed
    /// one for as long), beyond the `spread` busiest of them, are released: they hand their
    /// connections back, which go to the remaining workers by the usual rule, and retire.
    /// Never below `min_workers`; workers whose connections block are left alone.
    fn consolidate(&mut self, now: Instant, live: usize) {
        if !self.config.factory.is_evented() || !self.config.migrate {
            return;
        }
        let clock = self.shared.clock;
        let quiet_for = self.config.consolidate_after;
        let now_nanos = clock.nanos(now);
        let quiet_nanos = quiet_for.as_nanos() as u64;
        let mut quiet: Vec<(usize, usize)> = self
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.state == WorkerState::Running)
            .filter(|(_, w)| now.saturating_duration_since(w.last_handoff) >= quiet_for)
            .filter_map(|(i, w)| {
                // Relaxed: load hints (see WorkerLoad).
                let conns = w.load.conns.load(Ordering::SeqCst);
                let blocked_at = w.load.blocked_at.load(Ordering::Relaxed);
                let running = w.load.busy_since.load(Ordering::Relaxed) != 0;
                let blocked_lately =
                    blocked_at != 0 && now_nanos.saturating_sub(blocked_at) < quiet_nanos;
                (conns > 0 && !running && !blocked_lately).then_some((i, conns))
            })
            .collect();
        if quiet.len() <= self.config.spread {
            return;
        }
        // Keep the busiest; release the rest, fewest connections first.
        quiet.sort_by_key(|&(_, conns)| std::cmp::Reverse(conns));
        let mut may_release = live.saturating_sub(self.config.min_workers);
        for &(index, _) in &quiet[self.config.spread..] {
            if may_release == 0 {
                break;
            }
            may_release -= 1;
            let worker = &mut self.workers[index];
            worker.state = WorkerState::Retiring;
            self.views_dirty = true;
            log::debug!(target: PROXY, "releasing {}: its connections have not blocked for {quiet_for:?}", worker.name);
            let _ = worker.send(ToWorker::Release);
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        self.shared.draining.store(true, Ordering::SeqCst);
        if self.shutdown_deadline.is_none() {
            self.shutdown_deadline = Some(now);
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        log::info!(target: PROXY, "shutting down: listener closed, draining {} workers", self.workers.len());
        let waiting = self.pending.len();
        if waiting > 0 {
            self.pending.clear();
            self.shared
                .counters
                .active
                .fetch_sub(waiting, Ordering::SeqCst);
            Counters::add(&self.shared.counters.rejected, waiting as u64);
            log::warn!(target: PROXY, "closed {waiting} connections that were waiting for a worker");
        }
        for w in &mut self.workers {
            w.state = WorkerState::Draining;
            let _ = w.send(ToWorker::Drain);
        }
        self.views_dirty = true;
    }

    /// One step of the shutdown sequence; true when it is complete.
    fn drive_shutdown(&mut self, now: Instant) -> bool {
        // Connections recovered from a dead worker or shed just before the drain: give them to
        // any remaining worker (it drains them), else close them.
        while let Some(msg) = self.pending.pop_front() {
            let target = self.workers.iter_mut().find(|w| !w.is_finished());
            let delivered = match target {
                Some(w) => w.hand_off(msg, now).is_ok(),
                None => false,
            };
            if !delivered {
                self.shared.counters.active.fetch_sub(1, Ordering::SeqCst);
                Counters::add(&self.shared.counters.rejected, 1);
            }
        }
        if self.workers.is_empty() {
            return true;
        }
        let deadline = self.shutdown_deadline.expect("shutting down");
        match self.forced_at {
            None if now >= deadline => {
                log::warn!(target: PROXY, "drain deadline passed; force-closing {} workers", self.workers.len());
                for w in &self.workers {
                    let _ = w.send(ToWorker::Force);
                    w.force_close_serving();
                }
                self.forced_at = Some(now);
                false
            }
            Some(forced) if now >= forced + FORCE_GRACE => {
                for w in self.workers.drain(..) {
                    log::error!(target: PROXY, "{} did not stop after the forced close; abandoning it", w.name);
                    self.reports.push(WorkerReport {
                        id: w.id,
                        name: w.name.to_string(),
                        outcome: WorkerOutcome::Abandoned,
                    });
                }
                true
            }
            _ => false,
        }
    }

    fn publish_views(&mut self) {
        if !self.views_dirty {
            return;
        }
        self.views_dirty = false;
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

/// Whether connections are arriving as a stream, so that the acceptor should wait a batch
/// window before looking again: the previous accepting wake began less than five windows ago.
/// Under a stream, a round (the window plus the work) lasts a little over one window, so the
/// factor keeps batching on; a connection arriving after a quiet spell is taken at once.
fn batch_accepts(previous: Option<Instant>, now: Instant, window: Duration) -> bool {
    !window.is_zero() && previous.is_some_and(|p| now.saturating_duration_since(p) < window * 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batching_only_under_a_stream_of_connections() {
        let t0 = Instant::now();
        let w = Duration::from_micros(200);
        let cases = [
            (None, Duration::ZERO, w, false, "first accept ever"),
            (
                Some(t0),
                Duration::from_micros(250),
                w,
                true,
                "one round later",
            ),
            (
                Some(t0),
                Duration::from_micros(999),
                w,
                true,
                "just inside five windows",
            ),
            (
                Some(t0),
                Duration::from_millis(1),
                w,
                false,
                "five windows: quiet",
            ),
            (Some(t0), Duration::from_secs(1), w, false, "sporadic"),
            (
                Some(t0),
                Duration::from_micros(10),
                Duration::ZERO,
                false,
                "turned off",
            ),
        ];
        for (previous, after, window, want, why) in cases {
            assert_eq!(batch_accepts(previous, t0 + after, window), want, "{why}");
        }
    }
}
