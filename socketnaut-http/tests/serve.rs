//! Serving behaviour over real loopback sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{app, random_bytes, server, Conn};
use socketnaut_http::Http;

#[test]
fn pipelined_requests_are_answered_in_order() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    c.send(
        b"GET /sleep?n=30 HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst\
          GET / HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n\
          HEAD / HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    assert_eq!(c.response().unwrap().text(), "slept");
    assert_eq!(c.response().unwrap().text(), "first");
    assert_eq!(c.response().unwrap().text(), "Hello World!");
    assert_eq!(c.response().unwrap().text(), "second");
    let head = c.response_to(true).unwrap();
    assert_eq!(head.header("content-length"), Some("12"));
    let missing = c.response().unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(c.get("/").text(), "Hello World!", "still open");
}

#[test]
fn head_has_length_and_no_body() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = c.response_to(true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("12"));
    assert!(head.header("date").is_some());
    // If HEAD had sent a body, this would read it as a status line and fail.
    assert_eq!(c.response().unwrap().text(), "Hello World!");
}

#[test]
fn chunked_request_with_trailers_and_chunked_response() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST /trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n")
        .unwrap();
    let resp = c.response().unwrap();
    assert!(resp.text().contains("\"x-sum\": \"42\""), "{}", resp.text());
    c.send(b"GET /stream?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let resp = c.response().unwrap();
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.body.len(), 100_000);
    assert!(resp.body.iter().all(|&b| b == b'x'));
    assert_eq!(c.get("/").status, 200, "kept alive after a streamed body");
}

#[test]
fn http10_streamed_body_is_close_delimited() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"GET /stream?n=5000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let resp = c.response().unwrap();
    assert_eq!(resp.header("transfer-encoding"), None);
    assert_eq!(resp.header("connection"), Some("close"));
    assert_eq!(resp.body.len(), 5000);
}

#[test]
fn http10_keeps_alive_only_when_asked() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let resp = c.response().unwrap();
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    c.send(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let resp = c.response().unwrap();
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn expect_100_continue() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let interim = c.response().unwrap();
    assert_eq!(interim.status, 100);
    c.send(b"body").unwrap();
    assert_eq!(c.response().unwrap().text(), "body");
    // Too large: 413 at once, without 100 Continue.
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    assert_eq!(c.response().unwrap().status, 413);
    assert!(c.closed());
}

#[test]
fn status_without_body_and_address_info() {
    let proxy = server(Http::new(app));
    let mut c = Conn::open(proxy.local_addr());
    let resp = c.get("/nocontent");
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("content-length"), None);
    let info = c.get("/info").text();
    assert_eq!(
        info,
        format!("{} {}", c.writer.local_addr().unwrap(), proxy.local_addr())
    );
}

/// The Node original's acceptance test: 1000 concurrent POSTs of a random 100 KB body to an
/// echo handler, each answered with exactly its own body.
#[test]
fn a_thousand_concurrent_echo_posts() {
    let proxy = server(Http::new(app));
    let addr = proxy.local_addr();
    const N: usize = 1000;
    let barrier = Arc::new(Barrier::new(N));
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let barrier = barrier.clone();
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || -> Result<(), String> {
                    let body = random_bytes(i as u64, 100 * 1000);
                    barrier.wait();
                    let mut c = Conn::open(addr);
                    let head = format!(
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    c.send(head.as_bytes()).map_err(|e| e.to_string())?;
                    c.send(&body).map_err(|e| e.to_string())?;
                    let resp = c.response().map_err(|e| format!("client {i}: {e}"))?;
                    if resp.status != 200 || resp.body != body {
                        return Err(format!(
                            "client {i}: status {} len {}",
                            resp.status,
                            resp.body.len()
                        ));
                    }
                    Ok(())
                })
                .expect("spawn client")
        })
        .collect();
    let errors: Vec<String> = clients
        .into_iter()
        .filter_map(|h| h.join().expect("client thread").err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(proxy.stats().accepted, N as u64);
    assert_eq!(proxy.stats().panics, 0);
}

#[test]
fn an_upload_cut_off_midway_leaves_the_server_serving() {
    let proxy = server(Http::new(app));
    {
        let mut s = TcpStream::connect(proxy.local_addr()).unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
            .unwrap();
        s.write_all(&random_bytes(7, 400_000)).unwrap();
        // Dropped mid-body.
    }
    let mut c = Conn::open(proxy.local_addr());
    assert_eq!(c.get("/").text(), "Hello World!");
    let body = random_bytes(8, 1_000_000);
    c.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    c.send(&body).unwrap();
    assert_eq!(c.response().unwrap().body, body);
    let started = Instant::now();
    drop(c);
    let reports = proxy.shutdown(Duration::from_secs(5));
    assert!(!reports.is_empty());
    assert!(
        reports
            .iter()
            .all(|r| r.outcome == socketnaut_core::WorkerOutcome::Clean),
        "{reports:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "drained before the deadline"
    );
}

#[test]
fn slowloris_is_cut_at_the_header_deadline_while_others_are_served() {
    let proxy = Http::new(app)
        .header_timeout(Duration::from_millis(800))
        .proxy()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .build()
        .expect("build");
    proxy.ready().unwrap();
    let addr = proxy.local_addr();
    let slow = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let mut reader = slow.try_clone().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Records when the server answers (or closes), independently of the dribbling writer.
    let answered = thread::spawn(move || {
        let mut reply = Vec::new();
        let _ = reader.read_to_end(&mut reply);
        (
            started.elapsed(),
            String::from_utf8_lossy(&reply).into_owned(),
        )
    });
    let dribbler = thread::spawn(move || {
        let mut s = slow;
        let head = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: {}", "a".repeat(200));
        for &b in head.as_bytes() {
            // The attacker's pace (a byte every 40 ms), not synchronisation.
            if s.write_all(&[b]).is_err() || started.elapsed() > Duration::from_secs(4) {
                break;
            }
            thread::sleep(Duration::from_millis(40));
        }
    });
    // Meanwhile a normal client on the same (only) worker is served promptly, repeatedly.
    let mut c = Conn::open(addr);
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(c.get("/").status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let (elapsed, reply) = answered.join().unwrap();
    dribbler.join().unwrap();
    assert!(
        elapsed >= Duration::from_millis(700),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "not cut at the deadline: {elapsed:?}"
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
}

#[test]
fn idle_keepalive_connections_are_closed() {
    let proxy = Http::new(app)
        .idle_timeout(Duration::from_millis(200))
        .proxy()
        .bind("127.0.0.1:0")
        .build()
        .unwrap();
    let mut c = Conn::open(proxy.local_addr());
    assert_eq!(c.get("/").status, 200);
    let t = Instant::now();
    assert!(c.closed());
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_panicking_route_leaves_concurrent_requests_unharmed() {
    let proxy = Http::new(app)
        .proxy()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .build()
        .unwrap();
    let addr = proxy.local_addr();
    let others: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                (0..50).all(|_| c.get("/").text() == "Hello World!")
            })
        })
        .collect();
    for _ in 0..10 {
        let mut c = Conn::open(addr);
        let resp = c.get("/panic");
        assert_eq!(resp.status, 500);
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(c.closed());
    }
    for h in others {
        assert!(h.join().unwrap());
    }
    assert_eq!(proxy.stats().replaced, 0);
    assert_eq!(proxy.stats().panics, 10, "every handler panic is counted");
}

#[test]
fn a_slow_reader_of_a_large_response_does_not_block_the_worker() {
    let proxy = Http::new(app)
        .proxy()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .build()
        .unwrap();
    let mut slow = Conn::open(proxy.local_addr());
    slow.send(b"GET /stream?n=50000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Read a little so the response is surely under way, then stop reading.
    let mut first = [0u8; 1024];
    slow.reader.read_exact(&mut first).unwrap();
    let mut c = Conn::open(proxy.local_addr());
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(c.get("/").text(), "Hello World!");
        assert!(t.elapsed() < Duration::from_millis(500));
    }
}

#[test]
fn blocking_handlers_do_not_serialise_behind_one_worker() {
    // Default configuration: 16 keep-alive connections whose handler blocks 100 ms. Serialised on
    // the default one-worker-per-core pool this takes 16 × 3 × 100 ms / cores (≥ 2.4 s on two
    // cores); spread over workers it takes about 3 × 100 ms.
    let proxy = server(Http::new(app));
    let addr = proxy.local_addr();
    let barrier = Arc::new(Barrier::new(16));
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                assert_eq!(c.get("/").status, 200);
                barrier.wait();
                for _ in 0..3 {
                    assert_eq!(c.get("/sleep?n=100").text(), "slept");
                }
            })
        })
        .collect();
    for h in clients {
        h.join().unwrap();
    }
    let took = started.elapsed();
    let cores = thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    assert!(
        took < Duration::from_millis(16 * 3 * 100) / cores / 2,
        "took {took:?}: {}",
        proxy.stats()
    );
}

#[test]
fn curl_is_served() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("curl is required (installed by .ci/run)");
    }
    let proxy = server(Http::new(app));
    let url = format!("http://{}/", proxy.local_addr());
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello World!");
    // A chunked upload (curl streams stdin with Transfer-Encoding: chunked) echoed back.
    let mut child = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-T",
            "-",
            "-X",
            "POST",
            &format!("{url}echo"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"streamed through curl")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "streamed through curl"
    );
    let out = std::process::Command::new("curl")
        .args(["-sS", "-I", "--max-time", "10", &url])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("content-length: 12"), "{head}");
}

#[test]
fn pipelined_requests_survive_migration_between_workers() {
    // Every connection pipelines a blocking request and a fast one; workers whose callbacks
    // block hand their other connections (with whatever they have buffered) to other workers.
    let proxy = server(Http::new(app));
    let addr = proxy.local_addr();
    let clients: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                for round in 0..3 {
                    c.send(
                        format!(
                            "GET /sleep?n=20 HTTP/1.1\r\nHost: t\r\n\r\n\
                             POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nc{i}r{round}xx"
                        )
                        .as_bytes(),
                    )
                    .unwrap();
                    assert_eq!(c.response().unwrap().text(), "slept");
                    assert_eq!(c.response().unwrap().text(), format!("c{i}r{round}xx"));
                }
            })
        })
        .collect();
    for h in clients {
        h.join().unwrap();
    }
    assert!(proxy.stats().migrated > 0, "{}", proxy.stats());
    assert_eq!(proxy.stats().panics, 0);
}

#[test]
fn timers_stay_right_under_connection_churn() {
    // Thousands of one-request connections leave idle deadlines behind in the worker's timer
    // heap (which is rebuilt as they pile up); a later idle connection must still be closed at
    // its own deadline, and a busy one must not be.
    let proxy = Http::new(app)
        .idle_timeout(Duration::from_millis(300))
        .proxy()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .build()
        .unwrap();
    let addr = proxy.local_addr();
    for _ in 0..3000 {
        let mut c = Conn::open(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(c.response().unwrap().status, 200);
    }
    let mut idle = Conn::open(addr);
    assert_eq!(idle.get("/").status, 200);
    let started = Instant::now();
    let mut busy = Conn::open(addr);
    while started.elapsed() < Duration::from_millis(600) {
        assert_eq!(busy.get("/").status, 200, "a busy connection stays open");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(idle.closed(), "the idle one was closed at its deadline");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(proxy.stats().accepted, 3002);
}

#[test]
fn behind_a_balancer_the_handler_sees_the_client_from_the_proxy_header() {
    let proxy = Http::new(app)
        .proxy()
        .bind("127.0.0.1:0")
        .proxy_protocol(true)
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    let mut c = Conn::open(proxy.local_addr());
    // The header and the first request in one write, as a balancer sends them; the second
    // request on the same connection keeps the header's addresses.
    c.send(b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nGET /info HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let first = c.response().unwrap();
    assert_eq!(first.body, b"192.0.2.7:40000 198.51.100.1:443");
    assert_eq!(c.get("/info").body, b"192.0.2.7:40000 198.51.100.1:443");
    // Without a header the connection is closed before any HTTP is parsed.
    let mut bare = Conn::open(proxy.local_addr());
    bare.send(b"GET /info HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert!(bare.response().is_err());
    assert_eq!(proxy.stats().proxy_header_errors, 1);
    proxy.shutdown(Duration::from_secs(5));
}

#[test]
fn drain_finishes_in_flight_requests_with_close_and_closes_idle_connections() {
    let proxy = server(Http::new(app));
    let addr = proxy.local_addr();
    let mut idle = Conn::open(addr);
    assert_eq!(idle.get("/").status, 200);
    let mut busy = Conn::open(addr);
    busy.send(b"GET /sleep?n=400 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Let the request reach its handler, then drain.
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let drain = thread::spawn(move || proxy.shutdown(Duration::from_secs(5)));
    let resp = busy.response().expect("the in-flight request is answered");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"slept");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(busy.closed(), "then closed");
    assert!(idle.closed(), "the idle keep-alive connection is closed");
    let reports = drain.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "not held to the deadline"
    );
    assert!(reports
        .iter()
        .all(|r| r.outcome == socketnaut_core::WorkerOutcome::Clean));
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
}
