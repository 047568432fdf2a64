//! A service that can be watched: `/metrics` (the proxy's and the HTTP figures, Prometheus text
//! format, rendered by the library), `/facade` (the same figures recorded through the `metrics`
//! facade and rendered by `metrics-exporter-prometheus`), `/healthz` (200 until the drain
//! begins, then 503, for a load balancer), and an access log through env_logger on the
//! `socketnaut::access` target.
//!
//! ```text
//! cargo run --release --example observability [ADDR]     # default 127.0.0.1:3080
//! curl http://127.0.0.1:3080/metrics
//! curl http://127.0.0.1:3080/facade
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use socketnaut::http::http::{header, HeaderValue, StatusCode};
use socketnaut::http::{access, Http, Request, RequestExt, Response};

/// The facade recorder's handle, for `/facade`.
static FACADE: OnceLock<PrometheusHandle> = OnceLock::new();

fn routes(req: Request) -> Response {
    let observer = req.observer().expect("set by the server");
    match req.uri().path() {
        "/metrics" => {
            let mut r = Response::new(req.prometheus().unwrap_or_default().into());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        "/facade" => Response::new(FACADE.get().map(|h| h.render()).unwrap_or_default().into()),
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
    // The same figures through the `metrics` facade, for an application that exports with a
    // recorder of its choice: installed before the proxy is built, rendered on `/facade`.
    let recorder = PrometheusBuilder::new().install_recorder()?;
    FACADE.set(recorder).expect("set once");
    let proxy = Http::new(routes)
        .access_log(Some(access::combined))
        .proxy()
        .service_name("observability")
        .bind(addr.as_str())
        .build()?;
    proxy.ready()?;
    proxy.shutdown_on_signals(Duration::from_secs(10))?;
    log::info!(target: "socketnaut::proxy", "serving on http://{}/ (try /metrics)", proxy.local_addr());
    proxy.wait();
    Ok(())
}
