//! Rejections: why a request cannot be served, as the status to answer with. Every framing or
//! limit error maps to exactly one status here, and every one closes the connection.

use http::StatusCode;

/// A request the server refuses; the connection closes after the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

impl Reject {
    pub(crate) const fn new(status: StatusCode, reason: &'static str) -> Reject {
        Reject { status, reason }
    }

    pub(crate) const fn bad(reason: &'static str) -> Reject {
        Reject::new(StatusCode::BAD_REQUEST, reason)
    }
}

pub(crate) const URI_TOO_LONG: Reject =
    Reject::new(StatusCode::URI_TOO_LONG, "request line too long");
pub(crate) const HEAD_TOO_LARGE: Reject = Reject::new(
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    "request head too large",
);
pub(crate) const TOO_MANY_HEADERS: Reject = Reject::new(
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    "too many header fields",
);
pub(crate) const BODY_TOO_LARGE: Reject =
    Reject::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
pub(crate) const VERSION: Reject = Reject::new(
    StatusCode::HTTP_VERSION_NOT_SUPPORTED,
    "only HTTP/1.0 and HTTP/1.1 are supported",
);
pub(crate) const INTERNAL: Reject =
    Reject::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
pub(crate) const TIMEOUT: Reject =
    Reject::new(StatusCode::REQUEST_TIMEOUT, "request not received in time");
/// RFC 9110 §9.3.6: a server that does not tunnel answers `CONNECT` with 501 (and, as for
/// every rejection here, closes: the client may already be sending tunnel bytes).
pub(crate) const CONNECT: Reject =
    Reject::new(StatusCode::NOT_IMPLEMENTED, "CONNECT is not supported");

/// A panic's message, when it has one.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
