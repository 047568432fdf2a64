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

/// One of the server's own error responses, as the
/// [`Http::error_page`](crate::Http::error_page) hook sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerError {
    /// The status the server answers with (the hook cannot change it).
    pub status: StatusCode,
    /// Why, in a few words ("request head too large").
    pub reason: &'static str,
}

/// Renders [`ServerError`]s.
pub(crate) type ErrorPage = dyn Fn(&ServerError) -> crate::Response + Send + Sync;

/// The headers and content of a rejection: the hook's, if there is one and it gave an
/// in-memory body (it runs under `catch_unwind`; a panic falls back), or the reason as text.
pub(crate) fn content(reject: Reject, hook: Option<&ErrorPage>) -> (http::HeaderMap, Vec<u8>) {
    let error = ServerError {
        status: reject.status,
        reason: reject.reason,
    };
    let made = hook
        .and_then(|f| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&error))).ok());
    if let Some(response) = made {
        let (parts, body) = response.into_parts();
        if let Some(bytes) = body.into_kind().bytes() {
            return (parts.headers, bytes.to_vec());
        }
        log::error!(target: crate::TARGET, "the error page hook gave a streamed body; sending the default");
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    let mut text = reject.reason.as_bytes().to_vec();
    text.push(b'\n');
    (headers, text)
}
