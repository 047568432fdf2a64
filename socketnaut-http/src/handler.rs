//! The synchronous [`Handler`] users implement, and the request/response vocabulary (the `http`
//! crate's types with our [`Body`]).

use socketnaut_core::{Observer, ProxySocketAddressInfo};

use crate::body::Body;

/// A request as handlers see it: the `http` crate's request with the whole body in memory.
/// [`RequestExt::proxy_info`] gives the connection's [`ProxySocketAddressInfo`]; for chunked
/// bodies with trailers, the extensions hold [`Trailers`](crate::Trailers).
pub type Request = http::Request<Body>;

/// A response: the `http` crate's response with a [`Body`] of bytes or a streamed reader.
pub type Response = http::Response<Body>;

/// Turns a request into a response, synchronously, on a worker thread.
///
/// It may block (a database call, a file, a sleep): the worker measures callbacks and moves the
/// connections that share its thread to other workers, so a blocking handler stalls nobody
/// else. It may panic: the client gets `500` with `Connection: close` and the worker carries on.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, req: Request) -> Response;
}

/// Any function from a request to something that [turns into a
/// response](IntoResponse): a [`Response`], or a `Result<Response, E>` whose error turns into
/// one, so handlers can use `?`.
///
/// ```
/// use socketnaut_http::{HttpError, Request, Response};
///
/// fn user(req: Request) -> Result<Response, HttpError> {
///     let id: u32 = req.uri().query().unwrap_or("").parse().map_err(|_| HttpError::bad_request("an id, please"))?;
///     Ok(Response::new(format!("user {id}").into()))
/// }
/// let _ = socketnaut_http::Http::new(user);
/// ```
impl<F, R> Handler for F
where
    F: Fn(Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, req: Request) -> Response {
        self(req).into_response()
    }
}

/// What a handler may return.
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

impl IntoResponse for http::StatusCode {
    /// The status with its reason phrase as a plain-text body.
    fn into_response(self) -> Response {
        HttpError::new(self, self.canonical_reason().unwrap_or("")).into_response()
    }
}

/// An error a handler answers with: a status and a message (sent as plain text), for `?` in
/// handlers that return `Result<Response, HttpError>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// The status sent.
    pub status: http::StatusCode,
    /// The text sent (a line break is added).
    pub message: String,
}

impl HttpError {
    /// An error with this status and message.
    pub fn new(status: http::StatusCode, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(http::StatusCode::BAD_REQUEST, message)
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> HttpError {
        HttpError::new(http::StatusCode::NOT_FOUND, message)
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut text = self.message;
        text.push('\n');
        let mut r = Response::new(text.into());
        *r.status_mut() = self.status;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    }
}

/// An I/O error from a handler: 404 for `NotFound`, 403 for `PermissionDenied`, 413 for a
/// streamed body over its limit ([`BodyTooLarge`](crate::BodyTooLarge)), 400 for other
/// `InvalidData` (a streamed body's bad framing), 408 for `TimedOut`, otherwise 500. The
/// error's text is logged, not sent (it may name paths).
impl From<std::io::Error> for HttpError {
    fn from(e: std::io::Error) -> HttpError {
        use http::StatusCode as S;
        use std::io::ErrorKind as K;
        let status = match e.kind() {
            K::NotFound => S::NOT_FOUND,
            K::PermissionDenied => S::FORBIDDEN,
            K::InvalidData if e.get_ref().is_some_and(|i| i.is::<crate::BodyTooLarge>()) => {
                S::PAYLOAD_TOO_LARGE
            }
            K::InvalidData => S::BAD_REQUEST,
            K::TimedOut => S::REQUEST_TIMEOUT,
            _ => S::INTERNAL_SERVER_ERROR,
        };
        log::debug!(target: crate::TARGET, "handler error: {e}; answering {status}");
        HttpError::new(status, status.canonical_reason().unwrap_or(""))
    }
}

/// Conveniences on [`Request`].
pub trait RequestExt {
    /// The client and proxy ends of the connection this request arrived on. Always `Some` for
    /// requests the server hands to handlers (it travels with the request body, which costs no
    /// allocation; a `ProxySocketAddressInfo` extension is used when the body was replaced).
    fn proxy_info(&self) -> Option<ProxySocketAddressInfo>;

    /// The proxy this request arrived through: its stats (for a `/metrics` endpoint, with
    /// [`Stats::to_prometheus`](socketnaut_core::Stats::to_prometheus)) and readiness (for
    /// `/healthz`), without globals. `Some` for requests the server hands to handlers.
    fn observer(&self) -> Option<Observer>;

    /// The HTTP figures of the service this request arrived through (responses by class,
    /// rejections by status, bytes, durations), for a `/metrics` endpoint with
    /// [`HttpStats::to_prometheus`](crate::HttpStats::to_prometheus).
    fn http_stats(&self) -> Option<crate::HttpStats>;

    /// The body of a `/metrics` response: the proxy's figures
    /// ([`Observer::prometheus`](socketnaut_core::Observer::prometheus)) followed by the
    /// service's HTTP figures, in the Prometheus text format (serve it with
    /// `Content-Type: text/plain; version=0.0.4`), labelled with the proxy's service name.
    ///
    /// ```
    /// use socketnaut_http::{Request, RequestExt, Response};
    ///
    /// fn metrics(req: Request) -> Response {
    ///     let mut r = Response::new(req.prometheus().unwrap_or_default().into());
    ///     r.headers_mut().insert("content-type", "text/plain; version=0.0.4".parse().unwrap());
    ///     r
    /// }
    /// ```
    fn prometheus(&self) -> Option<String>;
}

impl RequestExt for Request {
    fn observer(&self) -> Option<Observer> {
        self.body().observer()
    }

    fn http_stats(&self) -> Option<crate::HttpStats> {
        self.body().http_stats()
    }

    fn prometheus(&self) -> Option<String> {
        let observer = self.observer()?;
        let mut text = observer.prometheus();
        text.push_str(&self.http_stats()?.to_prometheus(observer.service_name()));
        Some(text)
    }

    fn proxy_info(&self) -> Option<ProxySocketAddressInfo> {
        self.body()
            .proxy_info()
            .or_else(|| self.extensions().get::<ProxySocketAddressInfo>().copied())
    }
}
