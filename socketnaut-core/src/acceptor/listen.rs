//! Accepting: the listener, `accept` until `WouldBlock`, the error policy, and accept batching
//! under a stream of connections.
//!
//! # Backpressure and accept errors
//!
//! - At `max_connections` (or while a connection waits for a worker) the acceptor stops calling
//!   `accept`. The listener is edge-triggered: once accepting stops before `WouldBlock` no new
//!   event may come for the connections already waiting, so the acceptor records the stall and
//!   retries when a worker's close wakes it (the capacity handshake), not on a new edge.
//! - `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` and unknown errors leave the client in the backlog
//!   and schedule a retry after 10 ms, doubling to 1 s (a timer, so no spin); any wake from a
//!   worker (which usually means a descriptor was freed) retries at once (so no stall). Logged at
//!   most once a second. Tested in a child process under `ulimit -n 64`: the child's CPU stays
//!   under 20% of one core while exhausted, and every waiting client is served once descriptors
//!   free.
//!
//! # Accept batching
//!
//! Every connection crosses one thread boundary the ceiling server does not have: the acceptor
//! accepts it, a worker serves it. Without batching the acceptor is woken for almost every
//! connection, and on a busy 2-core machine each wake (a context switch into a thread, and later
//! out of it) costs more CPU than the `accept` itself. With batching turned off,
//! `SOCKETNAUT_BENCH_ACCEPT_BATCH_US=0 cargo bench --bench load -- hello_close` (the bench prints
//! "server runs/req": how often server threads were scheduled onto a CPU per request) measured
//! 28.1 µs of server CPU per connection against the ceiling's 19.7 µs (1.42×), and 1.41 runs per
//! request against 0.96.
//!
//! So while connections arrive as a stream, the acceptor, after draining the backlog and handing
//! the connections off, sleeps `accept_batch_window` (200 µs by default) before it polls again.
//! Connections arriving meanwhile wait in the kernel backlog and the listener's edge waits in the
//! epoll ready list; the next round accepts them all in one wake. "A stream" means the previous
//! wake that accepted something began less than five windows ago ([`batch_accepts`],
//! unit-tested); a connection after a quiet spell is accepted at once and costs no extra wake.
//! The cost is at most one window of added accept latency per connection under a stream, and the
//! acceptor answers worker messages up to one window later. With it (the default, `cargo bench
//! --bench load -- hello_close`), four runs measured 0.74–0.82 runs per request and 0.92–1.00× the
//! ceiling's CPU. `accept_batch_window(Duration::ZERO)` turns it off for a latency-first
//! service; the wake count is what it saves, so it matters less on machines with idle cores.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use mio::event::Events;
use mio::net::TcpListener as MioListener;
use mio::{Interest, Poll, Token};

use crate::connection::{Connection, ProxySocketAddressInfo};
use crate::shared::Shared;
use crate::stats::Counters;
use crate::targets::PROXY;

const LISTENER: Token = Token(0);

/// First retry delay after an `accept` error such as `EMFILE`; it doubles up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The outcome of one `accept`.
pub(super) enum Accepted {
    Conn(Connection),
    /// The backlog is empty.
    Drained,
    /// An error paused accepting until the retry time (or a wake).
    Paused,
}

pub(super) struct Listen {
    /// `None` once shutdown closed it.
    listener: Option<MioListener>,
    local_addr: SocketAddr,
    /// The listener is bound to one address, so every connection's local end is known.
    local_fixed: bool,
    /// `TCP_NODELAY` on accepted sockets (inherited from the listener on Linux).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    nodelay: bool,
    next_conn: u64,
    /// Accepting stopped before `WouldBlock`.
    stalled: bool,
    retry_at: Option<Instant>,
    delay: Duration,
    last_error_log: Option<Instant>,
    /// When the last wake that accepted something began (for accept batching).
    last_accept_wake: Option<Instant>,
}

impl Listen {
    pub(super) fn new(
        poll: &Poll,
        listener: TcpListener,
        local_addr: SocketAddr,
        nodelay: bool,
    ) -> io::Result<Listen> {
        let mut listener = MioListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Listen {
            listener: Some(listener),
            local_addr,
            local_fixed: !local_addr.ip().is_unspecified(),
            nodelay,
            next_conn: 0,
            stalled: false,
            retry_at: None,
            delay: RETRY_MIN,
            last_error_log: None,
            last_accept_wake: None,
        })
    }

    /// Whether the listener is ready among `events`. Any other event is a wake: a worker may
    /// have freed capacity (or file descriptors), so an accept paused by an error may retry
    /// now rather than at its timer.
    pub(super) fn saw_events(&mut self, events: &Events) -> bool {
        let mut ready = false;
        for event in events.iter() {
            if event.token() == LISTENER {
                ready = true;
            } else {
                self.retry_at = None;
            }
        }
        ready
    }

    pub(super) fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// Accepting must pause (capacity): no edge will come, so the acceptor retries.
    pub(super) fn stall(&mut self) {
        self.stalled = true;
    }

    /// Whether an error's retry time has passed (or there is none).
    pub(super) fn retry_due(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| now >= t)
    }

    /// When a stalled accept should be retried.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at.filter(|_| self.stalled)
    }

    /// Accepts one connection.
    pub(super) fn accept_one(&mut self, now: Instant, shared: &Shared) -> Accepted {
        loop {
            let Some(listener) = &self.listener else {
                return Accepted::Drained;
            };
            match listener.accept() {
                Ok((stream, remote)) => {
                    self.delay = RETRY_MIN;
                    self.retry_at = None;
                    Counters::add(&shared.counters.accepted, 1);
                    shared.counters.active.opened();
                    return Accepted::Conn(self.connection(stream.into(), remote, now));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stalled = false;
                    return Accepted::Drained;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    Counters::add(&shared.counters.accept_errors, 1);
                    self.pause(now, &e);
                    return Accepted::Paused;
                }
            }
        }
    }

    fn connection(
        &mut self,
        stream: std::net::TcpStream,
        remote: SocketAddr,
        now: Instant,
    ) -> Connection {
        // Linux accepted sockets inherit TCP_NODELAY from the listener (set at build);
        // elsewhere set it here.
        #[cfg(not(target_os = "linux"))]
        if self.nodelay {
            let _ = stream.set_nodelay(true);
        }
        let local = if self.local_fixed {
            self.local_addr
        } else {
            stream.local_addr().unwrap_or(self.local_addr)
        };
        let info = ProxySocketAddressInfo {
            local: local.into(),
            remote: remote.into(),
        };
        self.next_conn += 1;
        Connection::new(stream, info, self.next_conn, now)
    }

    /// EMFILE, ENFILE, ENOBUFS, ENOMEM and the unknown: the pending connection stays in the
    /// backlog. Retry on a doubling timer, or sooner when a worker closes a connection (freeing
    /// a descriptor) and wakes the acceptor. Logged at most once a second.
    fn pause(&mut self, now: Instant, e: &io::Error) {
        self.retry_at = Some(now + self.delay);
        self.delay = (self.delay * 2).min(RETRY_MAX);
        self.stalled = true;
        if self
            .last_error_log
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            self.last_error_log = Some(now);
            log::warn!(target: PROXY, "accept failed: {e}; clients wait in the backlog, retrying");
        }
    }

    /// After a round that accepted `accepted` connections: under a stream of connections,
    /// sleep one batch `window`, so the next round takes all that arrived meanwhile (they
    /// queue in the backlog, and the listener's edge waits in the poll) with one wake of a
    /// worker per batch instead of per connection.
    pub(super) fn after_accepting(&mut self, accepted: usize, now: Instant, window: Duration) {
        if accepted == 0 {
            return;
        }
        let stream = batch_accepts(self.last_accept_wake, now, window);
        self.last_accept_wake = Some(now);
        // Only once the backlog is drained: a stalled accept has its own wake-ups.
        if stream && !self.stalled {
            std::thread::sleep(window);
        }
    }

    /// Shutdown: stop listening (clients then get refused, and balancers' checks fail).
    pub(super) fn close(&mut self, poll: &Poll) {
        if let Some(mut listener) = self.listener.take() {
            let _ = poll.registry().deregister(&mut listener);
        }
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
