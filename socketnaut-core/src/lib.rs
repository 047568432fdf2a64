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
//! See `docs/ARCHITECTURE.md` in the repository for the threads, channels, worker states,
//! counters and the shutdown sequence.

mod acceptor;
mod agent;
mod balance;
mod builder;
mod clock;
mod error;
mod pool;
mod proxy;
mod server;
mod shutdown;
mod stats;

pub use agent::{Connection, Family, ProxySocketAddressInfo, ServiceAgent, SocketAddressInfo};
pub use balance::Balance;
pub use builder::{
    ServiceProxyBuilder, DEFAULT_BACKLOG, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_WORKERS,
};
pub use error::{BuildError, StartError};
pub use proxy::ServiceProxy;
pub use server::{BlockingServer, ConnContext, ConnEvent, EventedConnection, EventedServer, Step};
pub use shutdown::{WorkerOutcome, WorkerReport};
pub use stats::{Stats, WorkerState, WorkerStats};

/// mio, re-exported so evented servers use the same version as the workers' loops.
pub use mio;
