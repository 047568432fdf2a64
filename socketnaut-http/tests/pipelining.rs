//! Pipelining: every request a client writes ahead is answered, in order, however many there
//! are and however slowly the client reads.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::{app, server, Conn};
use socketnaut_http::Http;

const N: usize = 10_000;

/// `N` requests, each naming its index, in one buffer.
fn requests() -> Vec<u8> {
    (0..N)
        .flat_map(|i| format!("GET /id?{i} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes())
        .collect()
}

/// Writes `bytes` in one `write_all` from its own thread (the kernel's buffers need not hold
/// the whole burst for the test to be sound: the server reads as it answers).
fn write_all_from_thread(conn: &Conn, bytes: Vec<u8>) -> thread::JoinHandle<()> {
    let mut writer = conn.writer.try_clone().expect("clone");
    thread::spawn(move || writer.write_all(&bytes).expect("write the burst"))
}

#[test]
fn ten_thousand_pipelined_requests_in_one_write_are_all_answered_in_order() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    let writer = write_all_from_thread(&c, requests());
    let mut longest_gap = Duration::ZERO;
    let mut last = Instant::now();
    for i in 0..N {
        let resp = c
            .response()
            .unwrap_or_else(|e| panic!("response {i} of {N}: {e}"));
        assert_eq!((resp.status, resp.text()), (200, i.to_string()), "in order");
        longest_gap = longest_gap.max(last.elapsed());
        last = Instant::now();
    }
    writer.join().expect("writer");
    println!("{N} pipelined responses; longest gap between two: {longest_gap:?}");
    // The bug this guards against stalled for the 10 s header timeout; a second allows for
    // a loaded machine running a debug build.
    assert!(longest_gap < Duration::from_secs(1), "{longest_gap:?}");
    assert_eq!(c.get("/").text(), "Hello World!", "still open");
}

/// Splits complete responses (all framed by `Content-Length` here) off the front of `buf`.
fn take_responses(buf: &mut Vec<u8>, bodies: &mut Vec<String>) {
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        if buf.len() < end + 4 + len {
            return;
        }
        bodies.push(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
        buf.drain(..end + 4 + len);
    }
}

#[test]
fn a_pipelining_client_that_reads_slowly_gets_every_response() {
    let proxy = server(Http::new(app));
    // A small receive window: the server's output backs up and it must stop parsing, then
    // resume each time the client reads a little.
    let mut c = Conn::open_small_window(proxy.local_addr());
    let writer = write_all_from_thread(&c, requests());
    let mut pending = Vec::new();
    let mut bodies = Vec::with_capacity(N);
    let mut chunk = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(60);
    while bodies.len() < N {
        assert!(Instant::now() < deadline, "only {} answered", bodies.len());
        let n = c.reader.read(&mut chunk).expect("read");
        assert!(n > 0, "closed after {} responses", bodies.len());
        pending.extend_from_slice(&chunk[..n]);
        take_responses(&mut pending, &mut bodies);
        // The slow reader's pace (about 1 MB/s), not synchronisation.
        thread::sleep(Duration::from_millis(2));
    }
    writer.join().expect("writer");
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(body, &i.to_string(), "in order");
    }
    assert!(pending.is_empty(), "nothing extra");
}
