//! The messages that carry connections between a worker and the acceptor: a worker's inbox
//! ([`ToWorker`], and the token its waker has on its poll), and the connections an evented
//! worker sheds ([`Shed`]).

use crate::connection::Connection;
use crate::server::EventedConnection;

/// The waker's token on an evented worker's poll; connection tokens (see `slab`) never equal it.
pub(crate) const WORKER_WAKER: mio::Token = mio::Token(usize::MAX);

/// Acceptor → worker.
pub(crate) enum ToWorker {
    /// A newly accepted connection.
    Conn(Connection),
    /// A connection moving from another (evented) worker. `isolate`: it is leaving a worker
    /// whose callback blocked, so it wants an empty worker; otherwise it is being packed onto
    /// fewer workers.
    Adopt {
        conn: Box<dyn EventedConnection>,
        isolate: bool,
    },
    /// Exit once no connection is held (the reaper's choice).
    Retire,
    /// Evented: hand every connection back to the acceptor, then exit (consolidation).
    Release,
    /// Shut down: finish in-flight work, close idle connections, exit.
    Drain,
    /// The drain deadline passed: close everything now and exit.
    Force,
}

impl ToWorker {
    /// Whether the message carries a connection (to be re-placed if it comes back).
    pub(crate) fn is_connection(&self) -> bool {
        matches!(self, ToWorker::Conn(_) | ToWorker::Adopt { .. })
    }
}

/// An evented worker hands these connections back to the acceptor for placement: because a
/// callback blocked (`isolate`), or because it was released. Sent on a channel of its own,
/// followed by a wake of the acceptor.
pub(crate) struct Shed {
    pub(crate) id: usize,
    pub(crate) conns: Vec<Box<dyn EventedConnection>>,
    pub(crate) isolate: bool,
}
