//! [`ServiceProxyBuilder`]: every tunable of a proxy, with its default and the reason for it.
//! The builder is the only writer of [`Config`]; everything after `build` reads it.

use std::fmt;
use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::agent::ServiceAgent;
use crate::config::{Config, Factory, Hook};
use crate::error::BuildError;
use crate::handle::ServiceProxy;
use crate::listener::Source;
use crate::pool::balance::Balance;
use crate::server::{BlockingServer, EventedServer};
use crate::sys;

/// Default listen backlog: what most servers use; the kernel caps it at `somaxconn`.
pub const DEFAULT_BACKLOG: i32 = 1024;
/// Default `max_workers`: bounded, yet large enough that 64+ connections whose handlers block
/// each get a thread.
pub const DEFAULT_MAX_WORKERS: usize = 256;
/// Default [`ServiceProxyBuilder::accept_batch_window`].
pub const DEFAULT_ACCEPT_BATCH_WINDOW: Duration = Duration::from_micros(200);
/// Default cap on `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// Builds a [`ServiceProxy`]. Made by [`ServiceProxy::builder`].
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use socketnaut_core::ServiceProxy;
///
/// let proxy = ServiceProxy::builder()
///     .bind("127.0.0.1:0")
///     .worker_count(2)
///     .blocking(|_agent| {
///         Ok(|mut conn: socketnaut_core::Connection, _: &socketnaut_core::ServiceAgent| {
///             let mut buf = [0; 1024];
///             loop {
///                 let n = conn.stream_mut().read(&mut buf)?;
///                 if n == 0 { return Ok(()); }
///                 conn.stream_mut().write_all(&buf[..n])?;
///             }
///         })
///     })
///     .build()?;
/// proxy.ready()?;
/// # proxy.shutdown(std::time::Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ServiceProxyBuilder {
    source: Option<Source>,
    backlog: i32,
    reuse_port: bool,
    nodelay: bool,
    worker_count: Option<usize>,
    min_workers: Option<usize>,
    max_workers: Option<usize>,
    reap_interval: Duration,
    worker_idle_timeout: Duration,
    thread_name: String,
    service_name: String,
    stack_size: Option<usize>,
    on_start: Option<Hook>,
    on_exit: Option<Hook>,
    max_connections: Option<usize>,
    balance: Balance,
    busy_threshold: Duration,
    migrate: bool,
    consolidate_after: Duration,
    restart_backoff: (Duration, Duration),
    accept_batch_window: Duration,
    proxy_protocol: bool,
    proxy_header_timeout: Duration,
    factory: Option<Factory>,
}

impl fmt::Debug for ServiceProxyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceProxyBuilder")
            .field("backlog", &self.backlog)
            .field("worker_count", &self.worker_count)
            .field("min_workers", &self.min_workers)
            .field("max_workers", &self.max_workers)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl Default for ServiceProxyBuilder {
    fn default() -> Self {
        ServiceProxyBuilder {
            source: None,
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
            nodelay: true,
            worker_count: None,
            min_workers: None,
            max_workers: None,
            reap_interval: Duration::from_secs(1),
            worker_idle_timeout: Duration::from_secs(10),
            thread_name: "socketnaut-worker".to_owned(),
            service_name: "socketnaut".to_owned(),
            stack_size: None,
            on_start: None,
            on_exit: None,
            max_connections: None,
            balance: Balance::LeastConnections,
            busy_threshold: Duration::from_millis(2),
            migrate: true,
            consolidate_after: Duration::from_secs(5),
            restart_backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            accept_batch_window: DEFAULT_ACCEPT_BATCH_WINDOW,
            proxy_protocol: false,
            proxy_header_timeout: Duration::from_secs(5),
            factory: None,
        }
    }
}

impl ServiceProxyBuilder {
    /// Serves on an already bound listener (any backlog and options you set on it are kept). It
    /// is switched to non-blocking mode.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.source = Some(Source::Std(listener));
        self
    }

    /// Binds a listener to the first address that works, with `SO_REUSEADDR` and the
    /// configured [`backlog`](Self::backlog).
    pub fn bind<A: ToSocketAddrs>(mut self, addr: A) -> Self {
        self.source = Some(Source::Bind(
            addr.to_socket_addrs().map(|addrs| addrs.collect()),
        ));
        self
    }

    /// Serves on the `index`-th listening socket passed by systemd socket activation (or any
    /// launcher speaking its protocol: `LISTEN_FDS`, `LISTEN_PID`, descriptors from 3), so the
    /// socket outlives restarts of the process and several processes can take turns on it.
    /// The environment is read once per process (and the variables removed, so children do not
    /// inherit them); several proxies may each take their own index.
    ///
    /// [`build`](Self::build) fails with a descriptive [`BuildError::Io`] when no socket was
    /// passed at that index, it was already taken, or it is not a listening TCP socket.
    pub fn listen_fd(mut self, index: usize) -> Self {
        self.source = Some(Source::Inherited(index));
        self
    }

    /// The listen backlog used by [`bind`](Self::bind): connections the kernel holds while the
    /// proxy is at `max_connections`. Default is 1024.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets `SO_REUSEPORT` on a listener made by [`bind`](Self::bind), so several processes can
    /// serve one port and the kernel spreads connections among them. Default is off.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Whether accepted sockets have `TCP_NODELAY` (Nagle's algorithm off), as request/response
    /// servers want: a response written whole should not wait for the peer's ACK of the
    /// previous one. Set once on the listener, which accepted sockets inherit on Linux (no
    /// syscall per connection); set per socket elsewhere. Default is on.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// Sets both `min_workers` and `max_workers`, as the original's `workerCount` does. Must be
    /// at least 1. Default is unset.
    pub fn worker_count(mut self, n: usize) -> Self {
        self.worker_count = Some(n);
        self
    }

    /// Workers started before [`ServiceProxy::ready`] returns and never reaped.
    /// Default is the machine's available parallelism (capped at `max_workers`): the Node
    /// original defaults to 0, but a server that starts with one worker per core serves its
    /// first burst without spawning. Set 0 to get the original's lazy behaviour.
    pub fn min_workers(mut self, n: usize) -> Self {
        self.min_workers = Some(n);
        self
    }

    /// The hard limit on worker threads. Must be at least 1. Default is 256: bounded, yet enough
    /// for many connections whose handlers block to each get a thread.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// How often the reaper looks for idle workers (`workersCheckingInterval`). Default is 1 s.
    pub fn reap_interval(mut self, every: Duration) -> Self {
        self.reap_interval = every;
        self
    }

    /// How long a worker must have had no connection before the reaper retires it (never below
    /// `min_workers`). Default is 10 s, so a burst's workers survive the gaps between bursts.
    pub fn worker_idle_timeout(mut self, idle: Duration) -> Self {
        self.worker_idle_timeout = idle;
        self
    }

    /// The old name of [`worker_idle_timeout`](Self::worker_idle_timeout), renamed so it is not
    /// mistaken for an HTTP keep-alive timeout in the same builder chain.
    #[deprecated(since = "0.1.0", note = "renamed to `worker_idle_timeout`")]
    pub fn idle_timeout(self, idle: Duration) -> Self {
        self.worker_idle_timeout(idle)
    }

    /// The name this proxy's figures carry as their `service` label, in
    /// [`Observer::prometheus`](crate::Observer::prometheus) and (with the `metrics` feature)
    /// in the `metrics` facade, so that several proxies of one process can be told apart.
    /// Default is `socketnaut`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Worker thread names are `{name}-{id}`. Default is `socketnaut-worker`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Worker thread stack size in bytes. Default is the standard library's (2 MiB, or
    /// `RUST_MIN_STACK`).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs on each worker thread before its factory. A panic here fails that worker's start.
    /// Default is none.
    pub fn on_worker_start<F: Fn(&ServiceAgent) + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.on_start = Some(Arc::new(f));
        self
    }

    /// Runs on each worker thread as it exits, also after a panic. A panic here is logged.
    /// Default is none.
    pub fn on_worker_exit<F: Fn(&ServiceAgent) + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.on_exit = Some(Arc::new(f));
        self
    }

    /// Open connections the proxy holds at once; beyond it the acceptor stops accepting and
    /// clients wait in the kernel backlog until connections close. Must be at least 1. Default
    /// is the lesser of 16,384 and the process's open-file limit less 64 (so the default never
    /// runs into `EMFILE`).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// How the acceptor picks a worker. Default is [`Balance::LeastConnections`].
    pub fn balance(mut self, balance: Balance) -> Self {
        self.balance = balance;
        self
    }

    /// Evented kind: a callback running at least this long marks its worker busy, so new
    /// connections go elsewhere (spawning a worker if needed). While a callback that waits
    /// (sleeps, blocks on I/O) has run this long, or one that computes five times this long,
    /// the monitor moves the worker's other connections to other workers without waiting for
    /// it to return; a computing one's thread then runs at the lowest priority. Default is
    /// 2 ms: far above a fast handler, well below a database call.
    pub fn busy_threshold(mut self, threshold: Duration) -> Self {
        self.busy_threshold = threshold;
        self
    }

    /// Evented kind: whether the connections that share a worker with a slow callback are moved
    /// to other workers (by the monitor while the callback runs, and by the worker after a
    /// callback that blocked). Default is on.
    pub fn migrate_blocked_connections(mut self, on: bool) -> Self {
        self.migrate = on;
        self
    }

    /// Evented kind: once connections that were moved apart because of blocking callbacks
    /// have not blocked for this long, they are packed back onto one worker per core (the
    /// emptied workers retire), so a burst of blocking does not leave a thread per connection
    /// behind. Checked every `reap_interval`. It is also how long a worker whose callback
    /// blocked is avoided for new connections. Default is 5 s.
    pub fn consolidate_after(mut self, quiet: Duration) -> Self {
        self.consolidate_after = quiet;
        self
    }

    /// Backoff before replacing a worker that died or failed to start: starts at `initial`,
    /// doubles per consecutive failure, capped at `max`. Default is 100 ms up to 10 s.
    pub fn restart_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.restart_backoff = (initial, max.max(initial));
        self
    }

    /// While connections arrive in a steady stream (accept wakes less than five windows
    /// apart), the acceptor waits this long after handing off a burst before it looks at the
    /// listener again, so that connections arriving close together are accepted and handed
    /// off in one wake of its thread instead of one wake each. A sporadic connection is
    /// accepted at once; under a stream, a connection waits at most this long in the backlog.
    /// The trade is latency for CPU: on a busy machine each thread wake costs several
    /// microseconds, more than the accept itself. `Duration::ZERO` turns batching off. Default
    /// is 200 µs.
    pub fn accept_batch_window(mut self, window: Duration) -> Self {
        self.accept_batch_window = window;
        self
    }

    /// Expects every connection to begin with a PROXY protocol header, version 1 (text) or 2
    /// (binary), as sent by HAProxy (`send-proxy`, `send-proxy-v2`), nginx (`proxy_protocol
    /// on`) or a cloud load balancer, so that [`Connection::info`](crate::Connection::info)
    /// names the real client and the address it connected to rather than the balancer. The
    /// header is read on the worker thread, before the server sees the connection, and not a
    /// byte past it is consumed. A connection whose header is missing, malformed or later than
    /// [`proxy_header_timeout`](Self::proxy_header_timeout) is closed, logged and counted in
    /// [`Stats::proxy_header_errors`](crate::Stats::proxy_header_errors). Headers that carry
    /// no addresses (`LOCAL` health checks, `UNKNOWN`) keep the socket's own.
    ///
    /// Turn it on only for a listener that nothing but the balancer can reach: whoever can
    /// connect directly can name any address. Default is off.
    pub fn proxy_protocol(mut self, on: bool) -> Self {
        self.proxy_protocol = on;
        self
    }

    /// With [`proxy_protocol`](Self::proxy_protocol): how long a connection may take to deliver
    /// its whole header, from when a worker takes it (at once for the evented kind; a blocking
    /// worker takes its next connection when it finishes the last). Default is 5 s; balancers
    /// send the header at once.
    pub fn proxy_header_timeout(mut self, timeout: Duration) -> Self {
        self.proxy_header_timeout = timeout;
        self
    }

    /// Runs a [`BlockingServer`] on every worker. `factory` runs once on each worker thread.
    pub fn blocking<F, S>(mut self, factory: F) -> Self
    where
        F: Fn(&ServiceAgent) -> io::Result<S> + Send + Sync + 'static,
        S: BlockingServer + 'static,
    {
        self.factory = Some(Factory::Blocking(Arc::new(move |agent| {
            factory(agent).map(|s| Box::new(s) as Box<dyn BlockingServer>)
        })));
        self
    }

    /// Runs an [`EventedServer`] on every worker. `factory` runs once on each worker thread.
    pub fn evented<F, S>(mut self, factory: F) -> Self
    where
        F: Fn(&ServiceAgent) -> io::Result<S> + Send + Sync + 'static,
        S: EventedServer + 'static,
    {
        self.factory = Some(Factory::Evented(Arc::new(move |agent| {
            factory(agent).map(|s| Box::new(s) as Box<dyn EventedServer>)
        })));
        self
    }

    /// Validates the configuration, sets up the listener, and starts the acceptor and the
    /// `min_workers` workers. Wait for them with [`ServiceProxy::ready`].
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for an invalid configuration (the Node original's three checks, and
    /// ours) or when the listener cannot be bound.
    pub fn build(self) -> Result<ServiceProxy, BuildError> {
        let (config, source, backlog, reuse_port) = self.validate()?;
        let listener = source.open(backlog, reuse_port, config.nodelay)?;
        ServiceProxy::start(config, listener)
    }

    fn validate(self) -> Result<(Config, Source, i32, bool), BuildError> {
        let factory = self.factory.ok_or(BuildError::NoServer)?;
        let source = self.source.ok_or(BuildError::NoListener)?;
        let (min, max) = match self.worker_count {
            Some(0) => return Err(BuildError::WorkerCountTooSmall),
            Some(n) => (n, n),
            None => {
                let max = self.max_workers.unwrap_or(DEFAULT_MAX_WORKERS);
                if max < 1 {
                    return Err(BuildError::MaxWorkersTooSmall);
                }
                let min = match self.min_workers {
                    Some(min) => min,
                    None => sys::parallelism().min(max),
                };
                if min > max {
                    return Err(BuildError::MinAboveMax { min, max });
                }
                (min, max)
            }
        };
        let max_connections = match self.max_connections {
            Some(0) => return Err(BuildError::MaxConnectionsZero),
            Some(n) => n,
            None => default_max_connections(),
        };
        let config = Config {
            min_workers: min,
            max_workers: max,
            spread: sys::parallelism().min(max),
            reap_interval: self.reap_interval.max(Duration::from_millis(1)),
            worker_idle_timeout: self.worker_idle_timeout,
            thread_name: self.thread_name,
            service_name: self.service_name.into(),
            stack_size: self.stack_size,
            on_start: self.on_start,
            on_exit: self.on_exit,
            max_connections,
            balance: self.balance,
            busy_threshold: self.busy_threshold,
            migrate: self.migrate,
            consolidate_after: self.consolidate_after,
            restart_backoff: self.restart_backoff,
            nodelay: self.nodelay,
            accept_batch_window: self.accept_batch_window,
            proxy_header: self.proxy_protocol.then_some(self.proxy_header_timeout),
            factory,
        };
        Ok((config, source, self.backlog, self.reuse_port))
    }
}

fn default_max_connections() -> usize {
    let usable = usize::try_from(sys::nofile_limit().saturating_sub(64)).unwrap_or(usize::MAX);
    usable.clamp(1, DEFAULT_MAX_CONNECTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ServiceProxyBuilder {
        ServiceProxy::builder()
            .bind("127.0.0.1:0")
            .blocking(|_| Ok(|_c: crate::Connection, _: &ServiceAgent| Ok(())))
    }

    #[test]
    fn validation_matches_the_original() {
        assert!(matches!(
            base().worker_count(0).validate(),
            Err(BuildError::WorkerCountTooSmall)
        ));
        assert!(matches!(
            base().max_workers(0).validate(),
            Err(BuildError::MaxWorkersTooSmall)
        ));
        assert!(matches!(
            base().min_workers(3).max_workers(2).validate(),
            Err(BuildError::MinAboveMax { min: 3, max: 2 })
        ));
        assert!(matches!(
            base().max_connections(0).validate(),
            Err(BuildError::MaxConnectionsZero)
        ));
        assert!(matches!(
            ServiceProxy::builder().bind("127.0.0.1:0").validate(),
            Err(BuildError::NoServer)
        ));
    }

    fn valid(result: Result<(Config, Source, i32, bool), BuildError>) -> Config {
        match result {
            Ok((config, ..)) => config,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn worker_count_sets_both_and_defaults_are_bounded() {
        let c = valid(base().worker_count(5).validate());
        assert_eq!((c.min_workers, c.max_workers), (5, 5));
        let c = valid(base().validate());
        assert_eq!(c.max_workers, DEFAULT_MAX_WORKERS);
        assert!(c.min_workers >= 1 && c.min_workers <= c.max_workers);
        assert!(c.max_connections >= 1 && c.max_connections <= DEFAULT_MAX_CONNECTIONS);
        // An explicit small maximum pulls the default minimum down instead of failing.
        let c = valid(base().max_workers(1).validate());
        assert_eq!((c.min_workers, c.max_workers), (1, 1));
    }

    #[test]
    fn bad_bind_is_a_descriptive_error() {
        let err = ServiceProxy::builder()
            .bind("256.0.0.1:0")
            .blocking(|_| Ok(|_c: crate::Connection, _: &ServiceAgent| Ok(())))
            .build()
            .expect_err("must fail");
        assert!(matches!(err, BuildError::Io(_)), "{err}");
    }

    #[test]
    fn no_inherited_socket_is_a_descriptive_error() {
        // This test process was not started by socket activation.
        let err = ServiceProxy::builder()
            .listen_fd(0)
            .blocking(|_| Ok(|_c: crate::Connection, _: &ServiceAgent| Ok(())))
            .build()
            .expect_err("must fail");
        assert!(
            err.to_string()
                .contains("inherited socket 0: no sockets were passed"),
            "{err}"
        );
    }
}
