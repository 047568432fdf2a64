//! The two kinds of server a worker can run, as trait objects made by a per-worker factory.
//!
//! * [`BlockingServer`]: the worker serves one connection at a time with ordinary blocking I/O.
//!   Simple, and a blocking call in it stalls nobody else; the pool grows to one thread per
//!   concurrent connection, up to `max_workers`.
//! * [`EventedServer`]: the worker runs a mio `Poll` and multiplexes many connections, each an
//!   [`EventedConnection`] state machine. The worker owns the loop, the registrations and the
//!   timers; the server only reacts to events. Because the framework owns the loop it can time
//!   every callback, catch panics per connection, and move connections off a worker whose
//!   callbacks block (the design is in `pool::worker::evented`).

use std::io;
use std::time::Instant;

use crate::agent::ServiceAgent;
use crate::connection::Connection;

/// A server that handles one connection at a time on its worker thread, with blocking I/O.
///
/// Made on the worker thread by the factory given to
/// [`ServiceProxyBuilder::blocking`](crate::ServiceProxyBuilder::blocking), so it need not be
/// `Send` (it may hold `Rc`s, thread-locals, or a database connection that must stay on one
/// thread).
///
/// # Panics
///
/// A panic inside `serve` is caught: it costs that connection (the socket is closed), is logged
/// on `socketnaut::agent` and counted in [`Stats::panics`](crate::Stats::panics), and the worker
/// goes on with the next connection using the same server value.
pub trait BlockingServer {
    /// Serves one connection until it is done. The stream is in blocking mode. Returning closes
    /// the socket; an `Err` is logged at debug level (clients hanging up are routine).
    fn serve(&mut self, conn: Connection, agent: &ServiceAgent) -> io::Result<()>;
}

impl<F> BlockingServer for F
where
    F: FnMut(Connection, &ServiceAgent) -> io::Result<()>,
{
    fn serve(&mut self, conn: Connection, agent: &ServiceAgent) -> io::Result<()> {
        self(conn, agent)
    }
}

/// A server whose worker multiplexes many connections on a mio event loop.
///
/// Made on the worker thread by the factory given to
/// [`ServiceProxyBuilder::evented`](crate::ServiceProxyBuilder::evented); it need not be `Send`,
/// but the connection state it makes must be, because connections may move between workers.
pub trait EventedServer {
    /// Turns a newly accepted connection (non-blocking socket) into a connection state machine.
    /// The worker registers the returned connection's socket; registration reports the
    /// socket's current readiness as the first event.
    ///
    /// # Errors
    ///
    /// An error closes the connection and is logged.
    ///
    /// # Panics
    ///
    /// A panic is caught and costs this connection only.
    fn open(
        &mut self,
        conn: Connection,
        agent: &ServiceAgent,
    ) -> io::Result<Box<dyn EventedConnection>>;

    /// Called once after each batch of events, for per-worker housekeeping (refreshing a cached
    /// clock string, flushing metrics). Default: nothing.
    ///
    /// # Panics
    ///
    /// A panic here is a worker-level failure: the worker thread dies, its connections are
    /// closed, and the supervisor starts a replacement (with backoff).
    fn after_events(&mut self, _now: Instant) {}
}

/// What happened to an evented connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEvent {
    /// The socket may be readable and/or writable (edge-triggered: read or write until
    /// `WouldBlock`). Also sent, with both flags set, right after a connection migrates to
    /// another worker, so requests it already buffered are processed.
    Ready {
        /// The socket may have data or EOF to read.
        readable: bool,
        /// The socket may accept writes.
        writable: bool,
        /// The peer has shut down its sending side (or the socket failed): a read will reach
        /// EOF or an error after any buffered data, so read until it does.
        read_closed: bool,
    },
    /// The instant returned by [`EventedConnection::deadline`] has passed.
    Timer,
    /// The proxy is draining: close now if idle, otherwise finish the work in flight and close.
    Drain,
}

/// What the worker should do with a connection after a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep it registered.
    Keep,
    /// Deregister it and drop it (closing the socket).
    Close,
}

/// Per-callback context for an evented connection.
#[derive(Debug)]
pub struct ConnContext<'a> {
    pub(crate) now: Instant,
    pub(crate) agent: &'a ServiceAgent,
}

impl ConnContext<'_> {
    /// The time the worker read just before this callback.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The worker's agent.
    pub fn agent(&self) -> &ServiceAgent {
        self.agent
    }

    /// True once the proxy is draining.
    pub fn is_draining(&self) -> bool {
        self.agent.is_draining()
    }
}

/// One connection's state machine on an evented worker.
///
/// The worker registers [`socket`](Self::socket) with edge-triggered `READABLE | WRITABLE`
/// interest, calls [`on_event`](Self::on_event) for readiness, timers and the drain signal, and
/// drops the value when it returns [`Step::Close`] (or when the worker force-closes at the drain
/// deadline). Callbacks must not block on the socket; they may block in user code (a handler
/// calling a database), which the worker measures and reacts to.
///
/// # Panics
///
/// A panic in any method is caught and costs this connection only.
pub trait EventedConnection: Send {
    /// The socket to register.
    fn socket(&mut self) -> &mut mio::net::TcpStream;

    /// Handles an event.
    fn on_event(&mut self, event: ConnEvent, cx: &mut ConnContext<'_>) -> Step;

    /// The next instant at which the connection wants a [`ConnEvent::Timer`], if any. Read after
    /// every callback; a later instant than before simply postpones the timer.
    fn deadline(&self) -> Option<Instant>;
}
