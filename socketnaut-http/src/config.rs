//! What a service is configured with: its [`Limits`] and [`Timeouts`], each with its default
//! on the field, and the [`ServiceConfig`] every connection reads.

use std::sync::Arc;
use std::time::Duration;

use crate::access::AccessFormat;
use crate::handler::Handler;
use crate::metrics::Registry;
use crate::rate::MinDataRate;

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
    /// off. Default is 240 bytes/s after 5 s, [`MinDataRate::default`].
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

/// A service's configuration, fixed once it is built: shared by every worker's server and
/// every connection.
pub(crate) struct ServiceConfig {
    /// Every worker's HTTP counters.
    pub(crate) metrics: Arc<Registry>,
    /// The access log's formatter; `None`: no access log.
    pub(crate) access_log: Option<AccessFormat>,
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Request bodies are streamed to the handler (see `stream`).
    pub(crate) stream_bodies: bool,
    /// Renders the server's own error responses.
    pub(crate) error_page: Option<Box<crate::error::ErrorPage>>,
}

impl ServiceConfig {
    /// Before the service is built: whether its figures are recorded.
    pub(crate) fn metrics_on(&mut self, on: bool) {
        self.metrics = Arc::new(Registry::new(on));
    }
}
