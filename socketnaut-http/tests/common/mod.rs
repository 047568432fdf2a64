//! A test application and a raw HTTP/1.1 client that reads responses exactly as framed.
#![allow(dead_code, unreachable_pub)]

pub mod tls;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socketnaut_core::ServiceProxy;
use socketnaut_http::{Body, Http, Request, RequestExt, Response};

/// The routes every test server answers.
pub fn app(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let n: u64 = query
        .strip_prefix("n=")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match path.as_str() {
        "/" => Response::new("Hello World!".into()),
        "/echo" => {
            let mut resp = Response::new(Body::empty());
            *resp.body_mut() = req.into_body();
            resp
        }
        "/panic" => panic!("route /panic panics"),
        "/sleep" => {
            std::thread::sleep(Duration::from_millis(n));
            Response::new("slept".into())
        }
        "/stream" => Response::new(Body::from_reader(io::repeat(b'x').take(n))),
        "/info" => {
            let info = req.proxy_info().expect("set by the server");
            Response::new(
                format!("{} {}", info.remote.socket_addr(), info.local.socket_addr()).into(),
            )
        }
        "/trailers" => {
            let t = req
                .extensions()
                .get::<socketnaut_http::Trailers>()
                .map(|t| format!("{:?}", t.0))
                .unwrap_or_default();
            Response::new(t.into())
        }
        "/id" => Response::new(query.into()),
        "/host" => Response::new(
            req.headers()
                .get_all(http::header::HOST)
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect::<Vec<_>>()
                .join("|")
                .into(),
        ),
        "/early" => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = http::StatusCode::from_u16(103).expect("103");
            r
        }
        "/notmodified" => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = http::StatusCode::NOT_MODIFIED;
            r.headers_mut()
                .insert(http::header::CONTENT_LENGTH, "42".parse().expect("digits"));
            r
        }
        "/nocontent" => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = http::StatusCode::NO_CONTENT;
            r
        }
        _ => {
            let mut r = Response::new("not found".into());
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            r
        }
    }
}

pub fn server(http: Http) -> ServiceProxy {
    let proxy = http.proxy().bind("127.0.0.1:0").build().expect("build");
    proxy.ready().expect("ready");
    proxy
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Conn {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    /// A connection whose receive buffer is as small as the kernel allows, so the server's
    /// output backs up after a few KiB the client has not read.
    pub fn open_small_window(addr: SocketAddr) -> Conn {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket.connect(&addr.into()).expect("connect");
        Conn::from_stream(socket.into())
    }

    fn from_stream(s: TcpStream) -> Conn {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Reads one response; `head_only` for responses to HEAD.
    pub fn response_to(&mut self, head_only: bool) -> io::Result<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').expect("header");
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(resp);
        }
        if let Some(n) = resp.header("content-length") {
            let mut body = vec![0; n.parse().expect("length")];
            self.reader.read_exact(&mut body)?;
            resp.body = body;
        } else if resp.header("transfer-encoding") == Some("chunked") {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim_end(), 16).expect("chunk size");
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                assert_eq!(&chunk[size..], b"\r\n");
                if size == 0 {
                    break;
                }
                resp.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.reader.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }

    pub fn response(&mut self) -> io::Result<Resp> {
        self.response_to(false)
    }

    /// True if the server closed the connection (EOF, or reset).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }

    /// Everything the server sends until it closes (or the read timeout passes): after a
    /// final response, this must be nothing.
    pub fn rest(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest);
        rest
    }

    pub fn get(&mut self, path: &str) -> Resp {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .expect("send");
        self.response().expect("response")
    }
}

/// A deterministic pseudo-random byte generator (xorshift), so tests need no rand crate.
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every worker of a shutdown report ended cleanly.
pub fn all_clean(reports: &[socketnaut_core::WorkerReport]) -> bool {
    reports
        .iter()
        .all(|r| matches!(r.outcome, socketnaut_core::WorkerOutcome::Clean))
}
