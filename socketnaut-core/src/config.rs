//! The validated [`Config`] of a proxy: written once by the builder's `validate`, read by the
//! acceptor, the pool and the workers. Each field's default and reason are on its setter.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::agent::ServiceAgent;
use crate::pool::balance::Balance;
use crate::server::{BlockingServer, EventedServer};

type BlockingFactory = dyn Fn(&ServiceAgent) -> io::Result<Box<dyn BlockingServer>> + Send + Sync;
type EventedFactory = dyn Fn(&ServiceAgent) -> io::Result<Box<dyn EventedServer>> + Send + Sync;
pub(crate) type Hook = Arc<dyn Fn(&ServiceAgent) + Send + Sync>;

/// The per-worker factory: the `workerURL` of the Node original, run once on each worker thread.
#[derive(Clone)]
pub(crate) enum Factory {
    Blocking(Arc<BlockingFactory>),
    Evented(Arc<EventedFactory>),
}

impl Factory {
    pub(crate) fn is_evented(&self) -> bool {
        matches!(self, Factory::Evented(_))
    }
}

/// The validated configuration, read by the acceptor and the workers.
pub(crate) struct Config {
    pub(crate) min_workers: usize,
    pub(crate) max_workers: usize,
    /// Evented kind: keep spreading connections onto new workers until there are this many.
    pub(crate) spread: usize,
    pub(crate) reap_interval: Duration,
    pub(crate) worker_idle_timeout: Duration,
    pub(crate) thread_name: String,
    /// The `service` label of the proxy's figures.
    pub(crate) service_name: Arc<str>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<Hook>,
    pub(crate) on_exit: Option<Hook>,
    pub(crate) max_connections: usize,
    pub(crate) balance: Balance,
    pub(crate) busy_threshold: Duration,
    pub(crate) migrate: bool,
    pub(crate) consolidate_after: Duration,
    pub(crate) restart_backoff: (Duration, Duration),
    pub(crate) nodelay: bool,
    pub(crate) accept_batch_window: Duration,
    /// PROXY protocol on: how long a connection may take to send its header.
    pub(crate) proxy_header: Option<Duration>,
    pub(crate) factory: Factory,
}
