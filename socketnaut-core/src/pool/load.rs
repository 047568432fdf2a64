//! What one worker publishes about itself ([`WorkerLoad`]) for the acceptor's choices and for
//! [`Stats`](crate::Stats), and the wake-up handshake between a sender and a sleeping evented
//! worker ([`Parked`]).
//!
//! | field | written by | read by | meaning |
//! |---|---|---|---|
//! | `conns` | acceptor +1 at hand-off; worker −n at close or migration | placement, reaper, consolidation, `stats()` | connections held or queued |
//! | `busy_since` | evented worker around each callback | placement, consolidation, monitor | a callback is running; the value is when it began (0 = none) |
//! | `blocked_at` | evented worker (a callback blocked), monitor (took its connections) | placement, consolidation | a callback was last slow at this time (0 = never) |
//! | `tid` | worker, at start | monitor | the thread's kernel id, for its state in `/proc` |
//! | `demote` | monitor | worker, after each callback | lower this thread's priority |
//! | `demoted` | worker | placement, reaper | the thread runs at the lowest priority |
//! | `last_idle` | worker, when `conns` falls to 0 | reaper | start of idleness |
//! | `parked` | evented worker around `poll` | senders | the worker needs its waker |
//! | `serving` | blocking worker | acceptor at the drain deadline | a clone of the socket being served, to shut it down |
//!
//! Every figure here but `parked` is a hint: the acceptor decides from it and may be a moment
//! late, which costs balance, never correctness. They use `Relaxed`; the increments and
//! decrements of `conns` that matter pair up through the worker's channel, which orders them.

use std::net::TcpStream;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// A running callback is judged computing (or not) after this many busy thresholds: by the
/// monitor while it runs, by the worker after it returned (see `pool::monitor`).
pub(crate) const COMPUTE_FACTOR: u32 = 5;

#[derive(Debug)]
pub(crate) struct WorkerLoad {
    /// Connections held or queued: the acceptor adds on hand-off, the worker subtracts on close
    /// or migration.
    conns: AtomicUsize,
    /// Evented: clock reading when the running callback began, 0 when none runs.
    busy_since: AtomicU64,
    /// Evented: clock reading when a callback last blocked past the busy threshold, 0 if never.
    blocked_at: AtomicU64,
    /// Clock reading when `conns` last fell to 0.
    last_idle: AtomicU64,
    /// The worker thread's kernel id (for the monitor's look at its state), 0 until known.
    tid: AtomicU64,
    /// The monitor found a callback computing: the worker lowers its thread's priority when
    /// the callback returns (see `pool::monitor`).
    demote: AtomicBool,
    /// The worker's thread runs at the lowest priority: it counts as busy for placement and
    /// retires once it holds none.
    demoted: AtomicBool,
    /// Evented: whether the worker sleeps in `poll`.
    pub(crate) parked: Parked,
    /// Blocking: a clone of the socket being served, so the acceptor can force it closed at the
    /// drain deadline.
    pub(crate) serving: Mutex<Option<TcpStream>>,
}

impl WorkerLoad {
    pub(crate) fn new(now: u64) -> WorkerLoad {
        WorkerLoad {
            conns: AtomicUsize::new(0),
            busy_since: AtomicU64::new(0),
            blocked_at: AtomicU64::new(0),
            last_idle: AtomicU64::new(now),
            tid: AtomicU64::new(0),
            demote: AtomicBool::new(false),
            demoted: AtomicBool::new(false),
            parked: Parked(AtomicBool::new(true)),
            serving: Mutex::new(None),
        }
    }

    /// Connections held or queued.
    pub(crate) fn conns(&self) -> usize {
        self.conns.load(Ordering::Relaxed)
    }

    /// Acceptor: one more connection is on its way to the worker.
    pub(crate) fn add(&self) {
        self.conns.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` connections left the worker (closed, shed, or a hand-off that failed). When none is
    /// left, the worker counts as idle from `now` (a clock reading).
    pub(crate) fn remove(&self, n: usize, now: u64) {
        if self.conns.fetch_sub(n, Ordering::Relaxed) == n {
            self.last_idle.store(now, Ordering::Relaxed);
        }
    }

    /// Clock reading when the worker last had no connection.
    pub(crate) fn last_idle(&self) -> u64 {
        self.last_idle.load(Ordering::Relaxed)
    }

    /// Worker: a callback begins (`Some(start)`) or ended (`None`).
    pub(crate) fn set_in_callback(&self, since: Option<u64>) {
        self.busy_since.store(since.unwrap_or(0), Ordering::Relaxed);
    }

    /// Worker, at start: its thread's kernel id.
    pub(crate) fn set_tid(&self, tid: u64) {
        self.tid.store(tid, Ordering::Relaxed);
    }

    pub(crate) fn tid(&self) -> u64 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Monitor: asks the worker to lower its thread's priority.
    pub(crate) fn request_demotion(&self) {
        self.demote.store(true, Ordering::Relaxed);
    }

    /// Worker: whether the monitor asked, and it has not done so yet.
    pub(crate) fn demotion_requested(&self) -> bool {
        self.demote.load(Ordering::Relaxed) && !self.is_demoted()
    }

    /// Worker: its thread now runs at the lowest priority.
    pub(crate) fn set_demoted(&self) {
        self.demoted.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_demoted(&self) -> bool {
        self.demoted.load(Ordering::Relaxed)
    }

    /// Clock reading when the running callback began (0 when none runs).
    pub(crate) fn callback_since(&self) -> u64 {
        self.busy_since.load(Ordering::Relaxed)
    }

    /// Whether a callback is running now.
    pub(crate) fn in_callback(&self) -> bool {
        self.busy_since.load(Ordering::Relaxed) != 0
    }

    /// Whether the running callback has run at least `threshold` nanoseconds by `now`.
    pub(crate) fn callback_longer_than(&self, now: u64, threshold: u64) -> bool {
        let since = self.busy_since.load(Ordering::Relaxed);
        since != 0 && now.saturating_sub(since) >= threshold
    }

    /// Worker: a callback blocked past the busy threshold, ending at `at`.
    pub(crate) fn set_blocked(&self, at: u64) {
        self.blocked_at.store(at, Ordering::Relaxed);
    }

    /// Whether a callback blocked less than `window` nanoseconds before `now`: the one test of
    /// "blocking lately" that placement (avoid it) and consolidation (leave it) share.
    pub(crate) fn blocked_within(&self, now: u64, window: u64) -> bool {
        let at = self.blocked_at.load(Ordering::Relaxed);
        at != 0 && now.saturating_sub(at) < window
    }
}

/// Whether an evented worker sleeps in `poll`, so that a sender must use its waker (a
/// syscall) for the worker to see a message; while the worker runs it checks its channel every
/// iteration, and senders skip the wake.
///
/// The handshake is a store-buffering pair, each side writing its flag and then reading the
/// other's: the worker sets `parked` and then checks the channel; a sender puts its message
/// in the channel and then takes `parked`. A `SeqCst` fence between each side's write and
/// read (the channel's own operations are the other write and read) guarantees that at least
/// one side sees the other's write: either the worker finds the message and does not sleep, or
/// the sender finds the worker parked and wakes it.
#[derive(Debug)]
pub(crate) struct Parked(AtomicBool);

impl Parked {
    /// Worker, before it sleeps: announces it. The caller then checks its channel once more.
    pub(crate) fn park(&self) {
        self.0.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Worker, once `poll` returned.
    pub(crate) fn unpark(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Sender, after sending: whether it must wake the worker. A swap, not a load: the first
    /// sender to find it parked wakes it; later ones (before it runs and drains its whole
    /// channel) need not.
    pub(crate) fn take_sleeper(&self) -> bool {
        fence(Ordering::SeqCst);
        self.0.swap(false, Ordering::Relaxed)
    }
}
