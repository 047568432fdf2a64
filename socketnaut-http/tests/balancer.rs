//! Behind a real load balancer (HAProxy, started by the test): a rolling update. One of two
//! backends drains and exits while clients keep sending requests through the balancer, and
//! not one request fails.
//!
//! The balancer is configured as a deployment would be: health checks, and retries on another
//! backend for refused connections and for requests that met an idle keep-alive connection the
//! backend had just closed (which HTTP allows a server to do at any time). That a draining
//! backend finishes the requests it has in flight, rather than leaving them to such retries,
//! is tested without a balancer in `serve.rs` and in socketnaut-core's pool and process tests.

mod common;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{server, Conn};
use socketnaut_core::ServiceProxy;
use socketnaut_http::{Http, Request, Response};
use socketnaut_test::peer::{free_addr, Peer};

/// A backend answering every request with its name, after a short pause so that requests are
/// in flight when the drain begins.
fn backend(name: &'static str) -> ServiceProxy {
    server(Http::new(move |_req: Request| {
        thread::sleep(Duration::from_millis(2));
        Response::new(name.into())
    }))
}

/// HAProxy in HTTP mode over `backends`, with health checks. Retries with redispatch: a
/// connection refused by a backend that stopped listening, or an idle pooled connection it
/// closed, is retried on another one.
fn haproxy(backends: &[SocketAddr]) -> (Peer, SocketAddr) {
    let front = free_addr();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, addr)| format!("  server s{i} {addr} check inter 100ms fall 1 rise 1\n"))
        .collect();
    let config = |_: &Path| {
        format!(
            "global\n  maxconn 256\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
             \x20 retries 3\n  option redispatch 1\n  retry-on all-retryable-errors\n\
             frontend web\n  bind {front}\n  default_backend app\n\
             backend app\n  balance roundrobin\n{servers}"
        )
    };
    let peer = Peer::start(
        "haproxy",
        "apt-get install haproxy",
        &["-db", "-f", "{config}"],
        config,
        &[front],
    );
    (peer, front)
}

/// One request over `conn`, reconnecting once if the balancer closed the idle connection.
fn get(conn: &mut Option<Conn>, front: SocketAddr) -> io::Result<String> {
    let c = conn.get_or_insert_with(|| Conn::open(front));
    c.send(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")?;
    let resp = c.response()?;
    if resp.header("connection") == Some("close") {
        *conn = None;
    }
    if resp.status != 200 {
        return Err(io::Error::other(format!("status {}", resp.status)));
    }
    Ok(String::from_utf8_lossy(&resp.body).into_owned())
}

#[test]
fn a_backend_drains_and_exits_behind_haproxy_without_failing_a_request() {
    let (a, b) = (backend("a"), backend("b"));
    let (haproxy, front) = haproxy(&[a.local_addr(), b.local_addr()]);
    // Both backends in rotation before the update.
    let mut warm = None;
    let mut names: Vec<String> = (0..20).map(|_| get(&mut warm, front).unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        ["a", "b"],
        "both backends serve through the balancer"
    );
    drop(warm);

    let stop = Arc::new(AtomicBool::new(false));
    let served_a = Arc::new(AtomicU64::new(0));
    let served_b = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served_a, served_b) = (stop.clone(), served_a.clone(), served_b.clone());
            thread::spawn(move || -> Result<u64, String> {
                let mut conn = None;
                let mut n = 0;
                // Bounded: stops when told, or after 20 s whatever happens.
                let until = Instant::now() + Duration::from_secs(20);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    match get(&mut conn, front) {
                        Ok(name) if name == "a" => served_a.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => served_b.fetch_add(1, Ordering::Relaxed),
                        Err(e) => return Err(format!("request {n} failed: {e}")),
                    };
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let a_before = served_a.load(Ordering::Relaxed);
    // The rolling update: `a` stops listening, finishes what is in flight, closes idle
    // keep-alive connections, and exits.
    let reports = a.shutdown(Duration::from_secs(5));
    assert!(reports
        .iter()
        .all(|r| r.outcome == socketnaut_core::WorkerOutcome::Clean));
    // Responses read just before the exit may still be being counted for a moment.
    thread::sleep(Duration::from_millis(200));
    let a_after_exit = served_a.load(Ordering::Relaxed);
    let b_at_exit = served_b.load(Ordering::Relaxed);
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        total += c
            .join()
            .expect("client thread")
            .expect("no request may fail");
    }
    assert!(a_before > 0, "a served before its drain");
    assert_eq!(
        served_a.load(Ordering::Relaxed),
        a_after_exit,
        "nothing reaches a after it exited"
    );
    assert!(
        served_b.load(Ordering::Relaxed) > b_at_exit,
        "b carries the traffic after the update"
    );
    io::stdout().flush().unwrap();
    println!(
        "{total} requests, a {} b {}, none failed",
        served_a.load(Ordering::Relaxed),
        served_b.load(Ordering::Relaxed)
    );
    drop(haproxy);
    b.shutdown(Duration::from_secs(5));
}
