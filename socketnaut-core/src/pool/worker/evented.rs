//! The evented loop: a mio `Poll` multiplexing the worker's connections, each an
//! [`EventedConnection`] state machine. The loop owns the registrations and the timers, times
//! every callback, catches panics per connection (in every method of the trait), and sheds its
//! other connections to the acceptor when a callback blocks.
//!
//! # Blocking handlers
//!
//! The problem: a handler that blocks (a database call, a sleep) on an evented worker stalls every
//! other connection on that worker, and more workers do not help connections that are already
//! pinned. The choice made here is **in-flight-aware placement plus migration of the connections
//! that share a blocked worker**, with no second pool and no per-request hand-off:
//!
//! 1. The worker times every callback (two `Instant::now()` reads).
//! 2. A callback that ran past `busy_threshold` makes both the worker and its connection
//!    *suspect*. The next callback on a suspect worker, and the next callback of a suspect
//!    connection, are measured: the thread's voluntary context switches
//!    (`getrusage(RUSAGE_THREAD)`, in `sys`) before and after. If it ran long *and* switched
//!    voluntarily, it blocked (slept, waited on I/O). If it ran long without blocking it computed
//!    or was preempted, and more threads would not help. A measured callback that runs fast
//!    clears the suspicion it was measured for. The worker flag catches many connections each
//!    blocking once (the first round of a blocking workload); the connection flag catches one
//!    connection that blocks between fast ones. Measuring only under suspicion keeps the syscall
//!    off the fast path (a hello-world request costs one `recv`, one `send` and a share of one
//!    `epoll_wait`; a preemption that makes one callback look slow costs a few `getrusage`
//!    calls).
//! 3. While a slow callback still runs, the pool's monitor takes the other connections out of
//!    this worker's table (see `pool::monitor`); after a callback that blocked, the worker
//!    itself deregisters whatever *other* connection it still holds (one that arrived
//!    meanwhile) and sends them to the acceptor ([`Shed`]). Each connection object carries its buffers and
//!    state, so nothing is lost; the acceptor places each on an empty worker (spawning up to
//!    `max_workers`), where it is registered and kicked so buffered requests run at once.
//! 4. Placement avoids workers that blocked within the last `consolidate_after` (5 s).
//! 5. Once blocking stops, consolidation packs the connections back (see `pool::reap`).
//!
//! With the default configuration, 64 keep-alive connections on a 10 ms handler end with one
//! worker each (0.97 of the ideal 6,400 req/s in the README's run), while hello-world traffic
//! never triggers step 2 and stays on one worker per core with no hand-off after accept. Cost:
//! the connections that share a worker with a slow callback wait until the monitor moves them
//! (about `busy_threshold` for one that blocks, five for one that computes).
//!
//! # Spin, then park
//!
//! An evented worker that serves several connections and whose last iteration handled events
//! does not go straight to sleep when the next poll would block. It yields its CPU and polls
//! without blocking, up to twice ([`SPIN_POLLS`]), and only then parks (`spin`). Under load
//! another connection's request usually arrives within that time, often from the very thread
//! the yield let run (on 2 cores the client shares a core with a worker), and a yield plus an
//! empty poll costs well under the sleep and wake-up it saves. An idle worker (last iteration
//! without events) parks at once, so idle servers burn nothing. A worker with one connection
//! parks at once too: its next event needs the peer's round trip, and in
//! `slow_does_not_stall_fast` (64 workers of one connection each) spinning raised throughput but
//! doubled the fast route's p99 (1.2 → 1.7–2.4 ms), because the spinning threads delayed the
//! ones that had work (commit cd17570 spins with any number of connections: `cargo bench --bench
//! load -- slow_does` there shows it). Measured with `cargo bench --bench load --
//! hello_keepalive`, server thread runs per request fell from 0.28–0.32 (commit ae71b88, before
//! spinning) to 0.03–0.13 (the ceiling: 0.11–0.20), CPU per request from 1.2–1.3× the ceiling's
//! to 1.04–1.11×. `parked` is set only around the blocking poll, not while spinning: a sender
//! need not wake a worker that is about to poll again.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token};
use parking_lot::{ArcMutexGuard, RawMutex};

use super::headers::PendingHeader;
use super::table::{Entry, Table};
use super::{connection_closed, Shed, ToWorker, WORKER_WAKER};
use crate::agent::ServiceAgent;
use crate::config::Config;
use crate::connection::Connection;
use crate::error::panic_message;
use crate::pool::load::COMPUTE_FACTOR;
use crate::pool::slab::{Slab, TAG};
use crate::server::{ConnContext, ConnEvent, EventedConnection, EventedServer, Step};
use crate::stats::Counters;
use crate::sys;
use crate::targets::AGENT;

/// How many times an evented worker that just handled events yields its CPU and polls again
/// without blocking before it goes to sleep in the poll (see `EventedLoop::spin`).
const SPIN_POLLS: u32 = 2;

pub(super) struct EventedLoop<'a> {
    pub(super) server: Box<dyn EventedServer>,
    pub(super) agent: &'a ServiceAgent,
    pub(super) config: &'a Config,
    pub(super) rx: Receiver<ToWorker>,
    /// To the acceptor, for the connections this worker sheds.
    pub(super) shed: Sender<Shed>,
    pub(super) poll: Poll,
    /// Held at all times but during a callback (see `table`).
    pub(super) conns: ArcMutexGuard<RawMutex, Slab<Entry>>,
    /// Connections whose PROXY protocol header has not fully arrived.
    pub(super) headers: Slab<PendingHeader>,
    /// Min-heap of (deadline, token); entries whose deadline no longer matches
    /// `Entry::scheduled` are stale and skipped.
    pub(super) timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Heap entries left behind by closed connections. When they outnumber the live
    /// connections the heap is rebuilt, so connection churn (one request per connection, each
    /// with an idle deadline seconds away) cannot grow it without bound.
    pub(super) stale_timers: usize,

    pub(super) retiring: bool,
    pub(super) draining: bool,
    pub(super) forced: bool,
    /// The last callback ran past the busy threshold: measure the next one.
    pub(super) suspect: bool,
    /// The latest `Instant` read: when the poll returned, or when the last callback ended.
    pub(super) now: Instant,
}

/// Runs one of a connection's methods other than `on_event` (whose result decides more, and
/// which `dispatch` guards itself) under `catch_unwind`. `None` means it panicked: counted and
/// logged here; the caller closes the connection, and the worker goes on.
pub(super) fn guarded<T>(agent: &ServiceAgent, method: &str, f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(p) => {
            Counters::add(&agent.shared.counters.panics, 1);
            log::error!(target: AGENT, "{}: connection's {method}() panicked: {}; connection closed", agent.name, panic_message(&*p));
            None
        }
    }
}

impl<'a> EventedLoop<'a> {
    pub(super) fn new(
        server: Box<dyn EventedServer>,
        agent: &'a ServiceAgent,
        config: &'a Config,
        rx: Receiver<ToWorker>,
        shed: Sender<Shed>,
        poll: Poll,
        table: Table,
    ) -> Self {
        EventedLoop {
            shed,
            server,
            agent,
            config,
            rx,
            poll,
            conns: table.lock_arc(),
            headers: Slab::new(),
            timers: BinaryHeap::new(),
            stale_timers: 0,
            retiring: false,
            draining: false,
            forced: false,
            suspect: false,
            now: Instant::now(),
        }
    }

    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let polled = self.wait(&mut events);
            self.now = Instant::now();
            if let Err(e) = polled {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The worker cannot go on; returning makes the acceptor replace it.
                log::error!(target: AGENT, "{}: poll failed: {e}", self.agent.name);
                break;
            }
            if !self.rx.is_empty() {
                self.read_inbox();
            }
            self.handle(&events);
            if self.forced {
                break;
            }
            self.fire_timers();
            // Not under catch_unwind: a panic here is a worker-level failure (see the trait).
            self.server.after_events(self.now);
            if (self.retiring || self.draining)
                && self.conns.is_empty()
                && self.headers.is_empty()
                && self.rx.is_empty()
            {
                break;
            }
        }
        let left = self.conns.len() + self.headers.len();
        self.conns.clear();
        self.headers.clear();
        connection_closed(self.agent, left);
        if left > 0 {
            log::warn!(target: AGENT, "{}: closed {left} connections at the drain deadline", self.agent.name);
        }
    }

    /// Waits for events: spins first if that pays (see `spin`), else parks in the poll until
    /// the next timer.
    fn wait(&mut self, events: &mut Events) -> io::Result<()> {
        if let Some(polled) = self.spin(events) {
            return polled;
        }
        let mut timeout = self
            .timers
            .peek()
            .map(|std::cmp::Reverse((t, _))| t.saturating_duration_since(Instant::now()));
        let parked = &self.agent.load.parked;
        parked.park();
        // A message sent before the announcement would not wake the poll (see `Parked`).
        if !self.rx.is_empty() {
            timeout = Some(std::time::Duration::ZERO);
        }
        let polled = self.poll.poll(events, timeout);
        parked.unpark();
        polled
    }

    /// Dispatches one poll's events: the inbox, pending PROXY headers, connections.
    fn handle(&mut self, events: &Events) {
        for event in events.iter() {
            let token = event.token();
            if token == WORKER_WAKER {
                self.read_inbox();
            } else if token.0 & TAG != 0 {
                self.advance_header(token.0 & !TAG);
            } else {
                let read_closed = event.is_read_closed() || event.is_error();
                let ready = ConnEvent::Ready {
                    readable: event.is_readable() || read_closed,
                    writable: event.is_writable() || event.is_write_closed(),
                    read_closed,
                };
                self.dispatch(token.0, ready);
            }
            if self.forced {
                return;
            }
        }
    }

    /// Spin, then park: after an iteration that handled events (`events` still holds them),
    /// a worker serving several connections yields the CPU and polls without blocking, up to
    /// `SPIN_POLLS` times, before the caller sleeps in the poll. Under load another
    /// connection's next request usually arrives within that time (often from the very thread
    /// the yield let run, such as a client on the same core), and a sleep and wake-up costs
    /// more than a yield and a poll. Returns the first poll that found events (or failed), or
    /// `None` to block. An idle worker does not spin (its previous iteration had no events),
    /// nor does one with a single connection: its next event needs the peer's whole round
    /// trip, and with many such workers (connections isolated from blocking neighbours) the
    /// spinning threads only delay the ones that have work.
    fn spin(&mut self, events: &mut Events) -> Option<io::Result<()>> {
        if events.is_empty() || self.conns.len() < 2 || !self.rx.is_empty() {
            return None;
        }
        for _ in 0..SPIN_POLLS {
            std::thread::yield_now();
            let polled = self.poll.poll(events, Some(std::time::Duration::ZERO));
            if polled.is_err() || !events.is_empty() {
                return Some(polled);
            }
        }
        None
    }

    fn read_inbox(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                ToWorker::Conn(conn) => match self.config.proxy_header {
                    Some(timeout) => self.read_header(conn, timeout),
                    None => self.open(conn),
                },
                ToWorker::Adopt { conn, .. } => self.insert(conn, true),
                ToWorker::Retire => self.retiring = true,
                ToWorker::Release => {
                    if !self.draining {
                        self.shed(None, false);
                    }
                    self.retiring = true;
                }
                ToWorker::Drain => {
                    self.draining = true;
                    // Nothing is in flight on a connection that has not sent its header.
                    let waiting = self.headers.len();
                    self.headers.clear();
                    connection_closed(self.agent, waiting);
                    let tokens = self.conns.tokens();
                    for token in tokens {
                        self.dispatch(token, ConnEvent::Drain);
                    }
                }
                ToWorker::Force => {
                    self.forced = true;
                    return;
                }
            }
        }
    }

    /// Hands a connection to the server and registers what it returns.
    pub(super) fn open(&mut self, conn: Connection) {
        let id = conn.id();
        let agent = self.agent;
        let server = &mut self.server;
        match catch_unwind(AssertUnwindSafe(|| server.open(conn, agent))) {
            Ok(Ok(c)) => self.insert(c, false),
            Ok(Err(e)) => {
                log::warn!(target: AGENT, "{}: connection {id}: open failed: {e}", self.agent.name);
                connection_closed(self.agent, 1);
            }
            Err(p) => {
                Counters::add(&self.agent.shared.counters.panics, 1);
                log::error!(target: AGENT, "{}: connection {id}: open panicked: {}", self.agent.name, panic_message(&*p));
                connection_closed(self.agent, 1);
            }
        }
    }

    /// Registers a connection. `kick` runs its callback at once, for a migrated connection
    /// whose state may hold buffered requests; a fresh one needs none, because registering a
    /// socket reports its current readiness (data already received included) as an event.
    pub(super) fn insert(&mut self, conn: Box<dyn EventedConnection>, kick: bool) {
        let token = self.conns.insert(Entry::new(conn));
        let entry = self.conns.get_mut(token).expect("just inserted");
        let registry = self.poll.registry();
        let registered = guarded(self.agent, "socket", || {
            registry.register(
                entry.conn().socket(),
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            )
        });
        if let Some(Err(e)) = &registered {
            log::warn!(target: AGENT, "{}: registering a connection: {e}; closing it", self.agent.name);
        }
        if !matches!(registered, Some(Ok(()))) {
            self.conns.remove(token);
            connection_closed(self.agent, 1);
            return;
        }
        if kick {
            self.dispatch(
                token,
                ConnEvent::Ready {
                    readable: true,
                    writable: true,
                    read_closed: false,
                },
            );
        } else {
            self.schedule(token);
        }
        if self.draining {
            self.dispatch(token, ConnEvent::Drain);
        }
    }

    pub(super) fn dispatch(&mut self, token: usize, event: ConnEvent) {
        let Some(entry) = self.conns.get_mut(token) else {
            return; // an event for a connection closed (or taken) earlier in this batch
        };
        let conn_suspect = entry.suspect;
        let mut conn = entry.take();
        let switches_before = self.switches_if_suspect(conn_suspect);
        // The latest reading (the poll's return or the previous callback's end) stands for this
        // callback's start: only bookkeeping happened since, and each reading costs.
        let start = self.now;
        let mut cx = ConnContext {
            now: start,
            agent: self.agent,
        };
        self.agent
            .load
            .set_in_callback(Some(self.agent.shared.clock.nanos(start)));
        // The table is free while the callback runs: a monitor that finds this worker stuck
        // in it takes the other connections (see `table`).
        let result = ArcMutexGuard::unlocked(&mut self.conns, || {
            catch_unwind(AssertUnwindSafe(|| conn.on_event(event, &mut cx)))
        });
        self.agent.load.set_in_callback(None);
        let end = Instant::now();
        self.now = end;
        let entry = self
            .conns
            .get_mut(token)
            .expect("the monitor never takes the entry whose callback runs");
        entry.put(conn);
        let ran = end.saturating_duration_since(start);
        let slow = ran >= self.config.busy_threshold && event != ConnEvent::Drain;
        if event != ConnEvent::Drain {
            self.suspect = slow;
            entry.suspect = slow;
        }
        self.after_slow(ran, end);
        match result {
            Ok(Step::Keep) => self.schedule(token),
            Ok(Step::Close) => self.close(token),
            Err(p) => {
                Counters::add(&self.agent.shared.counters.panics, 1);
                log::error!(target: AGENT, "{}: connection callback panicked: {}; connection closed", self.agent.name, panic_message(&*p));
                self.close(token);
            }
        }
        if let (true, Some(before)) = (slow, switches_before) {
            if sys::voluntary_switches().is_some_and(|after| after > before) {
                self.after_blocking_callback(token, end);
            }
        }
    }

    /// Telling a callback that blocked (slept, waited on I/O) from one that computed or was
    /// preempted takes the thread's voluntary context-switch count before and after. That is a
    /// syscall, so it is only paid for a callback under suspicion: the next one on a worker
    /// whose last callback ran slow (catches many connections each blocking once), and the
    /// next one of a connection whose last callback ran slow (catches one connection blocking
    /// between fast ones).
    fn switches_if_suspect(&self, conn_suspect: bool) -> Option<std::ffi::c_long> {
        if (self.suspect || conn_suspect) && self.config.migrate {
            sys::voluntary_switches()
        } else {
            None
        }
    }

    /// After any callback: one that ran a time slice or more (blocking or computing) marks
    /// the worker slow, so new connections avoid it and consolidation leaves it for
    /// `consolidate_after`; and the priority drops if the monitor asked.
    fn after_slow(&mut self, ran: std::time::Duration, end: Instant) {
        if ran >= self.config.busy_threshold * COMPUTE_FACTOR {
            let clock = &self.agent.shared.clock;
            self.agent.load.set_blocked(clock.nanos(end));
        }
        if self.agent.load.demotion_requested() {
            self.demote();
        }
    }

    /// The monitor found a callback of this worker computing: lower this thread's priority
    /// for good (see `pool::monitor`).
    fn demote(&mut self) {
        use thread_priority::{set_current_thread_priority, ThreadPriority};
        match set_current_thread_priority(ThreadPriority::Min) {
            Ok(()) => {
                log::debug!(target: AGENT, "{}: a callback computed; this thread now runs at the lowest priority", self.agent.name)
            }
            Err(e) => {
                log::debug!(target: AGENT, "{}: lowering the thread's priority: {e:?}", self.agent.name)
            }
        }
        // Even if the call failed: the worker still takes nothing new and retires when empty.
        self.agent.load.set_demoted();
    }

    /// A callback blocked past the busy threshold: the connections sharing this worker would
    /// wait behind the next such callback, so hand them to the acceptor, which places each on
    /// an empty worker.
    fn after_blocking_callback(&mut self, slow: usize, end: Instant) {
        let clock = &self.agent.shared.clock;
        self.agent.load.set_blocked(clock.nanos(end));
        if self.retiring || self.draining {
            return;
        }
        self.shed(Some(slow), true);
    }

    /// Deregisters every connection but `keep` and hands them to the acceptor.
    fn shed(&mut self, keep: Option<usize>, isolate: bool) {
        let tokens: Vec<usize> = self
            .conns
            .tokens()
            .into_iter()
            .filter(|&t| Some(t) != keep)
            .collect();
        if tokens.is_empty() {
            return;
        }
        let mut moving = Vec::with_capacity(tokens.len());
        for token in tokens {
            let mut entry = self.conns.remove(token).expect("token just listed");
            let registry = self.poll.registry();
            match guarded(self.agent, "socket", || {
                registry.deregister(entry.conn().socket())
            }) {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    log::warn!(target: AGENT, "{}: deregistering a migrating connection: {e}", self.agent.name);
                }
                None => {
                    // Dropping it closes the socket, which also leaves the epoll set.
                    drop(entry);
                    connection_closed(self.agent, 1);
                    continue;
                }
            }
            moving.push(entry.into_conn());
        }
        if moving.is_empty() {
            return;
        }
        log::debug!(target: AGENT, "{}: handing {} connections to other workers ({})", self.agent.name, moving.len(), if isolate { "a callback blocked" } else { "released" });
        let clock = &self.agent.shared.clock;
        self.agent
            .load
            .remove(moving.len(), clock.nanos(Instant::now()));
        let shed = Shed {
            id: self.agent.worker_id,
            conns: moving,
            isolate,
        };
        // The acceptor outlives its workers: a failed send means it is gone, and with it the
        // need to place these.
        if self.shed.send(shed).is_ok() {
            self.agent.shared.wake_acceptor();
        }
    }

    pub(super) fn close(&mut self, token: usize) {
        if let Some(entry) = self.conns.remove(token) {
            if entry.scheduled.is_some() {
                self.note_stale_timer();
            }
            // Closing the socket removes it from the epoll set: no separate deregister call.
            drop(entry);
            connection_closed(self.agent, 1);
        }
    }
}
