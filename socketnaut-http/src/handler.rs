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

impl<F> Handler for F
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    fn call(&self, req: Request) -> Response {
        self(req)
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
