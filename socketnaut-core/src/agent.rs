//! [`ServiceAgent`]: what a worker knows about itself and its proxy, handed to the factory and
//! to evented connections through their context.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::observer::Observer;
use crate::pool::load::WorkerLoad;
use crate::shared::Shared;
use crate::stats::{Counters, Stats};

/// A worker's handle on itself and its proxy, given to the server factory (the analogue of the
/// Node original's `ServiceAgent`) and to evented connections through their context.
///
/// It is cheap to clone and can be kept by the server.
#[derive(Clone)]
pub struct ServiceAgent {
    pub(crate) worker_id: usize,
    pub(crate) name: Arc<str>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) load: Arc<WorkerLoad>,
}

impl fmt::Debug for ServiceAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAgent")
            .field("worker_id", &self.worker_id)
            .field("name", &self.name)
            .finish()
    }
}

impl ServiceAgent {
    /// This worker's id, unique within its proxy (ids are not reused).
    pub fn worker_id(&self) -> usize {
        self.worker_id
    }

    /// This worker's thread name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The proxy's listening address.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// True once the proxy has begun shutting down: finish what is in flight, take nothing new,
    /// and answer with `Connection: close` or the protocol's equivalent.
    pub fn is_draining(&self) -> bool {
        self.shared.is_draining()
    }

    /// Counts a panic that the server caught itself in [`Stats::panics`](crate::Stats::panics),
    /// so that figure covers every panic whoever caught it (an HTTP server catches a handler's
    /// panic to answer 500 on the connection, where the worker would only close it).
    pub fn count_panic(&self) {
        Counters::add(&self.shared.counters.panics, 1);
    }

    /// A handle on this proxy's figures (stats, readiness) to keep or hand on.
    pub fn observer(&self) -> Observer {
        Observer::new(self.shared.clone())
    }

    /// A snapshot of this worker's proxy's pool and counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The number of connections this worker holds now (including ones queued to it).
    pub fn connections(&self) -> usize {
        self.load.conns()
    }
}
