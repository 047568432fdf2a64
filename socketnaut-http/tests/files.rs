//! Files: uploads streamed to disk and downloads with `Content-Length`, ranges, validators and
//! `sendfile` (curl as the client, `-T`, `-r`, `-I`), the same over TLS (read through the
//! session), and the conditional requests.

mod common;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{random_bytes, server, Conn};
use socketnaut_http::http::{Method, StatusCode};
use socketnaut_http::{files, Body, Http, Request, Response};

fn routes(dir: &Path, req: Request) -> Response {
    let name = req.uri().path().trim_start_matches('/').to_owned();
    let path = dir.join(&name);
    match *req.method() {
        Method::PUT => {
            let mut body = req.into_body();
            body.set_limit(1 << 30);
            let n = File::create(&path).and_then(|mut f| io::copy(&mut body, &mut f));
            let mut r = Response::new(format!("{}", n.unwrap()).into());
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        _ if name == "sized" => Response::new(Body::sized_reader(io::repeat(b'z'), 100_000)),
        _ => files::serve(&req, File::open(path).unwrap()).unwrap(),
    }
}

struct Fixture {
    dir: PathBuf,
    proxy: socketnaut_core::ServiceProxy,
}

fn fixture(tag: &str, tls: Option<&common::tls::Pki>) -> Fixture {
    let dir = std::env::temp_dir().join(format!("socketnaut-files-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let shared = Arc::new(dir.clone());
    let mut http = Http::new(move |req: Request| routes(&shared, req)).stream_request_bodies(true);
    if let Some(pki) = tls {
        http = http.tls(common::tls::server_config(pki));
    }
    Fixture {
        proxy: server(http),
        dir,
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let at = body.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&body[at + 1..]).into_owned();
    body.truncate(at);
    (code, body)
}

#[test]
fn curl_uploads_downloads_ranges_and_heads() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let f = fixture("curl", None);
    let data = random_bytes(11, 3 * 1024 * 1024 + 17);
    let local = f.dir.join("local.bin");
    fs::write(&local, &data).unwrap();
    let base = format!("http://{}", f.proxy.local_addr());
    let url = format!("{base}/up.bin");
    let (code, body) = curl(&["-T", local.to_str().unwrap(), &url]);
    assert_eq!(
        (code.as_str(), body),
        ("201", data.len().to_string().into_bytes())
    );
    let (code, body) = curl(&[&url]);
    assert_eq!(code, "200");
    assert!(body == data, "the download is the upload");
    let (code, body) = curl(&["-r", "0-99", &url]);
    assert_eq!((code.as_str(), body.as_slice()), ("206", &data[..100]));
    let (code, body) = curl(&["-r", "-10", &url]);
    assert_eq!(
        (code.as_str(), body.as_slice()),
        ("206", &data[data.len() - 10..])
    );
    let (code, _) = curl(&["-r", "99999999-", &url]);
    assert_eq!(code, "416");
    let (code, head) = curl(&["-I", &url]);
    assert_eq!(code, "200");
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", data.len())),
        "{head}"
    );
    assert!(head.contains("accept-ranges: bytes"), "{head}");
    assert!(head.contains("etag: \""), "{head}");
    // A reader of known length goes with Content-Length, not chunked.
    let (code, head) = curl(&["-i", &format!("{base}/sized")]);
    assert_eq!(code, "200");
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(
        text.contains("content-length: 100000\r\n"),
        "{}",
        &text[..300]
    );
    assert!(!text.contains("transfer-encoding"));
}

#[test]
fn conditional_requests_and_if_range() {
    let f = fixture("cond", None);
    fs::write(f.dir.join("a.txt"), b"0123456789").unwrap();
    let mut c = Conn::open(f.proxy.local_addr());
    let r = c.get("/a.txt");
    let etag = r.header("etag").unwrap().to_owned();
    let modified = r.header("last-modified").unwrap().to_owned();
    let ask = |c: &mut Conn, extra: &str| {
        c.send(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes())
            .unwrap();
        c.response().unwrap()
    };
    assert_eq!(
        ask(&mut c, &format!("If-None-Match: {etag}\r\n")).status,
        304
    );
    assert_eq!(
        ask(&mut c, &format!("If-None-Match: W/{etag}\r\n")).status,
        304
    );
    assert_eq!(ask(&mut c, "If-None-Match: \"other\"\r\n").status, 200);
    assert_eq!(
        ask(&mut c, &format!("If-Modified-Since: {modified}\r\n")).status,
        304
    );
    assert_eq!(ask(&mut c, "If-Match: \"other\"\r\n").status, 412);
    let r = ask(&mut c, &format!("Range: bytes=2-4\r\nIf-Range: {etag}\r\n"));
    assert_eq!((r.status, r.text().as_str()), (206, "234"));
    assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
    let r = ask(&mut c, "Range: bytes=2-4\r\nIf-Range: \"stale\"\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    let r = ask(&mut c, "Range: bytes=20-\r\n");
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */10"))
    );
    // HEAD carries the length and no content.
    c.send(b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = c.response_to(true).unwrap();
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(c.get("/a.txt").text(), "0123456789");
}

#[test]
fn a_download_over_tls_is_read_through_the_session() {
    let pki = common::tls::pki();
    let f = fixture("tls", Some(&pki));
    let data = random_bytes(5, 2 * 1024 * 1024 + 5);
    fs::write(f.dir.join("t.bin"), &data).unwrap();
    let mut tls = common::tls::connect(f.proxy.local_addr(), &pki);
    tls.write_all(b"GET /t.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..at]).to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", data.len())),
        "{head}"
    );
    assert!(out[at..] == data[..]);
}
