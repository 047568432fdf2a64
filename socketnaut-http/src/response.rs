//! Writing a response head: status line, the cached `Date`, framing headers, `Connection`.

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
    /// Neither: no body allowed (1xx, 204), or close-delimited for HTTP/1.0.
    None,
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
    if !keep_alive {
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
