//! With the `metrics` feature (on for this package's tests): the proxy's and the HTTP figures
//! reach a `metrics` recorder, here `metrics-exporter-prometheus` installed as the process's
//! global recorder before the proxy is built, and agree with the requests the test sent and
//! with the library's own rendering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use socketnaut::http::{Http, Request, Response};

fn routes(_req: Request) -> Response {
    Response::new("ok".into())
}

/// The value of the sample `name{service="facade",…}` whose labels include `label`.
fn sample(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (n, labels) = series.split_once('{')?;
        (n == name && labels.contains("service=\"facade\"") && labels.contains(label))
            .then(|| value.parse().ok())
            .flatten()
    })
}

fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn the_facade_sees_what_the_library_counts() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary");
    let proxy = Http::new(routes)
        .proxy()
        .service_name("facade")
        .bind("127.0.0.1:0")
        .build()
        .unwrap();
    proxy.ready().unwrap();
    let addr = proxy.local_addr();
    for _ in 0..4 {
        let r = exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let r = exchange(addr, b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // The HTTP figures are recorded as they happen, the proxy's published by the acceptor
    // within half a second.
    let mut text = String::new();
    let published = socketnaut_test::wait_for(Duration::from_secs(5), || {
        text = handle.render();
        sample(&text, "socketnaut_connections_accepted_total", "") == Some(5.0)
            && sample(&text, "socketnaut_http_request_duration_seconds_count", "") == Some(5.0)
    });
    assert!(published, "{text}");
    let get = |name, label| {
        sample(&text, name, label).unwrap_or_else(|| panic!("{name} {label}: {text}"))
    };
    assert_eq!(get("socketnaut_http_responses_total", "class=\"2xx\""), 4.0);
    assert_eq!(get("socketnaut_http_responses_total", "class=\"4xx\""), 1.0);
    assert_eq!(
        get("socketnaut_http_rejections_total", "status=\"400\""),
        1.0
    );
    assert_eq!(get("socketnaut_http_handler_seconds_count", ""), 4.0);
    assert_eq!(get("socketnaut_http_request_size_bytes_count", ""), 4.0);
    assert_eq!(get("socketnaut_http_first_byte_seconds_count", ""), 5.0);
    let bytes = get("socketnaut_http_response_bytes_total", "");
    assert_eq!(bytes, get("socketnaut_http_response_size_bytes_sum", ""));
    assert!(bytes >= 8.0, "four \"ok\" and a rejection's text: {text}");
    assert_eq!(get("socketnaut_panics_total", ""), 0.0);
    assert!(get("socketnaut_workers_total", "") >= 1.0);
    assert!(get("socketnaut_threads", "") >= 2.0);
    assert_eq!(
        get("socketnaut_workers", "state=\"running\""),
        proxy.stats().workers.len() as f64
    );
    proxy.shutdown(Duration::from_secs(5));
}
