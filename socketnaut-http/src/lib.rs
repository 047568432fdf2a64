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
pub mod access;
mod body;
mod buf;
mod config;
mod conn;
mod decode;
mod dispatch;
mod error;
pub mod files;
mod grammar;
mod handler;
mod metrics;
mod parse;
mod rate;
mod response;
mod service;
mod stream;
mod takeover;
mod transport;
#[cfg(feature = "websocket")]
pub mod websocket;
mod wire;

pub use body::{Body, Trailers};
pub use config::{Limits, Timeouts};
pub use handler::{Handler, HttpError, IntoResponse, Request, RequestExt, Response};
/// The `http` crate, re-exported so handlers name the same types this crate uses.
pub use http;
pub use metrics::{Histogram, HttpStats};

/// The `log` target of this crate (the server's own rejections are logged here at debug
/// level, handler panics at error level).
const TARGET: &str = "socketnaut::http";

pub use error::ServerError;
pub use rate::MinDataRate;
/// The `rustls` crate, re-exported for [`Http::tls`]'s configuration.
pub use rustls;
pub use service::{Http, HttpServer};
pub use stream::BodyTooLarge;
pub use takeover::{BodyWriter, Upgraded};

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
