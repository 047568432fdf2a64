//! The streaming scenarios: uploads to a handler that reads its body as it arrives, against a
//! raw mio loop reading the same bytes; downloads of a file, against nginx (`sendfile on`, one
//! worker process per core) serving the same file; the latency of a flushed server-sent event; and WebSocket echo,
//! against tungstenite on plain threads. Sizes: `SOCKETNAUT_BENCH_STREAM_MB` per transfer
//! (default 1024).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use socketnaut_core::ServiceProxy;
use socketnaut_http::websocket::{self, tungstenite};
use socketnaut_http::{files, Body, Http, Request, Response};
use socketnaut_test::peer::{free_addr, Peer};

use crate::memory::rss_kib;
use crate::Row;

/// Concurrent transfers.
const CLIENTS: usize = 8;

fn megabytes() -> u64 {
    std::env::var("SOCKETNAUT_BENCH_STREAM_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

fn proxy(http: Http) -> ServiceProxy {
    let proxy = http.proxy().bind("127.0.0.1:0").build().expect("server");
    proxy.ready().expect("ready");
    proxy
}

/// `CLIENTS` threads at once, each running `one`; the aggregate bytes per second and the
/// largest RSS growth seen meanwhile (sampled every 20 ms).
fn concurrently(one: impl Fn() -> u64 + Sync) -> (f64, u64) {
    let base = rss_kib(std::process::id());
    let done = AtomicBool::new(false);
    let peak = AtomicU64::new(base);
    let started = Instant::now();
    let bytes: u64 = thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(std::process::id()), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        });
        let workers: Vec<_> = (0..CLIENTS).map(|_| s.spawn(&one)).collect();
        let total = workers.into_iter().map(|w| w.join().expect("client")).sum();
        done.store(true, Ordering::Relaxed);
        total
    });
    let secs = started.elapsed().as_secs_f64();
    (
        bytes as f64 / secs,
        peak.load(Ordering::Relaxed).saturating_sub(base),
    )
}

/// Writes `len` bytes in 256 KiB writes.
fn send_body(s: &mut TcpStream, len: u64) {
    let chunk = vec![0x5a_u8; 256 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n]).expect("body");
        left -= n as u64;
    }
}

/// Uploads `len` bytes with a `Content-Length` and reads the response.
fn upload(addr: SocketAddr, len: u64) -> u64 {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "PUT /up HTTP/1.1\r\nHost: b\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
    .expect("head");
    send_body(&mut s, len);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    len
}

fn discard(req: Request) -> Response {
    let mut body = req.into_body();
    body.set_limit(u64::MAX);
    match io::copy(&mut body, &mut io::sink()) {
        Ok(n) => Response::new(n.to_string().into()),
        Err(e) => Response::new(e.to_string().into()),
    }
}

/// The reference: one mio thread per core accepting and reading everything to the end,
/// answering nothing until the peer is done (the client then sees the close).
fn raw_reader(cores: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let listener = Arc::new(listener);
    for _ in 0..cores {
        let listener = listener.clone();
        thread::spawn(move || {
            use mio::{Events, Interest, Poll, Token};
            let mut poll = Poll::new().expect("poll");
            let l = listener.try_clone().expect("clone");
            l.set_nonblocking(true).expect("nonblocking");
            let mut l = mio::net::TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(usize::MAX), Interest::READABLE)
                .expect("register");
            let mut conns = std::collections::HashMap::new();
            let mut events = Events::with_capacity(64);
            let mut buf = vec![0u8; 256 * 1024];
            let mut next = 0;
            loop {
                let _ = poll.poll(&mut events, None);
                for e in events.iter() {
                    if e.token() == Token(usize::MAX) {
                        while let Ok((mut s, _)) = l.accept() {
                            poll.registry()
                                .register(&mut s, Token(next), Interest::READABLE)
                                .expect("register");
                            conns.insert(next, s);
                            next += 1;
                        }
                        continue;
                    }
                    let t = e.token().0;
                    let gone = conns
                        .get_mut(&t)
                        .is_some_and(|s: &mut mio::net::TcpStream| loop {
                            match s.read(&mut buf) {
                                Ok(0) => break true,
                                Ok(_) => {}
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                                Err(_) => break true,
                            }
                        });
                    if gone {
                        conns.remove(&t);
                    }
                }
            }
        });
    }
    addr
}

pub(crate) fn upload_1g(_duration: Duration, cores: usize) -> Vec<Row> {
    let len = megabytes() << 20;
    let server = proxy(Http::new(discard).stream_request_bodies(true));
    let raw = raw_reader(cores);
    // The raw reader never answers: the client half-closes and waits for its close.
    let raw_upload = |addr| {
        let mut s = TcpStream::connect(addr).expect("connect");
        send_body(&mut s, len);
        len
    };
    let mut rows = Vec::new();
    let (mut ours, mut theirs, mut growth) = (Vec::new(), Vec::new(), 0);
    for _ in 0..2 {
        let (r, _) = concurrently(|| raw_upload(raw));
        theirs.push(r);
        let (s, g) = concurrently(|| upload(server.local_addr(), len));
        ours.push(s);
        growth = growth.max(g);
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let worst = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    rows.push(Row {
        name: format!("upload_1g ({CLIENTS} × {} MiB)", len >> 20),
        stats: None,
        result: format!(
            "{:.0} MB/s, {:.2}× the raw mio reader's {:.0} MB/s (worst round {:.2}×); RSS growth {} KiB",
            best(&ours) / 1e6,
            best(&ours) / best(&theirs),
            best(&theirs) / 1e6,
            worst(&ours) / best(&theirs),
            growth
        ),
        target: "≥ 0.8× raw; RSS growth < 16 MiB",
    });
    server.shutdown(Duration::from_secs(5));
    rows
}

/// Downloads `path` and counts the body bytes.
fn download(addr: SocketAddr, path: &str) -> u64 {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n as u64,
        }
    }
}

pub(crate) fn download_1g(_duration: Duration, cores: usize) -> Vec<Row> {
    let len = megabytes() << 20;
    let dir = std::env::temp_dir().join(format!("socketnaut-download-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("big.bin");
    {
        let mut f = File::create(&path).expect("file");
        let chunk = vec![0xa5_u8; 1 << 20];
        for _ in 0..(len >> 20) {
            f.write_all(&chunk).expect("write");
        }
    }
    let shared = path.clone();
    let server = proxy(Http::new(move |req: Request| {
        files::serve(&req, File::open(&*shared).expect("open")).expect("serve")
    }));
    let front = free_addr();
    let nginx = nginx_serving(&dir, front, cores);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..2 {
        if nginx.is_some() {
            theirs.push(concurrently(|| download(front, "/big.bin")).0);
        }
        ours.push(concurrently(|| download(server.local_addr(), "/big.bin")).0);
    }
    drop(nginx);
    let _ = fs::remove_dir_all(&dir);
    server.shutdown(Duration::from_secs(5));
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let result = if theirs.is_empty() {
        format!(
            "{:.0} MB/s (nginx not installed: no reference)",
            best(&ours) / 1e6
        )
    } else {
        format!(
            "{:.0} MB/s, {:.2}× nginx's {:.0} MB/s (rounds {:.2}×, {:.2}×)",
            best(&ours) / 1e6,
            best(&ours) / best(&theirs),
            best(&theirs) / 1e6,
            ours[0] / theirs[0],
            ours[1] / theirs[1],
        )
    };
    vec![Row {
        name: format!("download_1g ({CLIENTS} × {} MiB)", len >> 20),
        stats: None,
        result,
        target: "≥ 0.9× nginx (sendfile on)",
    }]
}

use std::process::Command;

/// nginx, if installed, serving `root` on `front` with `sendfile on` and a worker process per
/// core.
fn nginx_serving(root: &std::path::Path, front: SocketAddr, cores: usize) -> Option<Peer> {
    Command::new("nginx").arg("-v").output().is_ok().then(|| {
        let root = root.display().to_string();
        Peer::start(
            "nginx",
            "apt-get install nginx",
            &["-p", "{dir}", "-c", "{config}"],
            |d: &std::path::Path| {
                let d = d.display();
                format!(
                    "daemon off;\nworker_processes {cores};\n\
                     pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                     events {{ worker_connections 256; }}\n\
                     http {{ access_log off; sendfile on; tcp_nopush on;\n\
                     client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
                     fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
                     server {{ listen {front}; root {root}; }} }}\n"
                )
            },
            &[front],
        )
    })
}

/// When the bench began, for event timestamps in nanoseconds since then.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(crate) fn sse_latency(_duration: Duration, _cores: usize) -> Vec<Row> {
    const EVENTS: usize = 2000;
    let server = proxy(Http::new(|_req: Request| {
        Response::new(Body::push(|w| {
            for _ in 0..EVENTS {
                let stamp = epoch().elapsed().as_nanos();
                write!(w, "data: {stamp}\n\n")?;
                w.flush()?;
                thread::sleep(Duration::from_micros(500));
            }
            Ok(())
        }))
    }));
    let mut s = TcpStream::connect(server.local_addr()).expect("connect");
    s.write_all(b"GET /events HTTP/1.1\r\nHost: b\r\n\r\n")
        .expect("request");
    let mut reader = io::BufReader::new(s);
    let mut lags = Vec::with_capacity(EVENTS);
    let mut line = String::new();
    while lags.len() < EVENTS {
        line.clear();
        if io::BufRead::read_line(&mut reader, &mut line).expect("read") == 0 {
            break;
        }
        if let Some(stamp) = line.trim_end().strip_prefix("data: ") {
            let sent: u128 = stamp.parse().expect("stamp");
            lags.push(epoch().elapsed().as_nanos().saturating_sub(sent) as u64);
        }
    }
    server.shutdown(Duration::from_secs(2));
    lags.sort_unstable();
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    vec![Row {
        name: "sse_latency".to_owned(),
        stats: None,
        result: format!(
            "{} events: write+flush to client read p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            lags.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        ),
        target: "p99 < 1 ms",
    }]
}

fn ws_echo(req: Request) -> Response {
    websocket::upgrade(&req, |ws| loop {
        match ws.read() {
            Ok(m) if m.is_text() || m.is_binary() => ws.send(m).map_err(io::Error::other)?,
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) if websocket::is_drain_notice(&e) => {
                let _ = ws.close(None);
            }
            Err(e) => return Err(io::Error::other(e)),
        }
    })
}

/// The reference: tungstenite's own server, one plain thread per connection.
fn plain_ws_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let _ = s.set_nodelay(true);
            thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(s) else {
                    return;
                };
                while let Ok(m) = ws.read() {
                    if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// 64 clients echoing 32-byte messages for `slice`; messages per second.
fn echo_load(addr: SocketAddr, slice: Duration) -> f64 {
    const WS_CLIENTS: usize = 64;
    let total = AtomicU64::new(0);
    let started = Instant::now();
    thread::scope(|s| {
        for _ in 0..WS_CLIENTS {
            s.spawn(|| {
                let tcp = TcpStream::connect(addr).expect("connect");
                tcp.set_nodelay(true).expect("nodelay");
                let url = format!("ws://{addr}/");
                let (mut ws, _) = tungstenite::client(url.as_str(), tcp).expect("handshake");
                let msg = tungstenite::Message::binary(vec![7u8; 32]);
                let mut n = 0;
                while started.elapsed() < slice {
                    ws.send(msg.clone()).expect("send");
                    ws.read().expect("echo");
                    n += 1;
                }
                let _ = ws.close(None);
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    total.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

pub(crate) fn websocket_echo(duration: Duration, _cores: usize) -> Vec<Row> {
    let server = proxy(Http::new(ws_echo));
    let plain = plain_ws_server();
    let slice = (duration / 3).max(Duration::from_secs(1));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        theirs.push(echo_load(plain, slice));
        ours.push(echo_load(server.local_addr(), slice));
    }
    let threads = server.stats().workers.len();
    server.shutdown(Duration::from_secs(2));
    let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(o, t)| o / t).collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    vec![Row {
        name: "websocket_echo (64 clients)".to_owned(),
        stats: None,
        result: format!(
            "{:.0} msg/s, {:.2}× tungstenite on plain threads ({:.0} msg/s; rounds {:.2}–{:.2}; {threads} workers)",
            ours.iter().sum::<f64>() / 3.0,
            sorted[1],
            theirs.iter().sum::<f64>() / 3.0,
            sorted[0],
            sorted[2],
        ),
        target: "≥ 0.8× tungstenite on threads",
    }]
}
