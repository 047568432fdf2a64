//! Framing rules and limits over raw sockets: one row per case, checking the status and that
//! the connection is closed afterwards.

mod common;

use common::{app, server, Conn};
use socketnaut_http::Http;

struct Row {
    name: &'static str,
    raw: Vec<u8>,
    status: u16,
    closes: bool,
}

fn row(name: &'static str, raw: impl Into<Vec<u8>>, status: u16, closes: bool) -> Row {
    Row {
        name,
        raw: raw.into(),
        status,
        closes,
    }
}

fn rows() -> Vec<Row> {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(8200));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "v".repeat(16400)
    );
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let many_headers = format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    let big_body = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    );
    let big_chunk = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        1024 * 1024 + 1
    );
    let big_ext = format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\na\r\n0\r\n\r\n", "e".repeat(17000));
    let big_trailer = format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: {}\r\n\r\n", "t".repeat(17000));
    vec![
        row("ok", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, false),
        row("request line too long", long_target, 414, true),
        row("head too large", big_head, 431, true),
        row("too many headers", many_headers, 431, true),
        row("body too large by length", big_body, 413, true),
        row("body too large by chunk", big_chunk, 413, true),
        row("chunk extensions too long", big_ext, 400, true),
        row("trailers too large", big_trailer, 431, true),
        row("TE and CL", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, true),
        row("TE gzip", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501, true),
        row("TE chunked not last", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, true),
        row("CL not digits", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1e3\r\n\r\n", 400, true),
        row("CL overflow", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 184467440737095516160\r\n\r\n", 400, true),
        row("CL duplicates differ", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, true),
        row("CL duplicates agree", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 200, false),
        row("obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n", 400, true),
        row("bare CR", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400, true),
        row("space before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400, true),
        row("control char in value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400, true),
        row("control char in name", "GET / HTTP/1.1\r\nHost: t\r\nX\x07: b\r\n\r\n", 400, true),
        row("no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400, true),
        row("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, true),
        row("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, true),
        row("HTTP/1.2", "GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505, true),
        row("bare LF in head tolerated", "GET / HTTP/1.1\nHost: t\n\n", 200, false),
        row("bare LF in chunk line", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400, true),
        row("bad chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, true),
        row("unknown expectation", "GET / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n", 417, true),
        row("HTTP/1.0 without keep-alive closes", "GET / HTTP/1.0\r\n\r\n", 200, true),
        row("Connection: close closes", "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200, true),
        row("garbage", &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], 400, true),
    ]
}

#[test]
fn every_rule_answers_its_status_and_closes() {
    let proxy = server(Http::new(app));
    let mut failures = Vec::new();
    for r in rows() {
        let mut c = Conn::open(proxy.local_addr());
        // The server may answer and close before reading all of a large request: ignore a
        // write error, the response is what counts.
        let _ = c.send(&r.raw);
        let got = match c.response() {
            Ok(resp) => resp,
            Err(e) => {
                failures.push(format!("{}: no response: {e}", r.name));
                continue;
            }
        };
        if got.status != r.status {
            failures.push(format!(
                "{}: status {} want {}",
                r.name, got.status, r.status
            ));
        }
        if r.closes && got.header("connection") != Some("close") {
            failures.push(format!("{}: no Connection: close", r.name));
        }
        if r.closes {
            if !c.closed() {
                failures.push(format!("{}: left open", r.name));
            }
        } else if c.get("/").status != 200 {
            failures.push(format!("{}: not kept alive", r.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
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
    assert!(c.closed());
}
