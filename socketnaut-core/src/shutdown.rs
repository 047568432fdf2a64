//! What shutdown returns (one [`WorkerReport`] per worker), and the opt-in mapping of SIGTERM and
//! SIGINT to a graceful drain.

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::pool::ToAcceptor;
use crate::proxy::Shared;

/// How one worker ended, as reported by [`ServiceProxy::shutdown`](crate::ServiceProxy::shutdown).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerOutcome {
    /// The thread returned normally.
    Clean,
    /// The thread panicked (outside the per-connection guard) with this message.
    Panicked(String),
    /// The thread was still running one second after the forced close (stuck in a call that
    /// ignores its socket being shut down); it was detached, not joined.
    Abandoned,
}

/// One settled result per worker, like the original's `PromiseSettledResult`s.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// The worker's id.
    pub id: usize,
    /// Its thread name.
    pub name: String,
    /// How it ended.
    pub outcome: WorkerOutcome,
}

/// Spawns the thread that turns the first SIGTERM or SIGINT into a drain with `drain` as the
/// deadline. Returns the handle that stops it.
pub(crate) fn watch_signals(
    shared: Arc<Shared>,
    drain: Duration,
) -> io::Result<signal_hook::iterator::Handle> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let handle = signals.handle();
    thread::Builder::new()
        .name("socketnaut-signals".to_owned())
        .spawn(move || {
            // `forever` ends when the proxy closes the handle after it has stopped.
            for signal in signals.forever() {
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                log::info!(target: "socketnaut::proxy", "{name}: draining (deadline {drain:?})");
                shared.notify(ToAcceptor::Shutdown {
                    deadline: Instant::now() + drain,
                });
            }
        })?;
    Ok(handle)
}
