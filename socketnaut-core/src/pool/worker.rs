//! The worker thread: start hook, factory, then the blocking or the evented serving loop, with
//! panics caught per connection and the exit reported from a drop guard.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token};

use super::slab::{Slab, TAG};
use super::{ToAcceptor, ToWorker, WORKER_WAKER};
use crate::agent::ServiceAgent;
use crate::config::{Config, Factory};
use crate::connection::{Connection, ProxySocketAddressInfo};
use crate::error::panic_message;
use crate::proxy_protocol::{HeaderReader, Progress};
use crate::server::{
    BlockingServer, ConnContext, ConnEvent, EventedConnection, EventedServer, Step,
};
use crate::stats::Counters;
use crate::sys;
use crate::targets::AGENT;

/// How many times an evented worker that just handled events yields its CPU and polls again
/// without blocking before it goes to sleep in the poll (see `EventedLoop::spin`).
const SPIN_POLLS: u32 = 2;

/// The body of every worker thread.
pub(super) fn run(
    agent: ServiceAgent,
    config: Arc<Config>,
    rx: Receiver<ToWorker>,
    poll: Option<Poll>,
) {
    let _exit = ExitGuard {
        agent: &agent,
        config: &config,
    };
    if let Some(hook) = &config.on_start {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| hook(&agent))) {
            let message = format!("start hook panicked: {}", panic_message(&*p));
            return start_failed(&agent, message);
        }
    }
    match &config.factory {
        Factory::Blocking(factory) => match catch_unwind(AssertUnwindSafe(|| factory(&agent))) {
            Ok(Ok(server)) => {
                started(&agent);
                blocking_loop(server, &agent, &rx, config.proxy_header);
            }
            Ok(Err(e)) => start_failed(&agent, format!("factory failed: {e}")),
            Err(p) => start_failed(&agent, format!("factory panicked: {}", panic_message(&*p))),
        },
        Factory::Evented(factory) => match catch_unwind(AssertUnwindSafe(|| factory(&agent))) {
            Ok(Ok(server)) => {
                started(&agent);
                let poll = poll.expect("evented workers are spawned with a poll");
                EventedLoop::new(server, &agent, &config, rx, poll).run();
            }
            Ok(Err(e)) => start_failed(&agent, format!("factory failed: {e}")),
            Err(p) => start_failed(&agent, format!("factory panicked: {}", panic_message(&*p))),
        },
    }
}

fn started(agent: &ServiceAgent) {
    log::debug!(target: AGENT, "{} started", agent.name);
    agent.shared.notify(ToAcceptor::Started {
        id: agent.worker_id,
    });
}

fn start_failed(agent: &ServiceAgent, message: String) {
    log::error!(target: AGENT, "{} failed to start: {message}", agent.name);
    agent.shared.notify(ToAcceptor::StartFailed {
        id: agent.worker_id,
        message,
    });
}

/// Runs the exit hook and tells the acceptor the thread is ending, also while unwinding, so the
/// acceptor never waits for a worker that is gone.
struct ExitGuard<'a> {
    agent: &'a ServiceAgent,
    config: &'a Config,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        if let Some(hook) = &self.config.on_exit {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| hook(self.agent))) {
                log::error!(target: AGENT, "{}: exit hook panicked: {}", self.agent.name, panic_message(&*p));
            }
        }
        log::debug!(target: AGENT, "{} exiting", self.agent.name);
        self.agent.shared.notify(ToAcceptor::Exited {
            id: self.agent.worker_id,
        });
    }
}

/// Accounts for a closed connection and wakes the acceptor if it waits for capacity.
fn connection_closed(agent: &ServiceAgent, n: usize) {
    if n == 0 {
        return;
    }
    let shared = &agent.shared;
    // Relaxed: tallies; the acceptor re-reads them after the wake below, and the wake itself
    // (a write to an eventfd) is the synchronising event.
    let before = agent.load.conns.fetch_sub(n, Ordering::Relaxed);
    if before == n {
        agent
            .load
            .last_idle
            .store(shared.clock.nanos(Instant::now()), Ordering::Relaxed);
    }
    shared.counters.active.fetch_sub(n, Ordering::Relaxed);
    shared.wake_if_waiting();
}

fn blocking_loop(
    mut server: Box<dyn BlockingServer>,
    agent: &ServiceAgent,
    rx: &Receiver<ToWorker>,
    proxy_header: Option<Duration>,
) {
    while let Ok(msg) = rx.recv() {
        match msg {
            ToWorker::Conn(conn) => serve_one(&mut *server, conn, agent, proxy_header),
            ToWorker::Adopt { .. } => {
                // Only evented workers migrate connections; a blocking one never sends these.
                log::error!(target: AGENT, "{}: blocking worker got an evented connection; closing it", agent.name);
                connection_closed(agent, 1);
            }
            ToWorker::Retire | ToWorker::Release | ToWorker::Force => return,
            ToWorker::Drain => {
                // Serve what was already queued, then exit; the acceptor sends nothing more.
                while let Ok(ToWorker::Conn(conn)) = rx.try_recv() {
                    serve_one(&mut *server, conn, agent, proxy_header);
                }
                return;
            }
        }
    }
}

fn serve_one(
    server: &mut dyn BlockingServer,
    mut conn: Connection,
    agent: &ServiceAgent,
    proxy_header: Option<Duration>,
) {
    let id = conn.id();
    if let Err(e) = conn.set_blocking(true) {
        log::warn!(target: AGENT, "{}: connection {id}: setting blocking mode: {e}", agent.name);
    }
    if let Some(timeout) = proxy_header {
        if let Err(e) = read_header_blocking(&mut conn, timeout) {
            return header_failed(agent, id, &e);
        }
    }
    *agent.load.serving.lock() = conn.stream().try_clone().ok();
    let result = catch_unwind(AssertUnwindSafe(|| server.serve(conn, agent)));
    *agent.load.serving.lock() = None;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::debug!(target: AGENT, "{}: connection {id}: {e}", agent.name),
        Err(p) => {
            Counters::add(&agent.shared.counters.panics, 1);
            log::error!(target: AGENT, "{}: connection {id}: handler panicked: {}; connection closed", agent.name, panic_message(&*p));
        }
    }
    connection_closed(agent, 1);
}

/// Reads a connection's PROXY protocol header on a blocking socket, within `timeout` of now
/// (a blocking worker may take a queued connection late; the clock starts when it does).
fn read_header_blocking(conn: &mut Connection, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut reader = HeaderReader::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(header_timed_out(timeout));
        }
        conn.stream().set_read_timeout(Some(left))?;
        // `Pending` here means the read timeout passed: the loop's check reports it.
        if let Progress::Done(info) = reader.advance(conn.stream(), conn.info())? {
            conn.stream().set_read_timeout(None)?;
            conn.set_info(info);
            return Ok(());
        }
    }
}

fn header_timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no complete PROXY protocol header within {timeout:?}"),
    )
}

/// Closes (by dropping it, already done by the caller) and accounts for a connection whose
/// PROXY protocol header failed.
fn header_failed(agent: &ServiceAgent, id: u64, e: &io::Error) {
    Counters::add(&agent.shared.counters.proxy_header_errors, 1);
    log::warn!(target: AGENT, "{}: connection {id}: closed: {e}", agent.name);
    connection_closed(agent, 1);
}

/// An evented connection still sending its PROXY protocol header; its token is its slab
/// token with [`TAG`] set.
struct PendingHeader {
    socket: mio::net::TcpStream,
    reader: HeaderReader,
    info: ProxySocketAddressInfo,
    id: u64,
    accepted_at: Instant,
    deadline: Instant,
}

struct Entry {
    conn: Box<dyn EventedConnection>,
    /// The deadline currently in the timer heap for this connection, if any.
    scheduled: Option<Instant>,
    /// This connection's last callback ran slow: measure its next one.
    suspect: bool,
}

struct EventedLoop<'a> {
    server: Box<dyn EventedServer>,
    agent: &'a ServiceAgent,
    config: &'a Config,
    rx: Receiver<ToWorker>,
    poll: Poll,
    conns: Slab<Entry>,
    /// Connections whose PROXY protocol header has not fully arrived.
    headers: Slab<PendingHeader>,
    /// Min-heap of (deadline, token); entries whose deadline no longer matches
    /// `Entry::scheduled` are stale and skipped.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Heap entries left behind by closed connections. When they outnumber the live
    /// connections the heap is rebuilt, so connection churn (one request per connection, each
    /// with an idle deadline seconds away) cannot grow it without bound.
    stale_timers: usize,

    retiring: bool,
    draining: bool,
    forced: bool,
    /// The last callback ran past the busy threshold: measure the next one.
    suspect: bool,
    /// Clock reading taken when the current loop iteration's poll returned.
    iteration_nanos: u64,
    /// The latest `Instant` read: when the poll returned, or when the last callback ended.
    now: Instant,
}

/// Runs one of a connection's methods other than `on_event` (whose result decides more, and
/// which `dispatch` guards itself) under `catch_unwind`. `None` means it panicked: counted and
/// logged here; the caller closes the connection, and the worker goes on.
fn guarded<T>(agent: &ServiceAgent, method: &str, f: impl FnOnce() -> T) -> Option<T> {
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
    fn new(
        server: Box<dyn EventedServer>,
        agent: &'a ServiceAgent,
        config: &'a Config,
        rx: Receiver<ToWorker>,
        poll: Poll,
    ) -> Self {
        EventedLoop {
            server,
            agent,
            config,
            rx,
            poll,
            conns: Slab::new(),
            headers: Slab::new(),
            timers: BinaryHeap::new(),
            stale_timers: 0,
            retiring: false,
            draining: false,
            forced: false,
            suspect: false,
            iteration_nanos: 0,
            now: Instant::now(),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let mut timeout = self
                .timers
                .peek()
                .map(|Reverse((t, _))| t.saturating_duration_since(Instant::now()));
            let polled = match self.spin(&mut events) {
                Some(polled) => polled,
                None => {
                    let parked = &self.agent.load.parked;
                    parked.store(true, Ordering::Relaxed);
                    // SeqCst fence: pairs with the one in `Worker::send` (see
                    // `WorkerLoad::parked`).
                    std::sync::atomic::fence(Ordering::SeqCst);
                    if !self.rx.is_empty() {
                        timeout = Some(std::time::Duration::ZERO);
                    }
                    let polled = self.poll.poll(&mut events, timeout);
                    parked.store(false, Ordering::Relaxed);
                    polled
                }
            };
            self.now = Instant::now();
            self.iteration_nanos = self.agent.shared.clock.nanos(self.now);
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
                    break;
                }
            }
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
    fn open(&mut self, conn: Connection) {
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

    /// PROXY protocol: reads the header before the server sees the connection. A balancer
    /// sends it with (or before) the client's first bytes, so it is usually complete at once
    /// and the connection goes straight to the server; otherwise it waits, registered for
    /// reading, until the rest arrives or `timeout` passes.
    fn read_header(&mut self, conn: Connection, timeout: Duration) {
        let (id, accepted_at) = (conn.id(), conn.accepted_at());
        let (stream, info) = conn.into_parts();
        let mut pending = PendingHeader {
            socket: mio::net::TcpStream::from_std(stream),
            reader: HeaderReader::default(),
            info,
            id,
            accepted_at,
            deadline: self.now + timeout,
        };
        match pending.reader.advance(&pending.socket, info) {
            Ok(Progress::Done(info)) => {
                let stream = std::net::TcpStream::from(pending.socket);
                self.open(Connection::new(stream, info, id, accepted_at));
            }
            Ok(Progress::Pending) => {
                let deadline = pending.deadline;
                let token = self.headers.insert(pending);
                let entry = self.headers.get_mut(token).expect("just inserted");
                let registered = self.poll.registry().register(
                    &mut entry.socket,
                    Token(token | TAG),
                    Interest::READABLE,
                );
                match registered {
                    Ok(()) => self.timers.push(Reverse((deadline, token | TAG))),
                    Err(e) => {
                        self.headers.remove(token);
                        header_failed(self.agent, id, &e);
                    }
                }
            }
            Err(e) => header_failed(self.agent, id, &e),
        }
    }

    /// More bytes (or the deadline) for a connection still sending its PROXY header.
    fn advance_header(&mut self, token: usize) {
        let Some(pending) = self.headers.get_mut(token) else {
            return;
        };
        let outcome = if self.now >= pending.deadline {
            Err(header_timed_out(
                self.config.proxy_header.unwrap_or_default(),
            ))
        } else {
            pending.reader.advance(&pending.socket, pending.info)
        };
        match outcome {
            Ok(Progress::Pending) => {}
            Ok(Progress::Done(info)) => {
                let mut pending = self.headers.remove(token).expect("present");
                self.note_stale_timer();
                if let Err(e) = self.poll.registry().deregister(&mut pending.socket) {
                    return header_failed(self.agent, pending.id, &e);
                }
                let stream = std::net::TcpStream::from(pending.socket);
                self.open(Connection::new(
                    stream,
                    info,
                    pending.id,
                    pending.accepted_at,
                ));
            }
            Err(e) => {
                let pending = self.headers.remove(token).expect("present");
                self.note_stale_timer();
                header_failed(self.agent, pending.id, &e);
            }
        }
    }

    /// Registers a connection. `kick` runs its callback at once, for a migrated connection
    /// whose state may hold buffered requests; a fresh one needs none, because registering a
    /// socket reports its current readiness (data already received included) as an event.
    fn insert(&mut self, conn: Box<dyn EventedConnection>, kick: bool) {
        let token = self.conns.insert(Entry {
            conn,
            scheduled: None,
            suspect: false,
        });
        let entry = self.conns.get_mut(token).expect("just inserted");
        let registry = self.poll.registry();
        let registered = guarded(self.agent, "socket", || {
            registry.register(
                entry.conn.socket(),
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

    fn dispatch(&mut self, token: usize, event: ConnEvent) {
        let Some(entry) = self.conns.get_mut(token) else {
            return; // an event for a connection closed earlier in this batch
        };
        // Telling a callback that blocked (slept, waited on I/O: more threads help) from one
        // that computed or was preempted (more threads do not) takes the thread's voluntary
        // context-switch count before and after. That is a syscall, so it is only paid for a
        // callback under suspicion: the next one on a worker whose last callback ran slow
        // (catches many connections each blocking once), and the next one of a connection
        // whose last callback ran slow (catches one connection blocking between fast ones).
        let switches_before = if (self.suspect || entry.suspect) && self.config.migrate {
            sys::voluntary_switches()
        } else {
            None
        };
        // The latest reading (the poll's return or the previous callback's end) stands for this
        // callback's start: only bookkeeping happened since, and each reading costs.
        let start = self.now;
        // Relaxed: a load hint for the acceptor's choices; staleness only affects balance.
        // The iteration's clock reading stands for the callback's start: converting an
        // `Instant` per callback costs more than the precision is worth.
        self.agent
            .load
            .busy_since
            .store(self.iteration_nanos, Ordering::Relaxed);
        let mut cx = ConnContext {
            now: start,
            agent: self.agent,
        };
        let result = catch_unwind(AssertUnwindSafe(|| entry.conn.on_event(event, &mut cx)));
        let end = Instant::now();
        self.now = end;
        self.agent.load.busy_since.store(0, Ordering::Relaxed);
        let slow = end.saturating_duration_since(start) >= self.config.busy_threshold
            && event != ConnEvent::Drain;
        if event != ConnEvent::Drain {
            self.suspect = slow;
            entry.suspect = slow;
        }
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

    /// A callback blocked past the busy threshold: the connections sharing this worker would
    /// wait behind the next such callback, so hand them to the acceptor, which places each on
    /// an empty worker.
    fn after_blocking_callback(&mut self, slow: usize, end: Instant) {
        let clock = &self.agent.shared.clock;
        self.agent
            .load
            .blocked_at
            .store(clock.nanos(end), Ordering::Relaxed);
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
                registry.deregister(entry.conn.socket())
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
            moving.push(entry.conn);
        }
        if moving.is_empty() {
            return;
        }
        log::debug!(target: AGENT, "{}: handing {} connections to other workers ({})", self.agent.name, moving.len(), if isolate { "a callback blocked" } else { "released" });
        self.agent
            .load
            .conns
            .fetch_sub(moving.len(), Ordering::Relaxed);
        self.agent.shared.notify(ToAcceptor::Shed {
            id: self.agent.worker_id,
            conns: moving,
            isolate,
        });
    }

    fn schedule(&mut self, token: usize) {
        let Some(entry) = self.conns.get_mut(token) else {
            return;
        };
        match guarded(self.agent, "deadline", || entry.conn.deadline()) {
            Some(Some(deadline)) => {
                if entry.scheduled.is_none_or(|s| deadline < s) {
                    entry.scheduled = Some(deadline);
                    self.timers.push(Reverse((deadline, token)));
                }
            }
            Some(None) => {}
            None => self.close(token),
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if token & TAG != 0 {
                // A header deadline: one per pending connection, never moved.
                self.advance_header(token & !TAG);
                continue;
            }
            let Some(entry) = self.conns.get_mut(token) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue; // stale: superseded by an earlier deadline
            }
            entry.scheduled = None;
            match guarded(self.agent, "deadline", || entry.conn.deadline()) {
                Some(Some(d)) if d <= now => self.dispatch(token, ConnEvent::Timer),
                Some(Some(_)) => self.schedule(token),
                Some(None) => {}
                None => self.close(token),
            }
        }
    }

    fn close(&mut self, token: usize) {
        if let Some(entry) = self.conns.remove(token) {
            if entry.scheduled.is_some() {
                self.note_stale_timer();
            }
            // Closing the socket removes it from the epoll set: no separate deregister call.
            drop(entry);
            connection_closed(self.agent, 1);
        }
    }

    /// A heap entry was left behind by a closed connection (or a finished header). When they
    /// outnumber the live ones the heap is rebuilt from what is live.
    fn note_stale_timer(&mut self) {
        self.stale_timers += 1;
        let live = self.conns.len() + self.headers.len();
        if self.stale_timers > 1024 && self.stale_timers > 2 * live {
            let conns = self
                .conns
                .iter()
                .filter_map(|(token, e)| e.scheduled.map(|at| Reverse((at, token))));
            let headers = self
                .headers
                .iter()
                .map(|(token, h)| Reverse((h.deadline, token | TAG)));
            self.timers = conns.chain(headers).collect();
            self.stale_timers = 0;
        }
    }
}
