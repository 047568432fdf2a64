//! socketnaut-core: a service proxy that owns a listening socket and spreads its connections
//! over an elastic, supervised pool of worker threads, each running an ordinary synchronous
//! server. No async runtime: one mio loop accepts, crossbeam channels carry the accepted
//! sockets straight to the workers, and each worker runs a blocking server or its own mio loop.
//!
//! # Examples
//!
//! A blocking echo service on every core:
//!
//! ```
//! use std::io::{Read, Write};
//! use socketnaut_core::{Connection, ServiceAgent, ServiceProxy};
//!
//! let proxy = ServiceProxy::builder()
//!     .bind("127.0.0.1:0")
//!     .blocking(|_agent: &ServiceAgent| {
//!         Ok(|mut conn: Connection, _agent: &ServiceAgent| {
//!             let mut buf = [0; 4096];
//!             loop {
//!                 let n = conn.stream_mut().read(&mut buf)?;
//!                 if n == 0 {
//!                     return Ok(());
//!                 }
//!                 conn.stream_mut().write_all(&buf[..n])?;
//!             }
//!         })
//!     })
//!     .build()?;
//! proxy.ready()?;
//!
//! let mut client = std::net::TcpStream::connect(proxy.local_addr())?;
//! client.write_all(b"hello")?;
//! let mut echoed = [0; 5];
//! client.read_exact(&mut echoed)?;
//! assert_eq!(&echoed, b"hello");
//!
//! let reports = proxy.shutdown(std::time::Duration::from_secs(1));
//! assert!(reports.iter().all(|r| r.outcome == socketnaut_core::WorkerOutcome::Clean));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How it works
//!
//! One acceptor thread owns the listening socket. Its mio loop accepts and hands each socket to
//! the pool, which (on the same thread) places it on a worker, starts, replaces and retires
//! workers; each worker thread runs your server, blocking (one connection at a time) or
//! evented (a mio loop of its own). The socket
//! itself is handed over (no second TCP hop), over crossbeam channels. `docs/ARCHITECTURE.md`
//! in the repository is the map: where to start reading, the threads, and which module holds
//! which design note (build them with `cargo doc --document-private-items`).

mod acceptor;
mod agent;
mod builder;
mod clock;
mod config;
mod connection;
mod error;
#[cfg(feature = "metrics")]
mod facade;
mod handle;
mod listener;
mod observer;
mod pool;
mod prometheus;
mod proxy_protocol;
mod report;
mod server;
mod shared;
mod signals;
mod stats;
mod sys;
mod targets;

pub use agent::ServiceAgent;
pub use builder::{
    ServiceProxyBuilder, DEFAULT_ACCEPT_BATCH_WINDOW, DEFAULT_BACKLOG, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_WORKERS,
};
pub use connection::{Connection, Family, ProxySocketAddressInfo, SocketAddressInfo};
pub use error::{BuildError, StartError};
pub use handle::ServiceProxy;
pub use observer::Observer;
pub use pool::balance::Balance;
pub use report::{WorkerOutcome, WorkerReport};
pub use server::{BlockingServer, ConnContext, ConnEvent, EventedConnection, EventedServer, Step};
pub use stats::{Stats, WorkerState, WorkerStats};

/// mio, re-exported so evented servers use the same version as the workers' loops.
pub use mio;

/// Entry points for the workspace's benches. Not part of the public API: no stability promise.
#[doc(hidden)]
pub mod __bench {
    use crate::pool::balance::{choose, Balance, Candidate, Choice, Rules};
    use crate::pool::ToWorker;

    /// The least-connections choice among workers with these connection counts.
    pub fn choose_least_connections(loads: &[usize], cursor: &mut usize) -> Option<usize> {
        let workers: Vec<Candidate> = loads
            .iter()
            .map(|&conns| Candidate {
                conns,
                busy: false,
                accepting: true,
            })
            .collect();
        let rules = Rules {
            evented: true,
            can_spawn: false,
            spread: 1,
            prefer_empty: false,
        };
        match choose(Balance::LeastConnections, &workers, cursor, rules) {
            Choice::Worker(i) => Some(i),
            _ => None,
        }
    }

    /// The acceptor → evented worker hand-off, both ends on one thread: channel send, waker
    /// write, the worker's `poll` returning the wake, and the channel receive.
    pub struct Handoff {
        tx: crossbeam_channel::Sender<ToWorker>,
        rx: crossbeam_channel::Receiver<ToWorker>,
        poll: mio::Poll,
        waker: mio::Waker,
        events: mio::Events,
        conn: Option<crate::Connection>,
    }

    impl Handoff {
        /// Sets up a channel, a poll with a waker, and a real accepted connection to pass.
        pub fn new() -> std::io::Result<Handoff> {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
            let (stream, peer) = listener.accept()?;
            let info = crate::ProxySocketAddressInfo {
                local: listener.local_addr()?.into(),
                remote: peer.into(),
            };
            let poll = mio::Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), mio::Token(0))?;
            let (tx, rx) = crossbeam_channel::unbounded();
            Ok(Handoff {
                tx,
                rx,
                poll,
                waker,
                events: mio::Events::with_capacity(8),
                conn: Some(crate::Connection::new(
                    stream,
                    info,
                    1,
                    std::time::Instant::now(),
                )),
            })
        }

        /// One hand-off of the connection and back.
        pub fn round_trip(&mut self) {
            let conn = self.conn.take().expect("returned by the last round trip");
            assert!(self.tx.send(ToWorker::Conn(conn)).is_ok());
            self.waker.wake().expect("wake");
            self.poll
                .poll(&mut self.events, Some(std::time::Duration::ZERO))
                .expect("poll");
            match self.rx.try_recv() {
                Ok(ToWorker::Conn(conn)) => self.conn = Some(conn),
                _ => panic!("the connection must arrive"),
            }
        }
    }
}
