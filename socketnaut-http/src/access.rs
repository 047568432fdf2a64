//! The access log: one line per response, the server's own rejections (400, 408, 413, 414,
//! 431, 500, 501, 505) included, written on the `log` target `socketnaut::access` at info
//! level when the response's last byte has been handed to the socket. Opt-in with
//! [`Http::access_log`](crate::Http::access_log), which also takes the formatter; [`combined`]
//! is the default one.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use http::{Method, StatusCode, Uri, Version};

/// The `log` target of access-log lines.
pub const ACCESS_TARGET: &str = "socketnaut::access";

/// Turns one [`AccessRecord`] into a log line.
pub type AccessFormat = fn(&AccessRecord<'_>) -> String;

/// One response, as the access log sees it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AccessRecord<'a> {
    /// The client: the peer, or the one a PROXY protocol header named.
    pub client: SocketAddr,
    /// The request's method, if its head was parsed (a rejected head has none).
    pub method: Option<&'a Method>,
    /// The request target, if parsed.
    pub target: Option<&'a Uri>,
    /// The request's version, if parsed.
    pub version: Option<Version>,
    /// The status sent.
    pub status: StatusCode,
    /// Bytes of content sent (0 for `HEAD`, 204, 304).
    pub bytes: u64,
    /// From the arrival of the request head (or, for a head that never completed, of the
    /// connection's wait for it) to the last byte of the response handed to the socket.
    pub duration: Duration,
    /// The worker that served it.
    pub worker: usize,
    /// The `User-Agent` field, if any.
    pub user_agent: Option<&'a str>,
    /// The `Referer` field, if any.
    pub referer: Option<&'a str>,
}

/// Close to nginx's `combined` format, with the duration (seconds) and the worker at the end:
///
/// ```text
/// 127.0.0.1 - - [Wed, 02 Dec 2026 00:50:01 GMT] "GET /a?b HTTP/1.1" 200 12 "-" "curl/8.5.0" 0.000081 w1
/// ```
///
/// An unparsed request line shows as `"-"`.
pub fn combined(r: &AccessRecord<'_>) -> String {
    let mut line = String::with_capacity(160);
    let _ = write!(
        line,
        "{} - - [{}] ",
        r.client.ip(),
        httpdate::fmt_http_date(SystemTime::now())
    );
    match (r.method, r.target, r.version) {
        (Some(m), Some(t), Some(v)) => {
            let _ = write!(line, "\"{m} {t} {v:?}\"");
        }
        _ => line.push_str("\"-\""),
    }
    let quoted = |v: Option<&str>| v.map_or_else(|| "-".to_owned(), |s| s.replace('"', "\\\""));
    let _ = write!(
        line,
        " {} {} \"{}\" \"{}\" {:.6} w{}",
        r.status.as_u16(),
        r.bytes,
        quoted(r.referer),
        quoted(r.user_agent),
        r.duration.as_secs_f64(),
        r.worker
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_lines() {
        let method = Method::GET;
        let target: Uri = "/a?b=1".parse().unwrap();
        let r = AccessRecord {
            client: "10.1.2.3:5555".parse().unwrap(),
            method: Some(&method),
            target: Some(&target),
            version: Some(Version::HTTP_11),
            status: StatusCode::OK,
            bytes: 12,
            duration: Duration::from_micros(81),
            worker: 1,
            user_agent: Some("say \"hi\""),
            referer: None,
        };
        let line = combined(&r);
        assert!(line.starts_with("10.1.2.3 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /a?b=1 HTTP/1.1\" 200 12 \"-\" \"say \\\"hi\\\"\" 0.000081 w1"),
            "{line}"
        );
        let unparsed = AccessRecord {
            method: None,
            target: None,
            version: None,
            status: StatusCode::BAD_REQUEST,
            ..r
        };
        assert!(combined(&unparsed).contains("] \"-\" 400 12 "));
    }
}
