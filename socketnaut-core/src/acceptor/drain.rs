//! The shutdown sequence. `shutdown(drain)` (or the first SIGTERM/SIGINT after
//! `shutdown_on_signals`) sends `Shutdown { deadline }` to the acceptor, which:
//!
//! 1. sets `draining` (visible to servers through `ServiceAgent::is_draining`), deregisters and
//!    closes the listener (new connections are refused: load balancers see the port go away);
//! 2. closes connections still waiting for a worker (counted `rejected`, logged);
//! 3. sends `Drain` to every worker. An evented worker passes `ConnEvent::Drain` to each
//!    connection (the HTTP server closes idle keep-alive connections at once, finishes requests
//!    in flight, and answers them with `Connection: close`) and exits when it holds none. A
//!    blocking worker serves what is already queued to it and exits. Connections recovered from
//!    a worker that dies meanwhile go to any remaining worker, or are closed (`rejected`);
//! 4. at the deadline, sends `Force` (evented workers drop every connection) and shuts down the
//!    socket each blocking worker is serving, which unblocks its reads and writes;
//! 5. joins each worker as it exits, recording a [`WorkerReport`] (clean, or panicked with the
//!    message). A thread still alive [`FORCE_GRACE`] after the forced close is reported
//!    `Abandoned` and left detached rather than hanging shutdown;
//! 6. publishes the reports (`Lifecycle::Stopped`); `shutdown` and `wait` return them. Dropping a
//!    `ServiceProxy` that was not shut down runs the sequence with no drain time.

use std::time::{Duration, Instant};

use super::Acceptor;
use crate::report::WorkerReport;
use crate::targets::PROXY;

/// How long to wait for threads after the forced close before reporting them abandoned.
const FORCE_GRACE: Duration = Duration::from_secs(1);

/// While draining, the acceptor also looks at the threads this often: a worker's exit message
/// wakes it by itself, and this bounds any missed wake.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// Where the shutdown sequence is.
pub(super) struct Drain {
    /// When whatever is still open is force-closed.
    deadline: Instant,
    forced_at: Option<Instant>,
    /// One per worker, as each exits.
    pub(super) reports: Vec<WorkerReport>,
}

impl Drain {
    /// The next time the sequence needs a look.
    pub(super) fn next_check(&self, now: Instant) -> Instant {
        let due = match self.forced_at {
            Some(forced) => forced + FORCE_GRACE,
            None => self.deadline,
        };
        due.min(now + CHECK_EVERY)
    }
}

impl Acceptor {
    /// Begins the sequence with `deadline`, or moves an earlier-begun one's deadline forward
    /// to it (a second shutdown call with a shorter drain, or a signal).
    pub(super) fn begin_shutdown(&mut self, deadline: Instant) {
        if let Some(drain) = &mut self.drain {
            drain.deadline = drain.deadline.min(deadline);
            self.shared.begin_draining(Some(drain.deadline));
            return;
        }
        self.drain = Some(Drain {
            deadline,
            forced_at: None,
            reports: Vec::new(),
        });
        self.shared.begin_draining(Some(deadline));
        self.listen.close(&self.poll);
        log::info!(target: PROXY, "shutting down: listener closed, draining {} workers", self.pool.len());
        let waiting = self.pending.len();
        if waiting > 0 {
            self.pending.clear();
            self.shared
                .closed_unserved(waiting, &self.shared.counters.rejected);
            log::warn!(target: PROXY, "closed {waiting} connections that were waiting for a worker");
        }
        self.pool.drain();
    }

    /// One step of the sequence; true when it is complete.
    pub(super) fn drive_shutdown(&mut self, now: Instant) -> bool {
        // Connections recovered from a dead worker or shed just before the drain: give them to
        // any remaining worker (it drains them), else close them.
        while let Some(msg) = self.pending.pop_front() {
            if self.pool.hand_to_any(msg, now).is_err() {
                self.shared
                    .closed_unserved(1, &self.shared.counters.rejected);
            }
        }
        if self.pool.is_empty() {
            return true;
        }
        let drain = self.drain.as_mut().expect("shutting down");
        match drain.forced_at {
            None if now >= drain.deadline => {
                self.pool.force();
                drain.forced_at = Some(now);
                false
            }
            Some(forced) if now >= forced + FORCE_GRACE => {
                drain.reports.extend(self.pool.abandon());
                true
            }
            _ => false,
        }
    }
}
