//! Counters kept by the acceptor and the workers, and the [`Stats`] snapshot users read (the
//! original's "connection distribution" printout, and more).
//!
//! | counter | changed by | when |
//! |---|---|---|
//! | `accepted` | acceptor | each successful `accept` |
//! | `active` (up and down) | acceptor +1 at accept; worker −n at close; acceptor −n for connections lost with a dead worker or closed unserved at shutdown | open connections anywhere |
//! | `rejected` | acceptor | connections still waiting in the acceptor when shutdown begins, or recovered during it with no worker left (closed, logged) |
//! | `spawned` | pool (`thread::spawn`) | each worker thread started |
//! | `retired` | pool (`on_exit`) | a `Retiring` worker exited cleanly |
//! | `replaced` | pool (`keep_minimum`) | a replacement was spawned for a worker that died or failed to start |
//! | `panics` | worker; a server through `ServiceAgent::count_panic` | a panic caught in `serve`, `open` or any `EventedConnection` method, or by the server itself (an HTTP handler's, answered 500) |
//! | `spawn_failures` | pool | factory error or panic, start-hook panic, thread or poll creation error |
//! | `accept_errors` | acceptor | `accept` failed with anything but `WouldBlock`/`EINTR`/`ECONNABORTED`/`ECONNRESET` |
//! | `migrated` | monitor (acceptor thread), acceptor | connections taken from a worker while its slow callback ran, or shed by a worker after a callback blocked |
//! | `consolidated` | acceptor | connections handed back by a released worker, to be packed onto fewer workers |
//! | `proxy_header_errors` | worker | a connection closed because its PROXY protocol header was missing, malformed or late |
//! | `lost_to_worker_death` | pool (`on_exit`) | connections that were on a worker thread when it died |
//! | `pending` (a gauge) | acceptor | stored once per loop: connections it holds waiting for a worker with room |

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The proxy-wide counters. Every field is only ever incremented, except `active`.
///
/// The tallies use `Relaxed`: each is an independent figure read for monitoring, and no
/// decision that needs ordering with other memory is made from them. `active` is the
/// exception (see [`Active`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) spawned: AtomicU64,
    pub(crate) retired: AtomicU64,
    pub(crate) replaced: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) spawn_failures: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) migrated: AtomicU64,
    pub(crate) consolidated: AtomicU64,
    pub(crate) lost_to_worker_death: AtomicU64,
    pub(crate) proxy_header_errors: AtomicU64,
    /// Connections accepted and not yet closed, wherever they are.
    pub(crate) active: Active,
    /// A gauge: connections waiting in the acceptor for a worker with room, as of the
    /// acceptor's last loop (stored by it alone, `Relaxed`).
    pub(crate) pending: AtomicUsize,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Connections accepted and not yet closed: the one counter the acceptor decides from (it
/// stops accepting at `max_connections`), and half of the capacity handshake.
///
/// The handshake: an acceptor at capacity sets its inbox's `wants_wake` flag, then re-reads
/// this count; a worker that closes connections lowers this count, then takes the flag and, if
/// it was set, wakes the acceptor. All four operations are `SeqCst`, so in their single total
/// order either the acceptor's re-read comes after the worker's decrement (and sees the room),
/// or the worker's swap comes after the acceptor's store (and wakes it): the acceptor never
/// sleeps while there is room.
#[derive(Debug, Default)]
pub(crate) struct Active(AtomicUsize);

impl Active {
    /// Acceptor: a connection was accepted.
    pub(crate) fn opened(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// `n` connections closed (by a worker, or unserved by the acceptor).
    pub(crate) fn closed(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::SeqCst);
    }

    /// The count now.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The state of one worker as the acceptor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerState {
    /// Its thread is running the start hook and factory; connections may already be queued.
    Starting,
    /// Serving.
    Running,
    /// Takes no new connections and exits once it holds none: chosen by the reaper (idle), or
    /// released by consolidation (its connections handed back first).
    Retiring,
    /// The proxy is shutting down: finishing in-flight work, then exiting.
    Draining,
}

/// One worker in a [`Stats`] snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The worker's id.
    pub id: usize,
    /// Its thread name.
    pub name: String,
    /// Connections it holds or has queued.
    pub connections: usize,
    /// Its state.
    pub state: WorkerState,
    /// Whether it is inside a callback (a handler running) right now.
    pub in_callback: bool,
    /// Whether its thread was demoted to the lowest priority after a callback computed past
    /// the monitor's threshold (it takes no new connections and retires once empty).
    pub demoted: bool,
}

/// A snapshot of a proxy's pool and counters, from [`ServiceProxy::stats`](crate::ServiceProxy::stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live workers, in start order: the "connection distribution".
    pub workers: Vec<WorkerStats>,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections open now (held by workers, queued to them, or waiting in the acceptor).
    pub active: usize,
    /// Of those, the ones waiting in the acceptor for a worker with room (all workers full,
    /// or a worker being started).
    pub pending: usize,
    /// Accepted connections closed without being served (only at shutdown, for connections
    /// still waiting in the acceptor).
    pub rejected: u64,
    /// Worker threads started (including replacements and failed starts).
    pub spawned: u64,
    /// Workers that exited after being retired by the reaper or released by consolidation.
    pub retired: u64,
    /// Workers that died (or failed to start) and were replaced.
    pub replaced: u64,
    /// Panics caught on a worker (in a server's or a connection's method, or by the server
    /// itself, as an HTTP handler's is) that cost one connection and not the worker.
    pub panics: u64,
    /// Worker starts that failed (factory error or panic, start-hook panic, thread spawn error).
    pub spawn_failures: u64,
    /// `accept` errors other than `WouldBlock` (for example `EMFILE`).
    pub accept_errors: u64,
    /// Connections moved off a worker whose callback was slow (blocked, or computed), by the
    /// monitor while it ran or by the worker after it returned.
    pub migrated: u64,
    /// Connections packed back onto fewer workers after blocking stopped.
    pub consolidated: u64,
    /// Connections that were closed because their worker thread died.
    pub lost_to_worker_death: u64,
    /// With the PROXY protocol on: connections closed because their header was missing,
    /// malformed or late.
    pub proxy_header_errors: u64,
}

impl Stats {
    /// Connections per worker, in worker order.
    pub fn distribution(&self) -> Vec<usize> {
        self.workers.iter().map(|w| w.connections).collect()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "workers={} active={} accepted={} rejected={} spawned={} retired={} replaced={} \
             panics={} spawn_failures={} accept_errors={} migrated={} consolidated={} \
             lost_to_worker_death={} proxy_header_errors={}",
            self.workers.len(),
            self.active,
            self.accepted,
            self.rejected,
            self.spawned,
            self.retired,
            self.replaced,
            self.panics,
            self.spawn_failures,
            self.accept_errors,
            self.migrated,
            self.consolidated,
            self.lost_to_worker_death,
            self.proxy_header_errors,
        )?;
        for w in &self.workers {
            writeln!(
                f,
                "  {} ({:?}): {} connections",
                w.name, w.state, w.connections
            )?;
        }
        Ok(())
    }
}
