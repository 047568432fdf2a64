//! [`ServiceProxy`]: the handle users hold. It starts the acceptor thread, and every call on
//! it is a message to the acceptor or a read of the `Shared` hub (`shared.rs`).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::acceptor::inbox::Inbox;
use crate::acceptor::inbox::ToAcceptor;
use crate::acceptor::Acceptor;
use crate::builder::ServiceProxyBuilder;
use crate::config::Config;
use crate::error::{BuildError, StartError};
use crate::observer::Observer;
use crate::report::WorkerReport;
use crate::shared::{Lifecycle, Shared};
use crate::signals::watch_signals;
use crate::stats::Stats;
use crate::targets::PROXY;

/// A service proxy: owns a listening socket and spreads its connections over a pool of worker
/// threads, each running a server made by your factory. Built with [`ServiceProxy::builder`].
///
/// Dropping it shuts it down with no drain time (use [`shutdown`](Self::shutdown) to drain).
///
/// # Examples
///
/// See [`ServiceProxyBuilder`].
pub struct ServiceProxy {
    shared: Arc<Shared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
    signals: Mutex<Option<signal_hook::iterator::Handle>>,
}

impl std::fmt::Debug for ServiceProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProxy")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServiceProxy {
    /// A builder with every default.
    pub fn builder() -> ServiceProxyBuilder {
        ServiceProxyBuilder::default()
    }

    pub(crate) fn start(config: Config, listener: TcpListener) -> Result<ServiceProxy, BuildError> {
        let local_addr = listener.local_addr()?;
        let poll = mio::Poll::new()?;
        let (inbox, rx) = Inbox::new(&poll)?;
        let shared = Arc::new(Shared::new(local_addr, config.service_name.clone(), inbox));
        let acceptor = Acceptor::new(poll, listener, rx, shared.clone(), Arc::new(config))?;
        let guard = shared.clone();
        let handle = thread::Builder::new()
            .name("socketnaut-acceptor".to_owned())
            .spawn(move || {
                // The acceptor has no caught panics of its own; should one happen anyway, the
                // proxy must still read as stopped, or `ready`, `wait` and `shutdown` would
                // block forever.
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| acceptor.run()));
                if let Err(p) = run {
                    log::error!(target: PROXY, "the acceptor panicked: {}", crate::error::panic_message(&*p));
                    guard.begin_draining(None);
                    guard.set_lifecycle(Lifecycle::Stopped(Vec::new()));
                }
            })?;
        log::info!(target: PROXY, "listening on {local_addr}");
        Ok(ServiceProxy {
            shared,
            acceptor: Mutex::new(Some(handle)),
            signals: Mutex::new(None),
        })
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Blocks until the proxy is ready: its `min_workers` workers have started (immediately when
    /// `min_workers` is 0). Level-triggered: it returns at once if that already happened, however
    /// long ago, and may be called any number of times from any thread.
    ///
    /// # Errors
    ///
    /// [`StartError::WorkerFailed`] if a worker of the initial set failed to start (the proxy
    /// keeps retrying with backoff, and a later call returns `Ok` once a retry succeeds), or
    /// [`StartError::ShutDown`] if the proxy stopped first.
    pub fn ready(&self) -> Result<(), StartError> {
        self.ready_until(None)
    }

    /// [`ready`](Self::ready) with a time limit.
    ///
    /// # Errors
    ///
    /// As `ready`, plus [`StartError::TimedOut`].
    pub fn ready_timeout(&self, timeout: Duration) -> Result<(), StartError> {
        self.ready_until(Some(Instant::now() + timeout))
    }

    fn ready_until(&self, deadline: Option<Instant>) -> Result<(), StartError> {
        self.shared.wait_ready(deadline)
    }

    /// A snapshot of the pool and the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// A handle on this proxy's figures for code that runs elsewhere (a metrics endpoint, a
    /// health check); the same as [`ServiceAgent::observer`](crate::ServiceAgent::observer).
    pub fn observer(&self) -> Observer {
        Observer::new(self.shared.clone())
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.shared.is_draining()
    }

    /// Shuts down gracefully and returns one report per worker that was alive.
    ///
    /// The sequence: stop accepting and close the listener; tell every worker to drain (evented
    /// servers close idle connections at once and finish in-flight requests; blocking servers
    /// finish the connection they serve); at `drain` after the call, force-close whatever is
    /// left; join every thread (a thread still stuck one second after the forced close is
    /// reported [`Abandoned`](crate::WorkerOutcome::Abandoned)). Calling it again, or after a
    /// signal-initiated drain, waits for the same end and returns the same reports.
    pub fn shutdown(&self, drain: Duration) -> Vec<WorkerReport> {
        self.shared.notify(ToAcceptor::Shutdown {
            deadline: Instant::now() + drain,
        });
        self.wait()
    }

    /// Blocks until the proxy has stopped (through [`shutdown`](Self::shutdown) on another
    /// thread, or a signal after [`shutdown_on_signals`](Self::shutdown_on_signals)), and
    /// returns the worker reports.
    pub fn wait(&self) -> Vec<WorkerReport> {
        let reports = self.shared.wait_stopped();
        if let Some(handle) = self.acceptor.lock().take() {
            if handle.join().is_err() {
                log::error!(target: PROXY, "the acceptor thread panicked");
            }
        }
        if let Some(signals) = self.signals.lock().take() {
            signals.close();
        }
        reports
    }

    /// Turns the first SIGTERM or SIGINT into a graceful drain with `drain` as the deadline (the
    /// listener closes at once, so load balancer health checks fail and traffic moves away).
    /// Pair it with [`wait`](Self::wait) in `main`. Uses signal-hook's self-pipe; no async
    /// runtime.
    ///
    /// # Errors
    ///
    /// If the signal handlers cannot be installed.
    pub fn shutdown_on_signals(&self, drain: Duration) -> io::Result<()> {
        let handle = watch_signals(self.shared.clone(), drain)?;
        if let Some(old) = self.signals.lock().replace(handle) {
            old.close();
        }
        Ok(())
    }
}

impl Drop for ServiceProxy {
    fn drop(&mut self) {
        if self.acceptor.lock().is_some() {
            self.shutdown(Duration::ZERO);
        }
    }
}

/// Checks at compile time that handles can be shared across threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ServiceProxy>();
    is::<crate::ServiceAgent>();
    is::<Stats>();
    fn is_send<T: Send>() {}
    is_send::<crate::Connection>();
}
