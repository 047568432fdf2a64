//! A proxy's figures reach handlers without globals: `/metrics` in the Prometheus text format
//! from `req.observer()`, and a readiness check that turns false when the drain begins.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::Duration;

use common::{server, Conn};
use socketnaut_http::http::StatusCode;
use socketnaut_http::{Http, Request, RequestExt, Response};

fn routes(req: Request) -> Response {
    let observer = req.observer().expect("set by the server");
    match req.uri().path() {
        "/metrics" => Response::new(observer.stats().to_prometheus("test").into()),
        "/http-metrics" => {
            let http = req.http_stats().expect("set by the server");
            Response::new(http.to_prometheus("test").into())
        }
        "/healthz-later" => {
            // Answers after a drain that began meanwhile.
            thread::sleep(Duration::from_millis(300));
            let mut r = Response::new(Default::default());
            if !observer.is_ready() {
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            r
        }
        _ => Response::new("ok".into()),
    }
}

/// A small parser of the text format: every sample `name{labels} value`, checked to belong to
/// a family declared by a `# TYPE` line before it.
fn parse(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut families = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            families.insert(parts.next().expect("name").to_owned());
            assert!(
                matches!(parts.next(), Some("counter" | "gauge" | "histogram")),
                "{line}"
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closed labels")),
            None => (series, ""),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|f| families.contains(*f))
            .unwrap_or(name);
        assert!(families.contains(family), "{name} has no # TYPE before it");
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("k=v");
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        samples.push((name.to_owned(), labels, value.parse().expect("a number")));
    }
    samples
}

#[test]
fn metrics_count_what_the_test_sent() {
    let proxy = server(Http::new(routes));
    for _ in 0..5 {
        let mut c = Conn::open(proxy.local_addr());
        assert_eq!(c.get("/").status, 200);
    }
    let mut c = Conn::open(proxy.local_addr());
    let text = c.get("/metrics").text();
    let samples = parse(&text);
    let value = |name: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.get("service").map(String::as_str) == Some("test"))
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
    };
    assert_eq!(value("socketnaut_connections_accepted_total"), 6.0);
    assert!(value("socketnaut_connections_active") >= 1.0);
    assert_eq!(value("socketnaut_panics_total"), 0.0);
    let workers = proxy.stats().workers.len() as f64;
    assert_eq!(value("socketnaut_workers_total"), workers);
    let per_worker: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "socketnaut_worker_connections")
        .map(|(_, _, v)| v)
        .sum();
    assert!(
        per_worker >= 1.0,
        "this connection is on some worker: {text}"
    );
}

#[test]
fn readiness_turns_false_when_the_drain_begins() {
    let proxy = server(Http::new(routes));
    assert!(proxy.observer().is_ready());
    let mut c = Conn::open(proxy.local_addr());
    c.send(b"GET /healthz-later HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(100)); // the request is in its handler
    let observer = proxy.observer();
    let stopper = thread::spawn(move || proxy.shutdown(Duration::from_secs(5)));
    let resp = c.response().expect("answered during the drain");
    assert_eq!(resp.status, 503);
    assert!(!observer.is_ready());
    stopper.join().unwrap();
}

#[test]
fn http_figures_count_every_response_the_servers_own_included() {
    let proxy = server(Http::new(routes));
    let mut c = Conn::open(proxy.local_addr());
    for _ in 0..3 {
        assert_eq!(c.get("/").status, 200);
    }
    let rejected: [(&[u8], u16); 2] = [
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9999999\r\n\r\n",
            413,
        ),
    ];
    for (raw, status) in rejected {
        let mut r = Conn::open(proxy.local_addr());
        r.send(raw).unwrap();
        assert_eq!(r.response().unwrap().status, status);
    }
    // Five responses so far: 3 × 200 and the two rejections (each timed once its last byte
    // is out, a moment after the client may have read it).
    let mut text = String::new();
    let mut polls = 0;
    let timed = socketnaut_test::wait_for(Duration::from_secs(5), || {
        polls += 1;
        text = c.get("/http-metrics").text();
        value(
            &text,
            "socketnaut_http_request_duration_seconds_count",
            ("service", "test"),
        ) >= 5.0
    });
    assert!(timed, "{text}");
    // The 3 × 200, and the earlier polls' own responses (the last one is being built).
    let ok = value(&text, "socketnaut_http_responses_total", ("class", "2xx"));
    assert_eq!(ok, f64::from(3 + polls - 1), "{text}");
    assert_eq!(
        value(&text, "socketnaut_http_responses_total", ("class", "4xx")),
        2.0
    );
    assert_eq!(
        value(&text, "socketnaut_http_rejections_total", ("status", "400")),
        1.0
    );
    assert_eq!(
        value(&text, "socketnaut_http_rejections_total", ("status", "413")),
        1.0
    );
    assert_eq!(
        value(&text, "socketnaut_http_rejections_total", ("status", "408")),
        0.0
    );
    let inf = value(
        &text,
        "socketnaut_http_request_duration_seconds_bucket",
        ("le", "+Inf"),
    );
    let count = value(
        &text,
        "socketnaut_http_request_duration_seconds_count",
        ("service", "test"),
    );
    assert_eq!(inf, count, "the +Inf bucket holds every timed request");
}

/// The value of the first sample named `name` whose label `label.0` is `label.1`.
fn value(text: &str, name: &str, label: (&str, &str)) -> f64 {
    parse(text)
        .into_iter()
        .find(|(n, l, _)| n == name && l.get(label.0).map(String::as_str) == Some(label.1))
        .map(|(_, _, v)| v)
        .unwrap_or_else(|| panic!("{name} {label:?} missing in {text}"))
}

#[test]
fn histograms_count_every_request_and_connection() {
    let proxy = server(Http::new(routes));
    let mut a = Conn::open(proxy.local_addr());
    for _ in 0..4 {
        assert_eq!(a.get("/").status, 200);
    }
    let mut b = Conn::open(proxy.local_addr());
    let body = vec![b'x'; 2000];
    let mut post = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n".to_vec();
    post.extend_from_slice(&body);
    b.send(&post).unwrap();
    assert_eq!(b.response().unwrap().status, 200);
    // A connection that never sends a byte has no first byte.
    let _silent = Conn::open(proxy.local_addr());
    let mut c = Conn::open(proxy.local_addr());
    let service = ("service", "test");
    let text = c.get("/http-metrics").text();
    // Five handler calls before this one, whose own time is recorded after it returns.
    let handler = value(&text, "socketnaut_http_handler_seconds_count", service);
    assert_eq!(handler, 5.0, "{text}");
    let sizes = value(&text, "socketnaut_http_request_size_bytes_count", service);
    assert_eq!(
        sizes, 5.0,
        "a request is sized when its handler returns: {text}"
    );
    let small = value(
        &text,
        "socketnaut_http_request_size_bytes_bucket",
        ("le", "256"),
    );
    let large = value(
        &text,
        "socketnaut_http_request_size_bytes_bucket",
        ("le", "4096"),
    );
    assert_eq!(
        (small, large),
        (4.0, 5.0),
        "the POST is 2000 B and a head: {text}"
    );
    let first = value(&text, "socketnaut_http_first_byte_seconds_count", service);
    assert_eq!(first, 3.0, "three connections sent a byte: {text}");
    let sum = value(&text, "socketnaut_http_handler_seconds_sum", service);
    assert!(sum > 0.0 && sum < 5.0, "{text}");
}

#[test]
fn metrics_off_records_nothing() {
    let proxy = server(Http::new(routes).metrics(false));
    let mut c = Conn::open(proxy.local_addr());
    for _ in 0..3 {
        assert_eq!(c.get("/").status, 200);
    }
    let text = c.get("/http-metrics").text();
    let ok = value(&text, "socketnaut_http_responses_total", ("class", "2xx"));
    assert_eq!(ok, 0.0, "{text}");
    assert_eq!(
        value(
            &text,
            "socketnaut_http_handler_seconds_count",
            ("service", "test")
        ),
        0.0
    );
    // The proxy's own figures are kept either way.
    assert_eq!(proxy.stats().accepted, 1);
}
