//! Errors of building and starting a proxy.

use std::fmt;
use std::io;

/// Why [`ServiceProxyBuilder::build`](crate::ServiceProxyBuilder::build) refused a configuration
/// or could not set up the listener.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `worker_count` was below 1 (the original's "workerCount must be at least 1").
    WorkerCountTooSmall,
    /// `max_workers` was below 1.
    MaxWorkersTooSmall,
    /// `min_workers` was greater than `max_workers`.
    MinAboveMax {
        /// The requested minimum.
        min: usize,
        /// The requested maximum.
        max: usize,
    },
    /// `max_connections` was 0: the proxy could never serve anyone.
    MaxConnectionsZero,
    /// Neither `blocking` nor `evented` was called: there is nothing to run on the workers.
    NoServer,
    /// Neither `listener` nor `bind` was called.
    NoListener,
    /// Binding, configuring or registering the listener failed, or a thread could not start.
    Io(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::WorkerCountTooSmall => write!(f, "worker_count must be at least 1"),
            BuildError::MaxWorkersTooSmall => write!(f, "max_workers must be at least 1"),
            BuildError::MinAboveMax { min, max } => write!(
                f,
                "min_workers ({min}) must not be greater than max_workers ({max})"
            ),
            BuildError::MaxConnectionsZero => write!(f, "max_connections must be at least 1"),
            BuildError::NoServer => write!(
                f,
                "no server: call `blocking(factory)` or `evented(factory)` on the builder"
            ),
            BuildError::NoListener => write!(
                f,
                "no listener: call `listener(std_listener)` or `bind(addr)` on the builder"
            ),
            BuildError::Io(e) => write!(f, "listener or thread setup failed: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for BuildError {
    fn from(e: io::Error) -> Self {
        BuildError::Io(e)
    }
}

/// Why [`ServiceProxy::ready`](crate::ServiceProxy::ready) reports that the proxy is not serving.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// A worker of the initial `min_workers` set failed to start: its factory returned an error
    /// or panicked, or its start hook panicked. The message says which and why. The proxy keeps
    /// retrying with exponential backoff in the background.
    WorkerFailed {
        /// The worker's id.
        worker: usize,
        /// What went wrong.
        message: String,
    },
    /// The proxy was shut down before it became ready.
    ShutDown,
    /// `ready_timeout` ran out first.
    TimedOut,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::WorkerFailed { worker, message } => {
                write!(f, "worker {worker} failed to start: {message}")
            }
            StartError::ShutDown => write!(f, "the proxy was shut down before it became ready"),
            StartError::TimedOut => write!(f, "timed out waiting for the proxy to become ready"),
        }
    }
}

impl std::error::Error for StartError {}

/// Renders a panic payload as text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
