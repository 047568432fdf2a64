//! Timeouts as documented: a stalled response is closed by the write timeout (not by the idle
//! or header timers of the next request), and minimum data rates cut bodies dribbled in and
//! responses read too slowly, while transfers that keep up are left alone.
//!
//! Each test measures when the server let go of the connection (`stats().active` back to 0,
//! polled with a deadline) against timeouts far apart, so scheduling noise cannot blur which
//! timer fired.

mod common;

use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use common::{app, Conn};
use socketnaut_core::ServiceProxy;
use socketnaut_http::{Http, MinDataRate};

fn start(http: Http) -> ServiceProxy {
    let proxy = http
        .proxy()
        .bind("127.0.0.1:0")
        .worker_count(1)
        .build()
        .expect("build");
    proxy.ready().expect("ready");
    proxy
}

/// How long after `since` the server held its (first and only) connection.
fn closed_after(proxy: &ServiceProxy, since: Instant, limit: Duration) -> Duration {
    let end = since + limit;
    while proxy.stats().accepted == 0 || proxy.stats().active > 0 {
        assert!(Instant::now() < end, "still open after {limit:?}");
        thread::sleep(Duration::from_millis(10));
    }
    since.elapsed()
}

/// Short idle and header timers, a longer write timeout, and no rate limit: only the write
/// timeout may close a stalled response.
fn write_stall_server() -> ServiceProxy {
    start(
        Http::new(app)
            .idle_timeout(Duration::from_millis(200))
            .header_timeout(Duration::from_millis(400))
            .write_timeout(Duration::from_millis(1500))
            .min_response_rate(None),
    )
}

fn stalled_response_closes_at_the_write_timeout(extra: &[u8]) {
    let proxy = write_stall_server();
    let mut c = Conn::open_small_window(proxy.local_addr());
    let mut request = b"GET /stream?n=1000000000 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    request.extend_from_slice(extra);
    let sent = Instant::now();
    c.send(&request).unwrap();
    // The client never reads.
    let after = closed_after(&proxy, sent, Duration::from_secs(20));
    assert!(
        after >= Duration::from_millis(1400),
        "closed by another timer after {after:?}"
    );
    assert!(after < Duration::from_secs(6), "closed after {after:?}");
}

#[test]
fn a_stalled_response_closes_at_the_write_timeout() {
    stalled_response_closes_at_the_write_timeout(b"");
}

#[test]
fn a_stalled_response_closes_at_the_write_timeout_with_unparsed_input_buffered() {
    // Pipelined requests the server cannot answer yet, and the start of one more.
    let mut extra: Vec<u8> = (0..50)
        .flat_map(|_| b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec())
        .collect();
    extra.extend_from_slice(b"GET / HTTP/1.1\r\nHo");
    stalled_response_closes_at_the_write_timeout(&extra);
}

#[test]
fn a_body_dribbled_below_the_minimum_rate_is_cut_after_the_grace_period() {
    let proxy = start(
        Http::new(app)
            .body_timeout(Duration::from_secs(30))
            .min_request_body_rate(Some(MinDataRate::new(240, Duration::from_secs(1)))),
    );
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut writer = c.writer.try_clone().unwrap();
    let dribbler = thread::spawn(move || {
        use std::io::Write;
        // About 10 bytes a second: each byte is progress, so the body timeout never fires.
        while started.elapsed() < Duration::from_secs(8) && writer.write_all(b"x").is_ok() {
            thread::sleep(Duration::from_millis(100));
        }
    });
    let resp = c.response().expect("a response");
    let after = started.elapsed();
    assert_eq!(resp.status, 408);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        after >= Duration::from_millis(900),
        "cut before the grace: {after:?}"
    );
    assert!(after < Duration::from_secs(5), "not cut: {after:?}");
    dribbler.join().unwrap();
}

#[test]
fn a_body_that_keeps_up_with_the_minimum_rate_is_served() {
    let proxy = start(
        Http::new(app)
            .min_request_body_rate(Some(MinDataRate::new(240, Duration::from_millis(300)))),
    );
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    // 1000 bytes at about 1000 bytes/s: four times the minimum.
    for _ in 0..20 {
        c.send(&[b'y'; 50]).unwrap();
        thread::sleep(Duration::from_millis(50));
    }
    let resp = c.response().expect("a response");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, vec![b'y'; 1000]);
}

#[test]
fn a_response_read_below_the_minimum_rate_is_cut_after_the_grace_period() {
    let proxy = start(
        Http::new(app)
            .write_timeout(Duration::from_secs(60))
            .min_response_rate(Some(MinDataRate::new(240, Duration::from_secs(1)))),
    );
    let mut c = Conn::open_small_window(proxy.local_addr());
    let sent = Instant::now();
    c.send(b"GET /stream?n=1000000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // About 100 bytes a second: every read is progress, so the write timeout never fires.
    let mut reader = c.reader;
    let trickle = thread::spawn(move || {
        let mut b = [0u8; 10];
        while sent.elapsed() < Duration::from_secs(15)
            && matches!(reader.read(&mut b), Ok(n) if n > 0)
        {
            thread::sleep(Duration::from_millis(100));
        }
    });
    let after = closed_after(&proxy, sent, Duration::from_secs(15));
    assert!(
        after >= Duration::from_millis(900),
        "cut before the grace: {after:?}"
    );
    assert!(after < Duration::from_secs(10), "closed after {after:?}");
    drop(trickle);
}
