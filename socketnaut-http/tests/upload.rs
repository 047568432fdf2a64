//! Streamed request bodies (`Http::stream_request_bodies`): curl uploads with a length and
//! chunked, a per-request limit that refuses before `100 Continue`, an unread body followed by
//! a pipelined request, trailers, and TLS.

mod common;

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{random_bytes, server, Conn};
use socketnaut_http::http::StatusCode;
use socketnaut_http::{Http, Request, Response};

/// FNV-1a, to compare what arrived with what was sent without keeping it.
fn digest(mut r: impl Read) -> io::Result<(u64, u64)> {
    let (mut hash, mut n) = (0xcbf2_9ce4_8422_2325_u64, 0u64);
    let mut buf = [0u8; 32 * 1024];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok((n, hash));
        }
        for &b in &buf[..k] {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        n += k as u64;
    }
}

fn routes(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let mut body = req.into_body();
    match path.as_str() {
        "/upload" => {
            body.set_limit(1 << 30);
            match digest(&mut body) {
                Ok((n, h)) => {
                    let trailer = body
                        .trailers()
                        .and_then(|t| t.get("x-sum").map(|v| v.to_str().unwrap().to_owned()));
                    Response::new(format!("{n} {h:x} {}", trailer.unwrap_or_default()).into())
                }
                Err(e) => status(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        "/small" => {
            body.set_limit(1024 * 1024);
            match digest(&mut body) {
                Ok((n, _)) => Response::new(n.to_string().into()),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    status(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string())
                }
                Err(e) => status(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        // Never reads the body.
        _ => Response::new("ignored".into()),
    }
}

fn status(s: StatusCode, text: &str) -> Response {
    let mut r = Response::new(format!("{text}\n").into());
    *r.status_mut() = s;
    r
}

fn expected(data: &[u8]) -> String {
    let (n, h) = digest(data).unwrap();
    format!("{n} {h:x} ")
}

#[test]
fn curl_uploads_with_a_length_and_chunked() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let proxy = server(Http::new(routes).stream_request_bodies(true));
    let data = random_bytes(7, 20 * 1024 * 1024 + 3);
    let dir = std::env::temp_dir().join(format!("socketnaut-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data.bin");
    std::fs::write(&file, &data).unwrap();
    let url = format!("http://{}/upload", proxy.local_addr());
    // -T FILE: Content-Length (and Expect: 100-continue, which curl sends for large bodies).
    let out = Command::new("curl")
        .args(["-sS", "-T", file.to_str().unwrap(), &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected(&data));
    // -T -: from stdin, chunked.
    let mut curl = Command::new("curl")
        .args(["-sS", "-T", "-", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    curl.stdin.take().unwrap().write_all(&data).unwrap();
    let out = curl.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected(&data));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_handler_refuses_a_large_body_before_100_continue() {
    let proxy = server(Http::new(routes).stream_request_bodies(true));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"PUT /small HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    // The first thing back is the 413, not a 100 Continue; and the connection closes.
    let r = c.response().unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
    // Within the limit: 100 Continue once the handler reads, then the answer.
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"PUT /small HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    assert_eq!(c.response().unwrap().status, 100);
    c.send(b"hello").unwrap();
    assert_eq!(c.response().unwrap().text(), "5");
    // Chunked over the limit: the read that goes over it fails.
    let mut c = Conn::open(proxy.local_addr());
    let mut raw = b"PUT /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        raw.extend_from_slice(b"10000\r\n");
        raw.extend_from_slice(&[b'z'; 0x10000]);
        raw.extend_from_slice(b"\r\n");
    }
    let _ = c.send(&raw);
    assert_eq!(c.response().unwrap().status, 413);
}

#[test]
fn an_unread_body_is_never_parsed_as_a_request() {
    let proxy = server(Http::new(routes).stream_request_bodies(true));
    // 1 MB unread, then a pipelined request: the body is dropped, the request answered.
    let mut c = Conn::open(proxy.local_addr());
    let mut raw = b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n".to_vec();
    raw.extend_from_slice(&b"GET /evil HTTP/1.1\r\nHost: t\r\n\r\n".repeat(1_000_000 / 31));
    raw.resize(raw.len() + (1_000_000 - (1_000_000 / 31) * 31), b'x');
    raw.extend_from_slice(b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let writer = {
        let mut w = c.writer.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&raw))
    };
    assert_eq!(c.response().unwrap().text(), "ignored");
    assert_eq!(c.response().unwrap().text(), "3");
    writer.join().unwrap().unwrap();
    // Too long to drop: the connection closes after the response.
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\n")
        .unwrap();
    c.send(&vec![b'y'; 100_000]).unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.text(), "ignored");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn chunked_trailers_reach_the_handler() {
    let proxy = server(Http::new(routes).stream_request_bodies(true));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n")
        .unwrap();
    assert_eq!(
        c.response().unwrap().text(),
        format!("{}11", expected(b"hello world"))
    );
    // The connection goes on.
    assert_eq!(c.get("/").text(), "ignored");
}

#[test]
fn an_upload_over_tls() {
    let pki = common::tls::pki();
    let proxy = server(
        Http::new(routes)
            .stream_request_bodies(true)
            .tls(common::tls::server_config(&pki)),
    );
    let mut tls = common::tls::connect(proxy.local_addr(), &pki);
    let data = random_bytes(3, 5 * 1024 * 1024);
    write!(tls, "PUT /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len()).unwrap();
    tls.write_all(&data).unwrap();
    let mut out = String::new();
    let _ = tls.read_to_string(&mut out);
    assert!(out.ends_with(&expected(&data)), "{out}");
}

#[test]
fn a_dribbled_upload_is_cut_at_the_minimum_rate() {
    use socketnaut_http::MinDataRate;
    let proxy = server(
        Http::new(routes)
            .stream_request_bodies(true)
            .min_request_body_rate(Some(MinDataRate::new(1000, Duration::from_millis(500)))),
    );
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    // 20 bytes every 100 ms: 200 B/s, below the 1000 B/s asked for after the grace.
    let mut writer = c.writer.try_clone().unwrap();
    let dribble = std::thread::spawn(move || {
        for _ in 0..30 {
            if writer.write_all(&[b'd'; 20]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let r = c.response().unwrap();
    assert_eq!(
        r.status,
        400,
        "the handler's answer to its failed read: {}",
        r.text()
    );
    assert!(r.text().contains("minimum data rate"), "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    dribble.join().unwrap();
}

#[test]
fn a_streamed_body_returned_as_the_response_is_a_500_not_an_empty_200() {
    let echo = |req: Request| Response::new(req.into_body());
    let proxy = server(Http::new(echo).stream_request_bodies(true));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    assert_eq!(c.response().unwrap().status, 500);
}
