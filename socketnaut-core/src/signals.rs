//! The opt-in mapping of SIGTERM and SIGINT to a graceful drain: a thread on signal-hook's
//! self-pipe that tells the acceptor to shut down.

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::acceptor::inbox::ToAcceptor;
use crate::shared::Shared;
use crate::targets::PROXY;

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
                log::info!(target: PROXY, "{name}: draining (deadline {drain:?})");
                shared.notify(ToAcceptor::Shutdown {
                    deadline: Instant::now() + drain,
                });
            }
        })?;
    Ok(handle)
}
