//! socketnaut-http: a strict HTTP/1.1 server for synchronous handlers, running on
//! socketnaut-core's evented workers.
//!
//! Each worker multiplexes its connections on its own mio loop; a handler that blocks makes the
//! worker hand its other connections to workers that are free (see socketnaut-core), so
//! blocking handlers scale without a second pool and fast handlers keep the few-threads path.
//!
//! It is strict: [`acceptance`] lists what it accepts and rejects, with the status and the
//! reason for each choice.
//!
//! # Examples
//!
//! ```
//! use socketnaut_http::{Http, Request, Response};
//!
//! let proxy = Http::new(|req: Request| Response::new(format!("you asked for {}", req.uri()).into()))
//!     .proxy()
//!     .bind("127.0.0.1:0")
//!     .build()?;
//! proxy.ready()?;
//! # use std::io::{Read, Write};
//! # let mut c = std::net::TcpStream::connect(proxy.local_addr())?;
//! # c.write_all(b"GET /hi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! # let mut s = String::new();
//! # c.read_to_string(&mut s)?;
//! # assert!(s.ends_with("you asked for /hi"));
//! proxy.shutdown(std::time::Duration::from_secs(5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod acceptance;
mod body;
mod buf;
mod conn;
mod error;
mod grammar;
mod handler;
mod parse;
mod rate;
mod response;
mod transport;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketnaut_core::{
    Connection, EventedConnection, EventedServer, ServiceAgent, ServiceProxy, ServiceProxyBuilder,
};

pub use body::{Body, Trailers};
pub use handler::{Handler, Request, RequestExt, Response};
/// The `http` crate, re-exported so handlers name the same types this crate uses.
pub use http;
pub use rate::MinDataRate;
/// The `rustls` crate, re-exported for [`Http::tls`]'s configuration.
pub use rustls;

/// Size and count limits on requests. Each has a default fit for public traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request line (method, target, version), else 414. Default is 8 KiB.
    pub max_request_line: usize,
    /// Largest request head (request line and header fields), else 431. Default is 16 KiB.
    pub max_head: usize,
    /// Most header fields, else 431. Default is 100.
    pub max_headers: usize,
    /// Largest request body, else 413. Default is 1 MiB.
    pub max_body: usize,
    /// Chunk extensions and trailers together, per request, else 400 (extensions) or 431
    /// (trailers). Default is 16 KiB.
    pub max_chunk_metadata: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
            max_chunk_metadata: 16 * 1024,
        }
    }
}

/// Timeouts; on expiry the connection is closed (with 408 when a request was partly read).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// An absolute deadline for a whole request head, counted from when the connection began
    /// waiting for it (accept, or the previous response); bytes dribbling in do not extend it.
    /// Default is 10 s.
    pub header: Duration,
    /// How long a keep-alive connection may sit with no request started. Default is 5 s.
    pub idle: Duration,
    /// How long a request body may make no progress (see also
    /// [`min_request_body_rate`](Self::min_request_body_rate)). Default is 30 s.
    pub body: Duration,
    /// How long a response may make no progress into the socket. Default is 30 s.
    pub write: Duration,
    /// The slowest a request body may arrive, on average from the end of its head, once its
    /// grace period is over; slower, and the client gets 408 and a close. `None` turns it
    /// off. Default is 240 bytes/s after 5 s ([`MinDataRate::default`]).
    pub min_request_body_rate: Option<MinDataRate>,
    /// The slowest a client may read a response, on average from the moment the socket
    /// first stops taking output, once the grace period is over; slower, and the connection
    /// is closed. `None` turns it off. Default is 240 bytes/s after 5 s.
    pub min_response_rate: Option<MinDataRate>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(5),
            body: Duration::from_secs(30),
            write: Duration::from_secs(30),
            min_request_body_rate: Some(MinDataRate::default()),
            min_response_rate: Some(MinDataRate::default()),
        }
    }
}

pub(crate) struct ServerShared {
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// An HTTP/1.1 service: a handler plus its limits and timeouts. Turn it into a worker factory
/// with [`factory`](Self::factory), or into a proxy builder with [`proxy`](Self::proxy).
pub struct Http {
    shared: ServerShared,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("limits", &self.shared.limits)
            .field("timeouts", &self.shared.timeouts)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// A service answering every request with `handler`, with default limits and timeouts.
    pub fn new<H: Handler>(handler: H) -> Http {
        Http {
            shared: ServerShared {
                handler: Box::new(handler),
                limits: Limits::default(),
                timeouts: Timeouts::default(),
                tls: None,
            },
        }
    }

    /// Replaces all limits. See [`Limits`] for the defaults.
    pub fn limits(mut self, limits: Limits) -> Http {
        self.shared.limits = limits;
        self
    }

    /// Longest request line. Default is 8 KiB.
    pub fn max_request_line(mut self, bytes: usize) -> Http {
        self.shared.limits.max_request_line = bytes;
        self
    }

    /// Largest request head. Default is 16 KiB.
    pub fn max_head(mut self, bytes: usize) -> Http {
        self.shared.limits.max_head = bytes;
        self
    }

    /// Most header fields. Default is 100.
    pub fn max_headers(mut self, n: usize) -> Http {
        self.shared.limits.max_headers = n;
        self
    }

    /// Largest request body. Default is 1 MiB.
    pub fn max_body(mut self, bytes: usize) -> Http {
        self.shared.limits.max_body = bytes;
        self
    }

    /// Chunk extensions and trailers together, per request. Default is 16 KiB.
    pub fn max_chunk_metadata(mut self, bytes: usize) -> Http {
        self.shared.limits.max_chunk_metadata = bytes;
        self
    }

    /// Replaces all timeouts. See [`Timeouts`] for the defaults.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Http {
        self.shared.timeouts = timeouts;
        self
    }

    /// Absolute request head deadline. Default is 10 s.
    pub fn header_timeout(mut self, t: Duration) -> Http {
        self.shared.timeouts.header = t;
        self
    }

    /// Keep-alive idle timeout. Default is 5 s.
    pub fn idle_timeout(mut self, t: Duration) -> Http {
        self.shared.timeouts.idle = t;
        self
    }

    /// Request body progress timeout. Default is 30 s.
    pub fn body_timeout(mut self, t: Duration) -> Http {
        self.shared.timeouts.body = t;
        self
    }

    /// Response write progress timeout. Default is 30 s.
    pub fn write_timeout(mut self, t: Duration) -> Http {
        self.shared.timeouts.write = t;
        self
    }

    /// Minimum request body rate, or `None` for none. Default is 240 bytes/s after 5 s.
    pub fn min_request_body_rate(mut self, rate: Option<MinDataRate>) -> Http {
        self.shared.timeouts.min_request_body_rate = rate;
        self
    }

    /// Minimum response read rate, or `None` for none. Default is 240 bytes/s after 5 s.
    pub fn min_response_rate(mut self, rate: Option<MinDataRate>) -> Http {
        self.shared.timeouts.min_response_rate = rate;
        self
    }

    /// Serves HTTPS: every connection is TLS (rustls) with this configuration, the handshake
    /// done on the connection's worker thread like any other I/O, never on the acceptor. The
    /// configuration is shared by all workers (session resumption included). Set its ALPN
    /// protocols to `http/1.1` if clients should see it offered. A failed handshake closes
    /// the connection (logged at debug level); one that stalls is closed at the header
    /// timeout. Default is plain HTTP.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Http {
        self.shared.tls = Some(config);
        self
    }

    /// The per-worker factory to pass to
    /// [`ServiceProxyBuilder::evented`](socketnaut_core::ServiceProxyBuilder::evented).
    pub fn factory(
        self,
    ) -> impl Fn(&ServiceAgent) -> io::Result<HttpServer> + Send + Sync + 'static {
        let shared = Arc::new(self.shared);
        move |_agent: &ServiceAgent| {
            Ok(HttpServer {
                shared: shared.clone(),
            })
        }
    }

    /// A proxy builder already running this service on its workers: add `bind` and any tuning,
    /// then `build`.
    pub fn proxy(self) -> ServiceProxyBuilder {
        ServiceProxy::builder().evented(self.factory())
    }
}

/// The evented server each worker runs; made by [`Http::factory`].
pub struct HttpServer {
    shared: Arc<ServerShared>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer").finish_non_exhaustive()
    }
}

impl EventedServer for HttpServer {
    fn open(
        &mut self,
        conn: Connection,
        _agent: &ServiceAgent,
    ) -> io::Result<Box<dyn EventedConnection>> {
        let (stream, info) = conn.into_parts();
        // TCP_NODELAY comes from the proxy (`ServiceProxyBuilder::nodelay`, on by default).
        let socket = socketnaut_core::mio::net::TcpStream::from_std(stream);
        let transport = transport::Transport::new(socket, self.shared.tls.as_ref())?;
        Ok(Box::new(conn::HttpConn::new(
            transport,
            info,
            self.shared.clone(),
            Instant::now(),
        )))
    }
}

/// Entry points for the workspace's benches. Not part of the public API: no stability promise.
#[doc(hidden)]
pub mod __bench {
    use http::{HeaderMap, StatusCode, Version};

    /// Parses and validates a request head; returns its length.
    pub fn parse_head(buf: &[u8]) -> usize {
        match crate::parse::parse_head(buf, &crate::Limits::default()) {
            Ok(crate::parse::Parsed::Complete(_, len)) => len,
            other => panic!("not a complete head: {other:?}"),
        }
    }

    /// Formats a `200 OK` head with a content type, the cached date and a length.
    pub fn write_head(out: &mut Vec<u8>, headers: &HeaderMap) {
        crate::response::write_head(
            out,
            StatusCode::OK,
            headers,
            crate::response::BodyFraming::Length(12),
            true,
            Version::HTTP_11,
            std::time::Instant::now(),
        );
    }
}
