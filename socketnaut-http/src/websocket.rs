//! WebSocket handlers (cargo feature `websocket`), with the `tungstenite` crate for the
//! protocol: [`upgrade`] checks a request's opening handshake (RFC 6455 §4.2.1), answers it
//! with its `101` and runs the handler's code on the upgraded connection as a
//! [`WebSocket`]. The connection is a long callback on its worker thread (the worker's other
//! connections move away), counts in `stats()` as an open connection, and learns of the drain
//! as [`Upgraded`] describes: a read that would wait returns an I/O `WouldBlock` error once
//! ([`is_drain_notice`]), after which the code should send a close frame.

use std::io;

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, Method, StatusCode};
pub use tungstenite;
use tungstenite::protocol::Role;

use crate::handler::{Request, Response};
use crate::{Body, Upgraded};

/// A WebSocket over an upgraded connection.
pub type WebSocket<'a> = tungstenite::WebSocket<&'a mut Upgraded>;

/// Whether `name` holds `token` in its comma-separated list (case-insensitive).
fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    let mut r = Response::new(Body::from(why));
    *r.status_mut() = status;
    if status == StatusCode::UPGRADE_REQUIRED {
        r.headers_mut()
            .insert(UPGRADE, "websocket".parse().expect("a token"));
        r.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, "13".parse().expect("digits"));
    }
    r
}

/// The response to a WebSocket opening handshake: a `101` that runs `run` once it is on the
/// wire, or, for a request that is not a valid handshake, `426 Upgrade Required` (not an
/// upgrade to `websocket`, or a version other than 13, with `Sec-WebSocket-Version: 13`) or
/// `400` (no `GET`, no `Connection: upgrade`, a key that is not 16 bytes in base64). The
/// connection closes when `run` returns; tungstenite answers pings and close frames as `run`
/// reads.
///
/// ```
/// use socketnaut_http::websocket::{self, tungstenite::Message};
/// use socketnaut_http::{Request, Response};
///
/// fn echo(req: Request) -> Response {
///     websocket::upgrade(&req, |ws| loop {
///         match ws.read() {
///             Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m).map_err(std::io::Error::other)?,
///             Ok(_) => {}
///             Err(e) if websocket::is_drain_notice(&e) => {
///                 let _ = ws.close(None);
///             }
///             Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
///             Err(e) => return Err(std::io::Error::other(e)),
///         }
///     })
/// }
/// # use socketnaut_http::websocket::tungstenite;
/// ```
pub fn upgrade<F>(req: &Request, run: F) -> Response
where
    F: for<'a> FnOnce(&mut WebSocket<'a>) -> io::Result<()> + Send + 'static,
{
    let h = req.headers();
    if !has_token(h, UPGRADE, "websocket") {
        return refuse(StatusCode::UPGRADE_REQUIRED, "a WebSocket endpoint\n");
    }
    if h.get(SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return refuse(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only\n");
    }
    if req.method() != Method::GET || !has_token(h, CONNECTION, "upgrade") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake is a GET with Connection: upgrade\n",
        );
    }
    // The key is 16 random bytes in base64: 24 characters ending in "==" (RFC 6455 §4.1).
    let key = match h.get(SEC_WEBSOCKET_KEY) {
        Some(k) if k.len() == 24 && k.as_bytes().ends_with(b"==") => k,
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "a missing or malformed Sec-WebSocket-Key\n",
            )
        }
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let body = Body::upgrade(move |upgraded| {
        let mut ws = tungstenite::WebSocket::from_raw_socket(upgraded, Role::Server, None);
        run(&mut ws)
    });
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(UPGRADE, "websocket".parse().expect("a token"));
    r.headers_mut()
        .insert(SEC_WEBSOCKET_ACCEPT, accept.parse().expect("base64"));
    r
}

/// Whether a WebSocket error is the drain's notice (see [`Upgraded`]): the service is
/// shutting down, so send a close frame and read on until the peer's close arrives.
pub fn is_drain_notice(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}
