//! Files as responses: validators (`ETag`, `Last-Modified`), conditional requests (RFC 9110
//! §13: `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since`) and single
//! byte ranges (RFC 9110 §14: `Range`, `If-Range`, 206 and 416). The body goes out with
//! `sendfile(2)` on plain TCP ([`Body::file`](crate::Body::file)).
//!
//! Choices where the RFC leaves them to the server: the entity tag is made of the file's
//! modification time and length (as nginx makes its own), compared strongly for `If-Match`
//! and `If-Range` and weakly for `If-None-Match`; a `Range` with several ranges, or one that
//! does not parse, is ignored (the whole file, 200), which RFC 9110 §14.2 allows; a range past
//! the end is 416 with `Content-Range: bytes */LEN`.

use std::fs::File;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::handler::{Request, Response};
use crate::Body;

/// What a `Range` field asks of a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// No usable range: the whole representation.
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// Nothing of it can be served (416).
    Unsatisfiable,
}

/// A `Range` value (`bytes=first-last`, `bytes=first-`, `bytes=-suffix`) against `len`.
pub(crate) fn range(value: &str, len: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (first, last) {
        ("", suffix) if digits(suffix) => match suffix.parse::<u64>() {
            Ok(0) => Ranged::Unsatisfiable,
            Ok(_) if len == 0 => Ranged::Unsatisfiable,
            Ok(n) => Ranged::Part(len.saturating_sub(n), len - 1),
            // More digits than u64 holds: all of it.
            Err(_) => Ranged::Part(0, len.saturating_sub(1)),
        },
        (first, "") if digits(first) => match first.parse::<u64>() {
            Ok(f) if f < len => Ranged::Part(f, len - 1),
            _ => Ranged::Unsatisfiable,
        },
        (first, last) if digits(first) && digits(last) => {
            match (first.parse::<u64>(), last.parse::<u64>()) {
                (Ok(f), _) if f >= len => Ranged::Unsatisfiable,
                (Ok(f), Ok(l)) if l >= f => Ranged::Part(f, l.min(len - 1)),
                (Ok(f), Err(_)) => Ranged::Part(f, len - 1),
                _ => Ranged::Whole, // last < first: invalid, ignored
            }
        }
        _ => Ranged::Whole,
    }
}

/// Whether a list of entity tags (`*`, or `"a", W/"b"`) holds `etag`; `weak` compares
/// without the `W/` prefix (RFC 9110 §8.8.3.2).
pub(crate) fn etag_listed(list: &str, etag: &str, weak: bool) -> bool {
    if list.trim() == "*" {
        return true;
    }
    list.split(',').map(str::trim).any(|tag| {
        let (tag_weak, bare) = match tag.strip_prefix("W/") {
            Some(bare) => (true, bare),
            None => (false, tag),
        };
        bare == etag && (weak || !tag_weak)
    })
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    text(headers, name).and_then(|v| httpdate::parse_http_date(v).ok())
}

/// The preconditions (RFC 9110 §13.2.2): `Some(status)` when they answer the request
/// themselves (304 or 412).
fn preconditions(req: &Request, etag: &str, modified: SystemTime) -> Option<StatusCode> {
    let h = req.headers();
    let safe = req.method() == Method::GET || req.method() == Method::HEAD;
    if let Some(list) = text(h, header::IF_MATCH) {
        if !etag_listed(list, etag, false) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if date(h, header::IF_UNMODIFIED_SINCE).is_some_and(|d| modified > d) {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if let Some(list) = text(h, header::IF_NONE_MATCH) {
        if etag_listed(list, etag, true) {
            return Some(if safe {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::PRECONDITION_FAILED
            });
        }
    } else if safe && date(h, header::IF_MODIFIED_SINCE).is_some_and(|d| modified <= d) {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

/// Serves `file` for `req`: 200 with the whole file, 206 with one range, 304 or 412 from the
/// preconditions, 416 for a range past the end; always with `ETag`, `Last-Modified` and
/// `Accept-Ranges: bytes`. Ranges apply to `GET` only.
///
/// # Errors
///
/// The file's metadata could not be read.
pub fn serve(req: &Request, file: File) -> io::Result<Response> {
    let meta = file.metadata()?;
    let len = meta.len();
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    // Whole seconds: HTTP dates have no finer resolution, and comparisons must agree.
    let secs = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let modified = UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let etag = format!("\"{secs:x}-{len:x}\"");
    let last_modified = httpdate::fmt_http_date(modified);
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("visible ASCII"),
    );
    h.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&last_modified).expect("a date"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(status) = preconditions(req, &etag, modified) {
        *r.status_mut() = status;
        return Ok(r);
    }
    let if_range_holds = match text(req.headers(), header::IF_RANGE) {
        None => true,
        Some(v) if v.starts_with('"') => v == etag,
        Some(v) => httpdate::parse_http_date(v).is_ok_and(|d| d == modified),
    };
    let wanted = match text(req.headers(), header::RANGE) {
        Some(v) if req.method() == Method::GET && if_range_holds => range(v, len),
        _ => Ranged::Whole,
    };
    match wanted {
        Ranged::Whole => *r.body_mut() = Body::file_range(file, 0, len),
        Ranged::Part(first, last) => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let value = format!("bytes {first}-{last}/{len}");
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("digits"),
            );
            *r.body_mut() = Body::file_range(file, first, last - first + 1);
        }
        Ranged::Unsatisfiable => {
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let value = format!("bytes */{len}");
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("digits"),
            );
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let cases: [(&str, u64, Ranged); 16] = [
            ("bytes=0-99", 1000, Ranged::Part(0, 99)),
            ("bytes=500-", 1000, Ranged::Part(500, 999)),
            ("bytes=-100", 1000, Ranged::Part(900, 999)),
            ("bytes=-2000", 1000, Ranged::Part(0, 999)),
            ("bytes=900-5000", 1000, Ranged::Part(900, 999)),
            ("bytes=999-999", 1000, Ranged::Part(999, 999)),
            ("bytes=1000-", 1000, Ranged::Unsatisfiable),
            ("bytes=1000-2000", 1000, Ranged::Unsatisfiable),
            ("bytes=-0", 1000, Ranged::Unsatisfiable),
            ("bytes=0-", 0, Ranged::Unsatisfiable),
            ("bytes=5-1", 1000, Ranged::Whole),
            ("bytes=0-1,5-9", 1000, Ranged::Whole),
            ("items=0-1", 1000, Ranged::Whole),
            ("bytes=a-b", 1000, Ranged::Whole),
            ("bytes=-", 1000, Ranged::Whole),
            (
                "bytes=0-99999999999999999999999",
                1000,
                Ranged::Part(0, 999),
            ),
        ];
        for (value, len, want) in cases {
            assert_eq!(range(value, len), want, "{value} of {len}");
        }
    }

    #[test]
    fn entity_tags() {
        assert!(etag_listed("\"a\", \"b\"", "\"b\"", false));
        assert!(etag_listed("*", "\"b\"", false));
        assert!(etag_listed("W/\"b\"", "\"b\"", true));
        assert!(!etag_listed("W/\"b\"", "\"b\"", false));
        assert!(!etag_listed("\"c\"", "\"b\"", true));
    }
}
