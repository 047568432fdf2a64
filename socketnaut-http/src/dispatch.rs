//! Calling the handler: the request built from a parsed head and its body, the call under
//! `catch_unwind` (a panic is counted and becomes 500), the response checked (a 1xx is not a
//! final response) and planned (`response::plan`). Sans-IO: the connection queues the result.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use http::{header, Method, StatusCode, Version};
use socketnaut_core::ConnContext;

use crate::body::{Body, Kind, Trailers};
use crate::config::ServiceConfig;
use crate::error::{self, Reject};
use crate::parse::Head;
use crate::response::{self, BodyFraming, Exchange, Plan, Shape};
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
    let upgrade_asked = asks_upgrade(&head);
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
        let msg = error::panic_text(&*p);
        cx.agent().count_panic();
        log::error!(target: TARGET, "handler panicked: {msg}; answering 500 and closing");
        error::INTERNAL
    })?;
    let now = Instant::now();
    // Read after the handler, which may have taken a while: a drain that began while it ran
    // still ends this connection with this response.
    exchange.draining = cx.is_draining();
    let (parts, body) = response.into_parts();
    if body.is_request_stream() {
        log::error!(target: TARGET, "handler returned its streamed request body as the response body, which cannot be read once the handler returns; answering 500");
        return Err(error::INTERNAL);
    }
    let body = body.into_kind();
    if let Kind::Upgrade(_) = body {
        return upgrade(parts, body, upgrade_asked, now);
    }
    if parts.status.is_informational() {
        log::error!(target: TARGET, "handler answered {}, which is not a final response; answering 500", parts.status);
        return Err(error::INTERNAL);
    }
    let shape = body.known_len().map_or(Shape::Unknown, |n| {
        Shape::Known(usize::try_from(n).unwrap_or(usize::MAX))
    });
    let plan = response::plan(&exchange, parts.status, &parts.headers, shape);
    Ok(Reply {
        parts,
        body,
        plan,
        now,
    })
}

/// Whether the request may be upgraded (RFC 9110 §7.8): HTTP/1.1, an `Upgrade` field, and
/// `upgrade` among the `Connection` options.
fn asks_upgrade(head: &Head) -> bool {
    head.version == Version::HTTP_11
        && head.headers.contains_key(header::UPGRADE)
        && head
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// A handler's upgrade: only a 101 naming its protocol, to a request that asked for one.
fn upgrade(
    parts: http::response::Parts,
    body: Kind,
    asked: bool,
    now: Instant,
) -> Result<Reply, Reject> {
    let why = if parts.status != StatusCode::SWITCHING_PROTOCOLS {
        "an upgrade body needs the status 101"
    } else if !parts.headers.contains_key(header::UPGRADE) {
        "a 101 needs an Upgrade field naming the protocol"
    } else if !asked {
        "the request did not ask for an upgrade (HTTP/1.1, Connection: upgrade, Upgrade)"
    } else {
        let plan = Plan {
            framing: BodyFraming::None,
            send_body: true,
            keep_alive: true,
        };
        return Ok(Reply {
            parts,
            body,
            plan,
            now,
        });
    };
    log::error!(target: TARGET, "handler answered {} with an upgrade body, but {why}; answering 500", parts.status);
    Err(error::INTERNAL)
}
