//! Calling the handler: the request built from a parsed head and its body, the call under
//! `catch_unwind` (a panic is counted and becomes 500), the response checked (a 1xx is not a
//! final response) and planned (`response::plan`). Sans-IO: the connection queues the result.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use http::Method;
use socketnaut_core::ConnContext;

use crate::body::{Body, Kind, Trailers};
use crate::config::ServiceConfig;
use crate::error::{self, Reject};
use crate::parse::Head;
use crate::response::{self, Exchange, Plan, Shape};
use crate::TARGET;

/// A handler's response, ready to be written.
pub(crate) struct Reply {
    pub(crate) parts: http::response::Parts,
    pub(crate) body: Kind,
    pub(crate) plan: Plan,
    /// When the handler returned: the `Date`, and the idle timer of the next request, start
    /// here.
    pub(crate) now: Instant,
}

/// Runs the handler on one request; `Err` is the response to send instead (and close).
pub(crate) fn handle(
    config: &ServiceConfig,
    head: Head,
    body: Body,
    trailers: Option<http::HeaderMap>,
    cx: &ConnContext<'_>,
) -> Result<Reply, Reject> {
    let mut exchange = Exchange {
        head_request: head.method == Method::HEAD,
        version: head.version,
        keep_alive: head.keep_alive,
        draining: false,
    };
    let mut req = http::Request::new(body);
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = head.version;
    *req.headers_mut() = head.headers;
    if let Some(t) = trailers {
        req.extensions_mut().insert(Trailers(t));
    }
    let handler = &config.handler;
    let response = catch_unwind(AssertUnwindSafe(|| handler.call(req))).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        cx.agent().count_panic();
        log::error!(target: TARGET, "handler panicked: {msg}; answering 500 and closing");
        error::INTERNAL
    })?;
    let now = Instant::now();
    // Read after the handler, which may have taken a while: a drain that began while it ran
    // still ends this connection with this response.
    exchange.draining = cx.is_draining();
    let (parts, body) = response.into_parts();
    if parts.status.is_informational() {
        log::error!(target: TARGET, "handler answered {}, which is not a final response; answering 500", parts.status);
        return Err(error::INTERNAL);
    }
    let body = body.into_kind();
    let shape = body
        .bytes()
        .map_or(Shape::Unknown, |b| Shape::Known(b.len()));
    let plan = response::plan(&exchange, parts.status, &parts.headers, shape);
    Ok(Reply {
        parts,
        body,
        plan,
        now,
    })
}
