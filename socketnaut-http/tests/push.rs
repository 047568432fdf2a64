//! Push bodies (`Body::push`): server-sent events flushed one by one (curl -N as the client),
//! backpressure and the write timeout, HEAD and HTTP/1.0, pipelining after a push, and the
//! drain.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{server, Conn};
use socketnaut_http::{Body, Http, Request, Response};

/// How the `/slow-reader` writer ended.
static SLOW: Mutex<Option<mpsc::Sender<String>>> = Mutex::new(None);

/// What the `/flood` writer ended with.
static FLOOD: Mutex<Option<mpsc::Sender<std::io::ErrorKind>>> = Mutex::new(None);

fn sse(events: usize, gap: Duration) -> Response {
    let mut r = Response::new(Body::push(move |w| {
        for i in 0..events {
            if w.is_draining() {
                write!(w, "event: bye\ndata: draining\n\n")?;
                return Ok(());
            }
            write!(w, "data: {i}\n\n")?;
            w.flush()?;
            thread::sleep(gap);
        }
        Ok(())
    }));
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    r
}

fn routes(req: Request) -> Response {
    match req.uri().path() {
        "/events" => sse(3, Duration::from_millis(300)),
        "/forever" => sse(usize::MAX, Duration::from_millis(20)),
        // Ignores the drain: the deadline ends it.
        "/deaf" => Response::new(Body::push(|w| loop {
            w.write_all(b"data: still here\n\n")?;
            w.flush()?;
            thread::sleep(Duration::from_millis(20));
        })),
        "/flood" => Response::new(Body::push(|w| {
            let chunk = vec![b'x'; 64 * 1024];
            let result = (0..10_000).try_for_each(|_| w.write_all(&chunk));
            let kind = result.as_ref().err().map(|e| e.kind());
            if let (Some(kind), Some(tx)) = (kind, FLOOD.lock().unwrap().as_ref()) {
                let _ = tx.send(kind);
            }
            result
        })),
        "/slow-reader" => Response::new(Body::push(|w| {
            let chunk = vec![b's'; 16 * 1024];
            let result = (0..10_000).try_for_each(|_| w.write_all(&chunk));
            if let (Err(e), Some(tx)) = (&result, SLOW.lock().unwrap().as_ref()) {
                let _ = tx.send(e.to_string());
            }
            result
        })),
        "/fails" => Response::new(Body::push(|w| {
            w.write_all(b"partial")?;
            w.flush()?;
            Err(std::io::Error::other("the source broke"))
        })),
        _ => Response::new("ok".into()),
    }
}

#[test]
fn curl_receives_each_event_when_it_is_flushed() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let proxy = server(Http::new(routes));
    let started = Instant::now();
    let mut curl = Command::new("curl")
        .args(["-sN", &format!("http://{}/events", proxy.local_addr())])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let lines = BufReader::new(curl.stdout.take().unwrap());
    let mut arrivals = Vec::new();
    for line in lines.lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            arrivals.push((data.to_owned(), started.elapsed()));
        }
    }
    assert!(curl.wait().unwrap().success());
    let data: Vec<&str> = arrivals.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(data, ["0", "1", "2"]);
    // Each event arrives as it is written, 300 ms apart, not all at the end.
    let first = arrivals[0].1;
    let last = arrivals[2].1;
    assert!(last - first >= Duration::from_millis(500), "{arrivals:?}");
}

#[test]
fn a_client_that_stops_reading_blocks_the_writer_until_the_write_timeout() {
    let (tx, rx) = mpsc::channel();
    *FLOOD.lock().unwrap() = Some(tx);
    let proxy = server(Http::new(routes).write_timeout(Duration::from_millis(500)));
    let mut c = Conn::open_small_window(proxy.local_addr());
    c.send(b"GET /flood HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let started = Instant::now();
    // The client reads nothing: the writer blocks, then fails with TimedOut.
    let kind = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer ended");
    assert_eq!(kind, std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(500));
    // And the connection is closed (the message is cut short).
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut c.reader, &mut rest);
    assert!(!rest.ends_with(b"0\r\n\r\n"), "cut, without the last chunk");
    assert!(socketnaut_test::wait_for(Duration::from_secs(5), || {
        proxy.stats().active == 0
    }));
}

#[test]
fn head_http10_errors_and_pipelining() {
    let proxy = server(Http::new(routes));
    let mut c = Conn::open(proxy.local_addr());
    // A pushed body, then a pipelined request on the same connection.
    c.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    assert_eq!(c.response().unwrap().text(), "ok");
    // HEAD: the head only, the writer not run.
    c.send(b"HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = c.response_to(true).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/").text(), "ok");
    // HTTP/1.0: delimited by the close.
    let mut old = Conn::open(proxy.local_addr());
    old.send(b"GET /events HTTP/1.0\r\n\r\n").unwrap();
    let r = old.response().unwrap();
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.text(), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    // A writer that fails: what it flushed arrives, then the connection ends without the
    // last chunk.
    let mut f = Conn::open(proxy.local_addr());
    f.send(b"GET /fails HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let rest = String::from_utf8_lossy(&f.rest()).into_owned();
    assert!(rest.contains("7\r\npartial\r\n"), "{rest}");
    assert!(!rest.ends_with("0\r\n\r\n"), "{rest}");
}

#[test]
fn the_drain_ends_an_open_stream_politely() {
    let proxy = server(Http::new(routes));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut line = String::new();
    c.reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let reports = thread::spawn(move || proxy.shutdown(Duration::from_secs(5)));
    let rest = String::from_utf8_lossy(&c.rest()).into_owned();
    assert!(rest.contains("event: bye"), "{rest}");
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "the stream ended whole: {rest}"
    );
    let reports = reports.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(common::all_clean(&reports), "{reports:?}");
}

#[test]
fn the_drain_deadline_ends_a_stream_that_ignores_the_drain() {
    let proxy = server(Http::new(routes));
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"GET /deaf HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut line = String::new();
    c.reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let started = Instant::now();
    let reports = thread::spawn(move || proxy.shutdown(Duration::from_millis(800)));
    // The stream goes on until the deadline, then the connection is cut (no last chunk).
    let rest = String::from_utf8_lossy(&c.rest()).into_owned();
    let ended = started.elapsed();
    assert!(ended >= Duration::from_millis(700), "{ended:?}");
    assert!(ended < Duration::from_secs(3), "{ended:?}");
    assert!(rest.contains("still here"));
    assert!(!rest.ends_with("0\r\n\r\n"), "cut, not ended: {rest}");
    let reports = reports.join().unwrap();
    assert!(common::all_clean(&reports), "{reports:?}");
}

#[test]
fn a_client_reading_below_the_minimum_rate_is_cut() {
    use socketnaut_http::MinDataRate;
    let (tx, rx) = mpsc::channel();
    *SLOW.lock().unwrap() = Some(tx);
    let rate = MinDataRate::new(20_000, Duration::from_millis(500));
    let proxy = server(Http::new(routes).min_response_rate(Some(rate)));
    let mut c = Conn::open_small_window(proxy.local_addr());
    c.send(b"GET /slow-reader HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Reads about 2 KB/s, a tenth of the rate asked for, once the kernel's buffers are full.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let halt = stop.clone();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 200];
        while !halt.load(std::sync::atomic::Ordering::Relaxed) {
            match std::io::Read::read(&mut c.reader, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    let why = rx
        .recv_timeout(Duration::from_secs(8))
        .expect("the writer was cut");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(why.contains("minimum data rate"), "{why}");
    reader.join().unwrap();
}
