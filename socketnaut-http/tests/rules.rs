//! Framing rules and limits over raw sockets: one row per case, checking the status, whether
//! the connection is closed afterwards, and that nothing but the framed response is sent (no
//! content after a response to `HEAD`, no bytes after the final response).

mod common;

use common::{app, server, Conn};
use socketnaut_http::Http;

struct Row {
    name: String,
    raw: Vec<u8>,
    status: u16,
    closes: bool,
    /// The request is `HEAD`: the response has no content whatever its headers say.
    head: bool,
    /// The response body, where it says what the handler saw.
    body: Option<&'static str>,
}

fn row(name: impl Into<String>, raw: impl Into<Vec<u8>>, status: u16, closes: bool) -> Row {
    Row {
        name: name.into(),
        raw: raw.into(),
        status,
        closes,
        head: false,
        body: None,
    }
}

impl Row {
    fn answering_head(mut self) -> Row {
        self.head = true;
        self
    }

    fn body(mut self, body: &'static str) -> Row {
        self.body = Some(body);
        self
    }
}

fn chunked(chunks: &str) -> String {
    format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}")
}

/// Every size limit at one below and one above it (the defaults: request line 8 KiB, head
/// 16 KiB, 100 fields, body 1 MiB, chunk metadata 16 KiB).
fn limit_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    // Within the limit the target reaches the handler, which has no such route (404).
    for (delta, status) in [(-1i64, 404u16), (1, 414)] {
        // "GET " + target + " HTTP/1.1" is 13 bytes plus the target.
        let len = (8192 + delta) as usize;
        let target = format!("/{}", "a".repeat(len - 14));
        let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        rows.push(row(
            format!("request line {len}"),
            raw,
            status,
            status == 414,
        ));
    }
    for (delta, status) in [(-1i64, 200u16), (1, 431)] {
        let len = (16384 + delta) as usize;
        let raw = format!(
            "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
            "v".repeat(len - 32)
        );
        assert_eq!(raw.len(), len);
        rows.push(row(format!("head {len}"), raw, status, status != 200));
    }
    for (fields, status) in [(99usize, 200u16), (101, 431)] {
        let extra: String = (1..fields).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
        rows.push(row(format!("{fields} fields"), raw, status, status != 200));
    }
    for (delta, status) in [(-1i64, 200u16), (1, 413)] {
        let len = (1024 * 1024 + delta) as usize;
        let mut raw =
            format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        if status == 200 {
            raw.extend(std::iter::repeat_n(b'b', len));
        }
        rows.push(row(
            format!("body {len} by length"),
            raw,
            status,
            status != 200,
        ));
        let data = if status == 200 {
            "c".repeat(len)
        } else {
            String::new()
        };
        let raw = chunked(&format!("{len:x}\r\n{data}\r\n0\r\n\r\n"));
        rows.push(row(
            format!("body {len} by chunk"),
            raw,
            status,
            status != 200,
        ));
    }
    for (delta, status) in [(-1i64, 200u16), (1, 400)] {
        let len = (16384 + delta) as usize;
        let raw = chunked(&format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(len - 1)));
        rows.push(row(
            format!("chunk extensions {len}"),
            raw,
            status,
            status != 200,
        ));
    }
    for (delta, status) in [(-1i64, 200u16), (1, 431)] {
        let len = (16384 + delta) as usize;
        let raw = chunked(&format!(
            "1\r\na\r\n0\r\nX: {}\r\n\r\n",
            "t".repeat(len - 3)
        ));
        rows.push(row(format!("trailers {len}"), raw, status, status != 200));
    }
    rows
}

fn rows() -> Vec<Row> {
    let mut rows = vec![
        row("ok", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        // Framing (RFC 9112 §6).
        row("TE and CL", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, true),
        row("TE gzip", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501, true),
        row("TE chunked not last", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, true),
        row("TE in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true),
        row("CL not digits", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1e3\r\n\r\n", 400, true),
        row("CL overflow", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 184467440737095516160\r\n\r\n", 400, true),
        row("CL duplicates differ", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, true),
        row("CL duplicates agree", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400, true),
        row("CL list of equal values", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5,5\r\n\r\nabcde", 400, true),
        row("CL with sign", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +2\r\n\r\nab", 400, true),
        row("CL with leading zeros", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 002\r\n\r\nab", 200, false).body("ab"),
        // Chunk lines (RFC 9112 §7.1.1).
        row("chunk extension accepted", chunked("3;name=value;flag\r\nabc\r\n0\r\n\r\n"), 200, false).body("abc"),
        row("chunk extension, quoted, with BWS", chunked("3 ; n = \"a b\"\r\nabc\r\n0\r\n\r\n"), 200, false).body("abc"),
        row("space after chunk size", chunked("3 \r\nabc\r\n0\r\n\r\n"), 400, true),
        row("bare semicolon", chunked("3;\r\nabc\r\n0\r\n\r\n"), 400, true),
        row("chunk extension not a token", chunked("3;a@b\r\nabc\r\n0\r\n\r\n"), 400, true),
        row("chunk extension value missing", chunked("3;a=\r\nabc\r\n0\r\n\r\n"), 400, true),
        row("bare LF in chunk line", chunked("3\nabc\r\n0\r\n\r\n"), 400, true),
        row("bad chunk size", chunked("zz\r\n"), 400, true),
        row("chunk data longer than its size", chunked("3\r\nabcd\r\n0\r\n\r\n"), 400, true),
        row("trailer folded", chunked("0\r\nA: 1\r\n b\r\n\r\n"), 400, true),
        // The head (RFC 9112 §2–§5).
        row("obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n", 400, true),
        row("bare CR", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400, true),
        row("space before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400, true),
        row("whitespace before the first field", "GET / HTTP/1.1\r\n Host: t\r\n\r\n", 400, true),
        row("control char in value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400, true),
        row("control char in name", "GET / HTTP/1.1\r\nHost: t\r\nX\x07: b\r\n\r\n", 400, true),
        row("method not a token", "G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, true),
        row("HTTP/1.2", "GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505, true),
        row("HTTP/1", "GET / HTTP/1\r\nHost: t\r\n\r\n", 400, true),
        row("HTTP/1.1 in lowercase", "GET / http/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("bare LF in head tolerated", "GET / HTTP/1.1\nHost: t\n\n", 200, false),
        row("empty line before the request line", "\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        row("unknown expectation", "GET / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n", 417, true),
        row("garbage", &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], 400, true),
        // Host (RFC 9112 §3.2).
        row("no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400, true),
        row("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
        row("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, true),
        row("Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, true),
        row("Host with userinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400, true),
        row("Host with <", "GET / HTTP/1.1\r\nHost: a<b\r\n\r\n", 400, true),
        row("Host with extra colons", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400, true),
        row("Host as a list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400, true),
        row("Host empty", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, true),
        row("Host port out of range", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400, true),
        row("Host IPv6 and port", "GET /host HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200, false).body("[::1]:8080"),
        row("no Host in 1.0", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, false),
        // Request targets and methods (RFC 9112 §3.2, RFC 9110 §9).
        row("asterisk with GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("asterisk with OPTIONS reaches the handler", "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 404, false),
        row("CONNECT", "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", 501, true),
        row("authority form with GET", "GET t:443 HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("absolute form: its authority is the Host", "GET http://real.example:81/host HTTP/1.1\r\nHost: other\r\n\r\n", 200, false).body("real.example:81"),
        row("absolute form with userinfo", "GET http://u@t/ HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("absolute form, other scheme", "GET ftp://t/ HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("non-ASCII target", &b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n"[..], 400, true),
        row("fragment in target", "GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("bad percent escape", "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400, true),
        row("characters browsers send raw", "GET /a[1]?q={x}|y^z HTTP/1.1\r\nHost: t\r\n\r\n", 404, false),
        // Responses without content (RFC 9110 §6.4.1, §9.3.2).
        row("HEAD", "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", 200, false).answering_head(),
        row("HEAD rejected for its Host", "HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, true).answering_head(),
        row("HEAD with a body too large", "HEAD / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413, true).answering_head(),
        row("HEAD whose handler panics", "HEAD /panic HTTP/1.1\r\nHost: t\r\n\r\n", 500, true).answering_head(),
        row("HEAD with a bad chunk", "HEAD / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, true).answering_head(),
        row("HEAD of a streamed body", "HEAD /stream?n=100 HTTP/1.1\r\nHost: t\r\n\r\n", 200, false).answering_head(),
        row("304 has no content", "GET /notmodified HTTP/1.1\r\nHost: t\r\n\r\n", 304, false),
        row("204 has no content", "GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n", 204, false),
        row("handler answers 1xx as final", "GET /early HTTP/1.1\r\nHost: t\r\n\r\n", 500, true),
        row("handler panics", "GET /panic HTTP/1.1\r\nHost: t\r\n\r\n", 500, true),
        // Connection handling.
        row("HTTP/1.0 without keep-alive closes", "GET / HTTP/1.0\r\n\r\n", 200, true),
        row("Connection: close closes", "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200, true),
    ];
    rows.extend(limit_rows());
    rows
}

/// Checks one row on a fresh connection; `Err` says what was wrong.
fn check(addr: std::net::SocketAddr, r: &Row) -> Result<(), String> {
    let mut c = Conn::open(addr);
    // The server may answer and close before reading all of a large request: ignore a write
    // error, the response is what counts.
    let _ = c.send(&r.raw);
    let got = c
        .response_to(r.head)
        .map_err(|e| format!("no response: {e}"))?;
    if got.status != r.status {
        return Err(format!("status {} want {}", got.status, r.status));
    }
    if let Some(body) = r.body {
        if got.text() != body {
            return Err(format!("body {:?} want {body:?}", got.text()));
        }
    }
    if r.closes {
        if got.header("connection") != Some("close") {
            return Err("no Connection: close".into());
        }
        let rest = c.rest();
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes after the response: {:?}",
                rest.len(),
                String::from_utf8_lossy(&rest[..rest.len().min(80)])
            ));
        }
    } else {
        let next = c.get("/");
        if next.status != 200 || next.text() != "Hello World!" {
            return Err(format!("not kept alive in step: next {next:?}"));
        }
    }
    Ok(())
}

#[test]
fn every_rule_answers_its_status_and_closes() {
    let proxy = server(Http::new(app));
    let failures: Vec<String> = rows()
        .iter()
        .filter_map(|r| {
            check(proxy.local_addr(), r)
                .err()
                .map(|e| format!("{}: {e}", r.name))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(proxy.stats().panics, 2, "both /panic rows are counted");
}

#[test]
fn nothing_after_a_framing_error_is_served() {
    // A smuggling attempt: the second request hidden behind conflicting framing must never be
    // answered.
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /info HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(c.response().unwrap().status, 400);
    assert!(c.rest().is_empty(), "nothing after the 400");
}
