//! The response side: the plan for a handler's response (how its body is framed, whether it
//! is sent, whether the connection stays open), decided from the exchange alone, and the
//! writing of the head (status line, the cached `Date`, framing headers, `Connection`).

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap};
use http::{StatusCode, Version};

/// The `date` header line, valid until the next wall-clock second.
struct DateLine {
    until: Option<Instant>,
    line: Vec<u8>,
}

thread_local! {
    /// Formatting a date costs more than a whole hello-world response, and even reading the
    /// wall clock costs a noticeable share, so each thread formats the line once per second
    /// and otherwise only compares the monotonic `now` its caller already has.
    static DATE: RefCell<DateLine> = const { RefCell::new(DateLine { until: None, line: Vec::new() }) };
}

fn push_date_line(out: &mut Vec<u8>, now: Instant) {
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.until.is_none_or(|until| now >= until) {
            let wall = SystemTime::now();
            let into_second = wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            d.until = Some(now + Duration::from_nanos(1_000_000_000 - u64::from(into_second)));
            d.line.clear();
            d.line.extend_from_slice(b"date: ");
            d.line
                .extend_from_slice(httpdate::fmt_http_date(wall).as_bytes());
            d.line.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&d.line);
    });
}

/// How the body that follows the head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: no body allowed (204, a 304 without a known length, a response to `HEAD`
    /// of a 1.0 reader), or close-delimited for HTTP/1.0.
    None,
}

/// What the plan needs to know about the request and the connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    /// The request was `HEAD`: the head says what a `GET` would get; no content follows.
    pub(crate) head_request: bool,
    pub(crate) version: Version,
    /// The client allows keeping the connection (HTTP/1.1 default, or 1.0 asking).
    pub(crate) keep_alive: bool,
    /// The service is draining: this response ends the connection.
    pub(crate) draining: bool,
}

/// The shape of a handler's response body, as far as framing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Bytes in memory, this many.
    Known(usize),
    /// A reader of unknown length.
    Unknown,
}

/// How a handler's response goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) framing: BodyFraming,
    pub(crate) send_body: bool,
    pub(crate) keep_alive: bool,
}

/// Decides how a (final, non-1xx) response is framed and sent (RFC 9110 §6.4.1, §8.6, RFC
/// 9112 §6.3):
/// - 204 carries neither `Content-Length` nor `Transfer-Encoding`, and no content;
/// - a response to `HEAD`, and a 304, carry no content; their `Content-Length` is the one a
///   `GET` would get: the in-memory body's length or, when the body is empty, the handler's
///   own `Content-Length` (so a `HEAD` handler need not build the body); a 304 without one
///   sends none (RFC 9110 §8.6 forbids a value that is not the representation's length);
/// - a reader body is chunked for HTTP/1.1, and delimited by closing for HTTP/1.0;
/// - the connection stays open only if the client, the handler (no `Connection: close`)
///   and the service (not draining) all allow it.
pub(crate) fn plan(x: &Exchange, status: StatusCode, headers: &HeaderMap, body: Shape) -> Plan {
    let wants_close = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
    let mut keep_alive = x.keep_alive && !wants_close && !x.draining;
    let with_body = allows_body(status);
    let send_body = with_body && !x.head_request;
    let declared = || {
        headers
            .get(header::CONTENT_LENGTH)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty() && v.iter().all(u8::is_ascii_digit))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
    };
    let framing = match body {
        _ if status == StatusCode::NO_CONTENT => BodyFraming::None,
        _ if status == StatusCode::NOT_MODIFIED => {
            declared().map_or(BodyFraming::None, BodyFraming::Length)
        }
        Shape::Known(0) if x.head_request => BodyFraming::Length(declared().unwrap_or(0)),
        Shape::Known(n) => BodyFraming::Length(n),
        Shape::Unknown if x.version == Version::HTTP_11 => BodyFraming::Chunked,
        Shape::Unknown => {
            // HTTP/1.0 has no chunking: the body ends when the connection closes.
            keep_alive &= !send_body;
            BodyFraming::None
        }
    };
    Plan {
        framing,
        send_body,
        keep_alive,
    }
}

/// Whether a response with this status may carry a body.
pub(crate) fn allows_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// Appends a response head to `out`. Framing and connection headers the handler set are
/// replaced by ours, which match what is actually sent.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: BodyFraming,
    keep_alive: bool,
    request_version: Version,
    now: Instant,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(header::DATE) {
        push_date_line(out, now);
    }
    match framing {
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        BodyFraming::None => {}
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        out.extend_from_slice(b"connection: upgrade\r\n");
    } else if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if request_version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal (per response, so without the formatting machinery).
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends one chunk of a chunked body (an empty `data` writes the last chunk).
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let get = Exchange {
            head_request: false,
            version: Version::HTTP_11,
            keep_alive: true,
            draining: false,
        };
        let head = Exchange {
            head_request: true,
            ..get
        };
        let http10 = Exchange {
            version: Version::HTTP_10,
            ..get
        };
        let draining = Exchange {
            draining: true,
            ..get
        };
        let cl = |n: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_LENGTH, n.parse().unwrap());
            h
        };
        let mut close = HeaderMap::new();
        close.insert(header::CONNECTION, "keep-alive, Close".parse().unwrap());
        let none = HeaderMap::new();
        use BodyFraming::*;
        use Shape::*;
        let rows: &[(&str, Exchange, u16, &HeaderMap, Shape, Plan)] = &[
            (
                "bytes",
                get,
                200,
                &none,
                Known(5),
                Plan {
                    framing: Length(5),
                    send_body: true,
                    keep_alive: true,
                },
            ),
            (
                "reader",
                get,
                200,
                &none,
                Unknown,
                Plan {
                    framing: Chunked,
                    send_body: true,
                    keep_alive: true,
                },
            ),
            (
                "reader to 1.0",
                http10,
                200,
                &none,
                Unknown,
                Plan {
                    framing: None,
                    send_body: true,
                    keep_alive: false,
                },
            ),
            (
                "HEAD, bytes",
                head,
                200,
                &none,
                Known(5),
                Plan {
                    framing: Length(5),
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "HEAD, declared",
                head,
                200,
                &cl("1234"),
                Known(0),
                Plan {
                    framing: Length(1234),
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "HEAD, declared but bytes",
                head,
                200,
                &cl("1234"),
                Known(5),
                Plan {
                    framing: Length(5),
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "HEAD, reader",
                head,
                200,
                &none,
                Unknown,
                Plan {
                    framing: Chunked,
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "HEAD, reader, 1.0",
                Exchange {
                    head_request: true,
                    ..http10
                },
                200,
                &none,
                Unknown,
                Plan {
                    framing: None,
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "GET ignores a declared length",
                get,
                200,
                &cl("99"),
                Known(0),
                Plan {
                    framing: Length(0),
                    send_body: true,
                    keep_alive: true,
                },
            ),
            (
                "204",
                get,
                204,
                &cl("3"),
                Known(3),
                Plan {
                    framing: None,
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "304 without length",
                get,
                304,
                &none,
                Known(0),
                Plan {
                    framing: None,
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "304 with length",
                get,
                304,
                &cl("42"),
                Known(0),
                Plan {
                    framing: Length(42),
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "304, reader",
                get,
                304,
                &none,
                Unknown,
                Plan {
                    framing: None,
                    send_body: false,
                    keep_alive: true,
                },
            ),
            (
                "handler closes",
                get,
                200,
                &close,
                Known(0),
                Plan {
                    framing: Length(0),
                    send_body: true,
                    keep_alive: false,
                },
            ),
            (
                "client closes",
                Exchange {
                    keep_alive: false,
                    ..get
                },
                200,
                &none,
                Known(0),
                Plan {
                    framing: Length(0),
                    send_body: true,
                    keep_alive: false,
                },
            ),
            (
                "draining",
                draining,
                200,
                &none,
                Known(0),
                Plan {
                    framing: Length(0),
                    send_body: true,
                    keep_alive: false,
                },
            ),
        ];
        for (name, x, status, headers, shape, want) in rows {
            let status = StatusCode::from_u16(*status).unwrap();
            assert_eq!(plan(x, status, headers, *shape), *want, "{name}");
        }
    }

    #[test]
    fn head_replaces_framing_headers_and_adds_date() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "999".parse().unwrap());
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let mut out = Vec::new();
        write_head(
            &mut out,
            StatusCode::OK,
            &headers,
            BodyFraming::Length(5),
            true,
            Version::HTTP_11,
            Instant::now(),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-type: text/plain\r\n"));
        assert!(text.contains("content-length: 5\r\n"));
        assert!(!text.contains("999"));
        assert!(text.contains("date: ") && text.contains(" GMT\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("connection"));
    }

    #[test]
    fn http10_keep_alive_and_close() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            BodyFraming::Chunked,
            false,
            Version::HTTP_11,
            Instant::now(),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("transfer-encoding: chunked\r\nconnection: close\r\n"));
        let mut out = Vec::new();
        write_head(
            &mut out,
            StatusCode::OK,
            &HeaderMap::new(),
            BodyFraming::Length(0),
            true,
            Version::HTTP_10,
            Instant::now(),
        );
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("connection: keep-alive\r\n"));
    }

    #[test]
    fn decimals() {
        for n in [0usize, 7, 10, 12, 999, 1_000_000, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello world, and more");
        write_chunk(&mut out, b"");
        assert_eq!(out, b"15\r\nhello world, and more\r\n0\r\n\r\n");
    }
}
