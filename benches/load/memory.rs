//! Memory per connection: a default server in a child process (so its RSS is its own), 10,000
//! connections left idle, or holding a partial head, or a head that claims a body.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use socketnaut::bench::routes;

use crate::client::complete_response;
use crate::scenarios::default_server;
use crate::Row;

/// The idle-memory child: a default server, its port on stdout, until stdin closes.
pub(crate) fn serve_child() {
    let proxy = default_server(routes);
    println!("PORT={}", proxy.local_addr().port());
    io::stdout().flush().expect("flush");
    let mut s = String::new();
    let _ = io::stdin().read_line(&mut s);
    proxy.shutdown(Duration::from_secs(1));
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

pub(crate) fn idle_memory(_duration: Duration, _cores: usize) -> Vec<Row> {
    let (per_conn, detail) = memory_per_connection(get_once);
    vec![Row {
        name: "idle_memory".to_owned(),
        stats: None,
        result: format!("{per_conn:.0} bytes RSS per idle keep-alive connection ({detail})"),
        target: "< 1 KiB per connection",
    }]
}

pub(crate) fn partial_head_memory(_duration: Duration, _cores: usize) -> Vec<Row> {
    let (per_conn, detail) = memory_per_connection(partial_head);
    let (per_claim, claim_detail) = memory_per_connection(claimed_body);
    vec![
        Row {
            name: "partial_head_memory".to_owned(),
            stats: None,
            result: format!(
                "{per_conn:.0} bytes RSS per connection holding a {}-byte partial head ({detail})",
                PARTIAL_HEAD.len()
            ),
            target: "< 2 KiB per connection",
        },
        Row {
            name: "partial_head_memory (claimed body)".to_owned(),
            stats: None,
            result: format!(
                "{per_claim:.0} bytes RSS per connection whose head claims a 1 MiB body and sends none ({claim_detail})"
            ),
            target: "no allocation sized by the claim",
        },
    ]
}

/// The server's RSS per connection (beyond the kernel's socket buffers, which RSS does not
/// count) for 10,000 connections each left as `open` leaves it, in a child process running a
/// default server; and a description of the run.
pub(crate) fn memory_per_connection(open: fn(SocketAddr) -> std::net::TcpStream) -> (f64, String) {
    const N: usize = 10_000;
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .arg("serve-child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server child");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("port");
    let port: u16 = line
        .trim()
        .trim_start_matches("PORT=")
        .parse()
        .expect("port");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Warm the server (pool, first buffers) before the baseline.
    let mut warm: Vec<std::net::TcpStream> = Vec::new();
    for _ in 0..100 {
        warm.push(get_once(addr));
    }
    drop(warm);
    thread::sleep(Duration::from_millis(300)); // let the closes land before the baseline
    let before = rss_kib(child.id());
    let started = Instant::now();
    let mut conns = Vec::with_capacity(N);
    for _ in 0..N {
        conns.push(open(addr));
    }
    let opened_in = started.elapsed();
    thread::sleep(Duration::from_millis(200)); // let the server settle (buffers released)
    let after = rss_kib(child.id());
    drop(conns);
    drop(child.stdin.take());
    let _ = child.wait();
    let per_conn = (after.saturating_sub(before) * 1024) as f64 / N as f64;
    let detail = format!(
        "{N} opened in {:.1}s; RSS {before} → {after} KiB",
        opened_in.as_secs_f64()
    );
    (per_conn, detail)
}

/// The start of a request head, as a slow or malicious client leaves it.
pub(crate) const PARTIAL_HEAD: &[u8] =
    b"GET /some/path HTTP/1.1\r\nHost: bench\r\nUser-Agent: partial";

/// Opens a connection and sends a complete head claiming a 1 MiB body (the default limit),
/// then nothing of the body.
pub(crate) fn claimed_body(addr: SocketAddr) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Length: 1048576\r\n\r\n")
        .expect("write");
    s
}

/// Opens a connection and sends only the start of a request head; the server has read it
/// (well within the default 10 s header timeout) when the bench measures.
pub(crate) fn partial_head(addr: SocketAddr) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(PARTIAL_HEAD).expect("write");
    s
}

/// Opens a keep-alive connection and completes one request on it.
pub(crate) fn get_once(addr: SocketAddr) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while complete_response(&buf).is_none() {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
    s
}
