//! HTTPS: rustls on the workers, with a certificate made for the test; a rustls client and curl
//! as peers.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::tls::{client_config, pki, server_config, Pki};
use common::{app, random_bytes, server};
use socketnaut_core::ServiceProxy;
use socketnaut_http::rustls;
use socketnaut_http::{Http, RequestExt};

use rustls::pki_types::ServerName;

fn https_server(pki: &Pki, http: Http) -> ServiceProxy {
    server(http.tls(server_config(pki)))
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS client speaking HTTP/1.1 (responses with content-length or chunked bodies).
struct Client {
    reader: BufReader<TlsStream>,
}

impl Client {
    fn connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Client {
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config.clone(), name).expect("client");
        Client {
            reader: BufReader::new(rustls::StreamOwned::new(conn, tcp)),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let s = self.reader.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }

    /// Reads one response: status and body.
    fn response(&mut self) -> io::Result<(u16, Vec<u8>)> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = Some(v.trim().parse::<usize>().unwrap());
            }
            chunked |= l == "transfer-encoding: chunked";
        }
        let mut body = Vec::new();
        if let Some(n) = length {
            body.resize(n, 0);
            self.reader.read_exact(&mut body)?;
        } else if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
        Ok((status, body))
    }

    fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .unwrap();
        self.response().unwrap()
    }
}

#[test]
fn keep_alive_large_bodies_and_streams_over_tls() {
    let pki = pki();
    let proxy = https_server(&pki, Http::new(app));
    let client = client_config(&pki);
    let mut c = Client::connect(proxy.local_addr(), &client);
    for _ in 0..50 {
        assert_eq!(c.get("/"), (200, b"Hello World!".to_vec()));
    }
    // 512 KiB up and back: many records each way, and the socket fills.
    let body = random_bytes(512 * 1024, 7);
    c.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    c.send(&body).unwrap();
    let (status, echoed) = c.response().unwrap();
    assert_eq!(status, 200);
    assert!(echoed == body, "echo differs");
    // A 20 MB streamed (chunked) response.
    let (status, streamed) = c.get("/stream?n=20000000");
    assert_eq!(status, 200);
    assert_eq!(streamed.len(), 20_000_000);
    assert!(streamed.iter().all(|&b| b == b'x'));
    // Pipelined requests in one TLS write.
    c.send(
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET /info HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    assert_eq!(c.response().unwrap().1, b"Hello World!");
    let (_, info) = c.response().unwrap();
    assert!(String::from_utf8_lossy(&info).starts_with("127.0.0.1:"));
    drop(c);
    proxy.shutdown(Duration::from_secs(5));
}

#[test]
fn many_concurrent_handshakes() {
    let pki = pki();
    let proxy = https_server(&pki, Http::new(app));
    let addr = proxy.local_addr();
    let client = client_config(&pki);
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            thread::spawn(move || {
                for _ in 0..10 {
                    let mut c = Client::connect(addr, &client);
                    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                        .unwrap();
                    assert_eq!(c.response().unwrap(), (200, b"Hello World!".to_vec()));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    assert_eq!(proxy.stats().accepted, 160);
    proxy.shutdown(Duration::from_secs(5));
}

#[test]
fn plaintext_garbage_and_silent_clients_are_closed() {
    let pki = pki();
    let failures = |req: socketnaut_http::Request| match req.uri().path() {
        "/handshake-failures" => {
            let stats = req.http_stats().expect("set by the server");
            socketnaut_http::Response::new(stats.tls_handshake_failures.to_string().into())
        }
        _ => app(req),
    };
    let proxy = https_server(
        &pki,
        Http::new(failures).header_timeout(Duration::from_millis(300)),
    );
    let addr = proxy.local_addr();
    // Plain HTTP to the TLS port: the handshake fails and the connection is closed.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink);
    assert!(!sink.starts_with(b"HTTP/1.1 200"), "no plaintext answer");
    // Silence: closed at the header timeout.
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut b = [0u8; 1];
    assert!(matches!(silent.read(&mut b), Ok(0) | Err(_)));
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server is unharmed, and counted the failed handshake (not the silent client, whose
    // handshake never began).
    let mut c = Client::connect(addr, &client_config(&pki));
    assert_eq!(c.get("/").0, 200);
    assert_eq!(c.get("/handshake-failures"), (200, b"1".to_vec()));
    assert!(wait_active(&proxy, 1));
    proxy.shutdown(Duration::from_secs(5));
}

fn wait_active(proxy: &ServiceProxy, n: usize) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if proxy.stats().active == n {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn curl_over_https() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is required (installed by .ci/run)");
    }
    let pki = pki();
    let proxy = https_server(&pki, Http::new(app));
    let port = proxy.local_addr().port();
    let dir: PathBuf = std::env::temp_dir().join(format!("socketnaut-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.pem).unwrap();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/");
    let curl = |extra: &[&str], stdin: Option<&[u8]>| -> String {
        let mut child = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &resolve])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "curl {extra:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&[&url], None), "Hello World!");
    // A chunked upload, echoed back.
    let echo = format!("{url}echo");
    assert_eq!(
        curl(&["-T", "-", "-X", "POST", &echo], Some(b"sent over tls")),
        "sent over tls"
    );
    // Two requests on one connection (curl reuses it), negotiated as HTTP/1.1 by ALPN.
    let out = curl(
        &["-w", "%{http_version} %{num_connects}\n", &url, &url],
        None,
    );
    assert!(out.ends_with("Hello World!1.1 0\n"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
    proxy.shutdown(Duration::from_secs(5));
}
