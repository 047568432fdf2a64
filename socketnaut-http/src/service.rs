//! [`Http`], the service users build (a handler with its limits, timeouts and TLS), and
//! [`HttpServer`], the evented server it runs on each worker.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketnaut_core::{
    Connection, EventedConnection, EventedServer, ServiceAgent, ServiceProxy, ServiceProxyBuilder,
};

use crate::access::AccessFormat;
use crate::config::{Limits, ServiceConfig, Timeouts};
use crate::handler::Handler;
use crate::metrics::WorkerHandle;
use crate::rate::MinDataRate;
use crate::{conn, transport};

/// An HTTP/1.1 service: a handler plus its limits and timeouts. Turn it into a worker factory
/// with [`factory`](Self::factory), or into a proxy builder with [`proxy`](Self::proxy).
pub struct Http {
    config: ServiceConfig,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("limits", &self.config.limits)
            .field("timeouts", &self.config.timeouts)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// A service answering every request with `handler`, with default limits and timeouts.
    pub fn new<H: Handler>(handler: H) -> Http {
        Http {
            config: ServiceConfig {
                access_log: None,
                metrics: Default::default(),
                handler: Box::new(handler),
                limits: Limits::default(),
                timeouts: Timeouts::default(),
                tls: None,
                stream_bodies: false,
                error_page: None,
            },
        }
    }

    /// Replaces all limits. See [`Limits`] for the defaults.
    pub fn limits(mut self, limits: Limits) -> Http {
        self.config.limits = limits;
        self
    }

    /// Longest request line: [`Limits::max_request_line`].
    pub fn max_request_line(mut self, bytes: usize) -> Http {
        self.config.limits.max_request_line = bytes;
        self
    }

    /// Largest request head: [`Limits::max_head`].
    pub fn max_head(mut self, bytes: usize) -> Http {
        self.config.limits.max_head = bytes;
        self
    }

    /// Most header fields: [`Limits::max_headers`].
    pub fn max_headers(mut self, n: usize) -> Http {
        self.config.limits.max_headers = n;
        self
    }

    /// Largest request body: [`Limits::max_body`].
    pub fn max_body(mut self, bytes: usize) -> Http {
        self.config.limits.max_body = bytes;
        self
    }

    /// Chunk extensions and trailers together, per request: [`Limits::max_chunk_metadata`].
    pub fn max_chunk_metadata(mut self, bytes: usize) -> Http {
        self.config.limits.max_chunk_metadata = bytes;
        self
    }

    /// Replaces all timeouts. See [`Timeouts`] for the defaults.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Http {
        self.config.timeouts = timeouts;
        self
    }

    /// Absolute request head deadline: [`Timeouts::header`].
    pub fn header_timeout(mut self, t: Duration) -> Http {
        self.config.timeouts.header = t;
        self
    }

    /// Keep-alive idle timeout: [`Timeouts::idle`].
    pub fn idle_timeout(mut self, t: Duration) -> Http {
        self.config.timeouts.idle = t;
        self
    }

    /// Request body progress timeout: [`Timeouts::body`].
    pub fn body_timeout(mut self, t: Duration) -> Http {
        self.config.timeouts.body = t;
        self
    }

    /// Response write progress timeout: [`Timeouts::write`].
    pub fn write_timeout(mut self, t: Duration) -> Http {
        self.config.timeouts.write = t;
        self
    }

    /// Minimum request body rate, or `None` for none: [`Timeouts::min_request_body_rate`].
    pub fn min_request_body_rate(mut self, rate: Option<MinDataRate>) -> Http {
        self.config.timeouts.min_request_body_rate = rate;
        self
    }

    /// Minimum response read rate, or `None` for none: [`Timeouts::min_response_rate`].
    pub fn min_response_rate(mut self, rate: Option<MinDataRate>) -> Http {
        self.config.timeouts.min_response_rate = rate;
        self
    }

    /// Writes an access log: one line per response, the server's own rejections included, on
    /// the `log` target `socketnaut::access` at info level, when the response's last byte has
    /// gone to the socket; `format` makes the line ([`access::combined`](crate::access::combined)
    /// is close to nginx's `combined`). Default is none.
    pub fn access_log(mut self, format: Option<AccessFormat>) -> Http {
        self.config.access_log = format;
        self
    }

    /// Whether handlers get request bodies as they arrive: the handler runs once the head is
    /// in, and its request's [`Body`](crate::Body) reads from the connection as the handler
    /// reads it ([`std::io::Read`]), under a limit the handler picks per request
    /// ([`Body::set_limit`](crate::Body::set_limit); until then `Limits::max_body`), with
    /// `100 Continue` sent on the first read. Memory per upload is one buffer, whatever the
    /// body's size. A handler reading a large body is a long callback: the worker's other
    /// connections move away while it runs. An unread remainder up to 1 MiB is read and
    /// dropped after the handler; beyond that (or when the client was never told to send it)
    /// the connection closes after the response. Reads wait for the client for the body
    /// timeout, and no longer in all than the minimum body rate allows. The body streams only
    /// while its handler runs: read it there (a handler returning it as its response body gets
    /// a 500). Default is off (bodies
    /// are read whole, under `Limits::max_body`, before the handler runs).
    pub fn stream_request_bodies(mut self, on: bool) -> Http {
        self.config.stream_bodies = on;
        self
    }

    /// Renders the server's own error responses (400, 408, 413, 414, 417, 431, 500 after a
    /// handler's panic, 501, 505), for example as JSON: `page` gets the status and the reason
    /// and returns the response to send, of which the server keeps the headers and the
    /// in-memory body; the status stays the server's, `Connection: close` is added and a
    /// `HEAD` gets no content. A panic in `page`, or a streamed body, falls back to the
    /// default. Default is a plain-text line with the reason.
    ///
    /// ```
    /// use socketnaut_http::{Http, Response};
    ///
    /// let http = Http::new(|_req| Response::new("hello".into())).error_page(|e| {
    ///     let mut r = Response::new(format!("{{\"error\":\"{}\"}}", e.reason).into());
    ///     r.headers_mut().insert("content-type", "application/json".parse().unwrap());
    ///     r
    /// });
    /// # let _ = http;
    /// ```
    pub fn error_page<F>(mut self, page: F) -> Http
    where
        F: Fn(&crate::ServerError) -> crate::Response + Send + Sync + 'static,
    {
        self.config.error_page = Some(Box::new(page));
        self
    }

    /// Whether the service records its HTTP figures ([`HttpStats`](crate::HttpStats), and with
    /// the `metrics` feature the facade's). Off, a request costs no counting at all and
    /// [`RequestExt::http_stats`](crate::RequestExt::http_stats) stays empty; the proxy's own
    /// [`Stats`](socketnaut_core::Stats) are kept either way. Default is on.
    pub fn metrics(mut self, on: bool) -> Http {
        self.config.metrics_on(on);
        self
    }

    /// Serves HTTPS: every connection is TLS (rustls) with this configuration, the handshake
    /// done on the connection's worker thread like any other I/O, never on the acceptor. The
    /// configuration is shared by all workers (session resumption included). Set its ALPN
    /// protocols to `http/1.1` if clients should see it offered. A failed handshake closes
    /// the connection (logged at debug level); one that stalls is closed at the header
    /// timeout. Default is plain HTTP.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Http {
        self.config.tls = Some(config);
        self
    }

    /// The per-worker factory to pass to
    /// [`ServiceProxyBuilder::evented`](socketnaut_core::ServiceProxyBuilder::evented).
    pub fn factory(
        self,
    ) -> impl Fn(&ServiceAgent) -> io::Result<HttpServer> + Send + Sync + 'static {
        let config = Arc::new(self.config);
        move |agent: &ServiceAgent| {
            Ok(HttpServer {
                config: config.clone(),
                handle: Arc::new(WorkerHandle {
                    observer: agent.observer(),
                    counters: config.metrics.worker(agent.observer().service_name()),
                    registry: config.metrics.clone(),
                }),
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
    config: Arc<ServiceConfig>,
    /// What this worker hands every request (see `metrics::WorkerHandle`).
    handle: Arc<WorkerHandle>,
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
        let accepted = conn.accepted_at();
        let (stream, info) = conn.into_parts();
        // TCP_NODELAY comes from the proxy (`ServiceProxyBuilder::nodelay`, on by default).
        let socket = socketnaut_core::mio::net::TcpStream::from_std(stream);
        let transport = transport::Transport::new(socket, self.config.tls.as_ref())?;
        Ok(Box::new(conn::HttpConn::new(
            transport,
            info,
            self.config.clone(),
            self.handle.clone(),
            accepted,
            Instant::now(),
        )))
    }
}
