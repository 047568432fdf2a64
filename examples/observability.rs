//! A service that can be watched: `/metrics` (the proxy's and the HTTP figures, Prometheus text
//! format), `/healthz` (200 until the drain begins, then 503, for a load balancer), and an
//! access log through env_logger on the `socketnaut::access` target.
//!
//! ```text
//! cargo run --release --example observability [ADDR]     # default 127.0.0.1:3080
//! curl http://127.0.0.1:3080/metrics
//! ```

use std::time::Duration;

use socketnaut::http::http::{header, HeaderValue, StatusCode};
use socketnaut::http::{access, Http, Request, RequestExt, Response};

fn routes(req: Request) -> Response {
    let observer = req.observer().expect("set by the server");
    match req.uri().path() {
        "/metrics" => {
            let mut text = observer.stats().to_prometheus("observability");
            if let Some(http) = req.http_stats() {
                text.push_str(&http.to_prometheus("observability"));
            }
            let mut r = Response::new(text.into());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        "/healthz" if observer.is_ready() => Response::new("ok\n".into()),
        "/healthz" => {
            let mut r = Response::new("draining\n".into());
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r
        }
        _ => Response::new("Hello World!\n".into()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3080".to_owned());
    let proxy = Http::new(routes)
        .access_log(Some(access::combined))
        .proxy()
        .bind(addr.as_str())
        .build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!(target: "socketnaut::proxy", "serving on http://{}/ (try /metrics)", proxy.local_addr());
    proxy.wait();
    Ok(())
}
