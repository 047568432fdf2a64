//! The request head: the only module that names httparse. It tokenizes the head with httparse
//! and then applies the rules httparse leaves to us: limits, `Host`, and the message framing
//! (`Content-Length` / `Transfer-Encoding`), each failure mapped to its status in one place.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use std::mem::MaybeUninit;

use bytes::Bytes;

use crate::config::Limits;
use crate::decode::Framing;
use crate::error::{self, Reject};
use crate::grammar::{self, TargetForm};

/// Header slots kept on the stack; larger `max_headers` limits use the heap.
const STACK_HEADERS: usize = 128;

/// A parsed, validated request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// The client wants the connection kept open (HTTP/1.1 default, or HTTP/1.0 asking).
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
}

/// The outcome of looking at the bytes received so far.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // see `Complete`
pub(crate) enum Parsed {
    /// Not a whole head yet (and within the limits).
    Partial,
    /// A head, and the number of bytes it took. Not boxed: it is made once per request and
    /// moved straight into the connection state, and a box would cost an allocation each time.
    Complete(Head, usize),
}

/// Parses a request head from the start of `buf`.
pub(crate) fn parse_head(buf: &[u8], limits: &Limits) -> Result<Parsed, Reject> {
    check_request_line(buf, limits)?;
    // Header slots: on the stack and uninitialised for the usual limit (this runs per request).
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap.resize_with(limits.max_headers, MaybeUninit::uninit);
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head => {
            return Err(error::HEAD_TOO_LARGE)
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Ok(httparse::Status::Complete(len)) if len > limits.max_head => {
            return Err(error::HEAD_TOO_LARGE)
        }
        Ok(httparse::Status::Complete(len)) => len,
        Err(e) => return Err(httparse_error(e, buf)),
    };
    Ok(Parsed::Complete(head(&req, &buf[..len])?, len))
}

/// The validated head from httparse's tokens of `buf` (the whole head, and nothing after it).
fn head(req: &httparse::Request<'_, '_>, buf: &[u8]) -> Result<Head, Reject> {
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(error::VERSION),
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| Reject::bad("invalid method"))?;
    let target = req.path.unwrap_or_default().as_bytes();
    let form = target_form(&method, target)?;
    // One copy of the whole head; the target and every header value are slices of it, so a
    // request costs one allocation here however many fields it has.
    let shared = Bytes::copy_from_slice(buf);
    let slice_of = |part: &[u8]| {
        // `part` is a subslice of `buf` (httparse borrows from it).
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        shared.slice(start..start + part.len())
    };
    let uri = Uri::from_maybe_shared(slice_of(target))
        .map_err(|_| Reject::bad("invalid request target"))?;
    let (mut headers, seen) = fields(req.headers, slice_of)?;
    let framing = if seen.framing {
        framing(&headers, version)?
    } else {
        Framing::Empty
    };
    check_host(&headers, &seen, version)?;
    if let TargetForm::Absolute {
        authority: (start, len),
    } = form
    {
        // RFC 9112 §3.2.2: the target's authority wins and `Host` is ignored; the handler
        // sees the one that counts in both places.
        let authority = HeaderValue::from_maybe_shared(slice_of(&target[start..start + len]))
            .map_err(|_| Reject::bad("invalid request target"))?;
        headers.insert(header::HOST, authority);
    }
    let expect_continue = seen.expect && expects_continue(&headers, version)?;
    let keep_alive = if seen.connection {
        keep_alive(&headers, version)
    } else {
        version == Version::HTTP_11
    };
    Ok(Head {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
    })
}

/// The request line limit, checked first, on the raw bytes, so a long URI gets 414 even before
/// the head is complete.
fn check_request_line(buf: &[u8], limits: &Limits) -> Result<(), Reject> {
    let line_end = buf
        .iter()
        .take(limits.max_request_line + 2)
        .position(|&b| b == b'\n');
    match line_end {
        None if buf.len() > limits.max_request_line + 1 => Err(error::URI_TOO_LONG),
        Some(end) if trim_cr(&buf[..end]).len() > limits.max_request_line => {
            Err(error::URI_TOO_LONG)
        }
        _ => Ok(()),
    }
}

/// httparse's refusal as a status.
fn httparse_error(e: httparse::Error, buf: &[u8]) -> Reject {
    match e {
        httparse::Error::TooManyHeaders => error::TOO_MANY_HEADERS,
        httparse::Error::Version => version_error(buf),
        httparse::Error::HeaderName => Reject::bad("invalid header name"),
        httparse::Error::HeaderValue => Reject::bad("invalid header value"),
        httparse::Error::NewLine => Reject::bad("invalid line ending"),
        httparse::Error::Token => Reject::bad("invalid token"),
        _ => Reject::bad("malformed request head"),
    }
}

/// The target's form, if the method allows it (RFC 9112 §3.2; `CONNECT` is not served).
fn target_form(method: &Method, target: &[u8]) -> Result<TargetForm, Reject> {
    let form = grammar::target_form(target).ok_or(Reject::bad("invalid request target"))?;
    match form {
        _ if method == Method::CONNECT => Err(error::CONNECT),
        TargetForm::Origin | TargetForm::Absolute { .. } => Ok(form),
        TargetForm::Asterisk if method == Method::OPTIONS => Ok(form),
        TargetForm::Asterisk => Err(Reject::bad("the * target is only for OPTIONS")),
        TargetForm::Authority => Err(Reject::bad("the authority form is only for CONNECT")),
    }
}

/// The header fields as a map of slices of the head, and which of the fields that decide
/// framing and connection handling are present (noted while building the map, so the common
/// request, with none of them but Host, needs no lookups afterwards).
fn fields(
    raw: &[httparse::Header<'_>],
    slice_of: impl Fn(&[u8]) -> Bytes,
) -> Result<(HeaderMap, Seen), Reject> {
    let mut headers = HeaderMap::with_capacity(raw.len());
    let mut seen = Seen::default();
    for h in raw {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| Reject::bad("invalid header name"))?;
        // Rejects control characters (other than tab) and DEL, which httparse lets through.
        let value = HeaderValue::from_maybe_shared(slice_of(h.value))
            .map_err(|_| Reject::bad("invalid header value"))?;
        seen.note(&name);
        headers.append(name, value);
    }
    Ok((headers, seen))
}

/// RFC 9112 §3.2: exactly one valid `Host` in HTTP/1.1, at most one (valid) in HTTP/1.0.
fn check_host(headers: &HeaderMap, seen: &Seen, version: Version) -> Result<(), Reject> {
    if seen.hosts > 1 || (version == Version::HTTP_11 && seen.hosts == 0) {
        return Err(Reject::bad("HTTP/1.1 requires exactly one Host header"));
    }
    let host = (seen.hosts == 1)
        .then(|| headers.get(header::HOST))
        .flatten();
    if host.is_some_and(|h| !grammar::is_host(h.as_bytes())) {
        return Err(Reject::bad("invalid Host header"));
    }
    Ok(())
}

/// `Expect: 100-continue` (honoured in HTTP/1.1, ignored in 1.0 as RFC 9110 §10.1.1 says);
/// any other expectation is 417.
fn expects_continue(headers: &HeaderMap, version: Version) -> Result<bool, Reject> {
    match headers.get(header::EXPECT) {
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"100-continue") => {
            Ok(version == Version::HTTP_11)
        }
        Some(_) => Err(Reject::new(
            StatusCode::EXPECTATION_FAILED,
            "unsupported expectation",
        )),
        None => Ok(false),
    }
}

/// Presence of the fields that decide framing and connection handling.
#[derive(Default)]
struct Seen {
    /// `Content-Length` or `Transfer-Encoding`.
    framing: bool,
    hosts: usize,
    expect: bool,
    connection: bool,
}

impl Seen {
    fn note(&mut self, name: &HeaderName) {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            self.framing = true;
        } else if name == header::HOST {
            self.hosts += 1;
        } else if name == header::EXPECT {
            self.expect = true;
        } else if name == header::CONNECTION {
            self.connection = true;
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// httparse only knows HTTP/1.x: a well-formed `HTTP/d.d` version it refuses is one we do not
/// support (505); anything else in its place, `HTTP/1` included, is not an `HTTP-version`
/// token at all (RFC 9112 §2.3) and so malformed (400).
fn version_error(buf: &[u8]) -> Reject {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = trim_cr(&buf[..line_end]);
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [_, _, version] = parts[..] else {
        return Reject::bad("malformed request line");
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            error::VERSION
        }
        _ => Reject::bad("malformed request line"),
    }
}

/// Comma-separated list elements of every field named `name`, trimmed, empty ones dropped.
fn list<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|item| item.trim_ascii())
        .filter(|item| !item.is_empty())
}

/// RFC 9112 §6: the rules that prevent request smuggling.
fn framing(headers: &HeaderMap, version: Version) -> Result<Framing, Reject> {
    let has_te = headers.contains_key(header::TRANSFER_ENCODING);
    let has_cl = headers.contains_key(header::CONTENT_LENGTH);
    if has_te && has_cl {
        return Err(Reject::bad(
            "both Transfer-Encoding and Content-Length are present",
        ));
    }
    if has_te {
        if version == Version::HTTP_10 {
            return Err(Reject::bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        let codings: Vec<&[u8]> = list(headers, &header::TRANSFER_ENCODING).collect();
        let is_chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
        let chunked = codings.iter().filter(|c| is_chunked(c)).count();
        return match codings.last() {
            Some(last) if is_chunked(last) && chunked == 1 && codings.len() == 1 => {
                Ok(Framing::Chunked)
            }
            Some(last) if is_chunked(last) && chunked == 1 => Err(Reject::new(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported transfer coding",
            )),
            _ if chunked > 0 => Err(Reject::bad(
                "chunked must be the final transfer coding, once",
            )),
            _ => Err(Reject::new(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported transfer coding",
            )),
        };
    }
    if has_cl {
        // Exactly one field of plain digits. RFC 9112 §6.3 lets a recipient either reject
        // repeated or list-valued lengths (`5, 5`) or fold identical ones; rejecting leaves no
        // two parsers in a chain disagreeing about where this body ends.
        let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
        let value = values.next().expect("present").as_bytes();
        if values.next().is_some() {
            return Err(Reject::bad("repeated Content-Length"));
        }
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(Reject::bad("Content-Length is not a number"));
        }
        let n: u64 = std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Reject::bad("Content-Length does not fit"))?;
        return Ok(match n {
            0 => Framing::Empty,
            n => Framing::Length(n),
        });
    }
    Ok(Framing::Empty)
}

fn keep_alive(headers: &HeaderMap, version: Version) -> bool {
    let mut close = false;
    let mut keep = false;
    for token in list(headers, &header::CONNECTION) {
        close |= token.eq_ignore_ascii_case(b"close");
        keep |= token.eq_ignore_ascii_case(b"keep-alive");
    }
    !close && (version == Version::HTTP_11 || keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Parsed, Reject> {
        parse_head(raw.as_bytes(), &Limits::default())
    }

    fn status(raw: &str) -> Option<u16> {
        parse(raw).err().map(|r| r.status.as_u16())
    }

    macro_rules! reject {
        ($($name:ident: $raw:expr => $status:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(status($raw), Some($status), "{:?}", $raw);
            }
        )*};
    }

    reject! {
        both_te_and_cl: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" => 400;
        te_gzip_only: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n" => 501;
        te_gzip_then_chunked: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => 501;
        te_chunked_not_last: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" => 400;
        te_chunked_twice: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => 400;
        te_in_http10: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => 400;
        cl_sign: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n" => 400;
        cl_hex: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n" => 400;
        cl_overflow: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n" => 400;
        cl_conflict: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n" => 400;
        cl_conflict_list: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n" => 400;
        cl_empty: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n" => 400;
        obs_fold: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n" => 400;
        space_before_colon: "GET / HTTP/1.1\r\nHost : a\r\n\r\n" => 400;
        bare_cr_in_value: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n" => 400;
        control_in_value: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n" => 400;
        del_in_value: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n" => 400;
        control_in_name: "GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n" => 400;
        no_host: "GET / HTTP/1.1\r\n\r\n" => 400;
        two_hosts: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" => 400;
        http2_version: "GET / HTTP/2.0\r\nHost: a\r\n\r\n" => 505;
        http09_version: "GET / HTTP/0.9\r\nHost: a\r\n\r\n" => 505;
        garbage_version: "GET / HXTP/1.1\r\nHost: a\r\n\r\n" => 400;
        bad_expect: "GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n" => 417;
        space_in_target: "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        cl_list_of_equal_values: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n" => 400;
        cl_repeated_equal: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n" => 400;
        http1_without_minor: "GET / HTTP/1\r\nHost: a\r\n\r\n" => 400;
        lowercase_version: "GET / http/1.1\r\nHost: a\r\n\r\n" => 400;
        host_with_space: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => 400;
        host_with_slash: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => 400;
        host_with_userinfo: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n" => 400;
        host_with_angle: "GET / HTTP/1.1\r\nHost: a<b\r\n\r\n" => 400;
        host_extra_colon: "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n" => 400;
        host_list: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n" => 400;
        host_empty: "GET / HTTP/1.1\r\nHost:\r\n\r\n" => 400;
        host_invalid_in_http10: "GET / HTTP/1.0\r\nHost: a b\r\n\r\n" => 400;
        two_hosts_in_http10: "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n" => 400;
        asterisk_with_get: "GET * HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        connect_is_not_implemented: "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n" => 501;
        authority_form_with_get: "GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        absolute_form_other_scheme: "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        absolute_form_userinfo: "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        absolute_form_still_needs_host: "GET http://a/ HTTP/1.1\r\n\r\n" => 400;
        non_ascii_target: "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        fragment_in_target: "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        bad_percent_escape: "GET /%g0 HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
        whitespace_before_first_field: "GET / HTTP/1.1\r\n Host: a\r\n\r\n" => 400;
        method_not_a_token: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n" => 400;
    }

    #[test]
    fn limits_map_to_414_and_431() {
        let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(status(&long_line), Some(414));
        // Even before the line ends.
        assert_eq!(status(&format!("GET /{}", "a".repeat(9000))), Some(414));
        let big_head = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "a".repeat(17000)
        );
        assert_eq!(status(&big_head), Some(431));
        let partial_big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "a".repeat(17000));
        assert_eq!(status(&partial_big), Some(431));
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            Some(431)
        );
        let ok: String = (0..99).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: a\r\n{ok}\r\n")),
            None
        );
    }

    #[test]
    fn accepted_heads() {
        type Check = fn(&Head);
        let rows: &[(&str, Check)] = &[
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", |h| {
                assert!(h.keep_alive);
                assert_eq!(h.framing, Framing::Empty);
            }),
            ("GET / HTTP/1.0\r\n\r\n", |h| assert!(!h.keep_alive)),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", |h| {
                assert!(h.keep_alive)
            }),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                |h| assert!(!h.keep_alive),
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
                |h| assert_eq!(h.framing, Framing::Length(5)),
            ),
            ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", |h| {
                assert_eq!(h.method, Method::OPTIONS);
                assert_eq!(h.uri, "*");
            }),
            // The absolute form's authority replaces Host (RFC 9112 §3.2.2).
            (
                "GET http://real.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
                |h| {
                    assert_eq!(h.headers[header::HOST], "real.example:8080");
                    assert_eq!(h.headers.get_all(header::HOST).iter().count(), 1);
                    assert_eq!(h.uri.host(), Some("real.example"));
                    assert_eq!(h.uri.path(), "/p");
                },
            ),
            ("GET / HTTP/1.0\r\nHost: [::1]:80\r\n\r\n", |h| {
                assert_eq!(h.headers[header::HOST], "[::1]:80")
            }),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
                |h| assert_eq!(h.framing, Framing::Chunked),
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
                |h| assert!(h.expect_continue),
            ),
            // Bare LF is tolerated in the head.
            ("GET /x?y=1 HTTP/1.1\nHost: a\nX: obs-text\n\n", |h| {
                assert_eq!(h.uri.path(), "/x");
                assert_eq!(h.headers["x"].as_bytes(), b"obs-text");
            }),
        ];
        for (raw, check) in rows {
            match parse(raw) {
                Ok(Parsed::Complete(head, len)) => {
                    assert_eq!(len, raw.len());
                    check(&head);
                }
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn obs_text_in_values_is_kept() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n";
        match parse_head(raw, &Limits::default()) {
            Ok(Parsed::Complete(head, _)) => {
                assert_eq!(head.headers["x"].as_bytes(), b"caf\xc3\xa9")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partial_heads_wait() {
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHost: a\r\n"),
            Ok(Parsed::Partial)
        ));
        assert!(matches!(parse("GE"), Ok(Parsed::Partial)));
    }
}
